"""GEMM tile-size selection: pure, deterministic functions.

Policy (documented in docs/mapping.md): start from a target tile of
``Mt = min(M, max_tile_m)``, ``Nt = min(N, tile_n_folds * C)``, ``Kt = min(K, tile_k_folds * R)``
(N and K tiles in whole array folds), then shrink the dimension that most reduces the
footprint until every operand tile fits its per-array buffer (inputs and weights and
outputs double-buffered, accumulators single). Finally split further until there are at
least as many output tiles as arrays, so every array gets work.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.errors import MappingError


@dataclass(frozen=True)
class Buffers:
    """Per-array, per-slot buffer capacities (bytes) for each operand role."""

    inputs: int
    weights: int
    outputs: int
    accumulators: int


@dataclass(frozen=True)
class TileShape:
    m: int
    n: int
    k: int


def _round_down(x: int, q: int) -> int:
    return max(q, (x // q) * q)


def choose_gemm_tile(
    M: int,
    N: int,
    K: int,
    R: int,
    C: int,
    *,
    elem_bytes: int,
    acc_bytes: int,
    buffers: Buffers,
    n_arrays: int = 1,
    max_tile_m: int = 1024,
    tile_n_folds: int = 4,
    tile_k_folds: int = 8,
    a_resident: bool = False,
) -> TileShape:
    """Pick an (m, n, k) tile for an M x N x K GEMM on R x C arrays.

    ``a_resident``: the A operand is already on chip, so it needs no input buffer.
    Raises :class:`MappingError` when even a single fold does not fit.
    """
    m = min(M, max_tile_m)
    n = min(N, tile_n_folds * C)
    k = min(K, tile_k_folds * R)

    def over(m: int, n: int, k: int) -> list[tuple[float, tuple[str, ...]]]:
        """Overflowing operand buffers as (overflow ratio, dims that shrink it)."""
        out = []
        if not a_resident and m * k * elem_bytes > buffers.inputs:
            out.append((m * k * elem_bytes / buffers.inputs, ("m", "k")))
        if k * n * elem_bytes > buffers.weights:
            out.append((k * n * elem_bytes / buffers.weights, ("n", "k")))
        if m * n * acc_bytes > buffers.accumulators:
            out.append((m * n * acc_bytes / buffers.accumulators, ("m", "n")))
        if m * n * elem_bytes > buffers.outputs:
            out.append((m * n * elem_bytes / buffers.outputs, ("m", "n")))
        return out

    while True:
        problems = over(m, n, k)
        if not problems:
            break
        _, dims = max(problems)
        # Of the dims that shrink the worst-overflowing buffer, halve the one furthest above
        # its floor (m: 1 row; n: one column fold; k: one row fold).
        room = {"m": m / 1, "n": n / C if n > C else 0.0, "k": k / R if k > R else 0.0}
        choices = [(room[d], d) for d in dims if room[d] > 1 or (d == "m" and m > 1)]
        if not choices:
            choices = [(room[d], d) for d in ("m", "n", "k") if room[d] > 1 or (d == "m" and m > 1)]
        if not choices:
            raise MappingError(
                f"a {m}x{n}x{k} GEMM tile does not fit the SRAM buffers "
                f"(inputs {buffers.inputs} B, weights {buffers.weights} B, "
                f"accumulators {buffers.accumulators} B, outputs {buffers.outputs} B per array)"
            )
        _, dim = max(choices)
        if dim == "m":
            m = max(1, m // 2)
        elif dim == "n":
            n = min(N, _round_down(n // 2, C)) if n // 2 >= C else C
        else:
            k = min(K, _round_down(k // 2, R)) if k // 2 >= R else R
    # Balance output tiles over the arrays: among N tiles no larger than the one that fits,
    # pick the one minimising (rounds of tiles per array) x (tile width): the makespan proxy.
    if n_arrays > 1 and N > C:
        mt = -(-M // m)
        best = (-(-(mt * -(-N // n)) // n_arrays) * n, -n)
        cand = n - C
        while cand >= C:
            rounds = -(-(mt * -(-N // cand)) // n_arrays)
            key = (rounds * cand, -cand)
            if key < best:
                best = key
            cand -= C
        n = -best[1]
    # Give every array work where the GEMM allows it.
    while n_arrays > 1 and -(-M // m) * -(-N // n) < n_arrays:
        if n > C:
            n = min(N, _round_down(n // 2, C))
        elif m > 1:
            m = max(1, m // 2)
        else:
            break
    return TileShape(m, n, k)


def split_range(total: int, step: int) -> list[tuple[int, int]]:
    """[(offset, size)] chunks of ``step`` covering ``total`` (last one partial)."""
    return [(o, min(step, total - o)) for o in range(0, total, step)]
