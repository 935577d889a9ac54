"""Area estimate of an architecture (mm^2) from the technology table's per-unit areas.

Per-unit areas come from the technology table: per PE by precision, per SRAM KiB and per vector
lane are anchored on TPUv1 at 28 nm; ROM, DMA engine and sequencer are reasoned estimates; all
scale by node (see :mod:`accelsim.energy.tables`).
The arch's ``arrays[].area_mm2`` and ``vector.area_mm2`` override them::

    rep = estimate_area(arch)
    rep.total_mm2, rep.breakdown_mm2["arrays"]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from accelsim.arch.spec import ArchSpec
from accelsim.energy.counts import ActionCounts
from accelsim.energy.tables import TechTable, get_table
from accelsim.errors import SimError


@dataclass(frozen=True)
class AreaReport:
    """Area estimate (mm^2) with breakdown ``arrays``, ``sram.<partition>``, ``vector``,
    ``controllers``, ``rom`` (plus ``sram.unassigned`` when some banks are in no partition).

    ``per_unit_mm2`` lists the unit areas used (per PE, per SRAM KiB, ...).
    """

    total_mm2: float
    breakdown_mm2: dict[str, float]
    per_unit_mm2: dict[str, float] = field(default_factory=dict)
    technology: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "total_mm2": self.total_mm2,
            "technology": self.technology,
            "breakdown_mm2": dict(self.breakdown_mm2),
            "per_unit_mm2": {k: self.per_unit_mm2[k] for k in sorted(self.per_unit_mm2)},
        }


def estimate_area(
    arch: ArchSpec, counts: ActionCounts | None = None, table: TechTable | None = None
) -> AreaReport:
    """Area of ``arch`` (mm^2); ``counts`` only supplies ``rom_bytes`` (ROM capacity)."""
    table = table or get_table(arch.technology)
    per: dict[str, float] = {}
    bd: dict[str, float] = {}

    arrays = 0.0
    for name, a in arch.array_instances():
        if a.area_mm2 is not None:
            arrays += a.area_mm2
            per[f"array.{name}"] = a.area_mm2
        else:
            pe = table.mac_area_mm2(a.precision, a.acc_precision)
            per[f"pe.{a.precision}/{a.acc_precision}"] = pe
            arrays += a.rows * a.cols * pe
    bd["arrays"] = arrays

    sram = arch.sram
    kib_area = table.sram_area_mm2_per_kib(sram.ports_per_bank)
    per["sram.kib"] = kib_area
    assigned = 0
    for pname, p in sram.partitions.items():
        bd[f"sram.{pname}"] = len(p.banks) * sram.bank_size_kib * kib_area
        assigned += len(p.banks)
    if sram.banks > assigned:
        bd["sram.unassigned"] = (sram.banks - assigned) * sram.bank_size_kib * kib_area

    vec = arch.vector
    if vec.area_mm2 is not None:
        bd["vector"] = vec.area_mm2
        per["vector"] = vec.area_mm2
    else:
        lane = table.vector_lane_area_mm2(vec.precision)
        per[f"vector.lane.{vec.precision}"] = lane
        bd["vector"] = vec.lanes * lane

    per["dma.engine"] = table.dma_engine_area_mm2
    per["sequencer"] = table.sequencer_area_mm2
    dma_engines = arch.controller.dma.engines
    bd["controllers"] = dma_engines * table.dma_engine_area_mm2 + table.sequencer_area_mm2

    per["rom.kib"] = table.rom_area_mm2_per_kib
    rom_bytes = counts.rom_bytes if counts is not None else 0
    if rom_bytes < 0:
        raise SimError(f"energy: rom_bytes = {rom_bytes} < 0")
    bd["rom"] = rom_bytes / 1024 * table.rom_area_mm2_per_kib

    return AreaReport(
        total_mm2=math.fsum(bd.values()), breakdown_mm2=bd, per_unit_mm2=per, technology=table.name
    )
