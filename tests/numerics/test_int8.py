"""int8 (and int16) schemes: the emulated program equals the quantised torch reference bit for bit."""

from __future__ import annotations

import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from accelsim.arch.load import find_arch, load_arch
from accelsim.mapping.mapper import map_graph
from accelsim.numerics.check import run_check
from accelsim.numerics.emulate import emulate
from accelsim.numerics.quant import build_plan, calibrate
from accelsim.workload.registry import load_traced
from builders import make_arch

torch.set_num_threads(1)


@functools.cache
def traced(spec: str, seq: int = 0):  # type: ignore[no-untyped-def]
    return load_traced(spec, {"seq": seq} if seq else None)


@functools.cache
def shipped(name: str):  # type: ignore[no-untyped-def]
    return load_arch(find_arch(name))


def test_gemm_int8_matches_an_independent_int_mm() -> None:
    """K = 1096 > 1024 exercises the exact chunked float32 BLAS; torch._int_mm is the witness."""
    t = traced("gemm:M=40,N=48,K=1096")
    arch = shipped("edge-int8")
    prog = map_graph(t.graph, arch)
    assert len({tl.offsets[3] for tl in prog.tiles}) > 1  # several K tiles
    rep = run_check(t, prog, arch, level="all")
    assert rep.passed and rep.scheme == "int8-exact" and rep.first_failure is None
    assert "bit-exact" in rep.tensors[0].note

    stats, _ = calibrate(t)
    plan = build_plan(t, "int8", stats)
    a, b = t.inputs["a"], t.params["b"]
    s_a = float(np.abs(a.numpy()).max()) / 127
    s_b = np.abs(b.numpy()).astype(np.float64).max(axis=0) / 127  # per output channel (column)
    assert plan.scale["a"] == pytest.approx(s_a, rel=1e-15)
    aq = torch.round(a.double() / s_a).clamp(-127, 127).to(torch.int8)
    bq = torch.round(b.double() / torch.from_numpy(s_b)).clamp(-127, 127).to(torch.int8)
    acc = torch._int_mm(aq, bq)
    want = (acc.double() * torch.from_numpy(s_a * s_b)).float().numpy()  # graph output: dequantised
    got = emulate(t, prog, arch, plan)["c"]
    assert np.array_equal(got, want)


@pytest.mark.parametrize("arch_name", ["edge-int8", "tpuv1"])
def test_gpt2_tiny_int8_bit_exact(arch_name: str) -> None:
    t = traced("gpt2-tiny", 16)
    arch = shipped(arch_name)
    rep = run_check(t, map_graph(t.graph, arch), arch, level="all")
    assert rep.passed, rep.first_failure
    assert rep.scheme == "int8-exact"
    assert all(c.passed and c.max_abs_err == 0.0 and c.bound == 0.0 for c in rep.tensors)
    gemms = [c for c in rep.tensors if "GEMM" in c.note or "P.V" in c.note or "QK" in c.note]
    assert len(gemms) >= 9 + 2 * 2 * 4  # 9 linears, QK^T and P.V for 2 layers x 4 heads
    assert all("bit-exact" in c.note for c in gemms)
    vs = rep.vs_fp32
    assert vs is not None and vs["int32_overflows"] == 0 and vs["top1_agreement"] >= 0.9
    out = vs["outputs"][t.graph.outputs[0]]
    assert out["top1_agreement"] >= 0.9 and out["max_rel_err"] < 0.1


def test_int8_outputs_level_reports_graph_outputs_only() -> None:
    t = traced("gpt2-tiny", 16)
    arch = shipped("edge-int8")
    rep = run_check(t, map_graph(t.graph, arch), arch)
    assert rep.level == "outputs" and [c.tensor for c in rep.tensors] == list(t.graph.outputs)
    assert rep.passed


def test_int8_mlp_and_batched_matmuls_on_small_arrays() -> None:
    """Many tiles (8x8 arrays, 3 of them) and every operand layout: addmm, bmm, folded matmul."""
    from torch import nn

    from accelsim.workload.trace import trace

    class MM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.randn(16, 24))
            self.b = nn.Parameter(torch.randn(24))

        def forward(self, a: torch.Tensor, c: torch.Tensor):  # type: ignore[no-untyped-def]
            y = torch.addmm(self.b, a[0], self.w)
            z = torch.bmm(a, c)
            u = torch.matmul(torch.relu(a), self.w)
            return y, z, u

    torch.manual_seed(0)
    t = trace(MM(), (torch.randn(3, 10, 16), torch.randn(3, 16, 12)), "mm")
    for prec in ("int8", "int16"):
        arch = make_arch(**{"arrays.0.precision": prec, "arrays.0.rows": 8, "arrays.0.cols": 8, "arrays.0.count": 3})
        rep = run_check(t, map_graph(t.graph, arch), arch, level="all")
        assert rep.passed, rep.first_failure
        assert rep.scheme == f"{prec}-exact"
        assert rep.vs_fp32 is not None
        for name, e in rep.vs_fp32["outputs"].items():
            assert e["max_rel_err"] < (0.05 if prec == "int8" else 0.002), (prec, name, e)


def test_integer_gemm_workload_is_exact_everywhere() -> None:
    t = traced("gemm:M=24,N=40,K=1500,dtype=int8")
    want = (t.inputs["a"].long() @ t.params["b"].long()).int().numpy()
    for arch in (shipped("edge-int8"), shipped("datacenter-bf16")):
        prog = map_graph(t.graph, arch)
        rep = run_check(t, prog, arch)
        assert rep.passed, rep.first_failure
        assert np.array_equal(emulate(t, prog, arch)["c"], want)


def test_activation_addend_with_alpha_beta() -> None:
    """addmm(c, a, W, beta, alpha) with an activation addend: quantised at run time, bit-exact."""
    from torch import nn

    from accelsim.workload.trace import trace

    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.randn(16, 24))

        def forward(self, a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
            return torch.addmm(c.relu(), a, self.w, beta=0.5, alpha=2.0)

    torch.manual_seed(0)
    t = trace(M(), (torch.randn(10, 16), torch.randn(10, 24)), "addmm")
    for arch in (make_arch(), make_arch(**{"arrays.0.precision": "bf16", "arrays.0.acc_precision": "fp32"})):
        rep = run_check(t, map_graph(t.graph, arch), arch, level="all")
        assert rep.passed, rep.first_failure
    assert rep.vs_fp32 is None
    rep = run_check(t, map_graph(t.graph, make_arch()), make_arch())
    assert rep.vs_fp32 is not None and rep.vs_fp32["outputs"]["addmm"]["max_rel_err"] < 0.03
