"""export's training IR converted directly vs after ``run_decompositions``: the same program.

Tracing skips the decomposition retrace when the training IR needs none
(:func:`accelsim.workload.trace.needs_decomposition`). Both captures of every shipped workload
must replay to the eager output bit for bit, hold the same compute ops, and simulate to the
same cycles and energy; only layout-op spelling may differ.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from accelsim import api  # noqa: E402
from accelsim.workload import resolve  # noqa: E402
from accelsim.workload.replay import replay  # noqa: E402
from accelsim.workload.trace import export_program, needs_decomposition, trace  # noqa: E402
from builders import SMALL_WORKLOADS as SHIPPED  # noqa: E402

torch.set_num_threads(1)


def _compute_ops(tr):  # type: ignore[no-untyped-def]
    """(kind, module, output shape) of every op that is not a layout op, in program order."""
    g = tr.graph
    return [(op.kind, op.module, g.tensors[op.outputs[0]].shape) for op in g.ops if op.kind not in ("view", "const")]


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_direct_and_decomposed_capture_agree(name: str) -> None:
    w = resolve(name, SHIPPED[name])
    direct = trace(w.module, w.example_inputs, w.name)  # every shipped workload: no decomposition
    decomposed = trace(w.module, w.example_inputs, w.name, decompose=True)

    with torch.no_grad():
        ref = w.module(*w.example_inputs)
    refs = list(ref) if isinstance(ref, (tuple, list)) else [ref]
    for tr in (direct, decomposed):
        out = list(replay(tr).values())
        assert len(out) == len(refs)
        for o, r in zip(out, refs):
            assert o.dtype == r.dtype and torch.equal(o, r)

    assert _compute_ops(direct) == _compute_ops(decomposed)
    assert set(direct.params) == set(decomposed.params)

    arch = api.load_arch("datacenter-bf16")
    a = api.simulate(arch, direct.graph, api.RunOptions(gpu="h100"))
    b = api.simulate(arch, decomposed.graph, api.RunOptions(gpu="h100"))
    for key in ("total_cycles", "macs", "dram_read_bytes", "dram_write_bytes", "energy_j", "events"):
        assert a[key] == b[key], key
    assert a["gpu"]["latency_s"] == pytest.approx(b["gpu"]["latency_s"], rel=1e-12)


def test_shipped_gpt2_needs_no_decomposition() -> None:
    w = resolve("gpt2-tiny", SHIPPED["gpt2-tiny"])
    with torch.no_grad():
        ep = torch.export.export(w.module.eval(), tuple(w.example_inputs), strict=False)
    assert not needs_decomposition(ep)
    assert trace(w.module, w.example_inputs, w.name).graph == trace(
        w.module, w.example_inputs, w.name, decompose=False).graph


class _Glu(nn.Module):
    """Training IR keeps ``aten.glu`` (no converter): this one must decompose."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.glu(self.fc(x), dim=-1)


class _InPlace(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x * 2
        y.add_(1)  # an in-place overload has no converter
        return y


@pytest.mark.parametrize("module", [_Glu(), _InPlace()], ids=["glu", "inplace"])
def test_ops_without_converters_are_decomposed(module: nn.Module) -> None:
    x = torch.randn(2, 8)
    with torch.no_grad():
        ep = torch.export.export(module.eval(), (x,), strict=False)
    assert needs_decomposition(ep)
    ep2 = export_program(module, (x,))
    assert not needs_decomposition(ep2)
    tr = trace(module, (x,), "m")
    with torch.no_grad():
        assert torch.equal(next(iter(replay(tr).values())), module(x))
    assert tr.eager_outputs is not None and torch.equal(next(iter(tr.eager_outputs.values())), module(x))
