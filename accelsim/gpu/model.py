"""Per-op roofline model of a GPU running a traced :class:`~accelsim.workload.ir.Graph`.

Every op that launches a kernel costs, in eager PyTorch, one after another on one stream::

    time = max(flops / (peak(precision) * gemm_eff(M, N, K)),      # compute roof
               bytes / (bandwidth * mem_eff(kind)))                  # memory roof
           + launch overhead                                         # per kernel

* GEMM-like ops (linear, matmul, sdpa, conv2d) use the tensor-core peak of the precision and the
  shape-dependent :func:`gemm_efficiency`. Every other kernel uses the FP32 CUDA-core peak
  (PyTorch computes half-precision element-wise ops in FP32) with efficiency 1; in practice
  they bind on memory.
* FLOPs: linear/matmul ``2*M*N*K`` per batch; sdpa ``2*B*H*L*S*D + 2*B*H*L*S*Dv`` (the QK^T and
  AV GEMMs; softmax FLOPs are not counted); conv2d as its im2col GEMM
  ``2*(N*P*Q)*F*(C/g)*R*S``; element-wise 1 FLOP per output element, gelu 8, softmax 5,
  layer_norm 8, reduce 1 per input element, topk ``log2(k)`` per input element.
* **Causal sdpa** is counted as a flash-attention kernel that skips masked blocks: only the
  unmasked (query, key) pairs are counted (``sum_i min(i+1, S)``, about half for L == S).
  Block granularity adds about block/L more work, which is ignored.
* Bytes: every operand plus every output once, each floating tensor at the precision's element
  size (int8/fp8 1, fp16/bf16 2, fp32/tf32 4) and integer/bool tensors (indices, masks) at their
  own dtype. sdpa is fused (the L x S scores never reach memory). embedding and gather read
  only the rows they produce, not the whole table.
* Layout ops: a ``view`` whose ``op`` is a pure view (view, reshape, permute, transpose, slice,
  expand, ...) and every ``const`` launch no kernel and cost 0; they are listed in
  ``GpuResult.free_ops``. Other views (clone, contiguous, cat, ...) are one copy kernel
  (read + write). ``reshape`` is assumed to be a view.
* Any other op kind is costed as one element-wise kernel (1 FLOP per output element).

Energy per op is ``(idle_power + (tdp - idle_power) * activity) * time``. ``activity`` in
[0, 1] is the op's utilisation of its binding roof, measured against what that roof can
achieve: ``max(flops / (peak * ceiling_c), bytes / (bandwidth * memory_efficiency)) / time``
with ``ceiling_c = gemm_max_efficiency`` for GEMMs and 1 for vector kernels. So a best-case
large GEMM or streaming copy draws the full TDP, and launch-bound time draws close to idle
power. Drawing TDP on a memory-bound kernel is an upper bound (HBM-bound kernels usually draw
less). Total energy is the sum over ops; latency is the sum of op times.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from accelsim.gpu.profile import GPU_PRECISION_BYTES, GpuProfile, gpu_precision, load_profile
from accelsim.workload.ir import DTYPE_BYTES, GEMM_KINDS, Graph, Op, TensorInfo

#: ``view`` ops (attr ``op``) that are pure views on a GPU: strided aliases, no kernel.
PURE_VIEWS = frozenset(
    {
        "view", "reshape", "_unsafe_view", "_reshape_alias", "unsqueeze", "squeeze", "flatten",
        "unflatten", "expand", "expand_as", "view_as", "permute", "transpose", "t", "movedim",
        "swapaxes", "slice", "select", "split", "split_with_sizes", "chunk", "unbind", "getitem",
        "narrow", "alias", "detach", "as_strided", "lift_fresh_copy",
    }
)  # fmt: skip

#: FLOPs per output element of vector kernels (default 1).
VECTOR_FLOPS_PER_ELEMENT: dict[str, int] = {"gelu": 8, "softmax": 5, "layer_norm": 8}

_FLOAT_DTYPES = frozenset({"float64", "float32", "float16", "bfloat16"})


@dataclass(frozen=True)
class GpuOpResult:
    """Cost of one kernel. Times in seconds, energy in joules, ``bytes`` moved to/from memory."""

    op: str
    kind: str
    module: str
    flops: int
    bytes: int
    time_s: float
    compute_s: float
    memory_s: float
    launch_s: float
    bound: str  # "compute" | "memory" | "launch"
    energy_j: float
    achieved_tflops: float


@dataclass(frozen=True)
class GpuResult:
    """A whole graph on one GPU profile. ``ops`` holds one entry per kernel, in program order;
    ``free_ops`` names the ops that launch no kernel (pure views, constants)."""

    profile: str
    precision: str
    latency_s: float
    energy_j: float
    ops: tuple[GpuOpResult, ...]
    free_ops: tuple[str, ...] = ()

    @property
    def flops(self) -> int:
        return sum(o.flops for o in self.ops)

    @property
    def bytes(self) -> int:
        return sum(o.bytes for o in self.ops)

    def bound_counts(self) -> dict[str, int]:
        """Number of kernels bound by compute, memory and launch overhead."""
        c = {"compute": 0, "memory": 0, "launch": 0}
        for o in self.ops:
            c[o.bound] += 1
        return c

    def top_ops(self, n: int = 5) -> list[GpuOpResult]:
        """The ``n`` slowest kernels (ties in program order)."""
        order = sorted(range(len(self.ops)), key=lambda i: (-self.ops[i].time_s, i))
        return [self.ops[i] for i in order[:n]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able and deterministic (same graph and profile -> same dict)."""
        return {
            "profile": self.profile,
            "precision": self.precision,
            "latency_s": self.latency_s,
            "energy_j": self.energy_j,
            "kernels": len(self.ops),
            "flops": self.flops,
            "bytes": self.bytes,
            "bound_counts": self.bound_counts(),
            "ops": [asdict(o) for o in self.ops],
            "free_ops": list(self.free_ops),
        }


# -- efficiency ----------------------------------------------------------------------------


def gemm_efficiency(profile: GpuProfile, M: int, N: int, K: int) -> float:
    """Achieved fraction of the tensor-core peak for an ``M x N x K`` GEMM (per batch item).

    ``gemm_max_efficiency * M/(M + m_half) * (floor + (1 - floor) * NK/(NK + nk_half))``
    with ``NK = N*K``. The M factor is tensor-core tile under-use for few rows (linear in M for
    small M, as a padded tile would be); the N*K factor is the per-row work: short K loops
    whose prologue/epilogue are not amortised and few tiles along N. Both rise monotonically to
    1, so large GEMMs reach ``gemm_max_efficiency``. Wave quantisation is not modelled (it would
    make the curve jagged); small-M GEMMs are usually bound by streaming the weights anyway,
    which the memory roof captures.
    """
    if M <= 0 or N <= 0 or K <= 0:
        raise ValueError(f"GEMM dims must be positive, got M={M} N={N} K={K}")
    f_m = M / (M + profile.gemm_m_half)
    nk = float(N) * float(K)
    f_nk = profile.gemm_nk_floor + (1.0 - profile.gemm_nk_floor) * nk / (nk + profile.gemm_nk_half)
    return profile.gemm_max_efficiency * f_m * f_nk


# -- per-op cost ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpCost:
    """FLOPs and bytes of one kernel; ``gemm`` is its (M, N, K) when it runs on tensor cores."""

    flops: int
    bytes: int
    gemm: tuple[int, int, int] | None = None


def _elem_bytes(t: TensorInfo, precision: str) -> int:
    if t.dtype in _FLOAT_DTYPES:
        return GPU_PRECISION_BYTES[precision]
    return DTYPE_BYTES.get(t.dtype, GPU_PRECISION_BYTES[precision])


def _nbytes(g: Graph, name: str, precision: str) -> int:
    t = g.tensors[name]
    return t.numel * _elem_bytes(t, precision)


def _io_bytes(g: Graph, op: Op, precision: str) -> int:
    return sum(_nbytes(g, n, precision) for n in op.inputs) + sum(
        _nbytes(g, n, precision) for n in op.outputs
    )


def _causal_pairs(L: int, S: int) -> int:
    """Unmasked (query, key) pairs of a top-left-aligned causal mask: sum_i min(i+1, S)."""
    m = min(L, S)
    return m * (m + 1) // 2 + (L - m) * S


def op_cost(graph: Graph, op: Op, precision: str) -> OpCost | None:
    """FLOPs and bytes of ``op`` at GPU ``precision``; ``None`` when it launches no kernel."""
    k = op.kind
    t = graph.tensors
    if k == "const":
        return None
    if k == "view":
        if str(op.attrs.get("op", "view")) in PURE_VIEWS:
            return None
        return OpCost(0, _io_bytes(graph, op, precision))
    if k == "linear":
        x, w = t[op.inputs[0]], t[op.inputs[1]]
        n, kk = w.shape[0], w.shape[-1]
        m = x.numel // kk if kk else 0
        return OpCost(2 * m * n * kk, _io_bytes(graph, op, precision), (m, n, kk))
    if k == "matmul":
        a, b = t[op.inputs[0]], t[op.inputs[1]]
        out = t[op.outputs[0]]
        kk = a.shape[-1]
        m = a.shape[-2] if len(a.shape) >= 2 else 1
        if len(b.shape) >= 2:
            n = b.shape[-2] if op.attrs.get("transpose_b") else b.shape[-1]
        else:
            n = 1
        batch = out.numel // (m * n) if m * n else 0
        return OpCost(2 * batch * m * n * kk, _io_bytes(graph, op, precision), (m, n, kk))
    if k == "sdpa":
        q, key, v = t[op.inputs[0]], t[op.inputs[1]], t[op.inputs[2]]
        L, d = q.shape[-2], q.shape[-1]
        S, dv = key.shape[-2], v.shape[-1]
        bh = q.numel // (L * d) if L * d else 0
        pairs = _causal_pairs(L, S) if op.attrs.get("is_causal") else L * S
        return OpCost(2 * bh * pairs * (d + dv), _io_bytes(graph, op, precision), (L, S, d))
    if k == "conv2d":
        x, w = t[op.inputs[0]], t[op.inputs[1]]
        out = t[op.outputs[0]]
        groups = int(op.attrs.get("groups", 1) or 1)
        f, cg, r, s = w.shape
        m = out.numel // f if f else 0  # N * P * Q
        kk = cg * r * s
        return OpCost(2 * m * f * kk, _io_bytes(graph, op, precision), (m, f // groups, kk))
    if k in ("embedding", "gather"):
        # reads the produced rows of the source (inputs[0]), the indices, writes the output
        src_bytes = _nbytes(graph, op.inputs[0], precision)
        out_bytes = sum(_nbytes(graph, n, precision) for n in op.outputs)
        idx_bytes = sum(_nbytes(graph, n, precision) for n in op.inputs[1:])
        return OpCost(0, min(src_bytes, out_bytes) + idx_bytes + out_bytes)
    if k in ("reduce", "topk"):
        n_in = t[op.inputs[0]].numel
        per = max(1, math.ceil(math.log2(max(2, int(op.attrs.get("k", 2)))))) if k == "topk" else 1
        return OpCost(per * n_in, _io_bytes(graph, op, precision))
    # element-wise, softmax, layer_norm, scatter and anything else: one vector kernel
    n_out = sum(t[n].numel for n in op.outputs)
    return OpCost(VECTOR_FLOPS_PER_ELEMENT.get(k, 1) * n_out, _io_bytes(graph, op, precision))


# -- simulation ---------------------------------------------------------------------------------


def simulate_gpu(
    graph: Graph,
    profile: GpuProfile | str,
    precision: str = "bf16",
    *,
    cuda_graphs: bool = False,
) -> GpuResult:
    """Run ``graph`` through the roofline model of ``profile`` (a profile or its name).

    ``precision`` is a GPU or ASIC precision name, mapped by
    :func:`~accelsim.gpu.profile.gpu_precision` (fp32 stays FP32, not TF32). ``cuda_graphs``
    charges the CUDA-graph launch overhead instead of the eager one.
    """
    prof = load_profile(profile) if isinstance(profile, str) else profile
    prec = gpu_precision(precision)
    peak = prof.peak_flops(prec)  # raises when the GPU lacks the precision
    vec_peak = prof.vector_flops
    bw = prof.bandwidth_bytes_per_s
    launch = prof.launch_s(cuda_graphs)
    dyn_w = prof.tdp_w - prof.idle_power_w

    results: list[GpuOpResult] = []
    free: list[str] = []
    for op in graph.ops:
        cost = op_cost(graph, op, prec)
        if cost is None:
            free.append(op.name)
            continue
        if op.kind in GEMM_KINDS and cost.gemm is not None and cost.flops > 0:
            eff = gemm_efficiency(prof, *cost.gemm)
            compute_s = cost.flops / (peak * eff)
            compute_ceiling = prof.gemm_max_efficiency
            roof = peak
        else:
            compute_s = cost.flops / vec_peak
            compute_ceiling = 1.0
            roof = vec_peak
        memory_s = cost.bytes / (bw * prof.memory_efficiency_for(op.kind))
        busy = max(compute_s, memory_s)
        time_s = busy + launch
        if launch > busy:
            bound = "launch"
        else:
            bound = "compute" if compute_s >= memory_s else "memory"
        if time_s > 0:
            util_c = cost.flops / (roof * compute_ceiling) / time_s
            util_m = cost.bytes / (bw * prof.memory_efficiency) / time_s
            activity = min(1.0, max(util_c, util_m))
        else:
            activity = 0.0
        energy = (prof.idle_power_w + dyn_w * activity) * time_s
        results.append(
            GpuOpResult(
                op=op.name,
                kind=op.kind,
                module=op.module,
                flops=int(cost.flops),
                bytes=int(cost.bytes),
                time_s=time_s,
                compute_s=compute_s,
                memory_s=memory_s,
                launch_s=launch,
                bound=bound,
                energy_j=energy,
                achieved_tflops=cost.flops / time_s / 1e12 if time_s > 0 else 0.0,
            )
        )
    return GpuResult(
        profile=prof.name,
        precision=prec,
        latency_s=math.fsum(r.time_s for r in results),
        energy_j=math.fsum(r.energy_j for r in results),
        ops=tuple(results),
        free_ops=tuple(free),
    )
