"""Sweep file model: expansion (grid, coupled, random) and error messages."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from accelsim.errors import SpecError
from accelsim.sweep.runner import expand_configs
from accelsim.sweep.spec import load_sweep, metric_value, workload_label
from sweep_helpers import write_arch, write_sweep

DATA = Path(__file__).parent / "data"


def test_grid_expands_every_combination_first_parameter_slowest(tmp_path: Path) -> None:
    f = write_sweep(tmp_path, {
        "parameters": {"arrays[0].rows": [8, 16, 32], "dram.bandwidth_gbps": [10, 20]},
        "workloads": ["gemm:M=64,N=64,K=64"],
    })
    configs = expand_configs(load_sweep(f))
    assert len(configs) == 6
    assert configs[0] == {"arrays[0].rows": 8, "dram.bandwidth_gbps": 10}
    assert configs[1] == {"arrays[0].rows": 8, "dram.bandwidth_gbps": 20}
    assert configs[-1] == {"arrays[0].rows": 32, "dram.bandwidth_gbps": 20}


def test_coupled_parameters_vary_together(tmp_path: Path) -> None:
    f = write_sweep(tmp_path, {
        "parameters": {"dram.bandwidth_gbps": [10, 20]},
        "coupled": [{"arrays[0].rows": [8, 16, 32], "arrays[0].cols": [8, 16, 32]}],
        "workloads": ["gemm:M=64,N=64,K=64"],
    })
    configs = expand_configs(load_sweep(f))
    assert len(configs) == 6
    assert all(c["arrays[0].rows"] == c["arrays[0].cols"] for c in configs)


def test_random_is_reproducible_distinct_and_capped(tmp_path: Path) -> None:
    body = {
        "parameters": {"arrays[0].rows": [4, 8, 16, 32], "arrays[0].cols": [4, 8, 16, 32],
                       "dram.bandwidth_gbps": [8, 16, 32]},
        "strategy": {"kind": "random", "samples": 10, "seed": 7},
        "workloads": ["gemm:M=64,N=64,K=64"],
    }
    a = expand_configs(load_sweep(write_sweep(tmp_path, body)))
    b = expand_configs(load_sweep(write_sweep(tmp_path, body)))
    assert a == b and len(a) == 10
    assert len({tuple(sorted(c.items())) for c in a}) == 10
    body["strategy"]["seed"] = 8
    assert expand_configs(load_sweep(write_sweep(tmp_path, body))) != a
    body["strategy"]["samples"] = 1000  # more than the grid: every point once
    assert len(expand_configs(load_sweep(write_sweep(tmp_path, body)))) == 48


def test_defaults_and_shorthands(tmp_path: Path) -> None:
    f = write_sweep(tmp_path, {
        "parameters": {"arrays[0].rows": [8]},
        "workloads": ["gemm:M=64,N=64,K=64", {"name": "gpt2-tiny", "params": {"seq": 32}}],
        "objectives": ["latency_s", {"energy_j": "min"}, "mac_utilization"],
    })
    s = load_sweep(f).spec
    assert s.strategy.kind == "grid"
    assert [(o.metric, o.direction) for o in s.objectives] == [
        ("latency_s", "min"), ("energy_j", "min"), ("mac_utilization", "max")]
    assert [workload_label(w) for w in s.workloads] == ["gemm:M=64,N=64,K=64", "gpt2-tiny[seq=32]"]
    f2 = write_sweep(tmp_path, {"workloads": ["gemm:M=64,N=64,K=64"]})
    s2 = load_sweep(f2).spec
    assert [o.metric for o in s2.objectives] == ["latency_s", "energy_j"]
    assert expand_configs(load_sweep(f2)) == [{}]  # no parameters: the base alone


def test_base_is_resolved_relative_to_the_sweep_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sub = tmp_path / "sweeps"
    sub.mkdir()
    write_arch(sub, "local.yaml")
    f = write_sweep(sub, {"base": "local.yaml", "workloads": ["gemm:M=8,N=8,K=8"]})
    monkeypatch.chdir(tmp_path)
    assert load_sweep(Path("sweeps") / f.name).base["name"] == "test-arch"
    g = write_sweep(sub, {"base": "edge-int8", "workloads": ["gemm:M=8,N=8,K=8"]})
    assert load_sweep(g).base["name"] == "edge-int8"  # a shipped name


def test_set_overrides_apply_to_every_point(tmp_path: Path) -> None:
    f = write_sweep(tmp_path, {"set": ["dram.channels=1"], "workloads": ["gemm:M=8,N=8,K=8"]})
    assert load_sweep(f).base["dram"]["channels"] == 1


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("bad_*.yaml")))
def test_bad_sweep_files_name_file_and_path(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = DATA / name
    expects = [ln.split("# expect:", 1)[1].strip() for ln in src.read_text().splitlines() if ln.startswith("# expect:")]
    assert expects
    write_arch(tmp_path)
    shutil.copy(src, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError) as ei:
        load_sweep(name)
    text = str(ei.value)
    for e in expects:
        assert e in text, f"expected {e!r} in:\n{text}"


def test_metric_value_paths_and_fallbacks() -> None:
    data = {"total_cycles": 10, "array_utilization": {"mac_utilization": 0.5}, "dram_read_bytes": 3,
            "dram_write_bytes": 4, "energy": {"total_j": 2.0}, "units": {"sa0": {"utilization": 0.25}}}
    assert metric_value(data, "mac_utilization") == 0.5
    assert metric_value(data, "dram_bytes") == 7
    assert metric_value(data, "energy_j") == 2.0
    assert metric_value(data, "units.sa0.utilization") == 0.25
    assert metric_value(data, "speedup_vs_gpu") is None
