"""Counters and busy intervals collected during a simulation, and the timeline breakdown."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Stats:
    dma_wait_cycles: int = 0  # transfers waiting for a free DMA engine
    dram_queue_cycles: int = 0  # transfers queueing behind others on DRAM channels
    bank_conflict_cycles: int = 0  # waiting for an SRAM region another access holds
    sram_bandwidth_cycles: int = 0  # compute stretched because SRAM could not feed it
    dma_transfers: int = 0
    dma_bytes: int = 0
    commands: int = 0
    transfer_intervals: list[tuple[int, int]] = field(default_factory=list)
    compute_intervals: list[tuple[int, int]] = field(default_factory=list)  # ideal compute
    stall_intervals: list[tuple[int, int]] = field(default_factory=list)  # SRAM-limited part


def union_length(intervals: list[tuple[int, int]]) -> int:
    total = 0
    cur_s = cur_e = None
    for s, e in sorted(intervals):
        if e <= s:
            continue
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s  # type: ignore[operator]
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        total += cur_e - cur_s  # type: ignore[operator]
    return total


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(intervals):
        if e <= s:
            continue
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def _subtract(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merged intervals ``a`` minus merged intervals ``b``."""
    out: list[tuple[int, int]] = []
    j = 0
    for s, e in a:
        cur = s
        while j < len(b) and b[j][1] <= cur:
            j += 1
        k = j
        while k < len(b) and b[k][0] < e:
            bs, be = b[k]
            if bs > cur:
                out.append((cur, bs))
            cur = max(cur, be)
            k += 1
        if cur < e:
            out.append((cur, e))
    return out


def timeline_breakdown(st: Stats, total: int) -> dict[str, int]:
    """Split ``[0, total)`` into cycles where some unit computes; else where some unit is
    SRAM-stalled; else where only data movement is in flight; else control/idle.
    The four parts sum to ``total`` exactly, so a change in total cycles is fully
    accounted for by the change in these parts."""
    comp = _merge(st.compute_intervals)
    stall = _subtract(_merge(st.stall_intervals), comp)
    busy = _merge(comp + stall)
    mem = _subtract(_merge(st.transfer_intervals), busy)
    c = sum(e - s for s, e in comp)
    b = sum(e - s for s, e in stall)
    m = sum(e - s for s, e in mem)
    return {
        "compute": c,
        "sram_stall": b,
        "memory_stall": m,
        "control_idle": max(0, total - c - b - m),
    }
