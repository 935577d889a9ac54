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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from accelsim.errors import Problem, SpecError
from accelsim.specio import kind_of, read_yaml
from accelsim.specio import validation_problems as _validation_problems
from accelsim.sweep.metrics import MAXIMIZE_METRICS, METRICS, extract_metrics, metric_problem, metric_value

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
# (the vocabulary lives in accelsim/sweep/metrics.py; re-exported here)

# ------------------------------------------------------------------------------- model


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


#: RNG seeds: what numpy (under Optuna's sampler) accepts.
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]



class Grid(_Frozen):
    """Every combination of the parameter values (a full factorial)."""

    kind: Literal["grid"] = "grid"


class Random(_Frozen):
    """``samples`` distinct grid points drawn uniformly with a seeded RNG."""

    kind: Literal["random"] = "random"
    samples: Annotated[int, Field(gt=0, le=10_000_000)] = Field(
        description="number of distinct points to draw, 1..1e7")
    seed: Seed = Field(0, description="RNG seed, 0..2^32-1 (same seed, same points)")


class Nsga2(_Frozen):
    """Optuna's NSGA-II genetic search over the parameter values, ``trials`` configurations."""

    kind: Literal["nsga2"] = "nsga2"
    trials: Annotated[int, Field(gt=0, le=1_000_000)] = Field(
        description="number of configurations to evaluate, 1..1e6")
    seed: Seed = Field(0, description="sampler seed, 0..2^32-1 (same seed, same trials)")
    population: Annotated[int, Field(ge=2, le=10_000)] = Field(
        8, description="NSGA-II population size, 2..10000; one generation is evaluated in parallel"
    )


Strategy = Annotated[Grid | Random | Nsga2, Field(discriminator="kind")]
STRATEGIES: dict[str, type[BaseModel]] = {"grid": Grid, "random": Random, "nsga2": Nsga2}


class GenerateSpec(_Frozen):
    """An LLM generation instead of one forward pass (see docs/inference.md): the point reports
    the prefill and an ``inference`` block (ttft_s, tpot_s, tokens_per_s, ... as metrics)."""

    prompt: Annotated[int, Field(ge=1, le=1 << 20)] = Field(description="prompt tokens per sequence")
    generate: Annotated[int, Field(ge=1, le=1 << 20)] = Field(description="generated tokens per sequence")
    batch: Annotated[int, Field(ge=1, le=1 << 16)] = Field(1, description="sequences generated together")
    fold: bool = Field(True, description="simulate 1 and 2 identical layers and extrapolate")


class WorkloadSpec(_Frozen):
    name: str = Field(min_length=1, description="workload spec: gpt2-tiny, gemm:M=..,N=..,K=.., ...")
    params: dict[str, Any] = Field(default_factory=dict, description="workload parameters (seq, batch, ...)")
    generate: GenerateSpec | None = Field(None, description="an LLM generation (prompt, generate, batch)")


class Objective(_Frozen):
    metric: str = Field(
        min_length=1, description="a metric name (see accelsim/sweep/metrics.py) or dotted result.json path "
        "(checked by load_sweep)")
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
            elif isinstance(item, Mapping) and len(item) == 1 and "metric" not in item \
                    and isinstance(next(iter(item)), str):
                ((k, d),) = item.items()  # {latency_s: min} shorthand
                item = {"metric": k, "direction": d}
            if isinstance(item, Mapping) and "direction" not in item and isinstance(item.get("metric"), str) \
                    and item["metric"] in MAXIMIZE_METRICS:
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


def _got(v: Any) -> str:
    return kind_of(v)


def validation_problems(model: type[BaseModel], err: ValidationError, file: str) -> list[Problem]:
    """Pydantic errors -> :class:`Problem` s with YAML paths (see :mod:`accelsim.specio`)."""
    return _validation_problems(model, err, file)


# ------------------------------------------------------------------------------- loading


def read_yaml_file(path: Path, file: str, what: str = "file") -> Any:
    """Parse one YAML file with :func:`accelsim.specio.read_yaml` (regular files only, size
    and nesting bounded; duplicate keys and syntax errors become a SpecError naming ``file``)."""
    return read_yaml(path, file, what)


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


#: At most this many values of one parameter are validated up front (the rest as points run).
_MAX_CHECKED_VALUES = 2000


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith((prefix + ".", prefix + "["))


def _mapping_problems(mode: str, mapping: Mapping[str, Any], file: str, prefix: tuple[str | int, ...]) -> list[Problem]:
    """Range and type problems of an ``options.mapping`` block, as MappingOptions sees them."""
    from accelsim.mapping.options import MappingOptions

    known = {k: v for k, v in mapping.items() if k in MappingOptions.model_fields and k != "mode"}
    try:
        MappingOptions.model_validate({**known, "mode": mode})
    except ValidationError as e:
        return _validation_problems(MappingOptions, e, file, prefix)
    return []


def _option_param_problems(spec: SweepSpec, segs: Sequence[Any], values: Sequence[Any], file: str,
                           loc: str) -> list[Problem]:
    """An ``options.mode`` / ``options.mapping.<field>`` parameter: the path and every value."""
    from accelsim.mapping.options import MappingOptions

    if len(segs) == 2 and segs[1] == "mode":
        bad = [v for v in values if v not in ("pipelined", "scalesim")]
        return [Problem(file, loc, f"value {_got(v)}: must be one of pipelined, scalesim") for v in bad[:5]]
    fields = sorted(f for f in MappingOptions.model_fields if f != "mode")
    if len(segs) != 3 or segs[1] != "mapping" or not isinstance(segs[2], str):
        return [Problem(file, loc, "options parameters are options.mode or options.mapping.<field> "
                                   f"(fields: {', '.join(fields)})")]
    name = segs[2]
    if name not in fields:
        return [Problem(file, loc, f"unknown mapping option {name!r} (allowed: {', '.join(fields)})")]
    out: list[Problem] = []
    for v in _distinct(values)[:_MAX_CHECKED_VALUES]:
        for p in _mapping_problems(spec.options.mode, {**spec.options.mapping, name: v}, file, ()):
            if p.path == name:
                out.append(Problem(file, loc, f"value {_got(v)}: {p.message}"))
    return out


def _distinct(values: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    seen: set[str] = set()
    for v in values:
        key = repr(v)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


def _value_problems(base: Mapping[str, Any], path: str, values: Sequence[Any], file: str,
                    loc: str) -> list[Problem]:
    """Field-level problems (type, range, enum) of each value of an arch parameter, set on the
    base alone. Cross-field rules are left to the points: they depend on the combination."""
    from accelsim.arch.overrides import set_path
    from accelsim.arch.spec import ArchSpec

    out: list[Problem] = []
    for v in _distinct(values)[:_MAX_CHECKED_VALUES]:
        try:
            ArchSpec.model_validate(set_path(base, path, v))
        except ValidationError as e:
            for p in _validation_problems(ArchSpec, e, ""):
                if _under(p.path, path):
                    sub = "" if p.path == path else f"{p.path}: "
                    out.append(Problem(file, loc, f"value {_got(v)}: {sub}{p.message}"))
        except SpecError as e:  # pragma: no cover - set_path already succeeded for values[0]
            out.append(Problem(file, loc, f"value {_got(v)}: {e.problems[0].message}"))
        if len(out) >= 10:
            break
    return out


def _base_problems(base: Mapping[str, Any], base_file: str, arch_params: Sequence[str],
                   spec: SweepSpec) -> list[Problem]:
    """Problems of the base architecture that no parameter can mend: field-level problems
    outside every parameter path (with each parameter's first value applied), and, when no
    arch field is swept, every problem (each point would fail the same way)."""
    from accelsim.arch.overrides import set_path
    from accelsim.arch.spec import ArchSpec, semantic_problems

    data: Mapping[str, Any] = base
    firsts = {p: v for dim in spec.dimensions() for p, vs in dim for v in vs[:1] if not p.startswith("options.")}
    try:
        for p, v in firsts.items():
            data = set_path(data, p, v)
        arch = ArchSpec.model_validate(data)
    except ValidationError as e:
        probs = _validation_problems(ArchSpec, e, base_file)
        return [p for p in probs if not any(_under(p.path, a) for a in arch_params)]
    except SpecError:
        return []
    if arch_params:
        return []
    return [Problem(base_file, p, m) for p, m in semantic_problems(arch)]


def load_sweep(path: str | os.PathLike[str]) -> LoadedSweep:
    """Read and validate a sweep file; raise :class:`SpecError` listing every problem."""
    from accelsim.arch.overrides import apply_overrides, parse_path, schema_problem, set_path

    file = os.fspath(path)
    data = read_yaml_file(Path(file), file, "sweep file")
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
    base_data = read_yaml_file(base_path, base_file, "architecture file")
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
    first: dict[str, int] = {}
    for i, o in enumerate(spec.objectives):
        why = metric_problem(o.metric)
        if why:
            problems.append(Problem(file, f"objectives[{i}].metric", why))
        elif o.metric in first:  # one column per metric in results.csv; min and max of one is no trade-off
            problems.append(Problem(file, f"objectives[{i}].metric",
                                    f"'{o.metric}' is already objectives[{first[o.metric]}]; list each metric once"))
        first.setdefault(o.metric, i)
    # run options: the mapping block as MappingOptions validates it
    problems += _mapping_problems(spec.options.mode, spec.options.mapping, file, ("options", "mapping"))
    # parameter paths: parse, no duplicates, name an arch field (options.* a run option), and
    # every value valid for its field on its own (a combination may still be invalid: those
    # points are recorded as errors)
    seen: dict[str, str] = {}
    locs = [(f"parameters[{p!r}]", p, v) for p, v in spec.parameters.items()]
    for i, group in enumerate(spec.coupled):
        lens = {len(v) for v in group.values()}
        if len(lens) > 1:
            problems.append(Problem(file, f"coupled[{i}]", f"lists must have equal lengths (got {sorted(lens)})"))
        locs += [(f"coupled[{i}][{p!r}]", p, v) for p, v in group.items()]
    arch_params: list[str] = []
    for loc, p, values in locs:
        if p in seen:
            problems.append(Problem(file, loc, f"parameter also given at {seen[p]}"))
            continue
        seen[p] = loc
        try:
            segs = parse_path(p)
        except SpecError as e:
            problems.append(Problem(file, loc, e.problems[0].message))
            continue
        if segs[0] == "options":
            problems += _option_param_problems(spec, segs, values, file, loc)
            continue
        arch_params.append(p)
        why = schema_problem(p)
        if why is None:
            try:
                set_path(base, p, values[0])
            except SpecError as e:
                why = e.problems[0].message
        if why is not None:
            problems.append(Problem(file, loc, why))
            continue
        problems += _value_problems(base, p, values, file, loc)
    if not problems:
        problems += _base_problems(base, base_file, arch_params, spec)
    if spec.grid_size() > 10_000_000 and spec.strategy.kind == "grid":
        problems.append(
            Problem(file, "parameters", f"grid has {spec.grid_size()} points; use strategy random or nsga2")
        )
    if problems:
        raise SpecError(problems)
    return LoadedSweep(spec=spec, file=file, base_file=base_file, base=base)
