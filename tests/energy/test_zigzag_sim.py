"""Energy cross-check against ZigZag 3.9.1 (../shared/reference/energy.md), from the SIMULATOR's
own action counts: GEMM M=512, N=3072, K=768 int8 on a 32x32 weight-stationary array, with
per-action energies set to ZigZag's hierarchy:

  global buffer (inputs + outputs)  400 pJ per 256-bit access  -> bank width 32 B, override 400
  accumulators (int32)              5.0 pJ per 32-bit access   -> 40 pJ per 32-B bank access
  per-PE weight registers           0.072 pJ per 8-bit access  -> 2.304 pJ per 32-B access
  DRAM (LPDDR4-class)               8 pJ/bit
  MAC                               0.3 pJ
ZigZag: 1.535 mJ = MACs 0.362, outputs 0.519 (acc 0.379, GB 0.039, DRAM 0.101),
inputs 0.502 (GB 0.477, DRAM 0.025), weights 0.151 (DRAM).
"""

from __future__ import annotations

import pytest

from accelsim import api
from accelsim.arch.spec import ArchSpec
from builders import gemm_graph

ZIGZAG_TOTAL_J = 1.535e-3

ARCH = {
    "name": "zigzag-ws32",
    "clock_ghz": 1.0,
    "technology": "45nm",
    "static_power_w": 0.0,  # ZigZag's figure is dynamic energy only
    "arrays": [{"rows": 32, "cols": 32, "dataflow": "ws", "precision": "int8",
                "acc_precision": "int32", "mac_energy_pj": 0.3}],
    "sram": {
        "banks": 16, "bank_size_kib": 256, "bank_width_bytes": 32,
        "partitions": {
            "global_buffer": {"banks": [0, 1, 2, 3], "holds": ["inputs", "outputs"],
                              "read_energy_pj": 400.0, "write_energy_pj": 400.0},
            "weight_regs": {"banks": [4], "holds": ["weights"],
                            "read_energy_pj": 0.072 * 32, "write_energy_pj": 0.072 * 32},
            "accumulators": {"banks": list(range(5, 16)), "holds": ["accumulators"],
                             "read_energy_pj": 5.0 * 8, "write_energy_pj": 5.0 * 8},
        },
    },
    "dram": {"kind": "lpddr4", "bandwidth_gbps": 64, "channels": 2, "energy_pj_per_bit": 8.0},
    "controller": {"dma": {"engines": 2, "transfer_energy_pj": 0.0},
                   "sequencer": {"command_energy_pj": 0.0}},
}


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    arch = ArchSpec.model_validate(ARCH)
    return api.simulate(arch, gemm_graph(512, 3072, 768), api.RunOptions(gpu=None))


def test_total_within_15_percent_of_zigzag(result) -> None:  # type: ignore[no-untyped-def]
    assert result["energy_j"] == pytest.approx(ZIGZAG_TOTAL_J, rel=0.15)


def test_breakdown_line_by_line(result) -> None:  # type: ignore[no-untyped-def]
    b = result["energy"]["breakdown_j"]
    assert b["arrays"] == pytest.approx(0.362e-3, rel=0.01)  # 1.208 G MACs x 0.3 pJ
    assert b["sram.accumulators"] == pytest.approx(0.379e-3, rel=0.05)
    assert b["sram.global_buffer"] == pytest.approx(0.477e-3 + 0.039e-3, rel=0.05)
    assert b["dram"] == pytest.approx(0.101e-3 + 0.025e-3 + 0.151e-3, rel=0.05)


def test_dram_traffic_is_compulsory(result) -> None:  # type: ignore[no-untyped-def]
    # Inputs and weights fetched once, outputs written once (ZigZag's loop order does the same).
    assert result["dram_read_bytes"] == 512 * 768 + 768 * 3072
    assert result["dram_write_bytes"] == 512 * 3072


def test_latency_near_zigzag(result) -> None:  # type: ignore[no-untyped-def]
    # ZigZag: 1,241,661 cycles against an ideal 1,179,648.
    assert 1_179_648 <= result["total_cycles"] <= 1_241_661 * 1.15
