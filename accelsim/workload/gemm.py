"""One GEMM-shaped view of a GEMM-like op, shared by the mapper, the numerics emulator and the
GPU model (so the three never disagree on M, N, K).

Every GEMM-like op is a ``batch`` of ``C[M x N] = A[M x K] . B[K x N]`` products:

=========  ==========================================  ============================================
kind       operands                                    (batch, M, N, K)
=========  ==========================================  ============================================
linear     x[..., K], w[N, K]                          (1, prod(x.shape[:-1]), N, K)
matmul     a[..., M, K], b[..., K, N]                  broadcast batch; a 2-D ``b`` folds the batch
                                                       into M (one weight-like operand)
conv2d     x[Nb, C, H, W], w[F, C/g, R, S]             (g, Nb*Ho*Wo, F/g, C/g*R*S)   (im2col)
conv1d     x[Nb, C, L], w[F, C/g, R]                   (g, Nb*Lo, F/g, C/g*R)
=========  ==========================================  ============================================

Pure: no torch, no numpy. ``gemm_view`` raises :class:`~accelsim.errors.MappingError` naming the op
when its shapes do not form a GEMM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from accelsim.errors import MappingError
from accelsim.workload.ir import Graph, Op

__all__ = ["GemmView", "gemm_view", "GEMM_OP_KINDS"]

#: IR kinds :func:`gemm_view` understands (``sdpa``/``attention`` are not plain GEMMs).
GEMM_OP_KINDS = frozenset({"linear", "matmul", "conv2d", "conv1d"})


@dataclass(frozen=True)
class GemmView:
    """``batch`` GEMMs of ``M x N x K`` (MACs = batch*M*N*K).

    ``a``/``b``/``out`` name the IR tensors (``a`` is the streamed activation operand, ``b`` the
    weight-like operand); ``bias`` the optional addend. ``transpose_b``: ``b`` is stored
    ``[..., N, K]``. ``groups`` > 1 only for grouped convolutions (then ``batch == groups``);
    ``depthwise``: one input channel per group (``C/g == 1``), whose GEMMs have ``N == F/g``
    columns and ``K == R*S`` rows, tiny for an array. ``a_numel`` is the number of elements of
    the real A tensor (smaller than ``batch*M*K`` for a convolution, whose im2col matrix repeats
    input pixels).
    """

    kind: str
    batch: int
    M: int
    N: int
    K: int
    a: str
    b: str
    out: str
    bias: str | None = None
    transpose_b: bool = False
    fold_batch: bool = False
    groups: int = 1
    depthwise: bool = False
    a_numel: int = 0

    @property
    def macs(self) -> int:
        return self.batch * self.M * self.N * self.K


def _bad(op: Op, why: str) -> MappingError:
    return MappingError(f"{op.where()}: not a GEMM: {why}")


def _broadcast(op: Op, x: list[int], y: list[int]) -> list[int]:
    """numpy broadcasting of two batch shapes."""
    n = max(len(x), len(y))
    x, y = [1] * (n - len(x)) + list(x), [1] * (n - len(y)) + list(y)
    out = []
    for p, q in zip(x, y):
        if p != q and 1 not in (p, q):
            raise _bad(op, f"batch dims {x} and {y} do not broadcast")
        out.append(max(p, q))
    return out


def gemm_view(op: Op, graph: Graph) -> GemmView:
    """The (batch, M, N, K) view of ``op`` (kind in :data:`GEMM_OP_KINDS`)."""
    T = graph.tensors
    if len(op.inputs) < 2 or not op.outputs:
        raise _bad(op, "needs two operands and an output")
    a, b, out = op.inputs[0], op.inputs[1], op.outputs[0]
    bias = op.inputs[2] if len(op.inputs) > 2 else None
    xs, ws, os_ = T[a].shape, T[b].shape, T[out].shape
    if op.kind == "linear":
        if len(xs) < 1 or len(ws) != 2:
            raise _bad(op, f"linear of shapes {xs} and {ws}")
        K, N = xs[-1], ws[0]
        if ws[1] != K:
            raise _bad(op, f"x[..., {K}] against w{list(ws)}")
        M = math.prod(xs[:-1])
        return GemmView("linear", 1, M, N, K, a, b, out, bias, transpose_b=True, a_numel=M * K)
    if op.kind == "matmul":
        if len(xs) < 1 or len(ws) < 1:
            raise _bad(op, "matmul of a scalar")
        tb = bool(op.attrs.get("transpose_b")) and len(ws) >= 2
        bsh = list(ws)
        if tb:
            bsh[-1], bsh[-2] = bsh[-2], bsh[-1]
        a2 = [1, *xs] if len(xs) == 1 else list(xs)
        b2 = [*bsh, 1] if len(bsh) == 1 else bsh
        M, K = a2[-2], a2[-1]
        N = b2[-1]
        if b2[-2] != K:
            raise _bad(op, f"a{list(xs)} @ b{list(ws)}: K {K} != {b2[-2]}")
        bs = _broadcast(op, a2[:-2], b2[:-2])
        nb = math.prod(bs)
        fold = len(b2) == 2
        if fold:
            return GemmView("matmul", 1, nb * M, N, K, a, b, out, bias, transpose_b=tb,
                            fold_batch=nb > 1, a_numel=nb * M * K)
        return GemmView("matmul", nb, M, N, K, a, b, out, bias, transpose_b=tb, a_numel=T[a].numel)
    if op.kind in ("conv2d", "conv1d"):
        rank = 4 if op.kind == "conv2d" else 3
        if len(xs) != rank or len(ws) != rank or len(os_) != rank:
            raise _bad(op, f"{op.kind} with input {xs}, weight {ws}, output {os_}")
        g = int(op.attrs.get("groups", 1) or 1)
        nb = xs[0]
        F, Cg = ws[0], ws[1]
        spatial_w = math.prod(ws[2:])
        spatial_o = math.prod(os_[2:])
        if g < 1 or F % g or xs[1] != Cg * g:
            raise _bad(op, f"groups={g} with {xs[1]} input channels and weight {ws}")
        return GemmView(op.kind, g, nb * spatial_o, F // g, Cg * spatial_w, a, b, out, bias,
                        groups=g, depthwise=g > 1 and Cg == 1, a_numel=T[a].numel)
    raise _bad(op, f"kind '{op.kind}' is not GEMM-like")
