"""Memory-system formulas: DRAM latency and bandwidth, DMA transfers, SRAM width and accesses.

Units: sizes in bytes, rates in bytes per clock cycle, durations in integer clock cycles,
latency in nanoseconds, clock in GHz, bandwidth in GB/s (1e9 bytes per second). Conversions
from float rates to cycles round *up* (a partial cycle is a whole cycle); a quotient within
1e-9 (relative) of an integer is taken to be that integer, so that float noise such as
``100 ns * 1.1 GHz = 110.00000000000001`` does not add a cycle.
"""

from __future__ import annotations

import math

_REL_TOL = 1e-9


def _ceil_tolerant(x: float) -> int:
    """``ceil(x)`` for ``x >= 0``, treating ``x`` within 1e-9 (relative) of an integer as it."""
    r = round(x)
    if abs(x - r) <= _REL_TOL * max(1.0, abs(x)):
        return int(r)
    return math.ceil(x)


def _check_nonneg_int(name: str, v: int) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {v!r}")


def _check_pos(name: str, v: float) -> None:
    if isinstance(v, bool) or not v > 0 or math.isinf(v):
        raise ValueError(f"{name} must be a positive finite number, got {v!r}")


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` in exact integer arithmetic, for ``a >= 0`` and ``b > 0`` (unitless)."""
    _check_nonneg_int("a", a)
    if isinstance(b, bool) or not isinstance(b, int) or b < 1:
        raise ValueError(f"b must be a positive integer, got {b!r}")
    return -(-a // b)


def dram_latency_cycles(latency_ns: float, clock_ghz: float) -> int:
    """DRAM access latency in cycles: ``ceil(latency_ns * clock_ghz)`` (ns x GHz = cycles)."""
    if not latency_ns >= 0 or math.isinf(latency_ns):
        raise ValueError(f"latency_ns must be a non-negative finite number, got {latency_ns!r}")
    _check_pos("clock_ghz", clock_ghz)
    return _ceil_tolerant(latency_ns * clock_ghz)


def dram_bytes_per_cycle(bandwidth_gbps: float, clock_ghz: float) -> float:
    """Peak DRAM bytes per cycle: ``bandwidth_gbps / clock_ghz`` (GB/s over Gcycles/s)."""
    _check_pos("bandwidth_gbps", bandwidth_gbps)
    _check_pos("clock_ghz", clock_ghz)
    return bandwidth_gbps / clock_ghz


def transfer_cycles(nbytes: int, bytes_per_cycle: float) -> int:
    """Cycles to move ``nbytes`` bytes at ``bytes_per_cycle``: ``ceil(nbytes / bpc)``; 0 for 0."""
    _check_nonneg_int("nbytes", nbytes)
    _check_pos("bytes_per_cycle", bytes_per_cycle)
    if nbytes == 0:
        return 0
    return _ceil_tolerant(nbytes / bytes_per_cycle)


def bursts(nbytes: int, max_burst_bytes: int) -> int:
    """Number of DMA bursts for ``nbytes`` bytes: ``ceil(nbytes / max_burst_bytes)``; 0 for 0."""
    return ceil_div(nbytes, max_burst_bytes)


def dma_transfer_cycles(
    nbytes: int,
    *,
    setup_cycles: int,
    latency_cycles: int,
    dram_bytes_per_cycle: float,
    sram_bytes_per_cycle: float,
) -> int:
    """Cycles of one DRAM->SRAM (or SRAM->DRAM) DMA transfer of ``nbytes`` bytes.

    ``setup_cycles + latency_cycles + ceil(nbytes / min(dram_bpc, sram_bpc))``: the stream is
    pipelined, so after the setup and the first access latency the slower side sets the rate.
    A 0-byte transfer is never issued and costs 0 cycles.
    """
    _check_nonneg_int("nbytes", nbytes)
    _check_nonneg_int("setup_cycles", setup_cycles)
    _check_nonneg_int("latency_cycles", latency_cycles)
    _check_pos("dram_bytes_per_cycle", dram_bytes_per_cycle)
    _check_pos("sram_bytes_per_cycle", sram_bytes_per_cycle)
    if nbytes == 0:
        return 0
    rate = min(dram_bytes_per_cycle, sram_bytes_per_cycle)
    return setup_cycles + latency_cycles + transfer_cycles(nbytes, rate)


def sram_bytes_per_cycle(banks: int, bank_width_bytes: int, ports_per_bank: int) -> int:
    """Peak SRAM bytes per cycle over ``banks`` banks: ``banks * bank_width_bytes * ports``."""
    for name, v in (
        ("banks", banks),
        ("bank_width_bytes", bank_width_bytes),
        ("ports_per_bank", ports_per_bank),
    ):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return banks * bank_width_bytes * ports_per_bank


def sram_accesses(nbytes: int, bank_width_bytes: int) -> int:
    """Bank-width SRAM accesses to touch ``nbytes`` bytes: ``ceil(nbytes / width)`` (for energy)."""
    return ceil_div(nbytes, bank_width_bytes)
