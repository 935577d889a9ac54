"""A bare SimPy replay of a mapped program: the same queue / slot / DMA / compute shape as
accelsim's engine (accelsim/sim/engine.py), with no accounting. The yardstick for the engine's
event rate (benchmarks/run_benchmarks.py reports events/s of both on the same Program).

Per tile, as in the engine: the sequencer issues tiles in program order (an op's tiles wait
until its dependencies finished; at most ``queue_depth`` commands in flight; ``issue_cycles``
per command); a tile takes one of its unit's two buffer slots, runs its loads concurrently on
the DMA engine pool (one timeout per transfer: setup + the DRAM channels' time, reserved
analytically as the engine does, + latency), waits for the tiles it depends on, holds its unit
for ``compute_cycles`` (one timeout), drains, releases the slot, runs its stores, and signals its
op. What is left out is everything the engine records: SRAM bank reservations and counts, DMA
engine ids and intervals, stall and busy counters, policy checks, per-op DRAM bytes.

    skeleton_events, skeleton_cycles = replay(program, arch)
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import simpy


def replay(program: Any, arch: Any) -> tuple[int, int]:
    """Replay ``program`` (an accelsim Program) on ``arch``; returns (events scheduled, cycles)."""
    env = simpy.Environment()
    ideal = program.mode == "scalesim"
    dma = simpy.Resource(env, capacity=arch.controller.dma.engines)
    setup = arch.controller.dma.setup_cycles
    d = arch.dram
    channels = d.channels
    bpc = d.bandwidth_gbps / arch.clock_ghz / channels  # bytes per cycle per channel
    latency = 0 if ideal else math.ceil(d.latency_ns * arch.clock_ghz)
    burst = arch.controller.dma.max_burst_bytes
    free_at = [0] * channels
    names = [n for n, _ in arch.array_instances()] + ["vector"]
    res = {n: simpy.Resource(env, capacity=1) for n in names}
    slots = {n: simpy.Resource(env, capacity=2) for n in names}
    n_ops = len(program.ops)
    ready = [env.event() for _ in range(n_ops)]
    done = [env.event() for _ in range(n_ops)]
    remaining = [op.tiles[1] - op.tiles[0] for op in program.ops]
    pending = [len(set(op.deps)) for op in program.ops]
    dependents: list[list[int]] = [[] for _ in range(n_ops)]
    for op in program.ops:
        for dep in set(op.deps):
            dependents[dep].append(op.index)
    after = {dep for t in program.tiles for dep in getattr(t, "after", ())}
    tile_done = {dep: env.event() for dep in sorted(after)}
    seq = arch.controller.sequencer
    queue = simpy.Resource(env, capacity=seq.queue_depth)
    issue = 0 if ideal else seq.issue_cycles

    def finish(i: int) -> None:
        done[i].succeed()
        for j in dependents[i]:
            pending[j] -= 1
            if pending[j] == 0:
                make_ready(j)

    def make_ready(i: int) -> None:
        ready[i].succeed()
        if remaining[i] == 0:
            finish(i)

    for i in [i for i in range(n_ops) if pending[i] == 0]:  # listed first: readying cascades
        make_ready(i)

    def transfer(nbytes: int) -> Generator[Any, Any, None]:
        with dma.request() as req:
            yield req
            start = env.now + setup
            k = max(1, min(channels, -(-nbytes // burst)))
            order = sorted(range(channels), key=lambda c: (free_at[c], c))[:k]
            dur = math.ceil(-(-nbytes // k) / bpc) if bpc > 0 else 0
            end = start
            for c in order:
                s = max(start, free_at[c])
                free_at[c] = s + dur
                end = max(end, s + dur)
            yield env.timeout(end + latency - env.now)

    def move(transfers: Any) -> Generator[Any, Any, None]:
        procs = [env.process(transfer(t.nbytes)) for t in transfers]
        yield procs[0] if len(procs) == 1 else env.all_of(procs)

    def run_tile(tile: Any, qreq: Any) -> Generator[Any, Any, None]:
        with slots[tile.unit].request() as slot:
            yield slot
            if tile.loads:
                yield from move(tile.loads)
            for dep in getattr(tile, "after", ()):
                if not tile_done[dep].triggered:
                    yield tile_done[dep]
            with res[tile.unit].request() as ureq:
                yield ureq
                if tile.compute_cycles:
                    yield env.timeout(tile.compute_cycles)
            drain = getattr(tile, "drain_cycles", 0)
            if drain:
                yield env.timeout(drain)
        if tile.stores:
            yield from move(tile.stores)
        queue.release(qreq)
        remaining[tile.op] -= 1
        if remaining[tile.op] == 0:
            finish(tile.op)
        if tile.id in tile_done:
            tile_done[tile.id].succeed()

    def sequencer() -> Generator[Any, Any, None]:
        for tile in program.tiles:
            ev = ready[tile.op]
            if not ev.triggered:
                yield ev
            req = queue.request()
            yield req
            if issue:
                yield env.timeout(issue)
            env.process(run_tile(tile, req))

    env.process(sequencer())
    env.run()
    return next(env._eid), int(env.now)  # type: ignore[attr-defined]  # SimPy's event id counter
