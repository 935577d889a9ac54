"""Sweep runner: invalid points, outputs, Pareto front, tracing once, NSGA-II, the local pool."""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd
import pytest

from accelsim import api
from accelsim.sweep import runner
from accelsim.sweep.pareto import pareto_mask
from accelsim.sweep.runner import InlineExecutor, run_point, run_sweep
from accelsim.sweep.spec import Objective, load_sweep
from sweep_helpers import write_sweep

GEMM = "gemm:M=64,N=64,K=64"


def test_invalid_points_are_recorded_not_fatal(tmp_path: Path) -> None:
    # each value is valid on its own (out-of-range values are refused up front); these
    # combinations break cross-field rules, so those points are recorded as errors
    f = write_sweep(tmp_path, {"parameters": {"sram.banks": [8, 2], "arrays[0].name": ["mxu", "vector"]},
                               "workloads": [GEMM]})
    o = run_sweep(load_sweep(f), tmp_path / "out", executor=InlineExecutor(), plots=False)
    df = pd.read_csv(tmp_path / "out" / "results.csv")
    assert list(df["status"]) == ["ok", "error", "error", "error"]
    # points in grid order: (banks 8, mxu), (8, vector), (2, mxu), (2, vector)
    assert "tiny.yaml: arrays[0].name: 'vector' is the name of another unit" in df.loc[1, "error"]
    assert "tiny.yaml: sram.partitions.weights.banks[0]: bank 2 does not exist" in df.loc[2, "error"]
    assert pd.isna(df.loc[1, "total_cycles"]) and df.loc[0, "total_cycles"] > 0
    assert o.count("error") == 3 and o.computed == 1


def test_outputs_and_pareto_front(tmp_path: Path) -> None:
    f = write_sweep(tmp_path, {
        "parameters": {"arrays[0].rows": [8, 16, 32], "arrays[0].cols": [8, 32], "dram.bandwidth_gbps": [8, 32]},
        "workloads": [GEMM, "gemm:M=128,N=32,K=256"],
        "objectives": ["latency_s", {"metric": "area_mm2", "direction": "min"}],
    })
    o = run_sweep(load_sweep(f), tmp_path / "out", executor=InlineExecutor())
    out = tmp_path / "out"
    for name in ("sweep.sqlite", "results.csv", "results.parquet", "pareto.csv", "pareto.png", "pareto.svg",
                 "sensitivity.png", "sensitivity.svg"):
        assert (out / name).stat().st_size > 0, name
    df = pd.read_csv(out / "results.csv")
    assert list(df["index"]) == list(range(24))
    for col in ("arrays[0].rows", "total_cycles", "latency_s", "energy_j", "power_w", "area_mm2",
                "mac_utilization", "speedup_vs_gpu", "energy_ratio_vs_gpu", "status", "error", "pareto"):
        assert col in df.columns, col
    pq = pd.read_parquet(out / "results.parquet")
    assert list(pq["total_cycles"]) == list(df["total_cycles"])
    # the front: no point of the same workload dominates a front point; every other point is dominated
    objs = [m.metric for m in o.objectives]
    for _, grp in df.groupby("workload"):
        front = grp[grp["pareto"]]
        assert len(front) >= 1
        for _, p in grp.iterrows():
            dominated = ((grp[objs] <= p[objs]).all(axis=1) & (grp[objs] < p[objs]).any(axis=1)).any()
            assert dominated != bool(p["pareto"])
    front = pd.read_csv(out / "pareto.csv")
    assert len(front) == int(df["pareto"].sum())
    assert (out / "pareto.svg").read_bytes() == (out / "pareto.svg").read_bytes()


def test_pareto_mask_handles_max_and_ties() -> None:
    df = pd.DataFrame({"workload": ["w"] * 4, "status": ["ok", "ok", "ok", "error"],
                       "a": [1.0, 1.0, 2.0, None], "b": [5.0, 5.0, 9.0, None]})
    assert pareto_mask(df, [Objective(metric="a"), Objective(metric="b", direction="max")]) == [True, True, True, False]
    assert pareto_mask(df, [Objective(metric="a"), Objective(metric="b")]) == [True, True, False, False]


def test_workloads_are_traced_once_in_the_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = api.load_graph

    def counting(name: str, params: object = None) -> object:
        calls.append(name)
        return real(name, params)  # type: ignore[arg-type]

    monkeypatch.setattr(api, "load_graph", counting)
    f = write_sweep(tmp_path, {"parameters": {"arrays[0].rows": [8, 16, 32]}, "workloads": [GEMM, "gemm:M=8,N=8,K=8"]})
    run_sweep(load_sweep(f), tmp_path / "out", executor=InlineExecutor(), plots=False)
    assert sorted(calls) == sorted([GEMM, "gemm:M=8,N=8,K=8"])


def test_point_tasks_are_picklable_and_pure(tmp_path: Path) -> None:
    f = write_sweep(tmp_path, {"parameters": {"arrays[0].rows": [8]}, "workloads": [GEMM]})
    loaded = load_sweep(f)
    graphs = runner._trace_workloads(loaded)
    ctx = runner._Context(loaded, graphs, ["w"])
    (p,) = runner._make_points(ctx, 0, {"arrays[0].rows": 8}, 0)
    task = pickle.loads(pickle.dumps(p.task))
    a, b = run_point(task), run_point(task)
    assert a["status"] == "ok" and a["result"] == b["result"] and a["metrics"] == b["metrics"]
    # the key depends on the arch content, not on how it was written
    (q,) = runner._make_points(ctx, 1, {"arrays[0].rows": 8, "arrays[0].dataflow": "ws"}, 1)
    assert q.key == p.key


def test_options_parameters_change_the_run(tmp_path: Path) -> None:
    f = write_sweep(tmp_path, {"parameters": {"options.mode": ["pipelined", "scalesim"]}, "workloads": [GEMM]})
    o = run_sweep(load_sweep(f), tmp_path / "out", executor=InlineExecutor(), plots=False)
    assert o.points[0].key != o.points[1].key
    assert o.count("ok") == 2


def test_nsga2_runs_a_few_trials_reproducibly(tmp_path: Path) -> None:
    body = {
        "parameters": {"arrays[0].rows": [4, 8, 16, 32], "arrays[0].cols": [4, 8, 16, 32],
                       "dram.bandwidth_gbps": [8, 16, 32]},
        "strategy": {"kind": "nsga2", "trials": 8, "population": 4, "seed": 3},
        "workloads": [GEMM],
        "objectives": ["latency_s", "area_mm2"],
    }
    f = write_sweep(tmp_path, body)
    a = run_sweep(load_sweep(f), tmp_path / "a", executor=InlineExecutor(), plots=False)
    b = run_sweep(load_sweep(f), tmp_path / "b", executor=InlineExecutor(), plots=False)
    assert len(a.points) == 8
    assert [p.params for p in a.points] == [p.params for p in b.points]
    assert (tmp_path / "a" / "results.csv").read_bytes() == (tmp_path / "b" / "results.csv").read_bytes()
    assert a.pareto["pareto"].all() and len(a.pareto) >= 1
    # resuming asks the same trials and simulates nothing
    c = run_sweep(load_sweep(f), tmp_path / "a", executor=InlineExecutor(), plots=False)
    assert c.computed == 0 and [p.key for p in c.points] == [p.key for p in a.points]


def test_local_process_pool_matches_inline(tmp_path: Path) -> None:
    f = write_sweep(tmp_path, {"parameters": {"arrays[0].rows": [8, 16], "dram.bandwidth_gbps": [8, 16, 32]},
                               "workloads": [GEMM]})
    run_sweep(load_sweep(f), tmp_path / "inline", executor=InlineExecutor(), plots=False)
    o = run_sweep(load_sweep(f), tmp_path / "pool", workers=2, plots=False)
    assert o.computed == 6
    assert (tmp_path / "inline" / "results.csv").read_bytes() == (tmp_path / "pool" / "results.csv").read_bytes()


def test_custom_result_json_path_objective(tmp_path: Path) -> None:
    f = write_sweep(tmp_path, {"parameters": {"arrays[0].rows": [8, 16, 32]}, "workloads": [GEMM],
                               "objectives": ["latency_s", {"metric": "units.dma.utilization", "direction": "max"}]})
    o = run_sweep(load_sweep(f), tmp_path / "out", executor=InlineExecutor(), plots=False)
    col = o.frame["units.dma.utilization"]
    assert col.notna().all() and (col > 0).all()
    assert o.frame["pareto"].any()


def test_local_pool_survives_a_killed_worker(tmp_path: Path) -> None:
    import multiprocessing
    import os
    import signal

    from sweep_helpers import SLOW_GEMM

    f = write_sweep(tmp_path, {"parameters": {"arrays[0].rows": [4, 5, 6], "arrays[0].cols": [4, 5]},
                               "workloads": [SLOW_GEMM]})
    killed: list[int] = []

    def kill_a_worker(_: object) -> None:
        kids = [p for p in multiprocessing.active_children() if p.is_alive()]
        if not killed and kids:
            os.kill(kids[0].pid, signal.SIGKILL)  # type: ignore[arg-type]
            killed.append(kids[0].pid)  # type: ignore[arg-type]

    o = run_sweep(load_sweep(f), tmp_path / "pool", workers=2, plots=False, on_result=kill_a_worker)
    assert killed and o.count("ok") == 6
    run_sweep(load_sweep(f), tmp_path / "ref", executor=InlineExecutor(), plots=False)
    assert (tmp_path / "ref" / "results.csv").read_bytes() == (tmp_path / "pool" / "results.csv").read_bytes()
