"""Pytest plugin: the ``accelsim_budget`` fixture, for performance budgets in a test suite.

Installed with accelsim (entry point group ``pytest11``, name ``accelsim``); without the entry
point, enable it with ``-p accelsim.regress.pytest_plugin`` or
``pytest_plugins = ["accelsim.regress.pytest_plugin"]`` in a conftest.py::

    def test_edge_npu_runs_gpt2_tiny_fast_enough(accelsim_budget):
        result = accelsim_budget("edge-int8", "gpt2-tiny", params={"seq": 64},
                                 max_latency_s=1e-3, min_utilization=0.5)
        assert result["macs"] > 0

The helper simulates the workload and fails the test (no traceback into accelsim) listing
every budget it exceeded, e.g.
``gpt2-tiny on edge-int8: total_cycles 225312 > max_cycles 200000 (+12.7 %)``.
It returns the :class:`~accelsim.results.RunResult`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

__all__ = ["Budget", "accelsim_budget", "check_budget"]


def check_budget(data: Mapping[str, Any], *, max_cycles: float | None = None, max_latency_s: float | None = None,
                 max_energy_j: float | None = None, min_utilization: float | None = None) -> list[str]:
    """The budgets a result.json dict exceeds, as readable lines (empty: all met)."""
    from accelsim.sweep.spec import metric_value

    out = []
    for metric, limit, upper, label in (
        ("total_cycles", max_cycles, True, "max_cycles"),
        ("latency_s", max_latency_s, True, "max_latency_s"),
        ("energy_j", max_energy_j, True, "max_energy_j"),
        ("mac_utilization", min_utilization, False, "min_utilization"),
    ):
        if limit is None:
            continue
        v = metric_value(data, metric)
        if v is None:
            out.append(f"{metric} is not reported by this build (needed for {label})")
            continue
        if (v > limit) if upper else (v < limit):
            pct = f" ({(v - limit) / abs(limit) * 100:+.1f} %)" if limit else ""
            out.append(f"{metric} {v:.6g} {'>' if upper else '<'} {label} {limit:.6g}{pct}")
    return out


class Budget:
    """The callable behind the ``accelsim_budget`` fixture."""

    def __init__(self) -> None:
        self._graphs: dict[str, Any] = {}

    def __call__(
        self,
        arch: str,
        workload: str,
        params: Mapping[str, object] | None = None,
        set: Sequence[str] = (),  # noqa: A002 - mirrors the CLI's --set
        max_cycles: float | None = None,
        max_latency_s: float | None = None,
        max_energy_j: float | None = None,
        min_utilization: float | None = None,
        mode: str = "pipelined",
    ) -> Any:
        """Simulate ``workload`` on ``arch`` (a YAML path or shipped name, ``set`` overrides
        applied) and fail the calling test if any given budget is exceeded."""
        import json

        from accelsim import api
        from accelsim.errors import AccelsimError

        key = json.dumps([workload, dict(params or {})], sort_keys=True, default=str)
        try:
            spec = api.load_arch(arch, list(set))
            if key not in self._graphs:
                self._graphs[key] = api.load_graph(workload, params)
            result = api.simulate(spec, self._graphs[key], api.RunOptions(mode=mode))  # type: ignore[arg-type]
        except AccelsimError as e:
            pytest.fail(f"accelsim_budget: {workload} on {arch}: {e}", pytrace=False)
        over = check_budget(result.data, max_cycles=max_cycles, max_latency_s=max_latency_s,
                            max_energy_j=max_energy_j, min_utilization=min_utilization)
        if over:
            where = f"{workload}{'' if not params else ' ' + str(dict(params))} on {arch}"
            if set:
                where += f" (--set {' '.join(set)})"
            pytest.fail(f"accelsim budget exceeded: {where}:\n  " + "\n  ".join(over), pytrace=False)
        return result


@pytest.fixture
def accelsim_budget() -> Callable[..., Any]:
    """``accelsim_budget(arch, workload, params=None, set=(), max_cycles=None,
    max_latency_s=None, max_energy_j=None, min_utilization=None)`` -> RunResult; fails the
    test when a budget is exceeded."""
    return Budget()
