"""DMA engines: a pool of ``engines`` that move tiles between DRAM and SRAM partitions.

One transfer = acquire an engine, pay ``setup_cycles``, then stream: DRAM channels and the
target SRAM region are reserved for the transfer (the slower side sets the rate, the two
overlap), plus DRAM latency once. One SimPy timeout per transfer.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from accelsim.arch.spec import ArchSpec
from accelsim.mapping.program import Transfer
from accelsim.sim.dram import Dram
from accelsim.sim.sram import Sram
from accelsim.sim.stats import Stats


class DmaEngines:
    def __init__(self, env: simpy.Environment, arch: ArchSpec, dram: Dram, sram: Sram, stats: Stats) -> None:
        self.env = env
        self.pool = simpy.Resource(env, capacity=arch.controller.dma.engines)
        self.setup = arch.controller.dma.setup_cycles
        self.dram = dram
        self.sram = sram
        self.stats = stats
        self.busy_cycles = 0
        n = arch.controller.dma.engines
        self._free = list(range(n))  # engine ids not in use (lowest id is taken first)
        self.intervals: list[list[tuple[int, int, str]]] = [[] for _ in range(n)]

    def transfer(self, tr: Transfer, banks: tuple[int, int]) -> Generator[Any, Any, None]:
        env = self.env
        asked = env.now
        with self.pool.request() as req:
            yield req
            eid = min(self._free)
            self._free.remove(eid)
            t0 = env.now
            start = t0 + self.setup
            write_dram = tr.direction == "store"
            dwait, dend = self.dram.reserve(start, tr.nbytes, write_dram)
            self.sram.count(tr.partition, tr.nbytes, write=not write_dram)
            swait, sbusy = self.sram.reserve(tr.partition, banks, start, tr.nbytes)
            end = max(dend, start + swait + sbusy) + self.dram.latency_cycles
            st = self.stats
            st.dma_wait_cycles += t0 - asked
            st.dram_queue_cycles += dwait
            st.bank_conflict_cycles += swait
            st.dma_transfers += 1
            st.dma_bytes += tr.nbytes
            st.transfer_intervals.append((t0, end))
            self.busy_cycles += end - t0
            self.intervals[eid].append((t0, end, f"{tr.direction} {tr.tensor} ({tr.nbytes} B)"))
            yield env.timeout(end - t0)
            self._free.append(eid)
