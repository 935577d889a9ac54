"""Named technology tables: energy per action (pJ) and area per unit (mm^2), with sources.

Three tables ship, looked up by the architecture's ``technology`` string (:func:`get_table`):

``45nm``
    Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014
    (arithmetic and 64-bit SRAM reads at 45 nm, 0.9 V).
``7nm``
    Jouppi et al., "Ten lessons from three generations shaped Google's TPUv4i", ISCA 2021,
    Table 2 (the same operations at 7 nm).
``28nm``
    **An estimate** for TPUv1-like architectures. Every energy is the geometric interpolation
    between the 45 nm and 7 nm figures by log node size:
    ``e28 = e45**(1 - t) * e7**t`` with ``t = ln(45/28) / ln(45/7) = 0.255``. No 28 nm
    per-action table was at hand; the interpolation assumes energy falls by a constant factor
    per halving of the node, which is how the 45 nm -> 7 nm ratios (1.3x to 7x) are spread.
    Areas at 28 nm are the anchor for all three tables (TPUv1 is a 28 nm chip).

Derived entries (not in either paper) are marked "derived" or "estimate" where they are set.

SRAM energy fit
---------------
Per-access energy of an SRAM array of ``S`` bytes read ``w`` bits at a time::

    e(S, w) = (w / 64) * (a + b * sqrt(S))          [pJ]

``a`` is a fixed periphery cost (decoders, sense amplifiers, I/O), ``b*sqrt(S)`` the word- and
bit-line wire energy, which grows with the side of a square array; energy is linear in access
width (each extra bit column costs the same). ``a`` and ``b`` are a least-squares fit, weighted
to minimise *relative* error, to the three 64-bit rows of each table (8 KB, 32 KB, 1 MB;
KB = 1024 bytes). Fitted values and residuals (fit / row - 1):

=====  ========  ================  ========================================
table  a (pJ)    b (pJ/sqrt(B))    residual at 8 KB / 32 KB / 1 MB
=====  ========  ================  ========================================
45nm   1.285     0.09850           +2.0 % / -4.4 % / +2.1 %  (rows 10/20/100)
28nm   4.576     0.05642           +4.2 % / -8.0 % / +2.9 %  (rows 9.29/16.1/60.6)
7nm    7.036     0.006858          +2.1 % / -2.6 % / +0.4 %  (rows 7.5/8.5/14)
=====  ========  ================  ========================================

(:func:`sram_fit_residuals` recomputes the table; a test pins it.) Sanity checks against
Accelergy's 45 nm outputs (timeloop-accelergy-exercises): 128 KiB x 64 b read, fit 36.9 pJ vs
Accelergy 32.4 (+14 %); 192 x 16 b (384 B) scratchpad, fit 0.80 pJ vs 0.68 (+18 %). Writes
cost the same as reads (``sram_write_ratio = 1``): the published write/read ratios disagree
(Accelergy 128 KiB 0.81, ZigZag 32 KiB 2.27, ZigZag 2 MiB 0.91), so no adjustment is made.

Area
----
Anchored on TPUv1 (Jouppi et al., ISCA 2017, 28 nm, die <= 331 mm^2): the 256x256 int8 matrix
unit is ~24 % of the die and the 24 MiB unified buffer ~29 %. Other nodes scale those by
published density ratios (``logic_area_scale``, ``sram_area_scale``; see ``_AREA_SCALE``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from accelsim.errors import Problem, SpecError

#: Precisions a table prices (matches ``accelsim.arch.spec.Precision``).
PRECISIONS: tuple[str, ...] = ("int8", "int16", "int32", "fp16", "bf16", "fp32")

_KB = 1024
_MB = 1024 * 1024

# ----------------------------------------------------------------------------------------------
# Arithmetic energy (pJ per operation)
# ----------------------------------------------------------------------------------------------

#: 45 nm, Horowitz ISSCC 2014 unless marked derived.
_ADD_45: dict[str, float] = {
    "int8": 0.03,  # Horowitz 2014
    "int16": 0.05,  # Horowitz 2014 (16b add)
    "int32": 0.1,  # Horowitz 2014
    "fp16": 0.4,  # Horowitz 2014
    "bf16": 0.4 * 0.11 / 0.16,  # derived: fp16 add x TPUv4i 7 nm bf16/fp16 add ratio = 0.275
    "fp32": 0.9,  # Horowitz 2014
}
_MULT_45: dict[str, float] = {
    "int8": 0.2,  # Horowitz 2014
    # derived: multiplier energy ~ bits^2, and 16 b is the geometric mean of 8 b and 32 b, so
    # log-log interpolation gives sqrt(0.2 * 3.1) = 0.787 (also ~= 4 x int8 mult = 0.8).
    "int16": math.sqrt(0.2 * 3.1),
    "int32": 3.1,  # Horowitz 2014
    "fp16": 1.1,  # Horowitz 2014
    "bf16": 1.1 * 0.21 / 0.34,  # derived: fp16 mult x TPUv4i 7 nm bf16/fp16 mult ratio = 0.679
    "fp32": 3.7,  # Horowitz 2014
}
#: 7 nm, Jouppi et al. ISCA 2021 (TPUv4i) Table 2 unless marked derived.
_ADD_7: dict[str, float] = {
    "int8": 0.007,  # TPUv4i Table 2
    "int16": math.sqrt(0.007 * 0.03),  # derived: geometric mean of int8/int32 add = 0.0145
    "int32": 0.03,  # TPUv4i Table 2
    "fp16": 0.16,  # TPUv4i Table 2
    "bf16": 0.11,  # TPUv4i Table 2
    "fp32": 0.38,  # TPUv4i Table 2
}
_MULT_7: dict[str, float] = {
    "int8": 0.07,  # TPUv4i Table 2
    "int16": math.sqrt(0.07 * 1.48),  # derived: geometric mean of int8/int32 mult = 0.322
    "int32": 1.48,  # TPUv4i Table 2
    "fp16": 0.34,  # TPUv4i Table 2
    "bf16": 0.21,  # TPUv4i Table 2
    "fp32": 1.31,  # TPUv4i Table 2
}

#: (array bytes, pJ per 64-bit read) rows.
_SRAM_ROWS_45: tuple[tuple[int, float], ...] = (
    (8 * _KB, 10.0),  # Horowitz 2014: 64-bit read, 8 KB cache
    (32 * _KB, 20.0),  # Horowitz 2014: 32 KB
    (1 * _MB, 100.0),  # Horowitz 2014: 1 MB
)
_SRAM_ROWS_7: tuple[tuple[int, float], ...] = (
    (8 * _KB, 7.5),  # TPUv4i Table 2
    (32 * _KB, 8.5),  # TPUv4i Table 2
    (1 * _MB, 14.0),  # TPUv4i Table 2
)

#: Interpolation weight of the 7 nm table for a 28 nm node (see module docstring).
T28: float = math.log(45 / 28) / math.log(45 / 7)


def _geo(e45: float, e7: float, t: float = T28) -> float:
    """Geometric interpolation between a 45 nm and a 7 nm figure (estimate)."""
    return e45 ** (1.0 - t) * e7**t


# ----------------------------------------------------------------------------------------------
# DRAM energy (pJ per bit, read or write; the same for every logic node)
# ----------------------------------------------------------------------------------------------

DRAM_PJ_PER_BIT: dict[str, float] = {
    "ddr3": 70.0,  # Accelergy DRAM table
    # reasoned: DDR3 70 x (1.2 V / 1.5 V)^2 = 45; TPUv4i Table 2 gives DDR3/4 at 1300-2600 pJ
    # per 64 bits = 20-41 pJ/bit. Take the top of the TPUv4i range.
    "ddr4": 40.0,
    "lpddr4": 8.0,  # Accelergy DRAM table (its LPDDR4 64-bit read = 512 pJ)
    # reasoned: LPDDR5 is quoted at ~25 % lower energy per bit than LPDDR4 (lower-voltage
    # I/O, 0.5 V VDDQ vs 0.6 V; vendor claims); 8 x 0.75.
    "lpddr5": 6.0,
    "gddr5": 14.0,  # Accelergy DRAM table
    "gddr6": 7.5,  # TPUv4i Table 2: GDDR6 350-480 pJ per 64 bits = 5.5-7.5 pJ/bit; top
    "hbm2": 3.9,  # Accelergy DRAM table (= bottom of TPUv4i's 250-450 pJ/64 b)
    "hbm2e": 3.9,  # reasoned: same 1.2 V core and I/O as HBM2, faster pins; per-bit ~ HBM2
    # reasoned estimate: HBM3 drops core to 1.1 V and I/O to 0.4 V: 3.9 x (1.1/1.2)^2 = 3.3
    # for the core share, lower for the interface share.
    "hbm3": 3.0,
}

# ----------------------------------------------------------------------------------------------
# Vector unit: element-operation recipes in (adds, mults) at the vector precision
# ----------------------------------------------------------------------------------------------
# Transcendentals run on a special-function unit doing table lookup + quadratic interpolation
# (Oberman & Siu, ARITH 2005, the scheme in GPU SFUs): ~2 mults + 2 adds per evaluation
# ("SFU" below). Per-row work of row ops (softmax's reciprocal, layer_norm's rsqrt) is amortised
# over the row and ignored.
VECTOR_OP_RECIPES: dict[str, tuple[float, float]] = {
    "default": (1.0, 1.0),  # unknown kind: one FMA-equivalent
    "add": (1.0, 0.0),
    "sub": (1.0, 0.0),
    "neg": (1.0, 0.0),
    "mul": (0.0, 1.0),
    "relu": (1.0, 0.0),  # a compare ~ a subtract
    "compare": (1.0, 0.0),
    "logical": (1.0, 0.0),
    "where": (1.0, 0.0),
    "masked_fill": (1.0, 0.0),
    "clamp": (2.0, 0.0),  # two compares
    "cast": (1.0, 0.0),
    "copy": (1.0, 0.0),  # register-file/datapath movement ~ one add-equivalent
    "reduce": (1.0, 0.0),  # one accumulate per element
    "gather": (1.0, 0.0),
    "scatter": (1.0, 0.0),
    "embedding": (1.0, 0.0),
    "exp": (3.0, 3.0),  # range reduction (1 mult, 1 add) + SFU
    "tanh": (3.0, 3.0),  # input scaling (1 mult, 1 add) + SFU
    "sigmoid": (3.0, 3.0),
    "sqrt": (2.0, 2.0),  # SFU
    "rsqrt": (2.0, 2.0),  # SFU
    "div": (2.0, 3.0),  # SFU reciprocal + 1 mult
    "pow": (5.0, 6.0),  # SFU log + 1 mult + exp
    "gelu": (3.0, 5.0),  # 0.5*x*(1+erf(x/sqrt2)): 3 mults, SFU erf, 1 add
    "softmax": (6.0, 4.0),  # max (1 cmp), x-max (1 add), exp (3,3), sum (1 add), x/sum (1 mult)
    "layer_norm": (4.0, 3.0),  # sum, x-mean, square, sum sq, *rstd, *gamma, +beta
    "topk": (4.0, 0.0),  # ~4 compares per element
    # cost classes of the op registry (accelsim/workload/opset.py), same counting:
    "gather_mac": (1.0, 1.0),  # sparse decoder: gather a row element, multiply-accumulate it
    "silu": (3.0, 4.0),  # sigmoid (as exp: 3, 3) + 1 mult
    "softplus": (6.0, 6.0),  # log1p(exp(x)): two SFU evaluations with range reduction
    "hardswish": (3.0, 2.0),  # x + 3 (1 add), clamp (2 compares), * x, * 1/6 (2 mults)
    "hardsigmoid": (3.0, 1.0),  # x * 1/6 (1 mult), + 1/2 (1 add), clamp (2 compares)
    "affine": (1.0, 1.0),  # inference batch norm: x * scale + shift per channel (1 FMA)
    "rms_norm": (1.0, 3.0),  # square (1 mult), sum sq (1 add), * rstd, * gamma (2 mults)
    "interp": (3.0, 4.0),  # bilinear: 4 weights x 4 neighbours (4 mults), 3 adds
}

# ----------------------------------------------------------------------------------------------
# Area anchors (28 nm, TPUv1; Jouppi et al., ISCA 2017)
# ----------------------------------------------------------------------------------------------

TPUV1_DIE_MM2 = 331.0  # Jouppi 2017: die <= 331 mm^2
TPUV1_MXU_FRACTION = 0.24  # Jouppi 2017: 256x256 matrix unit ~24 % of the die
TPUV1_UB_FRACTION = 0.29  # Jouppi 2017: 24 MiB unified buffer ~29 %
# Jouppi 2017 floor plan (Fig. 2), as recalled, not in the project's reference notes -- check:
TPUV1_CONTROL_FRACTION = 0.02  # "control is just 2 %"
TPUV1_ACT_PIPE_FRACTION = 0.06  # activation pipeline (256 lanes) ~6 %
TPUV1_IDLE_W = 28.0  # Jouppi 2017 Table 2: TPU die idle power (busy 40 W, TDP 75 W) -- check

#: Horowitz ISSCC 2014 arithmetic area at 45 nm (um^2) unless marked derived.
_ADD_AREA_UM2_45: dict[str, float] = {
    "int8": 36.0,
    "int16": 67.0,
    "int32": 137.0,
    "fp16": 1360.0,
    "bf16": 1360.0 * 8 / 11,  # derived: fp16 adder scaled by mantissa width (8 vs 11 bits)
    "fp32": 4184.0,
}
_MULT_AREA_UM2_45: dict[str, float] = {
    "int8": 282.0,
    "int16": math.sqrt(282.0 * 3495.0),  # derived: geometric mean of int8/int32 (~ bits^2)
    "int32": 3495.0,
    "fp16": 1640.0,
    "bf16": 1640.0 * (8 / 11) ** 2,  # derived: multiplier array ~ mantissa^2 (8 vs 11 bits)
    "fp32": 7700.0,
}

#: Area of a node relative to 28 nm: (logic, SRAM).
_AREA_SCALE: dict[str, tuple[float, float]] = {
    # 45 nm planar: logic ~ ideal (45/28)^2 = 2.58; SRAM bit cell ~0.30 um^2 (45/40 nm HD
    # cells) vs 0.127 um^2 (TSMC 28 nm HD) = 2.36.
    "45nm": ((45 / 28) ** 2, 0.30 / 0.127),
    "28nm": (1.0, 1.0),
    # 7 nm: logic density ~91 MTr/mm^2 (TSMC N7) vs ~15 MTr/mm^2 at 28 nm, /6; SRAM HD bit
    # cell 0.027 um^2 (N7) vs 0.127 um^2, /4.7. Published densities; approximate.
    "7nm": (1.0 / 6.0, 0.027 / 0.127),
}
_ARITH_TO_28 = 1.0 / _AREA_SCALE["45nm"][0]  # Horowitz 45 nm arithmetic area -> 28 nm


def _arith_area_um2_28(precision: str, acc: str) -> float:
    """Multiplier + accumulate-adder area at 28 nm (um^2), Horowitz areas scaled."""
    return (_MULT_AREA_UM2_45[precision] + _ADD_AREA_UM2_45[acc]) * _ARITH_TO_28


def _pe_register_bits(precision: str, acc: str) -> int:
    """Pipeline/holding register bits in one PE: input, weight, shadow weight, partial sum."""
    bits = {"int8": 8, "int16": 16, "int32": 32, "fp16": 16, "bf16": 16, "fp32": 32}
    return 3 * bits[precision] + bits[acc]


#: TPUv1 MAC (PE) area at 28 nm, everything included (mm^2): 0.24 * 331 / 65536 = 1.21e-3.
MAC_AREA_MM2_28_INT8 = TPUV1_MXU_FRACTION * TPUV1_DIE_MM2 / (256 * 256)
#: PE area that is not arithmetic (registers, local wiring, clock), per register bit at 28 nm:
#: (1212 um^2 - 162 um^2 of int8 mult + int32 add) / 56 bits = 18.7 um^2/bit.
PE_OVERHEAD_MM2_PER_BIT_28 = (
    MAC_AREA_MM2_28_INT8 - _arith_area_um2_28("int8", "int32") * 1e-6
) / _pe_register_bits("int8", "int32")
#: SRAM area per KiB at 28 nm, periphery included: 0.29 * 331 / (24 * 1024) = 3.91e-3 mm^2.
SRAM_MM2_PER_KIB_28 = TPUV1_UB_FRACTION * TPUV1_DIE_MM2 / (24 * 1024)
#: Reasoned: a NOR mask-ROM 1T cell is ~1/3-1/2 the area of a 6T SRAM cell; periphery similar.
ROM_AREA_RATIO = 0.4
#: Reasoned: a second port (8T cell, second word line, sense amps) adds ~50 % area per port.
SRAM_EXTRA_PORT_AREA = 0.5
#: Vector lane at 28 nm: TPUv1 activation pipeline 0.06 * 331 mm^2 / 256 lanes = 0.0776 mm^2,
#: of which the fp32 add+mult is 4.6e-3 mm^2; the rest (SFU, registers, wiring) is kept fixed
#: and the arithmetic swapped for the lane precision's.
VECTOR_LANE_MM2_28 = TPUV1_ACT_PIPE_FRACTION * TPUV1_DIE_MM2 / 256
#: Sequencer at 28 nm, estimate: an in-order control core and decoder (~100 k gates at
#: ~2.5 M gates/mm^2 = 0.04 mm^2) + a 32 KiB instruction buffer (0.125 mm^2 at the TPUv1 SRAM
#: density) + command queues and routing margin -> 0.3 mm^2. TPUv1's whole control block
#: (2 % of the die = 6.6 mm^2) is the upper end for a TPU-class chip; using it would make the
#: controller dominate small designs' area and leakage.
SEQUENCER_MM2_28 = 0.3
#: DMA engine at 28 nm, estimate: ~50 k gates of descriptor queue, address generators and
#: control at ~2.5 M gates/mm^2 (0.02 mm^2) plus a 4 KiB staging buffer (0.016 mm^2) plus
#: routing margin -> 0.05 mm^2.
DMA_ENGINE_MM2_28 = 0.05

# ----------------------------------------------------------------------------------------------
# Controllers, wires, ROM, leakage
# ----------------------------------------------------------------------------------------------

#: Estimate: a DMA transfer reads a 32-byte descriptor (4 x 64-bit reads of a small, <= 8 KB
#: queue) and runs address generation and handshakes (~100 int32-add equivalents).
DMA_DESCRIPTOR_READS_64B = 4
DMA_CONTROL_ADDS = 100
#: Estimate: a sequencer command is fetched from a small instruction buffer (2 x 64-bit reads of
#: an 8 KB array) and decoded/issued (~50 int32-add equivalents).
SEQ_FETCH_READS_64B = 2
SEQ_CONTROL_ADDS = 50
#: On-chip wire energy alpha * C * V^2 per bit per mm: C ~ 0.2 pF/mm (intermediate metal,
#: roughly node-independent), activity alpha = 0.5, V = 0.9 V at 45/28 nm (Horowitz's 45 nm
#: figures are at 0.9 V) and 0.75 V at 7 nm: 0.081 and 0.056 pJ/bit/mm.
_WIRE_C_PF_PER_MM = 0.2
_WIRE_ACTIVITY = 0.5
#: Estimate: mean on-chip distance a DMA'd byte travels (DRAM interface -> SRAM bank).
DMA_DISTANCE_MM = 2.0
#: Reasoned: a ROM read is ~half an SRAM read of the same size and width (no cross-coupled
#: cell, single-ended bit lines discharged only by programmed cells, no write circuitry).
ROM_READ_RATIO = 0.5
#: ROM macro assumed for ROM read energy: 256 KiB, read 64 bits at a time.
ROM_MACRO_BYTES = 256 * _KB
#: Static (always-on) power density: TPUv1 idle 28 W over <= 331 mm^2 = 0.085 W/mm^2. Idle
#: power includes the clock tree and I/O, which the dynamic model does not count, so it is the
#: right "whenever powered" figure. Used for every node (power density has stayed roughly flat
#: since the end of Dennard scaling) -- an estimate.
STATIC_W_PER_MM2 = TPUV1_IDLE_W / TPUV1_DIE_MM2


def fit_sram(rows: tuple[tuple[int, float], ...]) -> tuple[float, float]:
    """Fit ``e = a + b*sqrt(S)`` (64-bit access) to ``(S bytes, pJ)`` rows.

    Weighted least squares on relative error: minimise sum((a + b*sqrt(S_i)) / e_i - 1)^2.
    Returns ``(a_pj, b_pj_per_sqrt_byte)``.
    """
    # Normal equations of x_i = (1/e_i, sqrt(S_i)/e_i), target 1.
    s11 = s12 = s22 = r1 = r2 = 0.0
    for size, e in rows:
        x1, x2 = 1.0 / e, math.sqrt(size) / e
        s11 += x1 * x1
        s12 += x1 * x2
        s22 += x2 * x2
        r1 += x1
        r2 += x2
    det = s11 * s22 - s12 * s12
    return (r1 * s22 - r2 * s12) / det, (s11 * r2 - s12 * r1) / det


@dataclass(frozen=True)
class TechTable:
    """Energy per action and area per unit for one technology node.

    Energies in pJ, areas in mm^2. Construct through :func:`get_table`::

        t = get_table("45nm")
        t.mac_pj("int8", "int32")             # 0.3 (int8 mult 0.2 + int32 add 0.1)
        t.sram_read_pj(32 * 1024, 64)          # ~19.1 (fit; Horowitz row: 20)
    """

    name: str
    node_nm: float
    source: str
    add_pj: dict[str, float]
    mult_pj: dict[str, float]
    sram_rows_pj: tuple[tuple[int, float], ...]  # (bytes, pJ per 64-bit read)
    sram_fit: tuple[float, float]  # (a pJ, b pJ/sqrt(byte)) at 64 bits
    sram_write_ratio: float
    dram_pj_per_bit: dict[str, float]
    supply_v: float
    static_w_per_mm2: float
    logic_area_scale: float  # area relative to 28 nm
    sram_area_scale: float

    # -- energy ------------------------------------------------------------------------------

    def _check_precision(self, *ps: str) -> None:
        for p in ps:
            if p not in self.mult_pj:
                raise SpecError(
                    Problem(
                        "", "precision", f"unknown precision '{p}' (known: {', '.join(PRECISIONS)})"
                    )
                )

    def mac_pj(self, precision: str, acc_precision: str) -> float:
        """One MAC: a ``precision`` multiply plus an ``acc_precision`` add (pJ)."""
        self._check_precision(precision, acc_precision)
        return self.mult_pj[precision] + self.add_pj[acc_precision]

    def sram_read_pj(self, size_bytes: float, width_bits: float) -> float:
        """One ``width_bits`` read of an SRAM array of ``size_bytes`` (pJ), from the fit."""
        if size_bytes <= 0 or width_bits <= 0:
            raise ValueError("SRAM size and width must be positive")
        a, b = self.sram_fit
        return (width_bits / 64.0) * (a + b * math.sqrt(size_bytes))

    def sram_write_pj(self, size_bytes: float, width_bits: float) -> float:
        """One ``width_bits`` write (pJ): ``sram_write_ratio`` x read."""
        return self.sram_write_ratio * self.sram_read_pj(size_bytes, width_bits)

    def dram_bit_pj(self, kind: str) -> float:
        """DRAM energy per bit read or written (pJ)."""
        if kind not in self.dram_pj_per_bit:
            known = ", ".join(sorted(self.dram_pj_per_bit))
            msg = f"no DRAM energy for '{kind}' (known: {known})"
            raise SpecError(Problem("", "dram.kind", msg))
        return self.dram_pj_per_bit[kind]

    def vector_op_pj(self, kind: str, precision: str) -> float:
        """One element-operation of ``kind`` at ``precision`` (pJ); unknown kinds use "default"."""
        self._check_precision(precision)
        n_add, n_mult = VECTOR_OP_RECIPES.get(kind, VECTOR_OP_RECIPES["default"])
        return n_add * self.add_pj[precision] + n_mult * self.mult_pj[precision]

    @property
    def dma_transfer_pj(self) -> float:
        """Per DMA transfer: descriptor reads + address generation (pJ, estimate)."""
        fetch = DMA_DESCRIPTOR_READS_64B * self.sram_read_pj(8 * _KB, 64)
        return fetch + DMA_CONTROL_ADDS * self.add_pj["int32"]

    @property
    def wire_pj_per_bit_mm(self) -> float:
        """On-chip wire energy per bit per mm: alpha * C * V^2 (pJ)."""
        return _WIRE_ACTIVITY * _WIRE_C_PF_PER_MM * self.supply_v**2

    @property
    def dma_byte_pj(self) -> float:
        """Per byte moved by DMA across the chip: 8 bits x wire energy x distance (pJ)."""
        return 8 * self.wire_pj_per_bit_mm * DMA_DISTANCE_MM

    @property
    def sequencer_command_pj(self) -> float:
        """Per sequencer command: instruction fetch + decode/issue (pJ, estimate)."""
        fetch = SEQ_FETCH_READS_64B * self.sram_read_pj(8 * _KB, 64)
        return fetch + SEQ_CONTROL_ADDS * self.add_pj["int32"]

    @property
    def rom_byte_pj(self) -> float:
        """Per byte read from ROM: ROM_READ_RATIO x a 64-bit read of a 256 KiB macro, / 8 (pJ)."""
        return ROM_READ_RATIO * self.sram_read_pj(ROM_MACRO_BYTES, 64) / 8

    # -- area --------------------------------------------------------------------------------

    def mac_area_mm2(self, precision: str, acc_precision: str) -> float:
        """One PE (MAC + registers + local wiring), mm^2: arithmetic + per-register-bit overhead."""
        self._check_precision(precision, acc_precision)
        a28 = (
            _arith_area_um2_28(precision, acc_precision) * 1e-6
            + PE_OVERHEAD_MM2_PER_BIT_28 * _pe_register_bits(precision, acc_precision)
        )
        return a28 * self.logic_area_scale

    def sram_area_mm2_per_kib(self, ports: int = 1) -> float:
        """SRAM per KiB including periphery (mm^2), for banks with ``ports`` ports."""
        return SRAM_MM2_PER_KIB_28 * self.sram_area_scale * (1 + SRAM_EXTRA_PORT_AREA * (ports - 1))

    @property
    def rom_area_mm2_per_kib(self) -> float:
        return ROM_AREA_RATIO * SRAM_MM2_PER_KIB_28 * self.sram_area_scale

    def vector_lane_area_mm2(self, precision: str) -> float:
        """One vector lane at ``precision`` (mm^2)."""
        self._check_precision(precision)
        def arith(p: str) -> float:  # add + mult at 28 nm, mm^2
            return (_MULT_AREA_UM2_45[p] + _ADD_AREA_UM2_45[p]) * _ARITH_TO_28 * 1e-6

        fixed = VECTOR_LANE_MM2_28 - arith("fp32")
        return (fixed + arith(precision)) * self.logic_area_scale

    @property
    def dma_engine_area_mm2(self) -> float:
        return DMA_ENGINE_MM2_28 * self.logic_area_scale

    @property
    def sequencer_area_mm2(self) -> float:
        return SEQUENCER_MM2_28 * self.logic_area_scale

    def to_dict(self) -> dict[str, Any]:
        """The table's headline values (for reports and docs)."""
        return {
            "name": self.name,
            "source": self.source,
            "mac_pj": {f"{p}/{a}": self.mac_pj(p, a) for p, a in _PAIRS},
            "add_pj": dict(self.add_pj),
            "mult_pj": dict(self.mult_pj),
            "sram_rows_pj": [list(r) for r in self.sram_rows_pj],
            "sram_fit": {"a_pj": self.sram_fit[0], "b_pj_per_sqrt_byte": self.sram_fit[1]},
            "sram_write_ratio": self.sram_write_ratio,
            "dram_pj_per_bit": dict(self.dram_pj_per_bit),
            "dma_transfer_pj": self.dma_transfer_pj,
            "dma_byte_pj": self.dma_byte_pj,
            "sequencer_command_pj": self.sequencer_command_pj,
            "rom_byte_pj": self.rom_byte_pj,
            "static_w_per_mm2": self.static_w_per_mm2,
            "mac_area_mm2": {f"{p}/{a}": self.mac_area_mm2(p, a) for p, a in _PAIRS},
            "sram_area_mm2_per_kib": self.sram_area_mm2_per_kib(),
            "rom_area_mm2_per_kib": self.rom_area_mm2_per_kib,
            "vector_lane_area_mm2_fp32": self.vector_lane_area_mm2("fp32"),
            "dma_engine_area_mm2": self.dma_engine_area_mm2,
            "sequencer_area_mm2": self.sequencer_area_mm2,
        }


_PAIRS: tuple[tuple[str, str], ...] = (
    ("int8", "int32"),
    ("int16", "int32"),
    ("bf16", "fp32"),
    ("fp16", "fp32"),
    ("fp16", "fp16"),
    ("fp32", "fp32"),
)


def _make(
    name: str,
    node_nm: float,
    source: str,
    add: dict[str, float],
    mult: dict[str, float],
    rows: tuple[tuple[int, float], ...],
    supply_v: float,
) -> TechTable:
    logic, sram = _AREA_SCALE[name]
    return TechTable(
        name=name,
        node_nm=node_nm,
        source=source,
        add_pj=dict(add),
        mult_pj=dict(mult),
        sram_rows_pj=rows,
        sram_fit=fit_sram(rows),
        sram_write_ratio=1.0,
        dram_pj_per_bit=dict(DRAM_PJ_PER_BIT),
        supply_v=supply_v,
        static_w_per_mm2=STATIC_W_PER_MM2,
        logic_area_scale=logic,
        sram_area_scale=sram,
    )


#: Registry of technology tables by name (the ``technology`` field of an arch).
TABLES: dict[str, TechTable] = {
    "45nm": _make(
        "45nm", 45, "Horowitz, ISSCC 2014", _ADD_45, _MULT_45, _SRAM_ROWS_45, supply_v=0.9
    ),
    "28nm": _make(
        "28nm",
        28,
        "estimate: geometric interpolation of 45 nm (Horowitz 2014) and 7 nm (TPUv4i 2021) by node",
        {p: _geo(_ADD_45[p], _ADD_7[p]) for p in PRECISIONS},
        {p: _geo(_MULT_45[p], _MULT_7[p]) for p in PRECISIONS},
        tuple(
            (s, _geo(e45, e7))
            for (s, e45), (_, e7) in zip(_SRAM_ROWS_45, _SRAM_ROWS_7, strict=True)
        ),
        supply_v=0.9,  # 28 nm HP/HPM nominal
    ),
    "7nm": _make(
        "7nm",
        7,
        "Jouppi et al., ISCA 2021 (TPUv4i), Table 2",
        _ADD_7,
        _MULT_7,
        _SRAM_ROWS_7,
        supply_v=0.75,
    ),
}


def get_table(name: str) -> TechTable:
    """The technology table called ``name`` ("45nm", "28nm", "7nm"; case and spaces ignored).

    Raises :class:`~accelsim.errors.SpecError` listing the known tables for an unknown name.
    """
    key = name.strip().lower().replace(" ", "")
    if key in TABLES:
        return TABLES[key]
    known = ", ".join(TABLES)
    msg = f"unknown technology table '{name}' (known: {known})"
    raise SpecError(Problem("", "technology", msg))


def sram_fit_residuals(table: TechTable) -> list[tuple[int, float, float, float]]:
    """``(size_bytes, row_pj, fit_pj, relative residual)`` for each 64-bit row of ``table``."""
    out = []
    for size, e in table.sram_rows_pj:
        f = table.sram_read_pj(size, 64)
        out.append((size, e, f, f / e - 1.0))
    return out
