"""Turn a chosen GEMM mapping (:class:`~accelsim.model.gemm_cost.GemmCandidate`) into tiles.

The tiles are exactly the ones the cost model priced (:mod:`accelsim.model.gemm_cost`): the same
work units dealt to the same arrays, the same loads on the same tiles (a reused panel is loaded
with the first tile that needs it), the same chained K-tile cycles. Pure and deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.mapping.banks import BankPlan
from accelsim.mapping.program import SramAccess, Tile, Transfer
from accelsim.model import systolic
from accelsim.model.gemm_cost import GemmCandidate, GemmProblem, Machine, deal, units_of


@dataclass(frozen=True)
class GemmOperands:
    """The IR tensors of the GEMM (A, B, output) and the op's bank plan."""

    a: str
    b: str
    out: str
    banks: BankPlan


def _sizes(total: int, step: int) -> list[tuple[int, int]]:
    return [(o, min(step, total - o)) for o in range(0, total, step)]


def emit_gemm_tiles(
    p: GemmProblem,
    c: GemmCandidate,
    mach: Machine,
    ops: GemmOperands,
    op_index: int,
    slot_of: dict[str, int],
    first_id: int = 0,
) -> list[Tile]:
    """The tiles of the mapping, in issue order (round robin over the arrays, each array's own
    tiles in loop order), numbered from ``first_id``. ``slot_of`` holds each unit's next
    double-buffer slot (updated)."""
    g = mach.groups[c.group]
    R, C, df = g.rows, g.cols, g.dataflow
    e, acc = p.elem, p.acc
    msplit = _sizes(p.M, c.m)
    nsplit = _sizes(p.N, c.n)
    ksplit = _sizes(p.K, c.k)
    phases: dict[tuple[int, int, int], tuple[int, int, int, int]] = {}

    def phase(m: int, n: int, k: int) -> tuple[int, int, int, int]:
        v = phases.get((m, n, k))
        if v is None:
            v = phases[(m, n, k)] = systolic.tile_phases_fast(df, m, n, k, R, C)
        return v

    a_total = p.a_dram_bytes
    full_a = max(1, p.batch * p.M * p.K * e)
    b_ondie = p.b_on_chip or p.b_rom
    units, outer, inner = units_of(p, c)
    chunks = deal(len(units), c.arrays)
    per_array: list[list[dict]] = []  # type: ignore[type-arg]
    bp = ops.banks
    res_part, res_rng = bp.resident()
    ranges = {(ai, sl): (bp.slot("inputs", ai, sl, c.arrays), bp.slot("weights", ai, sl, c.arrays),
                         bp.slot("outputs", ai, sl, c.arrays))
              for ai in range(c.arrays) for sl in (0, 1)}

    for ai, (lo, hi) in enumerate(chunks):
        inst = g.instances[ai]
        seq: list[dict] = []  # type: ignore[type-arg]
        acc_part, acc_rng = bp.slot("accumulators", ai, 0, c.arrays)

        def tile(bi: int, mo: int, ms: int, no: int, ns: int, load_a: bool, load_b: bool) -> None:
            for kj, (ko, ks) in enumerate(ksplit):
                s = slot_of.get(inst, 0)
                slot_of[inst] = s + 1
                slot = s % 2
                (in_part, in_rng), (w_part, w_rng), (out_part, out_rng) = ranges[(ai, slot)]
                loads: list[Transfer] = []
                sram: list[SramAccess] = []
                wi, ww, wo = systolic.operand_words_fast(df, ms, ns, ks, R, C)
                words = {"inputs": wi, "weights": ww, "outputs": wo}
                # A operand
                if p.a_on_chip:
                    sram.append(SramAccess(res_part, words["inputs"] * e, False, res_rng))
                else:
                    if load_a:
                        nb = ms * ks * e if a_total == full_a else max(1, a_total * ms * ks * e // full_a)
                        loads.append(Transfer(ops.a, nb, in_part, "load", in_rng))
                    sram.append(SramAccess(in_part, words["inputs"] * e, False, in_rng))
                # B operand
                rom = 0
                if p.b_rom:
                    rom = words["weights"] * e
                elif p.b_on_chip:
                    sram.append(SramAccess(res_part, words["weights"] * e, False, res_rng))
                else:
                    if load_b:
                        loads.append(Transfer(ops.b, ks * ns * e, w_part, "load", w_rng))
                    sram.append(SramAccess(w_part, words["weights"] * e, False, w_rng))
                last_k = kj == len(ksplit) - 1
                # Partial sums: os holds them in the PEs (spills across K tiles only); ws/is
                # read-modify-write the accumulators every K fold (the first fold only writes).
                if df == "os":
                    if not last_k:
                        sram.append(SramAccess(acc_part, ms * ns * acc, True, acc_rng))
                    if kj > 0:
                        sram.append(SramAccess(acc_part, ms * ns * acc, False, acc_rng))
                else:
                    sram.append(SramAccess(acc_part, words["outputs"] * acc, True, acc_rng))
                    rd = words["outputs"] - (ms * ns if kj == 0 else 0)
                    if rd > 0:
                        sram.append(SramAccess(acc_part, rd * acc, False, acc_rng))
                stores: list[Transfer] = []
                if last_k:
                    if df != "os":
                        sram.append(SramAccess(acc_part, ms * ns * acc, False, acc_rng))
                    if p.out_on_chip:
                        sram.append(SramAccess(res_part, ms * ns * e, True, res_rng))
                    else:
                        sram.append(SramAccess(out_part, ms * ns * e, True, out_rng))
                        stores.append(Transfer(ops.out, ms * ns * e, out_part, "store", out_rng))
                fill, body, drain, stream = phase(ms, ns, ks)
                seq.append(dict(op=op_index, unit=inst, compute_cycles=fill + body + drain, slot=slot,
                                loads=tuple(loads), stores=tuple(stores), sram=tuple(sram),
                                macs=ms * ns * ks, dims=(ms, ns, ks), offsets=(bi, mo, no, ko),
                                rom_read_bytes=rom, fill_cycles=fill, drain_cycles=drain,
                                stream_cycles=stream))

        for ui in range(lo, hi):
            u = units[ui]
            if c.order in ("N", "S"):
                no, ns = nsplit[u.ob]
                for mi in range(u.i0, u.i1):
                    mo, ms = msplit[mi]
                    load_b = not b_ondie and (c.order == "S" or mi == u.i0)
                    tile(u.b, mo, ms, no, ns, not p.a_on_chip, load_b)
            else:
                p0 = u.ob * c.mp
                psz = min(c.mp, p.M - p0)
                pm = _sizes(psz, c.m)
                block = len(pm) > 1
                for nj in range(u.i0, u.i1):
                    no, ns = nsplit[nj]
                    for mi, (mo_rel, ms) in enumerate(pm):
                        load_a = not p.a_on_chip and nj == u.i0
                        load_b = not b_ondie and (not block or mi == 0)
                        tile(u.b, p0 + mo_rel, ms, no, ns, load_a, load_b)
        per_array.append(seq)
    out: list[Tile] = []
    longest = max((len(s) for s in per_array), default=0)
    tid = first_id
    for j in range(longest):
        for sq in per_array:
            if j < len(sq):
                out.append(Tile(id=tid, **sq[j]))
                tid += 1
    return out
