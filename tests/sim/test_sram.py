"""SRAM (accelsim/sim/sram.py): bank-range conflicts, on hand-built scenarios.

Every bank serves ``bank_width_bytes x ports_per_bank`` = 64 x 1 = 64 B/cycle; an access of ``n``
bytes to banks ``[b0, b1)`` starts once all of them are free and holds them for
``ceil(n / ((b1 - b0) x 64))`` cycles. Overlapping ranges serialize, disjoint ranges do not;
``(0, 0)`` is the whole partition. The engine-level scenarios assert on the units' logs
(``intervals``: (start, end, tile id)).
"""

from __future__ import annotations

import pytest

from accelsim.errors import SimError
from accelsim.mapping.program import SramAccess
from accelsim.sim.engine import simulate
from accelsim.sim.sram import Sram
from builders import hand_program, make_arch

#: "inputs" has four banks (0-3 of the partition), the others one or two.
SRAM = {
    "banks": 8, "bank_size_kib": 128, "bank_width_bytes": 64, "ports_per_bank": 1,
    "partitions": {
        "inputs": {"banks": [0, 1, 2, 3], "holds": ["inputs"]},
        "weights": {"banks": [4, 5], "holds": ["weights"]},
        "outputs": {"banks": [6], "holds": ["outputs"]},
        "accumulators": {"banks": [7], "holds": ["accumulators"]},
    },
}
ARCH = make_arch(sram=SRAM)


def test_overlapping_ranges_serialize() -> None:
    s = Sram(ARCH)
    # 1280 B on 2 banks (128 B/cycle): 10 cycles
    assert s.reserve("inputs", (0, 2), 0, 1280) == (0, 10)
    # banks [1, 3) share bank 1: wait until it frees at 10, then 10 cycles
    assert s.reserve("inputs", (1, 3), 0, 1280) == (10, 10)
    assert s.parts["inputs"].free_at == [10, 20, 20, 0]


def test_disjoint_ranges_run_together() -> None:
    s = Sram(ARCH)
    assert s.reserve("inputs", (0, 2), 0, 1280) == (0, 10)
    assert s.reserve("inputs", (2, 4), 0, 1280) == (0, 10)
    # another partition's banks are independent too
    assert s.reserve("weights", (0, 2), 0, 1280) == (0, 10)


def test_whole_partition_waits_for_every_bank() -> None:
    s = Sram(ARCH)
    # 640 B on bank 2 alone (64 B/cycle): 10 cycles
    assert s.reserve("inputs", (2, 3), 0, 640) == (0, 10)
    # (0, 0) = banks [0, 4): waits for bank 2 (10), then 2560 B at 4 x 64 B/cycle = 10 cycles
    assert s.reserve("inputs", (0, 0), 0, 2560) == (10, 10)
    # and holds every bank: a one-bank access to bank 0 now waits until 20
    assert s.reserve("inputs", (0, 1), 0, 64) == (20, 1)


def test_more_banks_more_bandwidth() -> None:
    one, four = Sram(ARCH), Sram(ARCH)
    assert one.reserve("inputs", (0, 1), 0, 2560)[1] == 40  # 2560 / 64
    assert four.reserve("inputs", (0, 4), 0, 2560)[1] == 10  # 2560 / 256
    assert four.reserve("inputs", (0, 4), 0, 2561)[1] == 11  # a partial cycle is a whole one


def test_bad_partition_or_range_is_a_clear_error() -> None:
    s = Sram(ARCH)
    with pytest.raises(SimError, match="unknown partition 'nowhere'"):
        s.reserve("nowhere", (0, 0), 0, 64)
    with pytest.raises(SimError, match=r"banks \[3, 5\) of partition 'inputs' \(4 banks\)"):
        s.reserve("inputs", (3, 5), 0, 64)


def _two_units(vector_banks: tuple[int, int]) -> object:
    """An array tile reading banks [0, 2) of "inputs" (6400 B: 50 cycles at 128 B/cycle, under its
    100 compute cycles) and an independent vector tile reading ``vector_banks`` (1280 B)."""
    prog = hand_program(
        ("array", [dict(unit="sa0", compute_cycles=100, sram=(SramAccess("inputs", 6400, False, (0, 2)),))]),
        ("vector", [dict(unit="vector", compute_cycles=20, sram=(SramAccess("inputs", 1280, False, vector_banks),))]),
    )
    return simulate(prog, make_arch(sram=SRAM))


def test_units_conflict_on_shared_banks_in_simpy() -> None:
    # issue takes 2 cycles per command: the array tile starts at 2, the vector tile at 4
    out = _two_units((1, 2))
    assert out.arrays[0].intervals == [(2, 102, 0)]
    # banks [0, 2) are held from 2 to 52; the vector tile's bank 1 frees at 52: it waits 48,
    # then 1280 B on one bank = 20 cycles (= its compute): held [4, 72)
    assert out.vector.intervals == [(4, 72, 1)]
    assert out.stats.bank_conflict_cycles == 48 and out.total_cycles == 102


def test_units_on_disjoint_banks_do_not_conflict() -> None:
    out = _two_units((2, 4))
    # 1280 B on 2 banks = 10 cycles, under the 20 compute cycles: [4, 24), no wait
    assert out.vector.intervals == [(4, 24, 1)]
    assert out.stats.bank_conflict_cycles == 0


def test_whole_partition_access_conflicts_with_any_range() -> None:
    out = _two_units((0, 0))
    # all four banks: waits for [0, 2) to free at 52, 1280 B at 256 B/cycle = 5 < 20 compute
    assert out.vector.intervals == [(4, 72, 1)]
    assert out.stats.bank_conflict_cycles == 48
