"""TopK SAE sparse decoder mapping: gathers only the k active decoder rows per token, so its
cost scales with k, not with the dictionary size (issue: >= 10x below dense at 32x)."""

from __future__ import annotations

import pytest

from accelsim import api
from accelsim.mapping.mapper import MappingOptions

pytest.importorskip("torch")


def decoder_cycles(graph, arch, sparse: bool) -> tuple[int, dict]:  # type: ignore[no-untyped-def]
    r = api.simulate(arch, graph, api.RunOptions(gpu=None, mapping=MappingOptions(sparse_decoder=sparse)))
    dec = [o for o in r["ops"] if "decoder" in o["module"] and o["unit"] != "none"]
    assert len(dec) == 1
    return dec[0]["cycles"], r.data


@pytest.fixture(scope="module")
def arch():  # type: ignore[no-untyped-def]
    return api.load_arch("datacenter-bf16")


@pytest.fixture(scope="module")
def graphs():  # type: ignore[no-untyped-def]
    return {k: api.load_graph("topk-sae", {"k": k, "tokens": 64}) for k in (16, 32, 64)}


def test_sparse_cycles_scale_with_k(arch, graphs) -> None:  # type: ignore[no-untyped-def]
    c = {k: decoder_cycles(g, arch, True)[0] for k, g in graphs.items()}
    assert c[16] < c[32] < c[64]
    # roughly linear in k: doubling k at least 1.4x the cycles, at most 2.5x
    assert 1.4 <= c[64] / c[32] <= 2.5 and 1.4 <= c[32] / c[16] <= 2.5


def test_sparse_is_10x_below_dense_at_32x(arch, graphs) -> None:  # type: ignore[no-untyped-def]
    dense, dd = decoder_cycles(graphs[32], arch, False)
    sparse, sd = decoder_cycles(graphs[32], arch, True)
    assert dense >= 10 * sparse
    assert sd["dram_read_bytes"] < dd["dram_read_bytes"]  # only k rows per token are fetched
    # the dense latent is never materialised in the sparse mapping
    scatter = [o for o in sd["ops"] if o["kind"] == "scatter"]
    assert scatter and all(o["unit"] == "none" for o in scatter)


def test_dense_cost_independent_of_k(arch, graphs) -> None:  # type: ignore[no-untyped-def]
    c = {k: decoder_cycles(g, arch, False)[0] for k, g in graphs.items()}
    assert c[16] == c[32] == c[64]
