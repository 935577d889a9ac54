"""GPU calibration: measured kernel times, the model's error against them, and the fit.

A calibration file (YAML) records kernel times measured on a real GPU, with how they were taken::

    format: accelsim.gpu-calibration/1
    profile: a100                 # the accelsim profile these numbers calibrate (name, alias, path)
    device: NVIDIA A100-SXM4-80GB
    source: where the numbers come from (a paper's artefact, or this repo's measurement script)
    method: how they were taken (timer, warm-up, repeats, statistic, clocks, software versions)
    includes_launch: true         # the times include launch/framework/timer overhead (or: false,
                                  # device time of the kernels only)
    harness:                      # optional, only with includes_launch: true (see below)
      gemm: {host_before_us: 25.0, host_after_us: 1.0}
    points:
      - {op: gemm, M: 8192, N: 12288, K: 12288, precision: fp16, time_s: 4.3e-3, split: fit}
      - {op: gelu, shape: [536870912], precision: fp16, time_s: 1.37e-3}
      - {op: softmax, shape: [4096, 4096], precision: bf16, time_s: 9.1e-5}
      - {op: layer_norm, shape: [8192, 768], precision: bf16, time_s: 2.2e-5}

``gemm`` is ``[batch x] [M, K] @ [K, N]``; ``softmax`` and ``layer_norm`` act on the last axis of
``shape`` (layer_norm with weight and bias); ``gelu`` is element-wise; ``sdpa`` is one
``scaled_dot_product_attention`` (``{op: sdpa, batch, heads, kv_heads, q_len, kv_len, head_dim,
causal, precision, time_s}``: prefill with ``q_len = kv_len``, decode with ``q_len: 1``). Each point may carry a
``note`` and a ``split``: ``fit`` (the profile's knobs were fitted to it) or ``held_out``
(default: the point was not used to fit anything).

**Like with like.** The model's *kernel* time of each point (:func:`accelsim.gpu.model.op_kernel`:
device time only) is what a file with ``includes_launch: false`` is compared with. A file with
``includes_launch: true`` is compared with the kernel time plus the host overhead of the harness
that timed it: ``host_before + max(kernel, host_after)`` -- the host works ``host_before`` until
the kernel starts, then ``host_after`` more (returning, synchronising, reading the timer) while
the kernel runs. ``harness`` gives the two per op (fitted, for a harness such as LLMCompass's
``time.time()`` around one call and a synchronize); without it they are the profile's eager
figures for back-to-back eager calls (``host_before = 0``, ``host_after = framework + launch``:
each call costs ``max(kernel, host)``), which is how ``benchmarks/gpu_calibrate.py --mode eager``
times.

**The fit** (:func:`fit`): on the ``split: fit`` points only, per op class, coordinate descent on a
fixed grid (efficiencies in steps of 0.02, then 0.005 near the optimum; host times in steps of
1 us, then 0.1 us) minimising the mean
|error| of the comparison above, from a neutral start. It fits ``gemm_max_efficiency`` and
``gemm_memory_efficiency`` (gemm), ``class_memory_efficiency`` of ``softmax``, ``norm``
(layer_norm) and ``elementwise`` (gelu), and the harness's ``host_before_us``/``host_after_us``
per op (and, for ``sdpa`` points, ``attention_max_efficiency`` and the ``attention`` class
bandwidth). Everything else in the profile is fixed (datasheet or cited figures). The result is
deterministic; the shipped A100 profile and ``a100-llmcompass.yaml`` hold exactly what it gives.

``benchmarks/gpu_calibrate.py`` writes such a file on a CUDA machine; :func:`compare` (and
``accelsim gpu-calibration FILE``) reports ``model / measured - 1`` per point, and the mean
|error| per op and per split (fitted vs held out). Shipped files live in
``accelsim/gpu/calibration/`` (found by stem, e.g. ``a100-llmcompass``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from accelsim.errors import Problem, SpecError
from accelsim.gpu.model import op_kernel
from accelsim.gpu.profile import (
    GpuProfile,
    _message,
    _path,
    is_path_spec,
    load_profile,
    read_yaml,
)
from accelsim.workload.ir import Graph, Op, TensorInfo

__all__ = [
    "CALIBRATION_DIR",
    "FORMAT",
    "Calibration",
    "CalibrationReport",
    "FitResult",
    "Harness",
    "PointResult",
    "compare",
    "fit",
    "load_calibration",
    "point_graph",
]

FORMAT = "accelsim.gpu-calibration/1"
#: Shipped calibration files (package data).
CALIBRATION_DIR = Path(__file__).parent / "calibration"

_DTYPE = {"fp32": "float32", "tf32": "float32", "fp16": "float16", "bf16": "bfloat16", "int8": "int8"}
_POS_INT = Annotated[int, Field(gt=0)]
_OPS = ("gemm", "gelu", "softmax", "layer_norm", "sdpa")
Split = Literal["fit", "held_out"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GemmPoint(_Frozen):
    op: Literal["gemm"]
    M: _POS_INT
    N: _POS_INT
    K: _POS_INT
    batch: _POS_INT = 1
    precision: Literal["fp32", "tf32", "fp16", "bf16", "int8"]
    time_s: Annotated[float, Field(gt=0)]
    split: Split = "held_out"
    note: str = ""

    def label(self) -> str:
        b = f"{self.batch}x" if self.batch > 1 else ""
        return f"{b}{self.M}x{self.N}x{self.K}"


class VectorPoint(_Frozen):
    op: Literal["gelu", "softmax", "layer_norm"]
    shape: Annotated[list[_POS_INT], Field(min_length=1, max_length=6)]
    precision: Literal["fp32", "fp16", "bf16"]
    time_s: Annotated[float, Field(gt=0)]
    split: Split = "held_out"
    note: str = ""

    def label(self) -> str:
        return "x".join(str(s) for s in self.shape)


class AttentionPoint(_Frozen):
    """``F.scaled_dot_product_attention`` of ``q[batch, heads, q_len, head_dim]`` over
    ``k, v[batch, kv_heads, kv_len, head_dim]`` (``enable_gqa`` when ``kv_heads < heads``)."""

    op: Literal["sdpa"]
    batch: _POS_INT = 1
    heads: _POS_INT
    kv_heads: _POS_INT | None = None
    q_len: _POS_INT
    kv_len: _POS_INT
    head_dim: _POS_INT
    causal: bool = False
    precision: Literal["fp32", "fp16", "bf16"]
    time_s: Annotated[float, Field(gt=0)]
    split: Split = "held_out"
    note: str = ""

    def label(self) -> str:
        kv = self.kv_heads or self.heads
        return (f"{self.batch}x{self.heads}/{kv}x{self.q_len}x{self.kv_len}x{self.head_dim}"
                + (" causal" if self.causal else ""))


Point = Annotated[GemmPoint | VectorPoint | AttentionPoint, Field(discriminator="op")]
AnyPoint = GemmPoint | VectorPoint | AttentionPoint


class Harness(_Frozen):
    """Host overhead of one timed call (us): before the kernel starts, and after it was
    launched (overlapping the kernel)."""

    host_before_us: Annotated[float, Field(ge=0)]
    host_after_us: Annotated[float, Field(ge=0)]


class Calibration(_Frozen):
    format: Literal["accelsim.gpu-calibration/1"]
    profile: str
    device: str
    source: str
    method: str
    includes_launch: bool
    harness: dict[Literal["gemm", "gelu", "softmax", "layer_norm", "sdpa"], Harness] = Field(default_factory=dict)
    notes: str = ""
    points: Annotated[list[Point], Field(min_length=1)]


def point_graph(p: AnyPoint) -> Graph:
    """The one-op IR graph a calibration point measures."""
    dt = _DTYPE[p.precision]
    if isinstance(p, AttentionPoint):
        kv = p.kv_heads or p.heads
        tensors = [
            TensorInfo("q", (p.batch, p.heads, p.q_len, p.head_dim), dt, "input"),
            TensorInfo("k", (p.batch, kv, p.kv_len, p.head_dim), dt, "input"),
            TensorInfo("v", (p.batch, kv, p.kv_len, p.head_dim), dt, "input"),
            TensorInfo("o", (p.batch, p.heads, p.q_len, p.head_dim), dt, "activation"),
        ]
        ops = [Op("sdpa", "sdpa", ("q", "k", "v"), ("o",), {"is_causal": p.causal, "enable_gqa": kv != p.heads})]
    elif isinstance(p, GemmPoint):
        a_shape = (p.batch, p.M, p.K) if p.batch > 1 else (p.M, p.K)
        c_shape = (p.batch, p.M, p.N) if p.batch > 1 else (p.M, p.N)
        out_dt = "int32" if p.precision == "int8" else dt
        tensors = [
            TensorInfo("a", a_shape, dt, "input"),
            TensorInfo("b", (p.K, p.N), dt, "weight"),
            TensorInfo("c", c_shape, out_dt, "activation"),
        ]
        ops = [Op("gemm", "matmul", ("a", "b"), ("c",))]
    else:
        shape = tuple(p.shape)
        tensors = [TensorInfo("x", shape, dt, "input"), TensorInfo("y", shape, dt, "activation")]
        if p.op == "gelu":
            ops = [Op("gelu", "gelu", ("x",), ("y",), {"approximate": "none"})]
        elif p.op == "softmax":
            ops = [Op("softmax", "softmax", ("x",), ("y",), {"dim": -1})]
        else:
            tensors += [TensorInfo("w", shape[-1:], dt, "weight"), TensorInfo("b", shape[-1:], dt, "weight")]
            ops = [Op("layer_norm", "layer_norm", ("x", "w", "b"), ("y",),
                      {"normalized_shape": [shape[-1]], "eps": 1e-5})]
    g = Graph(p.op, {t.name: t for t in tensors}, tuple(ops), tuple(t.name for t in tensors if t.kind == "input"),
              ops[-1].outputs)
    g.verify()
    return g


@dataclass(frozen=True)
class PointResult:
    op: str
    shape: str
    precision: str
    measured_s: float
    model_s: float  # what is compared with measured_s (kernel, or kernel + harness overhead)
    kernel_s: float  # the model's device time of the kernel
    bound: str  # compute / memory (the kernel's roof) or host (the harness overhead dominates)
    split: str = "held_out"
    note: str = ""
    host_floor_s: float = 0.0  # the harness's host time per call (0: kernel-only measurements)

    @property
    def error(self) -> float:
        """Relative error of the model: ``model / measured - 1``."""
        return self.model_s / self.measured_s - 1.0


@dataclass(frozen=True)
class CalibrationReport:
    file: str
    profile: str
    device: str
    includes_launch: bool
    points: tuple[PointResult, ...]

    def _sel(self, op: str | None, split: str | None) -> list[PointResult]:
        return [p for p in self.points if (op is None or p.op == op) and (split is None or p.split == split)]

    def mean_abs_error(self, op: str | None = None, split: str | None = None) -> float:
        errs = [abs(p.error) for p in self._sel(op, split)]
        return math.fsum(errs) / len(errs) if errs else math.nan

    def max_abs_error(self, split: str | None = None) -> float:
        errs = [abs(p.error) for p in self._sel(None, split)]
        return max(errs) if errs else math.nan

    def by_op(self, split: str | None = None) -> dict[str, float]:
        return {op: self.mean_abs_error(op, split) for op in sorted({p.op for p in self._sel(None, split)})}

    def count(self, split: str | None = None) -> int:
        return len(self._sel(None, split))

    def kernel_dominated(self, split: str | None = None) -> list[PointResult]:
        """Points measured at least twice the harness's host floor (every point of a kernel-only
        file): the ones that test the kernel model rather than the harness overhead. The test
        reads the measurement, not the model, so a point the model gets badly wrong stays in."""
        return [p for p in self._sel(None, split) if p.measured_s >= 2 * p.host_floor_s]

    def kernel_dominated_error(self, split: str | None = None) -> tuple[int, float]:
        """Number of :meth:`kernel_dominated` points and their mean |error| (nan if none)."""
        pts = self.kernel_dominated(split)
        return len(pts), (math.fsum(abs(p.error) for p in pts) / len(pts) if pts else math.nan)

    def to_dict(self) -> dict[str, Any]:
        def nan_none(x: float) -> float | None:
            return None if math.isnan(x) else x

        return {
            "file": self.file,
            "profile": self.profile,
            "device": self.device,
            "includes_launch": self.includes_launch,
            "mean_abs_error": self.mean_abs_error(),
            "max_abs_error": self.max_abs_error(),
            "mean_abs_error_by_op": self.by_op(),
            "held_out": {"points": self.count("held_out"),
                         "mean_abs_error": nan_none(self.mean_abs_error(split="held_out")),
                         "max_abs_error": nan_none(self.max_abs_error("held_out")),
                         "mean_abs_error_by_op": self.by_op("held_out")},
            "held_out_kernel_dominated": {"points": self.kernel_dominated_error("held_out")[0],
                                          "mean_abs_error": nan_none(self.kernel_dominated_error("held_out")[1])},
            "fit": {"points": self.count("fit"), "mean_abs_error": nan_none(self.mean_abs_error(split="fit")),
                    "mean_abs_error_by_op": self.by_op("fit")},
            "points": [
                {"op": p.op, "shape": p.shape, "precision": p.precision, "measured_s": p.measured_s,
                 "model_s": p.model_s, "kernel_s": p.kernel_s, "error": p.error, "bound": p.bound,
                 "split": p.split, "note": p.note}
                for p in self.points
            ],
        }


def calibration_from_dict(data: Any, file: str = "") -> Calibration:
    """Validate a mapping into a :class:`Calibration`; every problem in one :class:`SpecError`."""
    if not isinstance(data, Mapping):
        raise SpecError([Problem(file, "", "a GPU calibration file must be a YAML mapping")])
    try:
        cal = Calibration.model_validate(dict(data))
    except ValidationError as e:
        probs = []
        for err in e.errors():
            loc = tuple(err["loc"])
            if len(loc) >= 3 and loc[0] == "points" and loc[2] in _OPS:
                loc = loc[:2] + loc[3:]  # pydantic's union tag: points[3].gemm.M -> points[3].M
            msg = _message(err) if err.get("type") != "extra_forbidden" else "unknown key"
            if err.get("type") in ("union_tag_invalid", "union_tag_not_found"):
                msg = f"op must be one of {', '.join(_OPS)}"
            if loc == ("includes_launch",) and err.get("type") == "missing":
                msg = ("required key is missing: say whether the times include launch/framework "
                       "overhead (true) or are device time of the kernels only (false)")
            probs.append(Problem(file, _path(loc), msg))
        raise SpecError(list(dict.fromkeys(probs))) from None
    if cal.harness and not cal.includes_launch:
        raise SpecError([Problem(file, "harness", "a harness overhead only applies with includes_launch: true")])
    return cal


def load_calibration(name_or_path: str | Path) -> Calibration:
    """A calibration file by path, or a shipped one by stem (``"a100-llmcompass"``)."""
    if is_path_spec(name_or_path):
        path, label = Path(name_or_path), str(name_or_path)
    else:
        shipped = {p.stem: p for p in sorted(CALIBRATION_DIR.glob("*.yaml"))}
        name = str(name_or_path)
        if name not in shipped:
            raise SpecError(f"unknown GPU calibration '{name}' (shipped: {', '.join(shipped) or 'none'}; "
                            "or give a YAML path)")
        path, label = shipped[name], shipped[name].name
    return calibration_from_dict(read_yaml(path, label, "GPU calibration"), file=label)


# -- comparison ---------------------------------------------------------------------------------


def _harness_for(cal: Calibration, prof: GpuProfile, op: str) -> Harness:
    h = cal.harness.get(op)  # type: ignore[call-overload]
    if h is not None:
        return h
    return Harness(host_before_us=0.0, host_after_us=prof.framework_overhead_us + prof.launch_overhead_us)


def _predict(kernel_s: float, cal: Calibration, h: Harness) -> tuple[float, bool]:
    """What the model says the file measured, and whether the host overhead dominates."""
    if not cal.includes_launch:
        return kernel_s, False
    after = h.host_after_us * 1e-6
    return h.host_before_us * 1e-6 + max(kernel_s, after), after > kernel_s


class _Prepared:
    """A point's graph and op, built once (the fit evaluates each point many times)."""

    def __init__(self, p: AnyPoint) -> None:
        self.point = p
        self.graph = point_graph(p)
        self.op = self.graph.ops[0]

    def kernel(self, prof: GpuProfile) -> tuple[float, str]:
        kc = op_kernel(self.graph, self.op, prof, self.point.precision)
        assert kc is not None
        return kc.kernel_s, ("compute" if kc.compute_s >= kc.memory_s else "memory")


def compare(cal: Calibration | str | Path, profile: GpuProfile | str | None = None) -> CalibrationReport:
    """Every point of ``cal`` through the GPU model of ``profile`` (default: the file's own),
    like with like (see the module docstring)."""
    label = str(cal) if not isinstance(cal, Calibration) else ""
    c = cal if isinstance(cal, Calibration) else load_calibration(cal)
    if isinstance(profile, GpuProfile):
        prof = profile
    else:
        prof = load_profile(profile if profile is not None else c.profile)
    rows = []
    for p in c.points:
        k, roof = _Prepared(p).kernel(prof)
        h = _harness_for(c, prof, p.op)
        model, host = _predict(k, c, h)
        floor = (h.host_before_us + h.host_after_us) * 1e-6 if c.includes_launch else 0.0
        rows.append(PointResult(p.op, p.label(), p.precision, p.time_s, model, k,
                                "host" if host else roof, p.split, p.note, floor))
    return CalibrationReport(label, prof.name, c.device, c.includes_launch, tuple(rows))


# -- fit ------------------------------------------------------------------------------------------

#: op -> the profile knobs its points determine (dotted: a key of class_memory_efficiency).
FIT_KNOBS: dict[str, tuple[str, ...]] = {
    "gemm": ("gemm_max_efficiency", "gemm_memory_efficiency"),
    "softmax": ("class_memory_efficiency.softmax",),
    "layer_norm": ("class_memory_efficiency.norm",),
    "gelu": ("class_memory_efficiency.elementwise",),
    "sdpa": ("attention_max_efficiency", "class_memory_efficiency.attention"),
}
_EFF_COARSE = tuple(round(0.30 + 0.02 * i, 3) for i in range(36))  # 0.30 .. 1.00
_EFF_STEP = 0.005  # then every 0.005 within 0.02 of the coarse optimum
_HOST_COARSE_US = 1.0  # harness search: every 1 us from 0 to 100 us, then every 0.1 us nearby
_HOST_MAX_US = 100.0
_HOST_FINE_US = 0.1
_START_EFF = 0.5
_MAX_ROUNDS = 20


@dataclass(frozen=True)
class FitResult:
    """What :func:`fit` found: profile knobs (``"class_memory_efficiency.softmax"`` style names
    for class efficiencies), the harness per op (only with ``includes_launch``), the mean |error|
    on the fitted points per op, and the profile with the knobs applied."""

    knobs: dict[str, float]
    harness: dict[str, Harness]
    fit_error_by_op: dict[str, float]
    profile: GpuProfile


def _with_knobs(prof: GpuProfile, knobs: Mapping[str, float]) -> GpuProfile:
    """``prof`` with ``knobs`` set (validated like a profile file)."""
    data = prof.model_dump()
    cls: dict[str, float] = dict(data["class_memory_efficiency"])
    for k, v in knobs.items():
        if k.startswith("class_memory_efficiency."):
            cls[k.split(".", 1)[1]] = v
        else:
            data[k] = v
    data["class_memory_efficiency"] = cls
    return GpuProfile.model_validate(data)


def _best_harness(kernels_s: Sequence[float], measured_s: Sequence[float]) -> tuple[float, float, float]:
    """The (host_before_us, host_after_us) minimising the mean |error| of ``before + max(kernel,
    after)``, searched exhaustively on a 1 us grid over [0, 100] us and then on a 0.1 us grid
    within 1 us of the best; returns them and the error. Ties go to the smaller values."""
    import numpy as np

    k = np.asarray(kernels_s, dtype=float) * 1e6
    m = np.asarray(measured_s, dtype=float) * 1e6

    def search(b_grid: Any, a_grid: Any) -> tuple[float, float, float]:
        b = b_grid[:, None, None]
        a = a_grid[None, :, None]
        err = np.abs((b + np.maximum(k[None, None, :], a)) / m[None, None, :] - 1).mean(axis=2)
        i, j = np.unravel_index(int(np.argmin(err)), err.shape)  # first minimum: smallest b, a
        return float(b_grid[i]), float(a_grid[j]), float(err[i, j])

    n = round(_HOST_MAX_US / _HOST_COARSE_US) + 1
    coarse = np.round(np.arange(n) * _HOST_COARSE_US, 1)
    b0, a0, _ = search(coarse, coarse)
    steps = round(_HOST_COARSE_US / _HOST_FINE_US)

    def fine(c: float) -> Any:
        g = np.round(c + np.arange(-steps, steps + 1) * _HOST_FINE_US, 1)
        return g[(g >= 0) & (g <= _HOST_MAX_US)]

    return search(fine(b0), fine(a0))


def _descend(params: dict[str, float], objective: Callable[[dict[str, float]], float]) -> dict[str, float]:
    """Coordinate descent of the efficiencies: on a 0.02 grid over [0.3, 1], then on a 0.005
    grid within 0.02 of that optimum; ties keep the current value, then the smaller one.
    Deterministic."""

    def sweep(params: dict[str, float], grids: Mapping[str, Sequence[float]]) -> dict[str, float]:
        best = objective(params)
        for _ in range(_MAX_ROUNDS):
            moved = False
            for name in sorted(params):
                for v in grids[name]:
                    if v == params[name]:
                        continue
                    trial = {**params, name: v}
                    e = objective(trial)
                    if e < best - 1e-12:
                        best, params, moved = e, trial, True
            if not moved:
                break
        return params

    params = sweep(params, {n: _EFF_COARSE for n in params})
    fine = {n: tuple(v for v in (round(c + _EFF_STEP * i, 3) for i in range(-4, 5)) if 0 < v <= 1)
            for n, c in params.items()}
    return sweep(params, fine)


def fit(cal: Calibration | str | Path, profile: GpuProfile | str | None = None,
        ops: Sequence[str] | None = None) -> FitResult:
    """Fit the knobs of :data:`FIT_KNOBS` (and the harness, with ``includes_launch``) to the
    ``split: fit`` points of ``cal``; see the module docstring. For each op: coordinate descent
    of its efficiencies from 0.5, each trial scored with its best harness. Ops without fitted
    points keep the profile's values; ``ops`` restricts the fit to those ops."""
    c = cal if isinstance(cal, Calibration) else load_calibration(cal)
    if isinstance(profile, GpuProfile):
        base = profile
    else:
        base = load_profile(profile if profile is not None else c.profile)
    knobs: dict[str, float] = {}
    harness: dict[str, Harness] = {}
    errs: dict[str, float] = {}
    for op in sorted(FIT_KNOBS):
        if ops is not None and op not in ops:
            continue
        pts = [_Prepared(p) for p in c.points if p.op == op and p.split == "fit"]
        if not pts:
            continue
        names = FIT_KNOBS[op]
        meas = [p.point.time_s for p in pts]
        cache: dict[tuple[float, ...], tuple[float, float, float]] = {}

        def score(vals: tuple[float, ...], names: tuple[str, ...] = names, pts: list[_Prepared] = pts,
                  meas: list[float] = meas,
                  cache: dict[tuple[float, ...], tuple[float, float, float]] = cache) -> tuple[float, float, float]:
            """(error, host_before_us, host_after_us) of the efficiencies ``vals``."""
            if vals not in cache:
                prof = _with_knobs(base, dict(zip(names, vals)))
                ks = [p.kernel(prof)[0] for p in pts]
                if c.includes_launch:
                    b, a, e = _best_harness(ks, meas)
                else:
                    b, a, e = 0.0, 0.0, math.fsum(abs(k / m - 1) for k, m in zip(ks, meas)) / len(meas)
                cache[vals] = (e, b, a)
            return cache[vals]

        def objective(params: dict[str, float], names: tuple[str, ...] = names,
                      score: Callable[[tuple[float, ...]], tuple[float, float, float]] = score) -> float:
            return score(tuple(params[n] for n in names))[0]

        params = _descend({n: _START_EFF for n in names}, objective)
        knobs.update({n: params[n] for n in names})
        e, b, a = score(tuple(params[n] for n in names))
        if c.includes_launch:
            harness[op] = Harness(host_before_us=b, host_after_us=a)
        errs[op] = e
    return FitResult(knobs, harness, errs, _with_knobs(base, knobs))
