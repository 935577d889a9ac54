"""Request traces for the serving simulator: a validated CSV reader/writer and a seeded generator.

A trace is a CSV file with the columns ``arrival_s`` (seconds from the trace's origin, >= 0,
rows sorted by it), ``prompt_tokens`` and ``output_tokens`` (positive integers). Other columns
are allowed and ignored. Every bad header or cell is reported with the file, line and column
(:class:`~accelsim.errors.SpecError`, exit 2).

The generator draws Poisson arrivals (exponential inter-arrival gaps of mean ``1 / rate``) and
prompt/output lengths from :class:`LengthDist` (``fixed``, ``uniform`` or ``lognormal`` clipped
to ``[min, max]``). It uses only :meth:`random.Random.random`, whose sequence Python guarantees
to stay the same across versions for a given seed, and transforms the uniforms itself
(inverse CDF for the exponential, Box-Muller for the normal), so a seed gives the same trace.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from accelsim.errors import Problem, SpecError

COLUMNS = ("arrival_s", "prompt_tokens", "output_tokens")
MAX_PROBLEMS = 20
"""Problems listed before the reader stops (a wholly wrong file would otherwise print every row)."""


@dataclass(frozen=True)
class Request:
    """One request of a trace.

    ``index``: 0-based data row in the trace; ``arrival_s``: arrival time (s);
    ``prompt_tokens``: prompt length (tokens); ``output_tokens``: tokens to generate (>= 1,
    the first of them produced by the prefill).
    """

    index: int
    arrival_s: float
    prompt_tokens: int
    output_tokens: int


def _positive_int(text: str) -> int | None:
    s = text.strip()
    if not s or not (s.isdigit() or (s[0] == "+" and s[1:].isdigit())):
        return None
    v = int(s)
    return v if v >= 1 else None


def read_requests(path: str | Path) -> list[Request]:
    """Read and validate a request trace CSV (see the module docstring for the format).

    Raises :class:`SpecError` (exit 2) listing up to :data:`MAX_PROBLEMS` problems, each as
    ``FILE: line N, column 'NAME': message``.
    """
    p = Path(path)
    name = str(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SpecError(Problem(name, "", "request trace not found")) from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(Problem(name, "", f"cannot read the request trace: {e}")) from None
    reader = csv.reader(text.splitlines())
    try:
        header = next(reader)
    except StopIteration:
        raise SpecError(Problem(name, "", f"empty file; expected a header with the columns "
                                          f"{', '.join(COLUMNS)}")) from None
    except csv.Error as e:
        raise SpecError(Problem(name, "line 1", f"malformed CSV: {e}")) from None
    cols = [h.strip() for h in header]
    problems: list[Problem] = []
    dups = sorted({c for c in cols if cols.count(c) > 1 and c in COLUMNS})
    if dups:
        problems.append(Problem(name, "line 1", f"duplicate column(s) {', '.join(dups)}"))
    missing = [c for c in COLUMNS if c not in cols]
    if missing:
        problems.append(Problem(name, "line 1",
                                f"missing column(s) {', '.join(missing)} (header: {', '.join(cols)}; "
                                f"expected {', '.join(COLUMNS)})"))
    if problems:
        raise SpecError(problems)
    at = {c: cols.index(c) for c in COLUMNS}
    out: list[Request] = []
    prev: float | None = None
    prev_line = 0
    try:
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue  # blank line
            if len(problems) >= MAX_PROBLEMS:
                problems.append(Problem(name, "", f"(stopped after {MAX_PROBLEMS} problems)"))
                break
            if len(row) != len(cols):
                problems.append(Problem(name, f"line {line}",
                                        f"expected {len(cols)} fields, found {len(row)}"))
                continue
            ok = True
            raw = row[at["arrival_s"]].strip()
            try:
                arrival = float(raw)
            except ValueError:
                arrival = math.nan
            if not math.isfinite(arrival) or arrival < 0:
                problems.append(Problem(name, f"line {line}, column 'arrival_s'",
                                        f"{raw!r} is not a finite number of seconds >= 0"))
                ok = False
            ints: dict[str, int] = {}
            for c in ("prompt_tokens", "output_tokens"):
                v = _positive_int(row[at[c]])
                if v is None:
                    problems.append(Problem(name, f"line {line}, column '{c}'",
                                            f"{row[at[c]].strip()!r} is not a positive integer"))
                    ok = False
                else:
                    ints[c] = v
            if not ok:
                continue
            if prev is not None and arrival < prev:
                problems.append(Problem(name, f"line {line}, column 'arrival_s'",
                                        f"{arrival!r} is earlier than line {prev_line}'s {prev!r} "
                                        "(rows must be sorted by arrival_s)"))
                continue
            prev, prev_line = arrival, line
            out.append(Request(len(out), arrival, ints["prompt_tokens"], ints["output_tokens"]))
    except csv.Error as e:
        problems.append(Problem(name, f"line {reader.line_num}", f"malformed CSV: {e}"))
    if problems:
        raise SpecError(problems)
    if not out:
        raise SpecError(Problem(name, "", "no requests (the file has a header but no rows)"))
    return out


def format_arrival(t: float) -> str:
    """Arrival time as written to a trace: seconds with 6 decimals (microseconds)."""
    return f"{t:.6f}"


def write_requests(requests: Iterable[Request], path: str | Path) -> Path:
    """Write a trace CSV (``arrival_s`` with 6 decimals; ``\\n`` line ends). Returns the path."""
    p = Path(path)
    if p.parent != Path(""):
        p.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(COLUMNS)]
    lines += [f"{format_arrival(r.arrival_s)},{r.prompt_tokens},{r.output_tokens}" for r in requests]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


class LengthDist(BaseModel):
    """A token-length distribution (tokens).

    * ``fixed``: always ``mean`` (an integer).
    * ``uniform``: an integer uniform on ``[min, max]`` inclusive (``mean`` not used).
    * ``lognormal``: ``exp(mu + sigma * Z)`` with ``mu = ln(mean) - sigma**2 / 2`` so that the
      *unclipped* distribution has mean ``mean``; rounded to the nearest integer and clipped to
      ``[min, max]`` (``max`` None: no upper clip). Clipping moves the sample mean.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["fixed", "uniform", "lognormal"] = "fixed"
    mean: float | None = Field(None, gt=0)
    min: int = Field(1, ge=1)
    max: int | None = Field(None, ge=1)
    sigma: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> LengthDist:
        if self.max is not None and self.max < self.min:
            raise ValueError(f"max {self.max} is below min {self.min}")
        if self.kind == "fixed":
            if self.mean is None or self.mean != int(self.mean):
                raise ValueError("fixed needs an integer mean")
            if self.mean < self.min or (self.max is not None and self.mean > self.max):
                raise ValueError(f"fixed mean {int(self.mean)} is outside [min, max]")
        elif self.kind == "uniform":
            if self.max is None:
                raise ValueError("uniform needs max (and min)")
        elif self.mean is None:
            raise ValueError("lognormal needs mean")
        return self

    def sample(self, rng: random.Random) -> int:
        """One length (tokens) drawn with ``rng`` (uses ``rng.random()`` only)."""
        if self.kind == "fixed":
            return int(self.mean)  # type: ignore[arg-type]
        if self.kind == "uniform":
            span = self.max - self.min + 1  # type: ignore[operator]
            return self.min + min(span - 1, int(rng.random() * span))
        # Box-Muller (one of the pair): u1 in (0, 1] keeps log finite.
        u1, u2 = 1.0 - rng.random(), rng.random()
        z = math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
        mu = math.log(self.mean) - self.sigma ** 2 / 2.0  # type: ignore[arg-type]
        x = math.exp(min(mu + self.sigma * z, 700.0))
        v = math.floor(x + 0.5)
        v = max(self.min, v)
        return v if self.max is None else min(self.max, v)

    def describe(self) -> str:
        """A short text form, e.g. ``lognormal(mean=512, sigma=1, [1, 4096])``."""
        rng = f"[{self.min}, {self.max if self.max is not None else 'inf'}]"
        if self.kind == "fixed":
            return f"fixed({int(self.mean)})"  # type: ignore[arg-type]
        if self.kind == "uniform":
            return f"uniform{rng}"
        return f"lognormal(mean={self.mean:g}, sigma={self.sigma:g}, {rng})"


def generate_requests(rate: float, count: int, prompt: LengthDist, output: LengthDist,
                      seed: int = 0) -> list[Request]:
    """``count`` requests with Poisson arrivals at ``rate`` requests/s starting at t = 0 (the first
    arrival is one exponential gap after 0), arrival times rounded to microseconds as written.

    Arrivals, prompt lengths and output lengths use three independent streams seeded from
    ``seed``, so changing one distribution leaves the others' draws unchanged.
    """
    if not (rate > 0 and math.isfinite(rate)):
        raise ValueError(f"rate must be a positive number of requests/s, got {rate}")
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    r_arr = random.Random(f"accelsim.requests:{seed}:arrivals")
    r_p = random.Random(f"accelsim.requests:{seed}:prompt")
    r_o = random.Random(f"accelsim.requests:{seed}:output")
    t = 0.0
    out: list[Request] = []
    for i in range(count):
        t += -math.log(1.0 - r_arr.random()) / rate
        out.append(Request(i, float(format_arrival(t)), prompt.sample(r_p), output.sample(r_o)))
    return out


def summarize(requests: Sequence[Request]) -> dict[str, float | int | None]:
    """Counts and means of a trace (for reports): requests, token totals, arrival span."""
    n = len(requests)
    if n == 0:
        return {"requests": 0}
    span = requests[-1].arrival_s - requests[0].arrival_s
    return {
        "requests": n,
        "prompt_tokens": sum(r.prompt_tokens for r in requests),
        "output_tokens": sum(r.output_tokens for r in requests),
        "prompt_tokens_mean": float(f"{sum(r.prompt_tokens for r in requests) / n:.10g}"),
        "output_tokens_mean": float(f"{sum(r.output_tokens for r in requests) / n:.10g}"),
        "first_arrival_s": requests[0].arrival_s,
        "last_arrival_s": requests[-1].arrival_s,
        "offered_rate_per_s": float(f"{(n - 1) / span:.10g}") if span > 0 else None,
    }
