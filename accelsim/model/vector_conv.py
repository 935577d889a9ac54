"""A grouped / depthwise convolution on the vector unit: the closed-form cycle estimate the mapper
compares with the array placements (pure; no SimPy).

Each lane computes one output element at a time, one multiply-accumulate per cycle per lane
(``mac_cost`` cycles per MAC, the ``gather_mac`` cost class): an output element of a depthwise
``R x S`` convolution is ``R*S`` MACs on one lane, with the per-channel weights broadcast and the
input window read from the tile held in the vector unit's buffer (each input element is read
from SRAM once per tile; the window overlap is reused in the lane registers / line buffer, as in
the depthwise engines of edge NPUs, e.g. Eyeriss v2's row-stationary PEs, Chen et al., JETCAS
2019). DMA transfers of the tiles overlap the compute of the previous tile (double buffering),
so the op takes the longer of the two streams plus one tile's pipeline fill.
"""

from __future__ import annotations

__all__ = ["vector_conv_cycles"]


def vector_conv_cycles(
    *,
    macs: int,
    lanes: int,
    mac_cost: int,
    pipeline_latency: int,
    tiles: int,
    dram_bytes: int,
    dram_bytes_per_cycle: float,
    dram_latency: int = 0,
    dma_setup: int = 0,
) -> int:
    """Estimated cycles of a convolution of ``macs`` MACs on a vector unit of ``lanes`` lanes,
    issued as ``tiles`` tiles, moving ``dram_bytes`` to / from DRAM at ``dram_bytes_per_cycle``:
    ``max(ceil(macs / lanes) * mac_cost + tiles * pipeline_latency, dram_bytes / bandwidth)``
    plus one tile's share of the faster stream (the first load or the last store, not overlapped)
    and, when anything moves to / from DRAM, one DRAM access latency and DMA setup (cycles).
    """
    if (macs < 0 or lanes < 1 or mac_cost < 1 or pipeline_latency < 0 or tiles < 1 or dram_bytes < 0
            or dram_latency < 0 or dma_setup < 0):
        raise ValueError("vector_conv_cycles: negative or zero sizes")
    if dram_bytes_per_cycle <= 0:
        raise ValueError("vector_conv_cycles: DRAM bandwidth must be positive")
    compute = -(-macs // lanes) * mac_cost + tiles * pipeline_latency
    memory = int(-(-dram_bytes // dram_bytes_per_cycle)) if dram_bytes else 0
    fixed = dram_latency + dma_setup if dram_bytes else 0
    return max(compute, memory) + min(compute, memory) // tiles + fixed
