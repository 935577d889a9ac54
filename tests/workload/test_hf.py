"""Hugging Face models as the library builds them (``hf:<model_type>``): tiny configs of each
family trace at the library's defaults (``use_cache``, default attention), MACs equal a count
derived by hand from the config, and the traced graph replays the eager model exactly."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from accelsim.errors import WorkloadError  # noqa: E402
from accelsim.workload.gemm import gemm_view  # noqa: E402
from accelsim.workload.ir import Graph  # noqa: E402
from accelsim.workload.registry import load_graph, load_traced  # noqa: E402
from accelsim.workload.replay import replay  # noqa: E402

torch.set_num_threads(1)

T = 8  # tokens per sequence in every tiny config
NL = 1  # layers (one keeps the test fast; the formulas below scale with it)
D, H, FF, V = 64, 4, 128, 256  # width, heads, MLP width, vocab


def macs(g: Graph) -> int:
    """GEMM MACs of a graph: the GEMM view of linear / matmul / conv ops, attention in full
    (QK^T and PV over every (query, key) pair, as the mask does not change the array's work)."""
    total = 0
    for op in g.ops:
        if op.kind in ("linear", "matmul", "conv2d", "conv1d"):
            total += gemm_view(op, g).macs
        elif op.kind == "sdpa":
            q, k, v = (g.tensors[i].shape for i in op.inputs[:3])
            total += math.prod(q[:-1]) * k[-2] * (q[-1] + v[-1])
    return total


# family -> (hf: params, MACs by hand from the config). Per layer of a transformer with width d,
# sequence t and MLP width i: Q, K, V, O projections 4 t d^2 (GQA: K, V are d x kv_heads*head_dim),
# the MLP 2 t d i (SwiGLU: 3 t d i), attention 2 t^2 d (QK^T and PV).
FAMILIES: dict[str, tuple[dict, int]] = {
    "gpt2": (dict(n_layer=NL, n_embd=D, n_head=H, vocab_size=V, seq=T),
             # c_attn 3d^2 + c_proj d^2 + c_fc 4d^2 + mlp.c_proj 4d^2 per token; lm_head d V
             NL * (12 * T * D * D + 2 * T * T * D) + T * D * V),
    "llama": (dict(num_hidden_layers=NL, hidden_size=D, num_attention_heads=H, num_key_value_heads=2,
                   intermediate_size=FF, vocab_size=V, seq=T),
              # q, o: d^2; k, v: d x (2 kv heads x 16) ; gate, up, down: 3 d i
              NL * (T * (2 * D * D + 2 * D * 2 * (D // H) + 3 * D * FF) + 2 * T * T * D) + T * D * V),
    "qwen2": (dict(num_hidden_layers=NL, hidden_size=D, num_attention_heads=H, num_key_value_heads=2,
                   intermediate_size=FF, vocab_size=V, seq=T),
              NL * (T * (2 * D * D + 2 * D * 2 * (D // H) + 3 * D * FF) + 2 * T * T * D) + T * D * V),
    "bert": (dict(num_hidden_layers=NL, hidden_size=D, num_attention_heads=H, intermediate_size=FF, vocab_size=V,
                  seq=T, pad=3),
             # + the pooler's d x d on the first token
             NL * (4 * T * D * D + 2 * T * D * FF + 2 * T * T * D) + D * D),
    "bart": (dict(encoder_layers=NL, decoder_layers=1, d_model=D, encoder_attention_heads=H, decoder_attention_heads=H,
                  encoder_ffn_dim=FF, decoder_ffn_dim=FF, vocab_size=V, seq=T, dec_seq=5),
             # encoder: NL layers; decoder: self-attention over 5 tokens, cross-attention (K, V over
             # the 8 encoder tokens), FFN; lm_head over the 5 decoder tokens
             NL * (4 * T * D * D + 2 * T * D * FF + 2 * T * T * D)
             + (4 * 5 * D * D + 2 * 5 * 5 * D) + (2 * 5 * D * D + 2 * T * D * D + 2 * 5 * T * D) + 2 * 5 * D * FF
             + 5 * D * V),
    "vit": (dict(num_hidden_layers=NL, hidden_size=D, num_attention_heads=H, intermediate_size=FF, image_size=32,
                 patch_size=8),
            # 16 patches + CLS = 17 tokens; patch embedding 16 x d x (3 * 8 * 8); pooler d^2 on CLS
            16 * D * 3 * 64 + NL * (4 * 17 * D * D + 2 * 17 * D * FF + 2 * 17 * 17 * D) + D * D),
    "mistral": (dict(num_hidden_layers=NL, hidden_size=D, num_attention_heads=H, num_key_value_heads=2,
                     intermediate_size=FF, vocab_size=V, seq=T),
                NL * (T * (2 * D * D + 2 * D * 2 * (D // H) + 3 * D * FF) + 2 * T * T * D) + T * D * V),
    # Gemma: head_dim 16 given (its default is 256), one K/V head (MQA), GeGLU gate/up/down 3 d i
    "gemma": (dict(num_hidden_layers=NL, hidden_size=D, num_attention_heads=H, num_key_value_heads=1, head_dim=D // H,
                   intermediate_size=FF, vocab_size=V, seq=T),
              NL * (T * (2 * D * D + 2 * D * (D // H) + 3 * D * FF) + 2 * T * T * D) + T * D * V),
    # Phi, GPT-NeoX: q, k, v, dense d^2 each (NeoX: one fused d x 3d), fc1 / fc2 2 d i
    "phi": (dict(num_hidden_layers=NL, hidden_size=D, num_attention_heads=H, intermediate_size=FF, vocab_size=V,
                 seq=T),
            NL * (T * (4 * D * D + 2 * D * FF) + 2 * T * T * D) + T * D * V),
    "gpt_neox": (dict(num_hidden_layers=NL, hidden_size=D, num_attention_heads=H, intermediate_size=FF,
                      vocab_size=V, seq=T),
                 NL * (T * (4 * D * D + 2 * D * FF) + 2 * T * T * D) + T * D * V),
    # OPT: q, k, v, out_proj d^2, fc1 / fc2 2 d ffn_dim (no project_in/out: word_embed_proj_dim = d)
    "opt": (dict(num_hidden_layers=NL, hidden_size=D, num_attention_heads=H, ffn_dim=FF, word_embed_proj_dim=D,
                 vocab_size=V, seq=T),
            NL * (T * (4 * D * D + 2 * D * FF) + 2 * T * T * D) + T * D * V),
    # Falcon (multi-query, parallel attention): query_key_value d x (d + 2 head_dim), dense d^2,
    # dense_h_to_4h / dense_4h_to_h 2 d 4d
    "falcon": (dict(num_hidden_layers=NL, hidden_size=D, num_attention_heads=H, vocab_size=V, seq=T),
               NL * (T * (D * (D + 2 * (D // H)) + D * D + 8 * D * D) + 2 * T * T * D) + T * D * V),
    "roberta": (dict(num_hidden_layers=NL, hidden_size=D, num_attention_heads=H, intermediate_size=FF,
                     vocab_size=V, seq=T, pad=3),
                NL * (4 * T * D * D + 2 * T * D * FF + 2 * T * T * D) + D * D),
    # DistilBERT: as BERT, no pooler
    "distilbert": (dict(n_layers=NL, dim=D, n_heads=H, hidden_dim=FF, vocab_size=V, seq=T, pad=3),
                   NL * (4 * T * D * D + 2 * T * D * FF + 2 * T * T * D)),
    # T5 (inner = num_heads x d_kv = d): as BART (the relative position bias is an addend)
    "t5": (dict(num_layers=NL, num_decoder_layers=1, d_model=D, d_kv=D // H, num_heads=H, d_ff=FF, vocab_size=V,
                seq=T, dec_seq=5),
           NL * (4 * T * D * D + 2 * T * D * FF + 2 * T * T * D)
           + (4 * 5 * D * D + 2 * 5 * 5 * D) + (2 * 5 * D * D + 2 * T * D * D + 2 * 5 * T * D) + 2 * 5 * D * FF
           + 5 * D * V),
    # Whisper base model: conv1 16 mel bins -> d, k 3, over 2 x 8 frames; conv2 d -> d, k 3,
    # stride 2 (8 positions); the encoder over 8 tokens; a decoder over seq = 5 tokens with
    # cross-attention to them; no LM head (WhisperModel)
    "whisper": (dict(encoder_layers=NL, decoder_layers=1, d_model=D, encoder_attention_heads=H,
                     decoder_attention_heads=H, encoder_ffn_dim=FF, decoder_ffn_dim=FF, vocab_size=V,
                     max_source_positions=8, num_mel_bins=16, pad_token_id=0, seq=5),
                16 * D * 16 * 3 + 8 * D * D * 3 + NL * (4 * 8 * D * D + 2 * 8 * D * FF + 2 * 8 * 8 * D)
                + (4 * 5 * D * D + 2 * 5 * 5 * D) + (2 * 5 * D * D + 2 * 8 * D * D + 2 * 5 * 8 * D) + 2 * 5 * D * FF),
    "mamba": (dict(num_hidden_layers=NL, hidden_size=D, vocab_size=V, state_size=8, seq=4),
              # d_inner = 2d = 128, dt_rank = ceil(d / 16) = 4, conv kernel 4 (depthwise); per layer
              # in_proj d x 2 d_inner, conv d_inner x 4 over T + 3 positions (the library pads by
              # kernel - 1 and keeps the first T), x_proj d_inner x (4 + 2 x 8), dt_proj 4 x d_inner,
              # the scan's y_t = h_t C_t (d_inner x 8), out_proj d_inner x d; lm_head d V
              # (4 tokens: the scan is unrolled per token)
              NL * (4 * (D * 256 + 128 * 20 + 4 * 128 + 128 * 8 + 128 * D) + (4 + 3) * 128 * 4) + 4 * D * V),
}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request) -> tuple[str, dict, int, Graph, object]:
    name = request.param
    params, expect = FAMILIES[name]
    tr = load_traced(f"hf:{name}", params)  # seeded random weights: the eager outputs are kept too
    return name, params, expect, tr.graph, tr


def test_family_macs_match_the_config(family):
    name, _, expect, g, _ = family
    assert macs(g) == expect, name
    assert g.meta["hf_model_type"] == name and g.meta["transformers"]
    g.verify()
    assert Graph.from_json(g.to_json()) == g


def test_family_outputs_are_labelled(family):
    name, _, _, g, _ = family
    labels = g.meta["output_labels"]
    assert len(labels) == len(g.outputs)
    base = ("bert", "roberta", "distilbert", "vit", "whisper")  # AutoModel: no LM head
    first = "last_hidden_state" if name in base else "logits"
    assert labels[0] == first
    if name not in ("bert", "roberta", "distilbert", "vit", "mamba"):  # use_cache=True: the prefill's KV cache
        assert any(lb.endswith(".key") for lb in labels) and any(lb.endswith(".value") for lb in labels)


def test_static_subgraphs_are_folded(family):
    """RoPE tables and causal masks depend only on positions: computed at trace time."""
    name, _, _, g, _ = family
    folded = g.meta.get("folded", [])
    kinds = {op.kind for op in g.ops}
    if name in ("llama", "qwen2", "mistral", "gemma", "phi", "gpt_neox", "falcon"):  # RoPE
        targets = {t for f in folded for t in f["targets"]}
        assert {"sin", "cos"} <= targets and not {"sin", "cos"} & kinds
    for f in folded:
        assert g.tensors[f["tensor"]].kind == "const" and g.tensors[f["tensor"]].shape == tuple(f["shape"])
    # the mask builder's packed-sequence check was folded away; RoBERTa's position ids are a
    # cumsum over the non-pad tokens of input_ids (data, not shapes), which must stay
    cumsums = [op for op in g.ops if op.kind == "cumsum"]
    if name == "roberta":
        assert cumsums and all(op.module.endswith("embeddings") for op in cumsums)
    else:
        assert not cumsums


def test_replays_the_eager_model_exactly(family):
    name, _, _, g, tr = family
    out = replay(tr)
    assert tr.eager_outputs is not None and set(out) == set(tr.eager_outputs)
    for k, v in out.items():
        assert torch.equal(v, tr.eager_outputs[k]), (name, k)


def test_meta_build_traces_the_same_computation():
    """Without --check the model is built on the meta device; it traces the same computation
    (layout ops may differ: a ``.contiguous()`` is a no-op for CPU fake tensors, not for meta)."""
    real = load_traced("hf:bert", FAMILIES["bert"][0]).graph
    g = load_graph("hf:bert", FAMILIES["bert"][0])
    assert [op.kind for op in g.ops if op.kind != "view"] == [op.kind for op in real.ops if op.kind != "view"]
    assert macs(g) == macs(real) and g.inputs == real.inputs


def test_bert_padding_mask_is_a_graph_input():
    g = load_graph("hf:bert", FAMILIES["bert"][0])  # cached by the test above
    assert g.inputs == ("input_ids", "attention_mask") and g.meta["pad"] == 3
    mask = g.tensors["attention_mask"]
    assert mask.shape == (1, T) and mask.dtype == "int64"
    assert any(op.kind == "sdpa" and len(op.inputs) == 4 for op in g.ops)  # the mask reaches attention


def test_hf_spec_errors():
    with pytest.raises(WorkloadError, match="no config field 'n_layers'.*n_layer"):
        load_graph("hf:gpt2", {"n_layers": 2})
    with pytest.raises(WorkloadError, match="unknown model type"):
        load_graph("hf:not-a-model")
    with pytest.raises(WorkloadError, match="seq must be a positive integer"):
        load_graph("hf:gpt2", {"n_layer": 1, "seq": 0})
    with pytest.raises(WorkloadError, match="head must be one of"):
        load_graph("hf:gpt2", {"n_layer": 1, "head": "classifier"})
    with pytest.raises(WorkloadError, match="meta=true builds no weights"):
        load_traced("hf:gpt2", {"n_layer": 1, "meta": "true"})


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FAMILIES))
@pytest.mark.parametrize("arch", ["datacenter-bf16", "edge-int8"])
def test_family_runs_and_checks(name, arch):
    """Each family maps, simulates and passes --check (vs the traced graph and the eager model)."""
    from accelsim import api
    from conftest import ARCHS

    tr = load_traced(f"hf:{name}", FAMILIES[name][0])
    res = api.simulate(api.load_arch(str(ARCHS / f"{arch}.yaml")), tr.graph)
    assert res.data["total_cycles"] > 0
    chk = api.check(res, tr)
    assert chk["passed"], chk["first_failure"]
    assert chk["vs_model"]["passed"]
