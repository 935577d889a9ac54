"""Number-format helpers: bf16 / fp16 rounding, ulps, quantise / requantise (numpy == torch)."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from accelsim.numerics.dtypes import (
    multiplier_shift,
    quantize_np,
    quantize_torch,
    requantize_np,
    requantize_torch,
    round_bf16,
    round_fp16,
    ulp,
    unit_roundoff,
    wrap_int32_np,
    wrap_int32_torch,
)


def _awkward_floats(n: int = 20000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * 10.0 ** rng.integers(-40, 38, n)
    special = [0.0, -0.0, 1.0, 1.00390625, 1.005859375, 3.3895314e38, 3.4e38, 1e-45, -1e-40, np.inf, -np.inf, np.nan]
    with np.errstate(over="ignore"):
        return np.concatenate([x, special]).astype(np.float32)


def test_round_bf16_matches_torch() -> None:
    x = _awkward_floats()
    ref = torch.from_numpy(x).to(torch.bfloat16).to(torch.float32).numpy()
    assert np.array_equal(round_bf16(x), ref, equal_nan=True)
    # ties go to even
    assert round_bf16(np.array([1.00390625], np.float32))[0] == 1.0
    assert round_bf16(np.array([1.01171875], np.float32))[0] == 1.015625


def test_round_fp16_matches_torch() -> None:
    x = _awkward_floats(seed=1)
    ref = torch.from_numpy(x).to(torch.float16).to(torch.float32).numpy()
    with np.errstate(over="ignore"):
        assert np.array_equal(round_fp16(x), ref, equal_nan=True)


def test_unit_roundoff_and_ulp() -> None:
    assert unit_roundoff("bf16") == 2.0**-8
    assert unit_roundoff("fp16") == 2.0**-11
    assert unit_roundoff("fp32") == 2.0**-24
    assert ulp(np.array([1.0]), "bf16")[0] == 2.0**-7
    assert ulp(np.array([1.5]), "fp16")[0] == 2.0**-10
    assert ulp(np.array([2.0]), "fp32")[0] == 2.0**-22
    assert ulp(np.array([0.0]), "fp16")[0] == 2.0**-24  # subnormal spacing
    x = np.abs(_awkward_floats(seed=2))
    x = x[np.isfinite(x) & (x > 1e-30)]
    # the spacing is the distance to the next representable value
    up = torch.from_numpy(x.astype(np.float32))
    nxt = torch.nextafter(up, torch.tensor(np.inf, dtype=torch.float32)).numpy().astype(np.float64)
    assert np.array_equal(ulp(x, "fp32"), nxt - x.astype(np.float64))


def test_quantize_numpy_equals_torch() -> None:
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((64, 33)) * 3).astype(np.float32)
    x[0, :4] = [0.5, -0.5, 1.5, -2.5]  # exact ties at scale 1
    for scale in (1.0, 3.0 / 127, np.abs(x).max(axis=0) / 127):
        q = quantize_np(x, scale)
        assert q.dtype == np.int8 and np.abs(q.astype(int)).max() <= 127
        assert np.array_equal(q, quantize_torch(torch.from_numpy(x), scale).numpy())
    assert quantize_np(x[:1, :4], 1.0).tolist() == [[0, 0, 2, -2]]  # half to even


def test_wrap_int32() -> None:
    v = np.array([0, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 5 * 2**32 + 7], dtype=np.int64)
    want = [0, 2**31 - 1, -(2**31), -(2**31), 2**31 - 1, 7]
    assert wrap_int32_np(v).tolist() == want
    assert wrap_int32_torch(torch.from_numpy(v)).tolist() == want


@pytest.mark.parametrize("real", [0.3, 1e-3, 2.5e-7, 1e-12, 0.999999, 7.0, -0.02, 0.0])
def test_requantize_is_rounded_fixed_point(real: float) -> None:
    m0, sh = multiplier_shift(real)
    assert int(sh) >= 1
    if real != 0 and abs(real) > 2**-31:
        assert 2**30 <= abs(int(m0)) < 2**31
        assert abs(int(m0) * 2.0 ** -int(sh) - real) <= 2.0 ** -int(sh)
    rng = np.random.default_rng(4)
    acc = np.concatenate([rng.integers(-(2**31), 2**31, 5000), [0, 1, -1, 2**31 - 1, -(2**31)]]).astype(np.int64)
    q = requantize_np(acc, m0, sh)
    qt = requantize_torch(torch.from_numpy(acc), m0, sh).numpy()
    assert np.array_equal(q, qt)
    # == round-half-even of the exact rational acc * m0 / 2^shift, clipped
    exact = [max(-127, min(127, _rhe(int(a) * int(m0), int(sh)))) for a in acc[:400]]
    assert q[:400].tolist() == exact


def _rhe(p: int, s: int) -> int:
    q, r = divmod(p, 1 << s)
    half = 1 << (s - 1)
    return q + (1 if r > half or (r == half and q % 2) else 0)


def test_multiplier_shift_vector() -> None:
    reals = np.array([1e-3, 0.25, 0.9, 1e-15])
    m0, sh = multiplier_shift(reals)
    assert m0.shape == sh.shape == (4,)
    approx = m0 * np.ldexp(1.0, -sh.astype(int))
    assert np.allclose(approx, reals, rtol=2**-29, atol=2.0**-62)
    assert math.isfinite(float(approx.sum()))
