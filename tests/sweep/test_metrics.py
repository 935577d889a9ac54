"""The metric vocabulary: one function decides what a metric name is, and it knows every key
a real result.json has."""

from __future__ import annotations

import pytest

from accelsim import api
from accelsim.sweep.metrics import METRICS, RESULT_KEYS, metric_problem, metric_value, resolve_metric
from builders import make_arch


@pytest.fixture(scope="module")
def result() -> dict:
    g = api.load_graph("gemm:M=64,N=64,K=64")
    return api.simulate(make_arch(), g, api.RunOptions(gpu="h100")).data


def test_every_top_level_result_key_is_known(result: dict) -> None:
    unknown = sorted(set(result) - RESULT_KEYS)
    assert not unknown, f"result.json keys missing from accelsim/sweep/metrics.py RESULT_KEYS: {unknown}"


def test_every_named_metric_reads_a_number_from_a_real_result(result: dict) -> None:
    for name in METRICS:
        if name == "check_passed":  # only with --check
            continue
        if any(path.startswith("inference.") for path in METRICS[name].paths):  # only with a generation
            continue
        v = metric_value(result, name)
        assert isinstance(v, (int, float)) and not isinstance(v, bool), (name, v)
    assert metric_value(result, "dram_bytes") == result["dram_read_bytes"] + result["dram_write_bytes"]
    assert metric_value(result, "units.sa0.utilization") == result["units"]["sa0"]["utilization"]


@pytest.mark.parametrize("name, ok", [
    ("latency_s", True), ("units.sa0.utilization", True), ("inference.tpot_s", True),
    ("timeline_cycles.memory_stall", True), ("latency", False), ("units", False), ("units.", False),
    ("untis.sa0.utilization", False), ("", False),
    # paths are checked against result.json's typed description (accelsim/result_schema.py)
    ("units.sa0.utilizaton", False), ("ops.0.cycles", False), ("latency_s.x", False),
    ("system.pipeline_bubble", True), ("gpu.inference.tpot_s", True), ("energy.breakdown_j.dram", True),
])
def test_metric_names_are_resolved_in_one_place(name: str, ok: bool) -> None:
    assert (metric_problem(name) is None) is ok
    if not ok:
        with pytest.raises(ValueError, match="unknown metric|non-empty"):
            resolve_metric(name)
    assert "did you mean 'latency_s'?" in (metric_problem("latency_") or "")


def test_every_named_metric_reads_a_key_the_schema_describes() -> None:
    from accelsim.result_schema import describes

    for name, m in METRICS.items():
        if m.paths:  # the first path is today's key; later ones read older results
            assert describes(m.paths[0]), (name, m.paths[0])
