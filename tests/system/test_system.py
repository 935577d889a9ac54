"""Many chips (accelsim/api_system.py, accelsim/sim/system.py): tensor parallelism equals the one-chip
arithmetic plus the collectives, the GPipe bubble, 7B-shaped decode scaling, contention,
--check under TP, the GPU side, determinism."""

from __future__ import annotations

import dataclasses
import json

import pytest

from accelsim import api, api_system
from accelsim.api import RunOptions
from accelsim.gpu.model import simulate_gpu
from accelsim.gpu.profile import load_profile
from accelsim.model.collectives import direct_allgather_s, direct_allreduce_s, pipeline_bubble
from accelsim.passes.shard import Cut, shard_tp
from accelsim.workload.ir import Graph, Op, TensorInfo
from builders import make_arch

NO_GPU = RunOptions(gpu=None)


@pytest.fixture(scope="module")
def llama_decode() -> Graph:
    return api.load_graph("llama", {"layers": 2, "decode": True, "kv_len": 64})


@pytest.fixture(scope="module")
def two_chips() -> object:
    return api.load_arch("datacenter-bf16", ["system.chips=2"])


@pytest.fixture(scope="module")
def tp2(two_chips: object, llama_decode: Graph) -> api_system.RunResult:  # type: ignore[name-defined]
    return api_system.simulate_system(two_chips, llama_decode, NO_GPU, tp=2)  # type: ignore[arg-type]


def test_two_chip_tp_is_the_split_program_plus_its_collectives(two_chips, llama_decode, tp2) -> None:  # type: ignore[no-untyped-def]
    s = tp2["system"]
    # one chip running the rank graph alone (collectives as free views): the arithmetic of a chip
    plan = shard_tp(llama_decode, 2)
    alone = api.simulate(two_chips, plan.graph, NO_GPU)
    colls = [c for c in s["collectives"] if c["kind"] != "p2p"]
    assert len(colls) == 5  # two all-reduces per block, the logits' all-gather
    comm = sum(c["cycles"] for c in colls)
    issue = two_chips.controller.sequencer.issue_cycles
    # a decode step is one dependency chain: nothing hides the collectives, and nothing else is added
    # but the sequencer's issue of each link tile
    assert alone["total_cycles"] + comm <= tp2["total_cycles"] <= alone["total_cycles"] + comm + issue * len(colls)
    # GEMM arithmetic: the two chips together do exactly the one-chip MACs
    one = api.simulate(two_chips, llama_decode, NO_GPU)
    assert tp2["macs"] == one["macs"] == 2 * alone["macs"]
    assert [c["macs"] for c in s["per_chip"]] == [alone["macs"]] * 2
    # each all-reduce moves the whole activation at the accumulators' precision (fp32)
    assert {c["bytes"] for c in colls if c["kind"] == "all_reduce"} == {256 * 4}
    assert s["one_chip"]["total_cycles"] == one["total_cycles"]
    assert s["speedup_vs_one_chip"] == pytest.approx(one["total_cycles"] / tp2["total_cycles"], rel=1e-9)


def test_collectives_never_beat_their_formula(tp2) -> None:  # type: ignore[no-untyped-def]
    for c in tp2["system"]["collectives"]:
        assert c["cycles"] >= c["formula_cycles"] - 1e-6, c


def test_result_is_deterministic_and_one_chip_is_plain_simulate(two_chips, llama_decode, tp2) -> None:  # type: ignore[no-untyped-def]
    again = api_system.simulate_system(two_chips, llama_decode, NO_GPU, tp=2)
    assert again.to_json() == tp2.to_json()
    single = api_system.simulate_system(two_chips, llama_decode, NO_GPU)
    plain = api.simulate(two_chips, llama_decode, NO_GPU)
    d = dict(single.data)
    assert d.pop("system")["chips_used"] == 1
    assert json.dumps(d) == json.dumps(plain.data)


@pytest.mark.parametrize("sets,tp", [
    (["system.chips=4"], 4),
    (["system.chips=4", "system.interconnect.topology=torus2d"], 4),
    (["system.chips=4", "system.interconnect.topology=fully_connected", "system.interconnect.links_per_chip=3"], 4),
])
def test_symmetric_mode_equals_simulating_every_chip(sets: list[str], tp: int) -> None:
    g = api.load_graph("gpt2-tiny", {"seq": 8, "decode": True, "kv_len": 16})
    arch = api.load_arch("datacenter-bf16", sets)
    full = api_system.simulate_system(arch, g, NO_GPU, tp=tp, baseline=False, symmetric=False)
    sym = api_system.simulate_system(arch, g, NO_GPU, tp=tp, baseline=False)
    a, b = dict(full.data), dict(sym.data)
    sa, sb = a.pop("system"), b.pop("system")
    assert sb["symmetric"] and not sa["symmetric"]
    a.pop("events"), b.pop("events")  # simulator work differs, nothing else
    assert a == b
    assert sa["per_chip"] == sb["per_chip"]
    assert [c["cycles"] for c in sa["collectives"]] == [c["cycles"] for c in sb["collectives"]]


def _mlp_stack(layers: int, rows: int = 64, d: int = 128) -> Graph:
    """``layers`` identical residual MLP blocks (module ``layers.<i>``): balanced pipeline stages."""
    T = {"x0": TensorInfo("x0", (rows, d), "float32", "input", "x0")}
    ops = []
    for i in range(layers):
        p = f"layers.{i}"
        T[f"w1.{i}"] = TensorInfo(f"w1.{i}", (2 * d, d), "float32", "weight", f"w1.{i}")
        T[f"w2.{i}"] = TensorInfo(f"w2.{i}", (d, 2 * d), "float32", "weight", f"w2.{i}")
        for n, shp in ((f"h.{i}", (rows, 2 * d)), (f"r.{i}", (rows, 2 * d)), (f"y.{i}", (rows, d)),
                       (f"x{i + 1}", (rows, d))):
            T[n] = TensorInfo(n, shp, "float32")
        ops += [Op(f"fc.{i}", "linear", (f"x{i}", f"w1.{i}"), (f"h.{i}",), {}, f"{p}.fc"),
                Op(f"relu.{i}", "relu", (f"h.{i}",), (f"r.{i}",), {}, f"{p}.act"),
                Op(f"proj.{i}", "linear", (f"r.{i}", f"w2.{i}"), (f"y.{i}",), {}, f"{p}.proj"),
                Op(f"res.{i}", "add", (f"x{i}", f"y.{i}"), (f"x{i + 1}",), {}, p)]
    g = Graph("mlp-stack", T, tuple(ops), ("x0",), (f"x{layers}",), {"batch": 1})
    g.verify()
    return g


@pytest.mark.parametrize("p,m", [(4, 4), (2, 6)])
def test_pipeline_bubble_on_balanced_stages(p: int, m: int) -> None:
    # near-free links (no latency, 100 TB/s) so that the bubble is the schedule's alone
    arch = make_arch(system={"chips": p, "interconnect": {"latency_ns": 0, "link_bandwidth_gbps": 1e5}})
    g = _mlp_stack(p)
    r = api_system.simulate_system(arch, g, RunOptions(gpu=None, energy=False), pp=p, microbatches=m,
                                   baseline=False)
    s = r["system"]
    assert [st["layers"] for st in s["stages"]] == [[i, i] for i in range(p)]
    busy = [c["busy_cycles"] for c in s["per_chip"]]
    assert len(set(busy)) == 1  # identical stages take identical time
    t = busy[0] / m
    # GPipe: (m + p - 1) stage times, plus the sends between neighbours (a few cycles here)
    assert (m + p - 1) * t <= r["total_cycles"] <= (m + p - 1) * t + (p - 1) * 4 * m
    assert s["pipeline_bubble"] == pytest.approx(pipeline_bubble(p, m), abs=2e-3)
    assert s["pipeline_bubble_formula"] == pytest.approx((p - 1) / (m + p - 1))


def test_pipeline_sends_overlap_the_next_micro_batch() -> None:
    # slow links (5 us per hop): stage 0 keeps computing while micro-batch j's activations travel
    arch = make_arch(system={"chips": 2, "interconnect": {"latency_ns": 5000}})
    m = 4
    r = api_system.simulate_system(arch, _mlp_stack(2), RunOptions(gpu=None, energy=False), pp=2, microbatches=m,
                                   baseline=False)
    s = r["system"]
    t = s["per_chip"][0]["busy_cycles"] / m
    send = max(c["cycles"] for c in s["collectives"] if c["kind"] == "p2p")
    assert 0.2 * t < send < t  # a send takes a good part of a stage's time
    # overlapped: the sends add one transfer to the makespan, not one per micro-batch
    assert r["total_cycles"] <= (m + 1) * t + send + 8
    assert r["total_cycles"] < m * (t + send)


def test_7b_decode_on_eight_chips_scales_between_4x_and_8x() -> None:
    # Llama-2-7B shapes (dim 4096, 32 heads, MLP 11008, vocab 32000), a decode step at batch 1 over a
    # 256-token cache; 2 of the 32 layers (plus the embedding and LM head) to keep the test short
    arch = api.load_arch("datacenter-bf16", ["system.chips=8"])
    g = api.load_graph("llama2-7b", {"layers": 2, "decode": True, "kv_len": 256})
    r = api_system.simulate_system(arch, g, RunOptions(gpu="h100"), tp=8)
    s = r["system"]
    assert s["interconnect"]["topology"] == "ring" and s["tp"] == 8
    assert 4.0 <= s["speedup_vs_one_chip"] <= 8.0, s["speedup_vs_one_chip"]
    # the GPU side: 8 H100s over NVLink 4 for the same split; its collectives cost the direct formula
    gs = r["gpu"]["system"]
    prof = load_profile("h100")
    ic = prof.interconnect
    assert ic is not None
    peer, a = ic.bandwidth_bytes_per_s / 7, ic.latency_us * 1e-6
    plan = shard_tp(g, 8)
    want = sum(direct_allreduce_s(c.elements * 2, 8, peer, a) if c.kind == "all_reduce"
               else direct_allgather_s(c.elements * 2, 8, peer, a) for c in plan.collectives)
    assert gs["collective_s"] == pytest.approx(want, rel=1e-9)
    assert gs["gpus"] == 8
    assert r["gpu"]["latency_s"] < simulate_gpu(g, prof, "bf16").latency_s  # 8 GPUs beat one
    assert r["gpu"]["latency_s"] == pytest.approx(sum(o["time_s"] for o in r["gpu"]["ops"]), rel=1e-9)


def test_pipeline_sends_contend_on_a_ring() -> None:
    # TP 2 x PP 2 on a ring of 4: rank 0 sends 0 -> 2 (via 1), rank 1 sends 1 -> 3 (via 2); both
    # cross the channel 1 -> 2 at the same time, so one waits for the other
    arch = api.load_arch("datacenter-bf16", ["system.chips=4"])
    g = api.load_graph("llama", {"layers": 2, "seq": 16})
    r = api_system.simulate_system(arch, g, NO_GPU, tp=2, pp=2, baseline=False)
    s = r["system"]
    sends = [c for c in s["collectives"] if c["kind"] == "p2p"]
    assert sorted(tuple(c["chips"]) for c in sends) == [(0, 2), (1, 3)]
    assert sends[0]["start_cycle"] == sends[1]["start_cycle"]
    c0, c1 = sorted(c["cycles"] for c in sends)
    assert c1 > c0 and c0 >= sends[0]["formula_cycles"]
    assert s["link_utilization"]["1->2"]["transfers"] == 2
    assert s["link_utilization"]["1->2"]["bytes"] == 2 * sends[0]["bytes"]


def test_check_under_tp_passes_and_catches_a_wrong_split(two_chips) -> None:  # type: ignore[no-untyped-def]
    t = api.load_traced("llama", {"layers": 1, "decode": True, "kv_len": 16})
    r = api_system.simulate_system(two_chips, t.graph, NO_GPU, tp=2, baseline=False)
    chk = api_system.check_system(r, t)
    assert chk["passed"] and chk["scheme"] == "bf16-fp32acc"
    assert [c["passed"] for c in chk["system"]["chips"]] == [True, True]
    assert {row["tensor"] for row in chk["tensors"]} == set(t.graph.outputs)
    assert all(row["max_rel_err"] < 1e-5 for row in chk["tensors"])

    # rank 1 holding rank 0's half of o_proj: every chip still computes its own graph, but the
    # chips together no longer compute the model
    class Swapped(Cut):
        def ranges(self, rank: int) -> list[tuple[int, int]]:
            return super().ranges(self.tp - 1 - rank)

    raw = r.system_raw
    tplan = raw.plan.plan
    w = "layers.0.attn.o_proj.weight"
    cuts = dict(tplan.cuts)
    cuts[w] = Swapped(*dataclasses.astuple(cuts[w]))
    bad = dataclasses.replace(raw, plan=dataclasses.replace(raw.plan, plan=dataclasses.replace(tplan, cuts=cuts)))
    r.system_raw = bad
    chk2 = api_system.check_system(r, t)
    assert not chk2["passed"] and not chk2["system"]["combined"]["passed"]
    assert chk2["first_failure"]["op"] == "<combined>"


def test_check_under_tp_on_an_int8_arch() -> None:
    arch = api.load_arch("edge-int8", ["system.chips=2"])
    t = api.load_traced("gpt2-tiny", {"seq": 8})
    r = api_system.simulate_system(arch, t.graph, NO_GPU, tp=2, baseline=False)
    chk = api_system.check_system(r, t)
    assert chk["passed"] and chk["scheme"] == "int8-exact"


def test_too_few_chips_and_scalesim_are_refused(llama_decode) -> None:  # type: ignore[no-untyped-def]
    from accelsim.errors import SpecError

    with pytest.raises(SpecError, match=r"--tp 2 x --pp 2 needs 4 chips.*--set system.chips=4"):
        api_system.simulate_system(api.load_arch("datacenter-bf16", ["system.chips=2"]), llama_decode, tp=2, pp=2)
    with pytest.raises(SpecError, match="scalesim"):
        api_system.simulate_system(api.load_arch("datacenter-bf16", ["system.chips=2"]), llama_decode,
                                   RunOptions(mode="scalesim", gpu=None), tp=2)
