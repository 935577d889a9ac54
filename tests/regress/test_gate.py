"""The gate cannot be disabled by accident: a baseline that does not cover the run, an unknown
metric or a suite that tracks nothing is bad input (exit 2) unless the baseline is being
rewritten; exit codes do not depend on -q; ``options.check: true`` runs the functional check."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from accelsim.regress.cli import regress
from regress_helpers import write_suite

ONE = [{"name": "gemm-small", "arch": "tiny.yaml", "workload": "gemm:M=64,N=64,K=64"}]


def _run(*args: object) -> Result:
    return CliRunner().invoke(regress, [str(a) for a in args], catch_exceptions=False)


def _baselined(tmp_path: Path, **kw: object) -> tuple[Path, Path, dict]:
    suite = write_suite(tmp_path, cases=kw.pop("cases", ONE), **kw)  # type: ignore[arg-type]
    base = tmp_path / "baseline.json"
    r = _run(suite, "--baseline", base, "--update-baseline")
    assert r.exit_code == 0, r.output
    return suite, base, json.loads(base.read_text())


def test_a_tracked_metric_missing_or_null_in_the_baseline_is_bad_input(tmp_path: Path) -> None:
    suite, base, data = _baselined(tmp_path)
    metrics = data["cases"]["gemm-small"]["metrics"]
    del metrics["energy_j"]
    metrics["total_cycles"] = None
    base.write_text(json.dumps(data))
    for quiet in ((), ("-q",)):
        r = _run(suite, "--baseline", base, *quiet)
        assert r.exit_code == 2, r.output
        assert (f"{base}: cases.gemm-small.metrics.energy_j: tracked metric energy_j is not in the baseline; "
                "rerun with --update-baseline to record it") in r.output
        assert f"{base}: cases.gemm-small.metrics.total_cycles: is null; rerun with --update-baseline" in r.output
    # --update-baseline repairs it
    assert _run(suite, "--baseline", base, "--update-baseline").exit_code == 0
    assert _run(suite, "--baseline", base).exit_code == 0


def test_a_baseline_of_another_suite_is_bad_input(tmp_path: Path) -> None:
    suite, base, data = _baselined(tmp_path)
    data["suite"] = "other-suite.yaml"
    base.write_text(json.dumps(data))
    r = _run(suite, "--baseline", base)
    assert r.exit_code == 2
    assert f"{base}: suite: recorded for suite 'other-suite.yaml', not 'suite.yaml' (wrong --baseline?)" in r.output


def test_unknown_metric_names_are_refused_with_their_path(tmp_path: Path) -> None:
    suite = write_suite(tmp_path, cases=ONE, extra={"metrics": {
        "total_cycle": {"rel": 0.01}, "units.sa0.utilization": {"abs": 0.01}, "latency": None}})
    r = _run(suite, "--baseline", tmp_path / "b.json", "--update-baseline")
    assert r.exit_code == 2
    assert (f"{suite}: metrics.total_cycle: invalid key: unknown metric 'total_cycle' (metrics: ") in r.output
    assert "did you mean 'total_cycles'?" in r.output
    assert f"{suite}: metrics.latency: invalid key: unknown metric 'latency'" in r.output
    assert "units.sa0.utilization" not in r.output  # a dotted result.json path is a metric


def test_a_suite_tracking_nothing_is_refused(tmp_path: Path) -> None:
    suite = write_suite(tmp_path, cases=ONE, extra={"metrics": {
        "total_cycles": None, "energy_j": None, "mac_utilization": None}})
    r = _run(suite, "--baseline", tmp_path / "b.json", "--update-baseline")
    assert r.exit_code == 2
    assert f"{suite}: metrics: the suite tracks no metric" in r.output


def test_an_unreported_tracked_metric_cannot_be_recorded(tmp_path: Path) -> None:
    suite = write_suite(tmp_path, cases=ONE, extra={"metrics": {"units.nosuch.utilization": {"abs": 0.01}}})
    base = tmp_path / "b.json"
    r = _run(suite, "--baseline", base, "--update-baseline")
    assert r.exit_code == 1 and not base.exists()
    assert "gemm-small: tracked metric units.nosuch.utilization is not reported by this run" in r.output


def test_exit_codes_do_not_depend_on_quiet(tmp_path: Path) -> None:
    suite, base, data = _baselined(tmp_path)
    data["cases"]["gemm-small"]["metrics"]["total_cycles"] //= 2  # the run looks 2x slower
    base.write_text(json.dumps(data))
    loud, quiet = _run(suite, "--baseline", base), _run(suite, "--baseline", base, "-q")
    assert loud.exit_code == quiet.exit_code == 1
    assert "FAIL gemm-small: total_cycles" in quiet.output


def test_options_check_true_runs_the_functional_check(tmp_path: Path) -> None:
    case = {**ONE[0], "options": {"check": True}}
    suite, base, data = _baselined(tmp_path, cases=[case])
    assert data["cases"]["gemm-small"]["metrics"]["check_passed"] is True
    assert data["cases"]["gemm-small"]["options"] == {"check": True}
    assert _run(suite, "--baseline", base).exit_code == 0
