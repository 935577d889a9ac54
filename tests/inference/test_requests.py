"""Request traces: the validated CSV reader, the writer, and the seeded generator's distributions."""

from __future__ import annotations

import itertools
import math
import statistics
from pathlib import Path

import pytest
from pydantic import ValidationError

from accelsim.errors import SpecError
from accelsim.inference.requests import (
    LengthDist,
    Request,
    generate_requests,
    read_requests,
    summarize,
    write_requests,
)


def _csv(tmp_path: Path, text: str, name: str = "trace.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_reads_a_valid_trace(tmp_path: Path) -> None:
    # BOM, extra column, reordered columns, spaces, a blank line: all fine
    p = _csv(tmp_path, "\ufeffprompt_tokens, arrival_s ,output_tokens,user\n"
                       "10, 0.0, 3, a\n\n20,0.5,1,b\n7,0.5,+2,c\n")
    reqs = read_requests(p)
    assert reqs == [Request(0, 0.0, 10, 3), Request(1, 0.5, 20, 1), Request(2, 0.5, 7, 2)]


def test_write_read_round_trip(tmp_path: Path) -> None:
    reqs = [Request(0, 0.1234567, 10, 3), Request(1, 2.0, 20, 1)]
    p = write_requests(reqs, tmp_path / "sub" / "t.csv")
    assert p.read_text() == "arrival_s,prompt_tokens,output_tokens\n0.123457,10,3\n2.000000,20,1\n"
    assert read_requests(p) == [Request(0, 0.123457, 10, 3), Request(1, 2.0, 20, 1)]


@pytest.mark.parametrize("text, where, what", [
    ("arrival_s,prompt_tokens\n0,1\n", "line 1", "missing column(s) output_tokens"),
    ("arrival_s,prompt_tokens,output_tokens,prompt_tokens\n0,1,1,1\n", "line 1", "duplicate column"),
    ("arrival_s,prompt_tokens,output_tokens\n0,abc,1\n", "line 2, column 'prompt_tokens'",
     "'abc' is not a positive integer"),
    ("arrival_s,prompt_tokens,output_tokens\n0,10,1\n1,10,0\n", "line 3, column 'output_tokens'",
     "'0' is not a positive integer"),
    ("arrival_s,prompt_tokens,output_tokens\n0,1.5,1\n", "column 'prompt_tokens'", "'1.5' is not a positive integer"),
    ("arrival_s,prompt_tokens,output_tokens\n-1,10,1\n", "line 2, column 'arrival_s'",
     "not a finite number of seconds >= 0"),
    ("arrival_s,prompt_tokens,output_tokens\nnan,10,1\n", "column 'arrival_s'", "'nan'"),
    ("arrival_s,prompt_tokens,output_tokens\n1.0,10,1\n0.5,10,1\n", "line 3, column 'arrival_s'",
     "earlier than line 2's 1.0 (rows must be sorted by arrival_s)"),
    ("arrival_s,prompt_tokens,output_tokens\n0,10\n", "line 2", "expected 3 fields, found 2"),
    ("", "", "empty file"),
    ("arrival_s,prompt_tokens,output_tokens\n", "", "no requests"),
])
def test_bad_traces_name_file_line_and_column(tmp_path: Path, text: str, where: str, what: str) -> None:
    p = _csv(tmp_path, text)
    with pytest.raises(SpecError) as ei:
        read_requests(p)
    msg = str(ei.value)
    assert msg.startswith(str(p)) and where in msg and what in msg, msg
    assert ei.value.exit_code == 2


def test_every_bad_row_is_listed_up_to_a_limit(tmp_path: Path) -> None:
    rows = "".join(f"{i},x,1\n" for i in range(30))
    with pytest.raises(SpecError) as ei:
        read_requests(_csv(tmp_path, "arrival_s,prompt_tokens,output_tokens\n" + rows))
    assert len(ei.value.problems) == 21 and "stopped after 20 problems" in str(ei.value)
    assert "line 2," in str(ei.value) and "line 21," in str(ei.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="request trace not found"):
        read_requests(tmp_path / "nope.csv")


FIXED = LengthDist(kind="fixed", mean=100)


def test_generator_is_deterministic_with_independent_streams() -> None:
    a = generate_requests(5.0, 200, LengthDist(kind="lognormal", mean=300), FIXED, seed=11)
    b = generate_requests(5.0, 200, LengthDist(kind="lognormal", mean=300), FIXED, seed=11)
    assert a == b
    c = generate_requests(5.0, 200, LengthDist(kind="lognormal", mean=300), FIXED, seed=12)
    assert [r.arrival_s for r in c] != [r.arrival_s for r in a]
    # a different output distribution leaves arrivals and prompts unchanged
    d = generate_requests(5.0, 200, LengthDist(kind="lognormal", mean=300),
                          LengthDist(kind="uniform", min=1, max=9), seed=11)
    assert [(r.arrival_s, r.prompt_tokens) for r in d] == [(r.arrival_s, r.prompt_tokens) for r in a]
    assert all(1 <= r.output_tokens <= 9 for r in d)
    assert all(y.arrival_s >= x.arrival_s for x, y in itertools.pairwise(a)) and a[0].arrival_s > 0


def test_poisson_arrivals() -> None:
    # Exponential gaps of mean 1/rate: the mean and the standard deviation are both 1/rate
    # (coefficient of variation 1). n = 4000: the standard error of the mean gap is
    # 1/rate / sqrt(4000) = 1.6 %, so 5 % is a 3-sigma band (and the seed is fixed).
    reqs = generate_requests(5.0, 4000, FIXED, FIXED, seed=0)
    gaps = [reqs[0].arrival_s] + [b.arrival_s - a.arrival_s for a, b in itertools.pairwise(reqs)]
    assert statistics.fmean(gaps) == pytest.approx(0.2, rel=0.05)
    assert statistics.pstdev(gaps) / statistics.fmean(gaps) == pytest.approx(1.0, rel=0.05)
    assert summarize(reqs)["offered_rate_per_s"] == pytest.approx(5.0, rel=0.05)


def test_length_distributions() -> None:
    import random

    rng = random.Random(0)
    assert {FIXED.sample(rng) for _ in range(50)} == {100}
    u = LengthDist(kind="uniform", min=3, max=5)
    xs = [u.sample(rng) for _ in range(3000)]
    assert set(xs) == {3, 4, 5} and statistics.fmean(xs) == pytest.approx(4.0, rel=0.03)
    # lognormal, sigma 0.5, no clipping in reach: the sample mean approaches `mean`.
    # std = mean x sqrt(e^0.25 - 1) = 0.53 mean; n = 4000 -> standard error 0.84 %: 4 % band.
    ln = LengthDist(kind="lognormal", mean=400, sigma=0.5)
    xs = [ln.sample(rng) for _ in range(4000)]
    assert statistics.fmean(xs) == pytest.approx(400, rel=0.04)
    # the median of a lognormal is exp(mu) = mean x exp(-sigma^2 / 2)
    assert statistics.median(xs) == pytest.approx(400 * math.exp(-0.125), rel=0.04)
    clipped = LengthDist(kind="lognormal", mean=400, sigma=2.0, min=50, max=500)
    xs = [clipped.sample(rng) for _ in range(2000)]
    assert min(xs) == 50 and max(xs) == 500


@pytest.mark.parametrize("kw, what", [
    ({"kind": "fixed", "mean": 10.5}, "integer mean"),
    ({"kind": "fixed"}, "integer mean"),
    ({"kind": "fixed", "mean": 5, "min": 10}, "outside"),
    ({"kind": "uniform", "min": 3}, "uniform needs max"),
    ({"kind": "uniform", "min": 3, "max": 2}, "below min"),
    ({"kind": "lognormal"}, "lognormal needs mean"),
])
def test_length_dist_validation(kw: dict[str, object], what: str) -> None:
    with pytest.raises(ValidationError, match=what):
        LengthDist(**kw)  # type: ignore[arg-type]


def test_generator_rejects_bad_rate() -> None:
    with pytest.raises(ValueError, match="rate"):
        generate_requests(0.0, 10, FIXED, FIXED)
