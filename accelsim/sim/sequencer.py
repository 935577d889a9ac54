"""The sequencer: a fixed controller unit that issues tile commands in program order.

Issue is in order and takes ``issue_cycles`` per command; a command waits until every op it
depends on has finished (stores included) and until fewer than ``queue_depth`` commands are
in flight. Completion is out of order across units, so independent ops overlap on
different units (e.g. the vector unit runs a softmax while the arrays run the next GEMM).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import simpy

from accelsim.mapping.program import Program, Tile


class Sequencer:
    def __init__(
        self,
        env: simpy.Environment,
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
        self.queue = simpy.Resource(env, capacity=queue_depth)
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
        for i in [i for i in range(n) if self.pending_deps[i] == 0]:
            self._make_ready(i)

    def _make_ready(self, i: int) -> None:
        self.ready[i].succeed()
        if self.remaining_tiles[i] == 0:
            self.op_start[i] = self.env.now
            self.finish_op(i)

    def finish_op(self, i: int) -> None:
        self.op_end[i] = self.env.now
        self.done[i].succeed()
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
        env = self.env
        for tile in self.program.tiles:
            ev = self.ready[tile.op]
            if not ev.triggered:
                yield ev
            req = self.queue.request()
            yield req
            if self.issue_cycles:
                yield env.timeout(self.issue_cycles)
            self.commands += 1
            if tile.access and self.policy is not None:
                op = self.program.ops[tile.op]
                for role, part, acc, nb in tile.access:
                    self.policy.check(op.name, op.module, role, part, acc, nb, int(env.now))
            if self.op_start[tile.op] is None:
                self.op_start[tile.op] = env.now
            env.process(self.run_tile(tile, req))
