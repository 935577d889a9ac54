"""The sweep file: a frozen, validated model of a design-space exploration.

A sweep file names a base architecture, the arch fields to vary, how to pick points, the
workloads and the objectives::

    version: 1
    base: ../../archs/edge-int8.yaml      # path (relative to this file, then cwd) or shipped name
    set: ["dram.channels=2"]              # optional: overrides applied to the base for every point
    parameters:                           # arch YAML path -> values (a grid dimension each)
      arrays[0].rows: [16, 32, 64]
      arrays[0].cols: [16, 32, 64]
      dram.bandwidth_gbps: [12.8, 25.6]
      options.mapping.tile_k_folds: [4, 8]   # "options." paths vary the run options instead
    coupled:                              # optional: lists that vary together (one dimension)
      - {sram.bank_size_kib: [32, 64], dram.capacity_gib: [4, 8]}
    strategy: grid                        # or {kind: random, samples: 20, seed: 0}
                                          # or {kind: nsga2, trials: 40, seed: 0, population: 8}
    workloads:
      - {name: gpt2-tiny, params: {seq: 64}}
    objectives:                           # default: latency_s min, energy_j min
      - latency_s                         # a bare name means "min"
      - {metric: mac_utilization, direction: max}
    options: {mode: pipelined}            # pipelined | scalesim, plus mapping knobs

:func:`load_sweep` reads and validates the file; every problem is reported at once as
``file: yaml.path: message`` in one :class:`~accelsim.errors.SpecError`.

This module also defines the metric vocabulary shared by sweeps and the regression gate:
:data:`METRICS` (the columns of ``results.csv``) and :func:`metric_value`.
"""

from __future__ import annotations

import math
import os
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, field_validator

from accelsim.errors import Problem, SpecError

__all__ = [
    "METRICS",
    "MAXIMIZE_METRICS",
    "Grid",
    "LoadedSweep",
    "Nsga2",
    "Objective",
    "Random",
    "RunOptionsSpec",
    "SweepSpec",
    "WorkloadSpec",
    "extract_metrics",
    "load_sweep",
    "metric_value",
    "read_yaml_file",
    "resolve_arch_path",
    "validation_problems",
    "workload_label",
]

# ------------------------------------------------------------------------------- metrics

#: Metric columns of results.csv and the names objectives/tolerances use, with where each lives
#: in result.json (first path that exists wins). Absent metrics are ``None``.
METRICS: dict[str, tuple[str, ...]] = {
    "total_cycles": ("total_cycles",),
    "latency_s": ("latency_s",),
    "energy_j": ("energy_j", "energy.total_j"),
    "power_w": ("power_w", "energy.power_w"),
    "area_mm2": ("area_mm2", "area.total_mm2"),
    "mac_utilization": ("array_utilization.mac_utilization", "mac_utilization"),
    "speedup_vs_gpu": ("speedup_vs_gpu", "gpu.speedup_vs_gpu"),
    "energy_ratio_vs_gpu": ("energy_ratio_vs_gpu", "gpu.energy_ratio_vs_gpu"),
    "macs": ("macs",),
    "dram_read_bytes": ("dram_read_bytes",),
    "dram_write_bytes": ("dram_write_bytes",),
    "dram_bytes": (),  # read + write, computed
    "bank_conflict_stall_cycles": ("bank_conflict_stall_cycles",),
    "dma_stall_cycles": ("dma_stall_cycles",),
    "check_passed": ("check.passed",),
}

#: Metrics where larger is better (objectives default to ``max`` for them when no direction is given).
MAXIMIZE_METRICS = frozenset({"mac_utilization", "speedup_vs_gpu"})

_MISSING = object()


def _walk(data: Any, path: str) -> Any:
    node = data
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return _MISSING
    return node


def metric_value(data: Mapping[str, Any], name: str) -> Any:
    """The value of metric ``name`` in a result.json dict, or ``None`` when absent.

    ``name`` is one of :data:`METRICS` or any dotted path into result.json
    (e.g. ``units.sa0.utilization``).
    """
    if name == "dram_bytes":
        r, w = metric_value(data, "dram_read_bytes"), metric_value(data, "dram_write_bytes")
        return None if r is None or w is None else r + w
    for path in METRICS.get(name, (name,)):
        v = _walk(data, path)
        if v is not _MISSING:
            if isinstance(v, float) and math.isnan(v):
                return None
            return v
    return None


def extract_metrics(data: Mapping[str, Any]) -> dict[str, Any]:
    """Every metric of :data:`METRICS` from a result.json dict (``None`` when absent)."""
    return {name: metric_value(data, name) for name in METRICS}


# ------------------------------------------------------------------------------- model


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Grid(_Frozen):
    """Every combination of the parameter values (a full factorial)."""

    kind: Literal["grid"] = "grid"


class Random(_Frozen):
    """``samples`` distinct grid points drawn uniformly with a seeded RNG."""

    kind: Literal["random"] = "random"
    samples: PositiveInt = Field(description="number of distinct points to draw")
    seed: int = Field(0, description="RNG seed (same seed, same points)")


class Nsga2(_Frozen):
    """Optuna's NSGA-II genetic search over the parameter values, ``trials`` configurations."""

    kind: Literal["nsga2"] = "nsga2"
    trials: PositiveInt = Field(description="number of configurations to evaluate")
    seed: int = Field(0, description="sampler seed (same seed, same trials)")
    population: Annotated[int, Field(ge=2)] = Field(
        8, description="NSGA-II population size; one generation is evaluated in parallel"
    )


Strategy = Annotated[Grid | Random | Nsga2, Field(discriminator="kind")]
STRATEGIES: dict[str, type[BaseModel]] = {"grid": Grid, "random": Random, "nsga2": Nsga2}


class WorkloadSpec(_Frozen):
    name: str = Field(min_length=1, description="workload spec: gpt2-tiny, gemm:M=..,N=..,K=.., ...")
    params: dict[str, Any] = Field(default_factory=dict, description="workload parameters (seq, batch, ...)")


class Objective(_Frozen):
    metric: str = Field(min_length=1, description="a metric name or dotted result.json path")
    direction: Literal["min", "max"] = "min"


class RunOptionsSpec(_Frozen):
    mode: Literal["pipelined", "scalesim"] = Field(
        "pipelined", description="timing mode (scalesim: SCALE-Sim compatible timing)"
    )
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


def _default_objectives() -> list[Objective]:
    return [Objective(metric="latency_s"), Objective(metric="energy_j")]


ParamValues = Annotated[list[Any], Field(min_length=1)]


class SweepSpec(_Frozen):
    """A whole sweep file."""

    version: Literal[1] = 1
    name: str | None = Field(None, description="label; defaults to the file name")
    base: str = Field(min_length=1, description="base architecture: a YAML path or shipped name")
    set: list[str] = Field(default_factory=list, description="overrides applied to the base for every point")
    parameters: dict[str, ParamValues] = Field(
        default_factory=dict, description="arch YAML path -> list of values (one grid dimension each)"
    )
    coupled: list[dict[str, ParamValues]] = Field(
        default_factory=list, description="groups of equal-length lists that vary together"
    )
    strategy: Strategy = Field(default_factory=Grid)
    workloads: list[WorkloadSpec] = Field(min_length=1)
    objectives: list[Objective] = Field(default_factory=_default_objectives, min_length=1)
    options: RunOptionsSpec = Field(default_factory=RunOptionsSpec)

    @field_validator("strategy", mode="before")
    @classmethod
    def _strategy_shorthand(cls, v: Any) -> Any:
        if isinstance(v, str):
            return {"kind": v}
        return v

    @field_validator("objectives", mode="before")
    @classmethod
    def _objective_shorthand(cls, v: Any) -> Any:
        if not isinstance(v, list):
            return v
        out = []
        for item in v:
            if isinstance(item, str):
                item = {"metric": item}
            elif isinstance(item, Mapping) and len(item) == 1 and "metric" not in item:
                ((k, d),) = item.items()  # {latency_s: min} shorthand
                item = {"metric": k, "direction": d}
            if isinstance(item, Mapping) and "direction" not in item and item.get("metric") in MAXIMIZE_METRICS:
                item = {**item, "direction": "max"}
            out.append(item)
        return out

    @field_validator("workloads", mode="before")
    @classmethod
    def _workload_shorthand(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"name": w} if isinstance(w, str) else w for w in v]
        return v

    # ---- derived
    def dimensions(self) -> list[list[tuple[str, list[Any]]]]:
        """Grid dimensions: each a list of (path, values) that vary together (len 1 unless coupled)."""
        dims: list[list[tuple[str, list[Any]]]] = [[(p, list(v))] for p, v in self.parameters.items()]
        for group in self.coupled:
            dims.append([(p, list(v)) for p, v in group.items()])
        return dims

    def parameter_names(self) -> list[str]:
        return [p for dim in self.dimensions() for p, _ in dim]

    def grid_size(self) -> int:
        return math.prod(len(dim[0][1]) for dim in self.dimensions())


@dataclass(frozen=True)
class LoadedSweep:
    """A validated sweep plus what loading resolved: the file label, base arch file and dict."""

    spec: SweepSpec
    file: str  # as the user gave it (labels errors)
    base_file: str  # the resolved base architecture file (labels point errors)
    base: dict[str, Any] = field(repr=False)  # base arch dict with ``set`` applied

    @property
    def name(self) -> str:
        return self.spec.name or Path(self.file).stem


def workload_label(w: WorkloadSpec) -> str:
    """``gpt2-tiny[seq=64]``: the workload column of results.csv."""
    if not w.params:
        return w.name
    inner = ",".join(f"{k}={w.params[k]}" for k in sorted(w.params))
    return f"{w.name}[{inner}]"


# ------------------------------------------------------------------------------- errors


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _fmt_loc(loc: Sequence[Any]) -> str:
    out = ""
    for seg in loc:
        if isinstance(seg, int):
            out += f"[{seg}]"
        elif _IDENT.match(str(seg)):
            out += f".{seg}" if out else str(seg)
        else:
            out += f"[{str(seg)!r}]"  # a key that is itself a path: parameters['arrays[0].rows']
    return out


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def _model_at(root: type[BaseModel], loc: Sequence[Any]) -> tuple[list[Any], type[BaseModel] | None]:
    """Walk ``loc`` through ``root``; returns the user-facing path (union tags dropped) and
    the model the last segment belongs to."""
    tp: Any = root
    parent: type[BaseModel] | None = None
    path: list[Any] = []
    for seg in loc:
        tp = _unwrap(tp)
        origin = typing.get_origin(tp)
        if origin in (typing.Union, types.UnionType):  # a discriminated union: seg is the tag
            members: dict[Any, Any] = {}
            for m in map(_unwrap, typing.get_args(tp)):
                if isinstance(m, type) and issubclass(m, BaseModel) and "kind" in m.model_fields:
                    members[typing.get_args(m.model_fields["kind"].annotation)[0]] = m
            if seg in members:
                tp = members[seg]
                continue
        path.append(seg)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            parent = tp
            f = tp.model_fields.get(str(seg))
            tp = f.annotation if f is not None else None
        elif origin is list:
            tp = typing.get_args(tp)[0]
            parent = None
        elif origin is dict:
            tp = typing.get_args(tp)[1]
            parent = None
        else:
            tp, parent = None, None
    return path, parent


def _got(v: Any) -> str:
    if isinstance(v, Mapping):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    if v is None:
        return "null"
    return repr(v)


def validation_problems(model: type[BaseModel], err: ValidationError, file: str) -> list[Problem]:
    """Pydantic errors -> :class:`Problem` s with YAML paths and short messages."""
    problems: list[Problem] = []
    for e in err.errors():
        loc = tuple(e["loc"])
        path, parent = _model_at(model, loc)
        kind, ctx = e["type"], e.get("ctx") or {}
        if kind == "missing":
            msg = "required"
        elif kind == "extra_forbidden":
            allowed = sorted(parent.model_fields) if parent is not None else []
            msg = f"unknown key (allowed: {', '.join(allowed)})" if allowed else "unknown key"
        elif kind == "union_tag_invalid":
            msg = f"unknown kind {ctx.get('tag')!r} (valid: {', '.join(STRATEGIES)})"
        elif kind == "union_tag_not_found":
            msg = f"needs a 'kind' (one of {', '.join(STRATEGIES)})"
        elif kind == "literal_error":
            msg = f"must be {ctx.get('expected')} (got {_got(e.get('input'))})"
        elif kind == "too_short":
            msg = f"must have at least {ctx.get('min_length')} entries (got {ctx.get('actual_length')})"
        elif kind in ("greater_than", "greater_than_equal"):
            op, b = (">", ctx.get("gt")) if kind == "greater_than" else (">=", ctx.get("ge"))
            msg = f"must be {op} {b} (got {_got(e.get('input'))})"
        elif kind in ("int_type", "int_parsing", "int_from_float"):
            msg = f"expected an integer, got {_got(e.get('input'))}"
        elif kind in ("list_type",):
            msg = f"expected a list, got {_got(e.get('input'))}"
        elif kind in ("dict_type", "model_type", "model_attributes_type"):
            msg = f"expected a mapping, got {_got(e.get('input'))}"
        elif kind in ("string_type",):
            msg = f"expected a string, got {_got(e.get('input'))}"
        elif kind == "value_error":
            msg = str(ctx.get("error", e["msg"]))
        else:
            text = str(e.get("msg", kind))
            msg = text[:1].lower() + text[1:]
        problems.append(Problem(file, _fmt_loc(path), msg))
    return problems


# ------------------------------------------------------------------------------- loading


def read_yaml_file(path: Path, file: str) -> Any:
    """Parse one YAML file (duplicate keys and syntax errors become a SpecError naming ``file``)."""
    from accelsim.arch.load import _read_yaml

    data, problems = _read_yaml(path, file)
    if problems:
        raise SpecError(problems)
    return data


def resolve_arch_path(name: str, relative_to: Path) -> Path:
    """A base arch: relative to the sweep/suite file's directory, then cwd, then shipped names."""
    from accelsim.arch.load import find_arch

    p = Path(name)
    if not p.is_absolute():
        cand = relative_to / p
        if cand.is_file():
            return cand
    return find_arch(name)


def _display(p: Path) -> str:
    """A short label for an arch file: relative to cwd when below it, ``archs/NAME`` when
    shipped, else the absolute path."""
    from accelsim.arch.load import ARCHS_DIR

    r = p.resolve()
    for root, prefix in ((Path.cwd().resolve(), ""), (ARCHS_DIR.resolve(), "archs/")):
        try:
            return prefix + r.relative_to(root).as_posix()
        except ValueError:
            pass
    return str(r)


def load_sweep(path: str | os.PathLike[str]) -> LoadedSweep:
    """Read and validate a sweep file; raise :class:`SpecError` listing every problem."""
    from accelsim.arch.overrides import apply_overrides, parse_path, set_path

    file = os.fspath(path)
    data = read_yaml_file(Path(file), file)
    if data is None:
        raise SpecError(Problem(file, "", "file is empty (expected a sweep mapping)"))
    if not isinstance(data, Mapping):
        raise SpecError(Problem(file, "", f"top level must be a mapping (got {_got(data)})"))
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as e:
        raise SpecError(validation_problems(SweepSpec, e, file)) from None

    problems: list[Problem] = []
    # base architecture
    try:
        base_path = resolve_arch_path(spec.base, Path(file).parent)
    except SpecError as e:
        raise SpecError(Problem(file, "base", f"{spec.base!r}: {e.problems[0].message}")) from None
    base_file = _display(base_path)
    base_data = read_yaml_file(base_path, base_file)
    if not isinstance(base_data, Mapping):
        raise SpecError(Problem(base_file, "", "top level must be a mapping of arch fields"))
    try:
        base = apply_overrides(base_data, spec.set, file)
    except SpecError as e:
        raise SpecError(
            [Problem(file, f"set: {p.path.removeprefix('--set ')}", p.message) for p in e.problems]
        ) from None

    for i, w in enumerate(spec.workloads):
        if re.match(r"^[A-Za-z_]\w*=", w.name):
            problems.append(Problem(file, f"workloads[{i}]", (
                f"{w.name!r} looks like part of a gemm spec split at a comma by a YAML flow list "
                "[...]; quote the spec or write one workload per line")))
    # parameter paths: parse, no duplicates, resolvable on the base (options.* on the options)
    seen: dict[str, str] = {}
    opts = spec.options.model_dump()
    locs = [(f"parameters[{p!r}]", p, v) for p, v in spec.parameters.items()]
    for i, group in enumerate(spec.coupled):
        lens = {len(v) for v in group.values()}
        if len(lens) > 1:
            problems.append(Problem(file, f"coupled[{i}]", f"lists must have equal lengths (got {sorted(lens)})"))
        locs += [(f"coupled[{i}][{p!r}]", p, v) for p, v in group.items()]
    for loc, p, values in locs:
        if p in seen:
            problems.append(Problem(file, loc, f"parameter also given at {seen[p]}"))
            continue
        seen[p] = loc
        try:
            segs = parse_path(p)
            if segs[0] == "options":
                if len(segs) < 2 or segs[1] not in ("mode", "mapping"):
                    raise SpecError(Problem("", "", "options parameters are options.mode or options.mapping.<field>"))
                set_path({"options": opts}, p, values[0])
            else:
                set_path(base, p, values[0])
        except SpecError as e:
            problems.append(Problem(file, loc, e.problems[0].message))
    if spec.grid_size() > 10_000_000 and spec.strategy.kind == "grid":
        problems.append(
            Problem(file, "parameters", f"grid has {spec.grid_size()} points; use strategy random or nsga2")
        )
    if problems:
        raise SpecError(problems)
    return LoadedSweep(spec=spec, file=file, base_file=base_file, base=base)
