"""Generation on many chips: ``--prompt/--generate`` with ``--tp``/``--pp`` (issues 11 and 12).

A small Llama-2-shaped model (2 layers, dim 256, 4 heads, 2 KV heads, MLP 512, Llama-2's 32000
vocabulary) on a 2-chip ``datacenter-bf16`` ring. Every step of a multi-chip generation is a
:func:`accelsim.api_system.simulate_system` of the step's graph (the GPU side:
:func:`accelsim.api_system.simulate_gpu_split`), so the sampled steps must equal those calls
exactly; splitting the weights over two chips must make a weight-streaming decode step faster."""

from __future__ import annotations

import dataclasses
import functools
import json

import pytest
from click.testing import CliRunner

from accelsim import api, api_system
from accelsim.cli import main
from accelsim.errors import SpecError
from accelsim.inference.costs import StepModel
from accelsim.inference.generation import simulate_generation
from accelsim.inference.kv import with_kv_len

PARAMS = {"layers": 2, "dim": 256, "heads": 4, "kv_heads": 2, "ffn": 512}
CLI_PARAMS = [a for k, v in PARAMS.items() for a in ("--param", f"{k}={v}")]
PROMPT, GENERATE = 32, 4


def _arch(*sets: str):  # type: ignore[no-untyped-def]
    return api.load_arch("datacenter-bf16", ["system.chips=2", *sets])


@functools.cache
def _models() -> tuple[StepModel, StepModel]:
    """TP 1 and TP 2 on the same traced graphs."""
    one = StepModel(_arch(), "llama2-7b", PARAMS, gpu="h100", gpu_launch="graph")
    two = StepModel(_arch(), "llama2-7b", PARAMS, gpu="h100", gpu_launch="graph", tp=2, graphs=one._graphs)
    return one, two


def _generate(m: StepModel) -> dict:  # type: ignore[type-arg]
    return simulate_generation(m.arch, m.workload, PARAMS, prompt=PROMPT, generate=GENERATE, gpu="h100",
                               gpu_launch="graph", model=m)


def test_tp2_decode_is_faster_and_equals_simulate_system() -> None:
    one, two = _models()
    g1, g2 = _generate(one), _generate(two)
    i1, i2 = g1["inference"], g2["inference"]
    assert i2["tpot_s"] < i1["tpot_s"] and i2["tokens_per_s"] > i1["tokens_per_s"]
    assert i2["parallel"] == {"tp": 2, "pp": 1, "microbatches": 1, "chips": 2} and "parallel" not in i1
    # every decode step of this short generation is a simulated point: the same as simulate_system
    arch = two.arch
    assert len(i2["tpot_curve_s"]) == GENERATE - 1
    opts = api.RunOptions(gpu=None)
    for g, past in enumerate(range(PROMPT, PROMPT + GENERATE - 1)):
        graph = with_kv_len(two._graph("decode", 1, past, None), past)
        mode = "sram" if i2["kv_cache_location"].startswith("sram") else "dram"
        o = dataclasses.replace(opts, mapping=opts.mapping.model_copy(update={"kv_cache": mode}))
        r = api_system.simulate_system(arch, graph, o, tp=2, baseline=False)
        assert i2["tpot_curve_s"][g] == pytest.approx(r["latency_s"], rel=1e-9)
        gpu = api_system.simulate_gpu_split(arch, api_system.plan_system(arch, graph, tp=2), "h100", "graph").result
        assert g2["gpu_inference"]["tpot_curve_s"][g] == pytest.approx(gpu.latency_s, rel=1e-9)
    pre = api_system.simulate_system(arch, two._graph("prefill", 1, PROMPT, None), opts, tp=2, baseline=False)
    assert i2["ttft_s"] == pytest.approx(pre["latency_s"], rel=1e-9)
    # the cache is sharded by head, the weights partly (embeddings stay whole on every chip)
    assert i2["kv_cache_bytes_per_chip"] * 2 == i2["kv_cache_bytes"] == i1["kv_cache_bytes"]
    assert i2["weight_bytes"] / 2 < i2["weight_bytes_per_chip"] < i2["weight_bytes"] == i1["weight_bytes"]
    assert i2["memory_need_bytes"] == i2["weight_bytes_per_chip"] + i2["kv_cache_bytes_per_chip"]


def test_a_model_too_big_for_one_chip_fits_on_two() -> None:
    one, two = _models()
    cap = (one.weight_bytes + two.chip_weight_bytes) / 2  # between the per-chip and the whole weights
    arch = _arch(f"dram.capacity_gib={cap / 2**30!r}")
    with pytest.raises(SpecError, match="more than its"):
        simulate_generation(arch, "llama2-7b", PARAMS, prompt=PROMPT, generate=GENERATE, gpu=None, model=one)
    m = StepModel(arch, "llama2-7b", PARAMS, gpu=None, tp=2, graphs=one._graphs)
    r = simulate_generation(arch, "llama2-7b", PARAMS, prompt=PROMPT, generate=GENERATE, gpu=None, model=m)
    assert r["inference"]["memory_capacity_bytes"] == int(cap)
    assert r["inference"]["max_batch_at_context"] >= 1


def test_pp_refuses_layer_folding() -> None:
    with pytest.raises(SpecError, match="--no-fold"):
        StepModel(_arch(), "llama2-7b", PARAMS, tp=1, pp=2, fold=True)
    with pytest.raises(SpecError, match="needs 4 chips"):
        StepModel(_arch(), "llama2-7b", PARAMS, tp=4, fold=True)


def _run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["run", "datacenter-bf16", "llama2-7b", *CLI_PARAMS, "--prompt", str(PROMPT),
                                     "--generate", str(GENERATE), "--set", "system.chips=2", "--gpu-launch",
                                     "graph", *args])


def test_cli_tp_generation_json_is_deterministic() -> None:
    a, b = _run("--tp", "2", "--json"), _run("--tp", "2", "--json")
    assert a.exit_code == 0, a.output
    assert a.stdout == b.stdout
    d = json.loads(a.stdout)
    assert d["system"]["tp"] == 2 and d["system"]["chips_used"] == 2  # the reported prefill, on 2 chips
    inf = d["inference"]
    assert inf["parallel"]["tp"] == 2 and d["gpu"]["inference"]["parallel"]["tp"] == 2
    assert inf["tpot_s"] == _generate(_models()[1])["inference"]["tpot_s"]


def test_cli_pp_generation_and_its_errors() -> None:
    r = _run("--pp", "2", "--batch", "2", "--microbatches", "2", "--no-gpu", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    inf = d["inference"]
    assert inf["batch"] == 2 and inf["parallel"] == {"tp": 1, "pp": 2, "microbatches": 2, "chips": 2}
    assert inf["method"].startswith("all layers simulated on 2 chips")
    assert d["system"]["pp"] == 2 and d["system"]["microbatches"] == 2
    for args, what in ((["--pp", "2", "--fold"], "--no-fold"),
                       (["--tp", "4"], "needs 4 chips"),
                       (["--pp", "2", "--batch", "3", "--microbatches", "2"], "does not split"),
                       (["--tp", "2", "--check"], "--check")):
        bad = _run(*args, "--no-gpu")
        assert bad.exit_code == 2 and what in bad.output, (args, bad.output)


def test_layer_folding_holds_under_tp() -> None:
    """4 layers on 2 TP chips: 1 and 2 layers simulated and extrapolated vs all 4 simulated
    (every chip's layers, and their all-reduces, are identical)."""
    p = {**PARAMS, "layers": 4}
    full = StepModel(_arch(), "llama2-7b", p, fold=False, tp=2)
    fold = StepModel(_arch(), "llama2-7b", p, fold=True, tp=2, graphs=full._graphs)
    assert fold._folding() and not full._folding()
    for f, g in ((full.decode("asic", 64, 1), fold.decode("asic", 64, 1)),
                 (full.prefill("asic", PROMPT, 1), fold.prefill("asic", PROMPT, 1))):
        assert g.seconds == pytest.approx(f.seconds, rel=0.02)
        assert g.energy_j == pytest.approx(f.energy_j, rel=0.02)
    assert (fold.weight_bytes, fold.chip_weight_bytes) == (full.weight_bytes, full.chip_weight_bytes)


def test_serving_tables_on_two_chips(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from accelsim.inference import cli as inference_cli
    from accelsim.inference.costs import build_cost_tables
    from accelsim.inference.serving import LinearStepCosts

    one, two = _models()
    (asic,) = build_cost_tables(_arch(), "llama2-7b", PARAMS, gpu=None, tp=2, max_batch=1, max_tokens=64)
    assert asic.kv_bytes_per_token * 2 == one.kv_per_token
    assert asic.kv_capacity_bytes == int(_arch().dram.capacity_gib * 2**30) - two.chip_weight_bytes
    assert asic.decode([33]).seconds == pytest.approx(two.decode("asic", 32, 1).seconds, rel=1e-9)
    seen = {}

    def tables(*args, **kw):  # type: ignore[no-untyped-def]
        seen.update(kw)
        return [LinearStepCosts(name="asic", base_s=0.01, per_prompt_token_s=1e-4, per_seq_s=1e-3)]

    monkeypatch.setattr(inference_cli, "load_cost_tables", tables)
    trace = tmp_path / "t.csv"
    trace.write_text("arrival_s,prompt_tokens,output_tokens\n0,8,3\n")
    r = CliRunner().invoke(main, ["serve", "datacenter-bf16", "llama", "--requests", str(trace), "--tp", "2",
                                  "--set", "system.chips=2", "--no-gpu", "--json"])
    assert r.exit_code == 0, r.output
    assert seen == {"tp": 2, "pp": 1} and json.loads(r.stdout)["parallel"]["chips"] == 2
