"""Sweep tables: the per-point frame (results.csv) and its Pareto front (pareto.csv).

The front is computed per workload over the points with status ``ok``: a point is on it when
no other point of the same workload is at least as good in every objective and strictly better
in one. Objectives whose metric no point reports fall back (:data:`FALLBACKS`): while the
energy model is absent, ``energy_j`` is replaced by ``dram_bytes`` (DRAM traffic dominates
accelerator energy), and the substitution is reported.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from accelsim.sweep.spec import METRICS, Objective, metric_value
from accelsim.sweep.store import PointRecord

if TYPE_CHECKING:
    import pandas as pd

    from accelsim.sweep.runner import Point

__all__ = [
    "FALLBACKS",
    "FRAME_METRICS",
    "build_frame",
    "objective_value",
    "pareto_frame",
    "pareto_mask",
    "resolve_objectives",
]

#: Metric columns of results.csv, in order.
FRAME_METRICS = [
    "total_cycles", "latency_s", "energy_j", "power_w", "area_mm2", "mac_utilization",
    "speedup_vs_gpu", "energy_ratio_vs_gpu", "dram_bytes",
]
_INT_METRICS = {"total_cycles", "macs", "dram_read_bytes", "dram_write_bytes", "dram_bytes",
                "bank_conflict_stall_cycles", "dma_stall_cycles"}

#: Objective metric -> metrics used instead, in order, when no point reports it.
FALLBACKS: dict[str, tuple[str, ...]] = {
    "energy_j": ("dram_bytes",),
    "power_w": ("dram_bytes",),
    "area_mm2": ("dram_bytes",),
}


def objective_value(metrics: Mapping[str, Any] | None, name: str, result: str | None = None) -> Any:
    """A metric of a stored point: from its metrics dict, else from its result JSON text."""
    if metrics and name in metrics:
        return metrics[name]
    if metrics and name == "dram_bytes":
        r, w = metrics.get("dram_read_bytes"), metrics.get("dram_write_bytes")
        return None if r is None or w is None else r + w
    if result is not None and name not in METRICS:
        return metric_value(json.loads(result), name)
    return None


def resolve_objectives(
    objectives: Sequence[Objective], records: Iterable[PointRecord]
) -> tuple[list[Objective], list[str]]:
    """Replace objectives that no ``ok`` point reports by their fallback; returns notes."""
    ok = [r for r in records if r.status == "ok"]
    out: list[Objective] = []
    notes: list[str] = []
    for o in objectives:
        has = any(objective_value(r.metrics, o.metric, r.result) is not None for r in ok)
        if not has and ok:
            for fb in FALLBACKS.get(o.metric, ()):
                if any(objective_value(r.metrics, fb) is not None for r in ok):
                    notes.append(f"no point reports {o.metric}; objective uses {fb} ({o.direction}) instead")
                    o = Objective(metric=fb, direction=o.direction)
                    break
        if o not in out:
            out.append(o)
    return out, notes


def _cell(v: Any) -> Any:
    if isinstance(v, (list, dict, tuple)):
        return json.dumps(v, sort_keys=True)
    return v


def build_frame(
    points: Sequence[Point],
    records: Mapping[str, PointRecord],
    param_names: Sequence[str],
    labels: Sequence[str],
    objectives: Sequence[Objective] = (),
) -> pd.DataFrame:
    """One row per point, by index: params, metrics, status, error, key, pareto."""
    import pandas as pd

    metric_cols = list(FRAME_METRICS) + [o.metric for o in objectives if o.metric not in FRAME_METRICS]
    rows = []
    for p in points:
        r = records[p.key]
        row: dict[str, Any] = {"index": p.index, "config": p.config, "workload": labels[p.workload]}
        for name in param_names:
            row[name] = _cell(p.params.get(name))
        for m in metric_cols:
            row[m] = objective_value(r.metrics, m, r.result) if r.status == "ok" else None
        row["status"] = r.status
        row["error"] = r.error
        row["key"] = p.key
        rows.append(row)
    cols = ["index", "config", "workload", *param_names, *metric_cols, "status", "error", "key"]
    df = pd.DataFrame(rows, columns=cols)
    for name in param_names:  # parquet needs one type per column
        kinds = {type(v) for v in df[name] if v is not None}
        if len(kinds) > 1 and not kinds <= {int, float}:
            df[name] = [None if v is None else str(v) for v in df[name]]
    for m in metric_cols:
        vals = [v for v in df[m] if v is not None]
        if m in _INT_METRICS or (vals and all(isinstance(v, int) and not isinstance(v, bool) for v in vals)):
            df[m] = pd.array(df[m].tolist(), dtype="Int64")
        elif vals and all(isinstance(v, bool) for v in vals):
            df[m] = pd.array(df[m].tolist(), dtype="boolean")
        else:
            df[m] = pd.to_numeric(df[m], errors="coerce").astype("float64")
    df["error"] = df["error"].astype("string")
    df["pareto"] = pareto_mask(df, objectives) if objectives else False
    return df


def pareto_mask(df: pd.DataFrame, objectives: Sequence[Objective]) -> list[bool]:
    """Non-dominated rows of ``df`` per workload (only ``ok`` rows with every objective set)."""
    import numpy as np

    mask = [False] * len(df)
    if df.empty:
        return mask
    signs = np.array([1.0 if o.direction == "min" else -1.0 for o in objectives])
    cols = [o.metric for o in objectives]
    for _, grp in df.groupby("workload", sort=False):
        vals_df = grp.loc[grp["status"] == "ok", cols].astype("float64")
        vals_df = vals_df[vals_df.notna().all(axis=1)]
        if vals_df.empty:
            continue
        vals = vals_df.to_numpy() * signs
        for j, label in enumerate(vals_df.index):
            le = np.all(vals <= vals[j], axis=1)
            lt = np.any(vals < vals[j], axis=1)
            if not np.any(le & lt):
                mask[df.index.get_loc(label)] = True
    return mask


def pareto_frame(df: pd.DataFrame, objectives: Sequence[Objective]) -> pd.DataFrame:
    """The Pareto rows (each distinct point once), grouped by workload in first-seen order,
    best first objective first."""
    import pandas as pd

    front = df[df["pareto"]].drop_duplicates(subset=["key"])  # a design reached twice: listed once
    if front.empty or not objectives:
        return front.reset_index(drop=True)
    order = {w: i for i, w in enumerate(dict.fromkeys(df["workload"]))}
    o = objectives[0]
    key = front[o.metric].astype("float64") * (1.0 if o.direction == "min" else -1.0)
    tmp = front.assign(_w=front["workload"].map(order), _k=key)
    tmp = tmp.sort_values(["_w", "_k", "index"], kind="mergesort").drop(columns=["_w", "_k"])
    return pd.DataFrame(tmp).reset_index(drop=True)
