"""benchmarks/real_models.py (the third-party model table of docs/validation.md) keeps working:
a few of its rows, each independent count (closed form, FlopCounter) against accelsim's."""

from __future__ import annotations

import importlib.util
import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from conftest import ROOT  # noqa: E402


@pytest.fixture(scope="module")
def rm():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("_real_models", ROOT / "benchmarks" / "real_models.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["_real_models"] = mod  # dataclasses resolve their module
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop("_real_models", None)


@pytest.mark.parametrize("name", ["llama-tiny", "bert-tiny", "tcn"])
def test_rows_match_both_independent_counts(rm, name: str) -> None:
    from accelsim import api

    case = next(c for c in rm.CASES if c.name == name)
    row = rm.run_case(case, api.load_arch(rm.ARCH))
    assert row.ok, row.error
    assert row.formula == row.flops == row.reported, row.notes
    assert row.cycles > 0 and not row.unexplained
    line = rm.table([row]).splitlines()[-1]
    assert line.startswith(f"| {name} |") and "| 1.0000 |" in line


def test_executed_attention_by_hand(rm) -> None:
    """The causal skip recomputed by hand: a 1024-token head in 128-row blocks computes block i
    against 128 (i + 1) keys, 36 of the 64 (block x block) squares; non-causal is in full."""
    full = rm.executed_attention((1, 1024, 1024, 64, 64, False), 128)
    assert full == 1024 * 1024 * 128
    assert rm.executed_attention((1, 1024, 1024, 64, 64, True), 128) * 64 == full * 36
    assert rm.executed_attention((1, 1024, 1024, 64, 64, True), 1024) == full  # one block: whole


def test_weight_norm_model_runs_with_the_flop_counter_macs(rm) -> None:
    """wav2vec2's positional conv recomputes its weight norm (g * v / ||v||) in the forward pass:
    ``aten.linalg_vector_norm`` traces to a ``reduce`` with op ``norm``; MACs equal torch's
    FlopCounter (no closed form for this row)."""
    from accelsim import api

    case = next(c for c in rm.CASES if c.name == "wav2vec2")
    row = rm.run_case(case, api.load_arch(rm.ARCH))
    assert row.ok, row.error
    assert row.flops == row.reported and row.cycles > 0, row.notes
