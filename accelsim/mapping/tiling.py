"""GEMM tile-size selection: pure, deterministic functions.

Policy (documented in docs/mapping.md): start from a target tile of
``Mt = min(M, max_tile_m)``, ``Nt = min(N, tile_n_folds * C)``, ``Kt = min(K, tile_k_folds * R)``
(N and K tiles in whole array folds), then shrink the dimension that most reduces the
footprint until every operand tile fits its per-array buffer (inputs and weights and
outputs double-buffered, accumulators single). With several arrays, the output tiling is then
balanced across them by :func:`balance_output_tiles`: a search over smaller ``m`` and ``n``
with a cost model of compute rounds and DRAM traffic.
"""

from __future__ import annotations

from collections.abc import Callable
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
    batch: int = 1,
    tile_cycles: Callable[[int, int, int], int],
    dram_bytes_per_cycle: float | None = None,
    b_resident: bool = False,
) -> TileShape:
    """Pick an (m, n, k) tile for a ``batch`` of M x N x K GEMMs on R x C arrays.

    ``a_resident`` / ``b_resident``: that operand is already on chip (A then needs no input
    buffer). ``tile_cycles(m, n, k)``: compute cycles of one tile on one array; with several
    arrays the output tiling is balanced by :func:`balance_output_tiles`, which also weighs the
    DRAM traffic each tiling implies at ``dram_bytes_per_cycle``.
    Raises :class:`MappingError` when even a single fold does not fit.
    """
    m = min(M, max_tile_m)
    n = min(N, tile_n_folds * C)
    k = min(K, tile_k_folds * R)

    def over(m: int, n: int, k: int) -> list[tuple[float, tuple[str, ...]]]:
        """Overflowing operand buffers as (overflow ratio, dims that shrink it)."""
        out: list[tuple[float, tuple[str, ...]]] = []
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
    if n_arrays > 1:
        m, n = balance_output_tiles(
            batch, M, N, K, R, C, m, n, k, n_arrays=n_arrays, tile_cycles=tile_cycles,
            elem_bytes=elem_bytes, dram_bytes_per_cycle=dram_bytes_per_cycle,
            a_resident=a_resident, b_resident=b_resident,
        )
    return TileShape(m, n, k)


def balance_output_tiles(
    batch: int,
    M: int,
    N: int,
    K: int,
    R: int,
    C: int,
    m: int,
    n: int,
    k: int,
    *,
    n_arrays: int,
    tile_cycles: Callable[[int, int, int], int],
    elem_bytes: int,
    dram_bytes_per_cycle: float | None = None,
    a_resident: bool = False,
    b_resident: bool = False,
) -> tuple[int, int]:
    """The output tile ``(m', n')``, ``m' <= m`` and ``n' <= n``, that finishes soonest on
    ``n_arrays`` arrays, given the ``(m, n, k)`` tile that fits the buffers.

    Output tiles are dealt to arrays in contiguous chunks of ``ceil(T / n_arrays)`` (``T``
    output tiles, each accumulating all its K tiles on one array), so the compute makespan is
    ``rounds * sum_k tile_cycles(m', n', k_j)`` with ``rounds = ceil(T / n_arrays)``: tiles of
    6 x 128 columns on 4 arrays take 2 rounds, 12 half-height tiles take 3 rounds of half the
    work. Smaller tiles cost fill/drain (inside ``tile_cycles``) and traffic: A is loaded once
    per N tile (unless on chip), B once per M tile when K is split (a single-K-tile weight
    block stays in the array across its M tiles), outputs stored once; with
    ``dram_bytes_per_cycle`` the estimate is ``max(compute + exposed, traffic / bytes_per_cycle)``
    (double buffering overlaps the two; ``exposed``: the first tile's operand loads before any
    compute and the last tile's output store after it, in DRAM time).
    Candidates: ``m`` halved down to ``R`` rows (or 1),
    ``n`` in whole column folds. Ties go to the larger tile (fewer tiles, fewer events).
    Pure and deterministic."""
    ksplit = split_range(K, k)
    ms_cands = []
    mm = m
    while True:
        ms_cands.append(mm)
        if mm <= max(1, R) or mm == 1:
            break
        mm = max(1, -(-mm // 2))
    ns_cands = [n] + [c for c in range(_round_down(n, C) if n > C else 0, 0, -C) if c < n]
    best: tuple[float, int, int, int] | None = None
    for mc in ms_cands:
        mt = -(-M // mc)
        for nc in ns_cands:
            nt = -(-N // nc)
            tiles = batch * mt * nt
            rounds = -(-tiles // n_arrays)
            per_tile = sum(tile_cycles(min(mc, M), min(nc, N), ks) for _, ks in ksplit)
            est = float(rounds * per_tile)
            if dram_bytes_per_cycle:
                # exposed latency: the first tile's operands before any compute, the last
                # tile's outputs after it (double buffering hides the rest)
                first = (0 if a_resident else mc * k) + (0 if b_resident else k * nc)
                est += (first + mc * nc) * elem_bytes / dram_bytes_per_cycle
                traffic = batch * M * N * elem_bytes  # outputs
                if not a_resident:
                    traffic += batch * M * K * elem_bytes * nt
                if not b_resident:
                    traffic += batch * K * N * elem_bytes * (mt if len(ksplit) > 1 else 1)
                est = max(est, traffic / dram_bytes_per_cycle)
            key = (est, tiles, -mc, -nc)
            if best is None or key < best:
                best = key
    assert best is not None
    return -best[2], -best[3]


def split_range(total: int, step: int) -> list[tuple[int, int]]:
    """[(offset, size)] chunks of ``step`` covering ``total`` (last one partial)."""
    return [(o, min(step, total - o)) for o in range(0, total, step)]
