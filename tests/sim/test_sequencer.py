"""The sequencer (accelsim/sim/sequencer.py): in-order issue, issue cycles, queue depth, op deps,
and (with the engine) tile ``after`` deps, on hand-built programs.

The unit-level scenarios give the sequencer a stand-in ``run_tile`` that holds each tile a fixed
number of cycles and logs (event, tile, cycle); the engine-level ones assert on the units' logs
(``intervals``: (start, end, tile id)).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from accelsim.mapping.program import Program, Tile
from accelsim.sim.engine import simulate
from accelsim.sim.sequencer import Sequencer
from builders import hand_program, make_arch


def _sequence(prog: Program, *, issue: int, depth: int,
              hold: dict[int, int]) -> tuple[Sequencer, list[tuple[str, int, int]]]:
    env = simpy.Environment()
    log: list[tuple[str, int, int]] = []
    seq: Sequencer

    def run_tile(tile: Tile, qreq: Any) -> Generator[Any, Any, None]:
        log.append(("start", tile.id, int(env.now)))
        yield env.timeout(hold[tile.id])
        seq.queue.release(qreq)
        seq.tile_finished(tile)
        log.append(("end", tile.id, int(env.now)))

    seq = Sequencer(env, prog, issue_cycles=issue, queue_depth=depth, run_tile=run_tile)
    env.process(seq.process())
    env.run()
    return seq, log


def _vec(n: int) -> list[dict[str, Any]]:
    return [dict(unit="vector", compute_cycles=1) for _ in range(n)]


def _starts(log: list[tuple[str, int, int]]) -> list[tuple[int, int]]:
    return [(t, c) for ev, t, c in log if ev == "start"]


def test_in_order_issue_at_the_issue_rate() -> None:
    seq, log = _sequence(hand_program(("vector", _vec(3))), issue=2, depth=8, hold={0: 10, 1: 10, 2: 10})
    # one command per 2 cycles, in program order: issued at 2, 4, 6; each held 10 cycles
    assert _starts(log) == [(0, 2), (1, 4), (2, 6)]
    assert [(t, c) for ev, t, c in log if ev == "end"] == [(0, 12), (1, 14), (2, 16)]
    assert seq.op_start == [2] and seq.op_end == [16] and seq.commands == 3


def test_queue_depth_bounds_the_commands_in_flight() -> None:
    _, log = _sequence(hand_program(("vector", _vec(4))), issue=1, depth=2, hold=dict.fromkeys(range(4), 10))
    # tiles 0, 1 issued at 1, 2 fill the queue; tile 2 gets a slot when tile 0 ends (11), + 1 issue
    # cycle = 12; tile 3 when tile 1 ends (12) + 1 = 13
    assert _starts(log) == [(0, 1), (1, 2), (2, 12), (3, 13)]


def test_op_deps_and_head_of_line_blocking() -> None:
    # op1 waits for op0; op2 is independent but listed after op1: in-order issue holds it back
    prog = hand_program(("vector", _vec(1)), ("vector", _vec(1)), ("vector", _vec(1)), deps={1: (0,)})
    seq, log = _sequence(prog, issue=1, depth=8, hold={0: 10, 1: 5, 2: 5})
    # op0's tile issued at 1, ends 11; op1's issued at 11 + 1 = 12; op2's at 13
    assert _starts(log) == [(0, 1), (1, 12), (2, 13)]
    assert seq.op_end == [11, 17, 18]


def test_free_ops_pass_their_deps_through() -> None:
    # op1 has no tiles (a layout op): done the moment op0 is; op2 waits for it
    prog = hand_program(("vector", _vec(1)), ("none", []), ("vector", _vec(1)), deps={1: (0,), 2: (1,)})
    seq, log = _sequence(prog, issue=1, depth=8, hold={0: 10, 1: 0})
    assert _starts(log) == [(0, 1), (1, 12)]
    assert seq.op_start[1] == seq.op_end[1] == 11


def test_tile_after_deps_in_the_engine() -> None:
    """One op, three tiles (issue 2 cycles each): a 50-cycle vector tile, a 10-cycle array tile
    that waits for it (``after``), and a 10-cycle vector tile that does not."""
    tiles = [dict(unit="vector", compute_cycles=50), dict(unit="sa0", compute_cycles=10, after=(0,)),
             dict(unit="vector", compute_cycles=10)]
    out = simulate(hand_program(("array", tiles)), make_arch())
    # tile 0 issued at 2: vector [2, 52); tile 1 issued at 4 waits for tile 0: array [52, 62);
    # tile 2 issued at 6 queues behind tile 0 on the vector unit: [52, 62)
    assert out.vector.intervals == [(2, 52, 0), (52, 62, 2)]
    assert out.arrays[0].intervals == [(52, 62, 1)]
    # without the dependency the array tile runs as soon as it is issued
    free = [dict(t, after=()) for t in tiles]
    assert simulate(hand_program(("array", free)), make_arch()).arrays[0].intervals == [(4, 14, 1)]


def test_op_deps_wait_for_stores_in_the_engine() -> None:
    """op1 depends on op0, whose only tile stores 1 KiB: op1 is issued after the store lands."""
    from accelsim.mapping.program import Transfer

    prog = hand_program(
        ("vector", [dict(unit="vector", compute_cycles=20, stores=(Transfer("y", 1024, "outputs", "store"),))]),
        ("vector", [dict(unit="vector", compute_cycles=5)]), deps={1: (0,)})
    out = simulate(prog, make_arch())
    # op0: compute [2, 22); store: engine at 22, setup 16, 1024 B on one 16 B/cycle channel = 64,
    # latency 100 -> done 202; op1 issued at 202 + 2 = 204
    assert out.vector.intervals == [(2, 22, 0), (204, 209, 1)]
    assert (out.op_timing[0].start, out.op_timing[0].end) == (2, 202)
