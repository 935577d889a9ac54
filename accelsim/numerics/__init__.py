"""Numerics: execute a mapped program at the architecture's precision and check it against PyTorch.

* :mod:`accelsim.numerics.dtypes`  — bf16 / fp16 rounding, ulps, int quantise / requantise helpers
* :mod:`accelsim.numerics.quant`   — the int8 (int16) quantisation scheme and its calibration
* :mod:`accelsim.numerics.emulate` — tile-by-tile numpy execution of a ``Program``
* :mod:`accelsim.numerics.check`   — ``run_check`` (``accelsim run --check``)

Importing this package does not import torch; ``run_check`` and friends load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accelsim.numerics.check import CheckReport, TensorCheck, run_check
    from accelsim.numerics.emulate import emulate

__all__ = ["CheckReport", "TensorCheck", "emulate", "run_check"]

_LAZY = {
    "CheckReport": "accelsim.numerics.check",
    "TensorCheck": "accelsim.numerics.check",
    "run_check": "accelsim.numerics.check",
    "emulate": "accelsim.numerics.emulate",
}


def __getattr__(name: str) -> Any:
    import importlib

    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'accelsim.numerics' has no attribute {name!r}")
    return getattr(importlib.import_module(mod), name)
