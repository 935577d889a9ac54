"""Collective and pipeline formulas (accelsim/model/collectives.py), each checked against a
derivation written out here from the algorithm's steps (not the closed form)."""

from __future__ import annotations

import math

import pytest

from accelsim.model.collectives import (
    collective_s,
    direct_allgather_s,
    direct_allreduce_s,
    gpipe_s,
    p2p_s,
    pipeline_bubble,
    resolve_interconnect,
    ring_allgather_s,
    ring_allreduce_s,
    ring_reduce_scatter_s,
    torus2d_allreduce_s,
    torus_dims,
)

S = 1 << 20  # bytes
B = 100e9  # bytes/s per channel
A = 1e-6  # s per hop


def ring_steps(nbytes: float, n: int, steps: int) -> float:
    """``steps`` ring steps, each sending one nbytes/n chunk over one channel plus a hop."""
    return steps * (nbytes / n / B + A)


@pytest.mark.parametrize("n", [2, 3, 4, 8, 16])
def test_ring_allreduce_is_2n_minus_2_chunk_steps(n: int) -> None:
    # Patarasuk and Yuan: reduce-scatter (n-1 steps) + all-gather (n-1 steps), one S/n chunk each
    assert ring_allreduce_s(S, n, B, A) == pytest.approx(ring_steps(S, n, 2 * (n - 1)), rel=1e-12)
    assert ring_reduce_scatter_s(S, n, B, A) == pytest.approx(ring_steps(S, n, n - 1), rel=1e-12)
    assert ring_allgather_s(S, n, B, A) == pytest.approx(ring_allreduce_s(S, n, B, A) / 2, rel=1e-12)


def test_ring_allreduce_numbers() -> None:
    # 8 chips, 1 MiB: 14 steps of (131072 B / 100 GB/s = 1.31072 us) + 1 us = 32.35008 us
    assert ring_allreduce_s(S, 8, B, A) == pytest.approx(32.35008e-6, rel=1e-12)
    # bandwidth term alone tends to 2 S / B for many chips (the bandwidth-optimal bound)
    assert ring_allreduce_s(S, 1024, B, 0.0) == pytest.approx(2 * S / B * 1023 / 1024, rel=1e-12)


def test_direct_is_two_steps_of_one_chunk() -> None:
    # each chip sends its n-1 chunks at once over n-1 channels: one chunk time per phase
    assert direct_allreduce_s(S, 8, B, A) == pytest.approx(2 * (S / 8 / B + A), rel=1e-12)
    assert direct_allgather_s(S, 8, B, A) == pytest.approx(S / 8 / B + A, rel=1e-12)


@pytest.mark.parametrize("nx,ny", [(2, 2), (2, 4), (4, 4), (3, 5)])
def test_torus_is_dimension_ordered_rings(nx: int, ny: int) -> None:
    # reduce-scatter along X over S, along Y over S/nx, then the two all-gathers
    by_steps = 2 * ((nx - 1) * (S / nx / B + A) + (ny - 1) * (S / nx / ny / B + A))
    assert torus2d_allreduce_s(S, nx, ny, B, A) == pytest.approx(by_steps, rel=1e-12)
    n = nx * ny
    # the bandwidth term of one big ring, far fewer hops
    assert torus2d_allreduce_s(S, nx, ny, B, 0.0) == pytest.approx(ring_allreduce_s(S, n, B, 0.0), rel=1e-12)
    assert torus2d_allreduce_s(S, nx, ny, B, A) <= ring_allreduce_s(S, n, B, A)


def test_one_chip_and_zero_bytes() -> None:
    assert ring_allreduce_s(S, 1, B, A) == 0.0
    assert direct_allreduce_s(S, 1, B, A) == 0.0
    assert ring_allreduce_s(0, 4, B, A) == pytest.approx(6 * A)
    assert p2p_s(S, B, A, 3) == pytest.approx(S / B + 3 * A)
    assert p2p_s(S, B, A, 0) == 0.0


@pytest.mark.parametrize("bad", [dict(n=0), dict(nbytes=-1), dict(bw=0), dict(lat=-1), dict(bw=math.inf)])
def test_bad_arguments(bad: dict) -> None:
    args = {"nbytes": S, "n": 4, "bw": B, "lat": A, **bad}
    with pytest.raises(ValueError):
        ring_allreduce_s(args["nbytes"], args["n"], args["bw"], args["lat"])


def test_gpipe_and_bubble() -> None:
    # 4 balanced stages of 1 s, 4 micro-batches: 4 + 3 = 7 s; each chip busy 4 s of 7
    assert gpipe_s([1.0] * 4, 4) == pytest.approx(7.0)
    assert pipeline_bubble(4, 4) == pytest.approx(3 / 7)
    assert pipeline_bubble(4, 4) == pytest.approx(1 - 4 / gpipe_s([1.0] * 4, 4))
    assert pipeline_bubble(1, 5) == 0.0
    # unbalanced: the slowest stage paces the micro-batches
    assert gpipe_s([1.0, 3.0], 5) == pytest.approx(4 + 4 * 3)
    with pytest.raises(ValueError):
        pipeline_bubble(0, 1)


def test_interconnect_channels() -> None:
    ring = resolve_interconnect(8, "ring", 6, 25.0, 500.0)
    assert ring.neighbours == 2 and ring.links_per_neighbour == 3
    assert ring.channel_bandwidth == pytest.approx(75e9)
    assert resolve_interconnect(2, "ring", 6, 25.0, 0.0).links_per_neighbour == 6  # both ports to one chip
    fc = resolve_interconnect(8, "fully_connected", 14, 25.0, 500.0)
    assert fc.neighbours == 7 and fc.links_per_neighbour == 2
    t = resolve_interconnect(16, "torus2d", 8, 25.0, 500.0)
    assert t.dims == (4, 4) and t.neighbours == 4 and t.links_per_neighbour == 2
    t2 = resolve_interconnect(8, "torus2d", 8, 25.0, 500.0)
    assert t2.dims == (2, 4)
    assert t2.dim_links(2) == 4 and t2.dim_links(4) == 2  # the X pair shares both X ports
    assert torus_dims(12) == (3, 4) and torus_dims(7) == (1, 7)
    with pytest.raises(ValueError):
        resolve_interconnect(7, "torus2d", 8, 25.0, 500.0)
    with pytest.raises(ValueError):
        resolve_interconnect(8, "fully_connected", 6, 25.0, 500.0)


def test_collective_s_picks_the_algorithm() -> None:
    ring = resolve_interconnect(8, "ring", 2, 50.0, 1000.0)
    g = list(range(8))
    assert collective_s("all_reduce", S, g, ring) == pytest.approx(ring_allreduce_s(S, 8, 50e9, 1e-6))
    assert collective_s("all_gather", S, g, ring) == pytest.approx(ring_allgather_s(S, 8, 50e9, 1e-6))
    fc = resolve_interconnect(8, "fully_connected", 7, 50.0, 1000.0)
    assert collective_s("all_reduce", S, g, fc) == pytest.approx(direct_allreduce_s(S, 8, 50e9, 1e-6))
    tor = resolve_interconnect(16, "torus2d", 4, 50.0, 1000.0)
    assert collective_s("all_reduce", S, list(range(16)), tor) == pytest.approx(
        torus2d_allreduce_s(S, 4, 4, 50e9, 1e-6))
    # a sub-group of a torus runs a ring
    assert collective_s("all_reduce", S, [0, 1, 2, 3], tor) == pytest.approx(ring_allreduce_s(S, 4, 50e9, 1e-6))
    assert collective_s("p2p", S, [0, 5], ring) == pytest.approx(S / 50e9 + 1e-6)
    assert collective_s("all_reduce", S, [3], ring) == 0.0
