"""`accelsim compare`: two runs metric by metric and per layer, in the terminal, JSON and HTML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from accelsim import api
from accelsim.cli import main
from accelsim.report.compare import compare
from accelsim.workload.ir import Graph
from builders import make_arch
from conftest import DATA


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """gpt2-tiny (saved graph) on a 1- and a 2-array version of the test arch."""
    g = Graph.load(str(DATA / "graphs" / "gpt2-tiny_seq16.json"))
    d = tmp_path_factory.mktemp("cmp")
    api.simulate(make_arch(), g, api.RunOptions(gpu=None)).write(d / "one")
    api.simulate(make_arch(**{"name": "two-arrays", "arrays.0.count": 2}), g, api.RunOptions(gpu=None)).write(d / "two")
    return d / "one", d / "two"


def _load(p: Path) -> dict:
    return json.loads((p / "result.json").read_text())


def test_metrics_and_layers(two_runs: tuple[Path, Path]) -> None:
    a, b = (_load(p) for p in two_runs)
    c = compare(a, b)
    m = {x["metric"]: x for x in c["metrics"]}
    lat = m["latency_s"]
    assert lat["a"] == a["latency_s"] and lat["b"] == b["latency_s"]
    assert lat["ratio"] == pytest.approx(b["latency_s"] / a["latency_s"])
    assert lat["change"] == pytest.approx((b["latency_s"] - a["latency_s"]) / a["latency_s"])
    assert lat["verdict"] == ("better" if b["latency_s"] < a["latency_s"] else "worse")
    assert m["peak_macs_per_cycle"]["ratio"] == 2.0  # twice the arrays
    assert "different architectures: test-arch vs two-arrays" in c["notes"]
    assert [r["layer"] for r in c["layers"]] == [r["layer"] for r in a["layers"]]
    for r, ra, rb in zip(c["layers"], a["layers"], b["layers"]):
        assert (r["a_cycles"], r["b_cycles"]) == (ra["cycles"], rb["cycles"])
    same = compare(a, a)
    assert all(x["verdict"] in ("same", "") for x in same["metrics"]) and not same["notes"]


def test_layers_from_ops_when_missing(two_runs: tuple[Path, Path]) -> None:
    a = _load(two_runs[0])
    old = {k: v for k, v in a.items() if k != "layers"}  # a result from before layers existed
    c = compare(old, a)
    assert [(r["a_cycles"], r["b_cycles"]) for r in c["layers"]] == [(r["cycles"], r["cycles"]) for r in a["layers"]]


def test_compare_command(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    one, two = (str(p) for p in two_runs)
    r = CliRunner().invoke(main, ["compare", one, two, "--names", "one", "two", "--html", str(tmp_path / "c.html")])
    assert r.exit_code == 0, r.output
    assert "Metrics (two relative to one)" in r.output and "h.0.attn" in r.output and "latency" in r.output
    page = (tmp_path / "c.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in page and "://" not in page
    r = CliRunner().invoke(main, ["compare", one, str(Path(two) / "result.json"), "--json"])
    assert r.exit_code == 0
    assert json.loads(r.output)["format"] == "accelsim.compare/1"
    r = CliRunner().invoke(main, ["compare", one, str(tmp_path / "nothing")])
    assert r.exit_code == 2 and "no such result folder" in r.output
