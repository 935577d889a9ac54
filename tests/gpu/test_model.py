"""GPU kernel model: GEMM tiles and waves, FlashAttention-2 / FlashDecoding, memory-bound kernel
classes, eager vs CUDA-graph launch, FLOP/byte counting per op kind, energy, collectives.

Expected figures are derived in the tests from the formulas of accelsim/gpu/model.py's docstring
and from physical bounds (nothing is copied from a model run). Agreement with measurements is in
test_calibration.py. Graphs are built directly from the IR dataclasses (no torch)."""

from __future__ import annotations

import itertools
import json
import math

import pytest

from accelsim.errors import MappingError, SpecError
from accelsim.gpu import (
    AttentionDims,
    GpuResult,
    flash_attention_kernel,
    gemm_kernel,
    gpu_allreduce_s,
    load_profile,
    ring_allgather_s,
    ring_allreduce_s,
    simulate_gpu,
)
from accelsim.gpu.model import GEMM_TILES, fa2_num_splits, kernel_class, op_cost
from accelsim.workload.ir import Graph, Op, TensorInfo

H100 = load_profile("h100")
A100 = load_profile("a100")
PROFILES = [H100, A100, load_profile("h200"), load_profile("l4"), load_profile("v100")]


def T(name: str, *shape: int, dtype: str = "float16", kind: str = "activation") -> TensorInfo:
    return TensorInfo(name, tuple(shape), dtype, kind)  # type: ignore[arg-type]


def make_graph(tensors: list[TensorInfo], ops: list[Op], name: str = "g") -> Graph:
    g = Graph(name, {t.name: t for t in tensors}, tuple(ops),
              tuple(t.name for t in tensors if t.kind == "input"), ops[-1].outputs)
    g.verify()
    return g


def gemm_graph(M: int, N: int, K: int) -> Graph:
    """One ``[M, K] @ [K, N]`` matmul."""
    return make_graph([T("a", M, K, kind="input"), T("b", K, N, kind="weight"), T("c", M, N)],
                      [Op("mm", "matmul", ("a", "b"), ("c",))])


_ATTRS: dict[str, dict[str, object]] = {"softmax": {"dim": -1}, "gelu": {"approximate": "none"}}


def unary_graph(kind: str, n: int, **attrs: object) -> Graph:
    """One element-wise / row op on ``n`` elements (``layer_norm``: with weight and bias)."""
    a = {**_ATTRS.get(kind, {}), **attrs}
    if kind == "layer_norm":
        return make_graph([T("x", n, kind="input"), T("w", n, kind="weight"), T("b", n, kind="weight"), T("y", n)],
                          [Op("u", kind, ("x", "w", "b"), ("y",), {"normalized_shape": [n], **a})])
    return make_graph([T("x", n, kind="input"), T("y", n)], [Op("u", kind, ("x",), ("y",), a)])


def gemm_bytes(M: int, N: int, K: int, elem: int = 2) -> int:
    return (M * K + K * N + M * N) * elem


LAT = 2e-6  # kernel_latency_us of every shipped profile


# -- GEMM ------------------------------------------------------------------------------------------


def test_h100_large_bf16_gemm_near_max_achievable() -> None:
    """8192^3 bf16: stas00's max achievable matmul rate on H100 is 80 % of peak (gpus.md)."""
    op = simulate_gpu(gemm_graph(8192, 8192, 8192), H100, "bf16").ops[0]
    frac = op.flops / op.kernel_s / 989.4e12
    assert 0.72 <= frac <= H100.gemm_max_efficiency
    assert op.bound == "compute" and op.kernel == "gemm"


def test_wave_quantisation_one_tile_shape() -> None:
    """One tile shape, no split-K: time = waves * tile time + latency, with waves = ceil(tiles /
    SMs). 4 x 27 = 108 tiles of 128x128 fill an A100 once; 4 x 28 = 112 need a second wave."""
    M, K, sms = 512, 16384, A100.sm_count
    tile_s = 2 * 128 * 128 * K / (312e12 / sms * A100.gemm_max_efficiency)

    def run(n_cols: int, **kw: object):  # type: ignore[no-untyped-def]
        N = 128 * n_cols
        return gemm_kernel(A100, "bf16", 1, M, N, K, gemm_bytes(M, N, K), **kw)  # type: ignore[arg-type]

    one, two = run(27, tiles=((128, 128),), splits=(1,)), run(28, tiles=((128, 128),), splits=(1,))
    assert one.compute_s == pytest.approx(tile_s) and two.compute_s == pytest.approx(2 * tile_s)
    assert one.compute_s > one.memory_s
    assert one.kernel_s == pytest.approx(tile_s + LAT) and "1 wave" in one.detail and "2 waves" in two.detail
    # with every tile shape and split-K to choose from the second wave costs less, but still shows
    best1, best2 = run(27), run(28)
    assert best2.flops / best2.kernel_s < 0.95 * best1.flops / best1.kernel_s


def test_small_tiles_are_fed_from_l2() -> None:
    """A 64x64 tile needs (64+64)*k*2 bytes per 2*64*64*k FLOPs (32 FLOP/B): on an A100 its SM's
    share of L2 bandwidth (7219 GB/s / 108) binds before the tensor cores do."""
    K = 4096
    k = gemm_kernel(A100, "bf16", 1, 64, 64, K, gemm_bytes(64, 64, K), tiles=((64, 64),), splits=(1,))
    l2_s = 128 * K * 2 / (7219.2e9 / 108)
    mma_s = 2 * 64 * 64 * K / (312e12 / 108 * A100.gemm_max_efficiency)
    assert l2_s > mma_s and k.compute_s == pytest.approx(l2_s)


@pytest.mark.parametrize("prof", [H100, A100])
@pytest.mark.parametrize("M", [1, 8, 32])
def test_small_m_gemm_streams_the_weights(prof, M: int) -> None:  # type: ignore[no-untyped-def]
    """Decode-like GEMMs (M = batch) are bound by reading the weight once: never faster than
    bytes / peak bandwidth, and at the GEMM's achieved bandwidth once split-K fills the SMs."""
    N = K = 4096
    op = simulate_gpu(gemm_graph(M, N, K), prof, "bf16").ops[0]
    nbytes = gemm_bytes(M, N, K)
    assert op.bound == "memory" and op.bytes == nbytes
    assert op.kernel_s >= nbytes / prof.bandwidth_bytes_per_s
    floor = nbytes / (prof.bandwidth_bytes_per_s * prof.gemm_memory_efficiency)
    assert floor < op.kernel_s <= 1.15 * floor + LAT  # + split-K partials summed in L2


def test_gemm_time_never_decreases_with_work() -> None:
    for prof in (H100, A100):
        for N, K in ((4096, 4096), (1024, 12288), (50257, 768)):
            ts = [gemm_kernel(prof, "bf16", 1, M, N, K, gemm_bytes(M, N, K)).kernel_s
                  for M in (1, 16, 64, 128, 300, 1024, 4096, 5000, 16384)]
            assert all(a <= b * (1 + 1e-12) for a, b in itertools.pairwise(ts)), (prof.name, N, K, ts)


@pytest.mark.parametrize("prof", PROFILES, ids=lambda p: p.name)
@pytest.mark.parametrize(("M", "N", "K"), [(1, 4096, 4096), (64, 12288, 12288), (8192, 1024, 1024),
                                           (4096, 4096, 4096), (3, 5, 7), (50000, 64, 64)])
def test_gemm_within_physical_roofs(prof, M: int, N: int, K: int) -> None:  # type: ignore[no-untyped-def]
    prec = "fp16"
    k = gemm_kernel(prof, prec, 1, M, N, K, gemm_bytes(M, N, K))
    assert k.kernel_s >= 2 * M * N * K / prof.peak_flops(prec) + LAT * (1 - 1e-9)
    assert k.kernel_s >= gemm_bytes(M, N, K) / prof.bandwidth_bytes_per_s
    assert 0 < k.activity <= 1


def test_gemm_rejects_empty_dims() -> None:
    with pytest.raises(ValueError):
        gemm_kernel(H100, "bf16", 1, 0, 8, 8, 0)


def test_tile_set() -> None:
    assert (128, 128) in GEMM_TILES and (256, 128) in GEMM_TILES and min(min(t) for t in GEMM_TILES) == 64


# -- attention -------------------------------------------------------------------------------------


def _sdpa_graph(L: int, S: int, causal: bool, mask: bool = False, B: int = 2, H: int = 4, Hkv: int | None = None,
                D: int = 64, Dv: int = 32, kind: str = "sdpa") -> Graph:
    Hkv = Hkv or H
    tensors = [T("q", B, H, L, D, kind="input"), T("k", B, Hkv, S, D, kind="input"),
               T("v", B, Hkv, S, Dv, kind="input"), T("o", B, H, L, Dv)]  # fmt: skip
    ins: tuple[str, ...] = ("q", "k", "v")
    if mask:
        tensors.append(T("m", L, S, dtype="bool", kind="input"))
        ins = (*ins, "m")
    return make_graph(tensors, [Op("attn", kind, ins, ("o",), {"is_causal": causal, "enable_gqa": Hkv != H})])


def test_sdpa_flops_full_and_causal() -> None:
    full = simulate_gpu(_sdpa_graph(256, 256, False), H100, "bf16").ops[0]
    assert full.flops == 2 * 8 * 256 * 256 * (64 + 32)
    causal = simulate_gpu(_sdpa_graph(256, 256, True), H100, "bf16").ops[0]
    assert causal.flops == 2 * 8 * (256 * 257 // 2) * (64 + 32)  # only unmasked pairs
    # fused: only q, k, v, o move (no L x S scores)
    assert full.bytes == 2 * 8 * (256 * 64 * 2 + 256 * 32 * 2)
    # L < S: each query sees i+1 keys (PyTorch's top-left causal mask)
    dec = simulate_gpu(_sdpa_graph(2, 256, True), H100, "bf16").ops[0]
    assert dec.flops == 2 * 8 * (1 + 2) * 96


def test_sdpa_bool_mask_bytes_at_own_dtype() -> None:
    with_mask = simulate_gpu(_sdpa_graph(64, 64, False, mask=True), H100, "bf16").ops[0]
    without = simulate_gpu(_sdpa_graph(64, 64, False), H100, "bf16").ops[0]
    assert with_mask.bytes - without.bytes == 64 * 64  # bool = 1 byte


def test_prefill_is_flash_attention_and_compute_bound() -> None:
    op = simulate_gpu(_sdpa_graph(4096, 4096, True, B=1, H=32, D=128, Dv=128), A100, "bf16").ops[0]
    assert op.kernel == "flash_attention" and op.bound == "compute"
    # below the per-tile ceiling (FlashAttention-2: up to 73 % of the A100 peak), above half of it
    frac = op.flops / op.kernel_s / 312e12
    assert 0.5 * A100.attention_max_efficiency < frac < A100.attention_max_efficiency


def test_causal_skips_key_blocks() -> None:
    """L = S = 8192, head dim 128: 128-query blocks over 128-key blocks; query block j needs j+1
    of the 64 key blocks, so causal does 64*65/2 of 64*64 block products = 0.508 of the work.
    27 heads x 64 query blocks = 1728 blocks = 8 full waves on an A100's 2 x 108 slots, so the
    full attention has no wave tail to distort the ratio."""
    dims = {"B": 1, "H": 27, "D": 128, "Dv": 128}
    full = simulate_gpu(_sdpa_graph(8192, 8192, False, **dims), A100, "bf16").ops[0]  # type: ignore[arg-type]
    causal = simulate_gpu(_sdpa_graph(8192, 8192, True, **dims), A100, "bf16").ops[0]  # type: ignore[arg-type]
    assert causal.compute_s / full.compute_s == pytest.approx(64 * 65 / 2 / 64**2, rel=0.02)


def test_fa2_split_heuristic_matches_its_source_comment() -> None:
    """flash_api.cpp: 'batch * n_heads = 48 and 108 SMs: 2 splits (efficiency 0.89) is better
    than 3 splits (0.67)'; enough blocks to fill 80 % of the SMs: 1 split."""
    assert fa2_num_splits(48, 108, 64) == 2
    assert fa2_num_splits(87, 108, 64) == 1
    assert fa2_num_splits(1, 108, 1) == 1  # one KV block cannot be split


@pytest.mark.parametrize("prof", [A100, H100])
def test_decode_streams_the_kv_cache(prof) -> None:  # type: ignore[no-untyped-def]
    """One query per sequence over a 32k cache: FlashDecoding splits the KV length so the SMs fill,
    and the kernel is bound by reading K and V once."""
    B, H, Hkv, S, D = 1, 32, 8, 32768, 128
    op = simulate_gpu(_sdpa_graph(1, S, False, B=B, H=H, Hkv=Hkv, D=D, Dv=D), prof, "bf16").ops[0]
    kv = 2 * B * Hkv * S * D * 2
    assert op.kernel == "flash_decoding" and op.bound == "memory" and "KV splits" in op.detail
    assert op.kernel_s >= kv / prof.bandwidth_bytes_per_s
    assert op.kernel_s <= 1.15 * kv / (prof.bandwidth_bytes_per_s * prof.class_efficiency("attention")) + LAT


def test_decode_gqa_costs_the_kv_heads() -> None:
    """Decode time is set by the KV bytes: 32 query heads over 8 KV heads cost about what 8 over 8 do."""
    gqa = simulate_gpu(_sdpa_graph(1, 8192, False, B=4, H=32, Hkv=8, D=128, Dv=128), A100, "bf16").ops[0]
    mha8 = simulate_gpu(_sdpa_graph(1, 8192, False, B=4, H=8, Hkv=8, D=128, Dv=128), A100, "bf16").ops[0]
    mha32 = simulate_gpu(_sdpa_graph(1, 8192, False, B=4, H=32, Hkv=32, D=128, Dv=128), A100, "bf16").ops[0]
    assert gqa.kernel_s == pytest.approx(mha8.kernel_s, rel=0.05)
    assert mha32.kernel_s > 3 * gqa.kernel_s


def _composite_graph(B: int, H: int, Hkv: int, L: int, S: int, D: int, causal: bool) -> Graph:
    """An ``attention`` composite as a graph pass builds it: repeat the KV heads (GQA), Q K^T,
    scale, softmax, P V, over internal tensors."""
    g = H // Hkv
    sub = [Op("k_u", "view", ("k",), ("k_1",), {"op": "unsqueeze", "dim": 2}).to_dict(),
           Op("k_e", "view", ("k_1",), ("k_x",), {"op": "expand", "shape": [B, Hkv, g, S, D]}).to_dict(),
           Op("k_r", "view", ("k_x",), ("k_h",), {"op": "reshape", "shape": [B, H, S, D]}).to_dict(),
           Op("v_u", "view", ("v",), ("v_1",), {"op": "unsqueeze", "dim": 2}).to_dict(),
           Op("v_e", "view", ("v_1",), ("v_x",), {"op": "expand", "shape": [B, Hkv, g, S, D]}).to_dict(),
           Op("v_r", "view", ("v_x",), ("v_h",), {"op": "reshape", "shape": [B, H, S, D]}).to_dict(),
           Op("qk", "matmul", ("q", "k_h"), ("s",), {"transpose_b": True}).to_dict(),
           Op("sc", "mul", ("s",), ("s2",), {"other": 0.125}).to_dict(),
           Op("sm", "softmax", ("s2",), ("p",), {"dim": -1}).to_dict(),
           Op("pv", "matmul", ("p", "v_h"), ("o",)).to_dict()]
    tensors = [T("q", B, H, L, D, kind="input"), T("k", B, Hkv, S, D, kind="input"),
               T("v", B, Hkv, S, D, kind="input"), T("o", B, H, L, D)]
    return make_graph(tensors, [Op("attn", "attention", ("q", "k", "v"), ("o",),
                                   {"is_causal": causal, "sub_ops": sub})])


def test_repeated_kv_heads_are_read_once() -> None:
    """Hugging Face's repeat_kv (unsqueeze, expand, reshape to the query heads) feeding an sdpa:
    the GPU kernel reads the 8 shared KV heads, as with enable_gqa."""
    B, H, Hkv, S, D = 2, 32, 8, 4096, 128
    tensors = [T("q", B, H, 1, D, kind="input"), T("k", B, Hkv, S, D, kind="input"),
               T("v", B, Hkv, S, D, kind="input"), T("o", B, H, 1, D)]
    ops = []
    for x in ("k", "v"):
        tensors += [T(f"{x}1", B, Hkv, 1, S, D), T(f"{x}x", B, Hkv, H // Hkv, S, D), T(f"{x}h", B, H, S, D)]
        ops += [Op(f"{x}_u", "view", (x,), (f"{x}1",), {"op": "unsqueeze", "dim": 2}),
                Op(f"{x}_e", "view", (f"{x}1",), (f"{x}x",), {"op": "expand", "shape": [B, Hkv, H // Hkv, S, D]}),
                Op(f"{x}_r", "view", (f"{x}x",), (f"{x}h",), {"op": "reshape", "shape": [B, H, S, D]})]
    ops.append(Op("attn", "sdpa", ("q", "kh", "vh"), ("o",), {"is_causal": False}))
    g = make_graph(tensors, ops)
    rep = simulate_gpu(g, A100, "bf16")
    gqa = simulate_gpu(_sdpa_graph(1, S, False, B=B, H=H, Hkv=Hkv, D=D, Dv=D), A100, "bf16").ops[0]
    assert len(rep.ops) == 1 and len(rep.free_ops) == 6
    assert (rep.ops[0].bytes, rep.ops[0].kernel_s) == (gqa.bytes, gqa.kernel_s)
    cost = op_cost(g, g.ops[-1], "bf16")
    assert cost is not None and cost.attention is not None and cost.attention.kv_heads == Hkv
    assert cost.bytes == 2 * (2 * B * H * D + 2 * B * Hkv * S * D)  # q, o; K, V of the 8 KV heads


@pytest.mark.parametrize(("B", "H", "Hkv", "L", "S", "causal"), [(2, 8, 8, 512, 512, True), (4, 32, 8, 1, 4096, False)])
def test_attention_composite_costs_as_sdpa(B: int, H: int, Hkv: int, L: int, S: int, causal: bool) -> None:
    a = simulate_gpu(_composite_graph(B, H, Hkv, L, S, 64, causal), H100, "bf16").ops[0]
    s = simulate_gpu(_sdpa_graph(L, S, causal, B=B, H=H, Hkv=Hkv, D=64, Dv=64), H100, "bf16").ops[0]
    assert (a.kernel, a.flops, a.bytes, a.kernel_s) == (s.kernel, s.flops, s.bytes, s.kernel_s)


def test_bad_attention_shapes_name_the_op() -> None:
    """(Graph.verify refuses this graph too; the GPU model does not rely on it.)"""
    ts = [T("q", 2, 4, 8, 64, kind="input"), T("k", 2, 4, 8, 32, kind="input"),
          T("v", 2, 4, 8, 64, kind="input"), T("o", 2, 4, 8, 64)]
    g = Graph("g", {t.name: t for t in ts}, (Op("bad", "sdpa", ("q", "k", "v"), ("o",), module="h.0.attn"),),
              ("q", "k", "v"), ("o",))
    with pytest.raises(MappingError, match=r"op 'bad' \[sdpa\] in module 'h.0.attn'.*do not form an attention"):
        simulate_gpu(g, H100, "bf16")


@pytest.mark.parametrize("prof", PROFILES, ids=lambda p: p.name)
@pytest.mark.parametrize(("B", "H", "Hkv", "L", "S", "D", "causal"), [
    (1, 32, 32, 2048, 2048, 128, True), (8, 12, 12, 1024, 1024, 64, True), (1, 32, 8, 1, 4096, 128, False),
    (64, 32, 8, 1, 512, 128, False), (2, 4, 4, 7, 9, 256, False)])
def test_attention_within_physical_roofs(prof, B, H, Hkv, L, S, D, causal) -> None:  # type: ignore[no-untyped-def]
    dims = AttentionDims(B, H, Hkv, L, S, D, D, causal)
    nbytes = (2 * B * H * L * D + 2 * B * Hkv * S * D) * 2
    k = flash_attention_kernel(prof, "fp16", dims, nbytes)
    assert k.kernel_s >= dims.flops / prof.peak_flops("fp16") + LAT * (1 - 1e-9)
    assert k.kernel_s >= nbytes / prof.bandwidth_bytes_per_s
    assert 0 <= k.activity <= 1


# -- memory-bound kernels ------------------------------------------------------------------------


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_big_gelu_hits_the_elementwise_bandwidth(precision: str) -> None:
    n = 1 << 29
    op = simulate_gpu(unary_graph("gelu", n), H100, precision).ops[0]
    assert op.bound == "memory" and op.kernel == "elementwise"
    assert op.bytes == 2 * n * 2
    assert op.kernel_s == pytest.approx(op.bytes / (3350e9 * H100.class_efficiency("elementwise")) + LAT)


def test_kernel_classes_have_their_own_bandwidth() -> None:
    n = 1 << 26
    g = make_graph([T("x", 8192, n // 8192, kind="input"), T("w", n // 8192, kind="weight"),
                    T("b", n // 8192, kind="weight"), T("s", 8192, n // 8192), T("y", 8192, n // 8192),
                    T("z", 8192, n // 8192)],
                   [Op("sm", "softmax", ("x",), ("s",), {"dim": -1}),
                    Op("ln", "layer_norm", ("s", "w", "b"), ("y",), {"normalized_shape": [n // 8192]}),
                    Op("cp", "view", ("y",), ("z",), {"op": "clone"})])
    r = simulate_gpu(g, A100, "fp16")
    by = {o.op: o for o in r.ops}
    assert [by[n].kernel for n in ("sm", "ln", "cp")] == ["softmax", "norm", "copy"]
    for name, cls in (("sm", "softmax"), ("ln", "norm"), ("cp", "copy")):
        o = by[name]
        assert o.bytes / (o.kernel_s - LAT) == pytest.approx(2039e9 * A100.class_efficiency(cls))
    assert A100.class_efficiency("copy") == A100.memory_efficiency == 0.9  # a plain copy: ~90 % (gpus.md)
    assert kernel_class("rms_norm") == "norm" and kernel_class("embedding") == "gather"
    assert kernel_class("silu") == "elementwise"


def test_tiny_kernel_eager_is_host_bound() -> None:
    """One tiny op alone: framework + launch host time, then the kernel."""
    for prof in (H100, A100):
        op = simulate_gpu(unary_graph("gelu", 1024), prof, "bf16").ops[0]
        host = (prof.framework_overhead_us + prof.launch_overhead_us) * 1e-6
        assert op.bound == "launch"
        assert op.launch_s == pytest.approx(prof.launch_overhead_us * 1e-6)
        assert op.framework_s == pytest.approx(prof.framework_overhead_us * 1e-6)
        assert op.time_s == pytest.approx(host + op.kernel_s)
        assert op.kernel_s == pytest.approx(LAT, rel=0.01)


def test_cuda_graph_launch_gap() -> None:
    op = simulate_gpu(unary_graph("relu", 1024), H100, "bf16", launch="graph").ops[0]
    assert op.launch_s == pytest.approx(1.3e-6) and op.framework_s == 0
    assert op.time_s == pytest.approx(op.kernel_s + 1.3e-6)
    with pytest.raises(ValueError, match="launch must be one of eager, graph"):
        simulate_gpu(unary_graph("relu", 8), H100, "bf16", launch="lazy")


def _chain(n: int, M: int, N: int) -> Graph:
    tensors = [T("x0", M, N, kind="input"), T("w", N, N, kind="weight")]
    ops = []
    for i in range(n):
        tensors.append(T(f"x{i + 1}", M, N))
        ops.append(Op(f"fc{i}", "linear", (f"x{i}", "w"), (f"x{i + 1}",)))
    return make_graph(tensors, ops)


def test_eager_overlaps_host_with_long_kernels() -> None:
    """Kernels longer than the host's per-op time: only the first op's host time is exposed;
    later kernels wait only for the GPU's own gap (as in a graph replay)."""
    r = simulate_gpu(_chain(6, 4096, 4096), H100, "bf16")
    host = (H100.framework_overhead_us + H100.launch_overhead_us) * 1e-6
    assert all(o.kernel_s > host for o in r.ops)
    assert r.latency_s == pytest.approx(r.kernel_s + host + 5 * 1.3e-6)
    assert r.ops[0].launch_s + r.ops[0].framework_s == pytest.approx(host)
    assert all(o.launch_s == pytest.approx(1.3e-6) and o.framework_s == 0 for o in r.ops[1:])
    g = simulate_gpu(_chain(6, 4096, 4096), H100, "bf16", launch="graph")
    assert g.latency_s == pytest.approx(r.kernel_s + 6 * 1.3e-6) and g.latency_s < r.latency_s


def test_eager_tiny_kernels_are_host_bound() -> None:
    """Kernels shorter than the host's per-op time h: op i starts at i*h, so n ops take n*h + the
    last kernel."""
    n = 8
    r = simulate_gpu(_chain(n, 1, 64), H100, "bf16")
    host = (H100.framework_overhead_us + H100.launch_overhead_us) * 1e-6
    assert all(o.kernel_s < host for o in r.ops)
    assert r.latency_s == pytest.approx(n * host + r.ops[-1].kernel_s)
    g = simulate_gpu(_chain(n, 1, 64), H100, "bf16", launch="graph")
    assert g.latency_s == pytest.approx(g.kernel_s + n * 1.3e-6)
    assert g.kernel_s == pytest.approx(r.kernel_s)  # kernel time does not depend on the launch mode


def test_eager_never_beats_a_graph_replay() -> None:
    for g in (_mixed_graph(), _chain(5, 1, 64), _chain(3, 2048, 2048), gemm_graph(1, 4096, 4096)):
        for prof in (A100, H100):
            assert simulate_gpu(g, prof, "bf16").latency_s >= simulate_gpu(g, prof, "bf16", launch="graph").latency_s


def test_time_splits_into_kernel_launch_framework() -> None:
    for launch in ("eager", "graph"):
        r = simulate_gpu(_mixed_graph(), A100, "bf16", launch=launch)
        for o in r.ops:
            assert o.time_s == pytest.approx(o.kernel_s + o.launch_s + o.framework_s)
        assert r.latency_s == pytest.approx(r.kernel_s + r.launch_s + r.framework_s)
        d = r.to_dict()
        assert d["launch_mode"] == launch
        assert (d["kernel_s"], d["launch_s"], d["framework_s"]) == (r.kernel_s, r.launch_s, r.framework_s)


def test_fused_chain_eager_unfused_graph_fused() -> None:
    """A fused element-wise chain: eager PyTorch runs each sub-op (internal tensors shaped like the
    output); a compiled CUDA-graph step runs one kernel over the external tensors."""
    n = 1 << 24
    sub = [Op("a", "mul", ("x", "y"), ("t0",)).to_dict(), Op("b", "gelu", ("t0",), ("t1",)).to_dict(),
           Op("c", "add", ("t1", "x"), ("out",)).to_dict()]
    g = make_graph([T("x", n, kind="input"), T("y", n, kind="input"), T("out", n)],
                   [Op("f", "fused", ("x", "y"), ("out",), {"sub_ops": sub})])
    eager = simulate_gpu(g, A100, "fp16").ops[0]
    graph = simulate_gpu(g, A100, "fp16", launch="graph").ops[0]
    assert eager.kernels == 3 and graph.kernels == 1
    assert eager.bytes == (3 + 2 + 3) * n * 2  # each sub-op reads its inputs and writes once
    assert graph.bytes == 3 * n * 2  # x, y in; out once
    assert eager.flops == graph.flops == (1 + 8 + 1) * n
    eff = A100.class_efficiency("elementwise")
    assert graph.kernel_s == pytest.approx(3 * n * 2 / (2039e9 * eff) + LAT)
    assert eager.kernel_s == pytest.approx(8 * n * 2 / (2039e9 * eff) + 3 * LAT)


# -- FLOPs and bytes per op kind ---------------------------------------------------------------


def test_linear_flops_and_bias_bytes() -> None:
    g = make_graph(
        [T("x", 4, 128, 768, kind="input"), T("w", 3072, 768, kind="weight"), T("b", 3072, kind="weight"),
         T("y", 4, 128, 3072)],
        [Op("fc", "linear", ("x", "w", "b"), ("y",), module="h.0.mlp.c_fc")],
    )  # fmt: skip
    op = simulate_gpu(g, H100, "bf16").ops[0]
    assert op.flops == 2 * 512 * 3072 * 768
    assert op.bytes == 2 * (512 * 768 + 3072 * 768 + 3072 + 512 * 3072)
    assert op.module == "h.0.mlp.c_fc" and op.kind == "linear"


def test_batched_matmul_with_transpose_b() -> None:
    g = make_graph(
        [T("q", 2, 12, 128, 64, kind="input"), T("k", 2, 12, 128, 64, kind="input"), T("s", 2, 12, 128, 128)],
        [Op("qk", "matmul", ("q", "k"), ("s",), {"transpose_b": True})],
    )
    op = simulate_gpu(g, H100, "bf16").ops[0]
    assert op.flops == 2 * 24 * 128 * 128 * 64
    # 24 batched GEMMs of 128x128: at least one 128x128-or-larger tile each
    assert op.kernel_s >= 2 * 128 * 128 * 64 / (989.4e12 / 132) + LAT * (1 - 1e-9)


def test_matmul_broadcast_weight() -> None:
    g = make_graph(
        [T("a", 8, 16, 32, kind="input"), T("b", 32, 48, kind="weight"), T("c", 8, 16, 48)],
        [Op("mm", "matmul", ("a", "b"), ("c",))],
    )
    assert simulate_gpu(g, H100, "bf16").ops[0].flops == 2 * 8 * 16 * 48 * 32


def test_conv2d_im2col_flops() -> None:
    g = make_graph(
        [T("x", 2, 16, 32, 32, kind="input"), T("w", 32, 8, 3, 3, kind="weight"), T("y", 2, 32, 30, 30)],
        [Op("conv", "conv2d", ("x", "w"), ("y",), {"stride": [1, 1], "padding": [0, 0], "groups": 2})],
    )
    op = simulate_gpu(g, H100, "fp16").ops[0]
    assert op.flops == 2 * (2 * 30 * 30) * 32 * (8 * 3 * 3)
    assert op.bytes == 2 * (2 * 16 * 32 * 32 + 32 * 8 * 9 + 2 * 32 * 30 * 30)


@pytest.mark.parametrize(
    ("kind", "per"), [("add", 1), ("gelu", 8), ("softmax", 5), ("layer_norm", 8), ("relu", 1)]
)
def test_vector_flops_per_element(kind: str, per: int) -> None:
    op = simulate_gpu(unary_graph(kind, 4096), H100, "bf16").ops[0]
    assert op.flops == per * 4096


def test_embedding_reads_rows_not_table_and_int_indices() -> None:
    g = make_graph(
        [T("wte", 50257, 768, kind="weight"), T("ids", 4, 128, dtype="int64", kind="input"),
         T("e", 4, 128, 768)],
        [Op("emb", "embedding", ("wte", "ids"), ("e",))],
    )
    op = simulate_gpu(g, H100, "bf16").ops[0]
    assert op.bytes == 512 * 8 + 2 * (512 * 768 * 2)  # int64 ids + rows read + output written
    assert op.flops == 0 and op.kernel == "gather"


def test_views_are_free_and_copies_are_kernels() -> None:
    g = make_graph(
        [T("x", 4, 8, 16, kind="input"), T("p", 4, 16, 8), T("c", 4, 16, 8), T("r", 512), T("z", 512),
         T("cat", 1024)],
        [
            Op("perm", "view", ("x",), ("p",), {"op": "permute", "dims": [0, 2, 1]}),
            Op("cont", "view", ("p",), ("c",), {"op": "contiguous"}),
            Op("flat", "view", ("c",), ("r",), {"op": "reshape", "shape": [512]}),
            Op("zeros", "const", (), ("z",), {"op": "zeros", "shape": [512], "dtype": "float16"}),
            Op("join", "view", ("r", "z"), ("cat",), {"op": "cat", "dim": 0}),
        ],
    )  # fmt: skip
    r = simulate_gpu(g, H100, "fp32")
    assert [o.op for o in r.ops] == ["cont", "join"]
    assert r.free_ops == ("perm", "flat", "zeros")
    assert r.ops[0].bytes == 2 * 512 * 4 and r.ops[1].bytes == (512 + 512 + 1024) * 4
    assert all(o.flops == 0 for o in r.ops)
    host = (H100.framework_overhead_us + H100.launch_overhead_us) * 1e-6
    assert r.latency_s == pytest.approx(2 * host + r.ops[1].kernel_s)  # two tiny host-bound kernels


def test_precision_sets_peak_and_bytes() -> None:
    g = gemm_graph(4096, 4096, 4096)
    i8 = simulate_gpu(g, H100, "int8").ops[0]
    bf = simulate_gpu(g, H100, "bf16").ops[0]
    f32 = simulate_gpu(g, H100, "fp32").ops[0]
    assert (i8.bytes, bf.bytes, f32.bytes) == (bf.bytes // 2, bf.bytes, bf.bytes * 2)
    assert i8.compute_s < bf.compute_s < f32.compute_s
    # fp32 is honest FP32 (CUDA cores): at least peak(bf16)/peak(fp32) = 14.8x slower than bf16
    assert f32.compute_s >= bf.compute_s * 989.4 / 66.9 * 0.95
    assert simulate_gpu(g, H100, "int16").precision == "fp32"


def test_missing_precision_is_an_error() -> None:
    with pytest.raises(SpecError, match="v100-sxm2' has no bf16"):
        simulate_gpu(gemm_graph(64, 64, 64), load_profile("v100"), "bf16")


def test_profile_by_name() -> None:
    assert simulate_gpu(gemm_graph(64, 64, 64), "a100", "fp16").profile == "a100-sxm-80gb"


# -- energy and results --------------------------------------------------------------------------


def _mixed_graph() -> Graph:
    return make_graph(
        [T("x", 2048, 4096, kind="input"), T("w1", 4096, 4096, kind="weight"), T("h", 2048, 4096),
         T("a", 2048, 4096), T("w2", 16, 4096, kind="weight"), T("y", 2048, 16), T("s", 2048, 16)],
        [
            Op("fc1", "linear", ("x", "w1"), ("h",), module="mlp.fc1"),
            Op("act", "gelu", ("h",), ("a",), module="mlp"),
            Op("fc2", "linear", ("a", "w2"), ("y",), module="mlp.fc2"),
            Op("sm", "softmax", ("y",), ("s",), {"dim": -1}),
        ],
    )  # fmt: skip


def test_energy_positive_and_sum_of_ops() -> None:
    r = simulate_gpu(_mixed_graph(), H100, "bf16")
    assert all(o.energy_j > 0 for o in r.ops)
    assert r.energy_j == pytest.approx(sum(o.energy_j for o in r.ops))
    assert r.latency_s == pytest.approx(sum(o.time_s for o in r.ops))
    for o in r.ops:  # power between idle and TDP
        assert H100.idle_power_w * o.time_s <= o.energy_j * (1 + 1e-9) <= H100.tdp_w * o.time_s * (1 + 1e-9)


def test_power_follows_activity() -> None:
    big = simulate_gpu(gemm_graph(8192, 8192, 8192), H100, "bf16").ops[0]
    assert big.energy_j / big.time_s == pytest.approx(H100.tdp_w, rel=0.05)  # best-case GEMM at ~TDP
    tiny = simulate_gpu(unary_graph("gelu", 1024), H100, "bf16").ops[0]
    assert tiny.energy_j / tiny.time_s == pytest.approx(H100.idle_power_w, rel=0.01)  # host-bound


def test_to_dict_deterministic_and_json() -> None:
    a = simulate_gpu(_mixed_graph(), H100, "bf16").to_dict()
    b = simulate_gpu(_mixed_graph(), load_profile("h100-sxm"), "bf16").to_dict()
    assert a == b
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert a["profile"] == "h100-sxm" and a["precision"] == "bf16" and a["kernels"] == 4
    assert [o["op"] for o in a["ops"]] == ["fc1", "act", "fc2", "sm"]
    assert set(a["ops"][0]) >= {"op", "kind", "module", "kernel", "kernels", "flops", "bytes", "time_s",
                                "kernel_s", "compute_s", "memory_s", "launch_s", "framework_s", "bound",
                                "energy_j", "achieved_tflops", "detail"}  # fmt: skip
    assert set(a) >= {"latency_s", "kernel_s", "launch_s", "framework_s", "launch_mode", "energy_j", "ops"}
    assert sum(a["bound_counts"].values()) == 4
    assert all(math.isfinite(o["time_s"]) for o in a["ops"])


def test_top_ops() -> None:
    r: GpuResult = simulate_gpu(_mixed_graph(), H100, "bf16")
    top = r.top_ops(2)
    assert len(top) == 2 and top[0].op == "fc1"
    assert top[0].time_s >= top[1].time_s
    assert len(r.top_ops(10)) == 4


# -- collectives -----------------------------------------------------------------------------------


def test_ring_allreduce_formula() -> None:
    """2 (n-1)/n x bytes / B + 2 (n-1) x a (Patarasuk and Yuan 2009), by hand for n = 8."""
    S, B, a = 64e6, 450e9, 8.92e-6
    assert ring_allreduce_s(S, 8, B, a) == pytest.approx(2 * 7 / 8 * S / B + 14 * a)
    assert ring_allreduce_s(S, 1, B, a) == 0.0
    assert ring_allgather_s(S, 8, B, a) == pytest.approx(7 / 8 * S / B + 7 * a)
    with pytest.raises(ValueError):
        ring_allreduce_s(S, 0, B, a)


def test_gpu_allreduce_on_profile_links() -> None:
    S = 16 * 4096 * 2  # one decode token's activations, batch 16, d 4096, bf16
    assert gpu_allreduce_s("h100", S, 8) == pytest.approx(2 * 7 / 8 * S / 450e9 + 14 * 8.92e-6)
    assert gpu_allreduce_s("a100", S, 4) == pytest.approx(2 * 3 / 4 * S / 300e9 + 6 * 8.92e-6)
    assert gpu_allreduce_s("l4", S, 2) == pytest.approx(2 * 1 / 2 * S / 32e9 + 2 * 8.92e-6)
    no_links = H100.model_copy(update={"interconnect": None})
    assert gpu_allreduce_s(no_links, S, 1) == 0.0
    with pytest.raises(SpecError, match="no interconnect"):
        gpu_allreduce_s(no_links, S, 2)
