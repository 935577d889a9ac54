"""End-to-end CLI runs (click's CliRunner, plus one real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from accelsim.cli import main

ROOT = Path(__file__).resolve().parents[2]
GEMM = "gemm:M=256,N=512,K=256"


def invoke(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_help_for_every_command() -> None:
    code, out, _ = invoke("--help")
    assert code == 0
    import click

    cmds = main.list_commands(click.Context(main))  # lazily loaded commands included
    assert {"run", "validate", "workloads", "archs", "trace", "sweep", "regress", "report",
            "gpu-calibration"} <= set(cmds)
    for c in cmds:
        code, out, _ = invoke(c, "--help")
        assert code == 0 and "Usage:" in out and len(out) > 100, c


def test_run_gemm_prints_tables() -> None:
    code, out, err = invoke("run", "archs/edge-int8.yaml", GEMM, "--no-gpu")
    assert code == 0, err
    assert "cycles" in out and "Units" in out and "Ops" in out and "Energy" in out


def test_run_json_and_out_are_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        code, out, err = invoke("run", "archs/tpuv1.yaml", GEMM, "--out", str(d), "-q")
        assert code == 0, err
    assert (a / "result.json").read_bytes() == (b / "result.json").read_bytes()
    assert (a / "ops.csv").read_bytes() == (b / "ops.csv").read_bytes()
    data = json.loads((a / "result.json").read_text())
    for key in ("total_cycles", "latency_s", "units", "array_utilization", "dram_read_bytes",
                "dram_write_bytes", "sram", "bank_conflict_stall_cycles", "dma_stall_cycles", "ops",
                "energy_j", "power_w", "area_mm2", "energy", "gpu", "speedup_vs_gpu", "energy_ratio_vs_gpu"):
        assert key in data, key
    code, out, _ = invoke("run", "archs/tpuv1.yaml", GEMM, "--json")
    assert code == 0 and json.loads(out)["total_cycles"] == data["total_cycles"]
    header = (a / "ops.csv").read_text().splitlines()[0]
    assert header.startswith("name,ir_op,kind,module,unit,start_cycle,end_cycle,cycles,macs")


def test_compat_scalesim_cli() -> None:
    code, out, err = invoke("run", "archs/edge-int8.yaml", "gemm:M=128,N=768,K=768", "--set",
                            "arrays[0].rows=32", "--set", "arrays[0].cols=32", "--set", "arrays[0].dataflow=os",
                            "--set", "sram.bank_size_kib=1024", "--compat", "scalesim", "--json", "--no-gpu")
    assert code == 0, err
    assert json.loads(out)["total_cycles"] == 79679  # scalesim.md worked example


def test_set_override_changes_result() -> None:
    base = json.loads(invoke("run", "archs/edge-int8.yaml", GEMM, "--json", "--no-gpu")[1])
    slow = json.loads(invoke("run", "archs/edge-int8.yaml", GEMM, "--json", "--no-gpu",
                             "--set", "dram.bandwidth_gbps=1")[1])
    assert slow["total_cycles"] > base["total_cycles"]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("run", "archs/nope.yaml", GEMM), "nope.yaml"),
        (("run", "archs/edge-int8.yaml", "no-such-model"), "no-such-model"),
        (("run", "archs/edge-int8.yaml", "gemm:M=1,N=2"), "K"),
        (("run", "archs/edge-int8.yaml", GEMM, "--set", "arrays[0].rows=0"), "arrays[0].rows"),
        (("run", "archs/edge-int8.yaml", GEMM, "--set", "arrays[3].rows=8"), "arrays"),
        (("validate", "tests/data/bad_yaml/bank_out_of_range.yaml"), "does not exist"),
    ],
)
def test_bad_input_exits_2_without_traceback(args: tuple[str, ...], fragment: str) -> None:
    code, out, err = invoke(*args)
    assert code == 2, (out, err)
    assert fragment in err
    assert "Traceback" not in err + out


def test_validate_ok_lists_summary() -> None:
    code, out, _ = invoke("validate", "archs/edge-int8.yaml", "archs/tpuv1.yaml", "archs/datacenter-bf16.yaml")
    assert code == 0 and out.count(": ok") == 3


def test_gpt2_tiny_on_every_shipped_arch() -> None:
    pytest.importorskip("torch")
    from accelsim import api
    from accelsim.arch.load import shipped_archs

    g = api.load_graph("gpt2-tiny", {"seq": 32})
    for p in shipped_archs():
        res = api.simulate(api.load_arch(str(p)), g)
        assert res["total_cycles"] > 0 and res["energy_j"] > 0, p
        assert any(o["module"].startswith("h.1.") for o in res["ops"])


def test_cli_subprocess_gpt2_tiny(tmp_path: Path) -> None:
    """The real console script, as a user runs it, on a traced PyTorch model."""
    pytest.importorskip("torch")
    exe = Path(sys.executable).parent / "accelsim"
    cmd = [str(exe) if exe.exists() else sys.executable, *([] if exe.exists() else ["-m", "accelsim.cli"]),
           "run", "archs/tpuv1.yaml", "gpt2-tiny", "--seq", "32", "--out", str(tmp_path)]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "gpt2-tiny on tpuv1" in r.stdout
    assert (tmp_path / "result.json").exists() and (tmp_path / "ops.csv").exists()
