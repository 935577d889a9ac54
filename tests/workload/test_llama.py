"""The shipped Llama-style workload (workloads/llama.py): GQA, RoPE, RMSNorm, SwiGLU, readable
module names, an explicit KV cache for decode steps, built on the meta device without --check."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from accelsim.errors import WorkloadError  # noqa: E402
from accelsim.workload.gemm import gemm_view  # noqa: E402
from accelsim.workload.registry import load_graph, load_traced  # noqa: E402
from accelsim.workload.replay import replay  # noqa: E402

torch.set_num_threads(1)


def macs(g) -> int:
    total = 0
    for op in g.ops:
        if op.kind in ("linear", "matmul"):
            total += gemm_view(op, g).macs
        elif op.kind == "sdpa":
            q, k, v = (g.tensors[i].shape for i in op.inputs[:3])
            total += q[0] * q[1] * q[2] * k[2] * (q[3] + v[3])
    return total


def by_hand(layers: int, dim: int, heads: int, kv: int, ffn: int, vocab: int, t: int, past: int = 0) -> int:
    """Per layer: q, o d x d; k, v d x kv*hd; gate, up, down 3 d ffn; attention over past + t
    keys (QK^T and PV, every head); the LM head d x vocab."""
    hd = dim // heads
    proj = t * (2 * dim * dim + 2 * dim * kv * hd + 3 * dim * ffn)
    attn = 2 * heads * t * (past + t) * hd
    return layers * (proj + attn) + t * dim * vocab


P = {"layers": 2, "dim": 64, "heads": 4, "kv_heads": 2, "ffn": 96, "vocab": 128}


@pytest.fixture(scope="module")
def prefill():
    return load_traced("llama", {**P, "seq": 8})


def test_prefill(prefill):
    g = prefill.graph
    assert macs(g) == by_hand(2, 64, 4, 2, 96, 128, 8)
    c = g.op_counts()
    assert c["rms_norm"] == 5 and c["silu"] == 2 and c["sdpa"] == 2 and "sin" not in c  # RoPE folded
    mods = {op.module for op in g.ops}
    assert {"layers.1.attn.q_proj", "layers.1.attn.k_proj", "layers.1.mlp.up_proj", "layers.0.mlp.down_proj",
            "layers.0.attn_norm", "norm", "lm_head"} <= mods
    k = g.tensors["layers.0.attn.k_proj.weight"]
    assert k.shape == (2 * 16, 64)  # GQA: 2 KV heads of 16
    out = replay(prefill)
    assert all(torch.equal(out[n], prefill.eager_outputs[n]) for n in g.outputs)
    assert load_graph("llama", {**P, "seq": 8}) == g  # the meta-device build traces the same graph


def test_decode_step():
    tr = load_traced("llama", {**P, "decode": "true", "kv_len": 12})
    g = tr.graph
    assert g.inputs[0] == "idx" and g.tensors["idx"].shape == (1, 1)
    past = [g.tensors[i] for i in g.inputs[1:]]
    assert len(past) == 4 and all(t.shape == (1, 2, 12, 16) for t in past)
    assert len(g.outputs) == 1 + 4 and all(g.tensors[o].shape == (1, 2, 1, 16) for o in g.outputs[1:])
    assert macs(g) == by_hand(2, 64, 4, 2, 96, 128, 1, past=12)
    out = replay(tr)
    assert all(torch.equal(out[n], tr.eager_outputs[n]) for n in g.outputs)
    # several new tokens attend causally over the cache (a folded bottom-right causal mask)
    g3 = load_graph("llama", {**P, "decode": True, "kv_len": 12, "seq": 3})
    assert macs(g3) == by_hand(2, 64, 4, 2, 96, 128, 3, past=12)
    assert any(f["kind"] == "static" and f["shape"] == [1, 1, 3, 15] for f in g3.meta["folded"])


def test_bad_params():
    with pytest.raises(WorkloadError, match="multiple of kv_heads"):
        load_graph("llama", {**P, "kv_heads": 3})
    with pytest.raises(WorkloadError, match="decode=true needs kv_len"):
        load_graph("llama", {**P, "decode": True})
    with pytest.raises(WorkloadError, match="meta=true builds no weights"):
        load_traced("llama", {**P, "meta": "true"})


@pytest.mark.slow
def test_7b_shapes_trace_on_meta():
    g = load_graph("llama2-7b", {"seq": 128})
    assert macs(g) == by_hand(32, 4096, 32, 32, 11008, 32000, 128)
