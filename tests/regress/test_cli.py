"""`accelsim regress` end to end on a tiny GEMM suite: exit codes, JUnit XML, Markdown, baseline."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from accelsim.regress.cli import regress
from regress_helpers import write_suite

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> Result:
    return CliRunner().invoke(regress, [str(a) for a in args], catch_exceptions=False)


def _baselined(tmp_path: Path, **kw: object) -> tuple[Path, Path]:
    suite = write_suite(tmp_path, **kw)  # type: ignore[arg-type]
    base = tmp_path / "baseline.json"
    r = _run(suite, "--baseline", base, "--update-baseline")
    assert r.exit_code == 0, r.output
    return suite, base


def test_update_baseline_round_trip_is_deterministic(tmp_path: Path) -> None:
    suite, base = _baselined(tmp_path)
    first = base.read_bytes()
    data = json.loads(first)
    assert data["format"] == "accelsim.baseline/1" and data["accelsim_version"]
    assert sorted(data["cases"]) == ["gemm-scalesim", "gemm-slow-dram", "gemm-small"]
    assert data["cases"]["gemm-small"]["metrics"]["total_cycles"] > 0
    assert first.decode() == json.dumps(data, indent=2, sort_keys=True) + "\n"
    assert _run(suite, "--baseline", base, "--update-baseline").exit_code == 0
    assert base.read_bytes() == first
    # default baseline location: beside the suite
    assert _run(suite).exit_code == 0


def test_unchanged_tree_passes_with_reports(tmp_path: Path) -> None:
    suite, base = _baselined(tmp_path)
    junit, summary = tmp_path / "r" / "junit.xml", tmp_path / "r" / "summary.md"
    r = _run(suite, "--baseline", base, "--junit", junit, "--summary", summary)
    assert r.exit_code == 0, r.output
    assert "no regressions" in r.output and "total_cycles" in r.output
    ts = ET.parse(junit).getroot().find("testsuite")
    assert ts is not None and ts.get("tests") == "3" and ts.get("failures") == "0"
    assert [tc.get("name") for tc in ts.iter("testcase")] == ["gemm-small", "gemm-scalesim", "gemm-slow-dram"]
    assert "no regressions" in summary.read_text()


def test_five_percent_cycle_regression_fails_and_names_the_case(tmp_path: Path) -> None:
    suite, base = _baselined(tmp_path)
    data = json.loads(base.read_text())
    m = data["cases"]["gemm-slow-dram"]["metrics"]
    m["total_cycles"] = round(m["total_cycles"] * 0.95)  # the baseline was 5 % faster
    base.write_text(json.dumps(data))
    junit, summary = tmp_path / "junit.xml", tmp_path / "summary.md"
    r = _run(suite, "--baseline", base, "--junit", junit, "--summary", summary)
    assert r.exit_code == 1
    assert "1 of 3 case(s) failed: gemm-slow-dram" in r.output
    ts = ET.parse(junit).getroot().find("testsuite")
    assert ts is not None and ts.get("failures") == "1"
    (bad,) = [tc for tc in ts.iter("testcase") if tc.find("failure") is not None]
    assert bad.get("name") == "gemm-slow-dram"
    msg = bad.find("failure").get("message")  # type: ignore[union-attr]
    assert "total_cycles" in msg and "+5.2" in msg and "lower_is_better" in msg
    md = summary.read_text()
    assert "| gemm-slow-dram | **FAIL** |" in md and "regressed" in md


def test_an_override_that_slows_the_arch_is_caught(tmp_path: Path) -> None:
    suite, base = _baselined(tmp_path)
    body = yaml.safe_load(suite.read_text())
    body["cases"][2]["set"] = ["dram.bandwidth_gbps=1"]
    suite.write_text(yaml.safe_dump(body))
    r = _run(suite, "--baseline", base)
    assert r.exit_code == 1
    assert "FAIL gemm-slow-dram: total_cycles" in r.output
    assert "the case changed since the baseline was recorded: set: ['dram.bandwidth_gbps=4'] -> " in r.output


def test_case_missing_from_baseline_is_bad_input(tmp_path: Path) -> None:
    suite, base = _baselined(tmp_path)
    data = json.loads(base.read_text())
    del data["cases"]["gemm-small"]
    base.write_text(json.dumps(data))
    r = _run(suite, "--baseline", base)
    assert r.exit_code == 2
    assert (f"{base}: cases.gemm-small: case 'gemm-small' of suite.yaml is not in the baseline; rerun with "
            "--update-baseline to record it") in r.output
    assert "gemm-scalesim" not in r.output.split("error:")[0]  # refused before any case ran


def test_malformed_baseline_exits_2_with_file_and_path(tmp_path: Path) -> None:
    suite, base = _baselined(tmp_path)
    good = base.read_text()
    base.write_text(good[:-20])
    r = _run(suite, "--baseline", base)
    assert r.exit_code == 2
    assert f"{base}: invalid JSON at line" in r.output and "Traceback" not in r.output
    data = json.loads(good)
    data["cases"]["gemm-small"]["metrics"]["total_cycles"] = "fast"
    del data["format"]
    base.write_text(json.dumps(data))
    r = _run(suite, "--baseline", base)
    assert r.exit_code == 2
    assert f"{base}: format: required" in r.output
    assert (f"{base}: cases.gemm-small.metrics.total_cycles: expected a number, true/false or null "
            "(got 'fast')") in r.output
    r = _run(suite, "--baseline", tmp_path / "nope.json")
    assert r.exit_code == 2 and "baseline file not found" in r.output


def test_malformed_suite_exits_2_with_file_and_path(tmp_path: Path) -> None:
    suite = write_suite(tmp_path, cases=[
        {"name": "a", "arch": "tiny.yaml", "workload": "gemm:M=8,N=8,K=8", "opts": {}},
        {"name": "b", "arch": "tiny.yaml", "workload": "gemm:M=8,N=8,K=8", "options": {"compat": "gem5"}},
    ], extra={"metrics": {"total_cycles": {"rel": -1}}})
    r = _run(suite, "--baseline", tmp_path / "b.json")
    assert r.exit_code == 2
    assert (f"{suite}: cases[0].opts: unknown key (allowed: arch, generate, max_wall_s, metrics, name, options, "
            "params, set, workload)") in r.output
    assert f"{suite}: cases[1].options.compat: must be scalesim (got 'gem5')" in r.output
    assert f"{suite}: metrics.total_cycles.rel: must be >= 0" in r.output
    suite = write_suite(tmp_path, cases=[
        {"name": "a", "arch": "nope.yaml", "workload": "gemm:M=8,N=8,K=8"},
        {"name": "b", "arch": "tiny.yaml", "workload": "gemm:M=8,K=8", "set": ["arrays[0].rows=0"]},
    ])
    r = _run(suite, "--baseline", tmp_path / "b.json", "--update-baseline")
    assert r.exit_code == 2
    assert f"{suite}: cases[0].arch: nope.yaml:" in r.output
    assert f"{suite}: cases[1].arch: tiny.yaml: " in r.output and "arrays[0].rows: must be > 0" in r.output
    assert f"{suite}: cases[1].workload:" in r.output and "missing N" in r.output
    assert not (tmp_path / "b.json").exists()


def test_case_filter_updates_only_those_cases(tmp_path: Path) -> None:
    suite, base = _baselined(tmp_path)
    data = json.loads(base.read_text())
    data["cases"]["gemm-small"]["metrics"]["total_cycles"] = 1
    data["cases"]["gemm-scalesim"]["metrics"]["total_cycles"] = 1
    base.write_text(json.dumps(data))
    assert _run(suite, "--baseline", base, "-k", "gemm-small", "--update-baseline").exit_code == 0
    new = json.loads(base.read_text())
    assert new["cases"]["gemm-small"]["metrics"]["total_cycles"] > 1
    assert new["cases"]["gemm-scalesim"]["metrics"]["total_cycles"] == 1  # untouched
    r = _run(suite, "--baseline", base, "-k", "nope")
    assert r.exit_code == 2 and "no case named 'nope'" in r.output


def test_shipped_suite_passes_against_shipped_baseline() -> None:
    """The CI gate itself: regenerate benchmarks/baseline.json with --update-baseline when a
    change is intended (and review the diff)."""
    r = _run(ROOT / "benchmarks" / "suite.yaml", "--baseline", ROOT / "benchmarks" / "baseline.json", "-q")
    assert r.exit_code == 0, r.output


def test_a_case_that_fails_to_simulate_fails_and_blocks_update(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from accelsim import api
    from accelsim.errors import MappingError

    suite, base = _baselined(tmp_path)
    real = api.simulate

    def broken(arch, graph, options=None):  # type: ignore[no-untyped-def]
        if graph.meta.get("M") == 256:  # the gemm-slow-dram case
            raise MappingError("op 'matmul' [matmul] in module 'gemm': no tiling fits")
        return real(arch, graph, options)

    monkeypatch.setattr(api, "simulate", broken)
    junit = tmp_path / "j.xml"
    r = _run(suite, "--baseline", base, "--junit", junit)
    assert r.exit_code == 1
    assert "FAIL gemm-slow-dram: simulation failed: op 'matmul'" in r.output
    err = ET.parse(junit).getroot().find("testsuite/testcase[@name='gemm-slow-dram']/error")
    assert err is not None and "no tiling fits" in (err.get("message") or "")
    before = base.read_bytes()
    r = _run(suite, "--baseline", base, "--update-baseline")
    assert r.exit_code == 1 and "baseline not written" in r.output
    assert base.read_bytes() == before
