"""Hand-derived checks of accelsim.model.memory and accelsim.model.vector."""

from __future__ import annotations

from typing import Any

import pytest

from accelsim.model.memory import (
    bursts,
    ceil_div,
    dma_transfer_cycles,
    dram_bytes_per_cycle,
    dram_latency_cycles,
    sram_accesses,
    sram_bytes_per_cycle,
    transfer_cycles,
)
from accelsim.model.vector import reduction_cycles, vector_cycles


def test_ceil_div() -> None:
    assert ceil_div(0, 4) == 0
    assert ceil_div(1, 4) == 1
    assert ceil_div(8, 4) == 2  # exact multiple
    assert ceil_div(9, 4) == 3
    assert ceil_div(10**30 + 1, 10**15) == 10**15 + 1  # exact for huge ints (no float)
    for a, b in ((1, 0), (-1, 4), (4, -2)):
        with pytest.raises(ValueError):
            ceil_div(a, b)


def test_dram_latency_cycles() -> None:
    assert dram_latency_cycles(100.0, 1.0) == 100
    # 100 * 1.1 = 110.00000000000001 in floats: must still be 110 cycles, not 111.
    assert 100.0 * 1.1 > 110
    assert dram_latency_cycles(100.0, 1.1) == 110
    assert dram_latency_cycles(100.0, 1.4) == 140
    assert dram_latency_cycles(10.0, 0.95) == 10  # 9.5 -> 10 (rounds up)
    assert dram_latency_cycles(1.0, 0.7) == 1  # 0.7 -> 1
    assert dram_latency_cycles(0.0, 2.0) == 0
    with pytest.raises(ValueError):
        dram_latency_cycles(-1.0, 1.0)
    with pytest.raises(ValueError):
        dram_latency_cycles(1.0, 0.0)


def test_dram_bytes_per_cycle() -> None:
    assert dram_bytes_per_cycle(25.6, 1.0) == pytest.approx(25.6)
    assert dram_bytes_per_cycle(900.0, 1.5) == pytest.approx(600.0)  # HBM-class at 1.5 GHz
    assert dram_bytes_per_cycle(3.2, 0.8) == pytest.approx(4.0)
    with pytest.raises(ValueError):
        dram_bytes_per_cycle(0.0, 1.0)


def test_transfer_cycles() -> None:
    assert transfer_cycles(0, 25.6) == 0
    assert transfer_cycles(1, 64.0) == 1
    assert transfer_cycles(64, 64.0) == 1  # exact multiple
    assert transfer_cycles(65, 64.0) == 2
    assert transfer_cycles(256, 25.6) == 10
    # 21 / 1.4 = 15.000000000000002 in floats: still 15 cycles.
    assert 21 / 1.4 > 15
    assert transfer_cycles(21, 1.4) == 15
    assert transfer_cycles(257, 25.6) == 11
    assert transfer_cycles(3, 0.5) == 6  # slower than a byte per cycle
    assert transfer_cycles(10, 4) == 3  # an int rate works too
    with pytest.raises(ValueError):
        transfer_cycles(-1, 1.0)
    with pytest.raises(ValueError):
        transfer_cycles(1, 0.0)


def test_bursts() -> None:
    assert bursts(0, 4096) == 0
    assert bursts(1, 4096) == 1
    assert bursts(4096, 4096) == 1
    assert bursts(4097, 4096) == 2
    assert bursts(3 * 4096, 4096) == 3


def test_dma_transfer_cycles() -> None:
    # DRAM is the bottleneck: 32 setup + 100 latency + 4096/25.6 = 160 -> 292.
    kw: dict[str, Any] = dict(
        setup_cycles=32, latency_cycles=100, dram_bytes_per_cycle=25.6, sram_bytes_per_cycle=64.0
    )
    assert dma_transfer_cycles(4096, **kw) == 292
    assert dma_transfer_cycles(4097, **kw) == 293
    assert dma_transfer_cycles(1, **kw) == 133
    assert dma_transfer_cycles(0, **kw) == 0
    # SRAM is the bottleneck: 4096/64 = 64 -> 32 + 100 + 64 = 196.
    assert (
        dma_transfer_cycles(
            4096,
            setup_cycles=32,
            latency_cycles=100,
            dram_bytes_per_cycle=600.0,
            sram_bytes_per_cycle=64.0,
        )
        == 196
    )
    # No setup, no latency: pure streaming.
    assert (
        dma_transfer_cycles(
            100,
            setup_cycles=0,
            latency_cycles=0,
            dram_bytes_per_cycle=10.0,
            sram_bytes_per_cycle=10.0,
        )
        == 10
    )
    with pytest.raises(ValueError):
        dma_transfer_cycles(
            1, setup_cycles=-1, latency_cycles=0, dram_bytes_per_cycle=1.0, sram_bytes_per_cycle=1.0
        )


def test_sram_bytes_per_cycle() -> None:
    assert sram_bytes_per_cycle(1, 1, 1) == 1
    assert sram_bytes_per_cycle(8, 64, 1) == 512
    assert sram_bytes_per_cycle(8, 64, 2) == 1024
    with pytest.raises(ValueError):
        sram_bytes_per_cycle(0, 64, 1)


def test_sram_accesses() -> None:
    assert sram_accesses(0, 64) == 0
    assert sram_accesses(1, 64) == 1
    assert sram_accesses(64, 64) == 1
    assert sram_accesses(65, 64) == 2
    assert sram_accesses(128, 64) == 2
    with pytest.raises(ValueError):
        sram_accesses(1, 0)


def test_vector_cycles() -> None:
    assert vector_cycles(0, 64, 1, 8) == 0  # nothing issued
    assert vector_cycles(1, 64, 1, 8) == 9
    assert vector_cycles(64, 64, 1, 8) == 9  # exact multiple: one pass
    assert vector_cycles(65, 64, 1, 8) == 10
    assert vector_cycles(1000, 64, 4, 8) == 16 * 4 + 8  # exp: 4 cycles/element
    assert vector_cycles(5, 1, 1, 0) == 5  # scalar unit, no pipeline
    with pytest.raises(ValueError):
        vector_cycles(1, 0, 1, 0)
    with pytest.raises(ValueError):
        vector_cycles(-1, 4, 1, 0)


def test_reduction_cycles() -> None:
    # 4 rows of 100 on 64 lanes: per row ceil(100/64)=2 passes + tree log2(64)=6 -> 8; 4*8 + 8.
    assert reduction_cycles(4, 100, 64, 1, 8) == 40
    # row of 10 at cost 2: 1 pass * 2 + ceil(log2(10)) = 4 -> 6 per row; 3*6 + 5.
    assert reduction_cycles(3, 10, 64, 2, 5) == 23
    assert reduction_cycles(2, 64, 64, 1, 0) == 2 * (1 + 6)  # exact multiple of lanes
    assert reduction_cycles(2, 65, 64, 1, 0) == 2 * (2 + 6)
    assert reduction_cycles(1, 3, 64, 1, 0) == 1 + 2  # ceil(log2(3)) = 2
    assert reduction_cycles(1, 4, 64, 1, 0) == 1 + 2  # log2(4) = 2
    assert reduction_cycles(1, 5, 64, 1, 0) == 1 + 3  # ceil(log2(5)) = 3
    assert reduction_cycles(1, 1, 64, 1, 0) == 1  # 1-element row: no tree
    assert reduction_cycles(5, 7, 1, 1, 0) == 35  # 1 lane: no tree, 7 passes per row
    assert reduction_cycles(0, 100, 64, 1, 8) == 0
    assert reduction_cycles(4, 0, 64, 1, 8) == 0
    with pytest.raises(ValueError):
        reduction_cycles(1, 1, 64, 0, 0)
