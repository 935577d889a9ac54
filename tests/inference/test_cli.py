"""`accelsim requests` and `accelsim serve` end to end (click's CliRunner). `serve` runs on analytic
LinearStepCosts tables monkeypatched in for the ASIC and GPU cost tables."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import accelsim.inference.cli as inference_cli
from accelsim.cli import main
from accelsim.inference.requests import read_requests
from accelsim.inference.serving import LinearStepCosts


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def test_requests_writes_a_deterministic_trace(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    args = ["requests", "--rate", "3", "--count", "50", "--prompt-dist", "lognormal", "--prompt-mean",
            "300", "--prompt-max", "1000", "--output-dist", "uniform", "--output-min", "4",
            "--output-max", "64", "--seed", "5"]
    for p in (a, b):
        r = invoke(*args, "-o", str(p))
        assert r.exit_code == 0, r.output
        assert "50 requests" in r.stdout and "lognormal(mean=300" in r.stdout
    assert a.read_bytes() == b.read_bytes()
    reqs = read_requests(a)
    assert len(reqs) == 50 and all(1 <= q.prompt_tokens <= 1000 and 4 <= q.output_tokens <= 64 for q in reqs)


@pytest.mark.parametrize("args, what", [
    (["--rate", "0", "--count", "5"], "--rate"),
    (["--rate", "1", "--count", "5", "--prompt-dist", "uniform"], "--prompt-dist uniform: uniform needs max"),
    (["--rate", "1", "--count", "5", "--output-mean", "2.5"], "--output-dist fixed: fixed needs an integer mean"),
])
def test_requests_bad_options_exit_2(tmp_path: Path, args: list[str], what: str) -> None:
    r = invoke("requests", *args, "-o", str(tmp_path / "t.csv"))
    assert r.exit_code == 2 and what in r.output, r.output


def _tables(*_: Any, **__: Any) -> list[LinearStepCosts]:
    asic = LinearStepCosts(name="asic", kv_bytes_per_token=2, kv_capacity_bytes=20000, max_batch=32,
                           base_s=0.005, per_prompt_token_s=5e-5, per_seq_s=1e-5, power_w=150.0)
    gpu = LinearStepCosts(name="gpu", kv_bytes_per_token=2, kv_capacity_bytes=40000, max_batch=64,
                          base_s=0.008, per_prompt_token_s=3e-5, per_seq_s=1e-5, power_w=500.0)
    return [asic, gpu]


@pytest.fixture
def analytic_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inference_cli, "load_cost_tables", _tables)


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    p = tmp_path / "trace.csv"
    r = invoke("requests", "--rate", "20", "--count", "120", "--prompt-dist", "lognormal",
               "--prompt-mean", "200", "--prompt-max", "2000", "--output-mean", "40", "-o", str(p))
    assert r.exit_code == 0, r.output
    return p


def test_serve_table_json_and_out(analytic_tables: None, trace: Path, tmp_path: Path) -> None:
    base = ["serve", "archs/datacenter-bf16.yaml", "gpt2-small", "--requests", str(trace),
            "--slo-ttft", "0.2", "--slo-tpot", "0.01"]
    r = invoke(*base)
    assert r.exit_code == 0, r.output
    for s in ("ASIC", "GPU", "TTFT p50 (ms)", "TPOT p99 (ms)", "goodput (requests/s)", "prefill-first"):
        assert s in r.stdout, s
    r = invoke(*base, "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["serving"]["table"] == "asic" and d["gpu"]["serving"]["table"] == "gpu"
    for k in ("completed", "ttft_p50_s", "ttft_p90_s", "ttft_p99_s", "tpot_p50_s", "tpot_p90_s",
              "tpot_p99_s", "throughput_tokens_per_s", "goodput_requests_per_s"):
        assert d["serving"][k] is not None and d["gpu"]["serving"][k] is not None, k
    outs = [tmp_path / "o1", tmp_path / "o2"]
    for o in outs:
        assert invoke(*base, "--out", str(o), "--json").exit_code == 0
    for f in ("result.json", "per_request_asic.csv", "per_request_gpu.csv"):
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f
    assert json.loads((outs[0] / "result.json").read_text()) == d
    rows = (outs[0] / "per_request_asic.csv").read_text().splitlines()
    assert rows[0].startswith("index,arrival_s,prompt_tokens,output_tokens,status") and len(rows) == 121
    r = invoke(*base, "--no-gpu", "--max-batch", "4", "--kv", "reserve", "--schedule", "mixed", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["policy"]["kv"] == "reserve" and d["serving"]["max_batch"] == 4


def test_serve_bad_trace_exits_2_naming_the_cell(analytic_tables: None, tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_text("arrival_s,prompt_tokens,output_tokens\n0,10,3\n0.1,ten,3\n")
    r = invoke("serve", "archs/tpuv1.yaml", "gpt2-tiny", "--requests", str(p))
    assert r.exit_code == 2
    assert f"{p}: line 3, column 'prompt_tokens': 'ten' is not a positive integer" in r.output


def test_serve_without_cost_tables_is_a_clear_error(trace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "accelsim.inference.costs", None)  # as if the module were absent
    r = invoke("serve", "archs/tpuv1.yaml", "gpt2-tiny", "--requests", str(trace))
    assert r.exit_code == 2 and "per-step prefill/decode cost tables" in r.output, r.output
    assert "Traceback" not in r.output
