"""The resource estimate and limit (issue 13 item 4): a run whose estimated simulation events
exceed the limit is refused before mapping (exit 2, the estimate, the limit and how to raise
it named); the limit is overridable (``--max-events``, ``RunOptions.max_events``,
``$ACCELSIM_MAX_EVENTS``); sweeps and the regression gate get the same refusal as a failed
point / case; the estimate tracks the simulator's real counts; shipped workloads fit."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from accelsim import api
from accelsim.arch.load import shipped_archs
from accelsim.cli import main
from accelsim.errors import ResourceError, SpecError
from accelsim.model.resources import (
    DEFAULT_MAX_EVENTS,
    ENV_MAX_EVENTS,
    check_resources,
    estimate_resources,
    resolve_max_events,
)
from builders import BASE_ARCH
from conftest import DATA

EDGE = "edge-int8"
BIG = "gemm:M=16384,N=16384,K=16384"  # 2 million tiles on a 16x16 array with 256 KiB of SRAM


def _run(*args: object, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(main, ["run", *map(str, args)], catch_exceptions=False)


@pytest.mark.parametrize("workload", [BIG, "gemm:M=1000000000000,N=16,K=16"])
def test_huge_runs_are_refused_before_mapping(workload: str) -> None:
    t0 = time.perf_counter()
    r = _run(EDGE, workload, "--no-gpu")
    assert time.perf_counter() - t0 < 20  # an estimate, not tens of seconds of mapping
    assert r.exit_code == 2, r.output
    msg = r.output
    assert msg.startswith("accelsim: error: workload ") and "too large to simulate" in msg
    assert "tile commands" in msg and "simulation events" in msg and "of memory" in msg
    assert f"the limit is {DEFAULT_MAX_EVENTS:,} events" in msg
    assert "--max-events N" in msg and ENV_MAX_EVENTS in msg and "'matmul'" in msg


def test_the_limit_is_overridable() -> None:
    small = "gemm:M=512,N=3072,K=768"  # ~10k estimated events on edge-int8
    est = estimate_resources(api.load_graph(small), api.load_arch(EDGE))
    assert 1000 < est.events < 100_000
    r = _run(EDGE, small, "--no-gpu", "-q", "--max-events", 1000)
    assert r.exit_code == 2 and "the limit is 1,000 events" in r.output
    assert _run(EDGE, small, "--no-gpu", "-q", "--max-events", est.events).exit_code == 0
    assert _run(EDGE, small, "--no-gpu", "-q", "--max-events", 0).exit_code == 0  # 0: no limit
    r = _run(EDGE, small, "--no-gpu", "-q", env={ENV_MAX_EVENTS: "1000"})
    assert r.exit_code == 2 and "the limit is 1,000 events" in r.output
    assert _run(EDGE, small, "--no-gpu", "-q", "--max-events", 0, env={ENV_MAX_EVENTS: "1000"}).exit_code == 0
    r = _run(EDGE, small, "--no-gpu", "-q", env={ENV_MAX_EVENTS: "lots"})
    assert r.exit_code == 2 and f"${ENV_MAX_EVENTS}='lots': expected a non-negative integer" in r.output
    r = _run(EDGE, small, "--no-gpu", "-q", "--max-events", -1)
    assert r.exit_code == 2 and "--max-events" in r.output
    r = CliRunner().invoke(main, ["explain", EDGE, small, "--op", "matmul", "--max-events", "1000"])
    assert r.exit_code == 2 and "too large to simulate" in r.output


def test_api_limit_and_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    arch, graph = api.load_arch(EDGE), api.load_graph("gemm:M=512,N=3072,K=768")
    with pytest.raises(ResourceError, match="the limit is 100 events"):
        api.simulate(arch, graph, api.RunOptions(gpu=None, max_events=100))
    with pytest.raises(ResourceError):
        api.map_program(arch, graph, api.RunOptions(max_events=100))
    assert api.simulate(arch, graph, api.RunOptions(gpu=None, max_events=0)).data["tiles"] > 0
    assert "max_events" not in api.RunOptions(max_events=5).to_dict()  # no effect on digests
    monkeypatch.delenv(ENV_MAX_EVENTS, raising=False)
    assert resolve_max_events() == DEFAULT_MAX_EVENTS
    assert resolve_max_events(env={ENV_MAX_EVENTS: "2e6"}) == 2_000_000
    assert resolve_max_events(env={ENV_MAX_EVENTS: "3_000"}) == 3000
    assert resolve_max_events(7, env={ENV_MAX_EVENTS: "1"}) == 7
    for bad in ("-5", "x", "1.5.2"):
        with pytest.raises(SpecError):
            resolve_max_events(env={ENV_MAX_EVENTS: bad})
    with pytest.raises(SpecError):
        resolve_max_events(-1)
    # the estimate itself: cheap even for a GEMM of 10^12 rows, and a ResourceError is exit 2
    g = api.load_graph("gemm:M=1000000000000,N=16,K=16")
    t0 = time.perf_counter()
    with pytest.raises(ResourceError) as ei:
        check_resources(g, arch)
    assert time.perf_counter() - t0 < 1 and ei.value.exit_code == 2


def test_multichip_runs_are_checked_too() -> None:
    arch = api.load_arch("datacenter-bf16", ["system.chips=2"])
    graph = api.load_graph(str(DATA / "graphs" / "gpt2-tiny_seq16.json"))
    from accelsim import api_system

    with pytest.raises(ResourceError, match="too large to simulate"):
        api_system.simulate_system(arch, graph, api.RunOptions(gpu=None, max_events=10), pp=2)


def test_sweep_point_and_regress_case_get_the_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from accelsim.regress.cli import regress
    from accelsim.sweep.cli import sweep

    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(BASE_ARCH, sort_keys=False))
    monkeypatch.setenv(ENV_MAX_EVENTS, "2000")
    sw = tmp_path / "sweep.yaml"
    big = "gemm:M=4096,N=4096,K=4096"  # ~60k estimated events on the test arch
    sw.write_text(yaml.safe_dump({"base": "tiny.yaml", "parameters": {"dram.bandwidth_gbps": [32]},
                                  "workloads": ["gemm:M=64,N=64,K=64", big]}, sort_keys=False))
    r = CliRunner().invoke(sweep, [str(sw), "--out", str(tmp_path / "out"), "--workers", "0", "--no-plots"])
    import pandas as pd

    df = pd.read_csv(tmp_path / "out" / "results.csv")
    assert list(df["status"]) == ["ok", "error"], r.output  # the big GEMM is refused, the small one runs
    err = str(df["error"].iloc[1])
    assert "too large to simulate" in err and "the limit is 2,000 events" in err
    assert r.exit_code == 0
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml.safe_dump({"version": 1, "cases": [
        {"name": "small", "arch": "tiny.yaml", "workload": "gemm:M=64,N=64,K=64"},
        {"name": "big", "arch": "tiny.yaml", "workload": big}]}))
    r = CliRunner().invoke(regress, [str(suite), "--baseline", str(tmp_path / "b.json"), "--update-baseline"])
    assert r.exit_code in (1, 2) and "too large to simulate" in r.output, r.output


# -- how close the estimate comes (numbers in docs/performance.md) -------------------------------

@pytest.mark.parametrize("arch, workload, lo, hi", [
    (EDGE, "gemm:M=1024,N=768,K=768", 0.8, 1.3),
    (EDGE, "gemm:M=2048,N=2048,K=2048", 0.8, 1.3),
    ("tpuv1", "gemm:M=1024,N=768,K=768", 0.8, 1.5),
    ("datacenter-bf16", "gemm:M=8192,N=8192,K=8192", 0.5, 2.0),
    (EDGE + ":1024", "gemm:M=256,N=256,K=256", 0.3, 4.0),  # many small arrays: the search uses few
    (EDGE, str(DATA / "graphs" / "gpt2-tiny_seq16.json"), 0.3, 2.5),
])
def test_estimate_tracks_the_simulated_event_count(arch: str, workload: str, lo: float, hi: float) -> None:
    name, _, count = arch.partition(":")
    a = api.load_arch(name, [f"arrays[0].count={count}"] if count else [])
    g = api.load_graph(workload)
    est = estimate_resources(g, a)
    d = api.simulate(a, g, api.RunOptions(gpu=None, energy=False)).data
    assert lo <= est.events / d["events"] <= hi, (est.events, d["events"], est.tiles, d["tiles"])


def test_estimate_to_dict_and_scalesim_mode() -> None:
    from accelsim.mapping.options import MappingOptions

    a, g = api.load_arch(EDGE), api.load_graph("gemm:M=4096,N=4096,K=4096")
    est = estimate_resources(g, a)
    d = est.to_dict()
    assert d["tiles"] == est.tiles > 1000 and d["largest"][0] == {"op": "matmul", "kind": "matmul", "tiles": est.tiles}
    json.dumps(d)
    assert estimate_resources(g, a, MappingOptions(mode="scalesim")).tiles == 1  # one serial tile


# -- shipped workloads fit under the default ---------------------------------------------------

def test_default_limit_is_what_the_cli_says() -> None:
    r = CliRunner().invoke(main, ["run", "--help"])
    assert f"else {DEFAULT_MAX_EVENTS};" in " ".join(r.output.split())


@pytest.mark.slow
def test_every_shipped_workload_fits_every_shipped_arch_under_the_default() -> None:
    from accelsim.workload.registry import list_workloads

    archs = [api.load_arch(str(p)) for p in shipped_archs()]
    worst = 0
    for w in list_workloads():
        g = api.load_graph(w)
        for a in archs:
            est = estimate_resources(g, a)
            worst = max(worst, est.events)
            assert est.events <= DEFAULT_MAX_EVENTS // 2, (w, a.name, est.events)  # with a 2x margin
    assert worst > DEFAULT_MAX_EVENTS // 10  # the default is not needlessly far above them
