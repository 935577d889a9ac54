"""Graph -> Graph rewrites that the mapper runs before mapping (pure, deterministic).

* :func:`fuse_attention` — an explicit ``matmul -> element-wise (scale, mask) -> softmax ->
  matmul`` chain becomes one ``attention`` composite (mapped like SDPA, FlashAttention style);
* :func:`fuse_elementwise` — a run of element-wise ops whose intermediates are used only inside
  the run becomes one ``fused`` composite: one vector-unit pass, no intermediate in SRAM or DRAM
  (a DAG such as GPT-2's ``gelu_new`` too, reshape-only views inside);
* :func:`elide_copies` — a ``clone`` / ``contiguous`` of a dense tensor (eval-mode dropout)
  becomes a free ``alias``;
* :func:`causal_sdpa` — an SDPA whose mask is a constant causal pattern (recorded by the tracer
  in ``graph.meta["causal_masks"]``) becomes ``is_causal`` SDPA.

The fusions keep the original ops inside the composite (``attrs["sub_ops"]``), so replay, the numerics
emulator and the GPU model still see exactly what the model computes; :func:`lower` runs them and
records what it did in ``graph.meta["lowered"]``.
"""

from __future__ import annotations

from accelsim.passes.fuse import causal_sdpa, elide_copies, fuse_attention, fuse_elementwise, lower

__all__ = ["causal_sdpa", "elide_copies", "fuse_attention", "fuse_elementwise", "lower"]
