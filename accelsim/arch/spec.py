"""Architecture specification: frozen, validated pydantic models.

An ``ArchSpec`` is built from a YAML file by :mod:`accelsim.arch.load`; building one never
touches disk. Units are in field names (``_ghz``, ``_bytes``, ``_kib``, ``_gbps``, ``_ns``,
``_cycles``). Pydantic checks types and ranges; :func:`semantic_problems` checks the
cross-field rules (partitions name existing banks, every operand role has a home, a minimal
tile fits its partition) and returns *all* problems with their YAML paths.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

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


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ArraySpec(_Frozen):
    """A group of ``count`` identical systolic arrays."""

    name: str | None = Field(None, description="label; defaults to sa<index>")
    count: PositiveInt = Field(1, description="number of identical arrays in this group")
    rows: PositiveInt = Field(description="PE rows (R)")
    cols: PositiveInt = Field(description="PE columns (C)")
    dataflow: Dataflow = Field("ws", description="os | ws | is")
    precision: Precision = Field("int8", description="input (operand) precision")
    acc_precision: Precision = Field("int32", description="accumulator precision")
    mac_energy_pj: Annotated[float, Field(gt=0)] | None = Field(
        None, description="override: energy per MAC (pJ)"
    )
    area_mm2: Annotated[float, Field(gt=0)] | None = Field(
        None, description="override: area of one array (mm^2)"
    )


class PartitionSpec(_Frozen):
    """A named group of SRAM banks holding the given operand roles."""

    banks: list[Annotated[int, Field(ge=0)]] = Field(min_length=1, description="bank indices")
    holds: list[Role] = Field(min_length=1, description="operand roles stored here")
    read_energy_pj: Annotated[float, Field(gt=0)] | None = Field(
        None, description="override: energy per bank-width read in this partition (pJ)"
    )
    write_energy_pj: Annotated[float, Field(gt=0)] | None = Field(
        None, description="override: energy per bank-width write in this partition (pJ)"
    )


class SramSpec(_Frozen):
    """On-chip SRAM as ``banks`` identical banks grouped into partitions."""

    banks: PositiveInt = Field(description="number of banks")
    bank_size_kib: Annotated[float, Field(gt=0)] = Field(description="capacity of one bank (KiB)")
    bank_width_bytes: PositiveInt = Field(description="bytes per cycle per port")
    ports_per_bank: PositiveInt = Field(1, description="independent ports per bank")
    partitions: dict[str, PartitionSpec] = Field(min_length=1)
    read_energy_pj: Annotated[float, Field(gt=0)] | None = Field(
        None, description="override: energy per bank-width read (pJ)"
    )
    write_energy_pj: Annotated[float, Field(gt=0)] | None = Field(
        None, description="override: energy per bank-width write (pJ)"
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
    kind: Literal["ddr3", "ddr4", "lpddr4", "lpddr5", "gddr6", "hbm2", "hbm2e", "hbm3"] = "ddr4"
    bandwidth_gbps: Annotated[float, Field(gt=0)] = Field(description="peak bandwidth (GB/s, 1e9)")
    latency_ns: Annotated[float, Field(ge=0)] = Field(100.0, description="access latency (ns)")
    channels: PositiveInt = Field(1, description="independent channels")
    energy_pj_per_bit: Annotated[float, Field(gt=0)] | None = Field(
        None, description="override: access energy (pJ/bit)"
    )
    capacity_gib: Annotated[float, Field(gt=0)] = 8.0


class DmaSpec(_Frozen):
    engines: PositiveInt = Field(2, description="number of DMA engines")
    setup_cycles: Annotated[int, Field(ge=0)] = Field(32, description="per-transfer setup")
    max_burst_bytes: PositiveInt = Field(4096, description="largest single burst")
    transfer_energy_pj: Annotated[float, Field(ge=0)] | None = None


class SequencerSpec(_Frozen):
    issue_cycles: Annotated[int, Field(ge=0)] = Field(4, description="cycles to issue one command")
    queue_depth: PositiveInt = Field(8, description="commands in flight before issue blocks")
    command_energy_pj: Annotated[float, Field(ge=0)] | None = None


class ControllerSpec(_Frozen):
    dma: DmaSpec = DmaSpec()
    sequencer: SequencerSpec = SequencerSpec()


#: Default per-element cost (cycles per lane) of vector op kinds.
DEFAULT_VECTOR_OP_CYCLES: dict[str, int] = {
    "default": 1,
    "add": 1,
    "mul": 1,
    "relu": 1,
    "compare": 1,
    "copy": 1,
    "exp": 4,
    "gelu": 6,
    "softmax": 8,
    "layer_norm": 6,
    "reduce": 1,
    "topk": 4,
    "gather": 1,
    "gather_mac": 1,
    "div": 4,
    "rsqrt": 4,
}


class VectorSpec(_Frozen):
    lanes: PositiveInt = Field(64, description="SIMD lanes (elements per cycle at cost 1)")
    precision: Precision = "fp32"
    pipeline_latency_cycles: Annotated[int, Field(ge=0)] = 8
    op_cycles: dict[str, PositiveInt] = Field(
        default_factory=dict, description="per-element cost by op kind; merged over defaults"
    )
    op_energy_pj: Annotated[float, Field(gt=0)] | None = None
    area_mm2: Annotated[float, Field(gt=0)] | None = None

    def cost(self, kind: str) -> int:
        if kind in self.op_cycles:
            return self.op_cycles[kind]
        if kind in DEFAULT_VECTOR_OP_CYCLES:
            return DEFAULT_VECTOR_OP_CYCLES[kind]
        return self.op_cycles.get("default", DEFAULT_VECTOR_OP_CYCLES["default"])


class ResidualPartitionSpec(_Frozen):
    """One named partition of the residual stream, bound to an SRAM partition (bank group)."""

    sram: str = Field(description="SRAM partition (holding role 'residual') that stores it")


class PolicyRule(_Frozen):
    """Which residual partitions a role (module paths matching ``role``) may read and write."""

    role: str = Field(description="glob over module paths, e.g. 'h.*.attn.heads.*'")
    read: list[str] = Field(default_factory=list)
    write: list[str] = Field(default_factory=list)


class ResidualSpec(_Frozen):
    """A partitioned residual stream with an access policy the controller enforces.

    Workloads mark residual accesses with :mod:`accelsim.workload.residual` ports; every tile
    that moves a partition's data is checked against ``policy`` (first matching rule wins;
    a role no rule matches gets ``default``).
    """

    partitions: dict[str, ResidualPartitionSpec] = Field(min_length=1)
    policy: list[PolicyRule] = Field(default_factory=list)
    default: Literal["allow", "deny"] = "deny"


class RomSpec(_Frozen):
    """Hard-wired modules: their weights live in on-chip ROM (no DRAM traffic)."""

    modules: list[str] = Field(min_length=1, description="globs over module paths")
    read_energy_pj_per_byte: Annotated[float, Field(gt=0)] | None = None


class ArchSpec(_Frozen):
    """A whole accelerator."""

    version: Literal[1] = 1
    name: str
    description: str = ""
    clock_ghz: Annotated[float, Field(gt=0)]
    technology: str = Field("45nm", description="energy/area table name, e.g. 45nm, 7nm")
    arrays: list[ArraySpec] = Field(min_length=1)
    sram: SramSpec
    dram: DramSpec
    controller: ControllerSpec = ControllerSpec()
    vector: VectorSpec = VectorSpec()
    static_power_w: Annotated[float, Field(ge=0)] | None = Field(
        None, description="override: leakage/static power (W)"
    )
    residual: ResidualSpec | None = None
    rom: RomSpec | None = None

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
    # Array instance names key per-unit stats and traces, so they must be unique.
    named: dict[str, int] = {}
    for gi, a in enumerate(spec.arrays):
        base = a.name or f"sa{gi}"
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
