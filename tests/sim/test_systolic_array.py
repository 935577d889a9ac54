"""A systolic array's pipeline continuation (accelsim/sim/systolic_array.py), on hand-built
programs: a tile that starts the cycle the previous one's last fold has streamed in preloads
under it, hiding ``min(fill, previous stream)`` cycles; the drain runs off the array (waited for
only by the op's last tile, a storing tile or one another tile waits for); a gap exposes the
fill. The log asserted on is the array's ``intervals`` (start, end, tile id).

Tile phases come from :func:`accelsim.model.systolic.tile_phases` on the test arch's 32 x 32
weight-stationary array. The default tile, M = 50 streamed rows, N = 32, K = 64 (two folds):
fill 32 (the preload), body (2 - 1) x max(50, 32) + 50 = 100, drain R + C - 2 = 62, stream 50;
``compute_cycles`` 194, of which the array holds ``194 - 62 = 132`` less what it hides. The
sequencer issues a command every 2 cycles.
"""

from __future__ import annotations

from typing import Any

from accelsim.model import systolic
from accelsim.sim.engine import simulate
from builders import hand_program, make_arch

ARCH = make_arch()


def _tile(M: int = 50, N: int = 32, K: int = 64, dataflow: str = "ws", **kw: Any) -> dict[str, Any]:
    fill, body, drain, stream = systolic.tile_phases(dataflow, M, N, K, 32, 32)  # type: ignore[arg-type]
    return dict(unit="sa0", compute_cycles=fill + body + drain, fill_cycles=fill, drain_cycles=drain,
                stream_cycles=stream, dims=(M, N, K), **kw)


def test_phases_of_the_test_tiles() -> None:
    assert systolic.tile_phases("ws", 50, 32, 64, 32, 32) == (32, 100, 62, 50)
    assert systolic.tile_phases("ws", 20, 32, 32, 32, 32) == (32, 20, 62, 20)  # one fold of 20 rows
    assert systolic.tile_phases("os", 32, 32, 100, 32, 32) == (0, 100, 62, 100)  # no preload


def test_back_to_back_tiles_hide_the_fill() -> None:
    out = simulate(hand_program(("array", [_tile(), _tile()])), ARCH)
    a = out.arrays[0]
    # tile 0 issued at 2: held [2, 134). Tile 1 (issued at 4) gets the array at 134, the cycle
    # tile 0's last fold streamed in: it hides min(32, 50) = 32 -> held 100: [134, 234)
    assert a.intervals == [(2, 134, 0), (134, 234, 1)]
    assert a.hidden_fill_cycles == 32
    # the op's last tile waits for its drain: the op ends at 234 + 62 = 296
    assert out.op_timing[0].end == out.total_cycles == 296


def test_a_short_previous_stream_hides_less() -> None:
    out = simulate(hand_program(("array", [_tile(M=20, K=32), _tile()])), ARCH)
    # tile 0: 20 rows, one fold: held 32 + 20 = 52 -> [2, 54); tile 1 hides min(32, 20) = 20:
    # held 132 - 20 = 112 -> [54, 166); + its drain 62 = 228
    assert out.arrays[0].intervals == [(2, 54, 0), (54, 166, 1)]
    assert out.arrays[0].hidden_fill_cycles == 20 and out.total_cycles == 228


def test_no_fill_nothing_to_hide() -> None:
    # output-stationary tiles have no preload: back to back, each holds its body, 100 cycles
    out = simulate(hand_program(("array", [_tile(32, 32, 100, "os"), _tile(32, 32, 100, "os")])), ARCH)
    assert out.arrays[0].intervals == [(2, 102, 0), (102, 202, 1)]
    assert out.arrays[0].hidden_fill_cycles == 0


def test_a_gap_exposes_the_fill() -> None:
    """op0: one array tile; op1: a 200-cycle vector tile; op2: an array tile that depends on op1.
    The array is idle from 134 until op2 is issued, so op2's tile pays its whole preload."""
    prog = hand_program(("array", [_tile()]), ("vector", [dict(unit="vector", compute_cycles=200)]),
                        ("array", [_tile()]), deps={2: (1,)})
    out = simulate(prog, ARCH)
    # op1's vector tile issued at 4: [4, 204); op2's tile issued at 204 + 2 = 206, held 132
    assert out.vector.intervals == [(4, 204, 1)]
    assert out.arrays[0].intervals == [(2, 134, 0), (206, 338, 2)]
    assert out.arrays[0].hidden_fill_cycles == 0
    # op0's only tile waited for its drain (134 + 62); op2's likewise (338 + 62)
    assert [t.end for t in out.op_timing] == [196, 204, 400]


def test_a_storing_tile_waits_for_its_drain_but_frees_the_array() -> None:
    from accelsim.mapping.program import Transfer

    st = (Transfer("y", 1024, "outputs", "store"),)
    out = simulate(hand_program(("array", [_tile(stores=st), _tile()])), ARCH)
    a = out.arrays[0]
    # tile 0's results drain [134, 196) before its store, but the array takes tile 1 at 134
    assert a.intervals == [(2, 134, 0), (134, 234, 1)]
    # the store: engine at 196, setup 16, 1024 B at 16 B/cycle = 64, latency 100 -> 376
    assert out.dma.intervals[0][0][:2] == (196, 376)
    assert out.total_cycles == 376
