"""Many chips in one SimPy environment: each runs its own program on its own units
(:func:`accelsim.sim.engine.prepare`), collectives and pipeline sends run on the shared
:class:`~accelsim.sim.link.Network` (see docs/multichip.md).

* A chip's collective is a tile on its ``link`` unit (:class:`LinkUnit`): the sequencer issues it
  when the op that produced its operand is done; the tile runs the chip's part of the shared
  collective instance and ends when the chip has its result; ops that read the result wait for
  it (their dependency), later independent ops do not (overlap with compute where the program's
  dependencies allow).
* Pipeline stages run their micro-batches in order (GPipe, forward only): micro-batch ``j`` of a
  stage starts when the chip has finished micro-batch ``j-1`` and every tensor it receives for
  ``j`` has arrived. A tensor is sent as soon as the op producing it is done (while the rest of the
  stage's program runs), rank ``r`` of one stage to rank ``r`` of the next.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import simpy

from accelsim.arch.spec import ArchSpec
from accelsim.mapping.program import Program, Tile
from accelsim.model.collectives import Interconnect
from accelsim.sim.engine import ChipRun, SimOutput, prepare
from accelsim.sim.lean import CycleEnvironment, LeanEnvironment
from accelsim.sim.link import Collective, CollectiveRecord, MirrorCollective, Network, make_collective

#: capacity of a chip's link unit: collectives in flight at once (far more than a program issues)
LINK_SLOTS = 1 << 16


@dataclass(frozen=True)
class CollectiveTile:
    """What a ``link`` tile of a chip's program does."""

    name: str  # the marker op
    kind: str  # all_reduce | all_gather | reduce_scatter
    nbytes: int
    group: tuple[int, ...]  # chip ids, in rank order


@dataclass(frozen=True)
class Send:
    """A tensor a chip sends to another chip once the ops producing it are done."""

    tensor: str
    after: tuple[int, ...]  # op indices of the sender's program
    nbytes: int
    dst: int  # chip


@dataclass
class ChipPlan:
    """One chip: its program and what it communicates."""

    chip: int
    stage: int
    rank: int
    program: Program
    collectives: Mapping[int, CollectiveTile] = field(default_factory=dict)  # op index -> collective
    sends: tuple[Send, ...] = ()
    recvs: tuple[str, ...] = ()  # tensors it waits for before each micro-batch


@dataclass
class MicrobatchRun:
    microbatch: int
    start: int
    end: int
    run: ChipRun
    output: SimOutput | None = None
    link_intervals: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class SystemOutput:
    """Raw outcome of a system simulation."""

    total_cycles: int
    runs: dict[int, list[MicrobatchRun]]  # chip -> its micro-batches
    collectives: list[tuple[CollectiveRecord, int, int]]  # (record, stage, micro-batch)
    sends: list[tuple[CollectiveRecord, int, int]]  # p2p records (record, from stage, micro-batch)
    network: Network
    events: int


def _environment() -> CycleEnvironment:
    """The environment the single-chip engine uses (its lean primitives may rely on it)."""
    return LeanEnvironment()


class LinkUnit:
    """A chip's ``link`` unit: runs the collective tiles of one micro-batch's program."""

    kind = "link"

    def __init__(self, system: SystemSim, plan: ChipPlan, microbatch: int, intervals: list[tuple[int, int]]) -> None:
        env = system.env
        self.env = env
        self.name = "link"
        self.system = system
        self.plan = plan
        self.microbatch = microbatch
        self.res = simpy.Resource(env, capacity=LINK_SLOTS)
        self.buffer_slots = simpy.Resource(env, capacity=LINK_SLOTS)
        self.intervals = intervals

    def execute(self, tile: Tile) -> Generator[Any, Any, tuple[int, int]]:
        spec = self.plan.collectives.get(tile.op)
        if spec is None:
            from accelsim.errors import SimError

            raise SimError(f"chip {self.plan.chip}: link tile {tile.id} has no collective")
        inst = self.system.instance(spec, self.plan.stage, self.microbatch, self.plan.chip)
        start = int(self.env.now)
        yield from inst.run(spec.group.index(self.plan.chip))
        end = int(self.env.now)
        self.intervals.append((start, end))
        return start, end


class SystemSim:
    """Chips, links and the GPipe schedule in one environment."""

    def __init__(self, arch: ArchSpec, plans: Sequence[ChipPlan], ic: Interconnect, microbatches: int,
                 symmetric: bool = False) -> None:
        self.arch = arch
        #: only one chip per symmetric group is simulated: its collectives are MirrorCollectives
        self.symmetric = symmetric
        self.env = _environment()
        self.net = Network(self.env, ic, arch.clock_ghz)
        self.plans = list(plans)
        self.microbatches = microbatches
        self._instances: dict[tuple[str, int, int], Collective] = {}
        self._records: list[tuple[CollectiveRecord, int, int]] = []
        self._sends: list[tuple[CollectiveRecord, int, int]] = []
        self._arrived: dict[tuple[int, int, str], simpy.Event] = {}
        self.runs: dict[int, list[MicrobatchRun]] = {p.chip: [] for p in self.plans}

    def instance(self, spec: CollectiveTile, stage: int, microbatch: int, chip: int = -1) -> Collective:
        key = (spec.name, stage, microbatch)
        inst = self._instances.get(key)
        if inst is None:
            if self.symmetric:
                inst = MirrorCollective(self.net, spec.kind, spec.group, spec.nbytes, spec.name)
            else:
                inst = make_collective(self.net, spec.kind, spec.group, spec.nbytes, spec.name)
            self._instances[key] = inst
            self._records.append((inst.record, stage, microbatch))
        return inst

    def arrived(self, chip: int, microbatch: int, tensor: str) -> simpy.Event:
        key = (chip, microbatch, tensor)
        ev = self._arrived.get(key)
        if ev is None:
            ev = self._arrived[key] = self.env.event()
        return ev

    def _send(self, plan: ChipPlan, run: ChipRun, s: Send, mb: int) -> Generator[Any, Any, None]:
        for i in s.after:
            ev = run.sequencer.done[i]
            if not ev.triggered:
                yield ev
        rec = CollectiveRecord("p2p", "p2p", s.nbytes, (plan.chip, s.dst), s.tensor)
        rec.entries[0] = int(self.env.now)
        yield from self.net.transfer(plan.chip, s.dst, s.nbytes)
        rec.exits[1] = int(self.env.now)
        rec.entries[1] = rec.entries[0]
        rec.exits[0] = rec.exits[1]
        self._sends.append((rec, plan.stage, mb))
        self.arrived(s.dst, mb, s.tensor).succeed()

    def _chip(self, plan: ChipPlan) -> Generator[Any, Any, None]:
        env = self.env
        for mb in range(self.microbatches):
            for t in plan.recvs:
                ev = self.arrived(plan.chip, mb, t)
                if not ev.triggered:
                    yield ev
            intervals: list[tuple[int, int]] = []
            link = LinkUnit(self, plan, mb, intervals)
            run = prepare(env, plan.program, self.arch, {"link": link})
            start = int(env.now)
            env.process(run.sequencer.process())
            for s in plan.sends:
                env.process(self._send(plan, run, s, mb))
            yield env.all_of(run.sequencer.done)
            self.runs[plan.chip].append(MicrobatchRun(mb, start, int(env.now), run, None, intervals))

    def run(self) -> SystemOutput:
        for p in self.plans:
            self.env.process(self._chip(p))
        self.env.run()
        total = int(self.env.now)
        try:  # SimPy's event ids, less those the lean primitives never scheduled (sim/lean.py)
            events = next(self.env._eid) - getattr(self.env, "elided", 0)  # type: ignore[attr-defined]
        except (AttributeError, TypeError):  # pragma: no cover
            events = -1
        for p in self.plans:
            runs = self.runs[p.chip]
            if len(runs) != self.microbatches:
                from accelsim.errors import SimError

                raise SimError(f"chip {p.chip} (stage {p.stage}) finished {len(runs)} of {self.microbatches} "
                               "micro-batches: a collective or a send never completed")
            for r in runs:
                r.output = r.run.output(r.end)
        return SystemOutput(total, self.runs, self._records, self._sends, self.net, events)
