"""GPU baseline: datasheet profiles and a per-op roofline model of a traced graph.

>>> from accelsim.gpu import load_profile, simulate_gpu
>>> h100 = load_profile("h100")          # shipped profile, by name or alias
>>> # simulate_gpu(graph, h100, "bf16").latency_s

See :mod:`accelsim.gpu.profile` (profiles, precisions) and :mod:`accelsim.gpu.model` (costs).
"""

from __future__ import annotations

from accelsim.gpu.model import GpuOpResult, GpuResult, gemm_efficiency, op_cost, simulate_gpu
from accelsim.gpu.profile import (
    ALIASES,
    DEFAULT_GPU,
    GpuProfile,
    PeakTflops,
    gpu_precision,
    list_profiles,
    load_profile,
    profile_from_dict,
)

__all__ = [
    "ALIASES",
    "DEFAULT_GPU",
    "GpuOpResult",
    "GpuProfile",
    "GpuResult",
    "PeakTflops",
    "gemm_efficiency",
    "gpu_precision",
    "list_profiles",
    "load_profile",
    "op_cost",
    "profile_from_dict",
    "simulate_gpu",
]
