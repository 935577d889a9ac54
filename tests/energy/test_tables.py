"""Technology tables: published values, derived values, the SRAM fit, lookup errors.

Expected values are written out from the papers (Horowitz ISSCC 2014; Jouppi et al. ISCA 2021
Table 2; Accelergy's DRAM table; Jouppi et al. ISCA 2017 for area), not read back from the code.
"""

from __future__ import annotations

import math
import typing

import numpy as np
import pytest

from accelsim.arch.spec import DramSpec
from accelsim.energy.tables import TABLES, get_table, sram_fit_residuals
from accelsim.errors import SpecError

KB = 1024
T28 = math.log(45 / 28) / math.log(45 / 7)


def independent_fit(rows: list[tuple[int, float]]) -> tuple[float, float]:
    """a + b*sqrt(S), least squares on relative error, via numpy (a different code path)."""
    s = np.array([r[0] for r in rows], dtype=float)
    e = np.array([r[1] for r in rows], dtype=float)
    x = np.stack([np.ones_like(s), np.sqrt(s)], axis=1) / e[:, None]
    (a, b), *_ = np.linalg.lstsq(x, np.ones_like(s), rcond=None)
    return float(a), float(b)


ROWS_45 = [(8 * KB, 10.0), (32 * KB, 20.0), (1024 * KB, 100.0)]  # Horowitz 2014
ROWS_7 = [(8 * KB, 7.5), (32 * KB, 8.5), (1024 * KB, 14.0)]  # TPUv4i Table 2


def test_known_tables():
    assert set(TABLES) == {"45nm", "28nm", "7nm"}
    assert get_table(" 45 NM ").name == "45nm"


def test_unknown_table_lists_known():
    with pytest.raises(SpecError) as ei:
        get_table("3nm")
    msg = str(ei.value)
    assert "3nm" in msg and "technology" in msg
    for name in ("45nm", "28nm", "7nm"):
        assert name in msg


def test_mac_45nm_horowitz():
    t = get_table("45nm")
    assert t.mac_pj("int8", "int32") == pytest.approx(0.2 + 0.1)  # int8 mult + int32 add
    assert t.mac_pj("fp16", "fp32") == pytest.approx(1.1 + 0.9)
    assert t.mac_pj("fp16", "fp16") == pytest.approx(1.1 + 0.4)
    assert t.mac_pj("fp32", "fp32") == pytest.approx(3.7 + 0.9)
    # bf16 is not in Horowitz: fp16 x the TPUv4i bf16/fp16 ratios
    assert t.mac_pj("bf16", "fp32") == pytest.approx(1.1 * 0.21 / 0.34 + 0.9)
    # int16 mult: geometric mean of the int8 and int32 mults; int16 add 0.05 (Horowitz)
    assert t.mac_pj("int16", "int32") == pytest.approx(math.sqrt(0.2 * 3.1) + 0.1)
    # Accelergy's 45 nm 8b x 8b + 16b intmac is 0.315 pJ: within 10 %
    assert t.mac_pj("int8", "int32") == pytest.approx(0.315, rel=0.1)


def test_mac_7nm_tpuv4i():
    t = get_table("7nm")
    assert t.mac_pj("int8", "int32") == pytest.approx(0.07 + 0.03)
    assert t.mac_pj("bf16", "fp32") == pytest.approx(0.21 + 0.38)
    assert t.mac_pj("fp16", "fp32") == pytest.approx(0.34 + 0.38)
    assert t.mac_pj("fp32", "fp32") == pytest.approx(1.31 + 0.38)


def test_28nm_is_geometric_interpolation():
    t = get_table("28nm")
    mult8 = 0.2 ** (1 - T28) * 0.07**T28
    add32 = 0.1 ** (1 - T28) * 0.03**T28
    assert t.mac_pj("int8", "int32") == pytest.approx(mult8 + add32)
    for pair in [("int8", "int32"), ("bf16", "fp32"), ("fp32", "fp32")]:
        assert get_table("7nm").mac_pj(*pair) < t.mac_pj(*pair) < get_table("45nm").mac_pj(*pair)
    assert t.sram_rows_pj[2][1] == pytest.approx(100 ** (1 - T28) * 14**T28)


@pytest.mark.parametrize("name,rows", [("45nm", ROWS_45), ("7nm", ROWS_7)])
def test_sram_fit_matches_independent_fit(name, rows):
    t = get_table(name)
    a, b = independent_fit(rows)
    assert t.sram_fit == pytest.approx((a, b), rel=1e-9)
    for size, e in rows:
        assert t.sram_read_pj(size, 64) == pytest.approx(a + b * math.sqrt(size))
        assert t.sram_read_pj(size, 64) == pytest.approx(e, rel=0.10)  # fit within 10 % of row


def test_sram_fit_residuals_as_documented():
    # The table in accelsim/energy/tables.py's docstring.
    documented = {
        "45nm": (+0.020, -0.044, +0.021),
        "28nm": (+0.042, -0.080, +0.029),
        "7nm": (+0.021, -0.026, +0.004),
    }
    for name, want in documented.items():
        got = [r[3] for r in sram_fit_residuals(get_table(name))]
        assert got == pytest.approx(want, abs=0.0006), name


def test_sram_width_linear_and_write_equals_read():
    t = get_table("45nm")
    e64 = t.sram_read_pj(32 * KB, 64)
    assert t.sram_read_pj(32 * KB, 256) == pytest.approx(4 * e64)
    assert t.sram_read_pj(32 * KB, 16) == pytest.approx(e64 / 4)
    assert t.sram_write_pj(32 * KB, 64) == pytest.approx(e64)


def test_sram_fit_against_accelergy_45nm():
    t = get_table("45nm")
    # 128 KiB SRAM, 64-bit read: Accelergy 32.4 pJ
    assert t.sram_read_pj(128 * KB, 64) == pytest.approx(32.4, rel=0.2)
    # 192 x 16 b scratchpad: Accelergy read 0.68 pJ (the fit's fixed term dominates: +18 %)
    assert t.sram_read_pj(192 * 2, 16) == pytest.approx(0.68, rel=0.2)


def test_dram_table():
    t = get_table("45nm")
    # Accelergy DRAM table
    assert t.dram_bit_pj("ddr3") == 70
    assert t.dram_bit_pj("lpddr4") == 8
    assert t.dram_bit_pj("hbm2") == 3.9
    assert t.dram_bit_pj("gddr5") == 14
    # every kind an arch may declare has a value, the same at every node
    kinds = typing.get_args(DramSpec.model_fields["kind"].annotation)
    for k in kinds:
        assert 1 < t.dram_bit_pj(k) < 100
        assert get_table("7nm").dram_bit_pj(k) == t.dram_bit_pj(k)
    # GDDR6 within TPUv4i's 350-480 pJ per 64 bits; DDR4 within 1300-2600
    assert 350 <= 64 * t.dram_bit_pj("gddr6") <= 480
    assert 1300 <= 64 * t.dram_bit_pj("ddr4") <= 2600
    with pytest.raises(SpecError):
        t.dram_bit_pj("sdram")


def test_vector_ops():
    t = get_table("45nm")
    assert t.vector_op_pj("add", "fp32") == pytest.approx(0.9)
    assert t.vector_op_pj("mul", "fp32") == pytest.approx(3.7)
    assert t.vector_op_pj("gelu", "fp32") == pytest.approx(3 * 0.9 + 5 * 3.7)
    assert t.vector_op_pj("exp", "bf16") == pytest.approx(3 * 0.275 + 3 * 1.1 * 0.21 / 0.34)
    assert t.vector_op_pj("no_such_op", "fp32") == pytest.approx(0.9 + 3.7)  # one FMA
    assert t.vector_op_pj("softmax", "fp32") > t.vector_op_pj("add", "fp32")


def test_controller_and_rom_energies():
    t = get_table("45nm")
    a, b = independent_fit(ROWS_45)
    e8k = a + b * math.sqrt(8 * KB)
    assert t.dma_transfer_pj == pytest.approx(4 * e8k + 100 * 0.1)
    assert t.sequencer_command_pj == pytest.approx(2 * e8k + 50 * 0.1)
    assert t.dma_byte_pj == pytest.approx(8 * 0.5 * 0.2 * 0.9**2 * 2.0)
    assert t.rom_byte_pj == pytest.approx(0.5 * (a + b * math.sqrt(256 * KB)) / 8)
    # ROM reads are cheaper per byte than SRAM reads of the same macro
    assert t.rom_byte_pj < t.sram_read_pj(256 * KB, 64) / 8


def test_area_anchors_28nm():
    t = get_table("28nm")
    assert t.mac_area_mm2("int8", "int32") == pytest.approx(0.24 * 331 / 65536)
    assert t.sram_area_mm2_per_kib() == pytest.approx(0.29 * 331 / (24 * 1024))
    assert t.vector_lane_area_mm2("fp32") == pytest.approx(0.06 * 331 / 256)
    assert t.sram_area_mm2_per_kib(ports=2) == pytest.approx(1.5 * t.sram_area_mm2_per_kib())
    assert t.rom_area_mm2_per_kib < t.sram_area_mm2_per_kib()
    # a sequencer is well under TPUv1's whole control block (2 % of 331 mm^2)
    assert 0.05 < t.sequencer_area_mm2 < 0.02 * 331


def test_area_scales_with_node_and_precision():
    a45, a28, a7 = (get_table(n) for n in ("45nm", "28nm", "7nm"))
    for f in (
        lambda t: t.mac_area_mm2("int8", "int32"),
        lambda t: t.sram_area_mm2_per_kib(),
        lambda t: t.sequencer_area_mm2,
    ):
        assert f(a7) < f(a28) < f(a45)
    t = a28
    assert t.mac_area_mm2("int8", "int32") < t.mac_area_mm2("int16", "int32")
    assert t.mac_area_mm2("int16", "int32") < t.mac_area_mm2("bf16", "fp32")
    assert t.mac_area_mm2("bf16", "fp32") < t.mac_area_mm2("fp32", "fp32")


def test_to_dict_is_complete():
    d = get_table("7nm").to_dict()
    assert d["mac_pj"]["int8/int32"] == pytest.approx(0.1)
    assert set(d["dram_pj_per_bit"]) >= {"ddr3", "ddr4", "lpddr4", "hbm2", "hbm3"}
