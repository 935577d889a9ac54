"""On-chip SRAM: partitions of banks, split into double-buffer regions.

Each partition used by ``u`` units is split into ``min(banks, 2u)`` regions of whole banks;
unit ``i``'s buffer slot ``s`` lives in region ``(2i + s) mod regions``. A region is a
bandwidth server (``banks_in_region x bank_width x ports`` bytes/cycle) with a calendar:
a DMA write into a region that a compute unit is reading (or another DMA is writing) waits
for it — a *bank conflict*. Double buffering over disjoint banks therefore hides loads
behind compute, and cutting the bank count brings conflicts back. Resident activations
(region ``-1``) are bandwidth-checked against the whole partition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from accelsim.arch.spec import ArchSpec


@dataclass
class _Partition:
    name: str
    banks: int
    bpc: int  # bytes per cycle of the whole partition
    regions: int
    region_bpc: int
    free_at: list[int]
    reads: int = 0
    writes: int = 0


class Sram:
    def __init__(self, arch: ArchSpec, users: int) -> None:
        s = arch.sram
        self.parts: dict[str, _Partition] = {}
        for name, p in s.partitions.items():
            nb = len(p.banks)
            regions = max(1, min(nb, 2 * users))
            self.parts[name] = _Partition(
                name=name,
                banks=nb,
                bpc=nb * s.bank_width_bytes * s.ports_per_bank,
                regions=regions,
                region_bpc=max(1, nb // regions) * s.bank_width_bytes * s.ports_per_bank,
                free_at=[0] * regions,
            )

    def region_of(self, partition: str, unit_index: int, slot: int) -> int:
        return (2 * unit_index + slot) % self.parts[partition].regions

    def count(self, partition: str, nbytes: int, write: bool) -> None:
        p = self.parts[partition]
        if write:
            p.writes += nbytes
        else:
            p.reads += nbytes

    def reserve(self, partition: str, region: int, start: int, nbytes: int) -> tuple[int, int]:
        """Reserve ``region`` (``-1``: whole partition, no calendar) for ``nbytes``.

        Returns ``(wait, busy)``: cycles waited for the region to free, and cycles the
        transfer occupies it at the region's bandwidth.
        """
        p = self.parts[partition]
        if region < 0:
            return 0, math.ceil(nbytes / p.bpc)
        busy = math.ceil(nbytes / p.region_bpc)
        s = max(start, p.free_at[region])
        p.free_at[region] = s + busy
        return s - start, busy
