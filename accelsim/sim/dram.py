"""DRAM: ``channels`` independent channels, each a FIFO bandwidth server.

A transfer is striped in ``max_burst_bytes`` bursts over the ``k = min(channels, bursts)``
channels that free up first; each channel serves its share at ``bandwidth / channels``.
Reservations are made on a per-channel calendar (``free_at``), so one SimPy timeout covers
a whole transfer however many bursts it has: events per transfer, not per burst or cycle.

The per-channel busy cycles and intervals are kept as a log of reservations (one entry per
transfer, not one per channel) and expanded when read.
"""

from __future__ import annotations

import math
from typing import Any

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
        self.free_at = [0] * d.channels  # cycle each channel's calendar is free from
        self.read_bytes = 0
        self.write_bytes = 0
        # One entry per reservation: (channels, start, cycles) with channels None for all of
        # them, start an int (every channel used starts then) or a tuple (one per channel used).
        self._log: list[tuple[Any, Any, int]] = []
        self._busy = [0] * d.channels  # busy cycles of reservations on some channels only
        self._busy_all = 0  # ... and of those on every channel
        self._iv: list[list[tuple[int, int]]] = [[] for _ in range(d.channels)]
        self._iv_done = 0  # log entries already expanded into _iv
        self._stripe: dict[int, tuple[int, int]] = {}  # stripe() per transfer size (a program has few)

    @property
    def busy_cycles(self) -> list[int]:
        """Cycles each channel spent serving transfers."""
        a = self._busy_all
        return [b + a for b in self._busy]

    @property
    def intervals(self) -> list[list[tuple[int, int]]]:
        """Per channel, its reservations ``(start, end)`` in the order they were made."""
        log, ivs = self._log, self._iv
        for chans, s, dur in log[self._iv_done:]:
            if chans is None:
                if type(s) is int:
                    iv = (s, s + dur)
                    for lst in ivs:
                        lst.append(iv)
                else:
                    for lst, x in zip(ivs, s):
                        lst.append((x, x + dur))
            else:
                for c, x in zip(chans, s):
                    ivs[c].append((x, x + dur))
        self._iv_done = len(log)
        return ivs

    def stripe(self, nbytes: int) -> tuple[int, int]:
        """``(k, cycles)``: a transfer of ``nbytes`` is split over ``k = min(channels, bursts)``
        channels, each serving ``ceil(nbytes / k)`` bytes for ``ceil(share / channel B/cycle)``
        cycles."""
        k = min(self.channels, bursts(nbytes, self.max_burst))
        share = -(-nbytes // k)
        return k, math.ceil(share / self.channel_bpc)

    def reserve(self, start: int, nbytes: int, write: bool) -> tuple[int, int]:
        """Reserve channel time for ``nbytes`` from cycle ``start``.

        Returns ``(wait, end)``: cycles spent queueing behind other transfers, and the cycle
        the last byte crosses the channel (latency excluded).
        """
        if write:
            self.write_bytes += nbytes
        else:
            self.read_bytes += nbytes
        ch = self.channels
        kd = self._stripe.get(nbytes)
        if kd is None:
            kd = self._stripe[nbytes] = self.stripe(nbytes)
        k, dur = kd
        free_at = self.free_at
        # Each channel used starts at max(start, its free_at) and serves for ``dur``; the
        # transfer waits for the last of them to start.
        if k == ch:  # every channel
            self._busy_all += dur
            last = max(free_at)
            if last <= start:
                free_at[:] = [start + dur] * ch
                self._log.append((None, start, dur))
                return 0, start + dur
            ss = [f if f > start else start for f in free_at]
            free_at[:] = [x + dur for x in ss]
            self._log.append((None, tuple(ss), dur))
            return last - start, last + dur
        # the k channels that free up first (ties: the lowest index)
        if k == 1:
            chans: tuple[int, ...] = (min(range(ch), key=free_at.__getitem__),)
        else:
            chans = tuple(sorted(range(ch), key=free_at.__getitem__)[:k])  # stable: ties by index
        busy = self._busy
        ss = []
        first = start
        for c in chans:
            f = free_at[c]
            x = f if f > start else start
            if x > first:
                first = x
            free_at[c] = x + dur
            busy[c] += dur
            ss.append(x)
        self._log.append((chans, tuple(ss), dur))
        return first - start, first + dur
