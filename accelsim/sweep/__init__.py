"""Design-space sweeps: a sweep YAML -> many simulated points -> tables, Pareto front, plots.

    from accelsim.sweep import load_sweep, run_sweep
    outcome = run_sweep(load_sweep("examples/sweeps/gpt2_tiny_grid.yaml"), "out/grid", workers=2)
    print(outcome.pareto)

See docs/sweeps.md. Kept import-light: worker processes import this package.
"""

from __future__ import annotations

from accelsim.sweep.runner import SweepOutcome, make_executor, run_sweep
from accelsim.sweep.spec import LoadedSweep, SweepSpec, load_sweep
from accelsim.sweep.store import Store

__all__ = ["LoadedSweep", "Store", "SweepOutcome", "SweepSpec", "load_sweep", "make_executor", "run_sweep"]
