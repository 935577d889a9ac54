"""DRAM: ``channels`` independent channels, each a FIFO bandwidth server.

A transfer is striped in ``max_burst_bytes`` bursts over the ``k = min(channels, bursts)``
channels that free up first; each channel serves its share at ``bandwidth / channels``.
Reservations are made on a per-channel calendar (``free_at``), so one SimPy timeout covers
a whole transfer however many bursts it has: events per transfer, not per burst or cycle.
"""

from __future__ import annotations

import math

from accelsim.arch.spec import ArchSpec
from accelsim.model.memory import bursts, dram_latency_cycles


class Dram:
    def __init__(self, arch: ArchSpec) -> None:
        d = arch.dram
        self.channels = d.channels
        self.bytes_per_cycle = d.bandwidth_gbps / arch.clock_ghz
        self.channel_bpc = self.bytes_per_cycle / d.channels
        self.latency_cycles = dram_latency_cycles(d.latency_ns, arch.clock_ghz)
        self.max_burst = arch.controller.dma.max_burst_bytes
        self.free_at = [0] * d.channels
        self.busy_cycles = [0] * d.channels
        self.intervals: list[list[tuple[int, int]]] = [[] for _ in range(d.channels)]
        self.read_bytes = 0
        self.write_bytes = 0

    def reserve(self, start: int, nbytes: int, write: bool) -> tuple[int, int]:
        """Reserve channel time for ``nbytes`` from cycle ``start``.

        Returns ``(wait, end)``: cycles spent queueing behind other transfers, and the cycle
        the last byte crosses the channel (latency excluded).
        """
        if write:
            self.write_bytes += nbytes
        else:
            self.read_bytes += nbytes
        k = min(self.channels, bursts(nbytes, self.max_burst))
        order = sorted(range(self.channels), key=lambda c: (self.free_at[c], c))[:k]
        share = -(-nbytes // k)
        dur = math.ceil(share / self.channel_bpc)
        end = start
        first = None
        for c in order:
            s = max(start, self.free_at[c])
            first = s if first is None else max(first, s)
            self.free_at[c] = s + dur
            self.busy_cycles[c] += dur
            self.intervals[c].append((s, s + dur))
            end = max(end, s + dur)
        return (first or start) - start, end
