"""CheckReport: levels, determinism and JSON form."""

from __future__ import annotations

import functools
import json

import pytest

torch = pytest.importorskip("torch")

from accelsim.arch.load import find_arch, load_arch
from accelsim.mapping.mapper import map_graph
from accelsim.numerics.check import CheckReport, TensorCheck, run_check
from accelsim.workload.registry import load_traced

torch.set_num_threads(1)


@functools.cache
def tiny():  # type: ignore[no-untyped-def]
    return load_traced("gpt2-tiny", {"seq": 16})


@pytest.mark.parametrize("arch_name", ["datacenter-bf16", "edge-int8"])
def test_level_all_reports_every_intermediate(arch_name: str) -> None:
    t = tiny()
    arch = load_arch(find_arch(arch_name))
    prog = map_graph(t.graph, arch)
    rep = run_check(t, prog, arch, level="all")
    assert rep.passed and rep.level == "all"
    reported = {c.tensor for c in rep.tensors}
    activations = {n for n, ti in prog.graph.tensors.items() if ti.kind == "activation"}
    assert activations <= reported
    # every program op with an output is there, in program order
    ops = [c.op for c in rep.tensors]
    assert {m.name for m in prog.ops} <= set(ops)
    order = {m.name: m.index for m in prog.ops}
    assert [order[o] for o in ops] == sorted(order[o] for o in ops)
    # fused attention: scores, probabilities and P.V, reported per head
    sd = [c for c in rep.tensors if c.op == "scaled_dot_product_attention"]
    notes = [c.note for c in sd][:3]
    assert "scores" in notes[0] and "probabilities" in notes[1] and "heads [0, 1)" in notes[2]


def test_outputs_level_and_failure_fields() -> None:
    t = tiny()
    arch = load_arch(find_arch("datacenter-bf16"))
    rep = run_check(t, map_graph(t.graph, arch), arch)
    assert rep.level == "outputs"
    assert [c.tensor for c in rep.tensors] == list(t.graph.outputs)
    assert rep.passed and rep.first_failure is None
    c = rep.tensors[0]
    assert isinstance(c, TensorCheck) and c.module == "lm_head" and c.bound is not None
    with pytest.raises(ValueError, match="level"):
        run_check(t, map_graph(t.graph, arch), arch, level="everything")


@pytest.mark.parametrize("arch_name", ["datacenter-bf16", "edge-int8"])
def test_to_dict_is_deterministic_json(arch_name: str) -> None:
    t = tiny()
    arch = load_arch(find_arch(arch_name))
    prog = map_graph(t.graph, arch)
    a = run_check(t, prog, arch, level="all").to_dict()
    b = run_check(t, map_graph(t.graph, arch), arch, level="all").to_dict()
    assert a == b
    text = json.dumps(a, allow_nan=False, sort_keys=True)
    assert json.dumps(b, allow_nan=False, sort_keys=True) == text
    assert set(a) == {"passed", "scheme", "level", "tensors", "first_failure", "vs_fp32", "vs_model"}
    assert set(a["tensors"][0]) == {"tensor", "op", "module", "max_abs_err", "max_rel_err", "bound", "passed", "note"}
    if arch_name == "edge-int8":
        assert a["scheme"] == "int8-exact" and "outputs" in a["vs_fp32"]
    else:
        assert a["scheme"] == "bf16-fp32acc" and a["vs_fp32"] is None


def test_report_dataclass_round_trip() -> None:
    tc = TensorCheck("x", "op", "m", float("inf"), 0.5, None, False, "broken")
    rep = CheckReport(False, "fp32", "outputs", (tc,), tc, None)
    d = rep.to_dict()
    assert d["first_failure"]["max_abs_err"] == float("inf") and d["tensors"][0]["max_rel_err"] == 0.5
    assert f"{d['tensors'][0]['max_abs_err']:.3g}" == "inf"  # numbers stay numbers (terminal formatting)
    assert json.loads(json.dumps(d)) == d
