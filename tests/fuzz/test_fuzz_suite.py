"""Fuzzing regression suites: hostile case names, arches, overrides, options and metrics.
``--update-baseline`` must refuse (exit 1/2 with a message) or record a baseline that the same
tree then passes against (exit 0): the gate is deterministic and cannot pass by accident."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness import finding, invoke, judge, summarize, survey
from hypothesis import given, settings
from strategies import suite_docs

from accelsim.regress.cli import regress
from builders import BASE_ARCH


def _one(doc: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "arch.yaml").write_text(yaml.safe_dump(BASE_ARCH, sort_keys=False))
        f = Path(d) / "suite.yaml"
        f.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
        base = Path(d) / "baseline.json"
        u = invoke(regress, [str(f), "--baseline", str(base), "--update-baseline"], seconds=120)
        judge("suite: --update-baseline", u)
        if u.code != 0:
            if base.exists():
                finding("suite", "a refused update wrote the baseline", u.output)
            return
        if not base.exists():
            return  # a finding judge() already recorded
        data = json.loads(base.read_text())
        bad = [f"{k} = {v}" for case in data["cases"].values() for k, v in case["metrics"].items()
               if v is None or (isinstance(v, float) and not (math.isfinite(v) and v >= 0))]
        if bad:
            finding("suite", "recorded nonsense", "; ".join(bad))
        for quiet in ((), ("-q",)):
            r = invoke(regress, [str(f), "--baseline", str(base), *quiet], seconds=120)
            judge("suite: compare with its own baseline", r)
            if r.code != 0:
                finding("suite", "the tree failed against its own fresh baseline", r.output)


@settings(settings.get_profile("quick"))
@given(suite_docs())
def test_suite_fuzz_quick(doc: dict[str, Any]) -> None:
    _one(doc)


@pytest.mark.fuzz
def test_suite_fuzz_long() -> None:
    @settings(settings.get_profile("long"))
    @given(suite_docs())
    def case(doc: dict[str, Any]) -> None:
        _one(doc)

    with survey() as found:
        case()
    assert not found, summarize(found)
