"""The regression gate: run a suite of cases, compare metrics with a checked-in baseline.

    from accelsim.regress import load_suite, run_suite
    report = run_suite(load_suite("benchmarks/suite.yaml"), "benchmarks/baseline.json")
    assert report.passed, [c.failure_lines() for c in report.failed_cases]

See docs/regress.md; the pytest fixture ``accelsim_budget`` lives in
:mod:`accelsim.regress.pytest_plugin`.
"""

from __future__ import annotations

from accelsim.regress.compare import CaseResult, MetricResult, Report, compare_metric, run_suite
from accelsim.regress.suite import DEFAULT_METRICS, Suite, Tolerance, load_baseline, load_suite

__all__ = [
    "DEFAULT_METRICS",
    "CaseResult",
    "MetricResult",
    "Report",
    "Suite",
    "Tolerance",
    "compare_metric",
    "load_baseline",
    "load_suite",
    "run_suite",
]
