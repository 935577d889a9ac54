"""On-chip SRAM: partitions of banks; every access occupies a contiguous range of banks.

Each bank is a bandwidth server (``bank_width_bytes x ports_per_bank`` bytes per cycle) with a
calendar (``free_at``). An access of ``n`` bytes to banks ``[b0, b1)`` of a partition starts when
all of them are free and holds them for ``ceil(n / ((b1 - b0) x bank bytes/cycle))`` cycles; the
time it waited is a *bank conflict*. The mapper decides which banks each access uses
(:mod:`accelsim.mapping.banks`): double-buffered tile slots of the arrays working on an op get
disjoint bank ranges (so the next tile's DMA writes hide behind the current tile's reads), the
accumulators one range per array, the vector unit its own, resident tensors theirs. Units that an
op does not use hold no banks, so idle arrays cost nothing; fewer banks than ranges brings the
conflicts back. One calendar update per access: events stay per tile and per transfer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from accelsim.arch.spec import ArchSpec
from accelsim.errors import SimError
from accelsim.mapping.program import SramAccess


@dataclass
class _Partition:
    name: str
    banks: int
    bank_bpc: int  # bytes per cycle of one bank
    free_at: list[int]
    reads: int = 0
    writes: int = 0

    @property
    def bpc(self) -> int:
        return self.banks * self.bank_bpc


class Sram:
    def __init__(self, arch: ArchSpec) -> None:
        s = arch.sram
        self.parts: dict[str, _Partition] = {}
        for name, p in s.partitions.items():
            nb = len(p.banks)
            self.parts[name] = _Partition(
                name=name, banks=nb, bank_bpc=s.bank_width_bytes * s.ports_per_bank, free_at=[0] * nb
            )

    def count(self, partition: str, nbytes: int, write: bool) -> None:
        p = self.parts.get(partition)
        if p is None:
            raise SimError(f"SRAM access to unknown partition '{partition}'")
        if write:
            p.writes += nbytes
        else:
            p.reads += nbytes

    def reserve(self, partition: str, banks: tuple[int, int], start: int, nbytes: int) -> tuple[int, int]:
        """Reserve banks ``[b0, b1)`` of ``partition`` (``(0, 0)``: all of them) for ``nbytes``
        from cycle ``start``. Returns ``(wait, busy)``: cycles waited for the banks to free, and
        cycles the access holds them at their combined bandwidth."""
        p = self.parts.get(partition)
        if p is None:
            raise SimError(f"SRAM access to unknown partition '{partition}'")
        b0, b1 = banks
        nb = p.banks
        if b1 <= b0:
            b0, b1 = 0, nb
        if not (0 <= b0 < b1 <= nb):
            raise SimError(f"SRAM access to banks [{b0}, {b1}) of partition '{partition}' ({nb} banks)")
        busy = math.ceil(nbytes / ((b1 - b0) * p.bank_bpc))
        fa = p.free_at
        if b1 - b0 == 1:
            f = fa[b0]
            s = f if f > start else start
            fa[b0] = s + busy
        else:
            f = max(fa[b0:b1])
            s = f if f > start else start
            fa[b0:b1] = [s + busy] * (b1 - b0)
        return s - start, busy

    def transfer_access(self, partition: str, banks: tuple[int, int], start: int, nbytes: int,
                        write: bool) -> tuple[int, int]:
        """A DMA transfer's access: :meth:`count` it, then :meth:`reserve` its region."""
        p = self.parts.get(partition)
        if p is None:
            raise SimError(f"SRAM access to unknown partition '{partition}'")
        if write:
            p.writes += nbytes
        else:
            p.reads += nbytes
        return self.reserve(partition, banks, start, nbytes)

    def compute_access(self, accesses: Iterable[SramAccess], start: int) -> tuple[int, int]:
        """A compute tile's SRAM accesses from cycle ``start``: count every access; the
        accesses to one region (partition, banks) share its bandwidth, so each region is
        reserved once for their bytes, in the order the regions first appear. Returns
        ``(wait, busy)``: the longest wait for a region and the longest time one is held."""
        parts = self.parts
        per_region: dict[tuple[str, tuple[int, int]], int] = {}
        for acc in accesses:
            part = acc.partition
            nbytes = acc.nbytes
            key = (part, acc.banks)
            per_region[key] = per_region.get(key, 0) + nbytes
            p = parts.get(part)
            if p is None:
                raise SimError(f"SRAM access to unknown partition '{part}'")
            if acc.write:
                p.writes += nbytes
            else:
                p.reads += nbytes
        wait = need = 0
        ceil = math.ceil
        for (part, (b0, b1)), nbytes in per_region.items():
            p = parts[part]
            nb = p.banks
            if b1 <= b0:
                b0, b1 = 0, nb
            if not (0 <= b0 < b1 <= nb):
                raise SimError(f"SRAM access to banks [{b0}, {b1}) of partition '{part}' ({nb} banks)")
            busy = ceil(nbytes / ((b1 - b0) * p.bank_bpc))
            fa = p.free_at
            if b1 - b0 == 1:
                f = fa[b0]
                s = f if f > start else start
                fa[b0] = s + busy
            else:
                f = max(fa[b0:b1])
                s = f if f > start else start
                fa[b0:b1] = [s + busy] * (b1 - b0)
            if s - start > wait:
                wait = s - start
            if busy > need:
                need = busy
        return wait, need
