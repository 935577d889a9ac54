"""Energy model: one test per energy term, overrides, breakdown invariants, and a cross-check
against ZigZag's published energy for one GEMM.

Expected energies are computed by hand from the published per-action figures written out in
this file (45 nm, Horowitz ISSCC 2014), not by calling the table code.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from accelsim.arch.spec import ArchSpec, semantic_problems
from accelsim.energy import ActionCounts, estimate_area, estimate_energy
from accelsim.errors import SimError, SpecError

KB = 1024
PJ = 1e-12

# Horowitz 45 nm (pJ)
INT8_MULT, INT32_ADD, FP32_ADD, FP32_MULT = 0.2, 0.1, 0.9, 3.7
SRAM_ROWS_45 = [(8 * KB, 10.0), (32 * KB, 20.0), (1024 * KB, 100.0)]
LPDDR4_PJ_PER_BIT = 8.0  # Accelergy


def sram_fit_45(size_bytes: float, width_bits: float) -> float:
    """e = (w/64)(a + b sqrt(S)), a and b fitted here with numpy to the Horowitz rows."""
    s = np.array([r[0] for r in SRAM_ROWS_45], dtype=float)
    e = np.array([r[1] for r in SRAM_ROWS_45])
    x = np.stack([np.ones_like(s), np.sqrt(s)], axis=1) / e[:, None]
    (a, b), *_ = np.linalg.lstsq(x, np.ones_like(s), rcond=None)
    return width_bits / 64 * (a + b * math.sqrt(size_bytes))


def small_arch(**over) -> ArchSpec:
    """4x4 int8 array, four 32 KiB 64-bit banks in two partitions, LPDDR4, 45 nm, no static."""
    d = {
        "name": "small",
        "clock_ghz": 1.0,
        "technology": "45nm",
        "arrays": [{"name": "sa", "rows": 4, "cols": 4}],
        "sram": {
            "banks": 4,
            "bank_size_kib": 32,
            "bank_width_bytes": 8,
            "partitions": {
                "inp": {"banks": [0, 1], "holds": ["inputs", "weights"]},
                "out": {"banks": [2, 3], "holds": ["outputs", "accumulators"]},
            },
        },
        "dram": {"kind": "lpddr4", "bandwidth_gbps": 25.6},
        "vector": {"lanes": 8, "precision": "fp32"},
        "static_power_w": 0.0,
    }
    d.update(over)
    arch = ArchSpec.model_validate(d)
    assert semantic_problems(arch) == []
    return arch


def only(rep, key: str) -> float:
    """The breakdown entry ``key``, after checking every other entry is zero."""
    others = {k: v for k, v in rep.breakdown_j.items() if k != key and v != 0}
    assert others == {}, others
    return rep.breakdown_j[key]


# ---------------------------------------------------------------------------------------------
# One test per energy term
# ---------------------------------------------------------------------------------------------


def test_arrays_term():
    rep = estimate_energy(small_arch(), ActionCounts(macs={"int8/int32": 1000}), 0.0)
    assert only(rep, "arrays") == pytest.approx(1000 * (INT8_MULT + INT32_ADD) * PJ)
    assert rep.per_action_pj["mac.int8/int32"] == pytest.approx(0.3)
    assert rep.pj_per_mac == pytest.approx(0.3)


def test_sram_term():
    c = ActionCounts(sram_reads={"inp": 100}, sram_writes={"out": 64})
    rep = estimate_energy(small_arch(), c, 0.0)
    e = sram_fit_45(32 * KB, 64)  # one bank-width (8-byte) access of a 32 KiB bank
    assert rep.breakdown_j["sram.inp"] == pytest.approx(math.ceil(100 / 8) * e * PJ)
    assert rep.breakdown_j["sram.out"] == pytest.approx(64 / 8 * e * PJ)
    assert rep.per_action_pj["sram.inp.read"] == pytest.approx(e)
    assert rep.per_action_pj["sram.out.write"] == pytest.approx(e)  # write = read
    assert rep.breakdown_j["arrays"] == rep.breakdown_j["dram"] == 0


def test_dram_term():
    c = ActionCounts(dram_read_bytes=1000, dram_write_bytes=500)
    rep = estimate_energy(small_arch(), c, 0.0)
    assert only(rep, "dram") == pytest.approx(1500 * 8 * LPDDR4_PJ_PER_BIT * PJ)
    assert rep.per_action_pj["dram.bit"] == LPDDR4_PJ_PER_BIT


def test_vector_term():
    c = ActionCounts(vector_ops={"add": 10, "gelu": 4})
    rep = estimate_energy(small_arch(), c, 0.0)
    gelu = 3 * FP32_ADD + 5 * FP32_MULT  # erf form: 3 mults + SFU (2 adds, 2 mults) + 1 add
    assert only(rep, "vector") == pytest.approx((10 * FP32_ADD + 4 * gelu) * PJ)


def test_controllers_term():
    c = ActionCounts(dma_transfers=3, dma_bytes=1000, sequencer_commands=7)
    rep = estimate_energy(small_arch(), c, 0.0)
    e8k = sram_fit_45(8 * KB, 64)
    transfer = 4 * e8k + 100 * INT32_ADD  # 32-byte descriptor + address generation
    byte = 8 * (0.5 * 0.2 * 0.9**2) * 2.0  # 8 bits x alpha*C*V^2 per mm x 2 mm
    command = 2 * e8k + 50 * INT32_ADD  # fetch + decode/issue
    want = 3 * transfer + 1000 * byte + 7 * command
    assert only(rep, "controllers") == pytest.approx(want * PJ)


def test_rom_term():
    rep = estimate_energy(small_arch(), ActionCounts(rom_read_bytes=800), 0.0)
    per_byte = 0.5 * sram_fit_45(256 * KB, 64) / 8  # half an SRAM read of a 256 KiB macro
    assert only(rep, "rom") == pytest.approx(800 * per_byte * PJ)


def test_static_term_override():
    rep = estimate_energy(small_arch(static_power_w=2.0), ActionCounts(), 1e-3)
    assert only(rep, "static") == pytest.approx(2.0e-3)
    assert rep.static_j == rep.total_j == pytest.approx(2.0e-3)
    assert rep.dynamic_j == 0
    assert rep.power_w == pytest.approx(2.0)


def test_static_from_leakage_and_area():
    arch = small_arch(static_power_w=None)
    rep = estimate_energy(arch, ActionCounts(), 0.5)
    w_per_mm2 = 28.0 / 331.0  # TPUv1 idle power / die area
    assert rep.static_power_w == pytest.approx(w_per_mm2 * estimate_area(arch).total_mm2)
    assert rep.static_j == pytest.approx(0.5 * rep.static_power_w)


def test_zero_counts_give_only_static_energy():
    arch = small_arch(static_power_w=None)
    rep = estimate_energy(arch, ActionCounts(), 1e-3)
    assert rep.dynamic_j == 0
    assert all(v == 0 for k, v in rep.breakdown_j.items() if k != "static")
    assert rep.total_j == rep.static_j > 0
    assert rep.pj_per_mac == 0


# ---------------------------------------------------------------------------------------------
# Overrides
# ---------------------------------------------------------------------------------------------


def busy_counts() -> ActionCounts:
    return ActionCounts(
        macs={"int8/int32": 1000},
        array_cycles={"sa": 100},
        sram_reads={"inp": 800, "out": 80},
        sram_writes={"inp": 160, "out": 800},
        dram_read_bytes=100,
        dram_write_bytes=20,
        vector_ops={"add": 10, "gelu": 5},
        dma_transfers=2,
        dma_bytes=120,
        sequencer_commands=3,
    )


def test_overrides_replace_defaults():
    sram = small_arch().sram.model_dump()
    sram["read_energy_pj"] = 5.0  # SRAM-level
    sram["write_energy_pj"] = 6.0
    sram["partitions"]["out"]["read_energy_pj"] = 7.0  # partition level wins
    arch = small_arch(
        arrays=[{"name": "sa", "rows": 4, "cols": 4, "mac_energy_pj": 0.5}],
        sram=sram,
        dram={"kind": "lpddr4", "bandwidth_gbps": 25.6, "energy_pj_per_bit": 2.0},
        controller={"dma": {"transfer_energy_pj": 11.0}, "sequencer": {"command_energy_pj": 13.0}},
        vector={"lanes": 8, "op_energy_pj": 1.5},
    )
    rep = estimate_energy(arch, busy_counts(), 0.0)
    p = rep.per_action_pj
    assert p["mac.int8/int32"] == 0.5
    assert (p["sram.inp.read"], p["sram.inp.write"]) == (5.0, 6.0)
    assert (p["sram.out.read"], p["sram.out.write"]) == (7.0, 6.0)
    assert p["dram.bit"] == 2.0
    assert p["dma.transfer"] == 11.0 and p["sequencer.command"] == 13.0
    # vector override is per unit-cost element-op; gelu costs 6 lane-cycles by default
    assert p["vector.add"] == 1.5 and p["vector.gelu"] == pytest.approx(1.5 * 6)
    b = rep.breakdown_j
    assert b["arrays"] == pytest.approx(1000 * 0.5 * PJ)
    assert b["sram.inp"] == pytest.approx((100 * 5.0 + 20 * 6.0) * PJ)
    assert b["sram.out"] == pytest.approx((10 * 7.0 + 100 * 6.0) * PJ)
    assert b["dram"] == pytest.approx(120 * 8 * 2.0 * PJ)
    assert b["vector"] == pytest.approx((10 * 1.5 + 5 * 9.0) * PJ)
    byte = 8 * (0.5 * 0.2 * 0.9**2) * 2.0  # not overridable: on-chip transport
    assert b["controllers"] == pytest.approx((2 * 11.0 + 120 * byte + 3 * 13.0) * PJ)


def test_mac_override_split_between_arrays_by_busy_pe_cycles():
    arch = small_arch(
        arrays=[
            {"name": "a", "rows": 4, "cols": 4, "mac_energy_pj": 1.0},
            {"name": "b", "rows": 4, "cols": 4},  # table: 0.3 pJ
        ]
    )
    c = ActionCounts(macs={"int8/int32": 4000}, array_cycles={"a": 100, "b": 300})
    rep = estimate_energy(arch, c, 0.0)
    want = (0.25 * 1.0 + 0.75 * (INT8_MULT + INT32_ADD)) * 4000
    assert rep.breakdown_j["arrays"] == pytest.approx(want * PJ)


def test_mac_override_split_by_pes_without_cycle_counts():
    arch = small_arch(
        arrays=[
            {"name": "a", "rows": 4, "cols": 4, "mac_energy_pj": 1.0},
            {"name": "b", "rows": 4, "cols": 12, "mac_energy_pj": 2.0},
        ]
    )
    rep = estimate_energy(arch, ActionCounts(macs={"int8/int32": 400}), 0.0)
    assert rep.per_action_pj["mac.int8/int32"] == pytest.approx(0.25 * 1.0 + 0.75 * 2.0)


def test_macs_at_pair_no_array_declares_use_table():
    rep = estimate_energy(small_arch(), ActionCounts(macs={"fp32/fp32": 10}), 0.0)
    assert rep.breakdown_j["arrays"] == pytest.approx(10 * (FP32_MULT + FP32_ADD) * PJ)


# ---------------------------------------------------------------------------------------------
# Invariants and errors
# ---------------------------------------------------------------------------------------------


def test_breakdown_sums_to_total_and_keys():
    arch = small_arch(static_power_w=None)
    rep = estimate_energy(arch, busy_counts(), 2e-6)
    assert set(rep.breakdown_j) == {
        "arrays", "sram.inp", "sram.out", "dram", "vector", "controllers", "rom", "static"
    }  # fmt: skip
    assert math.fsum(rep.breakdown_j.values()) == pytest.approx(rep.total_j, rel=1e-12)
    assert rep.dynamic_j + rep.static_j == pytest.approx(rep.total_j, rel=1e-12)
    assert rep.power_w == pytest.approx(rep.total_j / 2e-6)
    assert rep.pj_per_mac == pytest.approx(rep.total_j / PJ / 1000)
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["total_j"] == pytest.approx(rep.total_j)
    assert rep.per_inference_j(4) == pytest.approx(rep.total_j / 4)
    assert rep.per_token_j(10) == pytest.approx(rep.total_j / 10)
    with pytest.raises(ValueError):
        rep.per_token_j(0)


def test_unknown_technology():
    with pytest.raises(SpecError, match="45nm"):
        # semantic_problems refuses an unknown table up front; bypass it to test the energy model's own error
        estimate_energy(small_arch().model_copy(update={"technology": "5nm"}), ActionCounts(), 0.0)


def test_inconsistent_counts_raise():
    with pytest.raises(SimError, match="nope"):
        estimate_energy(small_arch(), ActionCounts(sram_reads={"nope": 1}), 0.0)
    with pytest.raises(SimError, match="< 0"):
        estimate_energy(small_arch(), ActionCounts(dram_read_bytes=-1), 0.0)
    with pytest.raises(SimError, match="int7"):
        estimate_energy(small_arch(), ActionCounts(macs={"int7/int32": 1}), 0.0)
    with pytest.raises(ValueError):
        estimate_energy(small_arch(), ActionCounts(), -1.0)


def test_counts_to_dict_sorted_and_round_trips():
    c = busy_counts()
    d = c.to_dict()
    assert list(d) == sorted(d)
    assert list(d["sram_reads"]) == sorted(d["sram_reads"])
    assert ActionCounts.from_dict(json.loads(json.dumps(d))) == c


def test_tpuv1_like_mxu_power_below_measured_busy_power():
    # Sanity: a 256x256 int8 array at 700 MHz, every PE busy, at 28 nm, draws well under
    # TPUv1's measured 40 W busy die power (Jouppi et al. 2017).
    arch = small_arch(
        technology="28nm",
        clock_ghz=0.7,
        arrays=[{"name": "mxu", "rows": 256, "cols": 256}],
        sram={
            "banks": 2,
            "bank_size_kib": 1024,
            "bank_width_bytes": 256,
            "partitions": {
                "ub": {"banks": [0, 1], "holds": ["inputs", "weights", "outputs", "accumulators"]}
            },
        },
    )
    macs = 256 * 256 * 700_000_000  # one second
    rep = estimate_energy(arch, ActionCounts(macs={"int8/int32": macs}), 1.0)
    assert 5 < rep.breakdown_j["arrays"] < 40


# ---------------------------------------------------------------------------------------------
# Cross-check: ZigZag 3.9.1, GEMM M=512 N=3072 K=768, int8, 32x32 weight-stationary array
# ---------------------------------------------------------------------------------------------
#
# ZigZag's hierarchy (energy.md): per-PE weight register; per-column 4 KiB int32 accumulator,
# 32-bit access at 5.0 pJ; 1 MiB global buffer (GB) for inputs and outputs, 256-bit access at
# 400 pJ; LPDDR4-class DRAM at 8 pJ/bit (4096 pJ per 512 bits); MAC 0.3 pJ. Best loop order
# (outer -> inner): N6 N16 K6 K4 M32 M16, with N32 and K32 spatial. ZigZag's result: 1.535 mJ =
# MACs 0.362 + outputs 0.519 (accumulator 0.379, GB 0.039, DRAM 0.101) + inputs 0.502 (GB 0.477,
# DRAM 0.025) + weights 0.151 (almost all DRAM).
#
# Counts implied by that mapping:
# * MACs = M*N*K = 1,207,959,552.
# * Accumulators: the N loop has N/32 = 96 temporal steps and the K loop K/32 = 24; each (n, k)
#   step updates M = 512 partial sums in each of the 32 columns, so 96*24*512*32 = 37,748,736
#   writes. Every update but those of the first k step reads the old sum (37,748,736 -
#   96*512*32 = 36,175,872 reads), and the final sums are read once more to drain them to the GB
#   (M*N = 1,572,864 reads): 37,748,736 reads. 4 bytes each.
# * GB, inputs: the M x K int8 input (393,216 B) is written once from DRAM and read once per N
#   step (96x: the N loops are outermost and the input fits the GB): 37,748,736 B read.
# * GB, outputs: M x N int8 outputs (1,572,864 B) written once from the accumulators and read
#   once on their way to DRAM.
# * DRAM: inputs read once (393,216 B), weights read once (N*K = 2,359,296 B; they go straight
#   to the PE registers), outputs written once (1,572,864 B).
# * Not counted: weight-register writes (2.36 M x 0.072 pJ = 0.0002 mJ). ZigZag has no DMA
#   or sequencer; their per-transfer/per-command energies are overridden to 0, but the on-chip
#   transport energy per DMA byte (not overridable) stays in and is shown to be < 1 %.
#
# accelsim's SRAM banks share one geometry, so both memories use 32-byte (256-bit) banks; the
# accumulator's 5.0 pJ per 32-bit access becomes 8 x 5.0 = 40 pJ per 32-byte access, which
# prices the same bytes identically.

M, N, K = 512, 3072, 768


def zigzag_arch() -> ArchSpec:
    return ArchSpec.model_validate(
        {
            "name": "zigzag-tpu-like",
            "clock_ghz": 1.0,
            "technology": "45nm",
            "arrays": [
                {"name": "pe", "rows": 32, "cols": 32, "dataflow": "ws", "mac_energy_pj": 0.3}
            ],
            "sram": {
                "banks": 32 + 256,
                "bank_size_kib": 4,
                "bank_width_bytes": 32,
                "partitions": {
                    "acc": {
                        "banks": list(range(32)),
                        "holds": ["accumulators"],
                        "read_energy_pj": 8 * 5.0,
                        "write_energy_pj": 8 * 5.0,
                    },
                    "gb": {
                        "banks": list(range(32, 288)),
                        "holds": ["inputs", "weights", "outputs"],
                        "read_energy_pj": 400.0,
                        "write_energy_pj": 400.0,
                    },
                },
            },
            "dram": {"kind": "lpddr4", "bandwidth_gbps": 25.6, "energy_pj_per_bit": 8.0},
            "controller": {
                "dma": {"transfer_energy_pj": 0.0},
                "sequencer": {"command_energy_pj": 0.0},
            },
            "static_power_w": 0.0,
        }
    )


def zigzag_counts() -> ActionCounts:
    n_steps, k_steps = N // 32, K // 32
    acc_writes = n_steps * k_steps * M * 32
    acc_reads = acc_writes - n_steps * M * 32 + M * N
    inputs, weights, outputs = M * K, N * K, M * N
    dram_read, dram_write = inputs + weights, outputs
    return ActionCounts(
        macs={"int8/int32": M * N * K},
        array_cycles={"pe": 1_241_661},  # ZigZag's latency
        sram_reads={"acc": 4 * acc_reads, "gb": n_steps * inputs + outputs},
        sram_writes={"acc": 4 * acc_writes, "gb": inputs + outputs},
        dram_read_bytes=dram_read,
        dram_write_bytes=dram_write,
        dma_transfers=(dram_read + dram_write) // 4096,
        dma_bytes=dram_read + dram_write,
        sequencer_commands=n_steps * k_steps,
    )


def test_zigzag_cross_check():
    assert semantic_problems(zigzag_arch()) == []
    rep = estimate_energy(zigzag_arch(), zigzag_counts(), 1_241_661e-9)
    mj = {k: v * 1e3 for k, v in rep.breakdown_j.items()}
    assert rep.total_j * 1e3 == pytest.approx(1.535, rel=0.15)
    assert rep.pj_per_mac == pytest.approx(1.27, rel=0.15)
    assert mj["arrays"] == pytest.approx(0.362, rel=0.02)
    assert mj["sram.acc"] == pytest.approx(0.379, rel=0.05)  # ZigZag: outputs @ accumulator
    assert mj["sram.gb"] == pytest.approx(0.477 + 0.039, rel=0.05)  # inputs + outputs @ GB
    assert mj["dram"] == pytest.approx(0.101 + 0.025 + 0.151, rel=0.05)  # outputs, inputs, weights
    assert mj["controllers"] < 0.01 * mj["arrays"] + 0.01 * rep.total_j * 1e3
    assert mj["vector"] == mj["rom"] == mj["static"] == 0
