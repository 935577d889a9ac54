"""Sparse-autoencoder workloads (workloads/sae.py): trace, replay, op kinds, simulation."""

from __future__ import annotations

from collections import Counter

import pytest

torch = pytest.importorskip("torch")

from accelsim import api  # noqa: E402
from accelsim.errors import WorkloadError  # noqa: E402
from accelsim.workload import load_traced, resolve  # noqa: E402
from accelsim.workload.replay import replay  # noqa: E402

torch.set_num_threads(1)

SMALL = {"tokens": 16, "expansion": 4}  # 16 tokens x 3072 latents: fast
ARCHS = ("datacenter-bf16", "edge-int8")


def _traced(name: str, params: dict):
    tr = load_traced(name, params)
    tr.graph.verify()
    w = resolve(name, params)  # same seeded weights as the traced module
    with torch.no_grad():
        ref = w.module(*w.example_inputs)
    return tr, w, ref


@pytest.fixture(scope="module")
def topk():
    return _traced("topk-sae", SMALL)


@pytest.fixture(scope="module")
def gated():
    return _traced("gated-sae", SMALL)


def _kinds(tr) -> Counter:
    return Counter(op.kind for op in tr.graph.ops)


def test_topk_sae_replays_exactly(topk):
    tr, _, ref = topk
    (out,) = replay(tr).values()
    assert out.shape == ref.shape == (16, 768)
    assert torch.equal(out, ref)


def test_topk_sae_ops(topk):
    tr, w, _ = topk
    kinds = _kinds(tr)
    assert kinds["topk"] == 1 and kinds["scatter"] == 1 and kinds["linear"] == 2
    (tk,) = [op for op in tr.graph.ops if op.kind == "topk"]
    assert tk.attrs["k"] == 32 and tk.attrs["dim"] == 1
    lin = [op for op in tr.graph.ops if op.kind == "linear"]
    assert [op.module for op in lin] == ["encoder", "decoder"]
    assert tr.graph.tensors["encoder.weight"].shape == (4 * 768, 768)
    assert tr.graph.tensors["decoder.weight"].shape == (768, 4 * 768)
    assert w.meta["tokens"] == 16 and w.meta["n_latents"] == 3072


def test_topk_sae_latent_is_k_sparse(topk):
    tr, _, _ = topk
    vals = replay(tr, keep_all=True)
    (sc,) = [op for op in tr.graph.ops if op.kind == "scatter"]
    latent = vals[sc.outputs[0]]
    assert latent.shape == (16, 3072)
    assert ((latent != 0).sum(-1) <= 32).all()


def test_gated_sae_replays_exactly(gated):
    tr, _, ref = gated
    (out,) = replay(tr).values()
    assert out.shape == ref.shape == (16, 768)
    assert torch.equal(out, ref)


def test_gated_sae_ops(gated):
    tr, _, _ = gated
    kinds = _kinds(tr)
    assert kinds["compare"] == 1 and kinds["exp"] == 1 and kinds["relu"] == 1
    assert kinds["linear"] == 3  # gate, magnitude (rescaled W_gate), decoder
    (cmp,) = [op for op in tr.graph.ops if op.kind == "compare"]
    assert cmp.attrs["op"] == "gt" and cmp.attrs["other"] == 0
    (ex,) = [op for op in tr.graph.ops if op.kind == "exp"]
    assert ex.inputs == ("r_mag",)
    # the magnitude path shares W_gate: no separate magnitude weight exists
    weights = {n for n, t in tr.graph.tensors.items() if t.kind == "weight"}
    assert weights == {"b_dec", "gate.weight", "gate.bias", "r_mag", "b_mag", "decoder.weight"}
    assert any(op.kind == "linear" and op.module == "decoder" for op in tr.graph.ops)


@pytest.mark.parametrize("arch_name", ARCHS)
@pytest.mark.parametrize("which", ["topk", "gated"])
def test_sae_simulates(which, arch_name, request):
    tr, _, _ = request.getfixturevalue(which)
    r = api.simulate(api.load_arch(arch_name), tr.graph, api.RunOptions(gpu=None))
    assert r.data["total_cycles"] > 0
    assert r.data["energy_j"] > 0


def test_topk_sae_sparse_decoder_mapping(topk):
    """The decoder's input is recognised as a top-k scatter (module path ``decoder``), so the
    sparse-decoder mapping gathers k rows instead of running the dense GEMM."""
    from accelsim.mapping.options import MappingOptions

    tr, _, _ = topk
    arch = api.load_arch("datacenter-bf16")
    dense = api.simulate(arch, tr.graph, api.RunOptions(gpu=None))
    sparse = api.simulate(arch, tr.graph, api.RunOptions(gpu=None, mapping=MappingOptions(sparse_decoder=True)))
    kinds = {op.module: op.kind for op in sparse.program.ops if op.module == "decoder"}
    assert kinds == {"decoder": "linear.sparse"}
    assert sparse.data["dram_read_bytes"] < dense.data["dram_read_bytes"]


def test_bad_params():
    with pytest.raises(WorkloadError, match="k"):
        resolve("topk-sae", {"k": 0})
    with pytest.raises(WorkloadError, match="exceeds"):
        resolve("topk-sae", {"k": 100, "expansion": 1, "d_model": 8})
    with pytest.raises(WorkloadError, match="tokens"):
        resolve("gated-sae", {"tokens": -1})
    with pytest.raises(WorkloadError, match="no parameter 'k'"):
        resolve("gated-sae", {"k": 4})
