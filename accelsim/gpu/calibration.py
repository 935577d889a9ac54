"""GPU calibration: measured per-op times, and the roofline model's error against them.

A calibration file (YAML) records kernel times measured on a real GPU, with how they were taken::

    format: accelsim.gpu-calibration/1
    profile: a100                 # the accelsim profile these numbers calibrate (name, alias, path)
    device: NVIDIA A100-SXM4-80GB
    source: where the numbers come from (a paper's artefact, or this repo's measurement script)
    method: how they were taken (timer, warm-up, repeats, statistic, clocks, software versions)
    points:
      - {op: gemm, M: 8192, N: 12288, K: 12288, precision: fp16, time_s: 4.3e-3}
      - {op: gelu, shape: [536870912], precision: fp16, time_s: 1.37e-3}
      - {op: softmax, shape: [4096, 4096], precision: bf16, time_s: 9.1e-5}
      - {op: layer_norm, shape: [8192, 768], precision: bf16, time_s: 2.2e-5}

``gemm`` is ``[batch x] [M, K] @ [K, N]``; ``softmax`` and ``layer_norm`` act on the last axis of
``shape`` (layer_norm with weight and bias); ``gelu`` is the exact (erf) GELU. Each point may
carry a ``note``. ``benchmarks/gpu_calibrate.py`` writes such a file on a CUDA machine;
:func:`compare` (and ``accelsim gpu-calibration FILE``) runs every point through
:func:`~accelsim.gpu.model.simulate_gpu` and reports the model's relative error,
``model / measured - 1``, per point, per op and overall.

Shipped files live in ``accelsim/gpu/calibration/`` (found by stem, e.g. ``a100-published``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from accelsim.errors import Problem, SpecError
from accelsim.gpu.model import simulate_gpu
from accelsim.gpu.profile import GpuProfile, _message, _path, is_path_spec, load_profile, read_yaml
from accelsim.workload.ir import Graph, Op, TensorInfo

__all__ = [
    "CALIBRATION_DIR",
    "FORMAT",
    "Calibration",
    "CalibrationReport",
    "PointResult",
    "compare",
    "load_calibration",
    "point_graph",
]

FORMAT = "accelsim.gpu-calibration/1"
#: Shipped calibration files (package data).
CALIBRATION_DIR = Path(__file__).parent / "calibration"

_DTYPE = {"fp32": "float32", "tf32": "float32", "fp16": "float16", "bf16": "bfloat16", "int8": "int8"}
_POS_INT = Annotated[int, Field(gt=0)]
_OPS = ("gemm", "gelu", "softmax", "layer_norm")


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
    note: str = ""

    def label(self) -> str:
        b = f"{self.batch}x" if self.batch > 1 else ""
        return f"{b}{self.M}x{self.N}x{self.K}"


class VectorPoint(_Frozen):
    op: Literal["gelu", "softmax", "layer_norm"]
    shape: Annotated[list[_POS_INT], Field(min_length=1, max_length=6)]
    precision: Literal["fp32", "fp16", "bf16"]
    time_s: Annotated[float, Field(gt=0)]
    note: str = ""

    def label(self) -> str:
        return "x".join(str(s) for s in self.shape)


Point = Annotated[GemmPoint | VectorPoint, Field(discriminator="op")]


class Calibration(_Frozen):
    format: Literal["accelsim.gpu-calibration/1"]
    profile: str
    device: str
    source: str
    method: str
    notes: str = ""
    points: Annotated[list[Point], Field(min_length=1)]


def point_graph(p: GemmPoint | VectorPoint) -> Graph:
    """The one-op IR graph a calibration point measures."""
    dt = _DTYPE[p.precision]
    if isinstance(p, GemmPoint):
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
    model_s: float
    bound: str  # the model's binding roof: compute / memory / launch
    note: str = ""

    @property
    def error(self) -> float:
        """Relative error of the model: ``model / measured - 1``."""
        return self.model_s / self.measured_s - 1.0


@dataclass(frozen=True)
class CalibrationReport:
    file: str
    profile: str
    device: str
    points: tuple[PointResult, ...]

    def mean_abs_error(self, op: str | None = None) -> float:
        errs = [abs(p.error) for p in self.points if op is None or p.op == op]
        return math.fsum(errs) / len(errs) if errs else math.nan

    def max_abs_error(self) -> float:
        return max(abs(p.error) for p in self.points)

    def by_op(self) -> dict[str, float]:
        return {op: self.mean_abs_error(op) for op in sorted({p.op for p in self.points})}

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "profile": self.profile,
            "device": self.device,
            "mean_abs_error": self.mean_abs_error(),
            "max_abs_error": self.max_abs_error(),
            "mean_abs_error_by_op": self.by_op(),
            "points": [
                {"op": p.op, "shape": p.shape, "precision": p.precision, "measured_s": p.measured_s,
                 "model_s": p.model_s, "error": p.error, "bound": p.bound, "note": p.note}
                for p in self.points
            ],
        }


def calibration_from_dict(data: Any, file: str = "") -> Calibration:
    """Validate a mapping into a :class:`Calibration`; every problem in one :class:`SpecError`."""
    if not isinstance(data, Mapping):
        raise SpecError([Problem(file, "", "a GPU calibration file must be a YAML mapping")])
    try:
        return Calibration.model_validate(dict(data))
    except ValidationError as e:
        probs = []
        for err in e.errors():
            loc = tuple(err["loc"])
            if len(loc) >= 3 and loc[0] == "points" and loc[2] in _OPS:
                loc = loc[:2] + loc[3:]  # pydantic's union tag: points[3].gemm.M -> points[3].M
            msg = _message(err) if err.get("type") != "extra_forbidden" else "unknown key"
            if err.get("type") in ("union_tag_invalid", "union_tag_not_found"):
                msg = f"op must be one of {', '.join(_OPS)}"
            probs.append(Problem(file, _path(loc), msg))
        raise SpecError(list(dict.fromkeys(probs))) from None


def load_calibration(name_or_path: str | Path) -> Calibration:
    """A calibration file by path, or a shipped one by stem (``"a100-published"``)."""
    if is_path_spec(name_or_path):
        path, label = Path(name_or_path), str(name_or_path)
    else:
        shipped = {p.stem: p for p in sorted(CALIBRATION_DIR.glob("*.yaml"))}
        name = str(name_or_path)
        if name not in shipped:
            raise SpecError(f"unknown GPU calibration '{name}' (shipped: {', '.join(shipped) or 'none'}; or give a YAML path)")
        path, label = shipped[name], shipped[name].name
    return calibration_from_dict(read_yaml(path, label, "GPU calibration"), file=label)


def compare(cal: Calibration | str | Path, profile: GpuProfile | str | None = None) -> CalibrationReport:
    """Every point of ``cal`` through the GPU model of ``profile`` (default: the file's own)."""
    label = str(cal) if not isinstance(cal, Calibration) else ""
    c = cal if isinstance(cal, Calibration) else load_calibration(cal)
    prof = load_profile(profile if profile is not None else c.profile) if not isinstance(profile, GpuProfile) else profile
    rows = []
    for p in c.points:
        r = simulate_gpu(point_graph(p), prof, p.precision)
        rows.append(PointResult(p.op, p.label(), p.precision, p.time_s, r.latency_s, r.ops[0].bound, p.note))
    return CalibrationReport(label, prof.name, c.device, tuple(rows))
