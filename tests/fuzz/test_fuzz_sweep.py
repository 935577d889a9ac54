"""Fuzzing sweep files: hostile parameter paths and values, objectives, strategies and options.
A sweep must be refused up front with every problem named (exit 2), or run (at most 4 points,
in this process) and exit 0 with sane numbers for its ok points -- or 2 when no point could be
simulated. ``-q`` never changes the exit status."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness import finding, invoke, judge, summarize, survey
from hypothesis import given, settings
from strategies import sweep_docs

from accelsim.sweep.cli import sweep
from builders import BASE_ARCH

SWEEP_NUMBERS = ["total_cycles", "latency_s", "energy_j", "power_w", "area_mm2", "mac_utilization", "dram_bytes"]


def _one(doc: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "arch.yaml").write_text(yaml.safe_dump(BASE_ARCH, sort_keys=False))
        f = Path(d) / "sweep.yaml"
        f.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
        args = [str(f), "--out", str(Path(d) / "out"), "--workers", "0", "--no-plots"]
        o = invoke(sweep, args, seconds=120)
        judge("sweep", o)
        q = invoke(sweep, [*args, "-q"], seconds=120)  # the second run resumes from the store
        judge("sweep -q (resumed)", q)
        if q.code != o.code:
            finding("sweep", "-q changed the exit status", f"{o.code} -> {q.code}: {q.output}")
        csv = Path(d) / "out" / "results.csv"
        if o.code == 0:
            import pandas as pd

            df = pd.read_csv(csv)
            ok = df[df["status"] == "ok"]
            bad = [] if len(ok) else ["exit 0 without a single ok point"]
            for col in SWEEP_NUMBERS:
                bad += [f"{col} = {v}" for v in ok[col].dropna()
                        if not (math.isfinite(v) and v >= 0 and (col != "mac_utilization" or v <= 1 + 1e-9))]
            if len(ok) and not (ok["total_cycles"] > 0).all():
                bad.append("an ok point with zero cycles")
            if bad:
                finding("sweep", "exit 0 with nonsense", "; ".join(bad))


@settings(settings.get_profile("quick"))
@given(sweep_docs())
def test_sweep_fuzz_quick(doc: dict[str, Any]) -> None:
    _one(doc)


@pytest.mark.fuzz
def test_sweep_fuzz_long() -> None:
    @settings(settings.get_profile("long"))
    @given(sweep_docs())
    def case(doc: dict[str, Any]) -> None:
        _one(doc)

    with survey() as found:
        case()
    assert not found, summarize(found)
