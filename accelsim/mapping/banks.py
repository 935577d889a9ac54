"""Which SRAM banks each access uses: the mapper's bank plan (pure).

Every partition's banks are laid out as::

    [0, r)            resident area (partitions holding ``outputs``: ``r = floor(banks x
                      resident_fraction)``, at most banks - 1): activations kept on chip, reused
                      weights, KV caches
    [r, banks - v)    the arrays' tile buffers
    [banks - v, banks) the vector unit's tile buffers (partitions holding inputs or outputs with at
                      least 4 tile banks: ``v = max(1, floor(tile banks x VECTOR_SHARE))``;
                      otherwise the vector unit shares the arrays' banks)

An op on ``n`` arrays splits the arrays' banks of an operand partition into ``2n`` ranges, one
per (array, double-buffer slot), and the accumulator partition into ``n`` ranges, one per array;
with fewer banks than ranges, ranges share banks (and conflict). Capacities follow the banks, so
the byte budgets the search uses are exactly the banks each access may touch. Nothing depends on
how many arrays the architecture has, only on how many an op uses: idle arrays hold no banks.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.arch.spec import ArchSpec

#: Fraction of the tile banks of the inputs / outputs partitions reserved for the vector unit.
VECTOR_SHARE = 0.125

ROLES = ("inputs", "weights", "outputs", "accumulators")

Range = tuple[int, int]


@dataclass(frozen=True)
class PartitionBanks:
    """The bank layout of one partition (bank indices relative to the partition)."""

    name: str
    banks: int
    bank_bytes: int  # capacity of one bank
    bank_bpc: int  # bytes per cycle of one bank
    resident: Range
    arrays: Range
    vector: Range
    vector_shared: bool  # the vector unit uses the arrays' banks (too few banks to split)

    @property
    def resident_bytes(self) -> int:
        return (self.resident[1] - self.resident[0]) * self.bank_bytes

    vector_user: bool = True  # holds inputs or outputs (the roles the vector unit reads / writes)

    @property
    def array_bytes(self) -> int:
        n = (self.arrays[1] - self.arrays[0]) * self.bank_bytes
        return int(n * (1 - VECTOR_SHARE)) if (self.vector_shared and self.vector_user) else n

    @property
    def vector_bytes(self) -> int:
        if not self.vector_user:
            return 0
        if self.vector_shared:
            return int((self.arrays[1] - self.arrays[0]) * self.bank_bytes * VECTOR_SHARE)
        return (self.vector[1] - self.vector[0]) * self.bank_bytes

    @property
    def array_banks(self) -> int:
        return self.arrays[1] - self.arrays[0]

    @property
    def resident_banks(self) -> int:
        return self.resident[1] - self.resident[0]


def split(rng: Range, parts: int, idx: int) -> Range:
    """Range ``idx`` of ``parts`` near-equal contiguous pieces of ``rng`` (pieces wrap onto single
    banks when there are more pieces than banks)."""
    lo, hi = rng
    n = hi - lo
    if n <= 0:
        return (0, 0)
    if n >= parts:
        return (lo + n * idx // parts, lo + n * (idx + 1) // parts)
    b = lo + idx % n
    return (b, b + 1)


def range_banks(rng_banks: int, parts: int) -> float:
    """Effective banks per piece when ``rng_banks`` banks are split into ``parts`` pieces that
    run concurrently (a shared bank serves its pieces in turn)."""
    if rng_banks <= 0:
        return 1.0
    if rng_banks >= parts:
        return rng_banks // parts
    return rng_banks / parts


@dataclass(frozen=True)
class BankPlan:
    parts: dict[str, PartitionBanks]
    role_part: dict[str, str]
    resident_part: str

    def slot(self, role: str, array_i: int, slot: int, n_arrays: int) -> tuple[str, Range]:
        """(partition, banks) of the tile buffer of ``role`` for array ``array_i`` (of the
        ``n_arrays`` an op uses) in double-buffer ``slot``."""
        part = self.role_part[role]
        pb = self.parts[part]
        if role == "accumulators":
            return part, split(pb.arrays, n_arrays, array_i)
        return part, split(pb.arrays, 2 * n_arrays, 2 * array_i + slot % 2)

    def resident(self, part: str | None = None) -> tuple[str, Range]:
        part = part or self.resident_part
        pb = self.parts[part]
        return part, (pb.resident if pb.resident_banks else (0, 0))

    def vector_slot(self, role: str, slot: int) -> tuple[str, Range]:
        part = self.role_part[role]
        pb = self.parts[part]
        rng = pb.arrays if pb.vector_shared else pb.vector
        if rng[1] - rng[0] >= 2:
            return part, split(rng, 2, slot % 2)
        return part, rng

    @property
    def tile_bytes(self) -> dict[str, int]:
        return {n: p.array_bytes for n, p in self.parts.items()}

    @property
    def vector_bytes(self) -> dict[str, int]:
        return {n: p.vector_bytes for n, p in self.parts.items()}

    @property
    def resident_bytes(self) -> int:
        return sum(p.resident_bytes for p in self.parts.values())


def bank_plan(arch: ArchSpec, resident_fraction: float) -> BankPlan:
    sram = arch.sram
    parts: dict[str, PartitionBanks] = {}
    bpc = sram.bank_width_bytes * sram.ports_per_bank
    for name, p in sram.partitions.items():
        nb = len(p.banks)
        r = min(nb - 1, int(nb * resident_fraction + 1e-9)) if "outputs" in p.holds else 0
        r = max(0, r)
        t = nb - r
        v = 0
        user = "inputs" in p.holds or "outputs" in p.holds
        if user and t >= 4:
            v = max(1, int(t * VECTOR_SHARE))
        arrays = (r, nb - v)
        vector = (nb - v, nb) if v else arrays
        parts[name] = PartitionBanks(name, nb, sram.bank_size_bytes, bpc, (0, r), arrays, vector, v == 0, user)
    role_part = {r: sram.partition_for(r) for r in ROLES}  # type: ignore[arg-type]
    res_part = next((n for n, p in sram.partitions.items() if "outputs" in p.holds), role_part["outputs"])
    return BankPlan(parts, role_part, res_part)
