"""Energy and area estimates: action counts x per-action energies + static power x time.

The Accelergy approach (Wu, Emer, Sze, ICCAD 2019): every counted action costs a fixed energy
taken from the architecture's technology table (:mod:`accelsim.energy.tables`) unless the
architecture overrides it; static power (the arch's ``static_power_w`` or leakage density x
estimated area) runs for the whole latency::

    rep = estimate_energy(arch, counts, latency_s=1e-3)
    rep.breakdown_j        # {"arrays": ..., "sram.ub": ..., "dram": ..., ..., "static": ...}
    rep.per_action_pj      # the energies actually used, overrides applied
    estimate_area(arch).total_mm2

Per-action energies used (keys of ``EnergyReport.per_action_pj``, all pJ):

* ``mac.<prec>/<acc>``: one MAC (mult + accumulate-width add), or the arrays' ``mac_energy_pj``.
  When several arrays share a precision pair with different overrides, the pair's MACs are
  split between them in proportion to busy cycles x PEs (the value shown is the weighted mean).
* ``sram.<partition>.read`` / ``.write``: one bank-width access (``bank_width_bytes``) of a bank
  of ``bank_size_kib``; override order partition > ``sram`` level > table fit. Accesses per
  partition are ``ceil(bytes / bank_width_bytes)``.
* ``dram.bit``: per bit read or written (``dram.energy_pj_per_bit`` or the table's kind value).
* ``vector.<kind>``: one element-operation at the vector precision. ``vector.op_energy_pj``
  overrides it as the energy of a unit-cost element-op: a kind costing ``c`` lane-cycles
  (``VectorSpec.cost``) then costs ``c x op_energy_pj``.
* ``dma.transfer``, ``dma.byte`` (on-chip transport), ``sequencer.command``, ``rom.byte``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from accelsim.arch.spec import ArchSpec
from accelsim.energy.area import AreaReport, estimate_area
from accelsim.energy.counts import ActionCounts
from accelsim.energy.tables import PRECISIONS, TechTable, get_table
from accelsim.errors import SimError

__all__ = ["AreaReport", "EnergyReport", "estimate_area", "estimate_energy"]


@dataclass(frozen=True)
class EnergyReport:
    """Energy of one run (J), its breakdown, and the per-action energies used (pJ).

    ``breakdown_j`` keys: ``arrays``, ``sram.<partition>`` (one per partition), ``dram``,
    ``vector``, ``controllers`` (DMA + sequencer), ``rom``, ``static``; they sum to ``total_j``.
    """

    total_j: float
    dynamic_j: float
    static_j: float
    power_w: float  # average power over the run: total_j / latency_s (0 when latency is 0)
    breakdown_j: dict[str, float]
    per_action_pj: dict[str, float]
    pj_per_mac: float  # total_j / MACs, in pJ (0 when no MACs)
    static_power_w: float = 0.0  # static power used (override or leakage x area)
    technology: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "total_j": self.total_j,
            "dynamic_j": self.dynamic_j,
            "static_j": self.static_j,
            "power_w": self.power_w,
            "static_power_w": self.static_power_w,
            "pj_per_mac": self.pj_per_mac,
            "technology": self.technology,
            "breakdown_j": dict(self.breakdown_j),
            "per_action_pj": {k: self.per_action_pj[k] for k in sorted(self.per_action_pj)},
        }

    def per_inference_j(self, batch: int) -> float:
        """Energy per inference when the run processed ``batch`` inferences (J)."""
        if batch <= 0:
            raise ValueError(f"batch must be positive, got {batch}")
        return self.total_j / batch

    def per_token_j(self, tokens: int) -> float:
        """Energy per token when the run produced ``tokens`` tokens (J)."""
        if tokens <= 0:
            raise ValueError(f"tokens must be positive, got {tokens}")
        return self.total_j / tokens


def _pair_key(precision: str, acc: str) -> str:
    return f"{precision}/{acc}"


def _parse_pair(key: str) -> tuple[str, str]:
    parts = key.split("/")
    if len(parts) != 2 or parts[0] not in PRECISIONS or parts[1] not in PRECISIONS:
        raise SimError(
            f"energy: MAC count key '{key}' is not '<precision>/<acc_precision>' "
            f"with precisions in {', '.join(PRECISIONS)}"
        )
    return parts[0], parts[1]


def _check_counts(arch: ArchSpec, counts: ActionCounts) -> None:
    probs = counts.problems()
    parts = set(arch.sram.partitions)
    for what in ("sram_reads", "sram_writes"):
        probs.extend(
            f"{what}[{k}]: no SRAM partition '{k}' (partitions: {', '.join(arch.sram.partitions)})"
            for k in getattr(counts, what)
            if k not in parts
        )
    names = {n for n, _ in arch.array_instances()}
    probs.extend(
        f"array_cycles[{k}]: no array instance '{k}'" for k in counts.array_cycles if k not in names
    )
    if probs:
        raise SimError("energy: inconsistent action counts:\n  " + "\n  ".join(probs))


def _mac_energies(
    arch: ArchSpec, counts: ActionCounts, table: TechTable
) -> tuple[float, dict[str, float]]:
    """(arrays energy in pJ, per-pair effective pJ/MAC)."""
    # pair -> [(busy PE-cycles, PEs, pJ/MAC)] per array instance
    by_pair: dict[str, list[tuple[float, float, float]]] = {}
    for name, a in arch.array_instances():
        pj = a.mac_energy_pj
        if pj is None:
            pj = table.mac_pj(a.precision, a.acc_precision)
        pes = float(a.rows * a.cols)
        cycles = float(counts.array_cycles.get(name, 0))
        key = _pair_key(a.precision, a.acc_precision)
        by_pair.setdefault(key, []).append((cycles * pes, pes, pj))
    total = 0.0
    used: dict[str, float] = {}
    for key in sorted(set(by_pair) | set(counts.macs)):
        if key in by_pair:
            entries = by_pair[key]
            if sum(w for w, _, _ in entries) == 0:  # no cycle counts: weight by PEs alone
                weighted = [(pes, e) for _, pes, e in entries]
            else:
                weighted = [(w, e) for w, _, e in entries]
            pj = sum(w * e for w, e in weighted) / sum(w for w, _ in weighted)
        else:  # MACs at a pair no array declares: price from the table
            pj = table.mac_pj(*_parse_pair(key))
        used[f"mac.{key}"] = pj
        total += counts.macs.get(key, 0) * pj
    return total, used


def estimate_energy(
    arch: ArchSpec,
    counts: ActionCounts,
    latency_s: float,
    table: TechTable | None = None,
) -> EnergyReport:
    """Energy of a run of ``latency_s`` seconds that performed ``counts``.

    ``table`` defaults to ``get_table(arch.technology)``; per-component overrides in ``arch``
    always win over it.
    """
    if latency_s < 0 or not math.isfinite(latency_s):
        raise ValueError(f"latency_s must be finite and >= 0, got {latency_s}")
    table = table or get_table(arch.technology)
    _check_counts(arch, counts)
    per: dict[str, float] = {}
    pj: dict[str, float] = {}

    # Arrays.
    pj["arrays"], mac_used = _mac_energies(arch, counts, table)
    per.update(mac_used)

    # SRAM partitions.
    sram = arch.sram
    width = sram.bank_width_bytes
    fit_read = table.sram_read_pj(sram.bank_size_bytes, width * 8)
    fit_write = table.sram_write_pj(sram.bank_size_bytes, width * 8)
    for pname, p in sram.partitions.items():
        e_r = p.read_energy_pj or sram.read_energy_pj or fit_read
        e_w = p.write_energy_pj or sram.write_energy_pj or fit_write
        per[f"sram.{pname}.read"] = e_r
        per[f"sram.{pname}.write"] = e_w
        n_r = math.ceil(counts.sram_reads.get(pname, 0) / width)
        n_w = math.ceil(counts.sram_writes.get(pname, 0) / width)
        pj[f"sram.{pname}"] = n_r * e_r + n_w * e_w

    # DRAM.
    e_bit = arch.dram.energy_pj_per_bit or table.dram_bit_pj(arch.dram.kind)
    per["dram.bit"] = e_bit
    pj["dram"] = (counts.dram_read_bytes + counts.dram_write_bytes) * 8 * e_bit

    # Vector unit.
    vec = arch.vector
    e_vec = 0.0
    for kind in sorted(counts.vector_ops):
        if vec.op_energy_pj is not None:
            e = vec.op_energy_pj * vec.cost(kind)
        else:
            e = table.vector_op_pj(kind, vec.precision)
        per[f"vector.{kind}"] = e
        e_vec += counts.vector_ops[kind] * e
    pj["vector"] = e_vec

    # Controllers: DMA (descriptor + on-chip transport) and sequencer.
    dma = arch.controller.dma
    seq = arch.controller.sequencer
    e_tr = dma.transfer_energy_pj if dma.transfer_energy_pj is not None else table.dma_transfer_pj
    e_cmd = seq.command_energy_pj
    if e_cmd is None:
        e_cmd = table.sequencer_command_pj
    e_byte = dma.byte_energy_pj if dma.byte_energy_pj is not None else table.dma_byte_pj
    per["dma.transfer"] = e_tr
    per["dma.byte"] = e_byte
    per["sequencer.command"] = e_cmd
    pj["controllers"] = (
        counts.dma_transfers * e_tr
        + counts.dma_bytes * e_byte
        + counts.sequencer_commands * e_cmd
    )

    # ROM.
    per["rom.byte"] = table.rom_byte_pj
    pj["rom"] = counts.rom_read_bytes * table.rom_byte_pj

    # Static.
    if arch.static_power_w is not None:
        static_w = arch.static_power_w
    else:
        static_w = table.static_w_per_mm2 * estimate_area(arch, counts, table).total_mm2
    breakdown = {k: v * 1e-12 for k, v in pj.items()}
    breakdown["static"] = static_w * latency_s

    dynamic = math.fsum(v for k, v in breakdown.items() if k != "static")
    total = math.fsum(breakdown.values())
    macs = counts.total_macs
    return EnergyReport(
        total_j=total,
        dynamic_j=dynamic,
        static_j=breakdown["static"],
        power_w=total / latency_s if latency_s > 0 else 0.0,
        breakdown_j=breakdown,
        per_action_pj=per,
        pj_per_mac=total * 1e12 / macs if macs else 0.0,
        static_power_w=static_w,
        technology=table.name,
    )


@dataclass(frozen=True)
class Prices:
    """Per-action energies of one architecture (pJ), the same values :func:`estimate_energy`
    uses, for cost models that rank mappings by energy without building ActionCounts.

    ``mac_pj`` per array group (``arch.arrays`` index); ``sram_read_pj`` / ``sram_write_pj``
    per partition, per bank-width access of ``sram_width_bytes``; ``dram_pj_per_byte``;
    ``static_w`` (static power); DMA / sequencer per action; vector ops priced by cost kind via
    :meth:`vector_pj`.
    """

    mac_pj: tuple[float, ...]
    sram_read_pj: dict[str, float]
    sram_write_pj: dict[str, float]
    sram_width_bytes: int
    dram_pj_per_byte: float
    static_w: float
    dma_transfer_pj: float
    dma_byte_pj: float
    command_pj: float
    vector_kind_pj: dict[str, float]

    def vector_pj(self, kind: str) -> float:
        return self.vector_kind_pj.get(kind, self.vector_kind_pj.get("default", 0.0))


def prices(arch: ArchSpec, table: TechTable | None = None) -> Prices:
    """The per-action energies of ``arch`` (overrides applied), as :func:`estimate_energy` would
    use them."""
    table = table or get_table(arch.technology)
    macs = tuple(
        a.mac_energy_pj if a.mac_energy_pj is not None else table.mac_pj(a.precision, a.acc_precision)
        for a in arch.arrays
    )
    sram = arch.sram
    width = sram.bank_width_bytes
    fit_r = table.sram_read_pj(sram.bank_size_bytes, width * 8)
    fit_w = table.sram_write_pj(sram.bank_size_bytes, width * 8)
    rd = {n: p.read_energy_pj or sram.read_energy_pj or fit_r for n, p in sram.partitions.items()}
    wr = {n: p.write_energy_pj or sram.write_energy_pj or fit_w for n, p in sram.partitions.items()}
    e_bit = arch.dram.energy_pj_per_bit or table.dram_bit_pj(arch.dram.kind)
    static_w = (
        arch.static_power_w
        if arch.static_power_w is not None
        else table.static_w_per_mm2 * estimate_area(arch, None, table).total_mm2
    )
    dma = arch.controller.dma
    seq = arch.controller.sequencer
    vec = arch.vector
    kinds: dict[str, float] = {}
    from accelsim.arch.spec import DEFAULT_VECTOR_OP_CYCLES

    for kind in sorted(set(DEFAULT_VECTOR_OP_CYCLES) | set(vec.op_cycles)):
        if vec.op_energy_pj is not None:
            kinds[kind] = vec.op_energy_pj * vec.cost(kind)
        else:
            try:
                kinds[kind] = table.vector_op_pj(kind, vec.precision)
            except Exception:  # noqa: BLE001 - a kind the table does not price
                kinds[kind] = table.vector_op_pj("default", vec.precision)
    return Prices(
        mac_pj=macs,
        sram_read_pj=rd,
        sram_write_pj=wr,
        sram_width_bytes=width,
        dram_pj_per_byte=8 * e_bit,
        static_w=static_w,
        dma_transfer_pj=dma.transfer_energy_pj if dma.transfer_energy_pj is not None else table.dma_transfer_pj,
        dma_byte_pj=dma.byte_energy_pj if dma.byte_energy_pj is not None else table.dma_byte_pj,
        command_pj=seq.command_energy_pj if seq.command_energy_pj is not None else table.sequencer_command_pj,
        vector_kind_pj=kinds,
    )
