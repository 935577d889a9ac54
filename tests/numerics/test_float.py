"""Float schemes (bf16 / fp16 / fp32 inputs): per-piece local checks within the stated bounds."""

from __future__ import annotations

import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from accelsim.arch.load import find_arch, load_arch
from accelsim.mapping.mapper import map_graph
from accelsim.numerics.check import run_check
from accelsim.numerics.dtypes import round_bf16
from accelsim.numerics.emulate import emulate
from accelsim.workload.registry import load_traced
from accelsim.workload.replay import replay
from builders import make_arch

torch.set_num_threads(1)


@functools.cache
def traced(spec: str, seq: int = 0):  # type: ignore[no-untyped-def]
    return load_traced(spec, {"seq": seq} if seq else None)


def _float_arch(prec: str, acc: str = "fp32", **kw):  # type: ignore[no-untyped-def]
    return make_arch(**{"arrays.0.precision": prec, "arrays.0.acc_precision": acc,
                        **{f"arrays.0.{k}": v for k, v in kw.items()}})


def test_gpt2_tiny_bf16_within_bound() -> None:
    t = traced("gpt2-tiny", 32)
    arch = load_arch(find_arch("datacenter-bf16"))
    rep = run_check(t, map_graph(t.graph, arch), arch, level="all")
    assert rep.passed, rep.first_failure
    assert rep.scheme == "bf16-fp32acc" and rep.vs_fp32 is None
    # 9 linears, and per layer and head the fused attention's QK^T and P.V pieces
    gemm = [c for c in rep.tensors if c.op.startswith("linear") or c.note.startswith(("scores", "heads"))]
    assert len(gemm) == 9 + 2 * 2 * 4
    for c in gemm:
        assert c.bound is not None and 0 < c.max_abs_err <= c.bound, c
        assert c.max_rel_err < 0.01  # bf16 inputs, fp32 accumulation: a few 2^-8 at most


@pytest.mark.parametrize("prec,acc,tol", [("fp32", "fp32", 2e-5), ("fp16", "fp32", 5e-3), ("fp16", "fp16", 2e-2)])
def test_float_arch_variants_on_gpt2_tiny(prec: str, acc: str, tol: float) -> None:
    t = traced("gpt2-tiny", 16)
    arch = _float_arch(prec, acc)
    prog = map_graph(t.graph, arch)
    rep = run_check(t, prog, arch)
    assert rep.passed, rep.first_failure
    assert rep.scheme == ("fp32" if prec == "fp32" else f"{prec}-{acc}acc")
    # end to end, the emulated program stays close to the fp32 model
    ref = replay(t)
    out = emulate(t, prog, arch)
    for name, r in ref.items():
        r = r.double().numpy()
        assert np.abs(out[name] - r).max() <= tol * np.abs(r).max(), name


def test_bf16_accumulates_k_tiles_in_order_in_fp32() -> None:
    """The emulated output equals a hand-written per-tile fp32 accumulation of bf16 operands."""
    t = traced("gemm:M=8,N=32,K=300")
    arch = _float_arch("bf16", rows=32, cols=32)
    prog = map_graph(t.graph, arch)
    kt = sorted({tl.offsets[3] for tl in prog.tiles})
    assert len(kt) > 1
    a = round_bf16(t.inputs["a"].numpy())
    b = round_bf16(t.params["b"].numpy())
    want = np.zeros((8, 32), np.float32)
    for tl in prog.tiles:
        _, mo, no, ko = tl.offsets
        m, n, k = tl.dims
        want[mo:mo + m, no:no + n] += a[mo:mo + m, ko:ko + k] @ b[ko:ko + k, no:no + n]
    got = emulate(t, prog, arch)["c"]
    assert np.array_equal(got, round_bf16(want))
    assert run_check(t, prog, arch).passed


def test_conv2d_and_groups_on_float_archs() -> None:
    import torch.nn.functional as F
    from torch import nn

    from accelsim.workload.trace import trace

    class CNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1 = nn.Conv2d(3, 8, 3, padding=1)
            self.c2 = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=2)
            self.fc = nn.Linear(8 * 4 * 4, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(F.relu(self.c2(F.relu(self.c1(x)))).flatten(1))

    torch.manual_seed(0)
    t = trace(CNN().eval(), (torch.randn(2, 3, 8, 8),), "cnn")
    ref = replay(t)
    for arch in (_float_arch("bf16"), _float_arch("fp32", rows=8, cols=8, count=2), make_arch()):
        prog = map_graph(t.graph, arch)
        rep = run_check(t, prog, arch, level="all")
        assert rep.passed, rep.first_failure
        out = emulate(t, prog, arch)["linear"]
        r = ref["linear"].numpy()
        assert np.abs(out - r).max() <= 0.05 * np.abs(r).max()


def test_sdpa_pieces_follow_torch_semantics() -> None:
    """Explicit boolean mask, L != S, causal with a custom scale: the decomposition into QK^T,
    softmax and P.V pieces reproduces torch's SDPA (fp32 array), and checks pass everywhere."""
    import torch.nn.functional as F
    from torch import nn

    from accelsim.workload.trace import trace

    class Attn(nn.Module):
        def forward(self, q, k, v, m):  # type: ignore[no-untyped-def]
            return (F.scaled_dot_product_attention(q, k, v, attn_mask=m),
                    F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3))

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 12, 16, generator=g), torch.randn(2, 3, 20, 16, generator=g),
               torch.randn(2, 3, 20, 8, generator=g))
    m = torch.rand(2, 1, 12, 20, generator=g) > 0.3
    t = trace(Attn(), (q, k, v, m), "attn")
    ref = replay(t)
    arch = _float_arch("fp32")
    prog = map_graph(t.graph, arch)
    out = emulate(t, prog, arch)
    for name, r in ref.items():
        assert np.abs(out[name] - r.numpy()).max() < 1e-5
    for arch in (_float_arch("fp32"), load_arch(find_arch("datacenter-bf16")), load_arch(find_arch("tpuv1"))):
        rep = run_check(t, map_graph(t.graph, arch), arch)
        assert rep.passed, rep.first_failure
        assert [c.op for c in rep.tensors] == [op.name for op in t.graph.ops]  # aggregated per SDPA op
