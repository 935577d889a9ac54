"""Architecture specification: frozen, validated pydantic models.

An ``ArchSpec`` is built from a YAML file by :mod:`accelsim.arch.load`; building one never
touches disk. Units are in field names (``_ghz``, ``_bytes``, ``_kib``, ``_gbps``, ``_ns``,
``_cycles``). Pydantic checks types and ranges; :func:`semantic_problems` checks the
cross-field rules (partitions name existing banks, every operand role has a home, a minimal
tile fits its partition) and returns *all* problems with their YAML paths.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from accelsim.workload.opset import COST_CLASSES

Dataflow = Literal["os", "ws", "is"]
Precision = Literal["int8", "int16", "int32", "fp16", "bf16", "fp32"]
Role = Literal["inputs", "weights", "outputs", "accumulators", "residual"]
ROLES: tuple[Role, ...] = ("inputs", "weights", "outputs", "accumulators")

#: Bytes per element of each precision.
PRECISION_BYTES: dict[str, int] = {
    "int8": 1,
    "int16": 2,
    "int32": 4,
    "fp16": 2,
    "bf16": 2,
    "fp32": 4,
}

#: (input precision, accumulator precision) pairs a systolic array may declare.
VALID_PRECISION_PAIRS: set[tuple[str, str]] = {
    ("int8", "int32"),
    ("int16", "int32"),
    ("bf16", "fp32"),
    ("fp16", "fp32"),
    ("fp16", "fp16"),
    ("fp32", "fp32"),
}


#: Names of units other than the arrays (keys of ``units`` in result.json, the ops' ``unit``
#: column, energy and area breakdown keys): an array may not be called any of these.
RESERVED_UNIT_NAMES: frozenset[str] = frozenset(
    {"vector", "dma", "dram", "sram", "sequencer", "rom", "none", "array", "arrays", "static", "total"}
)

#: Most physical arrays (``count`` summed over groups). Each is a SimPy resource and a
#: per-unit record; 1024 is 4x a TPUv4 pod slice's MXUs per chip by far (TPUv4: 8 per chip).
MAX_ARRAY_INSTANCES = 1024

#: Names of arrays, SRAM partitions and residual partitions: they key result.json and its
#: tables, so a letter, digit or ``_`` first, then letters, digits, ``_`` or ``-``; no dots
#: (``mxu.0`` is what ``count`` expands to) and no markup characters.
NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$"
_NAME_RE = re.compile(NAME_PATTERN)


def _unit_name(v: str) -> str:
    if not _NAME_RE.match(v):
        raise ValueError(f"{v[:70]!r} is not a valid name (letters, digits, _ and -, at most 64 characters; "
                         "no dots, spaces or brackets)")
    return v


UnitName = Annotated[str, AfterValidator(_unit_name)]


class _Frozen(BaseModel):
    # inf and NaN are never a valid hardware figure: refused in every float field.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


#: Optional overrides: a positive finite number up to a bound (the unit is in the field name).
Upto1e3 = Annotated[float, Field(gt=0, le=1e3)] | None
Upto1e4 = Annotated[float, Field(gt=0, le=1e4)] | None
Upto1e5 = Annotated[float, Field(gt=0, le=1e5)] | None


class ArraySpec(_Frozen):
    """A group of ``count`` identical systolic arrays."""

    name: UnitName | None = Field(
        None, description="label (letters, digits, _ and -; not a unit name such as vector or dma); "
        "defaults to sa<index>; a group of count > 1 is named <name>.0, <name>.1, ..."
    )
    count: Annotated[int, Field(gt=0, le=MAX_ARRAY_INSTANCES)] = Field(
        1, description=f"number of identical arrays in this group, 1..{MAX_ARRAY_INSTANCES} "
        f"(all groups together at most {MAX_ARRAY_INSTANCES})"
    )
    rows: Annotated[int, Field(gt=0, le=4096)] = Field(description="PE rows (R), 1..4096 PEs (TPUv1: 256)")
    cols: Annotated[int, Field(gt=0, le=4096)] = Field(description="PE columns (C), 1..4096 PEs (TPUv1: 256)")
    dataflow: Dataflow = Field("ws", description="os (output-), ws (weight-) or is (input-stationary)")
    precision: Precision = Field("int8", description="input (operand) precision")
    acc_precision: Precision = Field("int32", description="accumulator precision (a supported pair with precision)")
    mac_energy_pj: Upto1e3 = Field(
        None, description="override: energy per MAC (pJ), in (0, 1000]; default from the technology table"
    )
    area_mm2: Upto1e5 = Field(
        None, description="override: area of one array (mm^2), in (0, 1e5] (a wafer is ~46,000 mm^2)"
    )


class PartitionSpec(_Frozen):
    """A named group of SRAM banks holding the given operand roles."""

    banks: list[Annotated[int, Field(ge=0, le=65535)]] = Field(
        min_length=1, max_length=4096, description="bank indices (each < sram.banks, each in one partition)"
    )
    holds: list[Role] = Field(min_length=1, max_length=5, description="operand roles stored here")
    read_energy_pj: Upto1e5 = Field(
        None, description="override: energy per bank-width read in this partition (pJ), in (0, 1e5]"
    )
    write_energy_pj: Upto1e5 = Field(
        None, description="override: energy per bank-width write in this partition (pJ), in (0, 1e5]"
    )


class SramSpec(_Frozen):
    """On-chip SRAM as ``banks`` identical banks grouped into partitions."""

    banks: Annotated[int, Field(gt=0, le=4096)] = Field(description="number of banks, 1..4096")
    bank_size_kib: Annotated[float, Field(ge=0.0625, le=1048576)] = Field(
        description="capacity of one bank (KiB, 1024 bytes), 0.0625 (64 bytes)..1048576 (1 GiB)"
    )
    bank_width_bytes: Annotated[int, Field(gt=0, le=4096)] = Field(
        description="bytes per cycle per port, 1..4096 (at most the bank's size)"
    )
    ports_per_bank: Annotated[int, Field(gt=0, le=64)] = Field(1, description="independent ports per bank, 1..64")
    partitions: dict[UnitName, PartitionSpec] = Field(
        min_length=1, max_length=64,
        description="partition name -> banks and roles, 1..64 partitions; the first (in file order) "
        "holding a role is that role's home",
    )
    read_energy_pj: Upto1e5 = Field(
        None, description="override: energy per bank-width read (pJ), in (0, 1e5]; default from the SRAM fit"
    )
    write_energy_pj: Upto1e5 = Field(
        None, description="override: energy per bank-width write (pJ), in (0, 1e5]; default from the SRAM fit"
    )

    @property
    def bank_size_bytes(self) -> int:
        return int(self.bank_size_kib * 1024)

    @property
    def total_bytes(self) -> int:
        return self.bank_size_bytes * self.banks

    def partition_bytes(self, name: str) -> int:
        return self.bank_size_bytes * len(self.partitions[name].banks)

    def partition_for(self, role: Role) -> str:
        """Name of the first partition (in file order) that holds ``role``."""
        for pname, p in self.partitions.items():
            if role in p.holds:
                return pname
        raise KeyError(role)


class DramSpec(_Frozen):
    """Off-chip DRAM: peak bandwidth shared by independent channels."""

    kind: Literal["ddr3", "ddr4", "lpddr4", "lpddr5", "gddr6", "hbm2", "hbm2e", "hbm3"] = Field(
        "ddr4", description="DRAM technology (picks the access energy of the technology table)"
    )
    bandwidth_gbps: Annotated[float, Field(ge=0.001, le=1e5)] = Field(
        description="peak bandwidth (GB/s, 1e9 bytes/s), 0.001..1e5 (an HBM3e stack: ~1,200)"
    )
    latency_ns: Annotated[float, Field(ge=0, le=1e5)] = Field(
        100.0, description="access latency (ns), 0..1e5 (100 us)"
    )
    channels: Annotated[int, Field(gt=0, le=1024)] = Field(
        1, description="independent channels sharing the bandwidth equally, 1..1024"
    )
    energy_pj_per_bit: Upto1e3 = Field(
        None, description="override: access energy (pJ/bit), in (0, 1000]; default from the technology table"
    )
    capacity_gib: Annotated[float, Field(gt=0, le=1e5)] = Field(
        8.0, description="capacity (GiB), in (0, 1e5]; for the record (area, reports), not a simulated limit"
    )


class DmaSpec(_Frozen):
    """DMA engines moving tiles between DRAM and SRAM."""

    engines: Annotated[int, Field(gt=0, le=1024)] = Field(2, description="number of DMA engines, 1..1024")
    setup_cycles: Annotated[int, Field(ge=0, le=1_000_000)] = Field(
        32, description="per-transfer setup (cycles), 0..1e6"
    )
    max_burst_bytes: Annotated[int, Field(gt=0, le=1 << 30)] = Field(
        4096, description="largest single burst (bytes), 1..2^30"
    )
    transfer_energy_pj: Annotated[float, Field(ge=0, le=1e6)] | None = Field(
        None, description="override: energy per transfer (pJ), 0..1e6; default from the technology table"
    )
    byte_energy_pj: Annotated[float, Field(ge=0, le=1e6)] | None = Field(
        None, description="override: on-chip transport energy per byte moved (pJ/B), 0..1e6; default from "
        "the technology table"
    )


class SequencerSpec(_Frozen):
    """The sequencer issuing tile commands in program order."""

    issue_cycles: Annotated[int, Field(ge=0, le=1_000_000)] = Field(
        4, description="cycles to issue one command, 0..1e6"
    )
    queue_depth: Annotated[int, Field(gt=0, le=65536)] = Field(
        8, description="commands in flight before issue blocks, 1..65536"
    )
    command_energy_pj: Annotated[float, Field(ge=0, le=1e6)] | None = Field(
        None, description="override: energy per issued command (pJ), 0..1e6; default from the technology table"
    )


class ControllerSpec(_Frozen):
    """Control: DMA engines and the sequencer."""

    dma: DmaSpec = Field(DmaSpec(), description="DMA engines")
    sequencer: SequencerSpec = Field(SequencerSpec(), description="command sequencer")


#: Default per-element cost (cycles per lane) of vector op kinds: the op registry's cost classes
#: (accelsim/workload/opset.py, where each class's figure is derived).
DEFAULT_VECTOR_OP_CYCLES: dict[str, int] = dict(COST_CLASSES)

#: The cost classes (tests/workload/test_opset.py checks this equals opset.COST_CLASSES).
VectorKind = Literal[
    "default", "add", "mul", "relu", "compare", "copy", "exp", "gelu", "softmax", "layer_norm",
    "reduce", "topk", "gather", "gather_mac", "div", "rsqrt",
    "silu", "softplus", "hardswish", "hardsigmoid", "affine", "rms_norm", "interp",
]


class VectorSpec(_Frozen):
    """The SIMD vector unit (element-wise ops, softmax, normalisation, gathers)."""

    lanes: Annotated[int, Field(gt=0, le=65536)] = Field(
        64, description="SIMD lanes (elements per cycle at cost 1), 1..65536"
    )
    precision: Precision = Field("fp32", description="arithmetic precision")
    pipeline_latency_cycles: Annotated[int, Field(ge=0, le=1_000_000)] = Field(
        8, description="pipeline fill per vector pass (cycles), 0..1e6"
    )
    op_cycles: dict[VectorKind, Annotated[int, Field(gt=0, le=1_000_000)]] = Field(
        default_factory=dict,
        description="per-element cost (cycles per lane, 1..1e6) by op kind; merged over the defaults "
        f"({', '.join(f'{k} {v}' for k, v in DEFAULT_VECTOR_OP_CYCLES.items())})",
    )
    op_energy_pj: Upto1e4 = Field(
        None, description="override: energy per element-op at cost 1 (pJ), in (0, 1e4]"
    )
    area_mm2: Upto1e5 = Field(
        None, description="override: area of the vector unit (mm^2), in (0, 1e5]"
    )

    def cost(self, kind: str) -> int:
        if kind in self.op_cycles:
            return self.op_cycles[kind]  # type: ignore[index]
        if kind in DEFAULT_VECTOR_OP_CYCLES:
            return DEFAULT_VECTOR_OP_CYCLES[kind]
        return self.op_cycles.get("default", DEFAULT_VECTOR_OP_CYCLES["default"])


class ResidualPartitionSpec(_Frozen):
    """One named partition of the residual stream, bound to an SRAM partition (bank group)."""

    sram: str = Field(description="SRAM partition (holding role 'residual') that stores it")


class PolicyRule(_Frozen):
    """Which residual partitions a role (module paths matching ``role``) may read and write."""

    role: str = Field(min_length=1, max_length=256,
                      description="glob over module paths, e.g. 'h.*.attn.heads.*'")
    read: list[str] = Field(default_factory=list, max_length=64, description="residual partitions it may read")
    write: list[str] = Field(default_factory=list, max_length=64, description="residual partitions it may write")


class ResidualSpec(_Frozen):
    """A partitioned residual stream with an access policy the controller enforces.

    Workloads mark residual accesses with :mod:`accelsim.workload.residual` ports; every tile
    that moves a partition's data is checked against ``policy`` (first matching rule wins;
    a role no rule matches gets ``default``).
    """

    partitions: dict[UnitName, ResidualPartitionSpec] = Field(
        min_length=1, max_length=64, description="residual partition name -> its SRAM bank group"
    )
    policy: list[PolicyRule] = Field(default_factory=list, max_length=4096,
                                     description="access rules, first match wins")
    default: Literal["allow", "deny"] = Field("deny", description="access of a role no rule matches")


class RomSpec(_Frozen):
    """Hard-wired modules: their weights live in on-chip ROM (no DRAM traffic)."""

    modules: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        min_length=1, max_length=4096, description="globs over module paths"
    )
    read_energy_pj_per_byte: Upto1e4 = Field(
        None, description="override: ROM read energy (pJ/byte), in (0, 1e4]"
    )


Topology = Literal["ring", "fully_connected", "torus2d"]


class InterconnectSpec(_Frozen):
    """Chip-to-chip links of a multi-chip system (see docs/multichip.md).

    Each chip has ``links_per_chip`` links of ``link_bandwidth_gbps`` each per direction, spread
    evenly over its neighbours: 2 on a ``ring`` (1 for 2 chips), ``chips - 1`` when
    ``fully_connected``, 4 on a ``torus2d`` (X x Y chips, the most square factorisation). The
    links to one neighbour form one channel per direction; ``latency_ns`` is paid per hop.
    Defaults: 25 GB/s per link per direction (an NVLink 4 link: 18 x 25 GB/s = 450 GB/s per H100,
    NVIDIA H100 datasheet), 6 links per chip (TPU v4, Jouppi et al., ISCA 2023), 500 ns per hop
    (an assumption: adjacent TPU ICI chips are described as sub-microsecond apart; LLMCompass fits
    8.92 us per NVLink 3 step including NCCL's software).
    """

    topology: Topology = Field(
        "ring", description="ring (chip i linked to i-1 and i+1), fully_connected (a direct link between "
        "every pair) or torus2d (an X x Y torus, X <= Y the most square factorisation of chips)"
    )
    link_bandwidth_gbps: Annotated[float, Field(gt=0, le=1e5)] = Field(
        25.0, description="bandwidth of one link per direction (GB/s, 1e9 bytes/s), in (0, 1e5]; default 25 "
        "(an NVLink 4 link)"
    )
    links_per_chip: Annotated[int, Field(gt=0, le=1024)] = Field(
        6, description="links per chip, 1..1024, split evenly over its neighbours (a ring needs >= 2 beyond "
        "2 chips, fully_connected >= chips - 1, torus2d >= 4); default 6 (TPU v4)"
    )
    latency_ns: Annotated[float, Field(ge=0, le=1e6)] = Field(
        500.0, description="latency of one hop (ns), 0..1e6 (1 ms); default 500 (assumed)"
    )


class SystemSpec(_Frozen):
    """Several identical chips (this architecture each) joined by an interconnect."""

    chips: Annotated[int, Field(gt=0, le=4096)] = Field(
        1, description="number of chips, 1..4096; runs use --tp T --pp P with T x P <= chips"
    )
    interconnect: InterconnectSpec = Field(InterconnectSpec(), description="chip-to-chip links")


class ArchSpec(_Frozen):
    """A whole accelerator."""

    version: Literal[1] = Field(1, description="file format version")
    name: str = Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$",
                      description="architecture name (one line, at most 128 characters)")
    description: str = Field("", max_length=10_000, description="free text")
    clock_ghz: Annotated[float, Field(ge=0.001, le=10)] = Field(
        description="clock frequency (GHz), 0.001 (1 MHz)..10"
    )
    technology: str = Field("45nm", description="energy/area table name: 45nm, 28nm or 7nm")
    arrays: list[ArraySpec] = Field(min_length=1, max_length=64, description="systolic array groups, 1..64")
    sram: SramSpec = Field(description="on-chip SRAM")
    dram: DramSpec = Field(description="off-chip DRAM")
    controller: ControllerSpec = Field(ControllerSpec(), description="DMA engines and sequencer")
    vector: VectorSpec = Field(VectorSpec(), description="vector unit")
    static_power_w: Annotated[float, Field(ge=0, le=1e5)] | None = Field(
        None, description="override: leakage/static power (W), 0..1e5; default from the technology table"
    )
    residual: ResidualSpec | None = Field(None, description="partitioned residual stream and its access policy")
    rom: RomSpec | None = Field(None, description="hard-wired (ROM-resident) modules")
    system: SystemSpec | None = Field(
        None, description="a system of identical chips and their interconnect (--set system.chips=8 alone is "
        "a valid 8-chip ring); absent: one chip"
    )

    @property
    def clock_hz(self) -> float:
        return self.clock_ghz * 1e9

    def array_instances(self) -> list[tuple[str, ArraySpec]]:
        """Every physical array as (name, spec), expanding ``count``."""
        out: list[tuple[str, ArraySpec]] = []
        for gi, a in enumerate(self.arrays):
            base = a.name or f"sa{gi}"
            if a.count == 1:
                out.append((base, a))
            else:
                out.extend((f"{base}.{i}", a) for i in range(a.count))
        return out

    @property
    def system_spec(self) -> SystemSpec:
        """``system``, or the one-chip default when the file has none."""
        return self.system if self.system is not None else SystemSpec()

    @property
    def peak_macs_per_cycle(self) -> int:
        return sum(a.rows * a.cols * a.count for a in self.arrays)

    @property
    def dram_bytes_per_cycle(self) -> float:
        return self.dram.bandwidth_gbps / self.clock_ghz


def semantic_problems(spec: ArchSpec) -> list[tuple[str, str]]:
    """Cross-field checks. Returns ``(yaml_path, message)`` pairs; empty when valid."""
    probs: list[tuple[str, str]] = []
    nb = spec.sram.banks
    owner: dict[int, str] = {}
    for pname, p in spec.sram.partitions.items():
        for i, b in enumerate(p.banks):
            path = f"sram.partitions.{pname}.banks[{i}]"
            if b >= nb:
                probs.append((path, f"bank {b} does not exist ({nb} banks)"))
            elif b in owner and owner[b] != pname:
                probs.append((path, f"bank {b} is already in partition '{owner[b]}'"))
            elif b in owner:
                probs.append((path, f"bank {b} listed twice"))
            else:
                owner[b] = pname
        seen: set[str] = set()
        for i, r in enumerate(p.holds):
            if r in seen:
                probs.append((f"sram.partitions.{pname}.holds[{i}]", f"role '{r}' listed twice"))
            seen.add(r)
    held = {r for p in spec.sram.partitions.values() for r in p.holds}
    if spec.residual is not None:
        for rname, rp in spec.residual.partitions.items():
            path = f"residual.partitions.{rname}.sram"
            if rp.sram not in spec.sram.partitions:
                probs.append((path, f"SRAM partition '{rp.sram}' does not exist "
                                    f"(have: {', '.join(spec.sram.partitions)})"))
            elif "residual" not in spec.sram.partitions[rp.sram].holds:
                probs.append((path, f"SRAM partition '{rp.sram}' does not hold role 'residual'"))
        for i, rule in enumerate(spec.residual.policy):
            for acc in ("read", "write"):
                for j, name in enumerate(getattr(rule, acc)):
                    if name not in spec.residual.partitions:
                        probs.append((f"residual.policy[{i}].{acc}[{j}]",
                                      f"residual partition '{name}' does not exist "
                                      f"(have: {', '.join(spec.residual.partitions)})"))
    for r in ROLES:
        if r == "residual":
            continue
        if r not in held:
            probs.append(("sram.partitions", f"no partition holds '{r}'"))
    for gi, a in enumerate(spec.arrays):
        if (a.precision, a.acc_precision) not in VALID_PRECISION_PAIRS:
            pairs = ", ".join(f"{x}/{y}" for x, y in sorted(VALID_PRECISION_PAIRS))
            probs.append(
                (
                    f"arrays[{gi}].acc_precision",
                    f"{a.precision} inputs with {a.acc_precision} accumulation is not supported "
                    f"(one of {pairs})",
                )
            )
    # Array instance names key per-unit stats and traces, so they must be unique, and must not
    # be the name of another unit (an array called 'vector' would replace the vector unit's row).
    named: dict[str, int] = {}
    n_inst = sum(a.count for a in spec.arrays)
    if n_inst > MAX_ARRAY_INSTANCES:
        probs.append(("arrays", f"{n_inst} arrays in all (count summed over groups); "
                                f"the limit is {MAX_ARRAY_INSTANCES}"))
    for gi, a in enumerate(spec.arrays):
        base = a.name or f"sa{gi}"
        if base.lower() in RESERVED_UNIT_NAMES:
            probs.append((f"arrays[{gi}].name", f"'{base}' is the name of another unit "
                                                f"(reserved: {', '.join(sorted(RESERVED_UNIT_NAMES))})"))
            continue
        if n_inst > MAX_ARRAY_INSTANCES:
            continue
        insts = [base] if a.count == 1 else [f"{base}.{i}" for i in range(a.count)]
        for inst in insts:
            if inst in named and named[inst] != gi:
                probs.append(
                    (
                        f"arrays[{gi}].name",
                        f"array name '{inst}' is already used by arrays[{named[inst]}]",
                    )
                )
                break
            named[inst] = gi
    from accelsim.energy.tables import TABLES

    tech = spec.technology.strip().lower().replace(" ", "")
    if tech not in TABLES:
        probs.append(("technology", f"unknown technology table '{spec.technology}' (known: {', '.join(TABLES)})"))
    if spec.sram.bank_width_bytes > spec.sram.bank_size_bytes:
        probs.append(("sram.bank_width_bytes", f"{spec.sram.bank_width_bytes} bytes per access is more than "
                                               f"a bank holds ({spec.sram.bank_size_bytes} bytes)"))
    if spec.system is not None:
        probs.extend(system_problems(spec.system))
    if probs:
        return probs
    # Minimal tile footprints: one array-sized tile, double-buffered, must fit its partition.
    for gi, a in enumerate(spec.arrays):
        eb = PRECISION_BYTES[a.precision]
        ab = PRECISION_BYTES[a.acc_precision]
        need = {
            "inputs": 2 * a.rows * a.cols * eb,
            "weights": 2 * a.rows * a.cols * eb,
            "outputs": 2 * a.rows * a.cols * eb,
            "accumulators": a.rows * a.cols * ab,
        }
        for role, nbytes in need.items():
            pname = spec.sram.partition_for(role)  # type: ignore[arg-type]
            have = spec.sram.partition_bytes(pname)
            if nbytes > have:
                probs.append(
                    (
                        f"sram.partitions.{pname}",
                        f"a double-buffered {a.rows}x{a.cols} {role} tile for arrays[{gi}] "
                        f"needs {nbytes} bytes, partition has {have}",
                    )
                )
    return probs


def system_problems(system: SystemSpec) -> list[tuple[str, str]]:
    """Cross-field checks of a ``system:`` block: the topology can be built from the links."""
    n = system.chips
    ic = system.interconnect
    probs: list[tuple[str, str]] = []
    if n == 1:
        return probs
    path = "system.interconnect.links_per_chip"
    if ic.topology == "ring" and n > 2 and ic.links_per_chip < 2:
        probs.append((path, f"a ring of {n} chips needs at least 2 links per chip (one to each neighbour), "
                            f"got {ic.links_per_chip}"))
    elif ic.topology == "fully_connected" and ic.links_per_chip < n - 1:
        probs.append((path, f"fully_connected over {n} chips needs at least {n - 1} links per chip "
                            f"(one to every other chip), got {ic.links_per_chip}"))
    elif ic.topology == "torus2d":
        from accelsim.model.collectives import torus_dims

        x, y = torus_dims(n)
        if x < 2:
            probs.append(("system.chips", f"torus2d needs chips = X x Y with X, Y >= 2; {n} has no such "
                                          "factorisation (use ring or fully_connected)"))
        elif ic.links_per_chip < 4:
            probs.append((path, f"a {x}x{y} torus needs at least 4 links per chip (two per dimension), "
                                f"got {ic.links_per_chip}"))
    return probs
