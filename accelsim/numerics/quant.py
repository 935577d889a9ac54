"""The integer (int8 / int16) quantisation scheme used to execute a program on an integer array.

The scheme (also in docs/numerics.md):

* **Range.** Symmetric ``[-qmax, qmax]`` with ``qmax = min(127 | 32767, floor(sqrt((2^31 - 1) /
  K_max)))``, ``K_max`` the longest GEMM reduction in the graph, so no int32 accumulator can
  overflow (int8 keeps 127 up to K = 133,144; int16 on gpt2-small gets 836).
* **Calibration.** One fp32 replay of the traced model on its example inputs; every floating
  tensor ``t`` gets ``max|t|``. A per-tensor scale is ``s = max|t| / qmax`` (``s = 1`` when
  ``max|t| = 0``).
* **Storage.** Every floating activation (op output, graph input) is stored quantised,
  symmetric per tensor: ``q = clip(rint(x / s), -qmax, qmax)`` (float64 division, round half to
  even). Outputs of free layout ops (view, permute, split, ...) are the same integers with the
  producer's scale. Exceptions stay in fp32: graph outputs (the accelerator writes dequantised
  results), weights and constants (quantised when a GEMM reads them, see below; vector ops read
  them in fp32), and integer / bool tensors (kept exactly).
* **GEMM operands.** A: per-tensor (its stored integers, or quantised with its calibrated scale
  when stored in fp32). B: a weight read directly by a GEMM is quantised symmetric *per output
  channel* (``s_b[n] = max_k |W[n, k]| / qmax``); any other B is per tensor.
* **Accumulation.** int x int products summed in int32 with two's-complement wraparound.
  Bias / addend: ``bias_q = rint(beta * bias / (alpha * s_a * s_b[n]))`` added in int32.
* **Requantisation.** ``q_out = clip(round_half_even(acc * m0 / 2^shift), -qmax, qmax)`` with
  ``m0 * 2^-shift ~= alpha * s_a * s_b[n] / s_out`` (:func:`~accelsim.numerics.dtypes.multiplier_shift`:
  31-bit multiplier, shift in [1, 62], exact int64 arithmetic). GEMM outputs that are graph
  outputs are dequantised instead: ``float32(float64(acc) * (alpha * s_a * s_b[n]))``.
* **Vector ops.** Inputs dequantised ``float32(float64(q) * s)``, the op computed in the vector
  precision (fp32) with the replay semantics, the result quantised with the output's scale.
* **Attention** (SDPA pieces): QK^T on int8 Q, K (per tensor) into int32 scores, which the
  softmax piece dequantises (``float32(float64(acc) * s_q * s_k)``, not requantised); scale,
  mask and softmax in fp32; probabilities quantised with the fixed scale ``1 / qmax``; P.V into
  int32, requantised with ``m0/shift ~= s_p * s_v / s_out``.

:class:`QuantPlan` holds every scale and multiplier; both the tile-by-tile numpy emulation and
the whole-op torch reference read their parameters from it, so any difference between the two
comes from how the values were computed, never from the parameters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from accelsim.numerics.dtypes import (
    multiplier_shift,
    qmax_of,
    quantize_np,
    quantize_torch,
)

if TYPE_CHECKING:
    import torch

    from accelsim.workload.ir import Graph, Op
    from accelsim.workload.trace import Traced

__all__ = [
    "FLOAT_DTYPES",
    "GemmQ",
    "QuantPlan",
    "SdpaQ",
    "build_plan",
    "calibrate",
    "gemm_channel_axis",
    "is_float",
]

FLOAT_DTYPES = frozenset({"float64", "float32", "float16", "bfloat16"})
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def is_float(dtype: str) -> bool:
    return dtype in FLOAT_DTYPES


def scale_of(maxabs: float, qmax: int) -> float:
    return float(maxabs) / qmax if maxabs > 0 and math.isfinite(maxabs) else 1.0


def calibrate(traced: Traced) -> tuple[dict[str, float], dict[str, Any]]:
    """fp32 replay of ``traced``: ({float tensor: max|x|}, {graph output: fp32 value})."""
    import torch

    from accelsim.workload.replay import run_op

    g = traced.graph
    env: dict[str, torch.Tensor] = {**traced.params, **traced.inputs}
    stats: dict[str, float] = {}

    def note(name: str, v: torch.Tensor) -> None:
        if v.is_floating_point() and v.numel():
            stats[name] = float(v.detach().abs().max().double())
        elif v.is_floating_point():
            stats[name] = 0.0

    for name, v in env.items():
        note(name, v)
    uses: dict[str, int] = {}
    for op in g.ops:
        for i in op.inputs:
            uses[i] = uses.get(i, 0) + 1
    keep = set(g.outputs)
    with torch.no_grad():
        for op in g.ops:
            outs = run_op(op, [env[i] for i in op.inputs])
            for name, v in zip(op.outputs, outs):
                env[name] = v
                note(name, v)
            for i in op.inputs:
                uses[i] -= 1
                if uses[i] == 0 and i not in keep and g.tensors[i].kind == "activation":
                    env.pop(i, None)
    return stats, {o: env[o] for o in g.outputs}


def gemm_channel_axis(op: Op, graph: Graph) -> int:
    """Axis of the output channel (N) in a weight B read directly by ``op``."""
    if op.kind in ("linear", "conv2d", "conv1d"):
        return 0
    nb = len(graph.tensors[op.inputs[1]].shape)
    if op.attrs.get("transpose_b"):
        return nb - 2 if nb >= 2 else 0
    return nb - 1


@dataclass(frozen=True)
class GemmQ:
    """Integer parameters of one linear / matmul / conv2d op."""

    integer: bool  # both operands have integer dtypes: exact integer GEMM, no scales
    a_scale: float = 1.0
    b_scale: np.ndarray = field(default_factory=lambda: np.ones(()))  # [N] per channel or ()
    b_per_channel: bool = False
    b_axis: int = 0  # channel axis of B (natural layout) when per channel
    out_stored: str = "q"  # "q" (requantised) or "f" (dequantised fp32)
    out_scale: float | None = None
    real: np.ndarray = field(default_factory=lambda: np.ones(()))  # alpha * s_a * s_b  ([N] or ())
    m0: np.ndarray = field(default_factory=lambda: np.ones((), np.int64))
    shift: np.ndarray = field(default_factory=lambda: np.ones((), np.int64))
    bias_q: np.ndarray | None = None  # int64, natural bias shape (a parameter bias)
    beta: float = 1.0
    bias_runtime: bool = False  # the addend is an activation: quantised with bias_to_int at run time


@dataclass(frozen=True)
class SdpaQ:
    q_scale: float
    k_scale: float
    v_scale: float
    p_scale: float
    out_stored: str
    out_scale: float | None
    m0: np.ndarray
    shift: np.ndarray

    @property
    def score_scale(self) -> float:
        return self.q_scale * self.k_scale

    @property
    def av_real(self) -> float:
        return self.p_scale * self.v_scale


@dataclass
class QuantPlan:
    """Scales of every tensor and the integer parameters of every GEMM op (see module doc)."""

    precision: str  # "int8" | "int16"
    qmax: int
    calib_max: dict[str, float]
    stored: dict[str, str]  # tensor -> "q" (integers + per-tensor scale) | "f" (fp32) | "i" (ints)
    scale: dict[str, float]  # per-tensor scale of every "q" tensor
    inherit: set[str] = field(default_factory=set)  # "q" outputs of views (producer's scale)
    gemm: dict[str, GemmQ] = field(default_factory=dict)
    sdpa: dict[str, SdpaQ] = field(default_factory=dict)
    _wscale: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)

    @property
    def p_scale(self) -> float:
        return 1.0 / self.qmax

    def tensor_scale(self, name: str) -> float:
        """Per-tensor scale: the stored one, else the calibrated one."""
        if name in self.scale:
            return self.scale[name]
        return scale_of(self.calib_max.get(name, 0.0), self.qmax)

    def to_dict(self) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "activation_scales": {k: self.scale[k] for k in sorted(self.scale)},
        }

    # -- operand quantisation (numpy and torch versions agree bit for bit) ---------------------
    def weight_scale(self, name: str, w: np.ndarray, axis: int) -> np.ndarray:
        key = (name, axis)
        if key not in self._wscale:
            a = np.abs(np.asarray(w, dtype=np.float64))
            other = tuple(i for i in range(a.ndim) if i != axis)
            m = a.max(axis=other) if other else a
            self._wscale[key] = np.where(m > 0, m / self.qmax, 1.0)
        return self._wscale[key]

    def channel_shape(self, ndim: int, axis: int, n: int) -> tuple[int, ...]:
        s = [1] * ndim
        s[axis] = n
        return tuple(s)

    def quantize_np(self, x: np.ndarray, scale: Any) -> np.ndarray:
        return quantize_np(x, scale, self.qmax)

    def quantize_torch(self, x: torch.Tensor, scale: Any) -> torch.Tensor:
        return quantize_torch(x, scale, self.qmax)


def _gemm_q(plan: QuantPlan, op: Op, graph: Graph, params: Mapping[str, Any]) -> GemmQ:
    T = graph.tensors
    a, b = op.inputs[0], op.inputs[1]
    if not is_float(T[a].dtype) and not is_float(T[b].dtype):
        return GemmQ(integer=True)
    alpha = float(op.attrs.get("alpha", 1)) if op.kind == "matmul" else 1.0
    beta = float(op.attrs.get("beta", 1)) if op.kind == "matmul" else 1.0
    if alpha == 0:
        raise ValueError(f"{op.where()}: alpha = 0 is not supported by the integer scheme")
    s_a = plan.tensor_scale(a)
    b_info = T[b]
    per_channel = b_info.kind == "weight" and is_float(b_info.dtype) and len(b_info.shape) >= 1
    if op.kind == "matmul" and len(b_info.shape) > 2:
        per_channel = False  # batched weights: per tensor
    axis = gemm_channel_axis(op, graph)
    if per_channel:
        w = np.asarray(_np(params[b]), dtype=np.float64)
        s_b = plan.weight_scale(b, w, axis)
    else:
        s_b = np.asarray(plan.tensor_scale(b), dtype=np.float64)
    out = op.outputs[0]
    real = alpha * s_a * s_b  # float64, [N] or ()
    stored = plan.stored.get(out, "f")
    s_out = plan.scale[out] if stored == "q" else None
    if s_out is not None:
        m0, shift = multiplier_shift(real / s_out)
    else:
        m0, shift = np.ones((), np.int64), np.ones((), np.int64)
    bias_q = None
    runtime = False
    if len(op.inputs) > 2:
        if op.inputs[2] in params:
            bias_q = bias_to_int(_np(params[op.inputs[2]]), beta, real)
        else:  # an activation addend (addmm): quantised the same way when it is known
            runtime = True
    return GemmQ(
        integer=False, a_scale=s_a, b_scale=s_b, b_per_channel=per_channel, b_axis=axis,
        out_stored=stored, out_scale=s_out, real=np.asarray(real, dtype=np.float64), m0=m0,
        shift=shift, bias_q=bias_q, beta=beta, bias_runtime=runtime,
    )


def bias_to_int(bias: Any, beta: float, real: np.ndarray) -> np.ndarray:
    """``clip(rint(beta * bias / (alpha s_a s_b)), int32)`` in float64 (``real`` = alpha s_a s_b,
    per channel along the bias's last axis, or for conv its only axis)."""
    bq = np.rint(beta * np.asarray(bias, dtype=np.float64) / real)
    return np.clip(bq, INT32_MIN, INT32_MAX).astype(np.int64)


def bias_to_int_torch(bias: torch.Tensor, beta: float, real: np.ndarray) -> torch.Tensor:
    """:func:`bias_to_int` with torch ops."""
    import torch

    bq = torch.round(beta * bias.to(torch.float64) / torch.as_tensor(np.asarray(real, dtype=np.float64)))
    return bq.clamp_(INT32_MIN, INT32_MAX).to(torch.int64)


def _np(v: Any) -> np.ndarray:
    if hasattr(v, "detach"):
        return v.detach().cpu().float().numpy() if v.is_floating_point() else v.detach().cpu().numpy()
    return np.asarray(v)


def max_reduction(graph: Graph) -> int:
    """The longest reduction (K) of any GEMM-like op in ``graph``."""
    T = graph.tensors
    k = 1
    for op in graph.ops:
        if op.kind in ("linear", "matmul"):
            k = max(k, T[op.inputs[0]].shape[-1] if T[op.inputs[0]].shape else 1)
        elif op.kind in ("conv2d", "conv1d"):
            k = max(k, math.prod(T[op.inputs[1]].shape[1:]))
        elif op.kind == "sdpa":
            k = max(k, T[op.inputs[0]].shape[-1], T[op.inputs[1]].shape[-2])
        elif op.kind == "attention":  # q [.., L, D], k^T [.., D, S] (or k [.., S, D])
            k = max(k, T[op.inputs[0]].shape[-1], *T[op.inputs[1]].shape[-2:])
    return k


def safe_qmax(k: int) -> int:
    """Largest symmetric range whose K-long sums of products fit int32: floor(sqrt((2^31-1)/K))."""
    return max(1, math.isqrt(((1 << 31) - 1) // max(1, k)))


def build_plan(traced: Traced, precision: str, calib_max: Mapping[str, float]) -> QuantPlan:
    """Decide the storage of every tensor and the integer parameters of every GEMM-like op."""
    g = traced.graph
    qmax = min(qmax_of(precision), safe_qmax(max_reduction(g)))
    stored: dict[str, str] = {}
    scale: dict[str, float] = {}
    outputs = set(g.outputs)
    for name, t in g.tensors.items():
        if t.kind == "activation":
            continue
        if not is_float(t.dtype):
            stored[name] = "i"
        elif t.kind == "input" and name not in outputs:
            stored[name] = "q"
            scale[name] = scale_of(calib_max.get(name, 0.0), qmax)
        else:
            stored[name] = "f"
    inherit: set[str] = set()
    for op in g.ops:
        fin = [i for i in op.inputs if is_float(g.tensors[i].dtype)]
        for o in op.outputs:
            if not is_float(g.tensors[o].dtype):
                stored[o] = "i"
            elif o in outputs:
                stored[o] = "f"
            elif op.kind in ("view", "const") and len(fin) <= 1 and all(stored.get(i) != "q" for i in fin):
                stored[o] = "f"  # a view of fp32 values (a weight, a graph output) or a constant
            elif op.kind == "view" and len(fin) == 1 and stored.get(fin[0]) == "q":
                stored[o] = "q"  # same integers, producer's scale
                scale[o] = scale[fin[0]]
                inherit.add(o)
            else:
                stored[o] = "q"
                scale[o] = scale_of(calib_max.get(o, 0.0), qmax)
    plan = QuantPlan(precision, qmax, dict(calib_max), stored, scale, inherit)
    params = traced.params
    for op in g.ops:
        if op.kind in ("linear", "matmul", "conv2d", "conv1d"):
            plan.gemm[op.name] = _gemm_q(plan, op, g, params)
        elif op.kind in ("sdpa", "attention"):
            out = op.outputs[0]
            st = stored.get(out, "f")
            s_out = scale[out] if st == "q" else None
            sq, sk, sv = (plan.tensor_scale(n) for n in op.inputs[:3])
            real = plan.p_scale * sv
            if s_out is not None:
                m0, sh = multiplier_shift(real / s_out)
            else:
                m0, sh = np.ones((), np.int64), np.ones((), np.int64)
            plan.sdpa[op.name] = SdpaQ(sq, sk, sv, plan.p_scale, st, s_out, m0, sh)
    return plan
