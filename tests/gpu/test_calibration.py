"""GPU calibration files: format, like-with-like comparison, the fit and its held-out error, the
measurement script.

Which checks are fitted and which are held out: the shipped a100-llmcompass.yaml marks every point
``split: fit`` or ``split: held_out``; the A100 profile's kernel-class knobs and the file's harness
overheads are what :func:`fit` gives on the fitted points (test_fit_reproduces_the_shipped_knobs);
the error targets below are asserted on the held-out points only."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from accelsim.cli import main
from accelsim.errors import SpecError
from accelsim.gpu import load_profile, simulate_gpu
from accelsim.gpu.calibration import (
    FIT_KNOBS,
    GemmPoint,
    VectorPoint,
    compare,
    fit,
    load_calibration,
    point_graph,
)

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT.parent / "shared" / "reference" / "gpu-a100-llmcompass.yaml"
HEAD = "format: accelsim.gpu-calibration/1\nprofile: a100\ndevice: x\nsource: y\nmethod: z\n"


@pytest.fixture(scope="module")
def shipped():  # type: ignore[no-untyped-def]
    cal = load_calibration("a100-llmcompass")
    return cal, compare(cal)


def test_shipped_file_states_source_split_and_launch(shipped) -> None:  # type: ignore[no-untyped-def]
    cal, _ = shipped
    assert cal.profile == "a100" and cal.includes_launch is True
    assert "PrincetonUniversity/LLMCompass @ b95c6c95" in cal.source
    assert len(cal.points) == 84
    assert sum(p.split == "fit" for p in cal.points) == 44
    assert sum(p.split == "held_out" for p in cal.points) == 40
    assert {p.op for p in cal.points if p.split == "held_out"} == {"gemm", "softmax", "layer_norm", "gelu"}
    assert set(cal.harness) == {"gemm", "softmax", "layer_norm", "gelu"}


@pytest.mark.skipif(not REFERENCE.exists(), reason="shared/reference is not in CI")
def test_points_are_the_reference_measurements(shipped) -> None:  # type: ignore[no-untyped-def]
    cal, _ = shipped
    ref = yaml.safe_load(REFERENCE.read_text())
    assert ref["includes_launch"] is True and len(ref["points"]) == len(cal.points)
    for r, p in zip(ref["points"], cal.points):
        assert r["op"] == p.op and r["precision"] == p.precision
        assert p.time_s == pytest.approx(r["time_s"], rel=1e-5)  # 6 significant digits
        if p.op == "gemm":
            assert (r["M"], r["N"], r["K"]) == (p.M, p.N, p.K)  # type: ignore[union-attr]
        else:
            assert r["shape"] == p.shape  # type: ignore[union-attr]


def test_held_out_error_under_15_percent(shipped) -> None:  # type: ignore[no-untyped-def]
    """Issue 11's target, on the 40 points no knob was fitted to: mean |error| < 15 % overall, per
    op class, and on the held-out points whose time is mostly kernel (>= 2x the harness floor)."""
    _, rep = shipped
    assert rep.count("held_out") == 40
    assert rep.mean_abs_error(split="held_out") < 0.15
    for op, e in rep.by_op("held_out").items():
        assert e < 0.15, (op, e)
    n, e = rep.kernel_dominated_error("held_out")
    assert n >= 15 and e < 0.15
    # every kernel class is exercised beyond its harness floor by some held-out point
    assert {p.op for p in rep.kernel_dominated("held_out")} == {"gemm", "softmax", "layer_norm", "gelu"}


def test_fit_reproduces_the_shipped_knobs(shipped) -> None:  # type: ignore[no-untyped-def]
    """The A100 profile's fitted knobs and the file's harness are exactly what the fit gives on
    the 'split: fit' points (a deterministic grid search from a neutral start)."""
    cal, _ = shipped
    r = fit(cal)
    a100 = load_profile("a100")
    assert set(r.knobs) == {k for op, ks in FIT_KNOBS.items() if op != "sdpa" for k in ks}  # no sdpa points
    for k, v in r.knobs.items():
        got = a100.class_memory_efficiency[k.split(".", 1)[1]] if k.startswith("class_") else getattr(a100, k)  # type: ignore[literal-required]
        assert got == v, k
    assert r.harness == cal.harness
    assert r.profile == a100
    assert all(e < 0.1 for e in r.fit_error_by_op.values())


def test_fit_uses_only_fitted_points(shipped) -> None:  # type: ignore[no-untyped-def]
    """Perturbing a held-out measurement leaves the fit unchanged; perturbing a fitted one moves it."""
    cal, _ = shipped
    base = fit(cal, ops=["gelu"]).knobs["class_memory_efficiency.elementwise"]

    def bump(split: str) -> float:
        """The fitted GELU bandwidth once the large GELUs of ``split`` are measured 1.3x slower."""
        pts = [p.model_copy(update={"time_s": p.time_s * 1.3}) if p.op == "gelu" and p.split == split
               and p.time_s > 1e-4 else p for p in cal.points]
        return fit(cal.model_copy(update={"points": pts}), ops=["gelu"]).knobs["class_memory_efficiency.elementwise"]

    assert bump("held_out") == base
    assert bump("fit") < base


def test_like_with_like(tmp_path: Path) -> None:
    """Kernel-only files compare with the kernel time; launch-inclusive ones with kernel + harness
    host time ``before + max(kernel, after)``; without a harness, back-to-back eager calls
    (``max(kernel, framework + launch)``)."""
    pts = "points:\n  - {op: gelu, shape: [1024], precision: fp16, time_s: 1.0e-5}\n" \
          "  - {op: gelu, shape: [268435456], precision: fp16, time_s: 1.0e-3}\n"
    a100 = load_profile("a100")
    kernels = [simulate_gpu(point_graph(p), a100, "fp16").ops[0].kernel_s
               for p in (VectorPoint(op="gelu", shape=[1024], precision="fp16", time_s=1),
                         VectorPoint(op="gelu", shape=[268435456], precision="fp16", time_s=1))]
    (tmp_path / "k.yaml").write_text(HEAD + "includes_launch: false\n" + pts)
    rep = compare(tmp_path / "k.yaml")
    assert [p.model_s for p in rep.points] == [p.kernel_s for p in rep.points] == kernels
    (tmp_path / "e.yaml").write_text(HEAD + "includes_launch: true\n" + pts)
    host = (a100.framework_overhead_us + a100.launch_overhead_us) * 1e-6
    rep = compare(tmp_path / "e.yaml")
    assert [p.model_s for p in rep.points] == [max(k, host) for k in kernels]
    assert [p.bound for p in rep.points] == ["host", "memory"]
    (tmp_path / "h.yaml").write_text(HEAD + "includes_launch: true\n"
                                     "harness: {gelu: {host_before_us: 30, host_after_us: 10}}\n" + pts)
    rep = compare(tmp_path / "h.yaml")
    assert [p.model_s for p in rep.points] == pytest.approx([30e-6 + max(k, 10e-6) for k in kernels])


def test_includes_launch_is_required_and_harness_needs_it(tmp_path: Path) -> None:
    pts = "points:\n  - {op: gelu, shape: [64], precision: fp16, time_s: 1.0e-5}\n"
    (tmp_path / "no.yaml").write_text(HEAD + pts)
    with pytest.raises(SpecError, match="no.yaml: includes_launch: required key is missing: say whether"):
        load_calibration(tmp_path / "no.yaml")
    (tmp_path / "kh.yaml").write_text(HEAD + "includes_launch: false\n"
                                      "harness: {gelu: {host_before_us: 1, host_after_us: 1}}\n" + pts)
    with pytest.raises(SpecError, match="kh.yaml: harness: a harness overhead only applies with includes_launch: true"):
        load_calibration(tmp_path / "kh.yaml")


def test_a_different_profile_is_far_off(shipped) -> None:  # type: ignore[no-untyped-def]
    """The same A100 numbers against the H100 model: the kernel-dominated error is large."""
    cal, _ = shipped
    rep = compare(cal, "h100")
    assert rep.profile == "h100-sxm" and rep.kernel_dominated_error()[1] > 0.3


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
        n = math.prod(point.shape)
        elem = 2 if point.precision == "bf16" else 4
        w = 2 * point.shape[-1] * elem if point.op == "layer_norm" else 0
        assert r.bytes == 2 * n * elem + w


def test_every_problem_is_listed(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(
        HEAD + "includes_launch: true\ncolour: blue\npoints:\n"
        "  - {op: gemm, M: 0, N: 4, K: 4, precision: fp16, time_s: 1}\n"
        "  - {op: conv, shape: [3], precision: fp16, time_s: 1}\n"
        "  - {op: gelu, shape: [3], precision: int8, time_s: -1, split: train}\n"
    )
    with pytest.raises(SpecError) as e:
        load_calibration(f)
    msg = str(e.value)
    for frag in ("bad.yaml: colour: unknown key", "points[0].M: must be > 0",
                 "points[1]: op must be one of gemm, gelu, softmax, layer_norm, sdpa",
                 "points[2].precision:", "points[2].time_s: must be > 0", "points[2].split:"):
        assert frag in msg, msg


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="unknown GPU calibration 'nope'.*a100-llmcompass"):
        load_calibration("nope")
    with pytest.raises(SpecError, match="cannot read"):
        load_calibration(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(SpecError, match="must be a YAML mapping"):
        load_calibration(tmp_path / "list.yaml")
    (tmp_path / "dup.yaml").write_text("format: a\nformat: b\n")
    with pytest.raises(SpecError, match="format: duplicate key"):
        load_calibration(tmp_path / "dup.yaml")
    (tmp_path / "syntax.yaml").write_text("points: [1, 2\n")
    with pytest.raises(SpecError, match=r"syntax.yaml: invalid YAML"):
        load_calibration(tmp_path / "syntax.yaml")
    (tmp_path / "noop.yaml").write_text(
        HEAD + "includes_launch: false\npoints:\n  - {M: 4, N: 4, K: 4, precision: fp16, time_s: 1}\n")
    with pytest.raises(SpecError,
                       match=r"noop.yaml: points\[0\]: op must be one of gemm, gelu, softmax, layer_norm, sdpa"):
        load_calibration(tmp_path / "noop.yaml")


def test_cli_table_json_fit_and_exit_codes(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["gpu-calibration", "a100-llmcompass"])
    assert r.exit_code == 0, r.output
    assert "8192x12288x12288" in r.output and "held out (not fitted): mean |error|" in r.output
    assert "over 40 points" in r.output and "over 44 points" in r.output
    a = CliRunner().invoke(main, ["gpu-calibration", "a100-llmcompass", "--json"])
    b = CliRunner().invoke(main, ["gpu-calibration", "a100-llmcompass", "--json"])
    assert a.exit_code == 0 and a.output == b.output
    d = json.loads(a.output)
    assert d["includes_launch"] is True and d["held_out"]["points"] == 40 and d["held_out"]["mean_abs_error"] < 0.15
    assert {p["split"] for p in d["points"]} == {"fit", "held_out"}
    f = CliRunner().invoke(main, ["gpu-calibration", "a100-llmcompass", "--fit"])
    assert f.exit_code == 0 and "gemm_max_efficiency: 0.905" in f.output and "host_before_us: 26.5" in f.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: accelsim.gpu-calibration/1\n")
    r = CliRunner().invoke(main, ["gpu-calibration", str(bad)])
    assert r.exit_code == 2 and "points: required key is missing" in r.output
    assert "Traceback" not in r.output


@pytest.mark.parametrize("mode", ["kernel", pytest.param("eager", marks=pytest.mark.slow)])
def test_measurement_script_writes_a_valid_file(tmp_path: Path, mode: str) -> None:
    """The script's plumbing on the CPU (its numbers there are not a GPU's)."""
    pytest.importorskip("torch")
    out = tmp_path / "cpu.yaml"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_calibrate.py"), "--profile", "l4", "-o", str(out),
         "--device", "cpu", "--small", "--mode", mode, "--warmup", "1", "--iters", "2", "--repeats", "2"],
        check=True, capture_output=True, env={"OMP_NUM_THREADS": "1", "PATH": ""},
    )
    cal = load_calibration(out)
    assert cal.profile == "l4" and [p.op for p in cal.points] == ["gemm", "gelu", "softmax", "layer_norm", "sdpa"]
    assert cal.includes_launch is (mode == "eager")
    assert "plumbing test" in cal.device and "time.perf_counter" in cal.method
    rep = compare(cal)
    assert rep.profile == "l4" and all(p.measured_s > 0 and p.model_s > 0 for p in rep.points)


def test_fit_recovers_known_attention_knobs() -> None:
    """Synthetic kernel-only sdpa 'measurements' from an A100 whose FlashAttention reaches 60 % of
    peak and whose KV streaming reaches 80 % of bandwidth: the fit finds both back."""
    from accelsim.gpu.calibration import AttentionPoint, Calibration

    truth = load_profile("a100").model_copy(update={
        "attention_max_efficiency": 0.6,
        "class_memory_efficiency": {**load_profile("a100").class_memory_efficiency, "attention": 0.8}})
    shapes = [(1, 32, 32, 2048, 2048, 128, True), (4, 16, 16, 4096, 4096, 128, True),
              (2, 32, 32, 1024, 1024, 64, False),
              (1, 32, 8, 1, 8192, 128, False), (16, 32, 8, 1, 4096, 128, False), (4, 32, 32, 1, 16384, 128, False)]
    pts = []
    for b, h, kv, lq, lk, d, c in shapes:
        p = AttentionPoint(op="sdpa", batch=b, heads=h, kv_heads=kv, q_len=lq, kv_len=lk, head_dim=d, causal=c,
                           precision="bf16", time_s=1.0, split="fit")
        t = simulate_gpu(point_graph(p), truth, "bf16").ops[0].kernel_s
        pts.append(p.model_copy(update={"time_s": t}))
    cal = Calibration(format="accelsim.gpu-calibration/1", profile="a100", device="synthetic", source="test",
                      method="model with known knobs", includes_launch=False, points=pts)
    r = fit(cal, ops=["sdpa"])
    assert r.knobs == {"attention_max_efficiency": 0.6, "class_memory_efficiency.attention": 0.8}
    assert r.fit_error_by_op["sdpa"] < 1e-9 and r.harness == {}
    assert {p.bound for p in compare(cal, truth).points} == {"compute", "memory"}
