"""Per-kernel model of a GPU running a traced :class:`~accelsim.workload.ir.Graph`.

Every op that launches work is costed as the kernel(s) a PyTorch/CUDA stack would run, one after
another on one stream. The result keeps **kernel time** (device time of the kernels) apart from
**launch** and **framework** overhead (host time the GPU waits for).

Kernels (device time, seconds; every kernel also pays ``kernel_latency_us``, the ramp-up and tail
of its grid)
  * **GEMM** (``linear``, ``matmul``, ``conv1d``/``conv2d`` as implicit GEMMs; shapes from the
    shared :func:`~accelsim.workload.gemm.gemm_view`): a tiled kernel. For each candidate
    threadblock tile ``bm x bn`` (:data:`GEMM_TILES`) and split-K factor ``s``
    (:data:`SPLIT_K`) there are ``ctas = batch * ceil(M/bm) * ceil(N/bn) * s`` tiles run in
    ``waves = ceil(ctas / sm_count)`` (**wave quantisation**). A tile takes
    ``max(2*bm*bn*k / (peak/SMs * gemm_max_efficiency), (bm+bn)*k*elem / (l2_bw/SMs))`` with
    ``k = ceil(K/s)``: its tensor-core time, or the time to feed it from L2 (small tiles). The
    kernel streams its operands once at ``gemm_memory_efficiency`` of the bandwidth (cuBLAS's
    skinny-GEMM, GEMV and split-K kernels keep enough loads in flight to stream at full rate),
    so **small-M** GEMMs are bound by streaming the weights. Split-K writes ``s`` fp32 partial
    tiles per output tile and sums them through L2 (``2*s*batch*M*N*4`` bytes at the L2
    bandwidth). The cheapest candidate is taken, as cuBLAS's heuristics and autotuners pick the
    fastest kernel. ``time = max(compute, memory) + split-K reduction + kernel latency``; it
    never decreases when M, N or K grows.
  * **Attention** (``sdpa`` and the fused ``attention`` composite) is one FlashAttention-2
    kernel (Dao, 2023). ``q[B, H, L, D]``, ``k[B, Hkv, S, D]``, ``v[B, Hkv, S, Dv]``. The number
    of KV splits follows FlashAttention-2's ``num_splits_heuristic`` (flash_api.cpp): with
    enough (batch x head x 64-query) blocks to fill the SMs there is one split (**prefill**:
    FlashAttention-2, 128-query tiles, compute-bound; causal masks skip the key blocks past
    the diagonal, at block granularity); otherwise the KV length is split across thread
    blocks (**decode**, FlashDecoding: streaming the KV cache, memory-bound), and the partial
    results (fp32 outputs and log-sum-exps) are written and combined; decode steps (at most
    :data:`DECODE_MAX_QUERIES` queries per sequence) always use this split-KV kernel, as
    ``flash_attn_with_kvcache`` does. For one query per sequence with grouped KV heads, the
    query heads of a group share the KV head's block, as FlashAttention-2 does
    (``seqlenq_ngroups_swapped``); K and V that the graph repeats per query head (``expand`` +
    ``reshape``, Hugging Face's ``repeat_kv``) are read as the shared KV heads. Tiles are
    list-scheduled on ``2 * SMs`` slots (128-thread blocks, 2 per SM, as the heuristic assumes)
    at ``attention_max_efficiency`` of the tensor-core peak; memory moves q, k, v, o (and a
    mask) once at the ``attention`` class efficiency, scaled by ``min(1, blocks/SMs)`` (too few
    blocks cannot keep enough loads in flight: what FlashDecoding's splits fix). Attention
    runs at fp16/bf16 tensor-core rate (int8/fp8 runs use the fp16 rate: FlashAttention-2 has
    no int8 path; fp32/tf32 use the FP32 CUDA-core rate).
  * **Everything else** is one memory-bound kernel:
    ``max(flops / fp32_peak, bytes / (bandwidth * eff)) + kernel latency`` with ``eff`` by
    kernel class (:func:`kernel_class`: ``elementwise``, ``softmax``, ``norm``, ``reduce``,
    ``gather``, ``copy``; the profile's ``class_memory_efficiency``, overridden per op kind by
    ``kind_memory_efficiency``). FLOPs and bytes come from the op registry
    (:mod:`accelsim.workload.opset`: ``OpDef.gpu_flops_per_elem`` x ``opset.vector_elements``;
    ``OpDef.gpu_bytes``: every operand and output once, or only the rows an indexing op
    produces).
  * Layout ops that are views (``view`` whose ``op`` is a view, permute or transpose) and
    constants launch nothing and cost 0 (listed in ``GpuResult.free_ops``); other ``view`` ops
    (clone, contiguous, cat, ...) are one copy kernel.
  * A ``fused`` composite (an element-wise chain the mapper fused for the ASIC) runs, in
    ``eager`` mode, as its sub-ops one kernel each (eager PyTorch does not fuse); in ``graph``
    mode as one fused kernel reading its external inputs and writing its outputs once (a
    serving stack's compiled, CUDA-graph-replayed step).

Launch and framework overhead (``launch=``)
  * ``"graph"``: a CUDA-graph replay: each kernel waits ``graph_launch_overhead_us`` on the GPU
    after the previous one (``launch_s``); no host or framework time.
  * ``"eager"`` (default): the host issues each kernel after ``framework_overhead_us +
    launch_overhead_us`` of host time; the GPU runs kernels asynchronously, so host time is
    exposed only while the GPU has nothing queued. With ``h_i`` the host's finish time of
    kernel ``i`` and ``g_i`` the GPU's: ``h_i = h_{i-1} + host_i``, ``start_i = max(g_{i-1} +
    gap, h_i)`` (``gap``: the same GPU-side gap as in a graph), ``g_i = start_i + kernel_i``.
    The GPU's idle time ``start_i - g_{i-1}`` is charged to the op: when the GPU waited for the
    host, split between ``launch_s`` and ``framework_s`` in proportion to the two host costs,
    else (the GPU-side gap) as ``launch_s``. One op alone costs ``framework + launch + kernel``; a
    run of long kernels hides the host; eager is never faster than a graph replay.

Per op ``time_s = kernel_s + launch_s + framework_s``; latency is their sum. ``bound`` is
``launch`` when the op's host overhead exceeds its kernel time, else ``compute`` or ``memory``,
whichever roof of the kernel is longer.

Energy per op is ``idle_power * time + (tdp - idle_power) * activity * kernel_s``. ``activity``
in [0, 1] is the kernel's use of its binding roof, measured against what that roof can achieve
(``max(flops / (peak * ceiling), bytes / (bandwidth * memory_efficiency)) / kernel_s``, ceiling
``gemm_max_efficiency`` for GEMMs, ``attention_max_efficiency`` for attention, 1 for vector
kernels), so a best-case large GEMM or streaming copy draws the full TDP and host-bound time draws
idle power. Drawing TDP on a memory-bound kernel is an upper bound.

Multi-GPU: :func:`ring_allreduce_s` (and :func:`gpu_allreduce_s` on a profile's NVLink/PCIe
figures) cost a ring all-reduce, ``2 (n-1)/n * bytes / B + 2 (n-1) * a`` (Patarasuk and Yuan,
JPDC 2009).

Pure: no SimPy; one pass over the graph (a decode step of a 32-layer model costs milliseconds).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from accelsim.errors import MappingError
from accelsim.gpu.profile import (
    GPU_PRECISION_BYTES,
    GpuProfile,
    gpu_precision,
    load_profile,
)
from accelsim.workload import opset as _opset
from accelsim.workload.ir import DTYPE_BYTES, Graph, Op, TensorInfo

LaunchMode = Literal["eager", "graph"]
LAUNCH_MODES: tuple[str, ...] = ("eager", "graph")

#: ``view`` ops (attr ``op``) that are pure views on a GPU: strided aliases, no kernel (besides the
#: registry's ``free`` views; permute and transpose are ``reorder`` views for the mapper).
PURE_VIEWS = frozenset(
    {
        "view", "reshape", "_unsafe_view", "_reshape_alias", "unsqueeze", "squeeze", "flatten",
        "unflatten", "expand", "expand_as", "view_as", "permute", "transpose", "t", "movedim",
        "swapaxes", "slice", "select", "split", "split_with_sizes", "chunk", "unbind", "getitem",
        "narrow", "alias", "detach", "as_strided", "lift_fresh_copy",
    }
)  # fmt: skip

#: op kind -> kernel class (anything else: ``elementwise``). Each class has its own achieved
#: bandwidth (``GpuProfile.class_memory_efficiency``).
KERNEL_CLASS_OF_KIND: dict[str, str] = {
    "softmax": "softmax", "log_softmax": "softmax",
    "layer_norm": "norm", "rms_norm": "norm", "batch_norm": "norm", "group_norm": "norm",
    "instance_norm": "norm",
    "reduce": "reduce", "topk": "reduce", "cumsum": "reduce", "argmax": "reduce", "argmin": "reduce",
    "sort": "reduce",
    "embedding": "gather", "embedding_bag": "gather", "gather": "gather", "index_select": "gather",
    "index": "gather", "scatter": "gather", "index_put": "gather", "index_copy": "gather",
    "view": "copy", "cast": "copy", "pad": "copy", "flip": "copy", "roll": "copy", "cat": "copy",
}  # fmt: skip

#: Threadblock tiles (rows x cols of C) a GEMM may use: the tensor-op tile shapes of CUTLASS's
#: default SM80 GEMM kernels (and cuBLAS's), from 256x128 down to 64x64.
GEMM_TILES: tuple[tuple[int, int], ...] = (
    (256, 128), (128, 256), (256, 64), (64, 256), (128, 128), (128, 64), (64, 128), (64, 64),
)  # fmt: skip
#: Split-K factors a GEMM may use; each split keeps at least :data:`SPLIT_K_MIN_K` of K.
SPLIT_K: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 12, 16)
SPLIT_K_MIN_K = 256

#: An attention with at most this many queries per sequence is a decode step (one new token, or a
#: few speculative ones): it runs FlashAttention-2's split-KV kernel (``flash_attn_with_kvcache``).
DECODE_MAX_QUERIES = 16

_FLOAT_DTYPES = frozenset({"float64", "float32", "float16", "bfloat16"})
_ATTENTION_KINDS = frozenset({"sdpa", "attention"})



# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class KernelCost:
    """Device cost of the kernel(s) of one op. Times in seconds.

    ``kernel_s`` includes the kernel latency; ``compute_s``/``memory_s`` are the two roofs
    inside it; ``activity`` in [0, 1] is the kernel's use of its binding roof (for energy);
    ``kernels`` is how many kernels the op launches; ``detail`` names the choice made (tile,
    split-K, waves, KV splits).
    """

    kernel: str
    flops: int
    bytes: int
    kernel_s: float
    compute_s: float
    memory_s: float
    activity: float
    kernels: int = 1
    detail: str = ""


@dataclass(frozen=True)
class GpuOpResult:
    """One op on the GPU. Times in seconds, energy in joules, ``bytes`` moved to/from memory.

    ``time_s = kernel_s + launch_s + framework_s`` (its share of the run's wall-clock time).
    """

    op: str
    kind: str
    module: str
    kernel: str
    kernels: int
    flops: int
    bytes: int
    time_s: float
    kernel_s: float
    compute_s: float
    memory_s: float
    launch_s: float
    framework_s: float
    bound: str  # "compute" | "memory" | "launch"
    energy_j: float
    achieved_tflops: float
    detail: str = ""


@dataclass(frozen=True)
class GpuResult:
    """A whole graph on one GPU profile. ``ops`` holds one entry per op that launches work, in
    program order; ``free_ops`` names the ops that launch no kernel (views, constants)."""

    profile: str
    precision: str
    launch_mode: str
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

    @property
    def kernel_s(self) -> float:
        """Device time of all kernels (s)."""
        return math.fsum(o.kernel_s for o in self.ops)

    @property
    def launch_s(self) -> float:
        """Time the GPU waited for kernel launches (s)."""
        return math.fsum(o.launch_s for o in self.ops)

    @property
    def framework_s(self) -> float:
        """Time the GPU waited for the framework's host work (s)."""
        return math.fsum(o.framework_s for o in self.ops)

    @property
    def kernels(self) -> int:
        """Kernels launched."""
        return sum(o.kernels for o in self.ops)

    def bound_counts(self) -> dict[str, int]:
        """Number of ops bound by compute, memory and launch/framework overhead."""
        c = {"compute": 0, "memory": 0, "launch": 0}
        for o in self.ops:
            c[o.bound] = c.get(o.bound, 0) + 1  # "network": a collective of simulate_gpu_system
        return c

    def top_ops(self, n: int = 5) -> list[GpuOpResult]:
        """The ``n`` slowest ops (ties in program order)."""
        order = sorted(range(len(self.ops)), key=lambda i: (-self.ops[i].time_s, i))
        return [self.ops[i] for i in order[:n]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able and deterministic (same graph and profile -> same dict)."""
        return {
            "profile": self.profile,
            "precision": self.precision,
            "launch_mode": self.launch_mode,
            "latency_s": self.latency_s,
            "kernel_s": self.kernel_s,
            "launch_s": self.launch_s,
            "framework_s": self.framework_s,
            "energy_j": self.energy_j,
            "kernels": self.kernels,
            "flops": self.flops,
            "bytes": self.bytes,
            "bound_counts": self.bound_counts(),
            "ops": [asdict(o) for o in self.ops],
            "free_ops": list(self.free_ops),
        }


# -- FLOPs and bytes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttentionDims:
    """Shape of one attention: ``batch`` sequences, ``heads`` query heads over ``kv_heads`` KV
    heads, ``q_len`` queries over ``kv_len`` keys, head dims ``head_dim`` (q, k) and
    ``v_head_dim`` (v); ``causal``: a top-left-aligned causal mask (PyTorch's ``is_causal``)."""

    batch: int
    heads: int
    kv_heads: int
    q_len: int
    kv_len: int
    head_dim: int
    v_head_dim: int
    causal: bool = False

    @property
    def pairs(self) -> int:
        """Unmasked (query, key) pairs per head."""
        return _causal_pairs(self.q_len, self.kv_len) if self.causal else self.q_len * self.kv_len

    @property
    def flops(self) -> int:
        """FLOPs of the QK^T and PV products over the unmasked pairs (softmax not counted)."""
        return 2 * self.batch * self.heads * self.pairs * (self.head_dim + self.v_head_dim)


@dataclass(frozen=True)
class OpCost:
    """FLOPs and bytes of one op's kernel; ``gemm`` is its ``(batch, M, N, K)`` when it is a
    GEMM, ``attention`` its :class:`AttentionDims` when it is an attention."""

    flops: int
    bytes: int
    gemm: tuple[int, int, int, int] | None = None
    attention: AttentionDims | None = None
    kernels: int = 1


def _elem_bytes(t: TensorInfo, precision: str) -> int:
    if t.dtype in _FLOAT_DTYPES:
        return GPU_PRECISION_BYTES[precision]
    return DTYPE_BYTES.get(t.dtype, GPU_PRECISION_BYTES[precision])


def _nbytes(tensors: Mapping[str, TensorInfo], name: str, precision: str) -> int:
    t = tensors[name]
    return t.numel * _elem_bytes(t, precision)


def _io_bytes(graph: Graph, op: Op, precision: str) -> int:
    t = graph.tensors
    return sum(_nbytes(t, n, precision) for n in op.inputs) + sum(
        _nbytes(t, n, precision) for n in op.outputs
    )


def _causal_pairs(L: int, S: int) -> int:
    """Unmasked (query, key) pairs of a top-left-aligned causal mask: sum_i min(i+1, S)."""
    m = min(L, S)
    return m * (m + 1) // 2 + (L - m) * S


def kernel_class(kind: str) -> str:
    """The kernel class of a non-GEMM op kind (its achieved-bandwidth class)."""
    return KERNEL_CLASS_OF_KIND.get(kind, "elementwise")


def _view_is_free(op: Op) -> bool:
    """Whether a ``view`` op is a strided alias on a GPU (no kernel): the registry's ``free``
    views, and permute/transpose (a GPU kernel reads strides; the mapper's other ``reorder``
    views, clone and contiguous, copy in PyTorch)."""
    sub = str(op.attrs.get("op", "view"))
    return sub in PURE_VIEWS or _opset.VIEW_OPS.get(sub) == "free"


def _vector_cost(graph: Graph, op: Op, precision: str) -> OpCost:
    """FLOPs and bytes of a one-kernel vector op, from the op registry: ``gpu_flops_per_elem``
    per element-op of :func:`~accelsim.workload.opset.vector_elements`; bytes per ``gpu_bytes``
    (every operand and output once, or only the rows an indexing op produces)."""
    d = _opset.get(op.kind)
    flops = round(float(d.gpu_flops_per_elem) * int(_opset.vector_elements(op, graph)))
    if d.gpu_bytes == "rows":
        return OpCost(flops, _rows_bytes(graph.tensors, op, precision))
    return OpCost(flops, _io_bytes(graph, op, precision))


def _rows_bytes(t: Mapping[str, TensorInfo], op: Op, precision: str) -> int:
    """An indexing op reads the rows it produces from its source (inputs[0]), the indices, and
    writes the output (never more of the source than the source holds)."""
    src = _nbytes(t, op.inputs[0], precision)
    out = sum(_nbytes(t, n, precision) for n in op.outputs)
    idx = sum(_nbytes(t, n, precision) for n in op.inputs[1:])
    return min(src, out) + idx + out


def _sdpa_dims(op: Op, q: Sequence[int], k: Sequence[int], v: Sequence[int], causal: bool) -> AttentionDims:
    if min(len(q), len(k), len(v)) < 3:
        raise MappingError(f"{op.where()}: attention operands must be at least 3-D, "
                           f"got {list(q)}, {list(k)}, {list(v)}")
    L, D = q[-2], q[-1]
    S, Dk = k[-2], k[-1]
    Sv, Dv = v[-2], v[-1]
    if Dk != D or Sv != S:
        raise MappingError(f"{op.where()}: q{list(q)}, k{list(k)}, v{list(v)} do not form an attention "
                           "(expected q[..., L, D], k[..., S, D], v[..., S, Dv])")
    if len(q) == 3:
        batch, heads = q[0], 1
        kv_batch, kv_heads = k[0], 1
    else:
        batch, heads = math.prod(q[:-3]), q[-3]
        kv_batch, kv_heads = math.prod(k[:-3]), k[-3]
    if kv_batch not in (batch, 1) or kv_heads <= 0 or heads % kv_heads:
        raise MappingError(f"{op.where()}: {heads} query heads over {kv_heads} KV heads "
                           f"(batch {batch} vs {kv_batch}) do not group")
    return AttentionDims(batch, heads, kv_heads, L, S, D, Dv, causal)


def _source(name: str, producers: Mapping[str, Op], inputs: Sequence[str]) -> str | None:
    """The composite input a sub-op operand comes from through single-operand layout sub-ops
    (views, expands, casts), or ``None``."""
    seen = 0
    while name not in inputs and seen < 64:
        p = producers.get(name)
        if p is None or not p.inputs or p.kind not in ("view", "cast"):
            return None
        name, seen = p.inputs[0], seen + 1
    return name if name in inputs else None


def attention_dims(op: Op, graph: Graph) -> AttentionDims:
    """The :class:`AttentionDims` of an ``sdpa`` or ``attention`` op.

    ``sdpa``: ``inputs[:3]`` are ``q[..., H, L, D]``, ``k[..., Hkv, S, D]``, ``v[..., Hkv, S, Dv]``
    (3-D tensors carry batch x heads in dim 0); attr ``is_causal``. ``attention`` (a composite):
    an ``sdpa`` among its ``sub_ops`` is read as above; otherwise its first matmul sub-op is
    ``Q K^T`` (``L x S x D`` per batch x head) and its last ``P V`` (``L x Dv x S``), with the
    KV heads counted from the composite input K comes from; causal only when the composite's
    attrs say ``is_causal`` (an explicit mask is computed in full, as PyTorch's masked
    attention kernels do). A shape that is not an attention raises
    :class:`~accelsim.errors.MappingError` naming the op.
    """
    T = graph.tensors
    causal = bool(op.attrs.get("is_causal", False))
    if op.kind == "sdpa":
        if len(op.inputs) < 3:
            raise MappingError(f"{op.where()}: attention needs q, k and v operands")
        q, k, v = (T[n].shape for n in op.inputs[:3])
        return _sdpa_dims(op, q, k, v, causal)
    subs, env = _opset.expand(op, [T[n] for n in op.inputs])
    for s in subs:
        if s.kind == "sdpa":
            q, k, v = (env[n].shape for n in s.inputs[:3])
            return _sdpa_dims(op, q, k, v, causal or bool(s.attrs.get("is_causal", False)))
    from accelsim.workload.gemm import gemm_view

    mms = [s for s in subs if s.kind == "matmul"]
    if len(mms) < 2:
        raise MappingError(f"{op.where()}: an attention composite needs a Q K^T and a P V matmul (or an sdpa)")
    sub_graph = Graph(op.name, env, tuple(subs), tuple(op.inputs), tuple(op.outputs))
    qk, pv = gemm_view(mms[0], sub_graph), gemm_view(mms[-1], sub_graph)
    L, S, D, Dv = qk.M, qk.N, qk.K, pv.N
    if qk.fold_batch or pv.fold_batch or pv.M != L or pv.K != S or pv.batch != qk.batch:
        raise MappingError(f"{op.where()}: matmuls {qk.M}x{qk.N}x{qk.K} and {pv.M}x{pv.N}x{pv.K} "
                           "do not form Q K^T and P V")
    bh = qk.batch
    producers = {t: s for s in subs for t in s.outputs}
    k_src = _source(mms[0].inputs[1], producers, op.inputs)
    bhkv = bh
    if k_src is not None and S * D and T[k_src].numel % (S * D) == 0:
        bhkv = T[k_src].numel // (S * D)
    if bhkv <= 0 or bh % bhkv:
        bhkv = bh
    q_src = _source(mms[0].inputs[0], producers, op.inputs)
    qs = T[q_src].shape if q_src is not None else ()
    batch = math.prod(qs[:-3]) if len(qs) >= 4 and bh % max(1, math.prod(qs[:-3])) == 0 else 1
    batch = batch if batch > 0 and bhkv % batch == 0 else 1
    return AttentionDims(batch, bh // batch, bhkv // batch, L, S, D, Dv, causal)


def _attention_bytes(graph: Graph, op: Op, precision: str, kv: Mapping[str, str] | None = None) -> int:
    """q, k, v, o and any mask, once each (fused: the L x S scores never reach memory); ``kv``
    maps an operand to the tensor a GQA kernel reads instead (see :func:`_gqa_source`)."""
    t = graph.tensors
    kv = kv or {}
    return sum(_nbytes(t, kv.get(n, n), precision) for n in op.inputs) + sum(
        _nbytes(t, n, precision) for n in op.outputs
    )


#: Free ``view`` sub-ops a repeat of KV heads is built from (HF's ``repeat_kv``:
#: ``x[:, :, None].expand(...).reshape(...)``).
_REPEAT_VIEWS = frozenset({"unsqueeze", "expand", "reshape", "view", "_unsafe_view", "flatten", "unflatten"})


def _gqa_source(graph: Graph, name: str, producers: Mapping[str, Op]) -> str:
    """The smallest tensor ``name`` is a repeat of, through free view ops (expand / reshape /
    unsqueeze): a grouped-query attention kernel reads the shared KV heads once instead of their
    repeat. ``name`` itself when it is no repeat."""
    T = graph.tensors
    best, cur = name, name
    for _ in range(16):
        p = producers.get(cur)
        if p is None or p.kind != "view" or len(p.inputs) != 1 or str(p.attrs.get("op")) not in _REPEAT_VIEWS:
            break
        cur = p.inputs[0]
        if T[cur].numel < T[best].numel:
            best = cur
    return best


def op_cost(graph: Graph, op: Op, precision: str, producers: Mapping[str, Op] | None = None) -> OpCost | None:
    """FLOPs and bytes of ``op`` at GPU ``precision``; ``None`` when it launches no kernel.
    ``producers`` (tensor -> op, :meth:`Graph.producers`) lets an ``sdpa`` whose K and V are a
    repeat of fewer KV heads be costed as the grouped-query kernel; computed when omitted."""
    from accelsim.workload.gemm import GEMM_OP_KINDS, gemm_view

    k = op.kind
    if k == "const":
        return None
    if k == "view":
        if _view_is_free(op):
            return None
        return OpCost(0, _io_bytes(graph, op, precision))
    if k in GEMM_OP_KINDS:
        gv = gemm_view(op, graph)
        return OpCost(2 * gv.macs, _io_bytes(graph, op, precision), (gv.batch, gv.M, gv.N, gv.K))
    if k in _ATTENTION_KINDS:
        dims = attention_dims(op, graph)
        kv: dict[str, str] = {}
        if k == "sdpa" and dims.kv_heads == dims.heads and dims.heads > 1:
            prods = producers if producers is not None else graph.producers()
            srcs = [_gqa_source(graph, n, prods) for n in op.inputs[1:3]]
            nk, nv = (graph.tensors[n].numel for n in op.inputs[1:3])
            sk, sv = (graph.tensors[n].numel for n in srcs)
            g = nk // sk if sk and sv and nk % sk == 0 and nv % sv == 0 and nk // sk == nv // sv else 1
            if g > 1 and dims.heads % g == 0:
                dims = AttentionDims(dims.batch, dims.heads, dims.heads // g, dims.q_len, dims.kv_len,
                                     dims.head_dim, dims.v_head_dim, dims.causal)
                kv = dict(zip(op.inputs[1:3], srcs))
        return OpCost(dims.flops, _attention_bytes(graph, op, precision, kv), attention=dims)
    if k == "fused":
        subs = _fused_sub_costs(graph, op, precision)
        return OpCost(sum(c.flops for _, c in subs), _io_bytes(graph, op, precision), kernels=len(subs) or 1)
    return _vector_cost(graph, op, precision)


def _fused_sub_costs(graph: Graph, op: Op, precision: str) -> list[tuple[Op, OpCost]]:
    """The sub-ops of a ``fused`` composite with their costs, over the composite's tensors and
    its internal ones (shapes from the registry's :func:`~accelsim.workload.opset.expand`).
    Sub-ops that are free views or constants launch nothing."""
    T = graph.tensors
    subs, env = _opset.expand(op, [T[n] for n in op.inputs])
    tensors: dict[str, TensorInfo] = {**env, **{n: T[n] for n in (*op.inputs, *op.outputs)}}
    sub_graph = Graph(op.name, tensors, tuple(subs), (), ())
    res = []
    for s in subs:
        if s.kind == "const" or (s.kind == "view" and _view_is_free(s)):
            continue
        res.append((s, OpCost(0, _io_bytes(sub_graph, s, precision)) if s.kind == "view"
                    else _vector_cost(sub_graph, s, precision)))
    return res


# -- kernels -----------------------------------------------------------------------------------


def _activity(flops: float, nbytes: float, kernel_s: float, roof_flops: float, prof: GpuProfile) -> float:
    if kernel_s <= 0:
        return 0.0
    util_c = flops / roof_flops / kernel_s if roof_flops > 0 else 0.0
    util_m = nbytes / (prof.bandwidth_bytes_per_s * prof.memory_efficiency) / kernel_s
    return min(1.0, max(util_c, util_m))


def gemm_kernel(
    prof: GpuProfile,
    precision: str,
    batch: int,
    M: int,
    N: int,
    K: int,
    nbytes: int,
    *,
    tiles: Sequence[tuple[int, int]] = GEMM_TILES,
    splits: Sequence[int] = SPLIT_K,
) -> KernelCost:
    """Device time of ``batch`` GEMMs ``[M x K] @ [K x N]`` moving ``nbytes`` (see the module
    docstring: tiles, wave quantisation, split-K, L2 feed, weight streaming). ``tiles`` and
    ``splits`` are the candidates to choose from."""
    if min(batch, M, N, K) <= 0:
        raise ValueError(f"GEMM dims must be positive, got batch={batch} M={M} N={N} K={K}")
    peak = prof.peak_flops(precision)
    sms = prof.sm_count
    sm_peak = peak / sms * prof.gemm_max_efficiency
    sm_l2 = prof.l2_bandwidth_bytes_per_s / sms
    elem = GPU_PRECISION_BYTES[precision]
    bw = prof.bandwidth_bytes_per_s * prof.gemm_memory_efficiency
    lat = prof.kernel_latency_us * 1e-6
    best: tuple[float, float, float, str] | None = None
    for bm, bn in tiles:
        n_tiles = batch * math.ceil(M / bm) * math.ceil(N / bn)
        for s in splits:
            if s > 1 and K < s * SPLIT_K_MIN_K:
                continue
            kk = math.ceil(K / s)
            ctas = n_tiles * s
            waves = math.ceil(ctas / sms)
            t_cta = max(2.0 * bm * bn * kk / sm_peak, (bm + bn) * kk * elem / sm_l2)
            compute = waves * t_cta
            memory = nbytes / bw
            # split-K: s fp32 partial tiles per output tile, written and summed through L2
            reduce_s = 2.0 * s * batch * M * N * 4 / prof.l2_bandwidth_bytes_per_s if s > 1 else 0.0
            t = max(compute, memory) + reduce_s + lat
            if best is None or t < best[0] * (1 - 1e-12):
                detail = f"tile {bm}x{bn}" + (f", split-K {s}" if s > 1 else "") + f", {waves} wave{'s' * (waves > 1)}"
                best = (t, compute, memory + reduce_s, detail)
    if best is None:
        raise ValueError("no GEMM tile candidate")
    t, compute, memory, detail = best
    flops = 2 * batch * M * N * K
    act = _activity(flops, nbytes, t, peak * prof.gemm_max_efficiency, prof)
    return KernelCost("gemm", flops, nbytes, t, compute, memory, act, 1, detail)


def fa2_num_splits(batch_nheads_mblocks: int, num_sms: int, num_n_blocks: int, max_splits: int = 128) -> int:
    """FlashAttention-2's KV-split count (``num_splits_heuristic``, csrc/flash_attn/flash_api.cpp
    in Dao-AILab/flash-attention): 1 when the blocks nearly fill the SMs, else the fewest splits
    reaching 85 % of the best wave efficiency ``n_waves / ceil(n_waves)``."""
    if batch_nheads_mblocks >= 0.8 * num_sms:
        return 1
    max_splits = min(max_splits, num_sms, num_n_blocks)

    def ceildiv(a: int, b: int) -> int:
        return -(-a // b)

    def eligible(s: int) -> bool:
        return s == 1 or ceildiv(num_n_blocks, s) != ceildiv(num_n_blocks, s - 1)

    eff: list[float] = []
    for s in range(1, max_splits + 1):
        if not eligible(s):
            eff.append(0.0)
            continue
        n_waves = batch_nheads_mblocks * s / num_sms
        eff.append(n_waves / math.ceil(n_waves))
    best = max(eff, default=0.0)
    for s in range(1, max_splits + 1):
        if eligible(s) and eff[s - 1] >= 0.85 * best:
            return s
    return 1


def _list_schedule(groups: Sequence[tuple[float, int]], slots: int) -> float:
    """Makespan of ``count`` blocks of ``duration`` per group on ``slots`` slots, greedily,
    longest groups first (FlashAttention-2 launches causal query blocks longest first). Whole
    rounds of ``slots`` blocks are placed at once."""
    loads = [0.0] * slots
    for dur, count in sorted(groups, key=lambda g: -g[0]):
        if count <= 0 or dur <= 0:
            continue
        full, rest = divmod(count, slots)
        if full:
            loads = [x + full * dur for x in loads]
        if rest:
            loads.sort()
            for i in range(rest):
                loads[i] += dur
    return max(loads) if loads else 0.0


def _attention_precision(prof: GpuProfile, precision: str) -> str:
    if precision in ("fp16", "bf16"):
        return precision
    if precision in ("int8", "fp8"):
        return "fp16" if "fp16" in prof.precisions else "fp32"
    return "fp32"


def flash_attention_kernel(prof: GpuProfile, precision: str, dims: AttentionDims, nbytes: int) -> KernelCost:
    """Device time of one FlashAttention-2 / FlashDecoding kernel (see the module docstring)."""
    B, H, Hkv, L, S = dims.batch, dims.heads, dims.kv_heads, dims.q_len, dims.kv_len
    D, Dv = dims.head_dim, dims.v_head_dim
    flops = dims.flops
    lat = prof.kernel_latency_us * 1e-6
    if min(B, H, L, S, D, Dv) <= 0:
        return KernelCost("flash_attention", flops, nbytes, lat, 0.0, 0.0, 0.0, 1, "empty")
    causal = dims.causal
    heads_eff, L_eff = H, L
    if L == 1 and H > Hkv and not causal:  # seqlenq_ngroups_swapped: a group's heads as rows
        heads_eff, L_eff = Hkv, H // Hkv
    sms = prof.sm_count
    slots = 2 * sms
    block_n = 256 if D <= 64 else (128 if D <= 128 else 64)
    n_blocks = math.ceil(S / block_n)
    m_blocks64 = math.ceil(L_eff / 64)
    splits = fa2_num_splits(B * heads_eff * m_blocks64, slots, n_blocks, 128)
    cprec = _attention_precision(prof, precision)
    cta_rate = prof.peak_flops(cprec) / slots * prof.attention_max_efficiency
    per_key_block = 2.0 * block_n * (D + Dv) / cta_rate  # seconds per query row per key block
    groups: list[tuple[float, int]] = []
    if splits > 1 or L <= DECODE_MAX_QUERIES:  # FlashDecoding: 64-query blocks, key blocks split `splits` ways
        kernel, bm = "flash_decoding", 64
        per_split = math.ceil(n_blocks / splits)
        for j in range(m_blocks64):
            need = math.ceil(min(S, min(L_eff, (j + 1) * bm)) / block_n) if causal else n_blocks
            for sp in range(splits):
                nb = max(0, min(per_split, need - sp * per_split))
                if nb:
                    groups.append((bm * nb * per_key_block, B * heads_eff))
        ctas = B * heads_eff * m_blocks64 * splits
        # fp32 partial outputs and log-sum-exps, written and read back by the combine step
        partial = B * heads_eff * L_eff * splits * (Dv + 1) * 4 * 2 if splits > 1 else 0
        detail = f"{splits} KV split{'s' * (splits > 1)}, {ctas} blocks"
    else:  # FlashAttention-2 forward: 128-query blocks (64 for head dims > 128)
        kernel, bm = "flash_attention", (128 if D <= 128 else 64)
        m_blocks = math.ceil(L_eff / bm)
        for j in range(m_blocks):
            need = math.ceil(min(S, min(L_eff, (j + 1) * bm)) / block_n) if causal else n_blocks
            groups.append((bm * need * per_key_block, B * heads_eff))
        ctas = B * heads_eff * m_blocks
        partial = 0
        detail = f"{ctas} blocks of {bm} queries" + (", causal blocks skipped" if causal else "")
    compute = _list_schedule(groups, slots)
    total_bytes = nbytes + partial
    bw = prof.bandwidth_bytes_per_s * prof.class_efficiency("attention") * min(1.0, ctas / sms)
    memory = total_bytes / bw
    t = max(compute, memory) + lat
    act = _activity(flops, total_bytes, t, prof.peak_flops(cprec) * prof.attention_max_efficiency, prof)
    return KernelCost(kernel, flops, total_bytes, t, compute, memory, act, 1, detail)


def vector_kernel(prof: GpuProfile, kind: str, flops: int, nbytes: int, kernels: int = 1) -> KernelCost:
    """Device time of a memory-bound kernel of op ``kind`` (``kernels`` of them, e.g. an
    unfused chain, sharing the FLOPs and bytes)."""
    cls = kernel_class(kind)
    eff = prof.memory_efficiency_for(kind, cls)
    compute = flops / prof.vector_flops
    memory = nbytes / (prof.bandwidth_bytes_per_s * eff)
    t = max(compute, memory) + kernels * prof.kernel_latency_us * 1e-6
    act = _activity(flops, nbytes, t, prof.vector_flops, prof)
    return KernelCost(cls, int(flops), int(nbytes), t, compute, memory, act, kernels)


def op_kernel(graph: Graph, op: Op, prof: GpuProfile, precision: str, launch: str = "eager",
              producers: Mapping[str, Op] | None = None,
              memo: dict[tuple[Any, ...], KernelCost] | None = None) -> KernelCost | None:
    """The device cost of ``op`` (``None``: it launches nothing). ``precision`` is a GPU
    precision. ``memo`` caches GEMM and attention kernels by shape (for one profile and
    precision: the layers of a model repeat the same few shapes)."""
    cost = op_cost(graph, op, precision, producers)
    if cost is None:
        return None
    if cost.gemm is not None or cost.attention is not None:
        key = (cost.gemm, cost.attention, cost.bytes)
        if memo is not None and key in memo:
            return memo[key]
        if cost.gemm is not None:
            kc = gemm_kernel(prof, precision, *cost.gemm, cost.bytes)
        else:
            assert cost.attention is not None
            kc = flash_attention_kernel(prof, precision, cost.attention, cost.bytes)
        if memo is not None:
            memo[key] = kc
        return kc
    if op.kind == "fused":
        subs = _fused_sub_costs(graph, op, precision)
        if launch == "eager" and subs:  # eager PyTorch: one kernel per sub-op
            parts = [vector_kernel(prof, s.kind, c.flops, c.bytes) for s, c in subs]
            t = math.fsum(p.kernel_s for p in parts)
            flops, nb = sum(p.flops for p in parts), sum(p.bytes for p in parts)
            act = _activity(flops, nb, t, prof.vector_flops, prof)
            return KernelCost("elementwise", flops, nb, t, math.fsum(p.compute_s for p in parts),
                              math.fsum(p.memory_s for p in parts), act, len(parts),
                              f"{len(parts)} unfused kernels")
        kc = vector_kernel(prof, "fused", cost.flops, cost.bytes)
        return KernelCost(kc.kernel, kc.flops, kc.bytes, kc.kernel_s, kc.compute_s, kc.memory_s, kc.activity,
                          1, f"{len(subs)} ops fused")
    return vector_kernel(prof, op.kind, cost.flops, cost.bytes)


# -- simulation ---------------------------------------------------------------------------------


def simulate_gpu(
    graph: Graph,
    profile: GpuProfile | str,
    precision: str = "bf16",
    *,
    launch: str = "eager",
) -> GpuResult:
    """Run ``graph`` through the kernel model of ``profile`` (a profile or its name).

    ``precision`` is a GPU or ASIC precision name, mapped by
    :func:`~accelsim.gpu.profile.gpu_precision` (fp32 stays FP32, not TF32). ``launch`` is
    ``"eager"`` (host launch and framework overhead per op, overlapped with earlier kernels) or
    ``"graph"`` (CUDA-graph replay: a small gap per kernel). Pure and deterministic.
    """
    if launch not in LAUNCH_MODES:
        raise ValueError(f"launch must be one of {', '.join(LAUNCH_MODES)}, got {launch!r}")
    prof = load_profile(profile) if isinstance(profile, str) else profile
    prec = gpu_precision(precision)
    prof.peak_flops(prec)  # raises when the GPU lacks the precision
    dyn_w = prof.tdp_w - prof.idle_power_w
    host_launch = prof.launch_overhead_us * 1e-6
    host_fw = prof.framework_overhead_us * 1e-6
    graph_gap = prof.graph_launch_overhead_us * 1e-6

    producers = graph.producers()
    memo: dict[tuple[Any, ...], KernelCost] = {}
    results: list[GpuOpResult] = []
    free: list[str] = []
    host_t = 0.0  # eager: when the host has issued everything so far
    gpu_t = 0.0  # when the GPU finishes everything issued so far
    for op in graph.ops:
        kc = op_kernel(graph, op, prof, prec, launch, producers, memo)
        if kc is None:
            free.append(op.name)
            continue
        gpu_gap = kc.kernels * graph_gap  # the GPU's own gap before a kernel it has queued
        if launch == "graph":
            launch_s, framework_s = gpu_gap, 0.0
        else:
            lh, fh = kc.kernels * host_launch, kc.kernels * host_fw
            host_t += lh + fh
            start = max(gpu_t + gpu_gap, host_t)
            gap = start - gpu_t
            if host_t > gpu_t + gpu_gap and lh + fh > 0:  # waiting for the host: its two costs
                launch_s = gap * lh / (lh + fh)
            else:  # the GPU's own gap
                launch_s = gap
            framework_s = gap - launch_s
            gpu_t = start + kc.kernel_s
        time_s = kc.kernel_s + launch_s + framework_s
        if launch_s + framework_s > kc.kernel_s:
            bound = "launch"
        else:
            bound = "compute" if kc.compute_s >= kc.memory_s else "memory"
        energy = prof.idle_power_w * time_s + dyn_w * kc.activity * kc.kernel_s
        results.append(
            GpuOpResult(
                op=op.name,
                kind=op.kind,
                module=op.module,
                kernel=kc.kernel,
                kernels=kc.kernels,
                flops=int(kc.flops),
                bytes=int(kc.bytes),
                time_s=time_s,
                kernel_s=kc.kernel_s,
                compute_s=kc.compute_s,
                memory_s=kc.memory_s,
                launch_s=launch_s,
                framework_s=framework_s,
                bound=bound,
                energy_j=energy,
                achieved_tflops=kc.flops / time_s / 1e12 if time_s > 0 else 0.0,
                detail=kc.detail,
            )
        )
    return GpuResult(
        profile=prof.name,
        precision=prec,
        launch_mode=launch,
        latency_s=math.fsum(r.time_s for r in results),
        energy_j=math.fsum(r.energy_j for r in results),
        ops=tuple(results),
        free_ops=tuple(free),
    )


# -- multi-GPU collectives ---------------------------------------------------------------------


def ring_allreduce_s(nbytes: float, n: int, bandwidth_bytes_per_s: float, latency_s: float) -> float:
    """Ring all-reduce of ``nbytes`` over ``n`` devices (s): ``2 (n-1)/n * nbytes / B + 2 (n-1) *
    a`` with ``B`` the per-direction bandwidth each device sends at and ``a`` the per-hop latency
    (Patarasuk and Yuan, JPDC 2009: a reduce-scatter then an all-gather, n-1 steps each). 0 for
    one device."""
    if n < 1:
        raise ValueError(f"all-reduce over {n} devices")
    if nbytes < 0 or bandwidth_bytes_per_s <= 0 or latency_s < 0:
        raise ValueError("all-reduce needs bytes >= 0, bandwidth > 0 and latency >= 0")
    if n == 1:
        return 0.0
    return 2 * (n - 1) / n * nbytes / bandwidth_bytes_per_s + 2 * (n - 1) * latency_s


def ring_allgather_s(nbytes: float, n: int, bandwidth_bytes_per_s: float, latency_s: float) -> float:
    """Ring all-gather (or reduce-scatter) of an ``nbytes`` result over ``n`` devices (s): half a
    ring all-reduce, ``(n-1)/n * nbytes / B + (n-1) * a``."""
    return ring_allreduce_s(nbytes, n, bandwidth_bytes_per_s, latency_s) / 2


def gpu_allreduce_s(profile: GpuProfile | str, nbytes: float, n: int) -> float:
    """Ring all-reduce of ``nbytes`` over ``n`` GPUs of ``profile``, on its interconnect
    (all its links together per direction, its per-hop latency). A profile without an
    ``interconnect`` raises :class:`~accelsim.errors.SpecError`."""
    from accelsim.errors import SpecError

    prof = load_profile(profile) if isinstance(profile, str) else profile
    ic = prof.interconnect
    if ic is None:
        if n == 1:
            return 0.0
        raise SpecError(f"GPU profile '{prof.name}' has no interconnect: cannot cost {n} GPUs")
    return ring_allreduce_s(nbytes, n, ic.bandwidth_bytes_per_s, ic.latency_us * 1e-6)


# -- N GPUs: the tensor- / pipeline-parallel split of accelsim.passes.shard -----------------------


@dataclass(frozen=True)
class GpuSystemResult:
    """``tp x pp`` GPUs running the per-stage graphs of a tensor- and pipeline-parallel split.

    ``result`` is a :class:`GpuResult` whose ``ops`` are stage 0's ops, then stage 1's, ...
    (each with its collectives as ``network``-bound ops) and whose ``latency_s`` / ``energy_j``
    are the whole system's."""

    result: GpuResult
    gpus: int
    tp: int
    pp: int
    microbatches: int
    stage_s: tuple[float, ...]  # one micro-batch through each stage, collectives included
    collective_s: float  # per micro-batch, all stages
    send_s: float  # per micro-batch, every stage boundary
    algorithm: str
    bandwidth_gbps: float
    latency_us: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "gpus": self.gpus, "tp": self.tp, "pp": self.pp, "microbatches": self.microbatches,
            "stage_s": list(self.stage_s), "collective_s": self.collective_s, "send_s": self.send_s,
            "algorithm": self.algorithm, "bandwidth_per_direction_gbps": self.bandwidth_gbps,
            "latency_us": self.latency_us,
        }


def simulate_gpu_system(
    stage_graphs: Sequence[Graph],
    profile: GpuProfile | str,
    precision: str = "bf16",
    *,
    tp: int = 1,
    microbatches: int = 1,
    collectives: Mapping[str, tuple[str, int]] | None = None,
    sends: Sequence[Sequence[tuple[int, int]]] = (),
    launch: str = "eager",
) -> GpuSystemResult:
    """The same split on GPUs of ``profile``: stage ``s`` on ``tp`` GPUs each running
    ``stage_graphs[s]`` (one rank's graph; every rank alike), over the profile's interconnect.

    ``collectives``: marker op name (``view`` ops of the stage graphs, free here) -> (kind,
    elements of the whole tensor); each costs the **direct** ("two-shot") algorithm of
    :mod:`accelsim.model.collectives` on an NVSwitch fabric, where every pair of GPUs is one hop
    and a GPU's ``links x link_bandwidth`` is shared by its ``tp - 1`` peers:
    all-reduce ``2 (S/n / (B/(n-1)) + a)``, all-gather ``S/n / (B/(n-1)) + a``, at the profile's
    per-hop latency ``a``; it runs on the GPU's stream between the kernels around it.
    ``sends[s]``: (elements, destination stage) sent after stage ``s``: ``S/B + a`` each. Bytes are
    elements x the GPU precision's size. Micro-batches flow as GPipe:
    ``sum(t_s) + (m-1) max(t_s) + sends``; each GPU draws idle power while it waits.
    """
    from accelsim.model.collectives import direct_allgather_s, direct_allreduce_s, direct_reduce_scatter_s, p2p_s

    prof = load_profile(profile) if isinstance(profile, str) else profile
    prec = gpu_precision(precision)
    colls = dict(collectives or {})
    pp = len(stage_graphs)
    gpus = tp * pp
    ic = prof.interconnect
    if gpus > 1 and ic is None:
        from accelsim.errors import SpecError

        raise SpecError(f"GPU profile '{prof.name}' has no interconnect: cannot model {gpus} GPUs "
                        "(use --no-gpu or a profile with NVLink, e.g. h100)")
    B = ic.bandwidth_bytes_per_s if ic is not None else 1.0
    a = ic.latency_us * 1e-6 if ic is not None else 0.0
    elem = GPU_PRECISION_BYTES.get(prec, 2)
    ops: list[GpuOpResult] = []
    free: list[str] = []
    stage_s: list[float] = []
    stage_e: list[float] = []
    coll_total = 0.0
    for g in stage_graphs:
        r = simulate_gpu(g, prof, prec, launch=launch)
        by_name = {o.op: o for o in r.ops}
        t_stage, e_stage = r.latency_s, r.energy_j
        for op in g.ops:
            if op.name in by_name:
                ops.append(by_name[op.name])
            elif op.name in colls:
                kind, n_el = colls[op.name]
                nbytes = n_el * elem
                peer = B / (tp - 1) if tp > 1 else B
                f = {"all_reduce": direct_allreduce_s, "all_gather": direct_allgather_s,
                     "reduce_scatter": direct_reduce_scatter_s}[kind]
                t = f(nbytes, tp, peer, a) if tp > 1 else 0.0
                e = prof.idle_power_w * t
                coll_total += t
                t_stage += t
                e_stage += e
                ops.append(GpuOpResult(op=op.name, kind=kind, module=op.module, kernel=f"{kind} (direct, NVSwitch)",
                                       kernels=1, flops=0, bytes=int(nbytes), time_s=t, kernel_s=t, compute_s=0.0,
                                       memory_s=0.0, launch_s=0.0, framework_s=0.0, bound="network", energy_j=e,
                                       achieved_tflops=0.0, detail=f"{tp} GPUs, {B / 1e9:g} GB/s, {a * 1e6:g} us"))
            else:
                free.append(op.name)
        stage_s.append(t_stage)
        stage_e.append(e_stage)
    send_s = math.fsum(p2p_s(n_el * elem, B, a, 1) for ss in sends for n_el, _ in ss) if gpus > 1 else 0.0
    m = max(1, microbatches)
    makespan = math.fsum(stage_s) + (m - 1) * max(stage_s) + send_s
    # every GPU of stage s: m micro-batches of its stage's energy, idle power for the rest
    energy = math.fsum(tp * (m * e + prof.idle_power_w * max(0.0, makespan - m * t))
                       for t, e in zip(stage_s, stage_e))
    res = GpuResult(profile=prof.name, precision=prec, launch_mode=launch, latency_s=makespan, energy_j=energy,
                    ops=tuple(ops), free_ops=tuple(free))
    return GpuSystemResult(res, gpus, tp, pp, m, tuple(stage_s), coll_total, send_s,
                           "direct (two-shot) over NVSwitch", B / 1e9, a * 1e6)
