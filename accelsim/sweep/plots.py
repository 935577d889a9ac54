"""Sweep plots (matplotlib, Agg backend; PNG and SVG of each).

* ``pareto``: the first two objectives (latency vs energy by default) per workload, every ``ok``
  point in grey and the Pareto front highlighted and joined. With one objective the second axis
  is the first of energy_j, area_mm2, dram_bytes that the results report.
* ``sensitivity``: per parameter, the first objective (relative to the best point of each
  workload) against the parameter's values: every point faint, the per-value median joined.

SVG output is deterministic (no date, fixed id salt).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accelsim.sweep.spec import Objective

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["pareto_plot", "sensitivity_plot"]

_LABELS = {
    "latency_s": "latency (s)", "energy_j": "energy (J)", "total_cycles": "cycles",
    "dram_bytes": "DRAM traffic (bytes)", "area_mm2": "area (mm²)", "power_w": "power (W)",
    "mac_utilization": "MAC utilization", "speedup_vs_gpu": "speedup vs GPU",
}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "accelsim"
    return plt


def _save(fig: Any, stem: Path) -> list[Path]:
    png, svg = stem.with_suffix(".png"), stem.with_suffix(".svg")
    fig.savefig(png, dpi=120, metadata={"Software": None})
    fig.savefig(svg, metadata={"Date": None})
    _plt().close(fig)
    return [png, svg]


def _label(m: str) -> str:
    return _LABELS.get(m, m)


def _ok(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    sub = df[df["status"] == "ok"]
    for c in cols:
        sub = sub[sub[c].notna()]
    return sub


def _grid(n: int) -> tuple[int, int]:
    cols = min(3, max(1, n))
    return math.ceil(n / cols), cols


def pareto_plot(df: pd.DataFrame, objectives: Sequence[Objective], stem: Path) -> list[Path]:
    """``stem``.png/.svg: objective 1 vs objective 2 per workload, the front highlighted."""
    plt = _plt()
    xs = objectives[0].metric if objectives else "latency_s"
    if len(objectives) >= 2:
        ys = objectives[1].metric
    else:
        ys = next((m for m in ("energy_j", "area_mm2", "dram_bytes")
                   if m in df and m != xs and df[m].notna().any()), "total_cycles")
    workloads = list(dict.fromkeys(df["workload"]))
    rows, cols = _grid(max(1, len(workloads)))
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.2 * rows), squeeze=False)
    for ax in axes.flat[len(workloads):]:
        ax.set_visible(False)
    for ax, w in zip(axes.flat, workloads):
        sub = _ok(df[df["workload"] == w], [xs, ys])
        ax.set_title(str(w), fontsize=10)
        ax.set_xlabel(_label(xs))
        ax.set_ylabel(_label(ys))
        if sub.empty:
            ax.text(0.5, 0.5, "no successful points", ha="center", va="center", transform=ax.transAxes)
            continue
        x, y = sub[xs].astype(float), sub[ys].astype(float)
        ax.scatter(x, y, s=14, color="0.65", label="points", zorder=2)
        front = sub[sub["pareto"]] if len(objectives) >= 2 else sub.iloc[0:0]
        if not front.empty:
            f = front.sort_values(xs)
            ax.plot(f[xs].astype(float), f[ys].astype(float), "-o", color="tab:red", ms=5,
                    lw=1.2, label="Pareto front", zorder=3)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Design points" + (" and Pareto front" if len(objectives) >= 2 else ""), fontsize=11)
    fig.tight_layout()
    return _save(fig, stem)


def sensitivity_plot(
    df: pd.DataFrame, params: Sequence[str], objectives: Sequence[Objective], stem: Path
) -> list[Path]:
    """``stem``.png/.svg: per parameter, the first objective relative to each workload's best."""
    plt = _plt()
    metric = objectives[0].metric if objectives else "latency_s"
    direction = objectives[0].direction if objectives else "min"
    sub = _ok(df, [metric])
    n = max(1, len(params))
    rows, cols = _grid(n)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    if not params or sub.empty:
        axes.flat[0].text(0.5, 0.5, "no parameters or no successful points", ha="center",
                          va="center", transform=axes.flat[0].transAxes)
        fig.tight_layout()
        return _save(fig, stem)
    best = sub.groupby("workload")[metric].transform("min" if direction == "min" else "max").astype(float)
    rel = sub[metric].astype(float) / best.where(best != 0)
    workloads = list(dict.fromkeys(sub["workload"]))
    cmap = plt.get_cmap("tab10")
    for ax, p in zip(axes.flat, params):
        values = list(dict.fromkeys(v for v in df[p] if v is not None))
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        order = sorted(values) if numeric else values
        pos = {v: i for i, v in enumerate(order)}
        for k, w in enumerate(workloads):
            m = sub["workload"] == w
            xv = [pos[v] for v in sub.loc[m, p]]
            yv = rel[m].tolist()
            ax.scatter(xv, yv, s=10, alpha=0.35, color=cmap(k % 10))
            med = [float(rel[m & (sub[p] == v)].median()) if (m & (sub[p] == v)).any() else float("nan")
                   for v in order]
            ax.plot(range(len(order)), med, "-o", ms=4, color=cmap(k % 10), label=str(w))
        ax.set_xticks(range(len(order)))
        ax.set_xticklabels([str(v) for v in order], rotation=30 if len(order) > 5 else 0, fontsize=8)
        ax.set_xlabel(p)
        ax.set_ylabel(f"{_label(metric)} / best")
        ax.grid(True, alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"Sensitivity of {_label(metric)} (median per value; 1 = best point)", fontsize=11)
    fig.tight_layout()
    return _save(fig, stem)
