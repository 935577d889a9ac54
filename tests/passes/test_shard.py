"""Tensor- and pipeline-parallel partitioning (accelsim/passes/shard.py) on traced models."""

from __future__ import annotations

import importlib.util

import pytest

from accelsim import api
from accelsim.errors import MappingError
from accelsim.passes.shard import Cut, layer_of, shard_tp, split_pp
from accelsim.workload.gemm import gemm_view
from accelsim.workload.ir import Graph, Op, TensorInfo


@pytest.fixture(scope="module")
def llama_decode() -> Graph:
    # GQA (8 heads, 2 KV heads), RoPE, SwiGLU, an explicit KV cache of 16 tokens
    return api.load_graph("llama", {"layers": 2, "decode": True, "kv_len": 16})


@pytest.fixture(scope="module")
def gpt2() -> Graph:
    # fused q | k | v projection, biases, LM head tied to the embedding
    return api.load_graph("gpt2-tiny", {"seq": 16})


def _gemm_macs(g: Graph) -> int:
    tot = 0
    for op in g.ops:
        if op.kind in ("linear", "matmul"):
            v = gemm_view(op, g)
            tot += v.batch * v.M * v.N * v.K
        elif op.kind == "sdpa":
            q, k = g.tensors[op.inputs[0]].shape, g.tensors[op.inputs[1]].shape
            tot += q[0] * q[1] * q[2] * k[2] * 2 * q[3]
    return tot


def _by_module(g: Graph, names: tuple[str, ...]) -> set[str]:
    ops = {op.name: op.module for op in g.ops}
    return {ops[n].rsplit(".", 1)[-1] for n in names}


def test_megatron_split_of_a_llama_decode_step(llama_decode: Graph) -> None:
    g = llama_decode
    plan = shard_tp(g, 2)
    assert _by_module(g, plan.column) == {"q_proj", "k_proj", "v_proj", "gate_proj", "up_proj"}
    assert _by_module(g, plan.row) == {"o_proj", "down_proj"}
    assert _by_module(g, plan.vocab) == {"lm_head"}
    assert len(plan.attention) == 2 and not plan.replicated
    kinds = [c.kind for c in plan.collectives]
    assert kinds == ["all_reduce", "all_reduce"] * 2 + ["all_gather"]  # two per block, logits gathered
    assert [c.module.rsplit(".", 1)[-1] for c in plan.collectives[:2]] == ["o_proj", "down_proj"]
    rg = plan.graph
    rg.verify()
    T, R = g.tensors, rg.tensors
    # column-parallel: output features halved; row-parallel: input features halved
    assert R["layers.0.attn.q_proj.weight"].shape == (128, 256)
    assert R["layers.0.attn.k_proj.weight"].shape == (32, 256)  # 2 KV heads -> 1 per chip
    assert R["layers.0.attn.o_proj.weight"].shape == (256, 128)
    assert R["layers.0.mlp.down_proj.weight"].shape == (256, 344)
    # the KV cache is sharded by head: inputs and the new rows alike
    for t in [i for i in g.inputs if i != "idx"]:
        assert R[t].shape == (1, 1, 16, 32) and T[t].shape == (1, 2, 16, 32)
        assert plan.cuts[t] == Cut(t, 1, (2,), 2)
    assert set(plan.output_cuts) == set(g.outputs[1:])
    # the arithmetic of the GEMMs and attention is split exactly in two
    assert 2 * _gemm_macs(rg) == _gemm_macs(g)
    # the all-reduced tensors are the whole activations
    assert all(c.elements == 256 for c in plan.collectives if c.kind == "all_reduce")
    assert plan.collectives[-1].elements == 1024  # the whole vocabulary


def test_fused_qkv_is_cut_per_section_and_tied_weights_split_their_use(gpt2: Graph) -> None:
    plan = shard_tp(gpt2, 2)
    c = plan.cuts["h.0.attn.c_attn.weight"]
    assert c.sections == (128, 128, 128) and c.dim == 0
    # rank 1 keeps the second half of each of q, k, v
    assert c.ranges(1) == [(64, 128), (192, 256), (320, 384)]
    assert plan.cuts["h.0.attn.c_attn.bias"].ranges(0) == [(0, 64), (128, 192), (256, 320)]
    rg = plan.graph
    # the embedding reads the whole table, the tied LM head a vocabulary slice of it
    emb = next(op for op in rg.ops if op.kind == "embedding" and op.module == "wte")
    head = next(op for op in rg.ops if op.module == "lm_head" and op.kind == "linear")
    assert emb.inputs[0] == "wte.weight" and rg.tensors["wte.weight"].shape == (1024, 128)
    assert rg.tensors[head.inputs[1]].shape == (512, 128)
    assert plan.cuts[head.inputs[1]].source == "wte.weight"
    # a row-parallel layer's bias is added once, after its all-reduce
    bias_adds = [op for op in rg.ops if op.name.endswith(".bias")]
    assert len(bias_adds) == 4 and all(op.kind == "add" for op in bias_adds)
    assert 2 * _gemm_macs(rg) == _gemm_macs(gpt2)


def test_cut_take_matches_ranges() -> None:
    import torch

    c = Cut("w", 0, (4, 2), 2)
    w = torch.arange(12.0).reshape(6, 2)
    assert c.take(w, 0)[:, 0].tolist() == [0.0, 2.0, 8.0]
    assert c.take(w, 1)[:, 0].tolist() == [4.0, 6.0, 10.0]


@pytest.mark.slow  # tracing a Hugging Face model: ~8 s
@pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="needs the [hf] extra")
def test_hugging_face_gpt2_conv1d_layers() -> None:
    g = api.load_graph("hf:gpt2", {"seq": 8, "n_layer": 1, "n_embd": 64, "n_head": 4, "vocab_size": 256})
    plan = shard_tp(g, 2)
    # Conv1D keeps weights [in, out]: column-parallel cuts dim 1, row-parallel dim 0
    assert plan.cuts["transformer.h.0.attn.c_attn.weight"] == Cut("transformer.h.0.attn.c_attn.weight", 1,
                                                                   (64, 64, 64), 2)
    assert plan.cuts["transformer.h.0.mlp.c_proj.weight"].dim == 0
    assert len(plan.row) == 2 and len(plan.attention) == 1
    assert 2 * _gemm_macs(plan.graph) == _gemm_macs(g)


def test_refusals_name_the_op_and_the_reason(gpt2: Graph, llama_decode: Graph) -> None:
    with pytest.raises(MappingError, match=r"4 heads .* do not split over 8 chips"):
        shard_tp(gpt2, 8)
    with pytest.raises(MappingError, match=r"h\.0\.attn\.c_attn.*do not split into 3 equal parts"):
        shard_tp(gpt2, 3)
    # 2 KV heads over 4 chips: the first problem is the K/V reshape
    with pytest.raises(MappingError, match=r"first problem: .*its 2 heads"):
        shard_tp(llama_decode, 4)
    with pytest.raises(MappingError, match="no linear layer or attention to split"):
        shard_tp(api.load_graph("gemm:M=64,N=64,K=64"), 2)


def test_a_convolution_is_refused() -> None:
    T = {
        "x": TensorInfo("x", (1, 4, 8, 8), "float32", "input", "x"),
        "w": TensorInfo("w", (8, 4, 3, 3), "float32", "weight", "w"),
        "y": TensorInfo("y", (1, 8, 6, 6), "float32"),
        "f": TensorInfo("f", (1, 288), "float32"),
        "w2": TensorInfo("w2", (16, 288), "float32", "weight", "w2"),
        "h": TensorInfo("h", (1, 16), "float32"),
        "w3": TensorInfo("w3", (4, 16), "float32", "weight", "w3"),
        "o": TensorInfo("o", (1, 4), "float32"),
    }
    ops = (
        Op("conv", "conv2d", ("x", "w"), ("y",), {"stride": [1, 1], "padding": [0, 0], "dilation": [1, 1],
                                                  "groups": 1}, "conv"),
        Op("flat", "view", ("y",), ("f",), {"op": "reshape", "shape": [1, 288]}, ""),
        Op("fc1", "linear", ("f", "w2"), ("h",), {}, "fc1"),
        Op("fc2", "linear", ("h", "w3"), ("o",), {}, "fc2"),
    )
    g = Graph("convnet", T, ops, ("x",), ("o",))
    g.verify()
    with pytest.raises(MappingError, match=r"conv2d.*convolutions are not split"):
        shard_tp(g, 2)


def test_an_output_head_that_does_not_divide_stays_whole() -> None:
    g = api.load_graph("llama", {"layers": 1, "seq": 8, "vocab": 1001})
    plan = shard_tp(g, 2)
    assert _by_module(g, plan.replicated) == {"lm_head"}
    assert plan.notes and "1001 output features" in plan.notes[0]
    assert not any(c.kind == "all_gather" for c in plan.collectives)


def test_layer_of() -> None:
    assert layer_of("layers.3.attn.q_proj") == 3
    assert layer_of("model.layers.12.mlp") == 12
    assert layer_of("transformer.h.0.ln_1") == 0
    assert layer_of("lm_head") is None and layer_of("") is None


def test_pipeline_stages_cut_between_layers() -> None:
    g = api.load_graph("llama", {"layers": 4, "seq": 8})
    cost = lambda op, gg: 1.0 if op.kind == "linear" else 0.0  # noqa: E731
    stages = split_pp(g, 2, cost)
    assert [s.layers for s in stages] == [(0, 1), (2, 3)]
    # every op in exactly one stage; the residual stream is the only tensor crossing
    names = [op.name for s in stages for op in s.graph.ops]
    assert sorted(names) == sorted(op.name for op in g.ops)
    assert len(stages[0].send) == 1 and stages[1].recv == ((stages[0].send[0][0], 0),)
    t = stages[0].send[0][0]
    assert stages[1].graph.tensors[t].kind == "input" and t in stages[0].graph.outputs
    assert stages[0].cost == stages[1].cost - 1  # the LM head rides with the last layer
    for s in stages:
        s.graph.verify()
    # 4 layers into 4 stages: one layer each; more stages than layers is refused
    assert [s.layers for s in split_pp(g, 4, cost)] == [(0, 0), (1, 1), (2, 2), (3, 3)]
    with pytest.raises(MappingError, match="fewer than --pp 5 stages"):
        split_pp(g, 5, cost)


def test_pipeline_stages_of_a_decode_step_keep_the_cache_convention(llama_decode: Graph) -> None:
    # graph.meta["kv_cache"]: inputs 1..n and outputs 1..m are the cache, in every stage graph
    plan = shard_tp(llama_decode, 2)
    assert plan.graph.meta["kv_cache"]["kv_heads"] == 1  # each chip caches its half of the heads
    s0, s1 = split_pp(plan.graph, 2, lambda op, g: 1.0)
    for st, first in ((s0, "idx"), (s1, s0.send[0][0])):
        kv = st.graph.meta["kv_cache"]
        assert st.graph.inputs[0] == first
        assert kv["inputs"] == kv["outputs"] == 2 and kv["layers"] == 1
        assert all(st.graph.tensors[t].shape[1] == 1 for t in st.graph.inputs[1:3])  # [B, KV/2, L, hd]
        assert all(t.startswith("past_") for t in st.graph.inputs[1:3])
    assert s0.graph.outputs[0] == s0.send[0][0] and s1.graph.outputs[0] == llama_decode.outputs[0]
