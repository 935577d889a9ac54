"""The deep residual MLP workload (workloads/residual_mlp.py)."""

from __future__ import annotations

from collections import Counter

import pytest

torch = pytest.importorskip("torch")

from accelsim import api  # noqa: E402
from accelsim.errors import WorkloadError  # noqa: E402
from accelsim.workload import load_traced, resolve  # noqa: E402
from accelsim.workload.replay import replay  # noqa: E402

torch.set_num_threads(1)

PARAMS = {"depth": 3, "d_model": 64, "tokens": 16}


@pytest.fixture(scope="module")
def traced():
    tr = load_traced("residual-mlp", PARAMS)
    tr.graph.verify()
    w = resolve("residual-mlp", PARAMS)
    with torch.no_grad():
        ref = w.module(*w.example_inputs)
    return tr, w, ref


def test_replays_exactly(traced):
    tr, _, ref = traced
    (out,) = replay(tr).values()
    assert out.shape == (16, 64)
    assert torch.equal(out, ref)


def test_ops(traced):
    tr, w, _ = traced
    kinds = Counter(op.kind for op in tr.graph.ops)
    assert kinds == {"linear": 2 * 3, "layer_norm": 3, "gelu": 3, "add": 3}
    lin = [op.module for op in tr.graph.ops if op.kind == "linear"]
    assert lin == [f"blocks.{i}.{m}" for i in range(3) for m in ("fc", "proj")]
    assert tr.graph.tensors["blocks.0.fc.weight"].shape == (256, 64)
    assert w.meta == {"seq": 16, "batch": 1, "tokens": 16, "depth": 3, "d_model": 64}


@pytest.mark.parametrize("arch_name", ["datacenter-bf16", "edge-int8"])
def test_simulates(traced, arch_name):
    tr, _, _ = traced
    r = api.simulate(api.load_arch(arch_name), tr.graph, api.RunOptions(gpu=None))
    assert r.data["total_cycles"] > 0
    assert r.data["energy_j"] > 0


def test_bad_params():
    with pytest.raises(WorkloadError, match="depth"):
        resolve("residual-mlp", {"depth": 0})
