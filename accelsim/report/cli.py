"""``accelsim report RESULT_DIR [-o FILE]``: render a saved run's result.json as one HTML page.

The lead's ``accelsim.cli`` registers :func:`report` with ``main.add_command(report)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from accelsim.cli import handle_errors
from accelsim.errors import AccelsimError


class ReportError(AccelsimError):
    """A result folder or result.json that cannot be turned into a report (exit code 2)."""


REQUIRED_KEYS = ("arch", "workload", "total_cycles", "clock_ghz")


def load_result_json(path: str | Path) -> dict[str, Any]:
    """Read ``result.json`` from a result folder (or the file itself) and sanity-check it."""
    p = Path(path)
    f = p / "result.json" if p.is_dir() else p
    if not p.exists():
        raise ReportError(f"{p}: no such result folder")
    if not f.is_file():
        raise ReportError(f"{f}: not found (write one with `accelsim run ... --out {p}`)")
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ReportError(f"{f}: not a UTF-8 text file ({e.reason})") from None
    except json.JSONDecodeError as e:
        raise ReportError(f"{f}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    if not isinstance(data, dict):
        raise ReportError(f"{f}: expected a JSON object (an accelsim result), got {type(data).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ReportError(f"{f}: not an accelsim result (missing {', '.join(missing)})")
    for k in ("total_cycles", "clock_ghz"):
        v = data[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ReportError(f"{f}: {k} must be a number, got {v!r}")
    if "ops" in data and not isinstance(data["ops"], list):
        raise ReportError(f"{f}: ops must be a list")
    return data


@click.command("report")
@click.argument("result_dir", type=click.Path())
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="HTML file to write (default: RESULT_DIR/report.html)")
@handle_errors
def report(result_dir: str, output: str | None) -> None:
    """Render RESULT_DIR/result.json (from `accelsim run --out RESULT_DIR`) as one self-contained
    HTML page: summary, GPU comparison, layers, utilization over time, energy, roofline, per-op
    table. For a sweep folder (`accelsim sweep --out DIR`): its Pareto plot and results table."""
    from accelsim.report.html import write_html

    base = Path(result_dir)
    if base.is_dir() and (base / "sweep.sqlite").is_file() and (base / "results.csv").is_file():
        _sweep_report(base, output)
        return
    data = load_result_json(result_dir)
    out = Path(output) if output else (base if base.is_dir() else base.parent) / "report.html"
    if out.exists() and out.is_dir():
        raise ReportError(f"{out}: is a folder; give a file name with -o")
    try:
        write_html(data, out)
    except OSError as e:
        raise ReportError(f"{out}: cannot write ({e.strerror or e})") from None
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as e:
        # A result.json with the right top-level keys but wrongly shaped contents.
        raise ReportError(f"{result_dir}: result.json is malformed ({type(e).__name__}: {e})") from None
    click.echo(f"{out}: report for {data.get('workload')} on {data.get('arch')}")


def _sweep_report(base: Path, output: str | None) -> None:
    """A sweep folder (``accelsim sweep --out DIR``): its Pareto plot and table as one page."""
    from accelsim.report.sweep_html import render_sweep_dir

    out = Path(output) if output else base / "report.html"
    try:
        page, title = render_sweep_dir(base)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ReportError(f"{base}: cannot read the sweep results ({type(e).__name__}: {e})") from None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(page, encoding="utf-8")
    except OSError as e:
        raise ReportError(f"{out}: cannot write ({e.strerror or e})") from None
    click.echo(f"{out}: report for sweep {title}")
