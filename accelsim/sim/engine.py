"""Build the SimPy model of an architecture and replay a mapped program on it.

One process for the sequencer, one per issued tile (load -> compute -> store), and one per
DMA transfer. Time is integer cycles; durations come from :mod:`accelsim.model` formulas;
events are scheduled per tile and per transfer, never per cycle.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

from accelsim.arch.spec import ArchSpec
from accelsim.errors import SimError
from accelsim.mapping.program import Program, Tile
from accelsim.sim.dma import DmaEngines
from accelsim.sim.dram import Dram
from accelsim.sim.lean import CycleEnvironment, LeanEnvironment, fire
from accelsim.sim.policy import AccessPolicy
from accelsim.sim.sequencer import Sequencer
from accelsim.sim.sram import Sram
from accelsim.sim.stats import Stats, timeline_breakdown
from accelsim.sim.systolic_array import SystolicArray
from accelsim.sim.unit import ComputeUnit
from accelsim.sim.vector_unit import VectorUnit


@dataclass
class OpTiming:
    start: int
    end: int
    dram_bytes: int


@dataclass
class SimOutput:
    """Raw outcome of one simulation (``accelsim.results`` turns it into a RunResult)."""

    total_cycles: int
    arrays: list[SystolicArray]
    vector: VectorUnit
    dma: DmaEngines
    dram: Dram
    sram: Sram
    stats: Stats
    sequencer: Sequencer
    op_timing: list[OpTiming]
    events: int
    timeline: dict[str, int] = field(default_factory=dict)
    compat_offset: int = 0
    policy: AccessPolicy | None = None
    rom_read_bytes: int = 0
    rom_bytes: int = 0


def simulate(program: Program, arch: ArchSpec) -> SimOutput:
    env = LeanEnvironment()  # simpy.Environment with a tighter run loop (sim/lean.py)
    chip = prepare(env, program, arch)
    env.process(chip.sequencer.process())
    env.run()
    return chip.output(int(env.now))


def prepare(env: CycleEnvironment, program: Program, arch: ArchSpec,
            extra_units: Mapping[str, Any] | None = None) -> ChipRun:
    """Build one chip's units for ``program`` in ``env`` (shared by the chips of a system,
    :mod:`accelsim.sim.system`); ``extra_units`` adds units by name (a chip's ``link`` unit runs
    its collective tiles). Start ``chip.sequencer.process()``, run ``env``, then call
    :meth:`ChipRun.output`."""
    stats = Stats()
    instances = arch.array_instances()
    ideal = program.mode == "scalesim"
    sram = Sram(arch)
    dram = Dram(arch)
    dma = DmaEngines(env, arch, dram, sram, stats)
    arrays = [SystolicArray(env, n, i, s, sram, stats) for i, (n, s) in enumerate(instances)]
    vector = VectorUnit(env, "vector", len(arrays), arch.vector, sram, stats)
    units: dict[str, ComputeUnit] = {a.name: a for a in arrays}
    units["vector"] = vector
    if extra_units:
        units.update(extra_units)
    op_dram = [0] * len(program.ops)

    def move(tile: Tile, unit: ComputeUnit, transfers: tuple[Any, ...]) -> Any:
        """Start a tile's loads (or stores) concurrently on the DMA engines; returns the event
        to yield (fires when the last is done). The op's DRAM bytes are counted now."""
        op_dram[tile.op] += sum(t.nbytes for t in transfers)
        return dma.move(transfers)

    # tiles other tiles wait for (fused ops): one event each, fired when the tile finishes
    awaited = {d for t in program.tiles for d in t.after}
    tile_done = {d: env.event() for d in sorted(awaited)}

    def run_tile(tile: Tile, qreq: Any) -> Generator[Any, Any, None]:
        unit = units.get(tile.unit)
        if unit is None:
            raise SimError(f"tile {tile.id} targets unknown unit '{tile.unit}'")
        for d in tile.after:  # its operands come from another tile of the same op
            ev = tile_done[d]
            if not ev.triggered:
                yield ev
        with unit.buffer_slots.request() as slot:
            yield slot
            if tile.loads:
                yield move(tile, unit, tile.loads)
            with unit.res.request() as ureq:
                yield ureq
                yield from unit.execute(tile)
        # The operand buffers are free once the last fold has streamed in; the results drain
        # into the accumulators / output buffer while the array takes the next tile.
        if tile.drain_cycles and (tile.stores or tile.id in tile_done or seq.remaining_tiles[tile.op] == 1):
            # results are needed (stored, read by another tile, or end the op): wait for them
            stats.compute_intervals.append((int(env.now), int(env.now) + tile.drain_cycles))
            yield env.timeout(tile.drain_cycles)
        if tile.stores:
            yield move(tile, unit, tile.stores)
        seq.queue.release(qreq)
        seq.tile_finished(tile)
        if tile.id in tile_done:
            fire(tile_done[tile.id])  # scheduled only when a tile waits on it (sim/lean.py)

    seqspec = arch.controller.sequencer
    policy = AccessPolicy(arch.residual) if arch.residual is not None else None
    seq = Sequencer(
        env,
        program,
        issue_cycles=0 if ideal else seqspec.issue_cycles,
        queue_depth=seqspec.queue_depth,
        run_tile=run_tile,
        policy=policy,
    )
    return ChipRun(env, program, arch, seq, arrays, vector, dma, dram, sram, stats, policy, op_dram, ideal)


@dataclass
class ChipRun:
    """A program set up on one chip's units (:func:`prepare`)."""

    env: CycleEnvironment
    program: Program
    arch: ArchSpec
    sequencer: Sequencer
    arrays: list[SystolicArray]
    vector: VectorUnit
    dma: DmaEngines
    dram: Dram
    sram: Sram
    stats: Stats
    policy: AccessPolicy | None
    op_dram: list[int]
    ideal: bool

    def output(self, total: int) -> SimOutput:
        """The run's outcome once the environment has run; ``total``: its last cycle."""
        env, program, seq, stats, op_dram = self.env, self.program, self.sequencer, self.stats, self.op_dram
        arrays, vector, dma, dram, sram, policy, ideal = (self.arrays, self.vector, self.dma, self.dram, self.sram,
                                                          self.policy, self.ideal)
        return _output(env, program, seq, stats, op_dram, arrays, vector, dma, dram, sram, policy, ideal, total)


def _output(env: CycleEnvironment, program: Program, seq: Sequencer, stats: Stats, op_dram: list[int],
            arrays: list[SystolicArray], vector: VectorUnit, dma: DmaEngines, dram: Dram, sram: Sram,
            policy: AccessPolicy | None, ideal: bool, total: int) -> SimOutput:
    unfinished = [op.name for op, ev in zip(program.ops, seq.done) if not ev.triggered]
    if unfinished:
        raise SimError(f"simulation ended with unfinished ops: {', '.join(unfinished[:5])}")
    try:
        events = next(env._eid) - getattr(env, "elided", 0)  # type: ignore[attr-defined]  # SimPy's event ids, less those never scheduled (sim/lean.py)
    except (AttributeError, TypeError):  # pragma: no cover
        events = -1
    stats.commands = seq.commands
    timing = [
        OpTiming(int(seq.op_start[i] or 0), int(seq.op_end[i]), op_dram[i])
        for i in range(len(program.ops))
    ]
    out = SimOutput(
        total_cycles=total,
        arrays=arrays,
        vector=vector,
        dma=dma,
        dram=dram,
        sram=sram,
        stats=stats,
        sequencer=seq,
        op_timing=timing,
        events=events,
        policy=policy,
        rom_read_bytes=sum(t.rom_read_bytes for t in program.tiles),
        rom_bytes=program.rom_bytes,
    )
    out.timeline = timeline_breakdown(stats, total)
    if ideal:
        # SCALE-Sim reports the last 0-based cycle index (its issue #125): total - 1.
        out.compat_offset = -1 if total > 0 else 0
    return out
