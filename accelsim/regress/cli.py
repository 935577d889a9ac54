"""``accelsim regress``: the click command (registered on the main group by accelsim.cli)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from accelsim.cli import _console, handle_errors, no_cache_option
from accelsim.errors import CheckFailure
from accelsim.regress.compare import CaseResult, Report

_STYLE = {"ok": "green", "improved": "cyan", "new": "yellow", "regressed": "bold red",
          "missing": "bold red", "n/a": "dim"}


@click.command()
@click.argument("suite_file", metavar="SUITE.yaml", type=click.Path(dir_okay=False))
@click.option("--baseline", "baseline", type=click.Path(dir_okay=False),
              help="baseline JSON (default: baseline.json beside the suite file)")
@click.option("--update-baseline", is_flag=True, help="rewrite the baseline from this run (review the diff)")
@click.option("--junit", type=click.Path(dir_okay=False), help="write a JUnit XML report here")
@click.option("--summary", type=click.Path(dir_okay=False),
              help="write a Markdown summary here (e.g. \"$GITHUB_STEP_SUMMARY\")")
@click.option("-k", "--case", "cases", multiple=True, metavar="NAME", help="run only this case (repeatable)")
@click.option("-q", "--quiet", is_flag=True, help="print only failures and the verdict")
@no_cache_option
@handle_errors
def regress(suite_file: str, baseline: str | None, update_baseline: bool, junit: str | None,
            summary: str | None, cases: tuple[str, ...], quiet: bool) -> None:
    """Run SUITE.yaml and compare each case's metrics with the baseline.

    \b
    Exit status (the same with -q): 0 no regression; 1 a metric moved past its tolerance or is no
    longer reported, a check failed, a case errored; 2 a malformed suite or baseline, or a baseline
    that does not cover the run (another suite's, a case or tracked metric missing, a null value).
    Examples:
      accelsim regress benchmarks/suite.yaml --baseline benchmarks/baseline.json
      accelsim regress benchmarks/suite.yaml --baseline benchmarks/baseline.json --update-baseline
    """
    from accelsim.regress.compare import run_suite
    from accelsim.regress.junit import write_junit, write_summary
    from accelsim.regress.suite import load_suite

    ls = load_suite(suite_file)
    bpath = Path(baseline) if baseline else Path(suite_file).parent / "baseline.json"
    con = _console()

    def on_case(c: CaseResult) -> None:
        if not quiet:
            verdict = "ok" if c.passed else ("error" if c.error else "FAIL")
            con.print(f"  {c.name:32s} {verdict:5s} {c.wall_s:6.2f} s", markup=False, highlight=False)

    report = run_suite(ls, bpath, update=update_baseline, only=cases, on_case=on_case)
    if junit:
        write_junit(report, junit)
    if summary:
        write_summary(report, summary)
    if update_baseline:
        if report.updated:
            con.print(f"wrote {bpath} ({len(report.cases)} case(s))")
        else:
            _print_failures(con, report)
            raise CheckFailure(f"baseline not written: {len(report.failed_cases)} case(s) "
                               "errored or failed their check")
        return
    if not quiet:
        _print_table(con, report)
    else:
        _print_failures(con, report)
    for name in report.stale:
        con.print(f"note: baseline case {name!r} is not in the suite (dropped by --update-baseline)")
    if report.passed:
        con.print(f"[green]no regressions[/green] ({len(report.cases)} case(s))")
        return
    raise CheckFailure(f"{len(report.failed_cases)} of {len(report.cases)} case(s) failed: "
                       + ", ".join(c.name for c in report.failed_cases))


def _fmt(x: object) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def _print_table(con: Any, report: Report) -> None:
    from rich.table import Table

    from accelsim.regress.junit import change_text

    t = Table(title="accelsim regress", title_justify="left")
    for col, just in (("case", "left"), ("metric", "left"), ("baseline", "right"), ("current", "right"),
                      ("change", "right"), ("status", "left")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for c in report.cases:
        first = True
        if c.error:
            t.add_row(c.name, "-", "-", "-", "-", "[bold red]error[/]")
            first = False
        for m in c.metrics:
            t.add_row(c.name if first else "", m.metric, _fmt(m.baseline), _fmt(m.current),
                      change_text(m), f"[{_STYLE.get(m.status, '')}]{m.status}[/]", end_section=False)
            first = False
        for p in c.problems:
            t.add_row(c.name if first else "", "-", "", "", "", f"[bold red]{p}[/]")
            first = False
        t.add_section()
    con.print(t)
    _print_failures(con, report)


def _print_failures(con: Any, report: Report) -> None:
    for c in report.failed_cases:
        for line in c.failure_lines():
            con.print(f"FAIL {c.name}: {line}", markup=False)
    for c in report.cases:
        for n in c.notes:
            con.print(f"note {c.name}: {n}", markup=False)


if __name__ == "__main__":  # pragma: no cover - `python -m accelsim.regress.cli ...`
    regress()
