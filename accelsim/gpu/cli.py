"""``accelsim gpu-calibration FILE``: the GPU model's error against measured kernel times."""

from __future__ import annotations

import json

import click

from accelsim.cli import _console, handle_errors


@click.command("gpu-calibration")
@click.argument("calibration")
@click.option("--gpu", "gpu", default=None, metavar="NAME",
              help="GPU profile to evaluate (default: the one the file names)")
@click.option("--fit", "do_fit", is_flag=True,
              help="fit the profile's kernel-class knobs (and the harness) to the file's 'split: fit' "
                   "points, print them as YAML, and compare with them")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@handle_errors
def gpu_calibration(calibration: str, gpu: str | None, do_fit: bool, as_json: bool) -> None:
    """Compare the GPU kernel model with the measured per-kernel times in CALIBRATION (a YAML
    file written by benchmarks/gpu_calibrate.py, or a shipped one: a100-llmcompass).

    Like with like: a file measured with includes_launch: false is compared with the model's
    kernel time; one with includes_launch: true with the kernel time plus the host overhead of
    its timing harness. Error is model / measured - 1, per point; the summary gives the mean
    |error| per op for the held-out points (not used by any fit) and for the fitted ones."""
    import yaml
    from rich.table import Table

    from accelsim.gpu.calibration import compare, fit, load_calibration

    cal = load_calibration(calibration)
    fitted = None
    if do_fit:
        fitted = fit(cal, gpu)
        cal = cal.model_copy(update={"harness": {**cal.harness, **fitted.harness}} if cal.includes_launch else {})
        rep = compare(cal, fitted.profile)
    else:
        rep = compare(cal, gpu)
    rep = type(rep)(calibration, rep.profile, rep.device, rep.includes_launch, rep.points)
    if as_json:
        d = rep.to_dict()
        if fitted is not None:
            d["fitted"] = {"knobs": fitted.knobs,
                           "harness": {k: v.model_dump() for k, v in fitted.harness.items()},
                           "fit_error_by_op": fitted.fit_error_by_op}
        click.echo(json.dumps(d, indent=1, sort_keys=True))
        return
    con = _console()
    if fitted is not None:
        doc: dict[str, object] = {"profile knobs": dict(sorted(fitted.knobs.items()))}
        if fitted.harness:
            doc["harness"] = {k: v.model_dump() for k, v in sorted(fitted.harness.items())}
        con.print(f"fitted to the {rep.count('fit')} 'split: fit' points of {calibration}:")
        con.print(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False).rstrip(), markup=False)
    t = Table(title=f"{rep.profile} model vs {rep.device} ({calibration}; "
                    f"{'includes launch/framework overhead' if rep.includes_launch else 'kernel time only'})")
    for col in ("op", "shape", "prec", "split", "measured", "model", "error", "model bound"):
        t.add_column(col, justify="right" if col in ("measured", "model", "error") else "left")
    for p in rep.points:
        t.add_row(p.op, p.shape, p.precision, p.split, f"{p.measured_s * 1e6:,.1f} us", f"{p.model_s * 1e6:,.1f} us",
                  f"{p.error:+.1%}", p.bound)
    con.print(t)
    for split, what in (("held_out", "held out (not fitted)"), ("fit", "fitted")):
        n = rep.count(split)
        if not n:
            continue
        by = ", ".join(f"{op} {e:.1%}" for op, e in rep.by_op(split).items())
        con.print(f"{what}: mean |error| {rep.mean_abs_error(split=split):.1%} over {n} points ({by}); "
                  f"max {rep.max_abs_error(split):.1%}", markup=False)
        nk, ek = rep.kernel_dominated_error(split)
        if nk:
            con.print(f"  of which {nk} measured at >= 2x the harness floor (kernel-dominated): mean |error| {ek:.1%}",
                      markup=False)
