"""Execute a mapped :class:`~accelsim.mapping.program.Program` tile by tile with numpy.

The emulator walks ``Program.ops`` in issue order and computes every tensor the way the mapped
hardware would:

* **GEMM pieces** (unit ``array``): the operands are laid out as ``A[batch, M, K]`` and
  ``B[batch, K, N]`` exactly as :meth:`accelsim.mapping.mapper.Mapper.gemm_dims` flattens the
  op (linear, matmul with batch folding, conv2d / conv1d by im2col with groups as the batch, or
  ``P`` groups per block-diagonal GEMM for a ``packed`` grouped convolution, SDPA heads
  as the batch), then each :class:`~accelsim.mapping.program.Tile` computes
  ``A[b, mo:mo+m, ko:ko+k] @ B[b, ko:ko+k, no:no+n]`` (one BLAS call per tile) into the
  accumulator of its array, in program order. An accumulator belongs to ``(array, output
  tile)``; it is written to the output once its K tiles cover ``[0, K)``. Everything else is a
  *structural problem* reported with the op: a K tile missing or repeated, an output tile
  never written or written twice, K tiles of one output tile split across arrays, a tile out
  of range, GEMM dims that disagree with the op's shapes.
* **Vector pieces**: the op is computed with the replay's torch semantics (``run_op``) in the
  vector precision; its tiles must partition the op's element range (a gap leaves zeros in
  the output when the tiles index the output, and is reported).
* **Layout ops**: exact (the same torch view/copy on the stored values).

Numerics (see docs/numerics.md): :class:`FloatNumerics` (bf16 / fp16 / fp32 inputs, fp32
accumulation per K tile, activations stored in the input precision) and :class:`IntNumerics`
(int8 / int16 with the :mod:`accelsim.numerics.quant` scheme, exact int32 accumulators).

An *observer* receives a :class:`PieceRecord` after every piece (the checks in
:mod:`accelsim.numerics.check` are observers).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from accelsim.arch.spec import ArchSpec
from accelsim.mapping.program import MappedOp, Program, Tile
from accelsim.numerics.dtypes import (
    FLOAT_FORMATS,
    INT_FORMATS,
    quantize_np,
    requantize_np,
    round_fp16,
    round_to,
    wrap_int32_np,
)
from accelsim.numerics.quant import QuantPlan, bias_to_int, is_float
from accelsim.workload.ir import Graph, Op
from accelsim.workload.replay import run_op

__all__ = [
    "Emulator",
    "FloatNumerics",
    "GemmLayout",
    "GemmRecord",
    "IntNumerics",
    "PieceRecord",
    "Val",
    "dequant_np",
    "dequant_torch",
    "emulate",
    "gemm_layout",
    "packed_layout",
    "sdpa_softmax",
    "to_np",
    "to_torch",
    "vector_compute",
]

#: int8 products are < 2^14, so a float32 BLAS sum of up to 1024 of them is exact (< 2^24).
INT8_K_CHUNK = 1024


# ---------------------------------------------------------------------------------------------
# values
# ---------------------------------------------------------------------------------------------


@dataclass
class Val:
    """A stored tensor: ``data`` (float32 values of the storage format, or integers), and for
    quantised tensors the per-tensor ``scale`` (real value = data * scale)."""

    data: np.ndarray
    scale: float | None = None
    rounded: bool = False  # float data already holds values of the storage format

    def real(self) -> np.ndarray:
        return dequant_np(self.data, self.scale) if self.scale is not None else self.data


def dequant_np(q: np.ndarray, scale: Any) -> np.ndarray:
    """float32(float64(q) * scale): the same IEEE operations as :func:`dequant_torch`."""
    return (np.asarray(q, dtype=np.float64) * np.asarray(scale, dtype=np.float64)).astype(np.float32)


def dequant_torch(q: torch.Tensor, scale: Any) -> torch.Tensor:
    s = torch.as_tensor(np.asarray(scale, dtype=np.float64))
    return (q.to(torch.float64) * s).to(torch.float32)


def to_torch(a: np.ndarray) -> torch.Tensor:
    a = np.asarray(a)
    if not a.flags.writeable or any(s < 0 for s in a.strides):
        a = np.array(a)
    return torch.from_numpy(a)


def to_np(t: torch.Tensor) -> np.ndarray:
    t = t.detach()
    if t.is_floating_point() and t.dtype != torch.float32:
        t = t.to(torch.float32)
    return t.cpu().numpy()


# ---------------------------------------------------------------------------------------------
# op semantics shared by the emulator and the references
# ---------------------------------------------------------------------------------------------

_TORCH_FMT = {"bf16": torch.bfloat16, "fp16": torch.float16}


def vector_compute(op: Op, args: Sequence[torch.Tensor], vec_prec: str = "fp32") -> tuple[torch.Tensor, ...]:
    """A vector op in the vector precision: ``run_op`` on contiguous inputs; below fp32 the float
    inputs and outputs are rounded to the vector format (a correctly rounded op, idealised)."""
    args = [a.contiguous() for a in args]
    low = _TORCH_FMT.get(vec_prec)
    if low is not None:
        args = [a.to(low).to(torch.float32) if a.is_floating_point() else a for a in args]
    outs = run_op(op, args)
    if low is not None:
        outs = tuple(o.to(low).to(torch.float32) if o.is_floating_point() else o for o in outs)
    return outs


_CAUSAL: dict[tuple[int, int], torch.Tensor] = {}


def _causal_drop(L: int, S: int) -> torch.Tensor:
    """[L, S] bool, True above the diagonal (torch's is_causal: top-left aligned tril)."""
    m = _CAUSAL.get((L, S))
    if m is None:
        if len(_CAUSAL) > 8:
            _CAUSAL.clear()
        m = _CAUSAL[(L, S)] = ~torch.ones(L, S, dtype=torch.bool).tril(diagonal=0)
    return m


def sdpa_softmax(
    scores: torch.Tensor, attrs: Mapping[str, Any], D: int, mask: torch.Tensor | None
) -> torch.Tensor:
    """The SDPA softmax piece on fp32 scores [.., L, S]: scale, causal / explicit mask, softmax
    (torch's math-attention semantics)."""
    L, S = scores.shape[-2], scores.shape[-1]
    scale = attrs.get("scale")
    scale = 1.0 / math.sqrt(D) if scale is None else float(scale)
    x = scores.to(torch.float32) * scale  # a new tensor: masked in place below
    if attrs.get("is_causal"):
        x.masked_fill_(_causal_drop(L, S), float("-inf"))
    if mask is not None:
        if mask.dtype == torch.bool:
            x = x.masked_fill(~mask, float("-inf"))
        else:
            x = x + mask.to(torch.float32)
    return torch.softmax(x, dim=-1)


# ---------------------------------------------------------------------------------------------
# GEMM layouts: natural tensors <-> A[batch, M, K], B[batch, K, N], out[batch, M, N]
# ---------------------------------------------------------------------------------------------


@dataclass
class GemmLayout:
    kind: str
    batch: int
    M: int
    N: int
    K: int
    out_shape: tuple[int, ...]
    a3: Callable[[np.ndarray], np.ndarray]
    b3: Callable[[np.ndarray], np.ndarray]
    to_out: Callable[[np.ndarray], np.ndarray]
    to_bmn: Callable[[np.ndarray], np.ndarray]
    groups: int = 1

    def chan_bmn(self, v: np.ndarray) -> np.ndarray:
        """A per-output-channel vector ([N] for linear/matmul, [F] for conv) in bmn layout."""
        v = np.asarray(v)
        if v.ndim == 0:
            return v
        if self.kind in ("conv2d", "conv1d"):
            return v.reshape(self.groups, 1, -1)
        return v.reshape(1, 1, -1)

    def addend_bmn(self, bias: np.ndarray) -> np.ndarray:
        bias = np.asarray(bias)
        if self.kind in ("conv2d", "conv1d") or bias.ndim <= 1:
            return self.chan_bmn(bias)
        return self.to_bmn(np.ascontiguousarray(np.broadcast_to(bias, self.out_shape)))


def packed_layout(lay: GemmLayout, P: int) -> GemmLayout:
    """A grouped convolution's layout with ``P`` groups packed per GEMM as the mapper's ``packed``
    placement does (:mod:`accelsim.mapping.lowering`): batch ``g/P`` of block-diagonal GEMMs,
    ``A = [A_p0 | A_p1 | ...]`` (``M x P*K``), ``B = diag(B_p0, B_p1, ...)`` (``P*K x P*N``), so
    output column ``p*N + j`` is group ``p``'s channel ``j``. The off-diagonal zeros add exact
    zeros to every sum: the results equal the unpacked GEMMs'."""
    g, M, N, K = lay.batch, lay.M, lay.N, lay.K
    if P < 1 or g % P:
        raise ValueError(f"cannot pack {P} groups of a {g}-group convolution")
    gb = g // P

    def a3(x: np.ndarray) -> np.ndarray:
        a = lay.a3(x).reshape(gb, P, M, K)
        return np.ascontiguousarray(a.transpose(0, 2, 1, 3)).reshape(gb, M, P * K)

    def b3(w: np.ndarray) -> np.ndarray:
        b = np.asarray(lay.b3(w)).reshape(gb, P, K, N)
        out = np.zeros((gb, P * K, P * N), dtype=b.dtype)
        for p in range(P):
            out[:, p * K:(p + 1) * K, p * N:(p + 1) * N] = b[:, p]
        return out

    def unpack(o: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(o.reshape(gb, M, P, N).transpose(0, 2, 1, 3)).reshape(g, M, N)

    def to_bmn(o: np.ndarray) -> np.ndarray:
        b = lay.to_bmn(o).reshape(gb, P, M, N)
        return np.ascontiguousarray(b.transpose(0, 2, 1, 3)).reshape(gb, M, P * N)

    return GemmLayout(lay.kind, gb, M, P * N, P * K, lay.out_shape, a3, b3,
                      to_out=lambda o: lay.to_out(unpack(o)), to_bmn=to_bmn, groups=gb)


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, (list, tuple)):
        return (int(v[0]), int(v[-1])) if len(v) else (0, 0)
    return (int(v), int(v))


def gemm_layout(op: Op, graph: Graph) -> GemmLayout:
    """How ``op`` (linear / matmul / conv2d / conv1d) is flattened into (batch, M, N, K)."""
    T = graph.tensors
    out_shape = tuple(T[op.outputs[0]].shape)
    if op.kind == "linear":
        xs, ws = T[op.inputs[0]].shape, T[op.inputs[1]].shape
        K, N = xs[-1], ws[0]
        M = math.prod(xs[:-1])
        return GemmLayout(
            "linear", 1, M, N, K, out_shape,
            a3=lambda x: x.reshape(1, M, K),
            b3=lambda w: w.T[None],
            to_out=lambda o: o.reshape(out_shape),
            to_bmn=lambda o: o.reshape(1, M, N),
        )
    if op.kind == "matmul":
        a_s, b_s = list(T[op.inputs[0]].shape), list(T[op.inputs[1]].shape)
        tb = bool(op.attrs.get("transpose_b")) and len(b_s) >= 2
        if tb:
            b_s[-1], b_s[-2] = b_s[-2], b_s[-1]
        a_vec, b_vec = len(a_s) == 1, len(b_s) == 1
        a2 = [1, *a_s] if a_vec else a_s
        b2 = [*b_s, 1] if b_vec else b_s
        bs = tuple(np.broadcast_shapes(tuple(a2[:-2]), tuple(b2[:-2])))
        nb = math.prod(bs)
        M, K = a2[-2], a2[-1]
        N = b2[-1]
        fold = len(b2) == 2

        def a3(a: np.ndarray) -> np.ndarray:
            a = a.reshape(a2)
            a = np.broadcast_to(a, (*bs, M, K))
            return a.reshape(1, nb * M, K) if fold else a.reshape(nb, M, K)

        def b3(b: np.ndarray) -> np.ndarray:
            if tb:
                b = np.swapaxes(b, -1, -2)
            b = b.reshape(b2)
            if fold:
                return b[None]
            return np.broadcast_to(b, (*bs, K, N)).reshape(nb, K, N)

        batch, MM = (1, nb * M) if fold else (nb, M)
        return GemmLayout(
            "matmul", batch, MM, N, K, out_shape, a3=a3, b3=b3,
            to_out=lambda o: o.reshape(out_shape),
            to_bmn=lambda o: o.reshape(batch, MM, N),
        )
    if op.kind == "conv2d":
        xs, ws = T[op.inputs[0]].shape, T[op.inputs[1]].shape
        nb = xs[0]
        Fo, Cg, R, S = ws
        g = int(op.attrs.get("groups", 1) or 1)
        Fg = Fo // g
        _, _, Ho, Wo = out_shape
        L = Ho * Wo
        K = Cg * R * S
        stride = _pair(op.attrs.get("stride", 1))
        dil = _pair(op.attrs.get("dilation", 1))
        pad_attr = op.attrs.get("padding", 0)
        if isinstance(pad_attr, str):
            if pad_attr == "valid":
                pad = (0, 0)
            else:  # "same" (stride 1): symmetric when the total is even
                tot = (dil[0] * (R - 1), dil[1] * (S - 1))
                if tot[0] % 2 or tot[1] % 2:
                    raise ValueError(f"{op.where()}: asymmetric 'same' padding is not supported")
                pad = (tot[0] // 2, tot[1] // 2)
        else:
            pad = _pair(pad_attr)

        def im2col(x: np.ndarray) -> np.ndarray:
            xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
            cols = F.unfold(xt, (R, S), dilation=dil, padding=pad, stride=stride)  # [nb, C*R*S, L]
            c = cols.numpy().reshape(nb, g, K, L).transpose(1, 0, 3, 2)
            return np.ascontiguousarray(c).reshape(g, nb * L, K)

        def filters(w: np.ndarray) -> np.ndarray:
            return w.reshape(g, Fg, K).transpose(0, 2, 1)

        def conv_out(o: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(o.reshape(g, nb, Ho, Wo, Fg).transpose(1, 0, 4, 2, 3)).reshape(out_shape)

        def conv_bmn(o: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(o.reshape(nb, g, Fg, Ho, Wo).transpose(1, 0, 3, 4, 2)).reshape(g, nb * L, Fg)

        return GemmLayout("conv2d", g, nb * L, Fg, K, out_shape, im2col, filters, conv_out, conv_bmn, groups=g)
    if op.kind == "conv1d":  # the conv2d im2col on a 1-row image: x[N, C, L] as x[N, C, 1, L]
        xs, ws = T[op.inputs[0]].shape, T[op.inputs[1]].shape
        nb = xs[0]
        Fo, Cg, R = ws
        g = int(op.attrs.get("groups", 1) or 1)
        Fg = Fo // g
        _, _, Lo = out_shape
        K = Cg * R
        st, dl = _pair(op.attrs.get("stride", 1))[0], _pair(op.attrs.get("dilation", 1))[0]
        pad_attr = op.attrs.get("padding", 0)
        if isinstance(pad_attr, str):
            if pad_attr == "valid":
                pd = 0
            else:  # "same" (stride 1)
                tot1 = dl * (R - 1)
                if tot1 % 2:
                    raise ValueError(f"{op.where()}: asymmetric 'same' padding is not supported")
                pd = tot1 // 2
        else:
            pd = _pair(pad_attr)[0]

        def im2col1(x: np.ndarray) -> np.ndarray:
            xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[:, :, None, :]
            cols = F.unfold(xt, (1, R), dilation=(1, dl), padding=(0, pd), stride=(1, st))  # [nb, C*R, Lo]
            c = cols.numpy().reshape(nb, g, K, Lo).transpose(1, 0, 3, 2)
            return np.ascontiguousarray(c).reshape(g, nb * Lo, K)

        def filters1(w: np.ndarray) -> np.ndarray:
            return w.reshape(g, Fg, K).transpose(0, 2, 1)

        def conv1_out(o: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(o.reshape(g, nb, Lo, Fg).transpose(1, 0, 3, 2)).reshape(out_shape)

        def conv1_bmn(o: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(o.reshape(nb, g, Fg, Lo).transpose(1, 0, 3, 2)).reshape(g, nb * Lo, Fg)

        return GemmLayout("conv1d", g, nb * Lo, Fg, K, out_shape, im2col1, filters1, conv1_out, conv1_bmn, groups=g)
    raise ValueError(f"{op.where()}: not a GEMM")


# ---------------------------------------------------------------------------------------------
# numerics
# ---------------------------------------------------------------------------------------------


class FloatNumerics:
    """bf16 / fp16 / fp32 array inputs; fp32 (or fp16) accumulators; activations stored in the
    array's input precision; parameters (weights, constants) kept in fp32 and rounded to the
    input precision when an array reads them; vector ops in ``vec_prec``."""

    integer = False

    def __init__(self, in_prec: str, acc_prec: str, vec_prec: str = "fp32") -> None:
        for p in (in_prec, acc_prec, vec_prec):
            if p not in FLOAT_FORMATS:
                raise ValueError(f"not a floating format: {p}")
        self.prec = in_prec
        self.acc = acc_prec
        self.vec = vec_prec
        self._rounded: dict[str, np.ndarray] = {}

    @property
    def scheme(self) -> str:
        if self.prec == "fp32" and self.acc == "fp32":
            return "fp32"
        return f"{self.prec}-{self.acc}acc"

    def load(self, name: str, kind: str, value: np.ndarray) -> Val:
        if kind == "input" and value.dtype == np.float32:
            return Val(round_to(value, self.prec), rounded=True)
        return Val(value)

    def store(self, name: str, arr: np.ndarray, owned: bool = False) -> Val:
        """The stored form of a fresh result (``owned``: ``arr`` may be rounded in place)."""
        if arr.dtype == np.float32:
            return Val(round_to(arr, self.prec, owned), rounded=True)
        return Val(arr)

    def release(self, name: str) -> None:
        self._rounded.pop(name, None)

    def operand(self, name: str, kind: str, val: Val) -> np.ndarray:
        """Natural-layout operand as the array reads it (float32 holding input-format values)."""
        data = val.data if val.data.dtype == np.float32 else val.data.astype(np.float32)
        if val.rounded or self.prec == "fp32":
            return data
        if kind == "activation" or kind == "input":
            return round_to(data, self.prec)
        hit = self._rounded.get(name)
        if hit is None:
            hit = self._rounded[name] = round_to(data, self.prec)
        return hit


class IntNumerics:
    """int8 / int16 arrays with the :class:`~accelsim.numerics.quant.QuantPlan` scheme."""

    integer = True

    def __init__(self, plan: QuantPlan, vec_prec: str = "fp32") -> None:
        self.plan = plan
        self.vec = vec_prec
        self.qmax = plan.qmax
        self.kchunk = INT8_K_CHUNK if plan.qmax <= 127 else None
        self.mm_dtype = np.float32 if plan.qmax <= 127 else np.float64
        self._wq: dict[tuple[str, int], np.ndarray] = {}

    @property
    def scheme(self) -> str:
        return f"{self.plan.precision}-exact"

    def load(self, name: str, kind: str, value: np.ndarray) -> Val:
        if self.plan.stored.get(name) == "q":
            s = self.plan.scale[name]
            return Val(quantize_np(value, s, self.qmax), s)
        return Val(value)

    def store(self, name: str, arr: np.ndarray, owned: bool = False) -> Val:
        if self.plan.stored.get(name) == "q" and arr.dtype == np.float32:
            s = self.plan.scale[name]
            return Val(quantize_np(arr, s, self.qmax), s)
        return Val(arr)

    def release(self, name: str) -> None:
        for key in [k for k in self._wq if k[0] == name]:
            del self._wq[key]

    def operand(self, name: str, val: Val) -> tuple[np.ndarray, float]:
        """Per-tensor integer operand: its stored integers, or quantised with its calibrated scale."""
        if val.scale is not None:
            return val.data, val.scale
        s = self.plan.tensor_scale(name)
        return quantize_np(val.data, s, self.qmax), s

    def weight_operand(self, name: str, val: Val, scale: np.ndarray, axis: int) -> np.ndarray:
        key = (name, axis)
        if key not in self._wq:
            w = val.data
            shape = [1] * w.ndim
            shape[axis] = -1
            self._wq[key] = quantize_np(w, np.asarray(scale).reshape(shape), self.qmax)
        return self._wq[key]


# ---------------------------------------------------------------------------------------------
# records passed to observers
# ---------------------------------------------------------------------------------------------


@dataclass
class GemmRecord:
    batch: int
    M: int
    N: int
    K: int
    to_bmn: Callable[[np.ndarray], np.ndarray]
    A3: np.ndarray | None = None  # fp32 operands as the op saw them (float schemes), bmn layout
    B3: np.ndarray | None = None
    alpha: float = 1.0
    addend: np.ndarray | None = None  # beta * bias, fp32, broadcastable to [batch, M, N]
    ref_inputs: list[torch.Tensor] | None = None  # the IR op's inputs as the op saw them (fp32)
    acc: np.ndarray | None = None  # integer schemes: int32 accumulators (int64 dtype), natural
    k_tiles: int = 1  # most K tiles accumulated into one output tile
    integer_gemm: bool = False
    overflows: int = 0  # integer schemes: accumulators that left the int32 range (and wrapped)


@dataclass
class PieceRecord:
    mop: MappedOp
    op: Op
    what: str  # "layout" | "vector" | "gemm" | "sdpa.qk" | "sdpa.softmax" | "sdpa.av" | "missing"
    outputs: list[tuple[str, Val]]
    problems: list[str] = field(default_factory=list)
    inputs: list[Val] | None = None
    full: list[np.ndarray] | None = None  # vector pieces: the op's result before storage rounding
    gemm: GemmRecord | None = None
    batch_range: tuple[int, int] = (0, 0)
    valid: np.ndarray | None = None  # fused attention QK^T: the score entries the tiles computed


class Observer(Protocol):
    def piece(self, rec: PieceRecord) -> None: ...

    def op_done(self, op: Op) -> None: ...


class MissingTensor(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# the tile loop
# ---------------------------------------------------------------------------------------------


def _exact_mm(a: np.ndarray, b: np.ndarray, kchunk: int | None) -> np.ndarray:
    k = a.shape[-1]
    if kchunk is None or k <= kchunk:
        return np.matmul(a, b).astype(np.int64)
    acc = None
    for s in range(0, k, kchunk):
        p = np.matmul(a[:, s:s + kchunk], b[s:s + kchunk]).astype(np.int64)
        acc = p if acc is None else acc + p
    return acc  # type: ignore[return-value]


def _merge(iv: list[tuple[int, int]]) -> tuple[int, bool]:
    """(covered length, overlap?) of [lo, hi) intervals."""
    iv = sorted(iv)
    cov, end, overlap = 0, -1, False
    for lo, hi in iv:
        if lo < end:
            overlap = True
            lo = end
        if hi > lo:
            cov += hi - lo
            end = max(end, hi)
    return cov, overlap


def run_tiles(
    tiles: Sequence[Tile],
    A: np.ndarray,
    B: np.ndarray,
    dims: tuple[int, int, int, int],
    mode: str,
    kchunk: int | None = None,
) -> tuple[np.ndarray, list[str], int]:
    """Execute GEMM tiles in order; returns (out[batch, M, N] accumulators, problems, max K tiles).

    ``mode``: "fp32" (float32 BLAS per tile, fp32 accumulation), "fp16" (fp16 accumulators:
    rounded after every K tile), "int" (exact int64 sums of exact BLAS chunks)."""
    batch, M, N, K = dims
    integer = mode == "int"
    out = np.zeros((batch, M, N), dtype=np.int64 if integer else np.float32)
    rects: list[tuple[int, int, int, int, int]] = []  # completed output tiles (b, mo, m, no, n)
    problems: list[str] = []
    open_acc: dict[tuple[str, int, int, int], list[Any]] = {}
    owner: dict[tuple[int, int, int], str] = {}
    max_k = 1
    for t in tiles:
        if len(t.offsets) != 4 or len(t.dims) != 3:
            problems.append(f"tile {t.id}: not a GEMM tile (dims {t.dims}, offsets {t.offsets})")
            continue
        b, mo, no, ko = t.offsets
        m, n, k = t.dims
        if not (0 <= b < batch and 0 <= mo and mo + m <= M and 0 <= no and no + n <= N
                and 0 <= ko and ko + k <= K and m > 0 and n > 0 and k > 0):
            problems.append(
                f"tile {t.id} on {t.unit}: offsets {t.offsets} dims {t.dims} outside the "
                f"{batch}x{M}x{N}x{K} GEMM"
            )
            continue
        a = A[b, mo:mo + m, ko:ko + k]
        bb = B[b, ko:ko + k, no:no + n]
        if integer:
            part = _exact_mm(a, bb, kchunk)
        else:
            part = np.matmul(a, bb)
            if mode == "fp16":
                part = round_fp16(part)
        key = (t.unit, b, mo, no)
        okey = (b, mo, no)
        prev = owner.get(okey)
        if prev is not None and prev != t.unit and key not in open_acc:
            problems.append(
                f"tile {t.id}: K tiles of output tile (b={b}, m={mo}, n={no}) are split across "
                f"arrays {prev} and {t.unit} (accumulators are per array)"
            )
        owner[okey] = t.unit
        st = open_acc.get(key)
        if st is None:
            st = open_acc[key] = [m, n, part, [(ko, ko + k)]]
        else:
            if (st[0], st[1]) != (m, n):
                problems.append(
                    f"tile {t.id} on {t.unit}: {m}x{n} tile accumulates into a {st[0]}x{st[1]} "
                    f"accumulator at (b={b}, m={mo}, n={no})"
                )
                mm, nn = min(m, st[0]), min(n, st[1])
                st[2][:mm, :nn] += part[:mm, :nn]
            elif mode == "fp16":
                st[2] = round_fp16(st[2] + part)
            else:
                st[2] += part
            st[3].append((ko, ko + k))
        cov, overlap = _merge(st[3])
        max_k = max(max_k, len(st[3]))
        if overlap:
            problems.append(
                f"tile {t.id} on {t.unit}: K range [{ko}, {ko + k}) of output tile "
                f"(b={b}, m={mo}, n={no}) was already accumulated"
            )
        if cov >= K:
            m0, n0 = st[0], st[1]
            out[b, mo:mo + m0, no:no + n0] = st[2]
            rects.append((b, mo, m0, no, n0))
            del open_acc[key]
    for (unit, b, mo, no), st in open_acc.items():
        ranges = sorted(st[3])
        cov, _ = _merge(ranges)
        problems.append(
            f"output tile (b={b}, m={mo}, n={no}) on {unit} never completed: its K tiles cover "
            f"{cov} of K={K} ({', '.join(f'[{lo}, {hi})' for lo, hi in ranges[:6])})"
        )
        m0, n0 = st[0], st[1]
        out[b, mo:mo + m0, no:no + n0] = st[2]  # the partial sum, to show the damage
    zero, many = _coverage(rects, batch, M, N)
    if zero:
        problems.append(f"{zero} of {batch * M * N} output elements are never written")
    if many:
        problems.append(f"{many} output elements are written more than once")
    return out, problems, max_k


def _coverage(rects: list[tuple[int, int, int, int, int]], batch: int, M: int, N: int) -> tuple[int, int]:
    """(elements written by no rectangle, elements written more than once), on the grid of the
    rectangles' edges (cheap: no per-element painting)."""
    mb = np.unique(np.array([0, M] + [r[1] for r in rects] + [r[1] + r[2] for r in rects], dtype=np.int64))
    nb = np.unique(np.array([0, N] + [r[3] for r in rects] + [r[3] + r[4] for r in rects], dtype=np.int64))
    cnt = np.zeros((batch, mb.size - 1, nb.size - 1), dtype=np.int64)
    for b, mo, m, no, n in rects:
        i0, i1 = np.searchsorted(mb, [mo, mo + m])
        j0, j1 = np.searchsorted(nb, [no, no + n])
        cnt[b, i0:i1, j0:j1] += 1
    area = np.outer(np.diff(mb), np.diff(nb))[None]
    return int((area * (cnt == 0)).sum()), int((area * (cnt > 1)).sum())


def vector_coverage(
    tiles: Sequence[Tile], out_sizes: Sequence[int], in_sizes: Sequence[int] = ()
) -> tuple[list[str], list[tuple[int, int]] | None]:
    """Check that vector tiles partition [0, total) without gaps or overlaps, where ``total`` is a
    positive multiple of an output's size (elementwise ops; k x the output for a sparse
    decoder's gather-MACs) or an input's size (reductions).

    Returns (problems, intervals) where intervals is None when the partition is clean."""
    iv = []
    probs = []
    for t in tiles:
        if len(t.offsets) != 1 or len(t.dims) != 1:
            probs.append(f"tile {t.id}: not a vector tile (dims {t.dims}, offsets {t.offsets})")
            continue
        iv.append((int(t.offsets[0]), int(t.offsets[0]) + int(t.dims[0])))
    iv.sort()
    pos = 0
    for lo, hi in iv:
        if lo > pos:
            probs.append(f"vector tiles leave elements [{pos}, {lo}) uncomputed")
        elif lo < pos:
            probs.append(f"vector tiles compute elements [{lo}, {min(pos, hi)}) twice")
        pos = max(pos, hi)
    ok = pos > 0 and (any(n > 0 and pos % n == 0 for n in out_sizes) or pos in in_sizes)
    if not ok:
        sizes = sorted(set(out_sizes) | set(in_sizes))
        probs.append(f"vector tiles cover {pos} elements; the op has {' or '.join(map(str, sizes))}")
    return probs, (iv if probs else None)


# ---------------------------------------------------------------------------------------------
# the emulator
# ---------------------------------------------------------------------------------------------


class Emulator:
    """Runs ``program`` on ``traced``'s inputs with ``numerics``; see the module docstring."""

    def __init__(
        self,
        traced: Any,
        program: Program,
        arch: ArchSpec,
        numerics: FloatNumerics | IntNumerics,
        observer: Observer | None = None,
    ) -> None:
        self.traced = traced
        self.g: Graph = traced.graph
        self.prog = program
        self.arch = arch
        self.num = numerics
        self.obs = observer
        self.ops: dict[str, Op] = {op.name: op for op in self.g.ops}
        self.env: dict[str, Val] = {}
        self.pieces_left: dict[str, int] = {}
        for m in program.ops:
            self.pieces_left[m.ir_op] = self.pieces_left.get(m.ir_op, 0) + 1
        self.uses: dict[str, int] = {}
        for op in self.g.ops:
            for i in op.inputs:
                self.uses[i] = self.uses.get(i, 0) + 1
        self.keep = set(self.g.outputs)
        self.ctx: dict[str, Any] = {}
        self.problems: list[str] = []  # program-level problems (not tied to one piece)
        self.done_ops: set[str] = set()

    # -- values ---------------------------------------------------------------------------------
    def get(self, name: str) -> Val:
        v = self.env.get(name)
        if v is not None:
            return v
        info = self.g.tensors[name]
        if info.kind == "activation":
            raise MissingTensor(name)
        src = self.traced.params.get(name)
        if src is None:
            src = self.traced.inputs.get(name)
        if src is None:
            raise MissingTensor(name)
        v = self.num.load(name, info.kind, to_np(src))
        self.env[name] = v
        return v

    def kind(self, name: str) -> str:
        return self.g.tensors[name].kind

    # -- main loop ------------------------------------------------------------------------------
    def run(self) -> dict[str, Val]:
        with torch.no_grad():
            for mop in self.prog.ops:
                op = self.ops.get(mop.ir_op)
                if op is None:
                    self.problems.append(f"program op '{mop.name}' refers to unknown IR op '{mop.ir_op}'")
                    continue
                try:
                    if mop.kind == "attention":
                        recs = self._attention(mop, op)
                    else:
                        recs = [self._piece(mop, op)]
                except MissingTensor as e:
                    recs = [PieceRecord(
                        mop, op, "missing", [],
                        [f"input '{e.args[0]}' was never produced by the program (an op is missing or out of order)"],
                    )]
                except (ValueError, IndexError, TypeError, RuntimeError) as e:  # a malformed program
                    recs = [PieceRecord(mop, op, "missing", [],
                                        [f"cannot execute this piece: {type(e).__name__}: {e}"])]
                if self.obs is not None:
                    for rec in recs:
                        self.obs.piece(rec)
                self.pieces_left[mop.ir_op] -= 1
                if self.pieces_left[mop.ir_op] == 0:
                    self._op_done(op)
        missing = [op.name for op in self.g.ops if op.name not in self.done_ops]
        if missing:
            self.problems.append(f"IR ops never executed by the program: {', '.join(missing[:10])}")
        return {o: self.env[o] for o in self.g.outputs if o in self.env}

    def _op_done(self, op: Op) -> None:
        if op.kind == "sdpa" and op.name in self.ctx and "written" in self.ctx[op.name]:
            if self.ctx[op.name]["written"].any():
                self._sdpa_finish(op)
        self.ctx.pop(op.name, None)
        self.done_ops.add(op.name)
        if self.obs is not None:
            self.obs.op_done(op)
        for i in op.inputs:
            self.uses[i] -= 1
            if self.uses[i] == 0 and i not in self.keep:
                self.env.pop(i, None)
                self.num.release(i)

    def _piece(self, mop: MappedOp, op: Op) -> PieceRecord:
        tiles = self.prog.tiles[mop.tiles[0]:mop.tiles[1]]
        bad = [t.id for t in tiles if t.op != mop.index]
        pre = [f"tiles {bad[:5]} belong to other ops"] if bad else []
        if mop.kind.startswith("sdpa."):
            rec = self._sdpa_piece(mop, op, tiles)
        elif op.kind in ("view", "const"):
            rec = self._layout(mop, op, tiles)
        elif op.kind in ("linear", "matmul", "conv2d", "conv1d") and mop.unit == "array":
            rec = self._gemm(mop, op, tiles)
        else:  # the vector unit (a GEMM mapped there too, e.g. a sparse decoder), or folded ("none")
            rec = self._vector(mop, op, tiles)
        rec.problems[:0] = pre
        return rec

    # -- layout -----------------------------------------------------------------------------------
    def _layout(self, mop: MappedOp, op: Op, tiles: Sequence[Tile]) -> PieceRecord:
        vals = [self.get(i) for i in op.inputs]
        probs: list[str] = []
        if mop.unit == "vector":
            probs, _ = vector_coverage(tiles, [self.g.tensors[o].numel for o in op.outputs],
                                       [self.g.tensors[i].numel for i in op.inputs])
        elif tiles:
            probs = [f"a free ({mop.unit}) op has {len(tiles)} tiles"]
        if isinstance(self.num, IntNumerics):
            plan = self.num.plan
            if op.outputs and all(o in plan.inherit for o in op.outputs):
                outs = run_op(op, [to_torch(v.data) for v in vals])
                sc = next(v.scale for v in vals if v.scale is not None)
                res = [Val(to_np(t), sc) for t in outs]
            else:
                outs = run_op(op, [to_torch(v.real()) for v in vals])
                res = [self.num.store(n, to_np(t)) for n, t in zip(op.outputs, outs)]
        else:
            outs = run_op(op, [to_torch(v.data) for v in vals])
            fl = [v for v in vals if v.data.dtype == np.float32]
            rounded = bool(fl) and all(v.rounded for v in fl)
            res = [Val(to_np(t), rounded=rounded and t.dtype == torch.float32) for t in outs]
        for n, v in zip(op.outputs, res):
            self.env[n] = v
        return PieceRecord(mop, op, "layout", list(zip(op.outputs, res)), probs, inputs=vals)

    # -- vector -------------------------------------------------------------------------------------
    def _vector(self, mop: MappedOp, op: Op, tiles: Sequence[Tile]) -> PieceRecord:
        vals = [self.get(i) for i in op.inputs]
        args = [to_torch(v.real()) for v in vals]
        outs = vector_compute(op, args, self.num.vec)
        full = [to_np(t) for t in outs]
        if mop.unit == "vector":
            probs, iv = vector_coverage(tiles, [a.size for a in full], [self.g.tensors[i].numel for i in op.inputs])
        else:  # folded into another piece by the mapper: computed exactly, no tiles of its own
            probs, iv = ([f"a free ({mop.unit}) op has {len(tiles)} tiles"] if tiles else []), None
        res = []
        for idx, (n, arr) in enumerate(zip(op.outputs, full)):
            if iv is not None and idx == 0:
                arr = _assemble(arr, iv)
            res.append(self.num.store(n, arr))
        for n, v in zip(op.outputs, res):
            self.env[n] = v
        return PieceRecord(mop, op, "vector", list(zip(op.outputs, res)), probs, inputs=vals, full=full)

    # -- GEMM -----------------------------------------------------------------------------------------
    def _gemm_ctx(self, op: Op, mop: MappedOp | None = None) -> dict[str, Any]:
        hit = self.ctx.get(op.name)
        if hit is not None:
            return hit  # type: ignore[no-any-return]
        lay = gemm_layout(op, self.g)
        packed = int((mop.plan or {}).get("packed_groups", 1) or 1) if mop is not None else 1
        if packed > 1:  # groups packed per block-diagonal GEMM (mapping/lowering.py)
            lay = packed_layout(lay, packed)
        a_name, b_name = op.inputs[0], op.inputs[1]
        va, vb = self.get(a_name), self.get(b_name)
        c: dict[str, Any] = {"layout": lay}
        alpha = float(op.attrs.get("alpha", 1)) if op.kind == "matmul" else 1.0
        beta = float(op.attrs.get("beta", 1)) if op.kind == "matmul" else 1.0
        bias = self.get(op.inputs[2]) if len(op.inputs) > 2 else None
        int_dtypes = not is_float(self.g.tensors[a_name].dtype) and not is_float(self.g.tensors[b_name].dtype)
        if int_dtypes:  # an integer GEMM (e.g. gemm:...,dtype=int8): exact on every scheme
            big = max(int(np.abs(va.data).max(initial=0)), int(np.abs(vb.data).max(initial=0)))
            ft: Any = np.float32 if big <= 128 else np.float64  # exact products and partial sums
            kc = INT8_K_CHUNK if big <= 128 else max(1, (1 << 52) // max(1, big * big))
            A3, B3 = lay.a3(va.data).astype(ft), lay.b3(vb.data).astype(ft)
            c.update(mode="int", A=A3, B=B3, kchunk=kc, integer_gemm=True,
                     out_dtype=self.g.tensors[op.outputs[0]].dtype)
            return self.ctx.setdefault(op.name, c)
        if isinstance(self.num, IntNumerics):
            qp = self.num.plan.gemm[op.name]
            qa, _ = self.num.operand(a_name, va)
            if qp.b_per_channel:
                qb = self.num.weight_operand(b_name, vb, qp.b_scale, qp.b_axis)
            else:
                qb, _ = self.num.operand(b_name, vb)
            mt = self.num.mm_dtype
            c["qmax"] = self.num.qmax
            bq = qp.bias_q
            if qp.bias_runtime and bias is not None:
                bq = bias_to_int(bias.real(), qp.beta, qp.real)
            c.update(mode="int", A=lay.a3(qa.astype(mt)), B=lay.b3(qb.astype(mt)), kchunk=self.num.kchunk, qp=qp,
                     bias_q=None if bq is None else lay.addend_bmn(bq))
        else:
            A3 = lay.a3(self.num.operand(a_name, self.kind(a_name), va))
            B3 = lay.b3(self.num.operand(b_name, self.kind(b_name), vb))
            mode = "fp16" if self.num.acc == "fp16" else "fp32"
            addend = None
            if bias is not None:
                addend = lay.addend_bmn(bias.data.astype(np.float32) * np.float32(beta) if beta != 1
                                        else bias.data.astype(np.float32))
            ref_in = [to_torch(v.data) for v in [va, vb] + ([bias] if bias is not None else [])]
            c.update(mode=mode, A=A3, B=B3, kchunk=None, alpha=alpha, addend=addend, ref_inputs=ref_in,
                     A_ref=lay.a3(va.data.astype(np.float32, copy=False)),
                     B_ref=lay.b3(vb.data.astype(np.float32, copy=False)))
        return self.ctx.setdefault(op.name, c)

    def _gemm(self, mop: MappedOp, op: Op, tiles: Sequence[Tile]) -> PieceRecord:
        c = self._gemm_ctx(op, mop)
        lay: GemmLayout = c["layout"]
        dims = (lay.batch, lay.M, lay.N, lay.K)
        probs: list[str] = []
        if tuple(mop.gemm) != dims:
            probs.append(f"program GEMM dims (batch, M, N, K) = {tuple(mop.gemm)} but the op is {dims}")
        acc, p2, kt = run_tiles(tiles, c["A"], c["B"], dims, c["mode"], c["kchunk"])
        probs += p2
        out_name = op.outputs[0]
        rec_g = GemmRecord(lay.batch, lay.M, lay.N, lay.K, lay.to_bmn, k_tiles=kt)
        if c.get("integer_gemm"):
            if c["out_dtype"] == "int32":
                acc = wrap_int32_np(acc)
            arr = lay.to_out(acc).astype(np.dtype(c["out_dtype"]) if c["out_dtype"] != "bfloat16" else np.float32)
            val = Val(arr)
            rec_g.integer_gemm = True
            rec_g.acc = lay.to_out(acc)
        elif c["mode"] == "int":
            qp = c["qp"]
            acc, ov = _wrap_count(acc)
            if c["bias_q"] is not None:
                acc, ov2 = _wrap_count(acc + c["bias_q"])
                ov += ov2
            rec_g.overflows = ov
            rec_g.acc = lay.to_out(acc)
            if qp.out_stored == "q":
                q = requantize_np(acc, lay.chan_bmn(qp.m0), lay.chan_bmn(qp.shift), c["qmax"])
                val = Val(lay.to_out(q), qp.out_scale)
            else:
                val = Val(lay.to_out(dequant_np(acc, lay.chan_bmn(qp.real))))
        else:
            if c["alpha"] != 1:
                acc *= np.float32(c["alpha"])
            if c["addend"] is not None:
                acc += c["addend"]
            if c["mode"] == "fp16":
                acc = round_fp16(acc)
            val = self.num.store(out_name, lay.to_out(acc), owned=True)
            rec_g.A3, rec_g.B3 = c["A_ref"], c["B_ref"]
            rec_g.alpha, rec_g.addend, rec_g.ref_inputs = c["alpha"], c["addend"], c["ref_inputs"]
        self.env[out_name] = val
        ins = [self.get(i) for i in op.inputs]
        return PieceRecord(mop, op, "gemm", [(out_name, val)], probs, inputs=ins, gemm=rec_g)

    # -- SDPA pieces ------------------------------------------------------------------------------------
    def _sdpa_ctx(self, op: Op) -> dict[str, Any]:
        hit = self.ctx.get(op.name)
        if hit is not None:
            return hit  # type: ignore[no-any-return]
        T = self.g.tensors
        qn, kn, vn = op.inputs[:3]
        vals = [self.get(n) for n in op.inputs]
        *bq, L, D = T[qn].shape
        S, Dv = T[kn].shape[-2], T[vn].shape[-1]
        BH = math.prod(bq) if bq else 1

        def flat(x: np.ndarray, last: tuple[int, int]) -> np.ndarray:
            if op.attrs.get("enable_gqa") and x.ndim >= 3 and bq and x.shape[-3] != bq[-1]:
                x = np.repeat(x, bq[-1] // x.shape[-3], axis=-3)
            return np.broadcast_to(x, (*bq, *last)).reshape(BH, *last)

        c: dict[str, Any] = {"BH": BH, "L": L, "S": S, "D": D, "Dv": Dv, "bq": bq}
        if isinstance(self.num, IntNumerics):
            sq = self.num.plan.sdpa[op.name]
            (q, _), (k, _), (v, _) = (self.num.operand(n, val) for n, val in zip(op.inputs[:3], vals[:3]))
            mt = self.num.mm_dtype
            c.update(mode="int", kchunk=self.num.kchunk, sq=sq, qmax=self.num.qmax, mm_dtype=mt,
                     Q=flat(q, (L, D)).astype(mt), K=flat(k, (S, D)).astype(mt), V=flat(v, (S, Dv)).astype(mt))
            qdt = np.int8 if self.num.qmax <= 127 else np.int16
            c["out"] = np.zeros((BH, L, Dv), dtype=qdt if sq.out_stored == "q" else np.float32)
            c["out_scale"] = sq.out_scale
        else:
            ops_ = [self.num.operand(n, self.kind(n), val) for n, val in zip(op.inputs[:3], vals[:3])]
            mode = "fp16" if self.num.acc == "fp16" else "fp32"
            c.update(mode=mode, kchunk=None, Q=flat(ops_[0], (L, D)), K=flat(ops_[1], (S, D)),
                     V=flat(ops_[2], (S, Dv)))
            c["out"] = np.zeros((BH, L, Dv), dtype=np.float32)
            c["out_scale"] = None
        mask = None
        if len(op.inputs) > 3:
            m = vals[3].real()
            mask = np.broadcast_to(m, (*bq, L, S)).reshape(BH, L, S)
        c["mask"] = mask
        c["written"] = np.zeros(BH, dtype=np.int64)
        return self.ctx.setdefault(op.name, c)

    def _sdpa_piece(self, mop: MappedOp, op: Op, tiles: Sequence[Tile]) -> PieceRecord:
        c = self._sdpa_ctx(op)
        BH, L, S, D, Dv = c["BH"], c["L"], c["S"], c["D"], c["Dv"]
        qk = _qk_piece(self.prog, mop) if mop.kind == "sdpa.softmax" else mop
        br = qk.batch_range if qk is not None else (0, 0)
        b0, b1 = br if br != (0, 0) else (0, BH)
        hb = b1 - b0
        probs: list[str] = []
        if not (0 <= b0 < b1 <= BH):
            return PieceRecord(mop, op, mop.kind, [], [f"batch range {mop.batch_range} outside the {BH} heads"])
        if mop.kind == "sdpa.qk":
            pname = mop.operands[2] if len(mop.operands) > 2 else f"{mop.name}.p"
            dims = (hb, L, S, D)
            if tuple(mop.gemm) != dims:
                probs.append(f"program GEMM dims (batch, M, N, K) = {tuple(mop.gemm)} but QK^T is {dims}")
            A, B = c["Q"][b0:b1], c["K"][b0:b1].transpose(0, 2, 1)
            acc, p2, kt = run_tiles(tiles, A, B, dims, c["mode"], c["kchunk"])
            probs += p2
            g = GemmRecord(hb, L, S, D, lambda x: x, k_tiles=kt)
            if c["mode"] == "int":
                acc, g.overflows = _wrap_count(acc)
                val = Val(acc, c["sq"].score_scale)
                g.acc = acc
            else:
                if c["mode"] == "fp16":
                    acc = round_fp16(acc)
                val = self.num.store(pname, acc, owned=True)
                g.A3, g.B3 = A, B
            self.env[pname] = val
            return PieceRecord(mop, op, "sdpa.qk", [(pname, val)], probs, gemm=g, batch_range=(b0, b1))
        if mop.kind == "sdpa.softmax":
            pname = qk.operands[2] if qk is not None and len(qk.operands) > 2 else f"{mop.ir_op}.p"
            sv = self.env.get(pname)
            if sv is None:
                raise MissingTensor(pname)
            if sv.data.shape != (hb, L, S):
                return PieceRecord(mop, op, "sdpa.softmax", [],
                                   [f"scores have shape {sv.data.shape}, expected {(hb, L, S)}"])
            scores = to_torch(sv.real())
            mask = None if c["mask"] is None else to_torch(c["mask"][b0:b1])
            p = to_np(sdpa_softmax(scores, op.attrs, D, mask))
            if self.num.vec != "fp32":
                p = to_np(torch.from_numpy(p).to(_TORCH_FMT[self.num.vec]))
            probs2, iv = vector_coverage(tiles, [p.size])
            probs += probs2
            pa = _assemble(p, iv) if iv is not None else p
            if isinstance(self.num, IntNumerics):
                val = Val(quantize_np(pa, self.num.plan.p_scale, self.num.qmax), self.num.plan.p_scale)
            else:
                val = self.num.store(pname, pa)
            self.env[pname] = val
            return PieceRecord(mop, op, "sdpa.softmax", [(pname, val)], probs, inputs=[sv], full=[p],
                               batch_range=(b0, b1))
        # sdpa.av
        pname = mop.operands[0] if mop.operands else f"{mop.ir_op}.p"
        pv = self.env.get(pname)
        if pv is None:
            raise MissingTensor(pname)
        dims = (hb, L, Dv, S)
        if tuple(mop.gemm) != dims:
            probs.append(f"program GEMM dims (batch, M, N, K) = {tuple(mop.gemm)} but P.V is {dims}")
        if pv.data.shape != (hb, L, S):
            return PieceRecord(mop, op, "sdpa.av", [], probs + [f"P has shape {pv.data.shape}, expected {(hb, L, S)}"])
        out_name = op.outputs[0]
        if c["mode"] == "int":
            A = pv.data.astype(c["mm_dtype"])
        else:
            A = pv.data
        B = c["V"][b0:b1]
        acc, p2, kt = run_tiles(tiles, A, B, dims, c["mode"], c["kchunk"])
        probs += p2
        g = GemmRecord(hb, L, Dv, S, lambda x: x, k_tiles=kt)
        if c["mode"] == "int":
            sq = c["sq"]
            acc, g.overflows = _wrap_count(acc)
            g.acc = acc
            if sq.out_stored == "q":
                blk = requantize_np(acc, sq.m0, sq.shift, c["qmax"])
            else:
                blk = dequant_np(acc, sq.av_real)
            val = Val(blk, sq.out_scale)
        else:
            if c["mode"] == "fp16":
                acc = round_fp16(acc)
            val = self.num.store(out_name, acc, owned=True)
            g.A3, g.B3 = A, B
        c["out"][b0:b1] = val.data
        c["written"][b0:b1] += 1
        self.env.pop(pname, None)
        return PieceRecord(mop, op, "sdpa.av", [(out_name, val)], probs, gemm=g, batch_range=(b0, b1))

    # -- fused attention (one MappedOp; tiles with roles qk / softmax / pv) -----------------------
    def _attention_ctx(self, op: Op) -> dict[str, Any]:
        if op.kind == "sdpa":
            return self._sdpa_ctx(op)
        hit = self.ctx.get(op.name)
        if hit is not None:
            return hit  # type: ignore[no-any-return]
        T = self.g.tensors
        qn, kn, vn = op.inputs[:3]
        layout = str(op.attrs.get("k_layout", "ds"))
        vals = [self.get(n) for n in op.inputs]
        *bq, L, D = T[qn].shape
        kshape = T[kn].shape
        S = kshape[-1] if layout == "ds" else kshape[-2]
        Dv = T[vn].shape[-1]
        BH = math.prod(bq) if bq else 1

        def flat(x: np.ndarray, last: tuple[int, int]) -> np.ndarray:
            return np.broadcast_to(x, (*bq, *last)).reshape(BH, *last)

        def kflat(x: np.ndarray) -> np.ndarray:
            x = np.broadcast_to(x, (*bq, *kshape[-2:]))
            x = np.swapaxes(x, -1, -2) if layout == "ds" else x
            return np.ascontiguousarray(x).reshape(BH, S, D)

        c: dict[str, Any] = {"BH": BH, "L": L, "S": S, "D": D, "Dv": Dv, "bq": bq}
        if isinstance(self.num, IntNumerics):
            sq = self.num.plan.sdpa[op.name]
            (q, _), (k, _), (v, _) = (self.num.operand(n, val) for n, val in zip(op.inputs[:3], vals[:3]))
            mt = self.num.mm_dtype
            c.update(mode="int", kchunk=self.num.kchunk, sq=sq, qmax=self.num.qmax, mm_dtype=mt,
                     Q=flat(q, (L, D)).astype(mt), K=kflat(k).astype(mt), V=flat(v, (S, Dv)).astype(mt))
            c["out_scale"] = sq.out_scale
        else:
            ops_ = [self.num.operand(n, self.kind(n), val) for n, val in zip(op.inputs[:3], vals[:3])]
            mode = "fp16" if self.num.acc == "fp16" else "fp32"
            c.update(mode=mode, kchunk=None, Q=flat(ops_[0], (L, D)), K=kflat(ops_[1]), V=flat(ops_[2], (S, Dv)))
            c["out_scale"] = None
        c["mask"] = None
        c["extras"] = {n: to_torch(v.real()) for n, v in zip(op.inputs[3:], vals[3:])}
        from accelsim.workload.opset import expand

        qk, _, _ = attention_parts(op)
        _, env = expand(op, [T[n] for n in op.inputs])
        c["scores_shape"] = tuple(env[qk.outputs[0]].shape) if qk is not None else (*bq, L, S)
        return self.ctx.setdefault(op.name, c)

    def _attention(self, mop: MappedOp, op: Op) -> list[PieceRecord]:
        """A fused attention op: its QK^T tiles fill the score blocks they cover, the softmax
        tiles normalise whole query rows, the P.V tiles accumulate the output rows; reported as
        QK^T, softmax and P.V pieces per head (the checks of the unfused pieces apply)."""
        tiles = self.prog.tiles[mop.tiles[0]:mop.tiles[1]]
        c = self._attention_ctx(op)
        BH, L, S, D, Dv = c["BH"], c["L"], c["S"], c["D"], c["Dv"]
        integer = c["mode"] == "int"
        scores = np.zeros((BH, L, S), dtype=np.int64 if integer else np.float32)
        valid = np.zeros((BH, L, S), dtype=bool)
        rows_sm = np.zeros((BH, L), dtype=np.int64)
        out = np.zeros((BH, L, Dv), dtype=np.int64 if integer else np.float32)
        rows_pv = np.zeros((BH, L), dtype=np.int64)
        probs: list[str] = []
        pv_tiles = []
        for t in tiles:
            if t.role not in ("qk", "softmax", "pv") or len(t.offsets) < 2:
                probs.append(f"tile {t.id}: not a fused-attention tile (role {t.role!r})")
                continue
            b, q0 = int(t.offsets[0]), int(t.offsets[1])
            if not (0 <= b < BH and 0 <= q0 < L):
                probs.append(f"tile {t.id}: head {b} / query row {q0} outside the {BH}x{L} attention")
                continue
            if t.role == "qk":
                m, se = int(t.dims[0]), int(t.dims[1])
                a = c["Q"][b, q0:q0 + m]
                kk = c["K"][b, :se]
                part = _exact_mm(a, kk.T, c["kchunk"]) if integer else np.matmul(a, kk.T)
                if c["mode"] == "fp16":
                    part = round_fp16(part)
                scores[b, q0:q0 + m, :se] = part
                valid[b, q0:q0 + m, :se] = True
            elif t.role == "softmax":
                m = int(t.dims[0])
                rows_sm[b, q0:q0 + m] += 1
            else:
                pv_tiles.append(t)
        # softmax of every row (rows are independent; causal / masked entries are never used)
        if integer:
            sq = c["sq"]
            sc, ov = _wrap_count(scores)
            scores_real = to_torch(dequant_np(sc, sq.score_scale))
        else:
            sc, ov = scores, 0
            scores_real = to_torch(scores)
        p = to_np(attention_probs(op, scores_real, c.get("extras", {}), D,
                                  None if c.get("mask") is None else to_torch(np.ascontiguousarray(c["mask"])),
                                  c.get("scores_shape")))
        if self.num.vec != "fp32":
            p = to_np(torch.from_numpy(p).to(_TORCH_FMT[self.num.vec]))
        if integer:
            pq = quantize_np(p, self.num.plan.p_scale, self.num.qmax)  # type: ignore[union-attr]
            pa = pq.astype(c["mm_dtype"])
        else:
            pval = self.num.store(f"{op.name}.p", p.copy())
            pa = pval.data
        for t in pv_tiles:
            b, q0 = int(t.offsets[0]), int(t.offsets[1])
            m, se = int(t.dims[0]), int(t.dims[2])
            if se < S and (pa[b, q0:q0 + m, se:] != 0).any():
                probs.append(f"tile {t.id}: P.V over {se} keys drops non-zero probabilities")
            part = _exact_mm(pa[b, q0:q0 + m, :se], c["V"][b, :se], c["kchunk"]) if integer else \
                np.matmul(pa[b, q0:q0 + m, :se], c["V"][b, :se])
            if c["mode"] == "fp16":
                part = round_fp16(part)
            out[b, q0:q0 + m] += part
            rows_pv[b, q0:q0 + m] += 1
        for what, cnt in (("softmax", rows_sm), ("P.V", rows_pv)):
            if (cnt != 1).any():
                miss, dup = int((cnt == 0).sum()), int((cnt > 1).sum())
                probs.append(f"{what} tiles: {miss} query rows never computed, {dup} computed more than once")
        need = np.zeros((BH, L, S), dtype=bool)
        if op.attrs.get("is_causal") or False:
            need |= ~_causal_drop(L, S).numpy()[None]
        else:
            need[:] = True
        if (need & ~valid).any():
            probs.append(f"QK^T tiles leave {int((need & ~valid).sum())} needed scores uncomputed")
        # results
        if integer:
            sq = c["sq"]
            acc, ov2 = _wrap_count(out)
            if sq.out_stored == "q":
                blk = requantize_np(acc, sq.m0, sq.shift, c["qmax"])
            else:
                blk = dequant_np(acc, sq.av_real)
            oval = Val(blk.reshape(self.g.tensors[op.outputs[0]].shape), sq.out_scale)
        else:
            acc, ov2 = out, 0
            oval = self.num.store(op.outputs[0], out.reshape(self.g.tensors[op.outputs[0]].shape).copy(), owned=True)
        self.env[op.outputs[0]] = oval
        flat_out = oval.data.reshape(BH, L, Dv)
        recs: list[PieceRecord] = []
        pname = f"{op.name}.p"
        for b in range(BH):
            gq = GemmRecord(1, L, S, D, lambda x: x, k_tiles=1)
            if integer:
                gq.acc = sc[b:b + 1]
                qv = Val(sc[b:b + 1], c["sq"].score_scale)
            else:
                gq.A3, gq.B3 = c["Q"][b:b + 1], np.ascontiguousarray(c["K"][b:b + 1].transpose(0, 2, 1))
                qv = Val(scores[b:b + 1])
            gq.overflows = ov if b == 0 else 0
            recs.append(PieceRecord(mop, op, "sdpa.qk", [(pname, qv)], probs if b == 0 else [], gemm=gq,
                                    batch_range=(b, b + 1), valid=valid[b:b + 1]))
            if integer:
                pv_ = Val(pq[b:b + 1], self.num.plan.p_scale)  # type: ignore[union-attr]
            else:
                pv_ = Val(pa[b:b + 1], rounded=True)
            recs.append(PieceRecord(mop, op, "sdpa.softmax", [(pname, pv_)], [], full=[p[b:b + 1]],
                                    batch_range=(b, b + 1)))
            ga = GemmRecord(1, L, Dv, S, lambda x: x, k_tiles=1)
            if integer:
                ga.acc = acc[b:b + 1]
                ga.overflows = ov2 if b == 0 else 0
            else:
                ga.A3, ga.B3 = pa[b:b + 1], c["V"][b:b + 1]
            recs.append(PieceRecord(mop, op, "sdpa.av", [(op.outputs[0], Val(flat_out[b:b + 1], oval.scale))], [],
                                    gemm=ga, batch_range=(b, b + 1)))
        return recs

    def _sdpa_finish(self, op: Op) -> None:
        c = self.ctx.get(op.name)
        if c is None:
            return
        w = c["written"]
        if (w != 1).any():
            miss = np.flatnonzero(w == 0)
            dup = np.flatnonzero(w > 1)
            msg = []
            if miss.size:
                msg.append(f"heads {miss[:8].tolist()} never computed")
            if dup.size:
                msg.append(f"heads {dup[:8].tolist()} computed more than once")
            self.problems.append(f"{op.where()}: P.V pieces " + "; ".join(msg))
        shape = self.g.tensors[op.outputs[0]].shape
        self.env[op.outputs[0]] = Val(c["out"].reshape(shape), c["out_scale"])


def attention_parts(op: Op) -> tuple[Op | None, list[Op], Op | None]:
    """An ``attention`` composite's (QK^T matmul, the ops from the scores to P, P.V matmul)."""
    subs = [Op.from_dict(d) for d in op.attrs.get("sub_ops") or []]
    if len(subs) < 3:
        return None, [], None
    return subs[0], subs[1:-1], subs[-1]


def attention_probs(op: Op, scores: torch.Tensor, extras: Mapping[str, torch.Tensor], D: int,
                    mask: torch.Tensor | None, scores_shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """Probabilities from fp32 scores ``[BH, L, S]``: SDPA's scale / causal / mask / softmax, or an
    ``attention`` composite's own ops between its two matmuls (run with torch on the scores laid
    out in the composite's scores shape)."""
    if op.kind == "sdpa":
        return sdpa_softmax(scores, op.attrs, D, mask)
    qk, mid, _ = attention_parts(op)
    assert qk is not None
    env: dict[str, torch.Tensor] = dict(extras)
    # the scores tensor as the model had it ([..., L, S] before flattening the heads)
    cur = qk.outputs[0]
    env[cur] = scores.reshape(scores_shape) if scores_shape is not None else scores
    for s in mid:
        outs = run_op(s, [env[t] for t in s.inputs])
        for n, v in zip(s.outputs, outs):
            env[n] = v
        cur = s.outputs[0]
    return env[cur].reshape(scores.shape).to(torch.float32)


def _qk_piece(prog: Program, mop: MappedOp) -> MappedOp | None:
    """The QK^T piece a softmax piece works on: the latest one of the same SDPA op before it
    (the mapper emits QK^T, softmax, P.V per head group)."""
    for m in reversed(prog.ops[: mop.index]):
        if m.ir_op == mop.ir_op and m.kind == "sdpa.qk":
            return m
    return None


def _wrap_count(acc: np.ndarray) -> tuple[np.ndarray, int]:
    """int32 wraparound of int64 sums, and how many elements wrapped."""
    w = wrap_int32_np(acc)
    return w, int(np.count_nonzero(w != acc))


def _assemble(full: np.ndarray, iv: list[tuple[int, int]]) -> np.ndarray:
    """The output as computed by (possibly overlapping / incomplete) vector tiles: elements no
    tile covers are 0."""
    flat = full.reshape(-1)
    out = np.zeros_like(flat)
    for lo, hi in iv:
        lo, hi = max(0, lo), min(flat.size, hi)
        if hi > lo:
            out[lo:hi] = flat[lo:hi]
    return out.reshape(full.shape)


def numerics_for(arch: ArchSpec, plan: QuantPlan | None = None) -> FloatNumerics | IntNumerics:
    """The numerics of ``arch`` (its first array group, as the mapper uses)."""
    a = arch.arrays[0]
    vec = arch.vector.precision if arch.vector.precision in FLOAT_FORMATS else "fp32"
    if a.precision in INT_FORMATS:
        if plan is None:
            raise ValueError("an integer array needs a QuantPlan")
        return IntNumerics(plan, vec)
    return FloatNumerics(a.precision, a.acc_precision, vec)


def emulate(traced: Any, program: Program, arch: ArchSpec, plan: QuantPlan | None = None) -> dict[str, np.ndarray]:
    """Run ``program`` and return the graph outputs as real (dequantised) numpy arrays."""
    if arch.arrays[0].precision in INT_FORMATS and plan is None:
        from accelsim.numerics.quant import build_plan, calibrate

        stats, _ = calibrate(traced)
        plan = build_plan(traced, arch.arrays[0].precision, stats)
    emu = Emulator(traced, program, arch, numerics_for(arch, plan))
    outs = emu.run()
    return {k: v.real() for k, v in outs.items()}
