"""Report writers for ``accelsim regress``: JUnit XML (one testcase per case) and a Markdown
summary (for ``$GITHUB_STEP_SUMMARY`` or a PR comment)."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

from accelsim.regress.compare import MetricResult, Report

__all__ = ["junit_xml", "markdown_summary", "write_junit", "write_summary"]


def _fmt(x: object) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def change_text(m: MetricResult) -> str:
    ch = m.change
    if ch is None:
        return "-"
    if not math.isfinite(ch):
        return "from 0"
    return f"{ch * 100:+.2f} %"


def junit_xml(report: Report) -> str:
    """JUnit XML text: a ``<testsuite name="accelsim-regress">`` with one testcase per case; a
    failing case has one ``<failure>`` whose message names each failing metric and its change."""
    failures = sum(1 for c in report.cases if not c.passed and c.error is None)
    errors = sum(1 for c in report.cases if c.error is not None)
    ts = ET.Element("testsuite", {
        "name": "accelsim-regress", "tests": str(len(report.cases)), "failures": str(failures),
        "errors": str(errors), "skipped": "0", "time": f"{sum(c.wall_s for c in report.cases):.3f}",
    })
    props = ET.SubElement(ts, "properties")
    ET.SubElement(props, "property", {"name": "suite", "value": Path(report.suite_file).as_posix()})
    ET.SubElement(props, "property", {"name": "baseline", "value": Path(report.baseline_file).as_posix()})
    for c in report.cases:
        tc = ET.SubElement(ts, "testcase", {"classname": "accelsim.regress", "name": c.name,
                                            "time": f"{c.wall_s:.3f}"})
        lines = [f"{m.metric}: baseline {_fmt(m.baseline)}, current {_fmt(m.current)}, "
                 f"change {change_text(m)}, {m.status}" for m in c.metrics]
        lines += [f"note: {n}" for n in c.notes]
        if c.error is not None:
            el = ET.SubElement(tc, "error", {"message": f"{c.name}: {c.error}", "type": "CaseError"})
            el.text = c.error
        elif not c.passed:
            msg = f"{c.name}: " + "; ".join(c.failure_lines())
            el = ET.SubElement(tc, "failure", {"message": msg, "type": "Regression"})
            el.text = "\n".join(c.failure_lines() + [""] + lines)
        if lines:
            ET.SubElement(tc, "system-out").text = "\n".join(lines)
    root = ET.Element("testsuites", {"name": "accelsim"})
    root.append(ts)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(report: Report, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(junit_xml(report), encoding="utf-8")
    return p


def markdown_summary(report: Report) -> str:
    """A Markdown report: verdict, per-case table, then every metric of failing cases."""
    n_fail = len(report.failed_cases)
    head = ("### accelsim regress: " + ("baseline updated" if report.updated else
            ("no regressions" if report.passed else f"{n_fail} of {len(report.cases)} case(s) failed")))
    out = [head, "", f"Suite `{Path(report.suite_file).as_posix()}`, baseline "
           f"`{Path(report.baseline_file).as_posix()}`.", ""]
    out += ["| case | status | details |", "|---|---|---|"]
    for c in report.cases:
        if c.passed:
            improved = [m for m in c.metrics if m.status == "improved"]
            det = "; ".join(f"{m.metric} {change_text(m)}" for m in improved)
            status = "improved" if improved else "pass"
        else:
            status = "**error**" if c.error else "**FAIL**"
            det = "; ".join(c.failure_lines())
        out.append(f"| {c.name} | {status} | {det.replace('|', '/')} |")
    rows = [(c, m) for c in report.cases if not c.passed for m in c.metrics]
    if rows:
        out += ["", "| case | metric | baseline | current | change | status |", "|---|---|---:|---:|---:|---|"]
        for c, m in rows:
            out.append(f"| {c.name} | {m.metric} | {_fmt(m.baseline)} | {_fmt(m.current)} | "
                       f"{change_text(m)} | {m.status} |")
    if report.stale:
        out += ["", f"Baseline cases no longer in the suite: {', '.join(report.stale)}."]
    return "\n".join(out) + "\n"


def write_summary(report: Report, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(markdown_summary(report), encoding="utf-8")
    return p
