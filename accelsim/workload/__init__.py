"""Workloads: the op IR, tracing PyTorch models into it, replaying it, and named workloads.

Importing this package does not import torch; the torch-based names load it on first use.

Prefer ``from accelsim.workload.trace import trace`` and ``from accelsim.workload.replay import
replay``. ``accelsim.workload.trace`` / ``.replay`` are the submodules (Python binds a submodule
over a same-named package attribute), but those two modules are callable and forward to the
function, so ``from accelsim.workload import trace; trace(model, inputs, "name")`` works too.
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
    "register_converter": "accelsim.workload.trace",
    "supported_ops": "accelsim.workload.trace",
    "run_graph": "accelsim.workload.replay",
    "run_op": "accelsim.workload.replay",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name in ("trace", "replay"):  # the (callable) submodules
        return importlib.import_module(f"accelsim.workload.{name}")
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'accelsim.workload' has no attribute {name!r}")
    return getattr(importlib.import_module(mod), name)
