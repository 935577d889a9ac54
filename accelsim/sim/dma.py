"""DMA engines: a pool of ``engines`` that move tiles between DRAM and SRAM partitions.

One transfer = acquire an engine, pay ``setup_cycles``, then stream: DRAM channels and the
target SRAM region are reserved for the transfer (the slower side sets the rate, the two
overlap), plus DRAM latency once. One SimPy timeout per transfer.

:meth:`DmaEngines.move` runs a tile's transfers concurrently and returns the event to wait for.
It is callback-driven (no generator process per transfer) but schedules the same events in the
same order as one ``simpy.Process`` of :meth:`DmaEngines.transfer` per transfer joined by
``env.all_of`` — the engine request, the transfer's timeout, the engine's release, and the
completion that wakes the tile (the last transfer's, then the join's) — less the dead ones:
the processes' start events (they ran back to back right after the tile yielded, so issuing
the engine requests in the tile's own step puts them in the same place) and the completions of
all but the last transfer (they only counted towards the join). Per transfer: 3 events, plus
1 (one transfer) or 2 (several) per move; it was 5 per transfer, plus 1 for several.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from heapq import heappush
from typing import Any

from simpy.events import NORMAL, Event

from accelsim.arch.spec import ArchSpec
from accelsim.mapping.program import Transfer
from accelsim.sim.dram import Dram
from accelsim.sim.lean import CycleEnvironment, LeanRequest, LeanResource
from accelsim.sim.sram import Sram
from accelsim.sim.stats import Stats

_new_event = Event.__new__


class DmaEngines:
    def __init__(self, env: CycleEnvironment, arch: ArchSpec, dram: Dram, sram: Sram, stats: Stats) -> None:
        self.env = env
        self.pool = LeanResource(env, capacity=arch.controller.dma.engines)
        self.setup = arch.controller.dma.setup_cycles
        self.dram = dram
        self.sram = sram
        self.stats = stats
        self.busy_cycles = 0
        n = arch.controller.dma.engines
        self._free = list(range(n))  # engine ids not in use (lowest id is taken first)
        # per engine: (start, end, transfer); ``intervals`` adds the labels when asked for
        self._spans: list[list[tuple[int, int, Transfer]]] = [[] for _ in range(n)]

    @property
    def intervals(self) -> list[list[tuple[int, int, str]]]:
        """Per engine: ``(start cycle, end cycle, label)`` of every transfer it ran."""
        return [[(s, e, f"{tr.direction} {tr.tensor} ({tr.nbytes} B)") for s, e, tr in spans]
                for spans in self._spans]

    def _start(self, tr: Transfer, asked: int) -> tuple[int, int]:
        """An engine was granted to ``tr`` now (it asked at cycle ``asked``): take the lowest
        free engine id, reserve DRAM and SRAM, record. Returns (engine id, cycles it holds it)."""
        free = self._free
        eid = min(free)
        free.remove(eid)
        t0 = self.env.now
        start = t0 + self.setup
        nbytes = tr.nbytes
        write_dram = tr.direction == "store"
        dram = self.dram
        dwait, dend = dram.reserve(start, nbytes, write_dram)
        swait, sbusy = self.sram.transfer_access(tr.partition, tr.banks, start, nbytes, not write_dram)
        sfree = start + swait + sbusy
        end = (dend if dend > sfree else sfree) + dram.latency_cycles
        st = self.stats
        st.dma_wait_cycles += t0 - asked
        st.dram_queue_cycles += dwait
        st.bank_conflict_cycles += swait
        st.dma_transfers += 1
        st.dma_bytes += nbytes
        st.transfer_intervals.append((t0, end))
        self.busy_cycles += end - t0
        self._spans[eid].append((t0, end, tr))
        return eid, end - t0

    def transfer(self, tr: Transfer, banks: tuple[int, int]) -> Generator[Any, Any, None]:
        """One transfer as a SimPy process generator (``banks`` must be ``tr.banks``)."""
        if banks != tr.banks:
            tr = Transfer(tr.tensor, tr.nbytes, tr.partition, tr.direction, banks)
        env = self.env
        asked = env.now
        with self.pool.request() as req:
            yield req
            eid, hold = self._start(tr, asked)
            yield env.timeout(hold)
            self._free.append(eid)

    def move(self, transfers: Sequence[Transfer]) -> Event:
        """Start ``transfers`` (at least one) concurrently now; returns the event that fires
        when the last one has finished (yield it)."""
        env = self.env
        done = Event(env)
        _Move(self, transfers, done)
        return done


class _Move:
    """The transfers of one :meth:`DmaEngines.move` (see the module docstring)."""

    __slots__ = ("dma", "done", "n", "left", "asked")

    def __init__(self, dma: DmaEngines, transfers: Sequence[Transfer], done: Event) -> None:
        self.dma = dma
        self.done = done
        self.n = self.left = len(transfers)
        self.asked = dma.env.now
        pool = dma.pool
        for tr in transfers:
            req = pool.request()
            req.callbacks.append(_Transfer(self, tr, req).granted)

    def finished(self) -> None:
        """One transfer finished (its timeout is being processed, its engine released)."""
        self.left -= 1
        if self.left:
            return  # its process's completion would only count towards the join: dead
        if self.n == 1:
            self.done.succeed()  # the one process's completion wakes the tile
        else:
            last = Event(self.dma.env)  # the last process's completion ...
            last.callbacks.append(self._join)
            last.succeed()

    def _join(self, _event: Event) -> None:
        self.done.succeed()  # ... triggers the join (``all_of``), which wakes the tile


class _Transfer:
    __slots__ = ("move", "tr", "req", "eid")

    def __init__(self, move: _Move, tr: Transfer, req: LeanRequest) -> None:
        self.move = move
        self.tr = tr
        self.req = req
        self.eid = -1

    def granted(self, _event: Event) -> None:
        dma = self.move.dma
        self.eid, hold = dma._start(self.tr, self.move.asked)
        env = dma.env
        tm = _new_event(Event)  # a timeout of ``hold`` cycles (Event.__init__ and schedule inlined)
        tm.env = env
        tm.callbacks = [self.finished]
        tm._ok = True
        tm._value = None
        heappush(env._queue, (env._now + hold, NORMAL, next(env._eid), tm))

    def finished(self, _event: Event) -> None:
        dma = self.move.dma
        dma._free.append(self.eid)
        dma.pool.release(self.req)
        self.move.finished()
