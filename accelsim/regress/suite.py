"""The regression suite file and the baseline file.

Suite (YAML)::

    version: 1
    metrics:                     # merged over DEFAULT_METRICS; `name: null` drops one
      total_cycles:    {rel: 0.01, direction: lower_is_better}
      energy_j:        {rel: 0.02, direction: lower_is_better}
      mac_utilization: {abs: 0.01, direction: higher_is_better}
      dram_bytes:      {direction: exact}           # no rel/abs: any change fails
    cases:
      - name: gemm-edge
        arch: edge-int8          # path (relative to the suite file, then cwd) or shipped name
        workload: gemm:M=256,N=256,K=256
        params: {}               # workload parameters (seq, batch, ...)
        set: ["dram.channels=1"] # arch overrides
        options: {compat: scalesim, check: false}
        max_wall_s: 30           # optional: fail when the simulation takes longer (wall clock)

A metric passes when its change is within ``max(rel x |baseline|, abs)``; with
``lower_is_better``/``higher_is_better`` only a change in the bad direction can fail, with
``exact`` either direction fails. A result that carries ``check.passed: false`` always fails.

Baseline (JSON, written only by ``accelsim regress --update-baseline``; sorted keys)::

    {"format": "accelsim.baseline/1", "accelsim_version": "0.1.0", "suite": "suite.yaml",
     "cases": {"gemm-edge": {"arch": ..., "workload": ..., "inputs_digest": ..., "metrics": {...}}}}
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from accelsim.errors import Problem, SpecError
from accelsim.specio import read_json
from accelsim.sweep.metrics import metric_problem
from accelsim.sweep.spec import (
    GenerateSpec,  # noqa: E402
    _mapping_problems,
    read_yaml_file,
    validation_problems,
)

__all__ = [
    "BASELINE_FORMAT",
    "DEFAULT_METRICS",
    "Baseline",
    "BaselineCase",
    "Case",
    "CaseOptions",
    "LoadedSuite",
    "Suite",
    "Tolerance",
    "dump_baseline",
    "load_baseline",
    "load_suite",
]

BASELINE_FORMAT: Literal["accelsim.baseline/1"] = "accelsim.baseline/1"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def _known_metric(name: str) -> str:
    prob = metric_problem(name)
    if prob:
        raise ValueError(prob)
    return name


MetricName = Annotated[str, AfterValidator(_known_metric)]


class Tolerance(_Frozen):
    """How far a metric may move from its baseline."""

    rel: Annotated[float, Field(ge=0)] | None = Field(None, description="relative tolerance (0.01 = 1 %)")
    abs: Annotated[float, Field(ge=0)] | None = Field(None, description="absolute tolerance, in the metric's unit")
    direction: Literal["lower_is_better", "higher_is_better", "exact"] = Field(
        "lower_is_better", description="which way is a regression (exact: both)"
    )

    def allowed(self, baseline: float) -> float:
        return max(self.rel * abs(baseline) if self.rel is not None else 0.0, self.abs or 0.0)

    def describe(self) -> str:
        parts = []
        if self.rel is not None:
            parts.append(f"{self.rel * 100:g} %")
        if self.abs is not None:
            parts.append(f"{self.abs:g}")
        tol = " or ".join(parts) if parts else "0"
        return f"{tol}, {self.direction}"


#: Tracked when a suite names no metrics.
DEFAULT_METRICS: dict[str, Tolerance] = {
    "total_cycles": Tolerance(rel=0.01, direction="lower_is_better"),
    "energy_j": Tolerance(rel=0.02, direction="lower_is_better"),
    "mac_utilization": Tolerance(abs=0.01, direction="higher_is_better"),
}


class CaseOptions(_Frozen):
    compat: Literal["scalesim"] | None = Field(None, description="scalesim: SCALE-Sim compatible timing")
    check: bool = Field(False, description="run the functional (numerics) check; it must pass")
    mapping: dict[str, Any] = Field(default_factory=dict, description="MappingOptions fields")

    @field_validator("mapping")
    @classmethod
    def _known_mapping_fields(cls, v: dict[str, Any]) -> dict[str, Any]:
        from accelsim.mapping.options import MappingOptions

        allowed = sorted(f for f in MappingOptions.model_fields if f != "mode")
        bad = sorted(set(v) - set(allowed))
        if bad:
            raise ValueError(f"unknown mapping option(s) {', '.join(bad)} (allowed: {', '.join(allowed)})")
        return v


class Case(_Frozen):
    name: str = Field(min_length=1, pattern=r"^[^\s]+$", description="unique case name (no spaces)")
    arch: str = Field(min_length=1)
    workload: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    set: list[str] = Field(default_factory=list, description="arch overrides PATH=VALUE")
    options: CaseOptions = Field(default_factory=CaseOptions)
    max_wall_s: Annotated[float, Field(gt=0)] | None = Field(None, description="wall-clock budget (s)")
    generate: GenerateSpec | None = Field(
        None, description="an LLM generation (prompt, generate, batch): the case runs the prefill and the "
        "decode steps (docs/inference.md), so inference metrics (tpot_s, ...) can be tracked")
    metrics: dict[MetricName, Tolerance | None] = Field(
        default_factory=dict, description="metrics tracked for this case besides the suite's (e.g. tpot_s)")


def case_tolerances(case: Case, suite_tolerances: dict[str, Tolerance]) -> dict[str, Tolerance]:
    """The suite's tracked metrics plus the case's own (a None tolerance stops tracking one)."""
    out = dict(suite_tolerances)
    for k, t in case.metrics.items():
        if t is None:
            out.pop(k, None)
        else:
            out[k] = t
    return out


class Suite(_Frozen):
    version: Literal[1] = 1
    metrics: dict[MetricName, Tolerance | None] = Field(
        default_factory=dict, description="tracked metric -> tolerance, merged over the defaults; null drops one")
    cases: list[Case] = Field(min_length=1)

    @field_validator("cases")
    @classmethod
    def _unique(cls, v: list[Case]) -> list[Case]:
        seen: set[str] = set()
        for c in v:
            if c.name in seen:
                raise ValueError(f"case name {c.name!r} is used twice")
            seen.add(c.name)
        return v

    def tolerances(self) -> dict[str, Tolerance]:
        out = dict(DEFAULT_METRICS)
        for k, t in self.metrics.items():
            if t is None:
                out.pop(k, None)
            else:
                out[k] = t
        return out


@dataclass(frozen=True)
class LoadedSuite:
    suite: Suite
    file: str

    @property
    def dir(self) -> Path:
        return Path(self.file).parent


def load_suite(path: str | os.PathLike[str]) -> LoadedSuite:
    """Read and validate a suite file; :class:`SpecError` lists every problem."""
    file = os.fspath(path)
    data = read_yaml_file(Path(file), file, "suite file")
    if data is None:
        raise SpecError(Problem(file, "", "file is empty (expected a suite with cases)"))
    if not isinstance(data, Mapping):
        raise SpecError(Problem(file, "", "top level must be a mapping with 'cases'"))
    try:
        suite = Suite.model_validate(data)
    except ValidationError as e:
        raise SpecError(validation_problems(Suite, e, file)) from None
    problems: list[Problem] = []
    if not suite.tolerances():
        problems.append(Problem(file, "metrics", "the suite tracks no metric (every default is dropped with "
                                                 "null): the gate would pass anything"))
    for i, c in enumerate(suite.cases):
        mode = "scalesim" if c.options.compat == "scalesim" else "pipelined"
        problems += _mapping_problems(mode, c.options.mapping, file, ("cases", i, "options", "mapping"))
    if problems:
        raise SpecError(problems)
    return LoadedSuite(suite, file)


# ------------------------------------------------------------------------------- baseline

def _metric_number(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float)):
        return v
    raise ValueError(f"expected a number, true/false or null (got {v!r})")


Number = Annotated[Any, AfterValidator(_metric_number)]


class BaselineCase(_Frozen):
    arch: str
    workload: str
    params: dict[str, Any] = Field(default_factory=dict)
    set: list[str] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)
    generate: dict[str, Any] | None = None
    inputs_digest: str = ""
    metrics: dict[str, Number]


class Baseline(_Frozen):
    format: Literal["accelsim.baseline/1"]
    accelsim_version: str
    suite: str = ""
    cases: dict[str, BaselineCase]


def load_baseline(path: str | os.PathLike[str]) -> Baseline:
    """Read and validate a baseline JSON file; :class:`SpecError` (exit 2) when malformed."""
    file = os.fspath(path)
    if not os.path.lexists(file):
        raise SpecError(Problem(file, "", "baseline file not found (create it with "
                                "`accelsim regress SUITE --update-baseline`)"))
    data = read_json(file, file, "baseline")
    if not isinstance(data, dict):
        raise SpecError(Problem(file, "", "top level must be an object with 'format' and 'cases'"))
    try:
        return Baseline.model_validate(data)
    except ValidationError as e:
        raise SpecError(validation_problems(Baseline, e, file)) from None


def dump_baseline(b: Baseline) -> str:
    """Deterministic JSON text: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(b.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=True) + "\n"
