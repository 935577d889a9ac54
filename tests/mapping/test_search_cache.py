"""The mapping cache (accelsim/mapping/search_cache.py): search results on disk across processes."""

from __future__ import annotations

import json

import pytest

from accelsim import api
from accelsim.mapping import search, search_cache
from accelsim.workload import cache as trace_cache
from builders import make_arch, mlp_graph


@pytest.fixture
def xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("ACCELSIM_NO_CACHE", raising=False)
    trace_cache.set_enabled(None)
    search.clear_cache()
    yield tmp_path / "accelsim" / "mappings"
    search.clear_cache()
    trace_cache.set_enabled(None)


def _run(arch, graph) -> str:
    search.clear_cache()  # the in-process cache: force the disk layer (or a fresh search)
    return api.simulate(arch, graph, api.RunOptions(gpu=None)).to_json()


def test_hit_gives_the_same_result(xdg, monkeypatch):
    arch = make_arch()
    g = mlp_graph()
    first = _run(arch, g)
    files = sorted(xdg.glob("*.json"))
    assert files, "the mapper stores its searches"
    # a hit must not search: make any estimate fail
    monkeypatch.setattr(search, "estimate_gemm", lambda *a, **k: (_ for _ in ()).throw(AssertionError("searched")))
    assert _run(arch, g) == first
    assert sorted(xdg.glob("*.json")) == files


def test_roundtrip_equals_the_search(xdg):
    arch = make_arch(**{"arrays.0.count": 2})
    g = mlp_graph()
    _run(arch, g)
    for p in xdg.glob("*.json"):
        d = json.loads(p.read_text())
        res = search_cache._decode(d)
        assert search_cache._encode(res) == d
        assert res.best == res.ranked[0][0]


def test_architecture_change_misses(xdg):
    arch = make_arch()
    g = mlp_graph()
    _run(arch, g)
    n = len(list(xdg.glob("*.json")))
    faster = make_arch(**{"dram.bandwidth_gbps": arch.dram.bandwidth_gbps * 2})
    _run(faster, g)
    assert len(list(xdg.glob("*.json"))) > n


def test_code_change_misses(xdg, monkeypatch):
    arch = make_arch()
    g = mlp_graph()
    _run(arch, g)
    n = len(list(xdg.glob("*.json")))
    monkeypatch.setattr(search_cache, "_code", "another accelsim")
    _run(arch, g)
    assert len(list(xdg.glob("*.json"))) == 2 * n


def test_disabled_writes_nothing(xdg, monkeypatch):
    monkeypatch.setenv("ACCELSIM_NO_CACHE", "1")
    _run(make_arch(), mlp_graph())
    assert not xdg.exists() or not list(xdg.glob("*.json"))


def test_corrupt_entry_is_a_miss_and_removed(xdg):
    arch = make_arch()
    g = mlp_graph()
    first = _run(arch, g)
    victim = sorted(xdg.glob("*.json"))[0]
    victim.write_text('{"format": "accelsim.mapping-cache/1", "best": {"group": 0}}')
    assert _run(arch, g) == first
    assert json.loads(victim.read_text())["format"] == search_cache.FORMAT  # rewritten whole


def test_clear(xdg):
    _run(make_arch(), mlp_graph())
    d, n, b = search_cache.info()
    assert d == xdg and n > 0 and b > 0
    assert search_cache.clear()[0] == n
    assert search_cache.info()[1] == 0
