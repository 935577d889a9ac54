"""GEMM tile selection (accelsim.mapping.tiling): buffer fitting and balancing across arrays."""

from __future__ import annotations

import pytest

from accelsim import api
from accelsim.mapping.tiling import Buffers, balance_output_tiles, choose_gemm_tile, split_range
from accelsim.model import systolic
from builders import gemm_graph

BIG = Buffers(inputs=1 << 30, weights=1 << 30, outputs=1 << 30, accumulators=1 << 30)


def work(m: int, n: int, k: int) -> int:
    """A cost proxy with no fill/drain: cycles proportional to MACs."""
    return m * n * k


def test_six_column_tiles_on_four_arrays_split_rows_instead() -> None:
    """M=1024, N=768, one K tile: 1024x128 tiles give 6 tiles, 2 rounds on 4 arrays (75 %).
    Perfect balance is MNK/4 = 2.01e8; (512, 384) reaches it with the fewest tiles (4):
    (1024, 256) 3 tiles 2.68e8, (512, 128) 12 tiles and (256, 384) 8 tiles tie at 2.01e8."""
    m, n = balance_output_tiles(1, 1024, 768, 1024, 128, 128, 1024, 384, 1024,
                                n_arrays=4, tile_cycles=work, elem_bytes=2)
    assert (m, n) == (512, 384)
    rounds = -(-(-(-1024 // m) * -(-768 // n)) // 4)
    assert rounds * work(m, n, 1024) == 1024 * 768 * 1024 // 4


def cycles(m: int, n: int, k: int) -> float:
    """The same proxy in cycles of a 128x128 array (MACs / 16384)."""
    return m * n * k / (128 * 128)


def test_memory_bound_prefers_fewer_a_rereads() -> None:
    """At 1 B/cycle traffic dominates. A is re-read once per N tile, so the widest N tile (384)
    wins: 7.3 MB in all, against 13.6 MB with 128-wide tiles. With a single K tile B is read
    once whatever m is; the exposed first load only adds to the compute side of
    max(compute + exposed, traffic), so m does not matter and the fewest tiles win."""
    m, n = balance_output_tiles(1, 1024, 768, 1024, 128, 128, 1024, 384, 1024,
                                n_arrays=4, tile_cycles=cycles, elem_bytes=2, dram_bytes_per_cycle=1.0)
    assert (m, n) == (1024, 384)


def test_split_k_makes_b_reloads_count() -> None:
    """K = 3072 in three K tiles: B (4.7 MB) is reloaded per M tile, so halving m adds 4.7 MB
    of traffic and a memory-bound GEMM keeps m whole; with ample bandwidth the rows split."""
    m, n = balance_output_tiles(1, 1024, 768, 3072, 128, 128, 1024, 384, 1024,
                                n_arrays=4, tile_cycles=cycles, elem_bytes=2, dram_bytes_per_cycle=1.0)
    assert (m, n) == (1024, 384)
    m2, _ = balance_output_tiles(1, 1024, 768, 3072, 128, 128, 1024, 384, 1024,
                                 n_arrays=4, tile_cycles=cycles, elem_bytes=2, dram_bytes_per_cycle=1e6)
    assert m2 < 1024


def test_rows_never_split_below_the_array_height() -> None:
    tc = lambda m, n, k: systolic.gemm_cycles("ws", m, n, k, 128, 128, "pipelined")  # noqa: E731
    m, n = balance_output_tiles(1, 64, 768, 768, 128, 128, 64, 512, 768, n_arrays=4, tile_cycles=tc, elem_bytes=2)
    assert m == 64 and n % 128 == 0


def test_batch_counts_as_output_tiles() -> None:
    """8 heads of 1024x64 on 4 arrays: already 2 rounds of whole tiles, nothing to split."""
    m, n = balance_output_tiles(8, 1024, 64, 64, 128, 128, 1024, 64, 64, n_arrays=4, tile_cycles=work, elem_bytes=2)
    assert (m, n) == (1024, 64)


def test_single_array_keeps_the_fitted_tile() -> None:
    ts = choose_gemm_tile(1024, 768, 1024, 128, 128, elem_bytes=2, acc_bytes=4, buffers=BIG,
                          n_arrays=1, tile_cycles=work)
    assert (ts.m, ts.n, ts.k) == (1024, 512, 1024)


def test_balancing_pays_off_in_the_simulator() -> None:
    """The c_proj shape of GPT-2 small on the four-array datacenter arch: >= 80 % of peak MACs
    (the N-only balancing left two arrays idle half the time: 67 %)."""
    arch = api.load_arch("datacenter-bf16")
    M, N, K = 1024, 768, 3072
    r = api.simulate(arch, gemm_graph(M, N, K, "bfloat16"), api.RunOptions(gpu=None, energy=False))
    ideal = M * N * K / (4 * 128 * 128)
    assert ideal / r["total_cycles"] >= 0.80
    busy = [u["busy_cycles"] for u in r["units"] if u["kind"] == "systolic_array"] if isinstance(
        r["units"], list) else [u["busy_cycles"] for u in r["units"].values() if u["kind"] == "systolic_array"]
    assert max(busy) - min(busy) <= 0.02 * max(busy)  # every array does the same work


@pytest.mark.parametrize(("total", "step", "want"), [(10, 4, [(0, 4), (4, 4), (8, 2)]), (8, 8, [(0, 8)])])
def test_split_range(total: int, step: int, want: list[tuple[int, int]]) -> None:
    assert split_range(total, step) == want
