"""GPU calibration files: format, validation, the model's error, and the measurement script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from accelsim.cli import main
from accelsim.errors import SpecError
from accelsim.gpu import load_profile, simulate_gpu
from accelsim.gpu.calibration import (
    GemmPoint,
    VectorPoint,
    compare,
    load_calibration,
    point_graph,
)

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_a100_points_and_errors() -> None:
    cal = load_calibration("a100-published")
    assert cal.profile == "a100" and len(cal.points) == 5
    rep = compare(cal)
    assert rep.profile == "a100-sxm-80gb"
    errs = {(p.op, p.shape): p.error for p in rep.points}
    # time error = 1 / (1 + throughput error) - 1, with the throughput errors of test_model.py
    for (m, n, k), frac_err in [((8192, 12288, 12288), -0.073), ((512, 12288, 12288), -0.014),
                                ((64, 12288, 12288), +0.106), ((8192, 1024, 1024), -0.016)]:
        assert errs[("gemm", f"{m}x{n}x{k}")] == pytest.approx(1 / (1 + frac_err) - 1, abs=0.006)
    assert abs(errs[("gelu", "536870912")]) < 0.01
    assert rep.mean_abs_error() < 0.05 and rep.max_abs_error() < 0.10
    assert set(rep.by_op()) == {"gemm", "gelu"}


def test_measured_time_round_trips_the_published_rate() -> None:
    p = load_calibration("a100-published").points[0]
    assert isinstance(p, GemmPoint)
    assert 2 * p.M * p.N * p.K / p.time_s / 1e12 == pytest.approx(287, rel=1e-5)


def test_a_different_profile_is_far_off() -> None:
    """The same A100 numbers against the H100 model: the error is large, as it should be."""
    rep = compare("a100-published", "h100")
    assert rep.profile == "h100-sxm" and rep.mean_abs_error() > 0.3


@pytest.mark.parametrize(("point", "bound"), [
    (VectorPoint(op="softmax", shape=[12 * 4096, 4096], precision="bf16", time_s=1.0), "memory"),
    (VectorPoint(op="layer_norm", shape=[65536, 4096], precision="fp32", time_s=1.0), "memory"),
    (VectorPoint(op="gelu", shape=[64], precision="fp32", time_s=1.0), "launch"),
    (GemmPoint(op="gemm", M=4096, N=4096, K=4096, batch=2, precision="bf16", time_s=1.0), "compute"),
])
def test_point_graphs(point, bound) -> None:  # type: ignore[no-untyped-def]
    g = point_graph(point)
    r = simulate_gpu(g, load_profile("h100"), point.precision)
    assert len(r.ops) == 1 and r.ops[0].bound == bound
    if isinstance(point, GemmPoint):
        assert r.flops == 2 * 2 * 4096**3
    else:
        n = 1
        for s in point.shape:
            n *= s
        elem = 2 if point.precision == "bf16" else 4
        w = 2 * point.shape[-1] * elem if point.op == "layer_norm" else 0
        assert r.bytes == 2 * n * elem + w


def test_every_problem_is_listed(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(
        "format: accelsim.gpu-calibration/1\nprofile: a100\ndevice: x\nsource: y\nmethod: z\n"
        "colour: blue\npoints:\n"
        "  - {op: gemm, M: 0, N: 4, K: 4, precision: fp16, time_s: 1}\n"
        "  - {op: conv, shape: [3], precision: fp16, time_s: 1}\n"
        "  - {op: gelu, shape: [3], precision: int8, time_s: -1}\n"
    )
    with pytest.raises(SpecError) as e:
        load_calibration(f)
    msg = str(e.value)
    for frag in ("bad.yaml: colour: unknown key", "points[0].M: must be > 0",
                 "points[1]: op must be one of gemm, gelu, softmax, layer_norm",
                 "points[2].precision:", "points[2].time_s: must be > 0"):
        assert frag in msg, msg


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="unknown GPU calibration 'nope'.*a100-published"):
        load_calibration("nope")
    with pytest.raises(SpecError, match="cannot read"):
        load_calibration(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(SpecError, match="must be a YAML mapping"):
        load_calibration(tmp_path / "list.yaml")
    (tmp_path / "dup.yaml").write_text("format: a\nformat: b\n")
    with pytest.raises(SpecError, match="duplicate key 'format'"):
        load_calibration(tmp_path / "dup.yaml")
    (tmp_path / "syntax.yaml").write_text("points: [1, 2\n")
    with pytest.raises(SpecError, match=r"syntax.yaml: invalid YAML: .*\(line 2\)"):
        load_calibration(tmp_path / "syntax.yaml")
    (tmp_path / "noop.yaml").write_text(
        "format: accelsim.gpu-calibration/1\nprofile: a100\ndevice: x\nsource: y\nmethod: z\n"
        "points:\n  - {M: 4, N: 4, K: 4, precision: fp16, time_s: 1}\n")
    with pytest.raises(SpecError, match=r"noop.yaml: points\[0\]: op must be one of gemm, gelu, softmax, layer_norm"):
        load_calibration(tmp_path / "noop.yaml")


def test_cli_table_json_and_exit_codes(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["gpu-calibration", "a100-published"])
    assert r.exit_code == 0, r.output
    assert "8192x12288x12288" in r.output and "mean |error| 4.2% over 5 points" in r.output
    a = CliRunner().invoke(main, ["gpu-calibration", "a100-published", "--json"])
    b = CliRunner().invoke(main, ["gpu-calibration", "a100-published", "--json"])
    assert a.exit_code == 0 and a.output == b.output
    assert json.loads(a.output)["points"][0]["bound"] == "compute"
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: accelsim.gpu-calibration/1\n")
    r = CliRunner().invoke(main, ["gpu-calibration", str(bad)])
    assert r.exit_code == 2 and "points: required key is missing" in r.output
    assert "Traceback" not in r.output


def test_measurement_script_writes_a_valid_file(tmp_path: Path) -> None:
    """The script's plumbing on the CPU (its numbers there are not a GPU's)."""
    pytest.importorskip("torch")
    out = tmp_path / "cpu.yaml"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_calibrate.py"), "--profile", "l4", "-o", str(out),
         "--device", "cpu", "--small", "--warmup", "1", "--iters", "2", "--repeats", "2"],
        check=True, capture_output=True, env={"OMP_NUM_THREADS": "1", "PATH": ""},
    )
    cal = load_calibration(out)
    assert cal.profile == "l4" and [p.op for p in cal.points] == ["gemm", "gelu", "softmax", "layer_norm"]
    assert "plumbing test" in cal.device and "time.perf_counter" in cal.method
    rep = compare(cal)
    assert rep.profile == "l4" and all(p.measured_s > 0 and p.model_s > 0 for p in rep.points)
