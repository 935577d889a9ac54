"""Tolerance rules of one metric comparison."""

from __future__ import annotations

import pytest

from accelsim.regress.compare import _check_problem, compare_metric
from accelsim.regress.suite import DEFAULT_METRICS, Tolerance

LOWER = Tolerance(rel=0.01)
HIGHER = Tolerance(abs=0.01, direction="higher_is_better")
EXACT = Tolerance(direction="exact")


@pytest.mark.parametrize(("tol", "base", "cur", "status"), [
    (LOWER, 1000, 1000, "ok"),
    (LOWER, 1000, 1010, "ok"),  # exactly at the tolerance
    (LOWER, 1000, 1011, "regressed"),
    (LOWER, 1000, 950, "improved"),  # better by more than the tolerance: passes, flagged
    (LOWER, 1000, 995, "ok"),
    (HIGHER, 0.50, 0.495, "ok"),
    (HIGHER, 0.50, 0.48, "regressed"),
    (HIGHER, 0.50, 0.60, "improved"),
    (EXACT, 10, 10, "ok"),
    (EXACT, 10, 11, "regressed"),
    (EXACT, 10, 9, "regressed"),
    (Tolerance(rel=0.1, abs=5, direction="exact"), 10, 14.9, "ok"),  # max(rel x base, abs)
    (LOWER, None, 5, "new"),
    (LOWER, 5, None, "missing"),
    (LOWER, None, None, "n/a"),
    (LOWER, 0, 0, "ok"),
    (LOWER, 0, 1, "regressed"),
])
def test_compare_metric(tol: Tolerance, base: float | None, cur: float | None, status: str) -> None:
    assert compare_metric("m", tol, base, cur).status == status


def test_regression_message_names_metric_and_change() -> None:
    m = compare_metric("total_cycles", LOWER, 1000, 1050)
    assert m.failed and abs(m.change - 0.05) < 1e-12
    assert m.message == "total_cycles 1000 -> 1050 (+5.00 %), beyond tolerance 1 %, lower_is_better"


def test_defaults() -> None:
    assert DEFAULT_METRICS["total_cycles"] == Tolerance(rel=0.01, direction="lower_is_better")
    assert DEFAULT_METRICS["energy_j"].rel == 0.02
    assert DEFAULT_METRICS["mac_utilization"] == Tolerance(abs=0.01, direction="higher_is_better")


def _check(passed: bool) -> dict[str, object]:
    row = {"tensor": "linear_1", "op": "linear_1", "module": "fc", "max_abs_err": 0.0 if passed else 2.5,
           "max_rel_err": 0.0 if passed else 0.5, "bound": 0.0, "passed": passed, "note": ""}
    return {"passed": passed, "scheme": "int8-exact", "level": "outputs", "tensors": [row],
            "first_failure": None if passed else row, "vs_fp32": None, "vs_model": None}


def test_check_must_pass() -> None:
    assert _check_problem({"check": _check(True)}, requested=True) is None
    msg = str(_check_problem({"check": _check(False)}, requested=False))
    assert "numerics check failed" in msg and "op 'linear_1' (module 'fc'), tensor 'linear_1'" in msg
    assert "no check" in str(_check_problem({}, requested=True))
    assert _check_problem({}, requested=False) is None
