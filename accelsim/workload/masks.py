"""Constant attention masks recognised at trace time (pure numpy; torch tensors accepted).

:func:`causal_mask_kind` tells whether a folded constant is torch's ``is_causal`` pattern; the
tracer lists such constants in ``graph.meta["causal_masks"]`` (tensor -> kind) and the lowering
(:func:`accelsim.passes.fuse.causal_sdpa`, :func:`~accelsim.passes.fuse.fuse_attention`) maps
the attention that reads them as causal, skipping the masked score blocks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["MASKED", "causal_mask_kind"]

#: A masked score at or below this value is exactly 0 after the softmax in fp32 / bf16 (exp
#: underflows far above it); HF builds additive masks from ``torch.finfo(dtype).min`` (-3.4e38).
MASKED = -1e30


def causal_mask_kind(value: Any) -> str | None:
    """What a constant mask ``[.., L, S]`` (every leading slice alike) is, if it is the causal
    pattern of torch's ``is_causal`` (top-left aligned: position ``i`` sees ``j <= i``):
    ``"keep"`` (bool, True where attention is allowed: SDPA's boolean mask), ``"drop"`` (bool,
    True above the diagonal: a ``masked_fill`` mask), ``"additive"`` (float, 0 on and below the
    diagonal, at most -1e30 above it: an additive mask). None otherwise (also for L or S < 2).
    Accepts a numpy array or a CPU torch tensor."""
    if hasattr(value, "detach"):
        t = value.detach()
        if t.device.type == "meta":
            return None
        value = (t.float() if t.is_floating_point() else t).cpu().numpy()
    v = np.asarray(value)
    if v.ndim < 2 or v.shape[-2] < 2 or v.shape[-1] < 2:
        return None
    L, S = v.shape[-2:]
    keep = np.arange(S)[None, :] <= np.arange(L)[:, None]
    if v.dtype == np.bool_:
        if bool((v == keep).all()):
            return "keep"
        if bool((v == ~keep).all()):
            return "drop"
        return None
    if np.issubdtype(v.dtype, np.floating):
        full = np.broadcast_to(keep, v.shape)
        if bool((v[full] == 0).all()) and bool((v[~full] <= MASKED).all()):
            return "additive"
    return None
