"""Common behaviour of compute units (systolic arrays, the vector unit).

A unit is a SimPy ``Resource`` of capacity 1 (one tile at a time, FIFO in issue order) with
``buffer_slots`` (capacity 2: double buffering — the next tile's operands load while this
one computes). Executing a tile reads its operands from SRAM: each access is reserved on
its SRAM region; waiting for a region is a bank conflict, and an access slower than the
ideal compute (too few banks for the array's appetite) stretches the tile.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from accelsim.mapping.program import Tile
from accelsim.sim.lean import CycleEnvironment, LeanResource
from accelsim.sim.sram import Sram
from accelsim.sim.stats import Stats


class ComputeUnit:
    kind = "unit"

    def __init__(self, env: CycleEnvironment, name: str, index: int, sram: Sram, stats: Stats) -> None:
        self.env = env
        self.name = name
        self.index = index
        self.res = LeanResource(env, capacity=1)
        self.buffer_slots = LeanResource(env, capacity=2)
        self.sram = sram
        self.stats = stats
        self.busy_cycles = 0
        self.ideal_cycles = 0
        self.tiles = 0
        self.intervals: list[tuple[int, int, int]] = []  # (start, end, tile id)

    def account(self, tile: Tile) -> None:  # per-kind counters (overridden)
        pass

    def hold_cycles(self, tile: Tile, now: int) -> int:
        """Cycles the unit is held by ``tile`` starting at ``now`` (overridden by arrays, whose
        pipeline continues across back-to-back tiles)."""
        return tile.compute_cycles

    def execute(self, tile: Tile) -> Generator[Any, Any, tuple[int, int]]:
        """Compute ``tile`` now (the caller holds ``self.res``). Returns (start, end) of the
        time the unit is held; an array tile's drain (``tile.drain_cycles``) follows after
        ``end``, off the unit (the caller waits for it before the tile's results are stored)."""
        env = self.env
        now = env.now
        wait = 0
        ideal = self.hold_cycles(tile, now)
        need = ideal
        if tile.sram:
            # a region's wait or hold beyond the ideal stalls the tile
            w, busy = self.sram.compute_access(tile.sram, now)
            wait = w
            if busy > need:
                need = busy
        dur = wait + need
        st = self.stats
        st.bank_conflict_cycles += wait
        st.sram_bandwidth_cycles += need - ideal
        if dur:
            start = now + wait
            st.compute_intervals.append((start, start + ideal))
            if dur > ideal:
                st.stall_intervals.append((now, now + wait))
                st.stall_intervals.append((start + ideal, now + dur))
            yield env.timeout(dur)
        self.busy_cycles += dur
        self.ideal_cycles += ideal
        self.after_execute(tile, now + dur)
        self.tiles += 1
        self.intervals.append((now, now + dur, tile.id))
        self.account(tile)
        return now, now + dur

    def after_execute(self, tile: Tile, end: int) -> None:
        pass
