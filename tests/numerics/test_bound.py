"""The float GEMM bound: the formula on a hand-made case, and the lazy evaluation in run_check
(cheap lower bounds, exact |A|@|B| only where needed) agreeing with the dense formula."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from accelsim.numerics.check import _cmp_gemm, gemm_bound, gemm_coefficient
from accelsim.numerics.emulate import GemmRecord


def _rec(A: np.ndarray, B: np.ndarray, **kw) -> GemmRecord:  # type: ignore[no-untyped-def]
    b, M, K = A.shape
    return GemmRecord(b, M, B.shape[2], K, lambda x: x, A3=A, B3=B, **kw)


def test_bound_formula_hand_made() -> None:
    # A @ B = 1*2 - 1*2 + 0.5*4 = 2, while |A| @ |B| = 6: cancellation makes the bound 3x |ref|
    A = np.array([[[1.0, -1.0, 0.5]]], np.float32)
    B = np.array([[[2.0], [2.0], [4.0]]], np.float32)
    ref = np.array([[[2.0]]], np.float32)
    u = 2.0**-8  # bf16
    ulp_2 = 2.0**-6  # bf16 spacing in [2, 4)
    cu = 4 * u + 3 * 2.0**-24  # operand rounding + fp32 sum of K = 3 products
    assert gemm_coefficient("bf16", 3) == cu
    want = cu * 6 + ulp_2  # ~ 7/64
    for emul in (2.05, 2.1):
        got = gemm_bound(A, B, np.array([[[emul]]]), ref, "bf16")
        assert got[0, 0, 0] == pytest.approx(want, rel=1e-12)
    # fp32 storage of the same bf16 products: the ulp term shrinks to 2^-22
    assert gemm_bound(A, B, ref, ref, "bf16", storage="fp32")[0, 0, 0] == pytest.approx(cu * 6 + 2.0**-22)
    # alpha and the bias (addend) enter the |.| term
    b2 = gemm_bound(A, B, ref, ref, "bf16", alpha=-2.0, addend=np.array([[[-3.0]]]))
    assert b2[0, 0, 0] == pytest.approx(cu * (2 * 6 + 3) + ulp_2)

    rec = _rec(A, B)
    ok = _cmp_gemm(np.array([[[2.0 + 0.10]]], np.float32), ref, rec, "bf16", cu)
    bad = _cmp_gemm(np.array([[[2.0 + 0.11]]], np.float32), ref, rec, "bf16", cu)
    assert ok[3] and not bad[3]
    assert ok[2] == pytest.approx(want, rel=1e-6)  # the bound at the worst element
    assert "exceed" in bad[4]


@pytest.mark.parametrize("prec", ["bf16", "fp16", "fp32"])
def test_lazy_check_agrees_with_dense_bound(prec: str) -> None:
    rng = np.random.default_rng(7)
    batch, M, K, N = 2, 40, 96, 50
    A = rng.standard_normal((batch, M, K)).astype(np.float32)
    A[:, :, : K // 2] *= 1e-3  # uneven magnitudes: the strided partial sum is a poor estimate
    B = rng.standard_normal((batch, K, N)).astype(np.float32)
    B[:, 5, :] = 0.0
    R = (A.astype(np.float64) @ B.astype(np.float64)).astype(np.float32)
    dense = gemm_bound(A, B, R, R, prec)
    rec = _rec(A, B)
    # errors of 0.9 and 1.1 times the bound at random places
    for scale, expect in ((0.9, True), (1.1, False)):
        E = R.astype(np.float64).copy()
        pos = rng.random(E.shape) < 0.05
        sign = np.where(rng.random(E.shape) < 0.5, -1.0, 1.0)
        cu = gemm_coefficient(prec, K)
        E[pos] += sign[pos] * scale * (cu * (np.abs(A).astype(np.float64) @ np.abs(B)))[pos]
        E = E.astype(np.float32)
        passed = _cmp_gemm(E, R, rec, prec, cu)[3]
        dense_ok = bool((np.abs(E.astype(np.float64) - R) <= gemm_bound(A, B, E, R, prec)).all())
        assert passed == dense_ok == expect
    assert (dense > 0).all()


def test_nan_and_inf_are_handled() -> None:
    A = np.ones((1, 2, 3), np.float32)
    B = np.ones((1, 3, 2), np.float32)
    R = np.full((1, 2, 2), 3.0, np.float32)
    R[0, 0, 0] = np.inf
    E = R.copy()
    assert _cmp_gemm(E, R, _rec(A, B), "bf16", 4 * 2.0**-8)[3]  # equal infinities agree
    E[0, 1, 1] = np.nan
    res = _cmp_gemm(E, R, _rec(A, B), "bf16", 4 * 2.0**-8)
    assert not res[3] and res[0] == np.inf
