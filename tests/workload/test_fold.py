"""Trace-time folding (accelsim/workload/fold.py): static subgraphs become const tensors,
batch norms after convolutions are folded into them, parameters are never folded."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from accelsim.workload.replay import replay  # noqa: E402
from accelsim.workload.trace import trace  # noqa: E402

torch.set_num_threads(1)


class _Rope(nn.Module):
    """RoPE-style tables from a buffer and positions, a causal mask from arange: all static."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, 8, 2).float() / 8)), persistent=False)
        self.proj = nn.Linear(8, 8)
        self.scale = nn.Parameter(torch.full((8,), 2.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        f = torch.outer(torch.arange(t, dtype=torch.float32), self.inv_freq)
        emb = torch.cat((f, f), -1)
        y = self.proj(x) * emb.cos() + x * emb.sin()
        mask = torch.arange(t)[:, None] >= torch.arange(t)[None, :]
        y = y.masked_fill(~mask[..., :1].expand(t, 8), 0.0)
        return y * (self.scale * 0.5)  # parameter arithmetic is NOT folded


def test_static_subgraphs_fold_to_consts():
    m = _Rope().eval()
    x = torch.randn(2, 5, 8, generator=torch.Generator().manual_seed(0))
    tr = trace(m, (x,), "rope")
    g = tr.graph
    kinds = {op.kind for op in g.ops}
    assert not {"sin", "cos", "compare", "const"} & kinds  # tables and mask computed at trace time
    folded = g.meta["folded"]
    targets = {t for f in folded for t in f["targets"]}
    assert {"arange", "outer", "sin", "cos"} <= targets
    for f in folded:
        t = g.tensors[f["tensor"]]
        assert t.kind == "const" and list(t.shape) == f["shape"] and f["ops"] >= 1
        assert torch.is_tensor(tr.params[f["tensor"]])
    assert g.tensors["scale"].kind == "weight"  # the parameter stays a weight ...
    assert any(op.kind == "mul" and "scale" in op.inputs for op in g.ops)  # ... and its op stays
    with torch.no_grad():
        ref = m(x)
    assert torch.equal(replay(tr)[g.outputs[0]], ref)


def test_no_fold_keeps_the_ops():
    m = _Rope().eval()
    x = torch.randn(1, 4, 8)
    g = trace(m, (x,), "rope", fold=False, decompose=True).graph
    assert {"sin", "cos"} <= {op.kind for op in g.ops} and "folded" not in g.meta


class _ConvBN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 6, 1)
        self.bn2 = nn.BatchNorm2d(6)
        self.bn_alone = nn.BatchNorm2d(6)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.relu(self.bn(self.conv(x)))
        z = self.bn2(self.conv2(y))
        return z, self.bn_alone(z + 1)  # a BN after an add is not foldable: it stays


def _randomise_bn(m: nn.Module) -> None:
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for b in m.modules():
            if isinstance(b, nn.BatchNorm2d):
                n = b.num_features
                b.weight.copy_(0.5 + torch.rand(n, generator=g))
                b.bias.copy_(torch.randn(n, generator=g) * 0.1)
                b.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                b.running_var.copy_(0.5 + torch.rand(n, generator=g))


def test_batch_norm_folds_into_the_preceding_conv():
    m = _ConvBN().eval()
    _randomise_bn(m)
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    tr = trace(m, (x,), "convbn")
    g = tr.graph
    assert g.op_counts()["batch_norm"] == 1  # only bn_alone remains
    convs = [op for op in g.ops if op.kind == "conv2d"]
    assert all(len(op.inputs) == 3 for op in convs)  # each got a (folded) bias
    recs = [f for f in g.meta["folded"] if f["kind"] == "batch_norm"]
    assert [(r["module"], r["into"]) for r in recs] == [("bn", "conv"), ("bn2", "conv2")]
    assert "bn.running_mean" not in g.tensors and "bn.running_var" not in g.tensors
    assert g.tensors["conv.weight"].source.endswith("(batch norm bn folded)")
    with torch.no_grad():
        ref = m(x)
    out = replay(tr)
    for name, r in zip(g.outputs, ref):
        err = (out[name] - r).abs().max().item()
        assert err <= 1e-5 * r.abs().max().item()  # fp32 reassociation only
        assert torch.equal(tr.eager_outputs[name], r)  # the eager outputs are the module's


def test_folding_on_the_meta_device_gives_the_same_graph():
    m = _ConvBN().eval()
    x = torch.randn(1, 3, 8, 8)
    real = trace(m, (x,), "convbn").graph
    meta = trace(m.to("meta"), (x.to("meta"),), "convbn").graph
    assert meta == real
