"""What the mapping chose: the per-op mapping columns of result.json / ops.csv, and
``accelsim explain`` (the search's best candidates, the winner and why it won)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from accelsim import api
from accelsim.cli import main
from accelsim.errors import MappingError
from accelsim.mapping.explain import MAPPING_COLUMNS, explain
from accelsim.mapping.options import MappingOptions
from accelsim.mapping.search import TIE_TOLERANCE
from accelsim.model.gemm_cost import ORDER_NAMES
from accelsim.results import OPS_COLUMNS
from accelsim.workload.ir import Graph, Op, TensorInfo
from builders import gemm_graph, make_arch, mlp_graph

NO_GPU = api.RunOptions(gpu=None, energy=False)


def _attention_graph() -> Graph:
    shape = (1, 4, 64, 32)
    T = {n: TensorInfo(n, shape, "float32", "input", n) for n in ("q", "k", "v")}
    T["o"] = TensorInfo("o", shape, "float32")
    return Graph("attn", T, (Op("attn", "sdpa", ("q", "k", "v"), ("o",), {"is_causal": True}, module="attn"),),
                 ("q", "k", "v"), ("o",))


def test_ops_columns_are_appended_in_order() -> None:
    i = OPS_COLUMNS.index("note")
    assert OPS_COLUMNS[i + 1:] == MAPPING_COLUMNS
    assert OPS_COLUMNS[:8] == ["name", "ir_op", "kind", "module", "unit", "start_cycle", "end_cycle", "cycles"]


def test_gemm_op_columns_follow_its_plan(tmp_path: Path) -> None:
    # 512 KiB banks: half of the outputs partition (512 KiB) holds mlp_graph's int8 activations
    # (h and g, 128 x 1024 bytes each, y 128 x 256) at once
    res = api.simulate(make_arch(**{"sram.bank_size_kib": 512}), mlp_graph(), NO_GPU)
    ops = {o["name"]: o for o in res["ops"]}
    prog = res.program
    assert prog is not None
    for mo in prog.ops:
        o = ops[mo.name]
        # simulated: the op's span in the simulation; predicted: the plan's estimate
        assert o["simulated_cycles"] == o["end_cycle"] - o["start_cycle"] == o["cycles"]
        if mo.plan and "tile" in mo.plan:
            m, n, k = mo.plan["tile"]
            assert o["mapping"].startswith(f"{m}x{n}x{k} {ORDER_NAMES[mo.plan['order']]}")
            assert o["mapping"].endswith(mo.plan["arrays"][0]) or ".." in o["mapping"]
            assert o["predicted_cycles"] == mo.plan["predicted_cycles"] > 0
            assert o["bound"] == mo.plan["bound"]
    # residency by the mapper's rules (docs/mapping.md): weights and graph inputs start in DRAM,
    # graph outputs end there, the activations in between stay on chip when they fit
    assert ops["fc"]["residency"] == "A:dram B:dram out:sram"
    assert ops["proj"]["residency"] == "A:sram B:dram out:sram"
    # the residual add reads the resident y and the graph input x, writes the graph output
    assert ops["res"]["residency"] == "in:dram+sram out:dram"
    assert ops["res"]["predicted_cycles"] is None and ops["res"]["mapping"].endswith("(add)")
    res.write(tmp_path)
    rows = list(csv.DictReader((tmp_path / "ops.csv").open()))
    assert list(rows[0]) == OPS_COLUMNS
    fc = next(r for r in rows if r["name"] == "fc")
    assert fc["mapping"] == ops["fc"]["mapping"] and int(fc["simulated_cycles"]) == ops["fc"]["cycles"]
    assert next(r for r in rows if r["name"] == "res")["predicted_cycles"] == ""


def test_graph_output_gemm_and_compat_columns() -> None:
    res = api.simulate(make_arch(), gemm_graph(128, 256, 64), NO_GPU)
    assert res["ops"][0]["residency"] == "A:dram B:dram out:dram"
    sc = api.simulate(make_arch(), gemm_graph(128, 256, 64), api.RunOptions(mode="scalesim", gpu=None, energy=False))
    o = sc["ops"][0]
    assert o["mapping"] == "128x256x64 serial on sa0" and o["predicted_cycles"] is None


def test_attention_columns() -> None:
    res = api.simulate(make_arch(), _attention_graph(), NO_GPU)
    (o,) = [x for x in res["ops"] if x["kind"] == "attention"]
    plan = res.program.ops[0].plan  # type: ignore[union-attr]
    assert o["mapping"].startswith(f"attention {plan['query_block']}-row query blocks on ")
    assert o["residency"] == "Q:dram KV:dram out:dram scores:sram"
    assert o["predicted_cycles"] == plan["predicted_cycles"]


def test_columns_are_deterministic() -> None:
    a = api.simulate(make_arch(), mlp_graph(), NO_GPU).to_json()
    b = api.simulate(make_arch(), mlp_graph(), NO_GPU).to_json()
    assert a == b and '"mapping"' in a


# ----------------------------------------------------------------------------------- explain


def test_explain_gemm_ranks_the_search() -> None:
    arch = make_arch(**{"arrays.0.count": 2})
    opts = MappingOptions(verify_top=0)  # the cost model alone: the ranking is by its estimate
    d = explain(arch, gemm_graph(256, 512, 256), "mm", top=4, options=opts)
    (o,) = d["ops"]
    assert o["type"] == "gemm" and o["matches_plan"] and o["simulated"] == []
    cands = o["candidates"]
    assert 2 <= len(cands) <= 4 and cands[0]["winner"] and not any(c["winner"] for c in cands[1:])
    assert [c["rank"] for c in cands] == list(range(1, len(cands) + 1))
    # latency objective: nobody ranked below the winner is faster by more than the tie window
    for c in cands[1:]:
        assert c["cycles"] >= cands[0]["cycles"] / (1 + TIE_TOLERANCE)
    prog = api.map_program(arch, gemm_graph(256, 512, 256), api.RunOptions(mapping=opts, gpu=None))
    plan = prog.ops[0].plan
    assert cands[0]["tile"] == plan["tile"] and cands[0]["cycles"] == plan["predicted_cycles"]
    assert o["space"] == plan["candidates"] and o["feasible"] == plan["feasible"]
    for c in cands:
        # each estimate is bounded below by its compute and by its DRAM traffic at full bandwidth
        assert c["cycles"] >= c["compute_cycles"]
        assert c["cycles"] >= c["dram_bytes"] / (arch.dram.bandwidth_gbps / arch.clock_ghz)
        assert c["dram_bytes"] >= c["compulsory_dram_bytes"]
        sl = c["sram_limit"]
        assert 0 < sl["fraction"] <= 1 and sl["used_bytes"] == c["footprint_bytes"][sl["partition"]]
    runner = cands[1]
    assert runner["mapping"] in o["why"]


def test_explain_names_the_simpy_check_when_it_decides() -> None:
    """A small GEMM whose cost-model favourite loses in SimPy (found by trying small shapes on
    the test arch): the explanation says so, with both simulated figures."""
    d = explain(make_arch(), gemm_graph(16, 1024, 256), "mm", top=3)
    (o,) = d["ops"]
    sims = {s["mapping"]: s["simulated_cycles"] for s in o["simulated"]}
    win = o["candidates"][0]
    assert o["why"].startswith("simulated faster")
    assert win["simulated_cycles"] == sims[win["mapping"]] == min(sims.values())
    assert f"{win['simulated_cycles']:,} cycles" in o["why"]


def test_explain_vector_attention_free_and_module_paths() -> None:
    arch = make_arch()
    d = explain(arch, mlp_graph(), "mlp.act")  # a module path
    (o,) = d["ops"]
    prog = api.map_program(arch, mlp_graph())
    act = next(x for x in prog.ops if x.name == "act")
    assert o["name"] == "act" and o["type"] == "vector" and o["tiles"] == act.tiles[1] - act.tiles[0]
    assert o["elements"] == 128 * 1024 and o["work"]  # mlp_graph's hidden activation, M x H
    (a,) = explain(arch, _attention_graph(), "attn")["ops"]
    assert a["type"] == "attention" and a["causal_skip"] and a["units"] * 3 == a["tiles"]
    # causal: executed MACs are fewer than the full L x S products, but at least the lower triangle
    L, D = 64, 32
    assert 4 * L * (L + 1) // 2 * 2 * D <= a["macs_executed"] < a["macs_full"] == 4 * L * L * 2 * D


def test_explain_unknown_op_lists_close_matches() -> None:
    with pytest.raises(MappingError) as ei:
        explain(make_arch(), mlp_graph(), "mlp.fcc")
    msg = str(ei.value)
    assert "mlp.fcc" in msg and "mlp.fc" in msg and ei.value.exit_code == 2


def test_explain_cli_json_and_errors() -> None:
    runner = CliRunner()
    args = ["explain", "edge-int8", "gemm:M=128,N=256,K=128", "--op", "gemm", "--top", "2"]
    r = runner.invoke(main, [*args, "--json"])
    assert r.exit_code == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["ops"][0]["type"] == "gemm" and len(d["ops"][0]["candidates"]) <= 2
    assert runner.invoke(main, [*args, "--json"]).stdout == r.stdout  # deterministic
    t = runner.invoke(main, args)
    assert t.exit_code == 0 and "why:" in t.stdout and "*" in t.stdout
    bad = runner.invoke(main, ["explain", "edge-int8", "gemm:M=128,N=256,K=128", "--op", "gemn"])
    assert bad.exit_code == 2 and "close matches: gemm" in bad.stderr and "Traceback" not in bad.stderr
    bad = runner.invoke(main, [*args[:-1], "0"])
    assert bad.exit_code == 2
