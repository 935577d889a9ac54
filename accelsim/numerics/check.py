"""``accelsim run --check``: prove the mapped program computes what the PyTorch model computes.

:func:`run_check` executes the program tile by tile at the architecture's precision
(:mod:`accelsim.numerics.emulate`) and compares every piece, in program order, with a torch
reference:

* **Integer arrays** (``int8-exact``, ``int16-exact``): a quantised torch reference runs the
  same scheme (:mod:`accelsim.numerics.quant`) op by op over the IR graph with whole-op torch
  ops (matmul / linear / conv2d on integer-valued float32 tensors while every partial sum stays
  below 2^24, float64 otherwise and for conv2d: exact either way). The
  program must match it *exactly*: identical int32 accumulators and identical requantised
  integer tensors. ``vs_fp32`` reports how far the quantised program is from the fp32 model.
* **Float arrays** (``bf16-fp32acc``, ``fp16-fp32acc``, ``fp32``): a *local* check per piece:
  the fp32 op (float64 for fp32 arrays) applied to the very inputs the emulated piece saw (so
  errors do not compound through the network). GEMM pieces pass when, element by element,
  ``|emul - ref| <= (4 u + K 2^-24) * (|alpha| * (|A| @ |B|) + |beta * bias|) + ulp_s(max(|emul|, |ref|))``
  with ``u`` the unit roundoff of the input format, ``K 2^-24`` the float32 summation of the K
  products (plus ``2 u_fp16`` per K tile with fp16 accumulators) and ``ulp_s`` one unit in the
  last place of the storage format. Vector pieces
  pass when ``|emul - ref| <= ulp_s(max(|emul|, |ref|))`` (plus one ulp of the vector format
  when that is below fp32). Integer-valued results must be equal.

``|A| @ |B|`` is only computed where two cheap lower bounds of the bound (a strided partial sum of
``|A| @ |B|``, and ``|ref|``) do not already prove the element within it. Every piece is checked;
``level="outputs"`` reports the graph outputs
(each aggregated from the pieces that write it), ``level="all"`` every piece's tensors. The run
passes only if every piece passes; ``first_failure`` is the first failing piece in program order.
Structural problems of the program (missing / repeated K tiles, unwritten outputs, K tiles split
across arrays, uncovered vector elements, missing ops) fail the piece that has them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from accelsim.arch.spec import ArchSpec
from accelsim.mapping.program import Program
from accelsim.numerics.dtypes import (
    FLOAT_FORMATS,
    INT_FORMATS,
    quantize_torch,
    requantize_torch,
    round_to,
    ulp,
    unit_roundoff,
    wrap_int32_torch,
)
from accelsim.numerics.emulate import (
    Emulator,
    FloatNumerics,
    GemmRecord,
    IntNumerics,
    PieceRecord,
    Val,
    dequant_torch,
    sdpa_softmax,
    to_np,
    to_torch,
    vector_compute,
)
from accelsim.numerics.quant import (
    QuantPlan,
    bias_to_int_torch,
    build_plan,
    calibrate,
)
from accelsim.workload.ir import Op
from accelsim.workload.replay import run_op

__all__ = ["CheckReport", "TensorCheck", "gemm_bound", "gemm_coefficient", "run_check", "scheme_of"]

LEVELS = ("outputs", "all")


def _num(x: float | None) -> float | None:
    """A plain float (inf / NaN kept: Python's json writes them as Infinity / NaN; they only occur
    for failing or unmeasured rows)."""
    return None if x is None else float(x)


@dataclass(frozen=True)
class TensorCheck:
    tensor: str
    op: str
    module: str
    max_abs_err: float
    max_rel_err: float
    bound: float | None
    passed: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "tensor": self.tensor,
            "op": self.op,
            "module": self.module,
            "max_abs_err": _num(self.max_abs_err),
            "max_rel_err": _num(self.max_rel_err),
            "bound": _num(self.bound),
            "passed": self.passed,
            "note": self.note,
        }


@dataclass(frozen=True)
class CheckReport:
    passed: bool
    scheme: str  # "int8-exact" | "bf16-fp32acc" | "fp16-fp32acc" | "fp32" (| "int16-exact" | "fp16-fp16acc")
    level: str  # "outputs" | "all"
    tensors: tuple[TensorCheck, ...]
    first_failure: TensorCheck | None
    vs_fp32: dict | None
    #: the traced graph's fp32 replay and the emulated program vs the eager PyTorch module
    #: (``None`` when the workload has no eager outputs, e.g. a gemm: spec); see :func:`_vs_model`
    vs_model: dict | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "scheme": self.scheme,
            "level": self.level,
            "tensors": [t.to_dict() for t in self.tensors],
            "first_failure": None if self.first_failure is None else self.first_failure.to_dict(),
            "vs_fp32": _clean(self.vs_fp32),
            "vs_model": _clean(self.vs_model),
        }


def _clean(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _clean(x[k]) for k in sorted(x)}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return _num(float(x))
    if isinstance(x, np.integer):
        return int(x)
    return x


def scheme_of(arch: ArchSpec) -> str:
    a = arch.arrays[0]
    if a.precision in INT_FORMATS:
        return f"{a.precision}-exact"
    if a.precision == "fp32" and a.acc_precision == "fp32":
        return "fp32"
    return f"{a.precision}-{a.acc_precision}acc"


# ---------------------------------------------------------------------------------------------
# comparison helpers
# ---------------------------------------------------------------------------------------------


def _fail_check(rec: PieceRecord, tensor: str, note: str) -> TensorCheck:
    return TensorCheck(tensor, rec.mop.name, rec.mop.module, math.inf, math.inf, None, False, note)


def _problems_note(problems: list[str]) -> str:
    if not problems:
        return ""
    more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
    return "; ".join(problems[:3]) + more


def _exact_cmp(e: np.ndarray, r: np.ndarray) -> tuple[float, float, int]:
    """(max |e - r|, max |e - r| / max |r|, number of differing elements) of same-shape arrays."""
    e = np.asarray(e)
    r = np.asarray(r)
    if e.shape != r.shape:
        return math.inf, math.inf, max(e.size, r.size)
    if e.dtype == np.bool_ or r.dtype == np.bool_:
        diff = e != r
        n = int(np.count_nonzero(diff))
        return float(n > 0), float(n > 0), n
    if e.dtype.kind == "f" or r.dtype.kind == "f":
        ef, rf = e.astype(np.float64), r.astype(np.float64)
        same = (ef == rf) | (np.isnan(ef) & np.isnan(rf))
        d = np.where(same, 0.0, np.abs(ef - rf))
        d[np.isnan(d)] = np.inf
    else:
        d = np.abs(e.astype(np.int64) - r.astype(np.int64)).astype(np.float64)
        rf = r.astype(np.float64)
    n = int(np.count_nonzero(d))
    mx = float(d.max()) if d.size else 0.0
    den = float(np.nanmax(np.abs(np.where(np.isfinite(rf), rf, 0.0)))) if rf.size else 0.0
    return mx, (mx / den if den > 0 else mx), n


def _absdot(A3: np.ndarray, B3: np.ndarray, bi: np.ndarray, ii: np.ndarray, jj: np.ndarray) -> np.ndarray:
    """(|A| @ |B|)[b, i, j] for the given elements, float64 (fp32 products of fp32 values, summed
    in float64: a lower bound after the caller's (1 - 2^-23) factor)."""
    n = bi.size
    out = np.empty(n, dtype=np.float64)
    if n == 0:
        return out
    K, N = A3.shape[2], B3.shape[2]
    if n <= 65536 or n * 64 <= A3.shape[0] * A3.shape[1] * N // 8:  # few: gather and dot
        Bt = B3.transpose(0, 2, 1)
        step = max(1, (1 << 21) // max(1, K))
        for s in range(0, n, step):
            e = min(n, s + step)
            a = np.abs(A3[bi[s:e], ii[s:e], :])
            b = np.abs(Bt[bi[s:e], jj[s:e], :])
            out[s:e] = (a * b).sum(axis=1, dtype=np.float64)
        return out
    for b in np.unique(bi):  # many: BLAS on the affected rows
        sel = np.flatnonzero(bi == b)
        r = np.unique(ii[sel])
        aB = np.abs(B3[b])
        step = max(1, (1 << 22) // max(1, N))
        T = np.empty((r.size, N), dtype=np.float32)
        for s in range(0, r.size, step):
            T[s:s + step] = np.abs(A3[b, r[s:s + step], :]) @ aB
        out[sel] = T[np.searchsorted(r, ii[sel]), jj[sel]] * (1.0 - K * 2.0**-23)
    return out


_CHUNK = 1 << 18  # elements per comparison chunk (cache-sized)


def _finite_absmax(x: np.ndarray) -> float:
    if not x.size:
        return 0.0
    m = float(np.abs(x).max())
    if math.isfinite(m):
        return m
    f = x[np.isfinite(x)]
    return float(np.abs(f).max()) if f.size else 0.0


def _finite_big(e: np.ndarray, r: np.ndarray) -> np.ndarray:
    """max(|e|, |r|) with non-finite values as 0 (an inf / NaN mismatch must not buy an inf ulp)."""
    big = np.maximum(np.abs(e), np.abs(r))
    return np.where(np.isfinite(big), big, 0.0)


def _diff(E: np.ndarray, R: np.ndarray) -> np.ndarray:
    """|E - R| with equal infinities / NaNs at 0 and any other NaN at inf."""
    d = np.subtract(E, R, dtype=np.float32)
    np.abs(d, out=d)
    if not np.isfinite(d).all():
        same = (E == R) | (np.isnan(E) & np.isnan(R))
        d[same] = 0.0
        d[np.isnan(d)] = np.inf
    return d


def _verdict(idx: np.ndarray, d: np.ndarray, bnd: np.ndarray) -> tuple[int, float]:
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = d <= bnd
        ratio = np.where(bnd > 0, d / bnd, np.where(d > 0, np.inf, 0.0))
    return int(np.count_nonzero(~ok)), float(ratio.max()) if ratio.size else 0.0


def _note(nfail: int, size: int, worst: float, checked: int) -> str:
    if nfail:
        return f"{nfail} of {size} elements exceed the bound (worst err/bound {worst:.3g})"
    return f"within bound (worst err/bound {worst:.3g}; exact bound needed for {checked} of {size})"


def _cmp_plain(E: np.ndarray, R: np.ndarray, store: str,
               extra: str | None = None) -> tuple[float, float, float | None, bool, str]:
    """``|E - R| <= ulp_store(max(|E|, |R|))`` (+ one ulp of ``extra``) element by element."""
    with np.errstate(invalid="ignore", over="ignore"):
        return _cmp_plain_(E, R, store, extra)


def _cmp_plain_(E: np.ndarray, R: np.ndarray, store: str,
                extra: str | None) -> tuple[float, float, float | None, bool, str]:
    if E.shape != R.shape:
        return math.inf, math.inf, None, False, f"shape {E.shape} != reference {R.shape}"
    if E.dtype.kind != "f" or R.dtype.kind != "f":
        mx, rel, n = _exact_cmp(E, R)
        return mx, rel, 0.0, n == 0, "exact" if n == 0 else f"{n} elements differ"
    E = np.asarray(E, dtype=np.float32).reshape(-1)
    R = np.asarray(R, dtype=np.float32).reshape(-1)
    d = _diff(E, R)
    if store in ("bf16", "fp16") and not np.isfinite(E).all():
        # a finite reference beyond the storage format's range (a finfo(fp32).min attention mask)
        # becomes the same infinity when stored, as the hardware's conversion does: not an error
        sat = np.flatnonzero(np.isinf(E) & np.isfinite(R))
        if sat.size:
            d[sat[round_to(R[sat].copy(), store) == E[sat]]] = 0.0
    c = np.float32(2.0 ** -FLOAT_FORMATS[store][0])
    cand = np.flatnonzero(d > np.abs(R) * c)  # ulp(x) > |x| 2^-p
    amax = int(np.argmax(d)) if d.size else 0
    idx = np.union1d(cand, [amax]) if d.size else cand
    mx = float(d[amax]) if d.size else 0.0
    big = _finite_big(E[idx].astype(np.float64), R[idx].astype(np.float64))
    bnd = ulp(big, store) + (ulp(big, extra) if extra else 0.0)
    nfail, worst = _verdict(idx, d[idx].astype(np.float64), bnd)
    rmax = _finite_absmax(R)
    at = float(bnd[np.searchsorted(idx, amax)]) if d.size else None
    return mx, (mx / rmax if rmax > 0 else mx), at, nfail == 0, _note(nfail, E.size, worst, cand.size)


def _cmp_gemm(E: np.ndarray, R: np.ndarray, g: GemmRecord, store: str,
              cu: float) -> tuple[float, float, float | None, bool, str]:
    """The GEMM bound ``|E - R| <= cu (|alpha| |A|@|B| + |addend|) + ulp_store(max(|E|, |R|))``.

    Cheap pass (in cache-sized row chunks): the bound is at least ``cu |alpha| (|A_S| @ |B_S|)``
    where ``S`` is every 16th index of K (a partial sum of the non-negative terms of ``|A| @ |B|``);
    only elements failing that get the exact bound (exact ``|A| @ |B|``, addend and ulp term)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return _cmp_gemm_(E, R, g, store, cu)


def _cmp_gemm_(E: np.ndarray, R: np.ndarray, g: GemmRecord, store: str,
               cu: float) -> tuple[float, float, float | None, bool, str]:
    if E.shape != R.shape:
        return math.inf, math.inf, None, False, f"shape {E.shape} != reference {R.shape}"
    if E.dtype.kind != "f" or R.dtype.kind != "f":
        mx, rel, n = _exact_cmp(E, R)
        return mx, rel, 0.0, n == 0, "exact" if n == 0 else f"{n} elements differ"
    E3 = np.asarray(g.to_bmn(E), dtype=np.float32)
    R3 = np.asarray(g.to_bmn(R), dtype=np.float32)
    A3, B3 = g.A3, g.B3
    assert A3 is not None and B3 is not None
    batch, M, N = E3.shape
    K = A3.shape[2]
    step_k = 16 if K >= 64 else max(1, K // 4)
    c1 = np.float32(cu * abs(g.alpha) * (1.0 - K * 2.0**-23))
    cr = np.float32(cu * max(0.5, 1.0 - K * 2.0**-22) + 2.0 ** -FLOAT_FORMATS[store][0])
    rows = max(1, _CHUNK // max(1, N))
    cands: list[np.ndarray] = []
    mx, amax, rmax = -1.0, 0, 0.0
    for b in range(batch):
        BS = np.abs(B3[b, ::step_k, :]) * c1  # the factor folded into the small operand
        for m0 in range(0, M, rows):
            m1 = min(M, m0 + rows)
            e, r = E3[b, m0:m1], R3[b, m0:m1]
            d = np.subtract(e, r, dtype=np.float32)
            np.abs(d, out=d)
            j = int(np.argmax(d))
            if not math.isfinite(float(d.flat[j])):
                d = _diff(e, r)
                j = int(np.argmax(d))
            cheap = np.abs(A3[b, m0:m1, ::step_k]) @ BS  # the ulp term is left to the exact pass
            bad = d > cheap
            base = (b * M + m0) * N
            if bad.any():  # second cheap bound on those: |ref| (<= |alpha||A||B| + |addend|)
                fl = np.flatnonzero(bad)
                fl = fl[d.flat[fl] > np.abs(r.flat[fl]) * cr]
                if fl.size:
                    cands.append(fl + base)
            if float(d.flat[j]) > mx:
                mx, amax = float(d.flat[j]), base + j
            rm = max(float(r.max()), -float(r.min())) if r.size else 0.0
            rmax = max(rmax, rm if math.isfinite(rm) else _finite_absmax(r))
    cand = np.concatenate(cands) if cands else np.zeros(0, dtype=np.int64)
    idx = np.union1d(cand, [amax])
    bi, ii, jj = np.unravel_index(idx, E3.shape)
    Ef, Rf = E3[bi, ii, jj].astype(np.float64), R3[bi, ii, jj].astype(np.float64)
    df = np.abs(Ef - Rf)
    same = (Ef == Rf) | (np.isnan(Ef) & np.isnan(Rf))
    df[same] = 0.0
    df[np.isnan(df)] = np.inf
    T = _absdot(A3, B3, bi, ii, jj) * (1.0 - K * 2.0**-23)
    t = abs(g.alpha) * T
    if g.addend is not None:
        t = t + np.abs(np.broadcast_to(g.addend, E3.shape)[bi, ii, jj]).astype(np.float64)
    bnd = cu * t + ulp(_finite_big(Ef, Rf), store)
    nfail, worst = _verdict(idx, df, bnd)
    at = float(bnd[np.searchsorted(idx, amax)])
    mx = max(mx, 0.0)
    return mx, (mx / rmax if rmax > 0 else mx), at, nfail == 0, _note(nfail, E3.size, worst, cand.size)


def gemm_coefficient(precision: str, K: int, fp16_acc_tiles: int = 0, c: float = 4.0) -> float:
    """The factor of ``|alpha| |A|@|B| + |bias|`` in the GEMM bound:
    ``c u`` (operand rounding, ``u`` of the input format) ``+ K 2^-24`` (float32 sums of the K
    products: BLAS within a tile, fp32 accumulators across tiles) ``+ 2 n u`` with fp16
    accumulators rounded after each of ``n`` K tiles."""
    u = unit_roundoff(precision)
    return c * u + K * 2.0**-24 + 2.0 * fp16_acc_tiles * unit_roundoff("fp16")


def gemm_bound(
    A: np.ndarray,
    B: np.ndarray,
    emul: np.ndarray,
    ref: np.ndarray,
    precision: str,
    storage: str | None = None,
    c: float = 4.0,
    alpha: float = 1.0,
    addend: np.ndarray | None = None,
    fp16_acc_tiles: int = 0,
) -> np.ndarray:
    """The float GEMM bound, dense, element by element (float64)::

        (c u + K 2^-24 [+ 2 n u16]) * (|alpha| * (|A| @ |B|) + |addend|) + ulp_storage(max(|emul|, |ref|))

    ``A[..., M, K]``, ``B[..., K, N]`` (see :func:`gemm_coefficient`). :func:`run_check`
    evaluates the same bound lazily."""
    A = np.asarray(A, np.float64)
    T = np.abs(A) @ np.abs(np.asarray(B, np.float64))
    t = abs(alpha) * T
    if addend is not None:
        t = t + np.abs(np.asarray(addend, np.float64))
    big = np.maximum(np.abs(np.asarray(emul, np.float64)), np.abs(np.asarray(ref, np.float64)))
    cu = gemm_coefficient(precision, A.shape[-1], fp16_acc_tiles, c)
    return cu * t + ulp(big, storage or precision)


# ---------------------------------------------------------------------------------------------
# float schemes: local per-piece checks
# ---------------------------------------------------------------------------------------------


#: Compute the reference of ``linear`` ops as ``x @ W^T + b`` with numpy's BLAS instead of
#: ``torch.nn.functional.linear`` (same definition; on AMD hosts torch's MKL is ~25 % slower,
#: which is ~0.8 s of a gpt2-small seq-1024 check). matmul / conv2d / SDPA use torch.
LINEAR_REF_NUMPY = True


def _linear_np(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    y = x.reshape(-1, x.shape[-1]) @ w.T
    if b is not None:
        y += b
    return y.reshape(*x.shape[:-1], w.shape[0]).astype(np.float32, copy=False)


class FloatChecker:
    """Local checks: every piece against the torch fp32 op on the inputs the piece saw.

    ``measure(tensor)`` says whether a vector piece's error is measured; otherwise a vector piece
    with complete tile coverage passes by construction (the vector unit is emulated with the
    reference's own op followed by rounding to the storage format, <= 1/2 ulp) and is reported
    with ``max_abs_err`` NaN ("not measured")."""

    def __init__(self, num: FloatNumerics, measure: Any = None) -> None:
        self.num = num
        self.store = num.prec
        self.u = unit_roundoff(num.prec)
        self.extra = num.vec if num.vec != "fp32" else None
        self.checks: list[TensorCheck] = []
        self.measure = measure or (lambda name: True)
        # an fp32 array is checked against a float64 reference (an fp32 one would add errors of
        # the size being bounded); bf16 / fp16 against fp32, whose errors are ~2^-16 smaller
        self.hi = num.prec == "fp32"

    def _cu(self, k_tiles: int, K: int) -> float:
        return gemm_coefficient(self.num.prec, K, k_tiles if self.num.acc == "fp16" else 0)

    def op_done(self, op: Op) -> None:
        pass

    def piece(self, rec: PieceRecord) -> None:
        pnote = _problems_note(rec.problems)
        if rec.what == "missing" or not rec.outputs:
            self.checks.append(_fail_check(rec, rec.op.outputs[0] if rec.op.outputs else "", pnote or "no output"))
            return
        m = rec.mop
        for i, (name, val) in enumerate(rec.outputs):
            if rec.what == "layout":
                res: tuple[float, float, float | None, bool, str] = (0.0, 0.0, 0.0, True, "layout op (exact)")
            elif rec.what in ("vector", "sdpa.softmax"):
                full = rec.full[i] if rec.full is not None and i < len(rec.full) else val.data
                analytic = (not rec.problems and self.store in ("bf16", "fp32") and self.extra is None
                            and full.dtype == np.float32)
                if analytic and not self.measure(name):
                    res = (math.nan, math.nan, None, True,
                           "vector op: reference op + rounding to the storage format (<= 1/2 ulp); not measured")
                else:
                    res = _cmp_plain(val.data, full, self.store, self.extra)
                if rec.what == "sdpa.softmax":
                    res = (*res[:4], "probabilities: " + res[4])
            else:
                res = self._gemm(rec, val)
            mx, rel, bnd, ok, note = res
            if rec.problems:
                ok, note = False, pnote + ("; " + note if note else "")
            if rec.what == "sdpa.qk":
                note = "scores: " + note
            if rec.what == "sdpa.av":
                note = f"heads [{rec.batch_range[0]}, {rec.batch_range[1]}): " + note
            self.checks.append(TensorCheck(name, m.name, m.module, mx, rel, bnd, ok, note))

    def _gemm(self, rec: PieceRecord, val: Val) -> tuple[float, float, float | None, bool, str]:
        g = rec.gemm
        assert g is not None
        if rec.what == "gemm":
            if g.integer_gemm:
                ref = to_np(run_op(rec.op, [to_torch(v.data) for v in rec.inputs or []])[0])
                mx, rel, n = _exact_cmp(val.data, ref)
                return mx, rel, 0.0, n == 0, "integer GEMM: exact" if n == 0 else f"integer GEMM: {n} elements differ"
            ins = g.ref_inputs or []
            if self.hi:
                ins = [x.to(torch.float64) if x.is_floating_point() else x for x in ins]
            if rec.op.kind == "linear" and LINEAR_REF_NUMPY and all(x.is_floating_point() for x in ins):
                ref = _linear_np(*[x.numpy() for x in ins])
            else:
                ref = to_np(run_op(rec.op, ins)[0])
        else:
            assert g.A3 is not None and g.B3 is not None
            A, B = to_torch(g.A3), to_torch(g.B3)
            if self.hi:
                A, B = A.to(torch.float64), B.to(torch.float64)
            ref = to_np(torch.matmul(A, B))
        data = val.data
        if rec.valid is not None:  # fused attention: scores the tiles skipped (masked) are not compared
            data = np.where(rec.valid, data, ref.astype(data.dtype))
        return _cmp_gemm(data, ref, g, self.store, self._cu(g.k_tiles, g.K))


# ---------------------------------------------------------------------------------------------
# integer schemes: the quantised torch reference
# ---------------------------------------------------------------------------------------------


class QuantReference:
    """The integer scheme applied op by op over the IR graph with whole-op torch ops."""

    def __init__(self, traced: Any, plan: QuantPlan, vec: str, vector_gemms: frozenset[str] = frozenset()) -> None:
        self.t = traced
        self.vector_gemms = vector_gemms  # GEMM ops the mapping runs on the vector unit (fp32)
        self.g = traced.graph
        self.plan = plan
        self.vec = vec
        self.env: dict[str, tuple[torch.Tensor, float | None]] = {}
        self.results: dict[str, dict[str, Any]] = {}
        self.pos = 0
        self.uses: dict[str, int] = {}
        for op in self.g.ops:
            for i in op.inputs:
                self.uses[i] = self.uses.get(i, 0) + 1
        self.keep = set(self.g.outputs)
        self._wq: dict[tuple[str, int], torch.Tensor] = {}

    def value(self, name: str) -> tuple[torch.Tensor, float | None]:
        v = self.env.get(name)
        if v is not None:
            return v
        src = self.t.params.get(name)
        if src is None:
            src = self.t.inputs.get(name)
        if src is None:
            raise KeyError(name)
        src = src.detach()
        if src.is_floating_point():
            src = src.to(torch.float32)
        if self.plan.stored.get(name) == "q":
            s = self.plan.scale[name]
            v = (quantize_torch(src, s, self.plan.qmax), s)
        else:
            v = (src, None)
        self.env[name] = v
        return v

    def real(self, name: str) -> torch.Tensor:
        t, s = self.value(name)
        return dequant_torch(t, s) if s is not None else t

    def operand(self, name: str) -> tuple[torch.Tensor, float]:
        t, s = self.value(name)
        if s is not None:
            return t, s
        s = self.plan.tensor_scale(name)
        return quantize_torch(t.to(torch.float32), s, self.plan.qmax), s

    def store(self, name: str, t: torch.Tensor) -> tuple[torch.Tensor, float | None]:
        if self.plan.stored.get(name) == "q" and t.dtype == torch.float32:
            s = self.plan.scale[name]
            return quantize_torch(t, s, self.plan.qmax), s
        if t.is_floating_point() and t.dtype != torch.float32:
            t = t.to(torch.float32)
        return t, None

    def run_until(self, name: str) -> dict[str, Any]:
        while name not in self.results:
            if self.pos >= len(self.g.ops):
                raise KeyError(name)
            op = self.g.ops[self.pos]
            self.pos += 1
            with torch.no_grad():
                self.results[op.name] = self._run(op)
            for i in op.inputs:
                self.uses[i] -= 1
                if self.uses[i] == 0 and i not in self.keep:
                    self.env.pop(i, None)
                    for key in [k for k in self._wq if k[0] == i]:
                        del self._wq[key]
        return self.results[name]

    def release(self, name: str) -> None:
        self.results.pop(name, None)

    def _put(self, op: Op, vals: list[tuple[torch.Tensor, float | None]], **extra: Any) -> dict[str, Any]:
        for n, v in zip(op.outputs, vals):
            self.env[n] = v
        return {"outputs": dict(zip(op.outputs, vals)), **extra}

    def _run(self, op: Op) -> dict[str, Any]:
        plan = self.plan
        if op.kind in ("view", "const"):
            if op.outputs and all(o in plan.inherit for o in op.outputs):
                ins = [self.value(i) for i in op.inputs]
                sc = next(s for _, s in ins if s is not None)
                outs = run_op(op, [t for t, _ in ins])
                return self._put(op, [(t, sc) for t in outs])
            outs = run_op(op, [self.real(i) for i in op.inputs])
            return self._put(op, [self.store(n, t) for n, t in zip(op.outputs, outs)])
        if op.kind in ("linear", "matmul", "conv2d", "conv1d") and op.name not in self.vector_gemms:
            return self._gemm(op)
        if op.kind in ("sdpa", "attention"):
            return self._sdpa(op)
        outs = vector_compute(op, [self.real(i) for i in op.inputs], self.vec)
        return self._put(op, [self.store(n, t) for n, t in zip(op.outputs, outs)])

    def _gemm(self, op: Op) -> dict[str, Any]:
        qp = self.plan.gemm[op.name]
        if qp.integer:
            out = run_op(op, [self.value(i)[0] for i in op.inputs])[0]
            return self._put(op, [(out, None)], acc=out.to(torch.int64))
        a, _ = self.operand(op.inputs[0])
        bname = op.inputs[1]
        if qp.b_per_channel:
            key = (bname, qp.b_axis)
            if key not in self._wq:
                w = self.value(bname)[0].to(torch.float32)
                shape = [1] * w.dim()
                shape[qp.b_axis] = -1
                self._wq[key] = quantize_torch(w, np.asarray(qp.b_scale).reshape(shape), self.plan.qmax)
            b = self._wq[key]
        else:
            b, _ = self.operand(bname)
        conv = op.kind in ("conv2d", "conv1d")
        K = math.prod(b.shape[1:]) if conv else a.shape[-1]
        # conv in float64 (im2col + GEMM: exact); fp32 convs may use transformed algorithms
        ft = torch.float64 if conv else self._exact_dtype(K)
        A, B = a.to(ft), b.to(ft)
        if op.kind == "linear":
            acc = F.linear(A, B)
        elif op.kind == "matmul":
            if op.attrs.get("transpose_b") and B.dim() >= 2:
                B = B.transpose(-1, -2)
            acc = torch.matmul(A, B)
        else:
            a_ = op.attrs
            fn = F.conv2d if op.kind == "conv2d" else F.conv1d
            acc = fn(A, B, None, stride=a_.get("stride", 1), padding=a_.get("padding", 0),
                     dilation=a_.get("dilation", 1), groups=a_.get("groups", 1))
        acc = wrap_int32_torch(acc.to(torch.int64))
        spatial = (1,) * (b.dim() - 2) if conv else ()  # a per-channel vector over [F, *spatial]

        def chan(v: np.ndarray) -> torch.Tensor:
            t = torch.as_tensor(np.asarray(v))
            return t.reshape(-1, *spatial) if conv and t.dim() == 1 else t

        if qp.bias_q is not None:
            acc = wrap_int32_torch(acc + chan(qp.bias_q))
        elif qp.bias_runtime:
            bq = bias_to_int_torch(self.real(op.inputs[2]), qp.beta, qp.real)
            acc = wrap_int32_torch(acc + (bq.reshape(-1, *spatial) if conv and bq.dim() == 1 else bq))
        res: tuple[torch.Tensor, float | None]
        if qp.out_stored == "q":
            res = (requantize_torch(acc, chan(qp.m0), chan(qp.shift), self.plan.qmax), qp.out_scale)
        else:
            res = (dequant_torch(acc, chan(qp.real)), None)
        return self._put(op, [res], acc=acc)

    def _exact_dtype(self, k: int) -> torch.dtype:
        """float32 sums of k products of |q| <= qmax integers are exact below 2^24, else float64."""
        return torch.float32 if k * self.plan.qmax**2 < (1 << 24) else torch.float64

    def _sdpa(self, op: Op) -> dict[str, Any]:
        """SDPA, or an ``attention`` composite (its K operand may be K^T; its ops between the two
        matmuls replace SDPA's scale / mask / softmax)."""
        sq = self.plan.sdpa[op.name]
        q, _ = self.operand(op.inputs[0])
        k, _ = self.operand(op.inputs[1])
        v, _ = self.operand(op.inputs[2])
        if op.kind == "attention" and str(op.attrs.get("k_layout", "ds")) == "ds":
            k = k.transpose(-2, -1)
        *bq, L, D = q.shape
        S, Dv = k.shape[-2], v.shape[-1]
        BH = math.prod(bq) if bq else 1
        ft_qk, ft_av = self._exact_dtype(D), self._exact_dtype(S)
        Q, K, V = q.to(ft_qk), k.to(ft_qk), v.to(ft_av)
        if op.attrs.get("enable_gqa") and K.dim() >= 3 and bq and K.shape[-3] != bq[-1]:
            K = K.repeat_interleave(bq[-1] // K.shape[-3], dim=-3)
            V = V.repeat_interleave(bq[-1] // V.shape[-3], dim=-3)
        scores = wrap_int32_torch(torch.matmul(Q, K.transpose(-2, -1)).to(torch.int64))
        scores_shape = tuple(scores.shape)
        scores = scores.expand(*bq, L, S).reshape(BH, L, S)
        mask = None
        if op.kind == "sdpa" and len(op.inputs) > 3:
            mask = self.real(op.inputs[3]).expand(*bq, L, S).reshape(BH, L, S)
        if op.kind == "attention":
            from accelsim.numerics.emulate import attention_probs

            extras = {n: self.real(n) for n in op.inputs[3:]}
            p = attention_probs(op, dequant_torch(scores, sq.score_scale), extras, D, None,
                                scores_shape if math.prod(scores_shape) == BH * L * S else (*bq, L, S))
        else:
            p = sdpa_softmax(dequant_torch(scores, sq.score_scale), op.attrs, D, mask)
        if self.vec != "fp32":
            p = p.to({"bf16": torch.bfloat16, "fp16": torch.float16}[self.vec]).to(torch.float32)
        pq = quantize_torch(p, sq.p_scale, self.plan.qmax)
        Vf = V.expand(*bq, S, Dv).reshape(BH, S, Dv)
        av = wrap_int32_torch(torch.matmul(pq.to(ft_av), Vf).to(torch.int64))
        if sq.out_stored == "q":
            of = requantize_torch(av, sq.m0, sq.shift, self.plan.qmax)
        else:
            of = dequant_torch(av, sq.av_real)
        out = (of.reshape(self.g.tensors[op.outputs[0]].shape), sq.out_scale)
        return self._put(op, [out], scores=scores, probs_q=pq, av_acc=av, out_flat=of)


class IntChecker:
    """Compares every emulated piece with the quantised torch reference, bit for bit."""

    def __init__(self, traced: Any, plan: QuantPlan, vec: str, vector_gemms: frozenset[str] = frozenset()) -> None:
        self.ref = QuantReference(traced, plan, vec, vector_gemms)
        self.checks: list[TensorCheck] = []
        self.prec = plan.precision
        self.overflows = 0

    def op_done(self, op: Op) -> None:
        self.ref.release(op.name)

    def _cmp(self, rec: PieceRecord, tensor: str, pairs: list[tuple[str, np.ndarray, np.ndarray]],
             scales: tuple[Any, Any] = (None, None), what: str = "") -> None:
        m = rec.mop
        worst_abs, worst_rel, bad = 0.0, 0.0, []
        for label, e, r in pairs:
            mx, rel, n = _exact_cmp(e, r)
            worst_abs, worst_rel = max(worst_abs, mx), max(worst_rel, rel)
            if n:
                bad.append(f"{label}: {n} of {max(np.size(e), np.size(r))} elements differ (max {mx:g})")
        if scales[0] != scales[1]:
            bad.append(f"scale {scales[0]} != reference {scales[1]}")
        note = _problems_note(rec.problems)
        ok = not bad and not rec.problems
        if bad:
            note = "; ".join(([note] if note else []) + bad)
        elif not note:
            note = (what + ": " if what else "") + "bit-exact"
        if rec.gemm is not None and rec.gemm.overflows:
            self.overflows += rec.gemm.overflows
            note += f"; {rec.gemm.overflows} int32 accumulators overflowed (wrapped, like the reference)"
        self.checks.append(TensorCheck(tensor, m.name, m.module, worst_abs, worst_rel, 0.0, ok, note))

    def piece(self, rec: PieceRecord) -> None:
        op = rec.op
        if rec.what == "missing" or not rec.outputs:
            self.checks.append(_fail_check(rec, op.outputs[0] if op.outputs else "",
                                           _problems_note(rec.problems) or "no output"))
            return
        try:
            r = self.ref.run_until(op.name)
        except Exception as e:  # noqa: BLE001 - reported as this piece's failure
            self.checks.append(_fail_check(rec, op.outputs[0],
                                           f"the quantised reference failed: {type(e).__name__}: {e}"))
            return
        b0, b1 = rec.batch_range
        if rec.what in ("layout", "vector"):
            for name, val in rec.outputs:
                rt, rs = r["outputs"][name]
                self._cmp(rec, name, [(name, val.data, to_np(rt))], (val.scale, rs),
                          "layout" if rec.what == "layout" else "vector")
        elif rec.what == "gemm":
            name, val = rec.outputs[0]
            rt, rs = r["outputs"][name]
            pairs = [(name, val.data, to_np(rt))]
            if rec.gemm is not None and rec.gemm.acc is not None and "acc" in r:
                pairs.insert(0, ("int32 accumulators", rec.gemm.acc, to_np(r["acc"])))
            self._cmp(rec, name, pairs, (val.scale, rs), f"{self.prec} GEMM, int32 accumulators")
        elif rec.what == "sdpa.qk":
            name, val = rec.outputs[0]
            ref = to_np(r["scores"][b0:b1])
            data = val.data if rec.valid is None else np.where(rec.valid, val.data, ref)
            self._cmp(rec, name, [("int32 scores", data, ref)], what="QK^T int32 scores")
        elif rec.what == "sdpa.softmax":
            name, val = rec.outputs[0]
            self._cmp(rec, name, [("probabilities", val.data, to_np(r["probs_q"][b0:b1]))],
                      what=f"{self.prec} probabilities")
        elif rec.what == "sdpa.av":
            name, val = rec.outputs[0]
            _, rs = r["outputs"][name]
            pairs = [(name, val.data, to_np(r["out_flat"][b0:b1]))]
            if rec.gemm is not None and rec.gemm.acc is not None:
                pairs.insert(0, ("int32 accumulators", rec.gemm.acc, to_np(r["av_acc"][b0:b1])))
            self._cmp(rec, name, pairs, (val.scale, rs), f"heads [{b0}, {b1}): P.V")


# ---------------------------------------------------------------------------------------------
# run_check
# ---------------------------------------------------------------------------------------------


def _aggregate(name: str, checks: list[TensorCheck], ir_op: dict[str, str]) -> TensorCheck:
    if len(checks) == 1:
        return checks[0]
    fail = [c for c in checks if not c.passed]
    bounds = [c.bound for c in checks if c.bound is not None]
    first = fail[0] if fail else checks[0]
    op = first.op if fail else ir_op.get(first.op, first.op)
    exact = all(c.bound == 0.0 and c.max_abs_err == 0.0 for c in checks)
    note = first.note if fail else f"{len(checks)} pieces: all {'bit-exact' if exact else 'within bound'}"
    return TensorCheck(
        name, op, first.module, max(c.max_abs_err for c in checks), max(c.max_rel_err for c in checks),
        max(bounds) if bounds else None, not fail, note,
    )


def _vs_fp32(outs: dict[str, Val], ref: dict[str, torch.Tensor]) -> dict[str, Any]:
    res: dict[str, Any] = {}
    for name in sorted(ref):
        if name not in outs:
            continue
        e = np.asarray(outs[name].real())
        r = to_np(ref[name])
        if e.dtype.kind != "f" or r.dtype.kind != "f" or e.shape != r.shape:
            mx, rel, n = _exact_cmp(e, r)
            res[name] = {"max_abs_err": mx, "max_rel_err": rel, "mismatches": n}
            continue
        d = np.abs(e.astype(np.float64) - r.astype(np.float64))
        rmax = float(np.abs(r).max()) if r.size else 0.0
        entry: dict[str, Any] = {
            "max_abs_err": float(d.max()) if d.size else 0.0,
            "max_rel_err": (float(d.max()) / rmax) if rmax > 0 and d.size else 0.0,
            "rms_err": float(np.sqrt(np.mean(d * d))) if d.size else 0.0,
        }
        if r.ndim >= 2 and r.shape[-1] > 1:
            entry["top1_agreement"] = float(np.mean(np.argmax(e, axis=-1) == np.argmax(r, axis=-1)))
        res[name] = entry
    out: dict[str, Any] = {}
    for key, agg in (("max_abs_err", max), ("max_rel_err", max), ("rms_err", max), ("top1_agreement", min)):
        vals = [e[key] for e in res.values() if key in e]
        if vals:
            out[key] = agg(vals)
    out["outputs"] = res
    return out


#: The traced graph's fp32 replay must match the eager module within this fraction of each
#: output's largest magnitude. Replaying the captured ops reproduces eager bit for bit; what
#: tracing legitimately changes is fp32 reassociation (batch norm folded into convolutions,
#: decomposed RNN cells: ~1e-6 relative on ResNet-18 and LSTMs), far below this; a tracing or
#: folding mistake moves outputs by O(1).
MODEL_REL_TOL = 1e-4


def _vs_model(traced: Any, outs: dict[str, Val], graph_ref: dict[str, torch.Tensor] | None) -> dict[str, Any] | None:
    """Compare with the eager module's outputs (``traced.eager_outputs``, computed at trace time):
    ``graph`` -- the traced graph's fp32 replay (must agree within :data:`MODEL_REL_TOL`: this
    catches a tracing or folding mistake), ``program`` -- the emulated program at the arch's
    precision (reported, like ``vs_fp32``)."""
    eager = getattr(traced, "eager_outputs", None)
    if not eager:
        return None
    if graph_ref is None:
        from accelsim.workload.replay import run_graph

        graph_ref = run_graph(traced.graph, {**traced.params, **traced.inputs})
    rows: dict[str, Any] = {}
    ok_all = True
    for name in sorted(eager):
        m = eager[name]
        g = graph_ref.get(name)
        if g is None:
            continue
        row: dict[str, Any] = {}
        if tuple(g.shape) != tuple(m.shape):
            row.update(passed=False, note=f"shape {tuple(g.shape)} != model {tuple(m.shape)}")
        elif not (g.is_floating_point() and m.is_floating_point()):
            same = bool(torch.equal(g, m.to(g.dtype)))
            row.update(passed=same, max_abs_err=0.0 if same else math.inf)
        else:
            gd, md = g.detach().double(), m.detach().double()
            fin = torch.isfinite(md) & torch.isfinite(gd)
            same_inf = (gd == md) | (torch.isnan(gd) & torch.isnan(md))
            d = torch.where(fin, (gd - md).abs(), torch.where(same_inf, 0.0, math.inf))
            err = float(d.max()) if d.numel() else 0.0
            scale = float(md[torch.isfinite(md)].abs().max()) if torch.isfinite(md).any() else 0.0
            tol = MODEL_REL_TOL * max(scale, 1e-30)
            row.update(passed=err <= tol, max_abs_err=err, max_rel_err=err / scale if scale > 0 else err,
                       bound=tol)
        ok_all = ok_all and bool(row["passed"])
        rows[name] = row
    prog = _vs_fp32(outs, {k: v for k, v in eager.items() if k in outs})
    return {"passed": ok_all, "rel_tol": MODEL_REL_TOL, "graph": rows, "program": prog}


def run_check(traced: Any, program: Program, arch: ArchSpec, level: str = "outputs") -> CheckReport:
    """Execute ``program`` tile by tile at ``arch``'s precision and compare it with PyTorch.

    ``level``: ``"outputs"`` reports the graph outputs, ``"all"`` every piece's tensors; every
    piece is checked either way (see the module docstring)."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)} (got {level!r})")
    if getattr(program, "graph", None) is not None and program.graph is not traced.graph:
        import dataclasses

        traced = dataclasses.replace(traced, graph=program.graph)  # the lowered graph it was mapped from
    a0 = arch.arrays[0]
    vec = arch.vector.precision if arch.vector.precision in FLOAT_FORMATS else "fp32"
    scheme = scheme_of(arch)
    fp32_outs = None
    observer: FloatChecker | IntChecker
    if a0.precision in INT_FORMATS:
        stats, fp32_outs = calibrate(traced)
        plan = build_plan(traced, a0.precision, stats)
        num: FloatNumerics | IntNumerics = IntNumerics(plan, vec)
        on_array = {m.ir_op for m in program.ops if m.unit == "array"}
        vector_gemms = frozenset(
            op.name for op in traced.graph.ops
            if op.kind in ("linear", "matmul", "conv2d", "conv1d") and op.name not in on_array
        )
        observer = IntChecker(traced, plan, vec, vector_gemms)
    else:
        num = FloatNumerics(a0.precision, a0.acc_precision, vec)
        outputs = set(traced.graph.outputs)
        observer = FloatChecker(num, measure=lambda name: level == "all" or name in outputs)
    emu = Emulator(traced, program, arch, num, observer)
    outs = emu.run()
    checks = list(observer.checks)
    for p in emu.problems:
        checks.append(TensorCheck("", "<program>", "", math.inf, math.inf, None, False, p))
    first = next((c for c in checks if not c.passed), None)
    if level == "all":
        tensors = tuple(checks)
    else:
        rows = []
        for o in traced.graph.outputs:
            mine = [c for c in checks if c.tensor == o]
            if mine:
                rows.append(_aggregate(o, mine, {m.name: m.ir_op for m in program.ops}))
            elif o not in outs:
                rows.append(TensorCheck(o, "", "", math.inf, math.inf, None, False, "never produced by the program"))
            else:
                rows.append(TensorCheck(o, "", "", 0.0, 0.0, 0.0, True, "graph input / constant passed through"))
        tensors = tuple(rows)
    passed = first is None and all(t.passed for t in tensors)
    if first is None and not passed:
        first = next(t for t in tensors if not t.passed)
    vs = None
    if fp32_outs is not None:
        vs = _vs_fp32(outs, fp32_outs)
        vs["int32_overflows"] = getattr(observer, "overflows", 0)
    vm = _vs_model(traced, outs, fp32_outs)
    if vm is not None and not vm["passed"]:
        bad = next(k for k, r in vm["graph"].items() if not r["passed"])
        r = vm["graph"][bad]
        miss = TensorCheck(bad, "<model>", "", float(r.get("max_abs_err", math.inf)),
                           float(r.get("max_rel_err", math.inf)), r.get("bound"), False,
                           "the traced graph's fp32 replay differs from the eager PyTorch model "
                           "(a tracing or folding error)")
        passed = False
        first = first or miss
        tensors = (*tensors, miss)
    return CheckReport(passed, scheme, level, tensors, first, vs, vm)
