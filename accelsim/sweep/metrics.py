"""The metric vocabulary of sweeps and the regression gate: one place that knows result.json.

A metric is named either by one of :data:`METRICS` (``latency_s``, ``energy_j``, ...) or by a
dotted path into result.json that its typed description names
(:func:`accelsim.result_schema.describes`: ``units.sa0.utilization``,
``timeline_cycles.memory_stall``, ``inference.tpot_s``). :func:`resolve_metric` is the single
check every sweep objective and suite metric goes through, so a typo is refused up front
(exit 2) instead of silently never matching; a new result key becomes a valid path once
accelsim/result_schema.py describes it, and a new named metric is one entry here.

:func:`metric_value` reads a metric from a result.json dict (``None`` when absent or NaN).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from accelsim.result_schema import ResultModel, describes

__all__ = [
    "MAXIMIZE_METRICS",
    "METRICS",
    "RESULT_KEYS",
    "Metric",
    "extract_metrics",
    "metric_problem",
    "metric_value",
    "resolve_metric",
]


@dataclass(frozen=True)
class Metric:
    """A named metric: where it lives in result.json (first path present wins), its unit and
    which way is better."""

    name: str
    paths: tuple[str, ...]
    unit: str
    better: Literal["min", "max"]
    description: str


def _m(name: str, paths: tuple[str, ...], unit: str, better: Literal["min", "max"], desc: str) -> Metric:
    return Metric(name, paths, unit, better, desc)


#: The named metrics: the columns of a sweep's results.csv and the names suites track.
METRICS: dict[str, Metric] = {m.name: m for m in (
    _m("total_cycles", ("total_cycles",), "cycles", "min", "end-to-end latency"),
    _m("latency_s", ("latency_s",), "s", "min", "end-to-end latency at the arch's clock"),
    _m("energy_j", ("energy_j", "energy.total_j"), "J", "min", "energy of the run"),
    _m("power_w", ("power_w", "energy.power_w"), "W", "min", "average power"),
    _m("area_mm2", ("area_mm2", "area.total_mm2"), "mm^2", "min", "area estimate"),
    _m("mac_utilization", ("array_utilization.mac_utilization", "mac_utilization"), "fraction", "max",
       "MACs / (peak MACs x cycles)"),
    _m("speedup_vs_gpu", ("speedup_vs_gpu", "gpu.speedup_vs_gpu"), "x", "max", "GPU latency / ASIC latency"),
    _m("energy_ratio_vs_gpu", ("energy_ratio_vs_gpu", "gpu.energy_ratio_vs_gpu"), "x", "max",
       "GPU energy / ASIC energy"),
    _m("ttft_s", ("inference.ttft_s",), "s", "min", "generation: time to the first token (the prefill)"),
    _m("tpot_s", ("inference.tpot_s",), "s", "min", "generation: mean time per output token (a decode step)"),
    _m("tokens_per_s", ("inference.tokens_per_s",), "tokens/s", "max", "generation: generated tokens per second"),
    _m("energy_per_token_j", ("inference.energy_per_token_j",), "J", "min", "generation: energy per generated token"),
    _m("macs", ("macs",), "MACs", "min", "multiply-accumulates of the workload"),
    _m("dram_read_bytes", ("dram_read_bytes",), "bytes", "min", "DRAM bytes read"),
    _m("dram_write_bytes", ("dram_write_bytes",), "bytes", "min", "DRAM bytes written"),
    _m("dram_bytes", (), "bytes", "min", "DRAM bytes read + written"),
    _m("bank_conflict_stall_cycles", ("bank_conflict_stall_cycles",), "cycles", "min",
       "cycles waiting for an SRAM region"),
    _m("dma_stall_cycles", ("dma_stall_cycles",), "cycles", "min", "cycles waiting for a DMA engine or channel"),
    _m("check_passed", ("check.passed",), "bool", "max", "the functional check held"),
)}

#: Metrics where larger is better (objectives default to ``max`` for them).
MAXIMIZE_METRICS = frozenset(n for n, m in METRICS.items() if m.better == "max" and n != "check_passed")

#: Top-level keys of result.json (the fields of :class:`accelsim.result_schema.ResultModel`).
RESULT_KEYS: frozenset[str] = frozenset(ResultModel.model_fields)


def metric_problem(name: object) -> str | None:
    """Why ``name`` is not a metric, or None when it is one."""
    if not isinstance(name, str) or not name.strip():
        return f"a metric name must be a non-empty string (got {name!r})"
    if name in METRICS:
        return None
    parts = name.split(".")
    if len(parts) > 1 and all(parts) and describes(name):
        return None
    msg = f"unknown metric {name!r} (metrics: {', '.join(METRICS)}; or a dotted result.json path such as " \
          "units.<unit>.utilization)"
    close = difflib.get_close_matches(name, [*METRICS, *RESULT_KEYS], n=1)
    if close:
        msg += f"; did you mean '{close[0]}'?"
    return msg


def resolve_metric(name: str) -> str:
    """``name`` when it is a metric; raises ``ValueError`` saying why not (with a suggestion)."""
    prob = metric_problem(name)
    if prob:
        raise ValueError(prob)
    return name


_MISSING = object()


def _walk(data: Any, path: str) -> Any:
    node = data
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return _MISSING
    return node


def metric_value(data: Mapping[str, Any], name: str) -> Any:
    """The value of metric ``name`` in a result.json dict, or ``None`` when absent or NaN.

    ``name`` is one of :data:`METRICS` or any dotted path into result.json
    (e.g. ``units.sa0.utilization``).
    """
    if name == "dram_bytes":
        r, w = metric_value(data, "dram_read_bytes"), metric_value(data, "dram_write_bytes")
        return None if r is None or w is None else r + w
    m = METRICS.get(name)
    for path in m.paths if m is not None else (name,):
        v = _walk(data, path)
        if v is not _MISSING:
            if isinstance(v, float) and math.isnan(v):
                return None
            return v
    return None


def extract_metrics(data: Mapping[str, Any]) -> dict[str, Any]:
    """Every metric of :data:`METRICS` from a result.json dict (``None`` when absent)."""
    return {name: metric_value(data, name) for name in METRICS}
