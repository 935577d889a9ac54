"""Generation on the ASIC and the GPU: prefill + decode steps with a KV cache (issue 11).

Small llama / gpt2-tiny shapes; every bound is derived here from the model's shapes and the
arch's datasheet figures, not from a previous run."""

from __future__ import annotations

import functools
import json

import pytest

from accelsim import api
from accelsim.errors import SpecError
from accelsim.inference.costs import StepModel
from accelsim.inference.generation import simulate_generation
from accelsim.inference.kv import kv_bytes_per_token, with_kv_len


@functools.cache
def _model(arch: str, workload: str = "llama", fold: bool = False) -> StepModel:
    return StepModel(api.load_arch(arch), workload, {}, fold=fold, gpu="h100", gpu_launch="graph")


def _streamed_weights(g) -> int:  # type: ignore[no-untyped-def]
    """Weight bytes a decode step must stream (int8: 1 byte each); the embedding table is read
    one row per token, not whole."""
    return sum(t.numel for n, t in g.weights.items() if not n.startswith("embed"))


def test_kv_bytes_equal_the_formula() -> None:
    # llama defaults: 2 layers, 2 KV heads of 256/8 = 32 dims; int8 storage on edge-int8
    m = _model("edge-int8")
    assert m.kv_per_token == 2 * 2 * 2 * 32 * 1
    g = api.load_graph("llama", {"decode": True, "kv_len": 7, "seq": 1})
    assert kv_bytes_per_token(g, 2) == 2 * 2 * 2 * 32 * 2
    r = simulate_generation(api.load_arch("edge-int8"), "llama", {}, prompt=40, generate=9, batch=3,
                            gpu=None, model=m)
    assert r["inference"]["kv_cache_bytes"] == 3 * (40 + 9) * m.kv_per_token


def test_decode_is_memory_bound_within_1_3x_of_its_traffic() -> None:
    """Batch 1 on edge-int8 (256 KiB of SRAM: the 1.9 MB of weights stream from DRAM every
    step): TPOT between 1.0x and 1.3x of (weights + KV read) / DRAM bandwidth."""
    m = _model("edge-int8")
    arch = api.load_arch("edge-int8")
    past = 200
    g = m._decode_graph(1, past, None)
    traffic = _streamed_weights(g) + past * m.kv_per_token
    bound = traffic / (arch.dram.bandwidth_gbps * 1e9)
    t = m.decode("asic", past, 1).seconds
    assert bound <= t <= 1.3 * bound, (t, bound)


def test_tokens_per_second_grow_about_linearly_with_batch_while_memory_bound() -> None:
    m = _model("edge-int8")
    one = 1 / m.decode("asic", 200, 1).seconds
    for b in (2, 4):
        tps = b / m.decode("asic", 200, b).seconds
        assert 0.7 * b * one <= tps <= b * one * 1.001, (b, tps / one)


def test_ttft_is_the_prefill_and_e2e_adds_the_steps() -> None:
    arch = api.load_arch("datacenter-bf16")
    m = _model("datacenter-bf16")
    r = simulate_generation(arch, "llama", {}, prompt=48, generate=6, batch=2, gpu="h100", gpu_launch="graph",
                            model=m)
    inf = r["inference"]
    pre = m.prefill("asic", 48, 2)
    assert inf["ttft_s"] == pytest.approx(pre.seconds, rel=1e-9)
    assert len(inf["tpot_curve_s"]) == 6 - 1
    assert inf["e2e_s"] == pytest.approx(inf["ttft_s"] + sum(inf["tpot_curve_s"]), rel=1e-6)
    assert inf["tokens_per_s"] == pytest.approx(2 * 6 / inf["e2e_s"], rel=1e-6)
    # the cache of a small model sits in the resident SRAM area; the GPU's in HBM
    assert inf["kv_cache_location"].startswith("sram:")
    g = r["gpu_inference"]
    assert set(inf) - {"kv_cache_location"} <= set(g) and g["kv_cache_location"] == "hbm"
    assert g["ttft_s"] > 0 and g["tpot_s"] > 0
    json.dumps(r)  # JSON-able


def test_interpolated_steps_within_1_percent_of_every_step_simulated() -> None:
    """Issue 11 item 3: 5 sampled cache lengths, linearly interpolated, against a simulation
    of every one of 24 decode steps (gpt2-tiny on datacenter-bf16: the cache moves from SRAM to
    DRAM part way through at this batch, so the SRAM/DRAM switch is inside the range)."""
    arch = api.load_arch("datacenter-bf16", ["sram.bank_size_kib=8"])
    m = StepModel(arch, "gpt2-tiny", {}, fold=False)
    past = list(range(100, 124))
    fast = m.decode_curve("asic", past, 4, samples=5)
    exact = [m.decode("asic", L, 4) for L in past]
    assert sum(p.seconds for p in fast) == pytest.approx(sum(p.seconds for p in exact), rel=0.01)
    assert max(abs(a.seconds / b.seconds - 1) for a, b in zip(fast, exact)) < 0.02


def test_layer_folding_matches_the_full_depth() -> None:
    """A 4-layer llama: 1 and 2 layers simulated and extrapolated vs all 4 simulated."""
    arch = api.load_arch("datacenter-bf16")
    full = StepModel(arch, "llama", {"layers": 4}, fold=False)
    fold = StepModel(arch, "llama", {"layers": 4}, fold=True)
    for f, g in ((full.decode("asic", 64, 2), fold.decode("asic", 64, 2)),
                 (full.prefill("asic", 32, 1), fold.prefill("asic", 32, 1))):
        assert g.seconds == pytest.approx(f.seconds, rel=0.02)
        assert g.energy_j == pytest.approx(f.energy_j, rel=0.02)
    assert fold.weight_bytes == full.weight_bytes


def test_with_kv_len_equals_a_fresh_trace() -> None:
    arch = api.load_arch("datacenter-bf16")
    g = api.load_graph("llama", {"decode": True, "kv_len": 1009, "seq": 1, "batch": 2})
    a = api.simulate(arch, with_kv_len(g, 77), api.RunOptions(gpu=None))
    b = api.simulate(arch, api.load_graph("llama", {"decode": True, "kv_len": 77, "seq": 1, "batch": 2}),
                     api.RunOptions(gpu=None))
    assert a["total_cycles"] == b["total_cycles"] and a["energy_j"] == b["energy_j"]


def test_capacity_errors_name_need_and_capacity() -> None:
    arch = api.load_arch("edge-int8", ["dram.capacity_gib=0.001"])  # 1 MiB: the weights alone do not fit
    with pytest.raises(SpecError, match=r"need .* GiB, more than its .* GiB.*at most 0 sequence"):
        simulate_generation(arch, "llama", {}, prompt=16, generate=4, batch=1, gpu=None)
    # room for the weights and a few sequences: the largest batch is reported, one more fails
    m = _model("edge-int8")
    per_seq = (16 + 4) * m.kv_per_token
    cap = m.weight_bytes + 5 * per_seq
    arch = api.load_arch("edge-int8", [f"dram.capacity_gib={cap / 2**30!r}"])
    r = simulate_generation(arch, "llama", {}, prompt=16, generate=4, batch=5, gpu=None, model=m)
    assert r["inference"]["max_batch_at_context"] in (4, 5)  # capacity is rounded to whole bytes
    with pytest.raises(SpecError, match="at most"):
        simulate_generation(arch, "llama", {}, prompt=16, generate=4, batch=7, gpu=None, model=m)


def test_cli_generation_json_and_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from accelsim.cli import main

    r = CliRunner().invoke(main, ["run", "datacenter-bf16", "llama", "--prompt", "32", "--generate", "4",
                                  "--gpu-launch", "graph", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    inf = d["inference"]
    for k in ("prompt_tokens", "generated_tokens", "batch", "ttft_s", "tpot_s", "tpot_curve_s", "e2e_s",
              "tokens_per_s", "energy_per_token_j", "kv_cache_bytes", "kv_cache_location", "weight_bytes"):
        assert k in inf and k in d["gpu"]["inference"], k
    assert inf["prompt_tokens"] == 32 and inf["generated_tokens"] == 4
    bad = CliRunner().invoke(main, ["run", "datacenter-bf16", "llama", "--generate", "4"])
    assert bad.exit_code == 2 and "--prompt" in bad.output
