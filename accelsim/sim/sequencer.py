"""The sequencer: a fixed controller unit that issues tile commands in program order.

Issue is in order and takes ``issue_cycles`` per command; a command waits until every op it
depends on has finished (stores included) and until fewer than ``queue_depth`` commands are
in flight. Completion is out of order across units, so independent ops overlap on
different units (e.g. the vector unit runs a softmax while the arrays run the next GEMM).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from accelsim.mapping.program import Program, Tile
from accelsim.sim.lean import CycleEnvironment, LeanResource, Task, fire


class Sequencer:
    def __init__(
        self,
        env: CycleEnvironment,
        program: Program,
        issue_cycles: int,
        queue_depth: int,
        run_tile: Callable[[Tile, Any], Generator[Any, Any, None]],
        policy: Any = None,
    ) -> None:
        self.policy = policy
        self.env = env
        self.program = program
        self.issue_cycles = issue_cycles
        self.queue = LeanResource(env, capacity=queue_depth)
        self.run_tile = run_tile
        n = len(program.ops)
        self.ready = [env.event() for _ in range(n)]
        self.done = [env.event() for _ in range(n)]
        self.remaining_tiles = [op.tiles[1] - op.tiles[0] for op in program.ops]
        self.pending_deps = [len(set(op.deps)) for op in program.ops]
        self.dependents: list[list[int]] = [[] for _ in range(n)]
        for op in program.ops:
            for d in set(op.deps):
                self.dependents[d].append(op.index)
        self.commands = 0
        self.op_start: list[int | None] = [None] * n
        self.op_end: list[int] = [0] * n
        for i in [i for i in range(n) if self.pending_deps[i] == 0]:  # listed first: readying cascades
            self._make_ready(i)

    def _make_ready(self, i: int) -> None:
        fire(self.ready[i])  # scheduled only when the issue loop waits on it
        if self.remaining_tiles[i] == 0:
            self.op_start[i] = self.env.now
            self.finish_op(i)

    def finish_op(self, i: int) -> None:
        self.op_end[i] = self.env.now
        fire(self.done[i])  # scheduled only when something waits on it
        for j in self.dependents[i]:
            self.pending_deps[j] -= 1
            if self.pending_deps[j] == 0:
                self._make_ready(j)

    def tile_finished(self, tile: Tile) -> None:
        i = tile.op
        self.remaining_tiles[i] -= 1
        if self.remaining_tiles[i] == 0:
            self.finish_op(i)

    def process(self) -> Generator[Any, Any, None]:
        """The issue loop (a SimPy process generator).

        An issued tile's process starts as SimPy would start it: right after this loop next
        yields (SimPy runs a new process from an urgent event at the same cycle, before any
        other event, and this loop yields again without touching the tile's resources). So the
        tile's first step runs here, just before that yield, with no event of its own; the last
        tile, after which this loop ends, is started by an urgent event as SimPy does."""
        env = self.env
        ready = self.ready
        queue = self.queue
        issue = self.issue_cycles
        policy = self.policy
        ops = self.program.ops
        op_start = self.op_start
        run_tile = self.run_tile
        pending: Generator[Any, Any, None] | None = None  # issued in this step, not started yet
        for tile in self.program.tiles:
            ev = ready[tile.op]
            if not ev.triggered:
                if pending is not None:
                    Task(env, pending, now=True)
                    pending = None
                yield ev
            req = queue.request()
            if pending is not None:
                Task(env, pending, now=True)
                pending = None
            yield req
            if issue:
                yield env.timeout(issue)
            self.commands += 1
            if tile.access and policy is not None:
                op = ops[tile.op]
                for role, part, acc, nb in tile.access:
                    policy.check(op.name, op.module, role, part, acc, nb, int(env.now))
            if op_start[tile.op] is None:
                op_start[tile.op] = env.now
            pending = run_tile(tile, req)  # a process nobody waits for: no completion event
        if pending is not None:
            Task(env, pending)
