"""Cost model of a fused (FlashAttention-style) attention mapping (pure).

Attention over ``BH`` heads (batch x heads), ``L`` queries, ``S`` keys, head dims ``D`` (Q, K)
and ``Dv`` (V), optionally causal (top-left aligned, torch's ``is_causal``). A fused mapping
works in *units* of one head and one block of ``Bq`` query rows:

1. **QK^T** on one array: ``Bq x S_eff x D`` (``S_eff = min(S, q0 + Bq)`` under a causal mask:
   key blocks right of the diagonal are skipped; the diagonal block is computed whole);
2. **softmax** (scale, mask, max, exp, sum, normalise) on the vector unit over ``Bq x S_eff``
   scores, which stay in SRAM (the vector unit's banks), never in DRAM;
3. **P.V** on the same array: ``Bq x Dv x S_eff`` (the K tiles chained).

Units of a head run on one array; heads are dealt to arrays in contiguous chunks, so a head's K
and V are loaded once when they fit the array's weight buffers (else once per query block). The
arrays run QK^T of the next unit and P.V of the previous one while the vector unit normalises
the current one, so the op takes about ``max(array work, vector work, DRAM traffic)`` plus one
unit's pipeline fill. MACs are counted as executed (the skipped blocks are not executed; the
diagonal blocks are, masked half included).

With ``place="vector"`` the QK^T and P.V products run on the vector unit's lanes too (one MAC
per lane per cycle): the better place for decode steps (one query row per sequence), where a
weight-stationary array would spend ``R`` cycles preloading every fold for one streamed row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from accelsim.model import systolic

__all__ = ["AttnShape", "AttnCandidate", "AttnEstimate", "units", "estimate_attention"]


@dataclass(frozen=True)
class AttnShape:
    BH: int
    L: int
    S: int
    D: int
    Dv: int
    causal: bool
    elem: int
    acc: int
    mask_bytes_per_elem: int = 0  # an explicit mask read per score (0: none or on chip)
    q_on_chip: bool = False
    kv_on_chip: bool = False
    out_on_chip: bool = False
    kv_group: int = 1  # query heads sharing one K/V head (GQA): consecutive heads reuse K/V
    prologue_cost: int = 0  # extra vector cycles per score (a fused chain's scale / mask ops)

    @property
    def macs_full(self) -> int:
        return self.BH * self.L * self.S * (self.D + self.Dv)


@dataclass(frozen=True, order=True)
class AttnCandidate:
    place: str  # "arrays" | "vector"
    group: int
    arrays: int
    bq: int

    def label(self) -> str:
        where = "the vector unit" if self.place == "vector" else f"{self.arrays} array(s) of group {self.group}"
        return f"query blocks of {self.bq} rows on {where}"


@dataclass(frozen=True)
class AttnEstimate:
    cycles: int
    array_cycles: int  # busiest array
    vector_cycles: int
    dram_read: int
    dram_write: int
    macs: int  # executed
    units: int
    score_buffer_bytes: int
    kv_reuse: bool
    bound: str


def s_eff(shape: AttnShape, q0: int, m: int) -> int:
    return min(shape.S, q0 + m) if shape.causal else shape.S


def units(shape: AttnShape, bq: int) -> list[tuple[int, int, int, int]]:
    """(head, q0, rows, keys) of every unit, head-major."""
    out = []
    for b in range(shape.BH):
        for q0 in range(0, shape.L, bq):
            m = min(bq, shape.L - q0)
            out.append((b, q0, m, s_eff(shape, q0, m)))
    return out


def estimate_attention(
    shape: AttnShape,
    c: AttnCandidate,
    *,
    rows: int,
    cols: int,
    dataflow: str,
    lanes: int,
    softmax_cost: int,
    mac_cost: int,
    vector_latency: int,
    dram_bpc: float,
    dram_overhead: int,
    kv_buffer_bytes: int,
) -> AttnEstimate:
    """Cost of ``c``; see the module docstring. ``kv_buffer_bytes``: weight-buffer bytes one
    array may use (a head's K and V, double-buffered, must fit to be loaded once per head)."""
    e = shape.elem
    R, C = rows, cols
    blocks = [(q0, min(c.bq, shape.L - q0)) for q0 in range(0, shape.L, c.bq)]
    kv_bytes = shape.S * (shape.D + shape.Dv) * e
    reuse = shape.kv_on_chip or 2 * kv_bytes <= kv_buffer_bytes
    arr_head = 0  # array cycles of one head
    vec_head = 0
    macs_head = 0
    rd_head = 0
    cost_sm = softmax_cost + shape.prologue_cost
    for q0, m in blocks:
        se = s_eff(shape, q0, m)
        macs_head += m * se * (shape.D + shape.Dv)
        n_sm = m * q0 + m * (m + 1) // 2 if shape.causal and q0 + m <= shape.S else m * se
        sm = -(-n_sm // lanes) * cost_sm + vector_latency
        if c.place == "vector":
            qk = -(-m * se * shape.D // lanes) * mac_cost + vector_latency
            pv = -(-m * se * shape.Dv // lanes) * mac_cost + vector_latency
            vec_head += qk + sm + pv
        else:
            # back-to-back tiles: each pays its body and the part of its preload the previous
            # tile's last fold cannot hide; the drains overlap the next tile
            f1, b1, _, t1 = systolic.tile_phases_fast(dataflow, m, se, shape.D, R, C)
            f2, b2, _, t2 = systolic.tile_phases_fast(dataflow, m, shape.Dv, se, R, C)
            arr_head += b1 + (f1 - min(f1, t2)) + b2 + (f2 - min(f2, t1))
            vec_head += sm
        if not shape.q_on_chip:
            rd_head += m * shape.D * e
        rd_head += m * se * shape.mask_bytes_per_elem
        if not reuse:
            rd_head += se * (shape.D + shape.Dv) * e
    per_group_kv = 0 if (shape.kv_on_chip or not reuse) else kv_bytes
    heads = shape.BH
    kv_heads = -(-heads // max(1, shape.kv_group))
    dram_read = rd_head * heads + per_group_kv * kv_heads
    dram_write = 0 if shape.out_on_chip else heads * shape.L * shape.Dv * e
    n = c.arrays if c.place == "arrays" else 1
    heads_per_array = -(-heads // n)
    array_cycles = arr_head * heads_per_array
    vector_cycles = vec_head * heads
    dram_cycles = (dram_read + dram_write) / dram_bpc
    # pipeline fill: the first unit's loads and QK^T before the vector unit starts, the last P.V
    q0, m = blocks[0]
    se = s_eff(shape, q0, m)
    first = dram_overhead + (m * shape.D * e + (kv_bytes if reuse else se * (shape.D + shape.Dv) * e)) / dram_bpc
    if c.place == "arrays":
        # the first unit's QK^T runs before the vector unit has work, its softmax before the
        # first P.V; the last drain follows the last tile
        fill = first + systolic.pipelined_cycles(dataflow, m, se, shape.D, R, C)  # type: ignore[arg-type]
        fill += -(-m * se // lanes) * cost_sm + vector_latency + R + C - 2
    else:
        fill = first
    terms = {"arrays": array_cycles, "vector": vector_cycles, "dram": dram_cycles}
    bound = max(terms, key=lambda k: terms[k])
    cycles = int(math.ceil(max(terms.values()) + fill))
    n_units = heads * len(blocks)
    buf = 2 * c.bq * shape.S * (shape.acc + e)
    return AttnEstimate(cycles, array_cycles, vector_cycles, dram_read, dram_write, macs_head * heads,
                        n_units, buf, reuse, bound)
