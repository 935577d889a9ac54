"""Tracing PyTorch modules into the IR, and replaying the IR with torch."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from accelsim.errors import WorkloadError  # noqa: E402
from accelsim.workload import load_graph, resolve  # noqa: E402
from accelsim.workload.ir import Graph  # noqa: E402
from accelsim.workload.replay import replay, run_graph  # noqa: E402
from accelsim.workload.trace import Traced, trace  # noqa: E402

torch.set_num_threads(1)
GRAPHS = Path(__file__).resolve().parents[1] / "data" / "graphs"
N_LAYER = 2


@pytest.fixture(scope="module")
def tiny():
    w = resolve("gpt2-tiny", {"seq": 16})
    return w, trace(w.module, w.example_inputs, w.name, {"workload": w.name, **w.meta})


def _equal(a, b) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.is_floating_point:
        return torch.allclose(a, b, rtol=0, atol=0, equal_nan=True)
    return torch.equal(a, b)


def _check_replay(m: nn.Module, *args) -> Traced:
    tr = trace(m, args, type(m).__name__)
    with torch.no_grad():
        ref = m(*args)
    refs = list(ref) if isinstance(ref, (tuple, list)) else [ref]
    out = replay(tr)
    assert list(out) == list(tr.graph.outputs)
    assert len(out) == len(refs)
    for name, r in zip(out, refs):
        assert _equal(out[name], r), f"output {name} differs"
    # the graph survives JSON and still replays
    g2 = Graph.from_json(tr.graph.to_json())
    assert g2 == tr.graph
    return tr


# -- GPT-2 ----------------------------------------------------------------------------------------


def test_gpt2_tiny_op_counts(tiny):
    _, tr = tiny
    c = tr.graph.op_counts()
    assert c["linear"] == 4 * N_LAYER + 1  # c_attn, c_proj, c_fc, mlp.c_proj per layer + lm_head
    assert c["sdpa"] == N_LAYER
    assert c["layer_norm"] == 2 * N_LAYER + 1  # ln_1, ln_2 per layer + ln_f
    assert c["gelu"] == N_LAYER
    assert c["embedding"] == 2  # wte, wpe
    assert c["add"] == 1 + 2 * N_LAYER  # tok+pos, two residuals per layer
    assert c.get("matmul", 0) == 0 and c.get("softmax", 0) == 0  # attention stays one sdpa op
    assert set(c) <= {"linear", "sdpa", "layer_norm", "gelu", "embedding", "add", "view", "const"}


def test_gpt2_tiny_modules_and_attrs(tiny):
    _, tr = tiny
    g = tr.graph
    gemms = [op for op in g.ops if op.kind in ("linear", "matmul", "sdpa", "conv2d")]
    assert all(op.module for op in gemms)
    linear_mods = [op.module for op in g.ops if op.kind == "linear"]
    expect = [f"h.{i}.{m}" for i in range(N_LAYER) for m in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")]
    assert linear_mods == expect + ["lm_head"]
    sdpa = [op for op in g.ops if op.kind == "sdpa"]
    assert [op.module for op in sdpa] == [f"h.{i}.attn" for i in range(N_LAYER)]
    assert all(op.attrs == {"is_causal": True, "scale": None} for op in sdpa)
    q, k, v = (g.tensors[n] for n in sdpa[0].inputs)
    assert q.shape == k.shape == v.shape == (1, 4, 16, 32)
    assert all(op.attrs["approximate"] == "tanh" for op in g.ops if op.kind == "gelu")
    ln = next(op for op in g.ops if op.kind == "layer_norm")
    assert ln.attrs == {"normalized_shape": [128], "eps": 1e-5} and ln.module == "h.0.ln_1"
    for op in g.ops:
        assert op.target, op.name
        if op.kind == "view":
            assert isinstance(op.attrs.get("op"), str)
    split = next(op for op in g.ops if op.kind == "view" and op.attrs["op"].startswith("split"))
    assert len(split.outputs) == 3 and split.attrs["split_sizes"] == [128, 128, 128] and split.attrs["dim"] == 2


def test_gpt2_tiny_weights_and_tying(tiny):
    w, tr = tiny
    g = tr.graph
    weights = g.weights
    assert "lm_head.weight" not in g.tensors  # tied to wte.weight, deduped by storage
    assert g.meta["tied_weights"] == {"lm_head.weight": "wte.weight"}
    lm = next(op for op in g.ops if op.module == "lm_head")
    emb = next(op for op in g.ops if op.module == "wte")
    assert lm.inputs[1] == "wte.weight" == emb.inputs[0]
    for name, t in weights.items():
        assert t.source == name
        assert dict(w.module.named_parameters())[name].shape == t.shape
    n_params = sum(p.numel() for p in w.module.parameters())  # parameters() dedupes tied ones
    assert sum(t.numel for t in weights.values()) == n_params
    assert set(tr.params) == {n for n, t in g.tensors.items() if t.kind in ("weight", "const")}
    for name, value in tr.params.items():
        assert tuple(value.shape) == g.tensors[name].shape
    assert g.inputs == ("idx",)
    assert tr.inputs["idx"].dtype == torch.int64 and tuple(tr.inputs["idx"].shape) == (1, 16)
    assert g.tensors["idx"].kind == "input"
    assert g.meta["seq"] == 16 and g.meta["tokens"] == 16 and g.meta["workload"] == "gpt2-tiny"
    (out,) = g.outputs
    assert g.tensors[out].shape == (1, 16, 1024)


def test_gpt2_tiny_replay_matches_eager(tiny):
    w, tr = tiny
    with torch.no_grad():
        ref = w.module(*w.example_inputs)
    out = replay(tr)
    (name,) = out
    assert torch.equal(out[name], ref)
    everything = replay(tr, keep_all=True)
    assert set(everything) == set(tr.graph.tensors)


def test_tracing_is_deterministic(tiny):
    w, tr = tiny
    w2 = resolve("gpt2-tiny", {"seq": 16})
    tr2 = trace(w2.module, w2.example_inputs, w2.name, {"workload": w2.name, **w2.meta})
    assert tr2.graph.to_json() == tr.graph.to_json()
    assert all(torch.equal(tr.params[k], tr2.params[k]) for k in tr.params)


def test_saved_gpt2_graph_is_current(tiny):
    """tests/data/graphs/gpt2-tiny_seq16.json is what tracing produces today.

    Regenerate after an intended change with
    ``python -c "from accelsim.workload import load_graph; \
    load_graph('gpt2-tiny', {'seq': 16}).save('tests/data/graphs/gpt2-tiny_seq16.json')"``
    """
    _, tr = tiny
    saved = json.loads((GRAPHS / "gpt2-tiny_seq16.json").read_text())
    assert saved == json.loads(tr.graph.to_json())


def test_run_graph_reports_missing_values(tiny):
    _, tr = tiny
    with pytest.raises(WorkloadError, match="no value for"):
        run_graph(tr.graph, dict(tr.inputs))


def test_batch_param(tiny):
    w = resolve("gpt2-tiny", {"seq": 8, "batch": 2})
    tr = trace(w.module, w.example_inputs, w.name)
    assert tr.graph.tensors[tr.graph.outputs[0]].shape == (2, 8, 1024)
    with torch.no_grad():
        assert torch.equal(replay(tr)[tr.graph.outputs[0]], w.module(*w.example_inputs))


# -- unsupported ops and capture failures ---------------------------------------------------------


class _FFT(nn.Module):
    def forward(self, x):
        return torch.fft.fft(x).real


class _Inv(nn.Module):
    def forward(self, x):
        return torch.linalg.inv(x)


class _UsesUnsupported(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 4)
        self.spectral = inner

    def forward(self, x):
        return self.spectral(self.proj(x))


@pytest.mark.parametrize("inner, opname", [(_FFT(), "fft"), (_Inv(), "linalg_inv")])
def test_unsupported_op_names_op_and_module(inner, opname):
    with pytest.raises(WorkloadError) as ei:
        trace(_UsesUnsupported(inner), (torch.randn(4, 4),), "bad")
    msg = str(ei.value)
    assert opname in msg
    assert "module 'spectral'" in msg
    assert "supported ops:" in msg and "aten.linear" in msg


class _TwoBad(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = _UsesUnsupported(_FFT())
        self.b = _UsesUnsupported(_Inv())

    def forward(self, x):
        return self.a(x) + self.b(x)


def test_every_unsupported_op_reported_with_module_and_source_line():
    with pytest.raises(WorkloadError) as ei:
        trace(_TwoBad(), (torch.randn(4, 4),), "bad")
    msg = str(ei.value)
    assert re.search(r"uses [2-9] unsupported op\(s\)", msg)  # all of them, in one pass
    here = Path(__file__).name
    node = r"\S* \(node '\w+'\) in module "
    assert re.search(r"fft" + node + r"'a.spectral' at \S*" + here + r":\d+: return torch.fft.fft", msg)
    assert re.search(r"linalg_inv" + node + r"'b.spectral' at \S*" + here + r":\d+: return torch.linalg", msg)


def test_export_errors_keep_the_model_line():
    class M(nn.Module):
        def forward(self, x):
            return x.view(3, 7)  # 12 elements: not 21

    with pytest.raises(WorkloadError) as ei:
        trace(M(), (torch.randn(3, 4),), "badview")
    msg = str(ei.value)
    assert re.search(r"at \S*" + Path(__file__).name + r":\d+ in forward: return x.view\(3, 7\)", msg)
    assert "data-dependent" not in msg  # only said when that is the cause


def test_data_dependent_error_names_the_line_and_torch_fix():
    class M(nn.Module):
        def forward(self, x):
            if x.sum() > 0:
                return x * 2
            return x

    with pytest.raises(WorkloadError) as ei:
        trace(M(), (torch.randn(3),), "branchy")
    msg = str(ei.value)
    assert re.search(r"at \S*" + Path(__file__).name + r":\d+ in forward: if x.sum\(\) > 0:", msg)
    assert "torch suggests:" in msg and "data-dependent" in msg


class _Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 16, batch_first=True)
        self.gru = nn.GRU(16, 16, batch_first=True)

    def forward(self, x):
        y, _ = self.lstm(x)
        z, _ = self.gru(y)
        return z


def test_lstm_and_gru_unroll_over_shared_weights():
    torch.manual_seed(0)
    steps = 3
    m = _Recurrent().eval()
    x = torch.randn(2, steps, 8)
    tr = trace(m, (x,), "rnn")
    g = tr.graph
    reads: dict[str, int] = {}
    for op in g.ops:
        for t in op.inputs:
            if g.tensors[t].kind == "weight":
                reads[t] = reads.get(t, 0) + 1
    # the input projection runs once over all steps; the recurrent one once per step, every
    # step reading the same weight tensor (what lets the mapper keep it resident)
    assert reads["lstm.weight_hh_l0"] == steps and reads["gru.weight_hh_l0"] == steps
    assert reads["lstm.weight_ih_l0"] == 1
    assert {op.module for op in g.ops if op.kind == "linear"} == {"lstm", "gru"}
    with torch.no_grad():
        ref = m(x)
    out = replay(tr)[g.outputs[0]]
    assert (out - ref).abs().max().item() < 1e-6  # the decomposed cells reassociate fp32 sums


def test_sdpa_dropout_rejected():
    class M(nn.Module):
        def forward(self, q):
            return F.scaled_dot_product_attention(q, q, q, dropout_p=0.5)

    with pytest.raises(WorkloadError, match="dropout"):
        trace(M(), (torch.randn(1, 2, 4, 8),), "drop")


def test_data_dependent_control_flow_is_a_workload_error():
    class M(nn.Module):
        def forward(self, x):
            if x.sum() > 0:
                return x * 2
            return x

    with pytest.raises(WorkloadError, match="torch.export"):
        trace(M(), (torch.randn(3),), "branchy")


def test_state_mutation_rejected():
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("count", torch.zeros(1))

        def forward(self, x):
            self.count.add_(1)
            return x + self.count

    with pytest.raises(WorkloadError, match="mutates"):
        trace(M(), (torch.randn(3),), "mutating")


# -- other model families ---------------------------------------------------------------------------


class _ConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, groups=2, dilation=2, bias=False)
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        y = self.conv2(F.relu(self.conv1(x)))
        return self.head(y.mean((2, 3)))


def test_conv2d_model_traces_and_replays():
    torch.manual_seed(0)
    tr = _check_replay(_ConvNet(), torch.randn(2, 3, 16, 16))
    g = tr.graph
    convs = [op for op in g.ops if op.kind == "conv2d"]
    assert [op.module for op in convs] == ["conv1", "conv2"]
    assert convs[0].attrs == {"stride": [2, 2], "padding": [1, 1], "dilation": [1, 1], "groups": 1}
    assert convs[1].attrs["groups"] == 2 and convs[1].attrs["dilation"] == [2, 2]
    assert len(convs[0].inputs) == 3 and len(convs[1].inputs) == 2  # bias / no bias
    assert g.tensors[convs[0].outputs[0]].shape == (2, 8, 8, 8)
    red = next(op for op in g.ops if op.kind == "reduce")
    assert red.attrs == {"op": "mean", "dims": [2, 3], "keepdim": False}


class _TopKSAE(nn.Module):
    """TopK SAE with a JumpReLU-style threshold buffer and an L0 statistic."""

    def __init__(self, d: int = 16, n: int = 64, k: int = 8) -> None:
        super().__init__()
        self.k = k
        self.W_enc = nn.Parameter(torch.randn(d, n) / d**0.5)
        self.b_enc = nn.Parameter(torch.randn(n) * 0.1)
        self.W_dec = nn.Parameter(torch.randn(n, d) / n**0.5)
        self.b_dec = nn.Parameter(torch.randn(d) * 0.1)
        self.register_buffer("threshold", torch.full((n,), 0.05))

    def forward(self, x):
        pre = (x - self.b_dec) @ self.W_enc + self.b_enc
        vals, idx = torch.topk(F.relu(pre), self.k, dim=-1)
        acts = torch.zeros_like(pre).scatter(-1, idx, vals)
        acts = torch.where(pre > self.threshold, acts, 0.0)
        recon = acts @ self.W_dec + self.b_dec
        l0 = (acts > 0).float().sum(-1).mean()
        return recon, l0, torch.cat([recon, x], dim=-1)


def test_topk_relu_sae_traces_and_replays():
    torch.manual_seed(0)
    tr = _check_replay(_TopKSAE(), torch.randn(4, 16))
    g = tr.graph
    c = g.op_counts()
    assert c["topk"] == 1 and c["relu"] == 1 and c["scatter"] == 1 and c["matmul"] == 2
    topk = next(op for op in g.ops if op.kind == "topk")
    assert topk.attrs == {"k": 8, "dim": 1, "largest": True, "sorted": True}
    assert len(topk.outputs) == 2
    vals, idx = (g.tensors[o] for o in topk.outputs)
    assert vals.dtype == "float32" and idx.dtype == "int64"
    scatter = next(op for op in g.ops if op.kind == "scatter")
    assert scatter.inputs[1:] == topk.outputs[::-1]  # (self, index, src)
    assert g.tensors["threshold"].kind == "weight" and g.tensors["threshold"].source == "threshold"
    assert {"W_enc", "b_enc", "W_dec", "b_dec"} <= set(g.weights)
    cmp = [op for op in g.ops if op.kind == "compare"]
    assert {op.attrs["op"] for op in cmp} == {"gt"}
    assert any(op.kind == "view" and op.attrs["op"] == "cat" for op in g.ops)


class _Kitchen(nn.Module):
    """A grab bag of ops: elementwise with scalars on either side, reductions, layout, consts."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mask", torch.tril(torch.ones(8, 8)).view(1, 1, 8, 8), persistent=False)
        self.qkv = nn.Linear(16, 48)

    def forward(self, x, idx):
        q, k, v = self.qkv(x).split(16, dim=2)
        att = (q @ k.transpose(-2, -1)) * 0.25
        att = att.masked_fill(self.mask[:, :, :8, :8][0] == 0, float("-inf"))
        att = F.softmax(att + torch.tril(torch.ones(8, 8)), dim=-1)
        y = att @ v
        f = y[0]
        return (
            y.to(torch.bfloat16),
            torch.tensor([1.0, 2.0]) * y.mean(),
            1 - f, 3.0 / f, f / f.sum(), f.reciprocal(), 2**f, f.pow(f), f.clamp(-0.1, 0.2),
            (f > 0) & (f < 0.1), ~(f > 0), torch.where(f > 0, f, 0.5),
            f.amax(-1), f.amin(0), f.max(), torch.max(f, 1).values, f.any(-1), f.sum(), f.mean((0, 1), keepdim=True),
            f.t(), f.reshape(-1)[1:9:2], f.unsqueeze(0).squeeze(0), torch.stack([f, f]), f.chunk(2, 1)[1],
            F.pad(f, (1, 2)), f.repeat(2, 1), f.flip(0), f[:, 1], f.unbind(0)[3],
            torch.zeros(3, 4) + f.new_ones(3, 4), torch.arange(5), torch.full((2,), 7),
            f.gather(1, idx.view(-1, 1)),
            torch.zeros_like(f).scatter_add(1, idx.view(-1, 1).expand(-1, 16), f),
            F.embedding(idx, f), torch.tanh(f).sigmoid().exp().sqrt().rsqrt().neg(), F.gelu(f), F.relu(f),
        )


def test_many_ops_replay_exactly():
    torch.manual_seed(0)
    tr = _check_replay(_Kitchen(), torch.randn(2, 8, 16), torch.tensor([0, 2, 1, 3, 7, 5, 6, 4]))
    kinds = set(tr.graph.op_counts())
    assert {"linear", "matmul", "softmax", "where", "compare", "logical", "cast", "reduce", "pow", "clamp",
            "div", "sub", "mul", "add", "gather", "scatter", "embedding", "const", "view", "gelu", "relu",
            "exp", "tanh", "sigmoid", "sqrt", "rsqrt", "neg"} <= kinds
    assert {t.kind for t in tr.graph.tensors.values()} == {"input", "weight", "activation", "const"}
    rev = [op for op in tr.graph.ops if op.attrs.get("reverse")]
    assert any(op.kind == "sub" and op.attrs["other"] == 1 for op in rev)


def test_gemm_ops_from_mm_bmm_addmm():
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.randn(8, 6))
            self.b = nn.Parameter(torch.randn(6))

        def forward(self, x, y):
            return torch.addmm(self.b, x, self.w, beta=0.5), x @ self.w, torch.bmm(y, y.transpose(1, 2))

    torch.manual_seed(0)
    tr = _check_replay(M(), torch.randn(4, 8), torch.randn(2, 3, 5))
    mms = [op for op in tr.graph.ops if op.kind == "matmul"]
    assert len(mms) == 3
    addmm = mms[0]
    assert addmm.inputs == ("x", "w", "b") and addmm.attrs == {"beta": 0.5}


# -- slow: GPT-2 small -----------------------------------------------------------------------------------


def _gemm_macs(g: Graph) -> int:
    T = g.tensors
    total = 0
    for op in g.ops:
        if op.kind == "linear":
            x, w = T[op.inputs[0]], T[op.inputs[1]]
            total += math.prod(x.shape[:-1]) * w.shape[0] * w.shape[1]
        elif op.kind == "matmul":
            total += math.prod(T[op.outputs[0]].shape) * T[op.inputs[0]].shape[-1]
        elif op.kind == "sdpa":
            q, k, v = (T[i] for i in op.inputs[:3])
            total += math.prod(q.shape[:-1]) * k.shape[-2] * (q.shape[-1] + v.shape[-1])
    return total


@pytest.mark.slow
def test_gpt2_small_macs_match_analytic():
    seq, d, L, V = 128, 768, 12, 50257
    g = load_graph("gpt2-small", {"seq": seq})
    assert g.op_counts()["linear"] == 4 * L + 1 and g.op_counts()["sdpa"] == L
    analytic = L * (12 * seq * d * d + 2 * seq * seq * d) + seq * d * V  # full (unmasked) attention
    assert _gemm_macs(g) == analytic


def test_gpt2_decode_step_over_an_explicit_cache():
    w = resolve("gpt2-tiny", {"seq": 1, "decode": True, "kv_len": 6})
    tr = trace(w.module, w.example_inputs, w.name)
    g = tr.graph
    assert len(g.inputs) == 1 + 2 * N_LAYER and g.tensors[g.inputs[1]].shape == (1, 4, 6, 32)
    sdpa = [op for op in g.ops if op.kind == "sdpa"]
    assert all(g.tensors[op.inputs[1]].shape == (1, 4, 7, 32) for op in sdpa)  # cache + the new token
    out = replay(tr)
    assert all(torch.equal(out[o], tr.eager_outputs[o]) for o in g.outputs)
