"""GPU profiles: shipped files carry the datasheet figures of shared/reference/gpus.md, names and
aliases resolve, and bad YAML fails with the file and the YAML path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from accelsim.errors import SpecError
from accelsim.gpu import (
    DEFAULT_GPU,
    GpuProfile,
    gpu_precision,
    list_profiles,
    load_profile,
    profile_from_dict,
)
from accelsim.gpu.profile import PROFILE_DIR

SHIPPED = ["a100-sxm-80gb", "h100-sxm", "h200", "l4", "v100-sxm2"]


def test_list_profiles() -> None:
    assert list_profiles() == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_every_profile_loads(name: str) -> None:
    p = load_profile(name)
    assert isinstance(p, GpuProfile)
    assert p.name == name
    assert p.source
    assert 0 < p.idle_power_w < p.tdp_w
    assert 4.0 <= p.launch_overhead_us <= 6.0  # eager launch, gpus.md


# (bf16 TFLOPS, int8 TOPS, bandwidth GB/s, TDP W) from gpus.md; None = no such tensor path
DATASHEET = {
    "a100-sxm-80gb": (312, 624, 2039, 400),
    "h100-sxm": (989.4, 1978.9, 3350, 700),
    "h200": (989.4, 1978.9, 4800, 700),
    "l4": (121, 242, 300, 72),
    "v100-sxm2": (None, None, 900, 300),
}


@pytest.mark.parametrize("name", SHIPPED)
def test_datasheet_figures(name: str) -> None:
    p = load_profile(name)
    bf16, int8, bw, tdp = DATASHEET[name]
    got = (p.peak_tflops.bf16, p.peak_tflops.int8, p.memory_bandwidth_gbps, p.tdp_w)
    assert got == (bf16, int8, bw, tdp)


def test_more_datasheet_figures() -> None:
    a100, h100, h200, l4, v100 = (load_profile(n) for n in SHIPPED)
    assert (a100.peak_tflops.fp32, a100.peak_tflops.tf32, a100.peak_tflops.fp16) == (19.5, 156, 312)
    assert (a100.memory_gb, a100.l2_mb, a100.sm_count, a100.boost_clock_mhz) == (80, 40, 108, 1410)
    assert (h100.peak_tflops.fp32, h100.peak_tflops.tf32, h100.peak_tflops.fp8) == (66.9, 494.7, 1978.9)
    assert (h100.memory_gb, h100.sm_count) == (80, 132)
    assert h200.memory_gb == 141 and h200.peak_tflops == h100.peak_tflops
    assert (l4.peak_tflops.fp32, l4.peak_tflops.tf32, l4.memory_gb, l4.sm_count) == (30.3, 60, 24, 58)
    assert (v100.peak_tflops.fp32, v100.peak_tflops.fp16, v100.memory_gb, v100.l2_mb) == (15.7, 125, 32, 6)
    assert v100.precisions == ("fp32", "fp16")
    # H100's max achievable matmul fraction from gpus.md; the A100's is fitted (test_calibration.py)
    assert h100.gemm_max_efficiency == 0.80
    assert a100.memory_efficiency == h100.memory_efficiency == 0.9  # a plain copy, gpus.md
    # FlashAttention-2: up to 73 % of the A100 peak (Dao 2023); ~35 % of the H100's (Shah et al. 2024)
    assert (a100.attention_max_efficiency, h100.attention_max_efficiency) == (0.73, 0.35)
    assert a100.l2_bandwidth_gbps == pytest.approx(5120 * 1.41)  # LLMCompass GA100: 5120 B/clock at 1410 MHz


# (kind, generation, links, GB/s per link per direction) from llm-inference.md and the datasheets
LINKS = {
    "a100-sxm-80gb": ("nvlink", "NVLink 3", 12, 25),
    "h100-sxm": ("nvlink", "NVLink 4", 18, 25),
    "h200": ("nvlink", "NVLink 4", 18, 25),
    "l4": ("pcie", "PCIe Gen4 x16", 1, 32),
    "v100-sxm2": ("nvlink", "NVLink 2", 6, 25),
}


@pytest.mark.parametrize("name", SHIPPED)
def test_interconnect(name: str) -> None:
    ic = load_profile(name).interconnect
    assert ic is not None and ic.source
    assert (ic.kind, ic.generation, ic.links, ic.link_bandwidth_gbps) == LINKS[name]
    assert ic.latency_us == 8.92  # LLMCompass's fitted NVLink 3 per-hop latency
    per_dir = {"a100-sxm-80gb": 300, "h100-sxm": 450, "h200": 450, "l4": 32, "v100-sxm2": 150}[name]
    assert ic.bandwidth_per_direction_gbps == per_dir and ic.bandwidth_bytes_per_s == per_dir * 1e9


def test_class_efficiency_defaults_and_overrides() -> None:
    d = _h100_data()
    d["class_memory_efficiency"] = {"softmax": 0.5}
    d["kind_memory_efficiency"] = {"gelu": 0.6}
    p = profile_from_dict(d)
    assert p.class_efficiency("softmax") == 0.5 and p.class_efficiency("gather") == p.memory_efficiency
    assert p.memory_efficiency_for("gelu") == 0.6 and p.memory_efficiency_for("relu") == 0.9
    d["class_memory_efficiency"] = {"softmaxx": 0.5}
    with pytest.raises(SpecError, match=r"x.yaml: class_memory_efficiency.softmaxx"):
        profile_from_dict(d, file="x.yaml")


def test_interconnect_unknown_key_lists_valid(tmp_path: Path) -> None:
    d = _h100_data()
    d["interconnect"]["lanes"] = 4
    with pytest.raises(SpecError, match=r"interconnect.lanes: unknown key \(valid: kind, generation, links, "):
        profile_from_dict(d, file="x.yaml")


@pytest.mark.parametrize(
    ("alias", "name"),
    [("h100", "h100-sxm"), ("H100", "h100-sxm"), ("a100", "a100-sxm-80gb"), ("v100", "v100-sxm2"),
     ("h200", "h200"), ("l4", "l4")],
)  # fmt: skip
def test_aliases(alias: str, name: str) -> None:
    assert load_profile(alias).name == name


def test_default_gpu() -> None:
    assert DEFAULT_GPU == "h100"
    assert load_profile().name == "h100-sxm"


def test_unknown_name_lists_profiles() -> None:
    with pytest.raises(SpecError, match="unknown GPU profile 'b200'.*h100-sxm"):
        load_profile("b200")


def test_peak_flops_and_missing_precision() -> None:
    h100 = load_profile("h100")
    assert h100.peak_flops("bf16") == pytest.approx(989.4e12)
    assert h100.bandwidth_bytes_per_s == pytest.approx(3.35e12)
    with pytest.raises(SpecError, match="v100-sxm2' has no bf16 peak.*fp32, fp16"):
        load_profile("v100").peak_flops("bf16")


def test_precision_mapping() -> None:
    assert [gpu_precision(p) for p in ("int8", "bf16", "fp16", "fp32")] == ["int8", "bf16", "fp16", "fp32"]
    assert gpu_precision("fp32", fp32_as="tf32") == "tf32"
    assert gpu_precision("int16") == "fp32"
    assert gpu_precision("fp8") == "fp8"
    with pytest.raises(SpecError, match="unknown precision 'fp4'"):
        gpu_precision("fp4")


# -- bad YAML -------------------------------------------------------------------------------


def _h100_data() -> dict:
    return yaml.safe_load((PROFILE_DIR / "h100-sxm.yaml").read_text())


def _write(tmp_path: Path, data: object, name: str = "h100.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data))
    return p


def test_load_by_path_roundtrip(tmp_path: Path) -> None:
    path = _write(tmp_path, _h100_data(), "mine.yaml")
    assert load_profile(path) == load_profile("h100")
    assert load_profile(str(path)) == load_profile("h100")


def test_negative_peak_names_file_and_path(tmp_path: Path) -> None:
    d = _h100_data()
    d["peak_tflops"]["bf16"] = -1
    with pytest.raises(SpecError) as ei:
        load_profile(_write(tmp_path, d))
    assert str(ei.value) == f"{tmp_path / 'h100.yaml'}: peak_tflops.bf16: must be > 0"


def test_unknown_key_names_file_and_path(tmp_path: Path) -> None:
    d = _h100_data()
    d["peak_tflops"]["fp4"] = 4000
    with pytest.raises(SpecError) as ei:
        load_profile(_write(tmp_path, d))
    msg = str(ei.value)
    assert "h100.yaml: peak_tflops.fp4: unknown key (valid: fp32, tf32, fp16, bf16, int8, fp8)" in msg


def test_all_problems_in_one_error() -> None:
    d = _h100_data()
    d["bandwith_gbps"] = 1
    d["memory_efficiency"] = 1.5
    del d["tdp_w"]
    with pytest.raises(SpecError) as ei:
        profile_from_dict(d, file="x.yaml")
    got = sorted(str(p) for p in ei.value.problems)
    assert got == [
        ("x.yaml: bandwith_gbps: unknown key (valid: version, name, vendor, source, notes, peak_tflops, "
         "memory_gb, memory_bandwidth_gbps, l2_mb, l2_bandwidth_gbps, sm_count, boost_clock_mhz, tdp_w, "
         "idle_power_w, interconnect, launch_overhead_us, framework_overhead_us, graph_launch_overhead_us, "
         "kernel_latency_us, gemm_max_efficiency, gemm_memory_efficiency, attention_max_efficiency, "
         "memory_efficiency, class_memory_efficiency, kind_memory_efficiency)"),
        "x.yaml: memory_efficiency: must be <= 1",
        "x.yaml: tdp_w: required key is missing",
    ]


def test_idle_power_above_tdp() -> None:
    d = _h100_data()
    d["idle_power_w"] = 800
    with pytest.raises(SpecError, match=r"^x.yaml: idle_power_w: 800.* must be < tdp_w 700"):
        profile_from_dict(d, file="x.yaml")


def test_not_a_mapping_and_bad_yaml(tmp_path: Path) -> None:
    p = tmp_path / "list.yaml"
    p.write_text("- 1\n- 2\n")
    with pytest.raises(SpecError, match="list.yaml: a GPU profile must be a YAML mapping"):
        load_profile(p)
    p = tmp_path / "broken.yaml"
    p.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="broken.yaml: invalid YAML"):
        load_profile(p)


def test_duplicate_key_rejected(tmp_path: Path) -> None:
    p = tmp_path / "dup.yaml"
    p.write_text((PROFILE_DIR / "h100-sxm.yaml").read_text() + "tdp_w: 350\n")
    with pytest.raises(SpecError, match=r"dup.yaml: tdp_w: duplicate key \(line \d+; first given on line \d+\)"):
        load_profile(p)


def test_missing_file() -> None:
    with pytest.raises(SpecError, match="no-such.yaml: cannot read GPU profile"):
        load_profile("no-such.yaml")


def test_profile_is_frozen() -> None:
    p = load_profile("h100")
    with pytest.raises(ValidationError):  # frozen models refuse assignment
        p.tdp_w = 1  # type: ignore[misc]
