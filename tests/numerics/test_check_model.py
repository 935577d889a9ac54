"""--check against the eager PyTorch model (accelsim/numerics/check.py, issue 10 item 4): the
traced graph's fp32 replay must match the module itself, so a tracing or folding mistake cannot
pass; finfo(fp32).min masks saturating to -inf in bf16 are not reported as infinite errors."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from accelsim import api  # noqa: E402
from accelsim.workload.trace import trace  # noqa: E402
from conftest import ARCHS  # noqa: E402

torch.set_num_threads(1)


class _MaskedMLP(nn.Module):
    """Scores plus an HF-style additive mask of finfo(float32).min, then softmax and a linear."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 16)
        self.out = nn.Linear(16, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[-1]
        causal = torch.arange(t)[None, :] <= torch.arange(x.shape[-2])[:, None]
        mask = torch.zeros(x.shape[-2], t).masked_fill(~causal, torch.finfo(torch.float32).min)  # folded
        s = self.fc(x) + mask
        return self.out(torch.softmax(s, dim=-1))


@pytest.fixture(scope="module")
def traced():
    torch.manual_seed(0)
    return trace(_MaskedMLP().eval(), (torch.randn(16, 16, generator=torch.Generator().manual_seed(1)),), "masked")


def _check(tr, arch: str) -> dict:
    res = api.simulate(api.load_arch(str(ARCHS / f"{arch}.yaml")), tr.graph)
    return api.check(res, tr, level="all")  # every piece: the masked add's bf16 output included


@pytest.mark.parametrize("arch", ["datacenter-bf16", "edge-int8"])
def test_graph_matches_the_model_and_masks_saturate(traced, arch):
    assert any(f["kind"] == "static" for f in traced.graph.meta["folded"])  # the mask was folded
    chk = _check(traced, arch)
    assert chk["passed"], chk["first_failure"]
    vm = chk["vs_model"]
    assert vm["passed"] and all(r["max_abs_err"] == 0.0 for r in vm["graph"].values())
    assert set(vm["program"]["outputs"]) == set(traced.graph.outputs)  # the program vs the model, reported
    if arch == "datacenter-bf16":
        assert vm["program"]["max_rel_err"] < 0.05


def test_a_tracing_mistake_cannot_pass(traced):
    """Corrupt one traced weight (as a wrong fold would): program and graph still agree with each
    other, but not with the eager model, and the check fails naming it."""
    bad = type(traced)(graph=traced.graph, params={**traced.params}, inputs=traced.inputs,
                       eager_outputs=traced.eager_outputs)
    bad.params["fc.weight"] = bad.params["fc.weight"] * 1.05
    chk = _check(bad, "datacenter-bf16")
    assert not chk["passed"] and not chk["vs_model"]["passed"]
    assert chk["first_failure"]["op"] == "<model>" and "eager PyTorch model" in chk["first_failure"]["note"]
