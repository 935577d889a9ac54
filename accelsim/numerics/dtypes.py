"""Number formats of the accelerator, emulated with numpy (and torch, for the references).

* Floating formats (``bf16``, ``fp16``, ``fp32``) are held in float32 arrays whose values are
  exactly representable in the format: :func:`round_to` rounds float32 to the nearest value of the
  format (round half to even, like torch's ``.to(dtype)``). bf16 uses the bit trick
  ``u + 0x7FFF + ((u >> 16) & 1)`` on the float32 bits and keeps the top 16 bits.
* :func:`unit_roundoff` and :func:`ulp` give the error-bound ingredients.
* Integer helpers: symmetric quantisation with round half to even, two's-complement int32
  wraparound, and requantisation of int32 accumulators with an integer multiplier and right
  shift (:func:`multiplier_shift`, :func:`requantize_np` / :func:`requantize_torch`). The numpy
  and torch versions perform the same IEEE / integer operations, so they agree bit for bit.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = [
    "FLOAT_FORMATS",
    "INT_FORMATS",
    "mantissa_bits",
    "multiplier_shift",
    "qmax_of",
    "quantize_np",
    "quantize_torch",
    "requantize_np",
    "requantize_torch",
    "round_bf16",
    "round_fp16",
    "round_to",
    "ulp",
    "ulp_lower",
    "unit_roundoff",
    "wrap_int32_np",
    "wrap_int32_torch",
]

#: precision -> (significand bits incl. the implicit one, smallest normal exponent)
FLOAT_FORMATS: dict[str, tuple[int, int]] = {
    "bf16": (8, -126),
    "fp16": (11, -14),
    "fp32": (24, -126),
}
INT_FORMATS: dict[str, int] = {"int8": 127, "int16": 32767}


def mantissa_bits(precision: str) -> int:
    return FLOAT_FORMATS[precision][0]


def unit_roundoff(precision: str) -> float:
    """u = 2^-p for a p-bit significand: bf16 2^-8, fp16 2^-11, fp32 2^-24."""
    return math.ldexp(1.0, -FLOAT_FORMATS[precision][0])


def round_bf16(x: np.ndarray, inplace: bool = False) -> np.ndarray:
    """Round float32 values to the nearest bfloat16 (half to even); a new float32 array, or ``x``
    itself with ``inplace`` (when it is a contiguous float32 array).

    ``u + 0x7FFF + ((u >> 16) & 1)`` on the float32 bits, top 16 bits kept (== torch's
    ``.bfloat16()``), in cache-sized chunks; NaNs stay NaN."""
    x = np.asarray(x, dtype=np.float32)
    if inplace and x.flags.c_contiguous and x.flags.writeable:
        nan = np.isnan(x) if x.size and np.isnan(x.max()) else None
        u = x.view(np.uint32).reshape(-1)
        t = np.empty(min(u.size, 1 << 16), dtype=np.uint32)
        for s in range(0, u.size, 1 << 16):
            uu = u[s:s + (1 << 16)]
            tt = t[: uu.size]
            np.right_shift(uu, 16, out=tt)
            tt &= 1
            tt += 0x7FFF
            uu += tt
            uu &= 0xFFFF0000
        if nan is not None:
            x[nan] = np.nan
        return x
    out = np.empty(x.shape, dtype=np.float32)
    u = np.ascontiguousarray(x).view(np.uint32).reshape(-1)
    o = out.view(np.uint32).reshape(-1)
    step = 1 << 16
    for s in range(0, u.size, step):
        uu, oo = u[s:s + step], o[s:s + step]
        np.right_shift(uu, 16, out=oo)
        oo &= 1
        oo += 0x7FFF
        oo += uu  # wraps only for NaN payloads, fixed below
        oo &= 0xFFFF0000
    if u.size and np.isnan(x.max()):
        nan = np.isnan(x)
        out[nan] = np.nan
    return out


def round_fp16(x: np.ndarray) -> np.ndarray:
    """Round float32 values to the nearest float16 (half to even; overflow -> inf); float32."""
    return np.asarray(x, dtype=np.float32).astype(np.float16).astype(np.float32)


def round_to(x: np.ndarray, precision: str, inplace: bool = False) -> np.ndarray:
    """float32 array rounded to ``precision`` (``fp32`` only converts); ``inplace`` may reuse
    ``x``'s memory (bf16)."""
    if precision == "bf16":
        return round_bf16(x, inplace)
    if precision == "fp16":
        return round_fp16(x)
    if precision == "fp32":
        return np.asarray(x, dtype=np.float32)
    raise ValueError(f"not a floating format: {precision}")


def ulp(x: np.ndarray, precision: str) -> np.ndarray:
    """Spacing of ``precision`` numbers at |x| (float64): 2^(max(e, emin) - p + 1), 2^e <= |x|."""
    p, emin = FLOAT_FORMATS[precision]
    a = np.abs(np.asarray(x, dtype=np.float64))
    _, e = np.frexp(a)  # a = f * 2^e, f in [0.5, 1)  ->  2^(e-1) <= a
    e = np.where(a > 0, np.maximum(e - 1, emin), emin)
    out = np.ldexp(1.0, (e - p + 1).astype(np.int32))
    return np.where(np.isfinite(a), out, np.inf)


def ulp_lower(x: np.ndarray, precision: str) -> np.ndarray:
    """A cheap lower bound of :func:`ulp`: |x| * 2^-p (float32 arithmetic, no frexp)."""
    p, _ = FLOAT_FORMATS[precision]
    return np.abs(x) * np.float32(math.ldexp(1.0, -p))


# -- integers -----------------------------------------------------------------------------------


def qmax_of(precision: str) -> int:
    return INT_FORMATS[precision]


def quantize_np(x: np.ndarray, scale: Any, qmax: int = 127) -> np.ndarray:
    """Symmetric quantisation: clip(rint(x / scale), -qmax, qmax) computed in float64.

    ``scale`` is a float or an array broadcastable against ``x`` (per channel)."""
    q = np.asarray(x, dtype=np.float64) / np.asarray(scale, dtype=np.float64)
    np.rint(q, out=q)
    np.clip(q, -qmax, qmax, out=q)
    return q.astype(np.int8 if qmax <= 127 else np.int16)


def quantize_torch(x: torch.Tensor, scale: Any, qmax: int = 127) -> torch.Tensor:
    """:func:`quantize_np` with torch ops (same float64 division and half-to-even rounding)."""
    import torch

    s = torch.as_tensor(np.asarray(scale, dtype=np.float64))
    q = torch.round(x.to(torch.float64) / s).clamp_(-qmax, qmax)
    return q.to(torch.int8 if qmax <= 127 else torch.int16)


_TWO32 = 1 << 32
_TWO31 = 1 << 31


def wrap_int32_np(x: np.ndarray) -> np.ndarray:
    """Two's-complement int32 wraparound of an int64 array (returns int64)."""
    x = np.asarray(x, dtype=np.int64)
    return ((x + _TWO31) & (_TWO32 - 1)) - _TWO31


def wrap_int32_torch(x: torch.Tensor) -> torch.Tensor:
    return ((x.to(__import__("torch").int64) + _TWO31) & (_TWO32 - 1)) - _TWO31


def multiplier_shift(real: Any) -> tuple[np.ndarray, np.ndarray]:
    """Integer multiplier and right shift with ``real ~= m0 * 2^-shift``.

    ``m0`` is a signed integer with |m0| in [2^30, 2^31) (31 significant bits), ``shift`` in
    [1, 62]; multipliers too small for that range get a smaller |m0| at shift 62 (possibly 0).
    Deterministic: computed from the float64 value with frexp and round half to even.
    """
    r = np.atleast_1d(np.asarray(real, dtype=np.float64))
    f, e = np.frexp(np.abs(r))  # |r| = f * 2^e, f in [0.5, 1)
    m = np.rint(np.ldexp(f, 31)).astype(np.int64)  # in [2^30, 2^31]
    shift = (31 - e).astype(np.int64)
    top = m == _TWO31
    m[top] //= 2
    shift[top] -= 1
    zero = r == 0
    m[zero] = 0
    shift[zero] = 31
    big = shift < 1
    if big.any():
        raise ValueError(f"requantisation multiplier {float(np.abs(r).max())} is too large (>= 2^30)")
    small = shift > 62
    if small.any():  # m0 * 2^-62 with fewer significant bits
        m[small] = np.rint(np.ldexp(np.abs(r[small]), 62)).astype(np.int64)
        shift[small] = 62
    m = np.where(r < 0, -m, m)
    return m.reshape(np.shape(real)), shift.reshape(np.shape(real))


def _round_shift_np(p: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """round(p / 2^shift), half to even, on int64 (arithmetic shift = floor)."""
    q = p >> shift
    rem = p - (q << shift)
    half = np.left_shift(np.int64(1), shift - 1)
    up = (rem > half) | ((rem == half) & ((q & 1) == 1))
    return q + up


def requantize_np(acc: np.ndarray, m0: Any, shift: Any, qmax: int = 127) -> np.ndarray:
    """int32 accumulators -> int8: clip(round_half_even(acc * m0 / 2^shift), -qmax, qmax).

    ``m0``/``shift`` broadcast against ``acc`` (per output channel). |acc * m0| < 2^62: exact int64."""
    p = np.asarray(acc, dtype=np.int64) * np.asarray(m0, dtype=np.int64)
    q = _round_shift_np(p, np.asarray(shift, dtype=np.int64))
    np.clip(q, -qmax, qmax, out=q)
    return q.astype(np.int8 if qmax <= 127 else np.int16)


def requantize_torch(acc: torch.Tensor, m0: Any, shift: Any, qmax: int = 127) -> torch.Tensor:
    """:func:`requantize_np` with torch int64 ops."""
    import torch

    p = acc.to(torch.int64) * torch.as_tensor(np.asarray(m0, dtype=np.int64))
    s = torch.as_tensor(np.asarray(shift, dtype=np.int64))
    q = torch.bitwise_right_shift(p, s)
    rem = p - torch.bitwise_left_shift(q, s)
    half = torch.bitwise_left_shift(torch.ones_like(s), s - 1)
    up = (rem > half) | ((rem == half) & ((q & 1) == 1))
    q = (q + up.to(torch.int64)).clamp_(-qmax, qmax)
    return q.to(torch.int8 if qmax <= 127 else torch.int16)
