"""``accelsim sweep``: the click command (registered on the main group by accelsim.cli)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from accelsim.cli import _console, handle_errors, no_cache_option
from accelsim.errors import AccelsimError

if TYPE_CHECKING:
    from accelsim.sweep.runner import SweepOutcome


@click.command()
@click.argument("sweep_file", metavar="SWEEP.yaml", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="output directory (default: a directory named after the sweep file)")
@click.option("--scheduler", metavar="tcp://HOST:PORT", help="run on this Dask scheduler instead of local processes")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="local worker processes (default: CPU count; 0 runs points in this process)")
@click.option("--resume/--fresh", default=True, show_default=True,
              help="reuse points already in DIR/sweep.sqlite, or start over")
@click.option("--no-plots", is_flag=True, help="skip the PNG/SVG plots")
@click.option("-q", "--quiet", is_flag=True, help="no progress bar; print only the summary line")
@no_cache_option
@handle_errors
def sweep(sweep_file: str, out_dir: str | None, scheduler: str | None, workers: int | None,
          resume: bool, no_plots: bool, quiet: bool) -> None:
    """Simulate every point of SWEEP.yaml and write results.csv/.parquet, pareto.csv and plots.

    \b
    Points are committed one by one to DIR/sweep.sqlite; rerunning resumes where a killed run
    stopped. Examples:
      accelsim sweep examples/sweeps/gpt2_tiny_grid.yaml --workers 2
      accelsim sweep examples/sweeps/gpt2_tiny_nsga2.yaml --scheduler tcp://10.0.0.5:8786
    """
    from accelsim.sweep.runner import run_sweep, summary_line
    from accelsim.sweep.spec import load_sweep

    if scheduler and workers is not None:
        raise AccelsimError("--workers is for local runs; a Dask cluster's size is set by its workers")
    if scheduler:
        from accelsim.sweep.runner import check_scheduler_address

        check_scheduler_address(scheduler)
    loaded = load_sweep(sweep_file)
    out = Path(out_dir) if out_dir else Path(Path(sweep_file).stem)
    outcome = run_sweep(loaded, out, workers=workers, scheduler=scheduler, resume=resume,
                        progress=not quiet, plots=not no_plots)
    con = _console()
    con.print(summary_line(outcome), markup=False)
    for note in outcome.notes:
        con.print(f"note: {note}", markup=False)
    errors = [(p, outcome.records[p.key]) for p in outcome.points if outcome.records[p.key].status != "ok"]
    if not quiet:
        for p, r in errors[:5]:
            first = (r.error or "").splitlines()[0] if r.error else ""
            con.print(f"  point {p.index} ({r.status}): {first}", markup=False)
        if len(errors) > 5:
            con.print(f"  ... and {len(errors) - 5} more (see the error column of results.csv)")
        _print_front(con, outcome)
        con.print("wrote: " + ", ".join(str(f) for f in outcome.files), markup=False)
    # The exit status depends on the outcome only, never on -q.
    if outcome.count("failed"):
        click.echo(f"accelsim: {outcome.count('failed')} point(s) failed with internal errors "
                   "(rerun to retry them; ACCELSIM_DEBUG has no effect inside workers)", err=True)
        raise SystemExit(3)
    if outcome.points and not outcome.count("ok"):
        firsts = list(dict.fromkeys((r.error or "").splitlines()[0] for _, r in errors if r.error))[:3]
        raise AccelsimError(f"no point of the sweep could be simulated ({len(errors)} invalid); "
                            + ("first errors:\n  " + "\n  ".join(firsts) if firsts else "see results.csv"))


def _print_front(con: Any, outcome: SweepOutcome) -> None:
    from rich.markup import escape
    from rich.table import Table

    front = outcome.pareto
    if front.empty:
        return
    cols = ["index", "workload", *outcome.parameters, *(o.metric for o in outcome.objectives)]
    t = Table(title=f"Pareto front ({len(front)} points; all in pareto.csv)", title_justify="left")
    for c in cols:
        t.add_column(escape(c), justify="left" if c == "workload" else "right")
    for _, row in front.head(20).iterrows():
        t.add_row(*[escape(_fmt(row[c])) for c in cols])
    con.print(t)


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


if __name__ == "__main__":  # pragma: no cover - `python -m accelsim.sweep.cli ...`
    sweep()
