"""Graph -> Graph rewrites that the mapper runs before mapping (pure, deterministic).

* :func:`fuse_attention` — an explicit ``matmul -> element-wise (scale, mask) -> softmax ->
  matmul`` chain becomes one ``attention`` composite (mapped like SDPA, FlashAttention style);
* :func:`fuse_elementwise` — a run of element-wise ops whose intermediates are used only inside
  the run becomes one ``fused`` composite: one vector-unit pass, no intermediate in SRAM or DRAM.

Both keep the original ops inside the composite (``attrs["sub_ops"]``), so replay, the numerics
emulator and the GPU model still see exactly what the model computes; :func:`lower` runs them and
records what it did in ``graph.meta["lowered"]``.
"""

from __future__ import annotations

from accelsim.passes.fuse import fuse_attention, fuse_elementwise, lower

__all__ = ["fuse_attention", "fuse_elementwise", "lower"]
