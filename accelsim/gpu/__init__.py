"""GPU baseline: datasheet profiles and a per-kernel model of a traced graph.

>>> from accelsim.gpu import load_profile, simulate_gpu
>>> h100 = load_profile("h100")          # shipped profile, by name or alias
>>> # simulate_gpu(graph, h100, "bf16", launch="graph").latency_s

See :mod:`accelsim.gpu.profile` (profiles, precisions) and :mod:`accelsim.gpu.model` (costs).
"""

from __future__ import annotations

from accelsim.gpu.model import (
    LAUNCH_MODES,
    AttentionDims,
    GpuOpResult,
    GpuResult,
    KernelCost,
    attention_dims,
    flash_attention_kernel,
    gemm_kernel,
    gpu_allreduce_s,
    op_cost,
    ring_allgather_s,
    ring_allreduce_s,
    simulate_gpu,
)
from accelsim.gpu.profile import (
    ALIASES,
    DEFAULT_GPU,
    GpuProfile,
    Interconnect,
    PeakTflops,
    gpu_precision,
    list_profiles,
    load_profile,
    profile_from_dict,
)

__all__ = [
    "ALIASES",
    "DEFAULT_GPU",
    "LAUNCH_MODES",
    "AttentionDims",
    "GpuOpResult",
    "GpuProfile",
    "GpuResult",
    "Interconnect",
    "KernelCost",
    "PeakTflops",
    "attention_dims",
    "flash_attention_kernel",
    "gemm_kernel",
    "gpu_allreduce_s",
    "gpu_precision",
    "list_profiles",
    "load_profile",
    "op_cost",
    "profile_from_dict",
    "ring_allgather_s",
    "ring_allreduce_s",
    "simulate_gpu",
]
