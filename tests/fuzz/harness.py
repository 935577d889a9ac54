"""The fuzz harness: run one generated input through the CLI in-process and classify what
happened. Allowed outcomes: exit 0 with sane numbers, or exit 1/2 with a one-line-or-more
``accelsim: ...`` message. Anything else -- a traceback, exit 3, an exception escaping click,
a case running past its time limit, or exit 0 with nonsense (negative, NaN or infinite
figures, a utilisation above 1, zero cycles for nonzero work) -- fails the test."""

from __future__ import annotations

import json
import math
import signal
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from click.testing import CliRunner

#: Outcome counts per input kind, printed at the end of the session (see conftest.py).
TALLY: defaultdict[str, Counter[str]] = defaultdict(Counter)


class CaseTimeout(Exception):
    """A case ran past its time limit (a hang, or work the resource estimate should refuse)."""


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():  # pragma: no cover
        yield
        return

    def boom(*_: object) -> None:
        raise CaseTimeout(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@dataclass
class Outcome:
    code: int
    output: str  # stdout and stderr as a terminal shows them
    exception: BaseException | None = None
    stdout: str = ""

    @property
    def label(self) -> str:
        return f"exit {self.code}"


def invoke(command: Any, args: Sequence[str], seconds: int = 60) -> Outcome:
    """Run a click command in-process; an escaped exception or a timeout is recorded, not raised."""
    runner = CliRunner()
    try:
        with time_limit(seconds):
            r = runner.invoke(command, list(args), catch_exceptions=True)
    except CaseTimeout as e:
        return Outcome(-1, str(e), e)
    exc = r.exception if r.exception is not None and not isinstance(r.exception, SystemExit) else None
    if isinstance(exc, CaseTimeout):
        return Outcome(-1, str(exc), exc)
    return Outcome(r.exit_code, r.output, exc, r.stdout)


#: Keys whose value may legitimately be negative (differences, signed errors, SCALE-Sim's -1).
_SIGNED = ("saving", "cost", "delta", "change", "offset", "err", "diff", "margin", "vs_", "min_", "slack")
#: Top-level keys that echo the input (a graph file's free-form meta, the options given).
_ECHOED = ("workload_meta", "options")
#: Keys that are fractions of a whole.
_FRACTIONS = ("utilization", "efficiency", "busy_fraction", "share")


def sanity_problems(data: Any, path: str = "") -> list[str]:
    """Nonsense in a result.json dict: non-finite or negative figures, fractions above 1."""
    out: list[str] = []
    if isinstance(data, dict):
        for k, v in data.items():
            if not path and k in _ECHOED:
                continue
            out += sanity_problems(v, f"{path}.{k}" if path else str(k))
    elif isinstance(data, list):
        for i, v in enumerate(data[:2000]):
            out += sanity_problems(v, f"{path}[{i}]")
    elif isinstance(data, float) or (isinstance(data, int) and not isinstance(data, bool)):
        leaf = path.rsplit(".", 1)[-1].lower()
        x = float(data)
        if not math.isfinite(x):
            out.append(f"{path} = {data}")
        elif x < 0 and not any(s in path.lower() for s in _SIGNED):
            out.append(f"{path} = {data} < 0")
        elif any(f in leaf for f in _FRACTIONS) and x > 1 + 1e-9 and "speedup" not in path:
            out.append(f"{path} = {data} > 1")
    return out


def result_problems(data: dict[str, Any]) -> list[str]:
    """:func:`sanity_problems` plus work/time consistency: nonzero work takes nonzero cycles."""
    out = sanity_problems(data)
    macs = data.get("macs") or 0
    if macs > 0 and not (data.get("total_cycles", 0) > 0 and data.get("latency_s", 0) > 0):
        out.append(f"{macs} MACs in {data.get('total_cycles')} cycles / {data.get('latency_s')} s")
    for op in data.get("ops", []):
        if (op.get("macs") or 0) > 0 and (op.get("cycles") or 0) <= 0:
            out.append(f"op {op.get('name')}: {op['macs']} MACs in {op.get('cycles')} cycles")
    if macs > 0 and "energy_j" in data and not data["energy_j"] > 0:
        out.append(f"{macs} MACs for {data['energy_j']} J")
    return out


#: Survey mode (the long profile): findings are collected here instead of failing at the first.
FINDINGS: list[tuple[str, str, str]] = []
_SURVEY: list[bool] = [False]


@contextmanager
def survey() -> Iterator[list[tuple[str, str, str]]]:
    """Collect every finding of the cases run inside (kind, class, detail) instead of raising."""
    FINDINGS.clear()
    _SURVEY[0] = True
    try:
        yield FINDINGS
    finally:
        _SURVEY[0] = False


def finding(kind: str, cls: str, detail: str) -> None:
    """A disallowed outcome: raise (quick profile) or record it (survey)."""
    TALLY[kind][cls] += 1
    if _SURVEY[0]:
        FINDINGS.append((kind, cls, detail[-2500:]))
        return
    raise AssertionError(f"{kind}: {cls}:\n{detail[-3000:]}")


def _class_of(problem: str) -> str:
    import re

    key = problem.split(" ")[0]
    return re.sub(r"\[\d+\]", "[]", key.split(".")[-1] if key.startswith("ops") else key)


def judge(kind: str, o: Outcome, *, json_out: bool = False) -> dict[str, Any] | None:
    """Check the outcome is an allowed one (see the module docstring); returns the parsed JSON
    of an exit-0 ``--json`` run, None otherwise (or after a finding in survey mode)."""
    if o.code == -1:
        finding(kind, "timeout", o.output)
        return None
    if o.exception is not None:
        finding(kind, f"{type(o.exception).__name__} escaped", repr(o.exception))
        return None
    if "Traceback (most recent call last)" in o.output:
        finding(kind, "traceback", o.output)
        return None
    if "internal error" in o.output or o.code not in (0, 1, 2):
        finding(kind, f"exit {o.code} (internal error)", o.output)
        return None
    if o.code != 0:
        # click's own usage errors (exit 2) say "Error:"; accelsim's say "accelsim: ..."
        if "accelsim: " not in o.output and "Error: " not in o.output:
            finding(kind, f"exit {o.code} without a message", o.output)
            return None
        TALLY[kind][o.label] += 1
        return None
    if not json_out:
        TALLY[kind][o.label] += 1
        return None
    data = json.loads(o.stdout)
    bad = result_problems(data)
    if bad:
        finding(kind, f"exit 0 with nonsense ({_class_of(bad[0])})", "; ".join(bad[:8]))
        return None
    TALLY[kind][o.label] += 1
    return data  # type: ignore[no-any-return]


def summarize(found: list[tuple[str, str, str]]) -> str:
    """Findings by class, each with one example."""
    by: dict[tuple[str, str], list[str]] = {}
    for kind, cls, detail in found:
        by.setdefault((kind, cls), []).append(detail)
    lines = [f"{len(found)} finding(s):"]
    for (kind, cls), details in sorted(by.items()):
        lines.append(f"  {kind}: {cls}: {len(details)} case(s); e.g. {details[0][-600:]!r}")
    return "\n".join(lines)
