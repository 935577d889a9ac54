"""Area estimates: TPUv1 anchors (Jouppi et al., ISCA 2017), overrides, scaling."""

from __future__ import annotations

import pytest

from accelsim.arch.spec import ArchSpec, semantic_problems
from accelsim.energy import ActionCounts, estimate_area

TPUV1_DIE_MM2 = 331.0


def tpuv1_like(**over) -> ArchSpec:
    """256x256 int8 MXU, 24 MiB unified buffer + 4 MiB accumulators, DDR3, 28 nm."""
    d = {
        "name": "tpuv1-like",
        "clock_ghz": 0.7,
        "technology": "28nm",
        "arrays": [
            {"name": "mxu", "rows": 256, "cols": 256, "precision": "int8", "acc_precision": "int32"}
        ],
        "sram": {
            "banks": 28,
            "bank_size_kib": 1024,
            "bank_width_bytes": 256,
            "partitions": {
                "ub": {"banks": list(range(24)), "holds": ["inputs", "weights", "outputs"]},
                "acc": {"banks": [24, 25, 26, 27], "holds": ["accumulators"]},
            },
        },
        "dram": {"kind": "ddr3", "bandwidth_gbps": 34},
        "vector": {"lanes": 256},
    }
    d.update(over)
    arch = ArchSpec.model_validate(d)
    assert semantic_problems(arch) == []
    return arch


def test_tpuv1_matrix_unit_near_24_percent():
    rep = estimate_area(tpuv1_like())
    assert rep.breakdown_mm2["arrays"] == pytest.approx(0.24 * TPUV1_DIE_MM2, rel=0.30)


def test_tpuv1_unified_buffer_near_29_percent():
    rep = estimate_area(tpuv1_like())
    assert rep.breakdown_mm2["sram.ub"] == pytest.approx(0.29 * TPUV1_DIE_MM2, rel=0.30)
    assert rep.breakdown_mm2["sram.acc"] == pytest.approx(rep.breakdown_mm2["sram.ub"] / 6)


def test_tpuv1_total_below_die():
    # The die also holds PCIe/DDR3 interfaces and misc I/O that accelsim does not model.
    rep = estimate_area(tpuv1_like())
    assert 0.5 * TPUV1_DIE_MM2 < rep.total_mm2 < TPUV1_DIE_MM2
    assert rep.total_mm2 == pytest.approx(sum(rep.breakdown_mm2.values()))
    keys = {"arrays", "sram.ub", "sram.acc", "vector", "controllers", "rom"}
    assert set(rep.breakdown_mm2) == keys


def test_area_overrides():
    arch = tpuv1_like(
        arrays=[{"rows": 256, "cols": 256, "count": 2, "area_mm2": 10.0}],
        vector={"lanes": 256, "area_mm2": 3.0},
    )
    rep = estimate_area(arch)
    assert rep.breakdown_mm2["arrays"] == pytest.approx(20.0)
    assert rep.breakdown_mm2["vector"] == pytest.approx(3.0)


def test_rom_area_from_counts():
    arch = tpuv1_like()
    assert estimate_area(arch).breakdown_mm2["rom"] == 0
    rep = estimate_area(arch, ActionCounts(rom_bytes=8 * 1024 * 1024))
    # ROM ~0.4 x SRAM area per KiB at the same node: 8 MiB ROM ~ 0.4 x 1/3 of 24 MiB UB
    assert rep.breakdown_mm2["rom"] == pytest.approx(0.4 * rep.breakdown_mm2["sram.ub"] / 3)


def test_node_scaling_and_unassigned_banks():
    a28 = estimate_area(tpuv1_like()).total_mm2
    a7 = estimate_area(tpuv1_like(technology="7nm")).total_mm2
    a45 = estimate_area(tpuv1_like(technology="45nm")).total_mm2
    assert a7 < a28 < a45
    sram = tpuv1_like().sram.model_dump()
    sram["banks"] = 30
    rep = estimate_area(tpuv1_like(sram=sram))
    assert rep.breakdown_mm2["sram.unassigned"] == pytest.approx(rep.breakdown_mm2["sram.ub"] / 12)


def test_dual_port_sram_is_larger():
    sram = tpuv1_like().sram.model_dump()
    sram["ports_per_bank"] = 2
    one = estimate_area(tpuv1_like()).breakdown_mm2["sram.ub"]
    two = estimate_area(tpuv1_like(sram=sram)).breakdown_mm2["sram.ub"]
    assert two == pytest.approx(1.5 * one)


def test_to_dict():
    d = estimate_area(tpuv1_like()).to_dict()
    assert d["technology"] == "28nm"
    assert d["per_unit_mm2"]["pe.int8/int32"] == pytest.approx(0.24 * TPUV1_DIE_MM2 / 65536)
