"""The GPU side of a run: ``RunOptions.gpu_launch`` / ``--gpu-launch`` reach the GPU model, and
``result.json``'s ``gpu`` keeps kernel time apart from launch and framework overhead."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from accelsim import api
from accelsim.cli import main

WORKLOAD = "gemm:M=128,N=256,K=512,dtype=int8"


@pytest.mark.parametrize("launch", ["eager", "graph"])
def test_run_options_pick_the_launch_model(launch: str) -> None:
    r = api.run("edge-int8", WORKLOAD, options=api.RunOptions(gpu="a100", gpu_launch=launch))
    g = r.data["gpu"]
    assert g["launch_mode"] == launch and g["profile"] == "a100-sxm-80gb"
    assert g["latency_s"] == pytest.approx(g["kernel_s"] + g["launch_s"] + g["framework_s"])
    assert (g["framework_s"] > 0) is (launch == "eager")
    assert r.data["speedup_vs_gpu"] == pytest.approx(g["latency_s"] / r.data["latency_s"])
    # the default stays out of the options, so existing digests and baselines do not change
    assert ("gpu_launch" in r.data["options"]) is (launch == "graph")


def test_cli_gpu_launch() -> None:
    out = {}
    for launch in ("eager", "graph"):
        res = CliRunner().invoke(
            main, ["run", "edge-int8", WORKLOAD, "--gpu", "a100", "--gpu-launch", launch, "--json"])
        assert res.exit_code == 0, res.output
        out[launch] = json.loads(res.output)["gpu"]
    assert out["graph"]["kernel_s"] == out["eager"]["kernel_s"]
    assert out["graph"]["latency_s"] < out["eager"]["latency_s"]
    bad = CliRunner().invoke(main, ["run", "edge-int8", WORKLOAD, "--gpu-launch", "lazy"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
