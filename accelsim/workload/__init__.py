"""Workloads: the op IR, tracing PyTorch models into it, replaying it, and named workloads.

Importing this package does not import torch; ``trace``, ``Traced`` and ``replay`` load it on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from accelsim.workload.ir import Graph, Op, TensorInfo
from accelsim.workload.registry import (
    Workload,
    WorkloadFactory,
    list_workloads,
    load_graph,
    load_traced,
    resolve,
)

if TYPE_CHECKING:
    from accelsim.workload.replay import replay, run_graph, run_op
    from accelsim.workload.trace import Traced, register_converter, supported_ops, trace

__all__ = [
    "Graph",
    "Op",
    "TensorInfo",
    "Workload",
    "WorkloadFactory",
    "list_workloads",
    "load_graph",
    "load_traced",
    "resolve",
    "Traced",
    "trace",
    "replay",
    "run_graph",
    "run_op",
    "register_converter",
    "supported_ops",
]

_LAZY = {
    "Traced": "accelsim.workload.trace",
    "trace": "accelsim.workload.trace",
    "register_converter": "accelsim.workload.trace",
    "supported_ops": "accelsim.workload.trace",
    "replay": "accelsim.workload.replay",
    "run_graph": "accelsim.workload.replay",
    "run_op": "accelsim.workload.replay",
}


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'accelsim.workload' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(mod), name)
