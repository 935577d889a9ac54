"""Fuzzing architecture files: hostile field values, deleted fields, extra array groups, and
corrupted YAML text. ``validate`` must refuse with a message or accept; whatever it accepts,
``run`` must run, with sane numbers."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness import finding, invoke, judge, summarize, survey
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import GEMMS, arch_docs

from accelsim.cli import main

TEXT_EDITS = st.sampled_from(["", "\x00", "[[[", "]", ": :", "\t", "&a *a", "!!python/name:os.system", "\ufeff",
                              "\n---\n", "a: !!binary x", "{", "  - 1\n", "9" * 5000])


def _one(doc: dict[str, Any], edit: tuple[int, str] | None, workload: str, flags: list[str]) -> None:
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "arch.yaml"
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
        if edit is not None:
            pos = edit[0] % (len(text) + 1)
            text = text[:pos] + edit[1] + text[pos:]
        f.write_text(text, encoding="utf-8")
        v = invoke(main, ["validate", str(f)])
        judge("arch: validate", v)
        if v.code != 0:
            return
        r = invoke(main, ["run", str(f), workload, "--json", *flags])
        judge("arch: run after validate ok", r, json_out=True)
        if r.code in (1, 2):
            finding("arch: run after validate ok", "validate accepted, run refused", r.output)


EDITS = st.one_of(st.none(), st.tuples(st.integers(0, 10**6), TEXT_EDITS))
CASES = given(st.one_of(arch_docs(), arch_docs(hostile=False)), EDITS, GEMMS,
              st.sampled_from([["--no-gpu"], ["--no-gpu", "--compat", "scalesim"], ["--gpu", "a100"]]))


@settings(settings.get_profile("quick"))
@CASES
def test_arch_fuzz_quick(doc: dict[str, Any], edit: tuple[int, str] | None, workload: str, flags: list[str]) -> None:
    _one(doc, edit, workload, flags)


@pytest.mark.fuzz
def test_arch_fuzz_long() -> None:
    @settings(settings.get_profile("long"))
    @CASES
    def case(doc: dict[str, Any], edit: tuple[int, str] | None, workload: str, flags: list[str]) -> None:
        _one(doc, edit, workload, flags)

    with survey() as found:
        case()
    assert not found, summarize(found)
