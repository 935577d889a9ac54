"""Run a regression suite and compare every case's metrics with the baseline.

    from accelsim.regress.compare import run_suite
    report = run_suite(load_suite("benchmarks/suite.yaml"), "benchmarks/baseline.json")
    report.passed       # False on any regression, failed check, error or case missing from the baseline

Every case is resolved first (arch files, overrides, workloads): a problem there is bad input
and raises :class:`~accelsim.errors.SpecError` naming ``suite.yaml: cases[i].field``. Workloads are
traced once per (workload, params). Errors while simulating a case fail that case.

The gate cannot be disabled by accident. Unless the baseline is being rewritten
(``update=True``), a baseline that does not cover the run is bad input (exit 2), found before
anything is simulated: a baseline recorded for another suite, a selected case it lacks, a
tracked metric it lacks or records as null. A case whose definition changed since it was
recorded is compared (the change is what the gate measures) with a note naming what changed.
A tracked metric the run no longer reports fails the case (exit 1), and ``--update-baseline``
refuses to record one.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accelsim.errors import AccelsimError, Problem, SpecError
from accelsim.regress.suite import (
    BASELINE_FORMAT,
    Baseline,
    BaselineCase,
    Case,
    LoadedSuite,
    Tolerance,
    case_tolerances,
    dump_baseline,
    load_baseline,
)
from accelsim.sweep.spec import METRICS, metric_value, resolve_arch_path

__all__ = ["CaseResult", "MetricResult", "Report", "baseline_problems", "compare_metric", "run_suite",
           "write_baseline"]

#: Metric statuses: ``ok`` within tolerance, ``improved`` beyond tolerance the good way,
#: ``regressed`` beyond tolerance the bad way, ``new`` not in the baseline, ``missing`` in the
#: baseline but not reported now, ``n/a`` reported by neither.
FAILING = frozenset({"regressed", "missing"})


@dataclass(frozen=True)
class MetricResult:
    metric: str
    baseline: Any
    current: Any
    status: str
    tolerance: Tolerance | None = None
    message: str = ""

    @property
    def change(self) -> float | None:
        """Relative change (0.05 = +5 %), None when not computable."""
        b, c = self.baseline, self.current
        if not _num(b) or not _num(c):
            return None
        if b == 0:
            return 0.0 if c == 0 else math.copysign(math.inf, c)
        return (c - b) / abs(b)

    @property
    def failed(self) -> bool:
        return self.status in FAILING


@dataclass
class CaseResult:
    name: str
    metrics: list[MetricResult] = field(default_factory=list)
    error: str | None = None  # the case could not run
    problems: list[str] = field(default_factory=list)  # failing reasons besides metrics
    notes: list[str] = field(default_factory=list)  # informational
    wall_s: float = 0.0
    current: dict[str, Any] = field(default_factory=dict)  # every metric of the run
    inputs_digest: str = ""

    @property
    def passed(self) -> bool:
        return self.error is None and not self.problems and not any(m.failed for m in self.metrics)

    def failure_lines(self) -> list[str]:
        out = [self.error] if self.error else []
        out += self.problems
        out += [m.message for m in self.metrics if m.failed]
        return out


@dataclass
class Report:
    suite_file: str
    baseline_file: str
    cases: list[CaseResult]
    stale: list[str] = field(default_factory=list)  # baseline cases not in the suite
    updated: bool = False

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.cases)

    @property
    def failed_cases(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.passed]

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def compare_metric(name: str, tol: Tolerance, baseline: Any, current: Any) -> MetricResult:
    """Compare one metric; see :class:`Tolerance` for the rule."""
    if baseline is None and current is None:
        return MetricResult(name, None, None, "n/a", tol)
    if baseline is None:
        return MetricResult(name, None, current, "new", tol, f"{name}: not in the baseline (now {_fmt(current)})")
    if current is None:
        return MetricResult(name, baseline, None, "missing", tol,
                            f"{name}: no longer reported (baseline {_fmt(baseline)})")
    if not _num(baseline) or not _num(current):
        st = "ok" if baseline == current else "regressed"
        return MetricResult(name, baseline, current, st, tol,
                            f"{name}: {_fmt(baseline)} -> {_fmt(current)}" if st != "ok" else "")
    delta = current - baseline
    worse = {"lower_is_better": delta, "higher_is_better": -delta, "exact": abs(delta)}[tol.direction]
    allowed = tol.allowed(baseline)
    slack = 1e-12 * max(abs(baseline), abs(current))  # float noise
    r = MetricResult(name, baseline, current, "ok", tol)
    ch = r.change
    pct = "" if ch is None else (f" ({ch * 100:+.2f} %)" if math.isfinite(ch) else " (from 0)")
    if worse > allowed + slack:
        msg = (f"{name} {_fmt(baseline)} -> {_fmt(current)}{pct}, beyond tolerance "
               f"{tol.describe()}")
        return MetricResult(name, baseline, current, "regressed", tol, msg)
    if tol.direction != "exact" and -worse > allowed + slack:
        return MetricResult(name, baseline, current, "improved", tol,
                            f"{name} improved {_fmt(baseline)} -> {_fmt(current)}{pct}")
    return r


# ------------------------------------------------------------------------------- running


@dataclass
class _Resolved:
    case: Case
    arch: Any  # ArchSpec
    graph: Any  # Graph
    options: Any  # RunOptions
    digest: str
    traced: Any = None  # the traced workload (weights, inputs) when options.check is set


def _run_options(case: Case) -> Any:
    from accelsim.api import RunOptions
    from accelsim.mapping.mapper import MappingOptions
    from accelsim.mapping.program import TimingMode

    mode: TimingMode = "scalesim" if case.options.compat == "scalesim" else "pipelined"
    return RunOptions(mode=mode, mapping=MappingOptions(**{**case.options.mapping, "mode": mode}))


def _resolve(ls: LoadedSuite, cases: Sequence[tuple[int, Case]]) -> list[_Resolved]:
    from accelsim import api
    from accelsim.arch.load import load_arch, spec_digest

    problems: list[Problem] = []
    graphs: dict[str, Any] = {}
    out = []
    for i, c in cases:
        where = f"cases[{i}]"
        arch = graph = opts = None
        try:
            path = resolve_arch_path(c.arch, ls.dir)
            arch = load_arch(path, c.set)
        except SpecError as e:
            problems += [Problem(ls.file, f"{where}.arch", f"{c.arch}: {p}") for p in e.problems]
        gkey = json.dumps([c.workload, c.params, c.options.check,
                           c.generate.model_dump() if c.generate else None], sort_keys=True, default=str)
        traced = None
        try:
            if gkey not in graphs and c.generate is not None:
                from accelsim.inference.costs import generation_bundle

                g = c.generate
                graphs[gkey] = generation_bundle(arch, c.workload, c.params, g.prompt, g.generate, g.batch, g.fold)
            if gkey not in graphs:
                # the functional check needs the weights and inputs: trace with them
                graphs[gkey] = api.load_traced(c.workload, c.params) if c.options.check \
                    else api.load_graph(c.workload, c.params)
            graph = graphs[gkey]
            if c.options.check:
                traced, graph = graph, graph.graph
        except AccelsimError as e:
            problems.append(Problem(ls.file, f"{where}.workload", str(e)))
        try:
            opts = _run_options(c)
        except (TypeError, ValueError) as e:
            problems.append(Problem(ls.file, f"{where}.options.mapping", str(e)))
        if arch is not None and graph is not None and opts is not None:
            gtext = graph if isinstance(graph, str) else graph.to_json()
            text = json.dumps({"arch": spec_digest(arch), "graph": hashlib.sha256(gtext.encode()).hexdigest(),
                               "options": opts.to_dict()}, sort_keys=True, default=str)
            out.append(_Resolved(c, arch, graph, opts, hashlib.sha256(text.encode()).hexdigest()[:16], traced))
    if problems:
        raise SpecError(problems)
    return out


def _check_problem(data: Mapping[str, Any], requested: bool) -> str | None:
    """Why the result's functional check fails the case, read through result.json's typed
    ``check`` section (:class:`accelsim.result_schema.CheckSection`); None when it passed."""
    from accelsim.result_schema import CheckSection

    raw = data.get("check")
    if raw is None:
        return "options.check is set but the result has no check (numerics check unavailable)" if requested else None
    chk = CheckSection.model_validate(raw)
    if chk.passed:
        return None
    ff = chk.first_failure
    detail = "" if ff is None else (f"first divergence at op '{ff.op}' (module '{ff.module or '<top>'}'), tensor "
                                    f"'{ff.tensor}': max abs error {ff.max_abs_err:.3g}, bound {ff.bound}")
    return "numerics check failed" + (f": {detail}" if detail else "")


def run_case(r: _Resolved, tolerances: Mapping[str, Tolerance], base: BaselineCase | None) -> CaseResult:
    from accelsim import api

    res = CaseResult(r.case.name, inputs_digest=r.digest)
    t0 = time.perf_counter()
    try:
        if isinstance(r.graph, str):  # a generation case (accelsim.inference.costs.generation_bundle)
            from accelsim.inference.costs import run_generation_bundle

            result = run_generation_bundle(r.graph, r.arch, r.options)
        else:
            result = api.simulate(r.arch, r.graph, r.options)
        if r.traced is not None:
            api.check(result, r.traced, "outputs")
    except AccelsimError as e:
        res.wall_s = time.perf_counter() - t0
        res.error = f"simulation failed: {e}"
        return res
    res.wall_s = time.perf_counter() - t0
    data = result.data
    res.current = {m: metric_value(data, m) for m in [*METRICS, *tolerances]}
    res.current = {k: v for k, v in res.current.items() if v is not None}
    chk = _check_problem(data, r.case.options.check)
    if chk:
        res.problems.append(chk)
    if r.case.max_wall_s is not None and res.wall_s > r.case.max_wall_s:
        res.problems.append(f"wall time {res.wall_s:.2f} s > max_wall_s {r.case.max_wall_s:g} s")
    unreported = [m for m in tolerances if res.current.get(m) is None]
    if base is None:  # recording the baseline: every tracked metric must have a value
        res.problems += [f"tracked metric {m} is not reported by this run (nothing to record)" for m in unreported]
        res.metrics = [MetricResult(m, None, res.current.get(m), "new", t) for m, t in tolerances.items()]
        return res
    changed = definition_changes(r.case, base)
    if changed:
        res.notes.append("the case changed since the baseline was recorded: " + "; ".join(changed))
    elif base.inputs_digest and base.inputs_digest != r.digest:
        res.notes.append("arch, workload or options differ from when the baseline was recorded")
    for m, t in tolerances.items():
        res.metrics.append(compare_metric(m, t, base.metrics.get(m), res.current.get(m)))
    return res


def _definition(c: Case) -> dict[str, Any]:
    """What a baseline records of a case's definition (as :func:`write_baseline` writes it)."""
    d = {"arch": c.arch, "workload": c.workload, "params": dict(c.params), "set": list(c.set),
         "options": c.options.model_dump(mode="json", exclude_defaults=True)}
    if c.generate is not None:  # only when set: older baselines keep their definitions
        d["generate"] = c.generate.model_dump(mode="json")
    return d


def definition_changes(c: Case, b: BaselineCase) -> list[str]:
    """``field: was -> now`` for each part of the case's definition that differs from the
    baseline's record of it (a note: the comparison still runs, so the change is measured)."""
    want = _definition(c)
    have: dict[str, Any] = {"arch": b.arch, "workload": b.workload, "params": dict(b.params), "set": list(b.set),
            "options": dict(b.options)}
    if b.generate is not None or c.generate is not None:
        have["generate"] = b.generate
    return [f"{k}: {have[k]!r} -> {want[k]!r}" for k in want
            if json.dumps(want[k], sort_keys=True, default=str) != json.dumps(have[k], sort_keys=True, default=str)]


def baseline_problems(ls: LoadedSuite, baseline: Baseline, baseline_file: str, cases: Sequence[Case],
                      tolerances: Mapping[str, Tolerance]) -> list[Problem]:
    """Every way ``baseline`` fails to cover ``cases`` and their tracked metrics (empty: it
    covers them). Each is bad input: a comparison against it would pass a regression."""
    fix = "; rerun with --update-baseline to record it"
    out: list[Problem] = []
    suite_name = Path(ls.file).name
    if baseline.suite and baseline.suite != suite_name:
        out.append(Problem(baseline_file, "suite", f"recorded for suite {baseline.suite!r}, not {suite_name!r} "
                                                   "(wrong --baseline?)"))
    for c in cases:
        b = baseline.cases.get(c.name)
        where = f"cases.{c.name}"
        if b is None:
            out.append(Problem(baseline_file, where, f"case {c.name!r} of {suite_name} is not in the baseline{fix}"))
            continue
        for m in case_tolerances(c, dict(tolerances)):
            if m not in b.metrics:
                out.append(Problem(baseline_file, f"{where}.metrics.{m}", f"tracked metric {m} is not in the "
                                                                         f"baseline{fix}"))
            elif b.metrics[m] is None:
                out.append(Problem(baseline_file, f"{where}.metrics.{m}", f"is null{fix}"))
    return out


def run_suite(
    ls: LoadedSuite,
    baseline_path: str | Path,
    *,
    update: bool = False,
    only: Sequence[str] = (),
    on_case: Any = None,
) -> Report:
    """Run the suite's cases (or those named in ``only``) and compare them with the baseline.

    With ``update=True`` the baseline file is rewritten from this run instead (cases not run
    keep their entries) unless a case errored or failed its check. ``on_case(CaseResult)`` is
    called after each case.
    """
    suite = ls.suite
    names = [c.name for c in suite.cases]
    unknown = [n for n in only if n not in names]
    if unknown:
        raise SpecError(Problem(ls.file, "cases", f"no case named {', '.join(map(repr, unknown))} "
                                                  f"(cases: {', '.join(names)})"))
    selected = [(i, c) for i, c in enumerate(suite.cases) if not only or c.name in only]
    bpath = Path(baseline_path)
    baseline: Baseline | None = None
    tolerances = suite.tolerances()
    if not update or (only and bpath.is_file()):  # updating everything ignores the old file
        baseline = load_baseline(bpath)
    if not update:
        assert baseline is not None
        problems = baseline_problems(ls, baseline, str(baseline_path), [c for _, c in selected], tolerances)
        if problems:
            raise SpecError(problems)
    resolved = _resolve(ls, selected)
    results = []
    for r in resolved:
        base = baseline.cases.get(r.case.name) if baseline else None
        cr = run_case(r, case_tolerances(r.case, tolerances), None if update else base)
        if update:  # recording: only errors, checks and unreported metrics matter
            cr.metrics = []
        results.append(cr)
        if on_case:
            on_case(cr)
    stale = sorted(set(baseline.cases) - set(names)) if baseline else []
    report = Report(ls.file, str(baseline_path), results, stale)
    if update and report.passed:
        write_baseline(bpath, ls, resolved, results, baseline if only else None)
        report.updated = True
    return report


def write_baseline(
    path: Path,
    ls: LoadedSuite,
    resolved: Sequence[_Resolved],
    results: Sequence[CaseResult],
    keep: Baseline | None = None,
) -> None:
    """Write the baseline for ``results``; entries of ``keep`` for cases not run are kept."""
    import accelsim

    names = {c.name for c in ls.suite.cases}
    cases: dict[str, BaselineCase] = {}
    if keep is not None:
        cases.update({k: v for k, v in keep.cases.items() if k in names})
    for r, cr in zip(resolved, results):
        c = r.case
        cases[c.name] = BaselineCase(
            arch=c.arch, workload=c.workload, params=dict(c.params), set=list(c.set),
            options=c.options.model_dump(mode="json", exclude_defaults=True), inputs_digest=cr.inputs_digest,
            metrics=dict(sorted(cr.current.items())),
            generate=c.generate.model_dump(mode="json") if c.generate is not None else None,
        )
    b = Baseline(format=BASELINE_FORMAT, accelsim_version=accelsim.__version__,
                 suite=Path(ls.file).name, cases=dict(sorted(cases.items())))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dump_baseline(b), encoding="utf-8")
    tmp.replace(path)
