"""Fuzzing saved graph JSON: edited shapes and dtypes, dangling and duplicated edges, dropped
keys, foreign formats, wrong-typed nested fields, attributes and meta keys. ``run`` must refuse
the file naming what is wrong (exit 2) or simulate it with sane numbers."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness import invoke, judge, summarize, survey
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import graph_docs

from accelsim.cli import main
from builders import BASE_ARCH

DATA = Path(__file__).resolve().parents[1] / "data"
GEMM_GRAPH = json.loads((DATA / "graphs" / "gemm_M64_N48_K32.json").read_text())
GPT2_GRAPH = json.loads((DATA / "graphs" / "gpt2-tiny_seq16.json").read_text())
#: Edited GEMM graphs mostly, and the traced gpt2-tiny (every op kind it has, attributes, meta).
DOCS = st.one_of(graph_docs(GEMM_GRAPH), graph_docs(GEMM_GRAPH), graph_docs(GPT2_GRAPH))


def _one(doc: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "arch.yaml").write_text(yaml.safe_dump(BASE_ARCH, sort_keys=False))
        g = Path(d) / "graph.json"
        g.write_text(json.dumps(doc))
        o = invoke(main, ["run", str(Path(d) / "arch.yaml"), str(g), "--no-gpu", "--json"])
        judge("graph json: run", o, json_out=True)


@settings(settings.get_profile("quick"))
@given(DOCS)
def test_graph_fuzz_quick(doc: dict[str, Any]) -> None:
    _one(doc)


@pytest.mark.fuzz
def test_graph_fuzz_long() -> None:
    @settings(settings.get_profile("long"))
    @given(DOCS)
    def case(doc: dict[str, Any]) -> None:
        _one(doc)

    with survey() as found:
        case()
    assert not found, summarize(found)
