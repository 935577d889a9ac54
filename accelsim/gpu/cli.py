"""``accelsim gpu-calibration FILE``: the GPU model's error against measured kernel times."""

from __future__ import annotations

import json

import click

from accelsim.cli import _console, handle_errors


@click.command("gpu-calibration")
@click.argument("calibration")
@click.option("--gpu", "gpu", default=None, metavar="NAME",
              help="GPU profile to evaluate (default: the one the file names)")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@handle_errors
def gpu_calibration(calibration: str, gpu: str | None, as_json: bool) -> None:
    """Compare the GPU roofline model with the measured per-kernel times in CALIBRATION (a YAML
    file written by benchmarks/gpu_calibrate.py, or a shipped one: a100-published).

    Error is model / measured - 1, per point; the summary gives the mean |error| per op."""
    from rich.table import Table

    from accelsim.gpu.calibration import compare

    rep = compare(calibration, gpu)
    if as_json:
        click.echo(json.dumps(rep.to_dict(), indent=1, sort_keys=True))
        return
    con = _console()
    t = Table(title=f"{rep.profile} model vs {rep.device} ({calibration})")
    for col in ("op", "shape", "prec", "measured", "model", "error", "model bound"):
        t.add_column(col, justify="left" if col in ("op", "shape", "prec", "model bound") else "right")
    for p in rep.points:
        t.add_row(p.op, p.shape, p.precision, f"{p.measured_s * 1e6:,.1f} us", f"{p.model_s * 1e6:,.1f} us",
                  f"{p.error:+.1%}", p.bound)
    con.print(t)
    by = ", ".join(f"{op} {e:.1%}" for op, e in rep.by_op().items())
    con.print(f"mean |error| {rep.mean_abs_error():.1%} over {len(rep.points)} points ({by}); "
              f"max {rep.max_abs_error():.1%}")
