"""Fused attention: SDPA (and the ``attention`` ops the lowering pass makes of explicit
matmul-softmax-matmul chains) mapped as one FlashAttention-style op.

See :mod:`accelsim.model.attention_cost` for the scheme and its cost model. The op becomes one
:class:`~accelsim.mapping.program.MappedOp` whose tiles carry a ``role`` (``qk``, ``softmax``,
``pv``) and tile-level dependencies (``after``): a unit's softmax waits for its QK^T, its P.V for
its softmax. Tiles are issued as a software pipeline (QK^T of unit ``w`` on every array, then
softmax and P.V of unit ``w - 1``), so the vector unit normalises one unit while the arrays
compute the next; the mapper simulates the op alone under each issue order of :data:`SCHEDULES`
and keeps the fastest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from accelsim.errors import MappingError
from accelsim.mapping.program import SramAccess, Tile, Transfer
from accelsim.model import systolic
from accelsim.model.attention_cost import AttnCandidate, AttnShape, estimate_attention, units
from accelsim.model.vector import vector_cycles
from accelsim.workload.ir import DTYPE_BYTES, Graph, Op

if TYPE_CHECKING:
    from accelsim.mapping.mapper import Mapper

__all__ = ["AttentionView", "attention_view", "map_attention"]

#: The issue orders of the software pipeline the mapper tries (each simulated on its own; the
#: fastest wins, ties in this order). ``staged``: per step, QK^T of unit w on every array, the
#: softmax of unit w - 1, P.V of unit w - 2 (three stages a unit apart); ``qk_ahead``: QK^T of
#: unit w, then softmax and P.V of unit w - 2 array by array; ``interleaved``: array by array,
#: QK^T of unit w, softmax and P.V of unit w - 1. Which keeps both the arrays and the vector unit
#: busy under the sequencer's in-order issue and ``queue_depth`` depends on their balance: on
#: datacenter-bf16 (vector unit ~94 % as loaded as the arrays) GPT-2 small's attention takes
#: 31,653 / 34,852 / 32,400 cycles; on edge-int8 ``interleaved`` is 5 % faster than the others.
SCHEDULES = ("staged", "qk_ahead", "interleaved")
#: The schedule trial's size limit (tiles of the simulated part, see :func:`_try_schedules`).
TRIAL_MAX_TILES = 3072


@dataclass(frozen=True)
class AttentionView:
    """The attention an op computes: ``q [.., L, D]``, ``k`` as ``[.., S, D]`` (``k_layout
    "sd"``) or ``[.., D, S]`` (``"ds"``: an explicit chain's K^T), ``v [.., S, Dv]``; ``mask``
    an explicit additive / boolean mask tensor or None; ``prologue`` the element-wise ops a chain
    applies to the scores before the softmax (count for the vector cost)."""

    q: str
    k: str
    v: str
    out: str
    k_layout: str
    BH: int
    L: int
    S: int
    D: int
    Dv: int
    causal: bool
    mask: str | None
    prologue: int = 0


def attention_view(op: Op, g: Graph) -> AttentionView:
    T = g.tensors
    if op.kind == "sdpa":
        q, k, v = op.inputs[:3]
        *bq, L, D = T[q].shape
        S = T[k].shape[-2]
        Dv = T[v].shape[-1]
        mask = op.inputs[3] if len(op.inputs) > 3 else None
        return AttentionView(q, k, v, op.outputs[0], "sd", math.prod(bq) if bq else 1, L, S, D, Dv,
                             bool(op.attrs.get("is_causal")), mask)
    if op.kind == "attention":
        q, k, v = op.inputs[:3]
        layout = str(op.attrs.get("k_layout", "ds"))
        *bq, L, D = T[q].shape
        S = T[k].shape[-1] if layout == "ds" else T[k].shape[-2]
        Dv = T[v].shape[-1]
        pro = len(op.attrs.get("sub_ops", [])) - 3  # qk, softmax, pv
        return AttentionView(q, k, v, op.outputs[0], layout, math.prod(bq) if bq else 1, L, S, D, Dv,
                             False, None, max(0, pro))
    raise MappingError(f"{op.where()}: not an attention op")


def _kv_group(m: Mapper, name: str, heads: int) -> int:
    """Query heads per stored K/V head: a K/V tensor that is a broadcast (expand) of a smaller
    one (GQA's repeat_kv) is read once per stored head."""
    root = m.root(name)
    if root == name:
        return 1
    full = m.g.tensors[name].numel
    small = m.g.tensors[root].numel
    if not small:
        return 1
    # e.g. GQA's expand of the KV cache after appending this step's row (L + 1 vs L keys)
    g = round(full / small)
    if g > 1 and abs(full / small - g) <= 0.05 * g and heads % g == 0:
        return g
    return 1


#: Attention mapping choices, by (shape, machine digest, vector unit, SRAM room): the layers of a
#: transformer share one search.
_CHOICE: dict[tuple[Any, ...], tuple[Any, int]] = {}
_SCHEDULE: dict[tuple[Any, ...], dict[str, int]] = {}


def _try_schedules(m: Mapper, op: Op, av: AttentionView, shape: AttnShape, c: AttnCandidate, est: Any,
                   idx: int, in_resident: bool) -> dict[str, int]:
    """Simulated cycles of the op alone under each issue order (its tiles emitted, simulated as a
    one-op program, then taken back: the mapper's tiles and slot counters are left as found).

    The trial covers the whole op when it has at most :data:`TRIAL_MAX_TILES` tiles, else its
    first two heads per array (the pattern repeats head after head); when even that is more,
    nothing is tried ({}: the first order)."""
    from dataclasses import replace

    from accelsim.mapping.program import MappedOp, Program
    from accelsim.sim.engine import simulate

    n = c.arrays if c.place == "arrays" else 1
    g = max(1, shape.kv_group)
    per_head = 3 * -(-shape.L // c.bq)
    bh = shape.BH if shape.BH * per_head <= TRIAL_MAX_TILES else min(shape.BH, -(-2 * n // g) * g)
    if bh * per_head > TRIAL_MAX_TILES:
        return {}
    trial = replace(shape, BH=bh)
    out: dict[str, int] = {}
    first = len(m.tiles)
    for sched in SCHEDULES:
        saved = dict(m.slot)
        _emit(m, op, av, trial, c, est, idx, in_resident, sched)
        tiles = [Tile(**{**t.__dict__, "id": t.id - first, "op": 0,
                         "after": tuple(a - first for a in t.after)}) for t in m.tiles[first:]]
        del m.tiles[first:]
        m.slot.clear()
        m.slot.update(saved)
        one = MappedOp(0, op.name, op.name, "attention", op.module, "array", (), (0, len(tiles)), est.macs)
        prog = Program(m.arch.name, "pipelined", (one,), tuple(tiles))
        out[sched] = simulate(prog, m.arch).total_cycles
    return out


def _choose(shape: AttnShape, av: AttentionView, mach: Any, vs: Any, vec_cap: int, res_free: int,
            kv_buf: int, overhead: int, acc: int, e: int) -> tuple[Any, int]:
    """The best (by estimated cycles, then fewer tiles, bigger blocks) fused-attention mapping."""
    best: tuple[tuple[float, ...], AttnCandidate, Any] | None = None
    tried = 0
    bqs = sorted({min(av.L, b) for b in (1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)} | {av.L})
    for gi, grp in enumerate(mach.groups):
        for n in range(1, grp.count + 1):
            for bq in bqs:
                for place in ("arrays", "vector"):
                    if place == "vector" and (gi, n) != (0, 1):
                        continue
                    c = AttnCandidate(place, gi, n, bq)
                    units_in_flight = 2 * (n if place == "arrays" else 1)
                    need = units_in_flight * bq * av.S * (acc + e)
                    if need > res_free and 2 * bq * av.S * (acc + e) > vec_cap:
                        continue
                    est = estimate_attention(
                        shape, c, rows=grp.rows, cols=grp.cols, dataflow=grp.dataflow, lanes=vs.lanes,
                        softmax_cost=vs.cost("softmax"), mac_cost=vs.cost("gather_mac"),
                        vector_latency=vs.pipeline_latency_cycles, dram_bpc=mach.dram_bpc,
                        dram_overhead=overhead, kv_buffer_bytes=kv_buf // max(1, n))
                    tried += 1
                    key = (float(est.cycles), float(est.units * 3), -bq, c.arrays)
                    if best is None or key < best[0]:
                        best = (key, c, est)
    return best, tried


def map_attention(m: Mapper, op: Op) -> None:
    if m.opts.mode == "scalesim":
        raise MappingError(f"{op.where()}: --compat scalesim models systolic GEMMs only; attention "
                           "needs the vector unit (use the default timing mode)")
    av = attention_view(op, m.g)
    arch = m.arch
    vs = arch.vector
    mach = m.machine
    e, acc = m.elem, m.acc
    out = av.out
    m._place(out)
    deps = m.deps_of(op)
    q_on = m.on_chip(av.q)
    kv_on = m.on_chip(av.k) and m.on_chip(av.v)
    out_on = m.root(out) in m.resident
    mask_on = av.mask is None or m.on_chip(av.mask)
    mask_b = 0 if mask_on else min(DTYPE_BYTES.get(m.g.tensors[av.mask].dtype, 4), 4)  # type: ignore[index]
    shape = AttnShape(BH=av.BH, L=av.L, S=av.S, D=av.D, Dv=av.Dv, causal=av.causal, elem=e, acc=acc,
                      mask_bytes_per_elem=mask_b, q_on_chip=q_on, kv_on_chip=kv_on, out_on_chip=out_on,
                      kv_group=_kv_group(m, av.k, av.BH), prologue_cost=av.prologue)
    vec_cap = m.banks.vector_bytes.get(m.p_out, 0)
    res_free = max(0, m.resident_budget - m.live)
    kv_buf = mach.tile_bytes.get(m.p_w, 0)
    overhead = mach.dma_setup + mach.dram_latency
    key = (shape, m.digest, vs.lanes, vs.cost("softmax"), vs.cost("gather_mac"), vs.pipeline_latency_cycles,
           vec_cap, res_free, kv_buf, av.L)
    hit = _CHOICE.get(key)
    if hit is None:
        hit = _choose(shape, av, mach, vs, vec_cap, res_free, kv_buf, overhead, acc, e)
        if len(_CHOICE) > 4096:
            _CHOICE.clear()
        _CHOICE[key] = hit
    best, tried = hit
    if best is None:
        raise MappingError(
            f"{op.where()}: attention with {av.S} keys: not even one query row's scores "
            f"({2 * av.S * (acc + e)} bytes double-buffered) fit the vector unit's SRAM share "
            f"({vec_cap} bytes of partition '{m.p_out}') or the free resident space ({res_free} bytes)"
        )
    _, cand, est = best
    idx = len(m.ops)
    first = len(m.tiles)
    n_fl = 2 * (cand.arrays if cand.place == "arrays" else 1)
    sb_need = n_fl * cand.bq * av.S * (acc + e)
    in_resident = sb_need <= res_free
    skey = (key, cand, in_resident, m.sim_digest)  # the trial simulates on the whole arch
    tried_sched = _SCHEDULE.get(skey)
    if tried_sched is None:
        tried_sched = _SCHEDULE[skey] = _try_schedules(m, op, av, shape, cand, est, idx, in_resident)
        if len(_SCHEDULE) > 4096:
            _SCHEDULE.clear()
    schedule = min(tried_sched, key=lambda s_: (tried_sched[s_], SCHEDULES.index(s_))) if tried_sched else SCHEDULES[0]
    _emit(m, op, av, shape, cand, est, idx, in_resident, schedule)
    probs_at, raw_apart = _score_places(m, shape, cand, in_resident)
    plan = {
        "fused": "attention",
        "place": cand.place,
        "arrays": list(mach.groups[cand.group].instances[:cand.arrays]) if cand.place == "arrays" else ["vector"],
        "query_block": cand.bq,
        "kv_reuse": est.kv_reuse,
        "causal_skip": av.causal,
        "kv_group": shape.kv_group,
        "residency": {"q": "sram" if q_on else "dram", "kv": "sram" if kv_on else "dram",
                      "out": "sram" if out_on else "dram",
                      "scores": {"resident": "sram (resident area)", "slots": "sram (array tile slots)",
                                 "vector": "sram (vector buffers)"}[probs_at]
                      + (", raw scores in the input slots" if raw_apart else "")},
        "predicted_cycles": est.cycles,
        "predicted_dram_bytes": est.dram_read + est.dram_write,
        "bound": est.bound,
        "array_cycles": est.array_cycles,
        "vector_cycles": est.vector_cycles,
        "macs_full": shape.macs_full,
        "candidates": tried,
        "schedule": schedule,
        "schedule_cycles": dict(tried_sched),  # each issue order simulated alone (first heads)
    }
    m.add_op(name=op.name, ir_op=op.name, kind="attention", module=op.module,
             unit="array" if cand.place == "arrays" else "vector", deps=deps,
             tiles=(first, len(m.tiles)), macs=est.macs,
             note=f"fused attention: {cand.label()}", operands=(av.q, av.k, av.v), plan=plan)
    for o in op.outputs:
        m.producer[o] = (idx,)


def _score_places(m: Mapper, shape: AttnShape, c: AttnCandidate, in_resident: bool) -> tuple[str, bool]:
    """Where a unit's probabilities live (``resident``, ``slots``: the array's own output tile
    slot, or ``vector``: the vector unit's banks) and whether its raw scores have a place of
    their own (the array's idle input slot); see :func:`_emit`."""
    mach = m.machine
    e, acc = m.elem, m.acc
    n_fl = 2 * (c.arrays if c.place == "arrays" else 1)
    # Scores of one unit in one of the array's own output tile slots, when the slot holds them
    # and the P.V output tile: every array then writes and the vector unit
    # reads its scores at the bandwidth of the array's own banks. The vector unit's buffers (one
    # or two banks shared by every array) made four arrays' scores take turns on one bank: 3.3x
    # the estimate for GPT-2 small's attention on datacenter-bf16.
    slot_bytes = mach.tile_bytes.get(m.p_out, 0) // max(1, n_fl)
    in_slots = c.place == "arrays" and c.bq * (shape.S * (acc + e) + shape.Dv * acc) <= slot_bytes
    if in_resident and m.banks.resident()[1] != (0, 0):
        probs = "resident"
    else:
        probs = "slots" if in_slots else "vector"
    # The raw scores (accumulator precision) in the array's own input tile slot of the unit's
    # parity when Q is on chip (the slot is then idle: QK^T streams Q from the resident area) and
    # they fit: QK^T writes them there, the softmax reads them there and writes the probabilities
    # wherever they live, P.V reads those. Reading and writing the scores on the same banks made
    # the softmax SRAM-bound (GPT-2 small on datacenter-bf16: an output slot's 3 banks, 196,608 B
    # per 112-cycle softmax tile; the vector unit busy 34,765 cycles for 26,112 of work; with the
    # probabilities in the resident area, HF GPT-2 at seq 1024 got 2.5 % slower when the banks
    # doubled in size and the scores moved there).
    in_slot_bytes = mach.tile_bytes.get(m.p_in, 0) // max(1, n_fl)
    raw_apart = (c.place == "arrays" and shape.q_on_chip and m.p_in != m.p_out
                 and c.bq * shape.S * acc <= in_slot_bytes)
    return probs, raw_apart


def _emit(m: Mapper, op: Op, av: AttentionView, shape: AttnShape, c: AttnCandidate, est: Any, idx: int,
          in_resident: bool, schedule: str = "staged") -> None:
    mach = m.machine
    bp = m.banks
    vs = m.arch.vector
    e, acc = m.elem, m.acc
    grp = mach.groups[c.group]
    R, C, df = grp.rows, grp.cols, grp.dataflow
    us = units(shape, c.bq)
    heads = shape.BH
    n = c.arrays if c.place == "arrays" else 1
    per = -(-heads // n)
    res_part, res_rng = bp.resident()
    sm_cost = vs.cost("softmax")
    n_fl = 2 * n

    probs_at, raw_apart = _score_places(m, shape, c, in_resident)

    def score_buf(ai: int, q0: int) -> tuple[str, tuple[int, int]]:
        """Where a unit's probabilities (and, unless :func:`raw_buf` finds them a place of their
        own, its raw scores) live: a slice of the resident banks per (array, unit parity) when
        they fit there, else the array's own output tile slot of that parity, else the vector
        unit's banks."""
        par = (q0 // max(1, c.bq)) % 2
        if probs_at == "resident":
            from accelsim.mapping.banks import split

            return res_part, split(res_rng, n_fl, 2 * ai + par)
        if probs_at == "slots":
            return bp.slot("outputs", ai, par, n)
        return bp.vector_slot("outputs", par)

    def raw_buf(ai: int, q0: int) -> tuple[str, tuple[int, int]]:
        if raw_apart:
            return bp.slot("inputs", ai, (q0 // max(1, c.bq)) % 2, n)
        return score_buf(ai, q0)

    def put(t: Tile) -> int:
        tid = len(m.tiles)
        m.tiles.append(Tile(**{**t.__dict__, "id": tid}))
        return tid

    # per array: its units (head-major)
    per_array: list[list[tuple[int, int, int, int]]] = [[] for _ in range(n)]
    for u in us:
        per_array[min(n - 1, u[0] // per)].append(u)

    def qk_tile(ai: int, u: tuple[int, int, int, int], first_of_head: bool) -> Tile:
        b, q0, mm, se = u
        inst = grp.instances[ai] if c.place == "arrays" else "vector"
        slot = m._next_slot(inst)
        loads: list[Transfer] = []
        sram: list[SramAccess] = []
        sb_part, sb_rng = score_buf(ai, q0)
        if c.place == "arrays":
            in_part, in_rng = bp.slot("inputs", ai, slot, n)
            w_part, w_rng = bp.slot("weights", ai, slot, n)
            acc_part, acc_rng = bp.slot("accumulators", ai, 0, n)
        else:
            in_part, in_rng = bp.vector_slot("inputs", slot)
            w_part, w_rng = in_part, in_rng
            acc_part, acc_rng = sb_part, sb_rng
        if not shape.q_on_chip:
            loads.append(Transfer(av.q, mm * av.D * e, in_part, "load", in_rng))
        if not shape.kv_on_chip and (not est.kv_reuse or first_of_head):
            kv = av.S if est.kv_reuse else se
            if not (est.kv_reuse and shape.kv_group > 1 and b % shape.kv_group):
                loads.append(Transfer(av.k, kv * av.D * e, w_part, "load", w_rng))
        if c.place == "arrays":
            wi, ww, wo = systolic.operand_words_fast(df, mm, se, av.D, R, C)
            fill, body, drain, stream = systolic.tile_phases(df, mm, se, av.D, R, C)  # type: ignore[arg-type]
            cyc = fill + body + drain
            sram.append(SramAccess(res_part if shape.q_on_chip else in_part, wi * e, False,
                                   res_rng if shape.q_on_chip else in_rng))
            sram.append(SramAccess(res_part if shape.kv_on_chip else w_part, ww * e, False,
                                   res_rng if shape.kv_on_chip else w_rng))
            if df != "os":
                sram.append(SramAccess(acc_part, wo * acc, True, acc_rng))
                if wo > mm * se:
                    sram.append(SramAccess(acc_part, (wo - mm * se) * acc, False, acc_rng))
            raw_part, raw_rng = raw_buf(ai, q0)
            sram.append(SramAccess(raw_part, mm * se * acc, True, raw_rng))
            return Tile(id=-1, op=idx, unit=inst, compute_cycles=cyc, slot=slot, loads=tuple(loads),
                        sram=tuple(sram), macs=mm * se * av.D, dims=(mm, se, av.D), offsets=(b, q0, 0, 0),
                        role="qk", fill_cycles=fill, drain_cycles=drain, stream_cycles=stream)
        macs = mm * se * av.D
        cyc = vector_cycles(macs, vs.lanes, vs.cost("gather_mac"), vs.pipeline_latency_cycles)
        sram.append(SramAccess(in_part, (mm + se) * av.D * e, False, in_rng))
        sram.append(SramAccess(sb_part, mm * se * acc, True, sb_rng))
        return Tile(id=-1, op=idx, unit="vector", compute_cycles=cyc, slot=slot, loads=tuple(loads),
                    sram=tuple(sram), dims=(mm, se, av.D), offsets=(b, q0, 0, 0), role="qk",
                    vector_kind="gather_mac", vector_elems=macs)

    def sm_tile(ai: int, u: tuple[int, int, int, int], after: int) -> Tile:
        b, q0, mm, se = u
        slot = m._next_slot("vector")
        sb_part, sb_rng = score_buf(ai, q0)
        raw_part, raw_rng = raw_buf(ai, q0)
        loads: list[Transfer] = []
        sram = [SramAccess(raw_part, mm * se * acc, False, raw_rng), SramAccess(sb_part, mm * se * e, True, sb_rng)]
        if shape.mask_bytes_per_elem and av.mask is not None:
            in_part, in_rng = bp.vector_slot("inputs", slot)
            nb = mm * se * shape.mask_bytes_per_elem
            loads.append(Transfer(av.mask, nb, in_part, "load", in_rng))
            sram.append(SramAccess(in_part, nb, False, in_rng))
        # under a causal mask row r of the block only sees q0 + r + 1 keys: the vector unit skips
        # the masked upper half of the diagonal block (the array computes it whole)
        elems = mm * q0 + mm * (mm + 1) // 2 if av.causal and q0 + mm <= av.S else mm * se
        ops = [("softmax", elems)]
        if av.prologue:
            ops.append(("add", elems * av.prologue))
        cyc = vector_cycles(elems, vs.lanes, sm_cost, vs.pipeline_latency_cycles)
        if av.prologue:
            cyc += -(-elems // vs.lanes) * vs.cost("add") * av.prologue
        return Tile(id=-1, op=idx, unit="vector", compute_cycles=cyc, slot=slot, loads=tuple(loads),
                    sram=tuple(sram), dims=(mm, se), offsets=(b, q0), vector_kind="softmax",
                    vector_elems=elems, vector_ops=tuple(ops), after=(after,), role="softmax")

    def pv_tile(ai: int, u: tuple[int, int, int, int], first_of_head: bool, after: int) -> Tile:
        b, q0, mm, se = u
        inst = grp.instances[ai] if c.place == "arrays" else "vector"
        slot = m._next_slot(inst)
        sb_part, sb_rng = score_buf(ai, q0)
        loads: list[Transfer] = []
        stores: list[Transfer] = []
        sram: list[SramAccess] = []
        if c.place == "arrays":
            w_part, w_rng = bp.slot("weights", ai, slot, n)
            acc_part, acc_rng = bp.slot("accumulators", ai, 0, n)
            o_part, o_rng = bp.slot("outputs", ai, slot, n)
        else:
            w_part, w_rng = bp.vector_slot("inputs", slot)
            acc_part, acc_rng = sb_part, sb_rng
            o_part, o_rng = bp.vector_slot("outputs", slot)
        if not shape.kv_on_chip and (not est.kv_reuse or first_of_head):
            kv = av.S if est.kv_reuse else se
            if not (est.kv_reuse and shape.kv_group > 1 and b % shape.kv_group):
                loads.append(Transfer(av.v, kv * av.Dv * e, w_part, "load", w_rng))
        macs = mm * se * av.Dv
        if c.place == "arrays":
            wi, ww, wo = systolic.operand_words_fast(df, mm, av.Dv, se, R, C)
            fill, body, drain, stream = systolic.tile_phases(df, mm, av.Dv, se, R, C)  # type: ignore[arg-type]
            cyc = fill + body + drain
            sram.append(SramAccess(sb_part, wi * e, False, sb_rng))
            sram.append(SramAccess(res_part if shape.kv_on_chip else w_part, ww * e, False,
                                   res_rng if shape.kv_on_chip else w_rng))
            if df != "os":
                sram.append(SramAccess(acc_part, wo * acc, True, acc_rng))
                sram.append(SramAccess(acc_part, max(0, wo - mm * av.Dv) * acc + mm * av.Dv * acc, False, acc_rng))
            unit, kind, velems = inst, "", 0
            phases = (fill, drain, stream)
        else:
            phases = (0, 0, 0)
            cyc = vector_cycles(macs, vs.lanes, vs.cost("gather_mac"), vs.pipeline_latency_cycles)
            sram.append(SramAccess(sb_part, mm * se * e, False, sb_rng))
            sram.append(SramAccess(w_part, se * av.Dv * e, False, w_rng))
            unit, kind, velems = "vector", "gather_mac", macs
        ob = mm * av.Dv * e
        if shape.out_on_chip:
            sram.append(SramAccess(res_part, ob, True, res_rng))
        else:
            sram.append(SramAccess(o_part, ob, True, o_rng))
            stores.append(Transfer(av.out, ob, o_part, "store", o_rng))
        return Tile(id=-1, op=idx, unit=unit, compute_cycles=cyc, slot=slot, loads=tuple(loads),
                    stores=tuple(stores), sram=tuple(sram), macs=macs if c.place == "arrays" else 0,
                    dims=(mm, av.Dv, se), offsets=(b, q0, 0, 0), after=(after,), role="pv",
                    vector_kind=kind, vector_elems=velems, fill_cycles=phases[0], drain_cycles=phases[1],
                    stream_cycles=phases[2])

    seen_head: set[tuple[int, int]] = set()
    seen_head_pv: set[tuple[int, int]] = set()
    qk_id: dict[tuple[int, int], int] = {}
    longest = max((len(x) for x in per_array), default=0)
    # The software pipeline, in the issue order `schedule` (see SCHEDULES).
    def do_qk(ai: int, w: int) -> None:
        lst = per_array[ai]
        if w < len(lst):
            u = lst[w]
            first = (ai, u[0]) not in seen_head
            seen_head.add((ai, u[0]))
            qk_id[(u[0], u[1])] = put(qk_tile(ai, u, first))

    sm_id: dict[tuple[int, int], int] = {}

    def do_sm(ai: int, j: int) -> None:
        lst = per_array[ai]
        if 0 <= j < len(lst):
            u = lst[j]
            sm_id[(u[0], u[1])] = put(sm_tile(ai, u, qk_id[(u[0], u[1])]))

    def do_pv(ai: int, j: int) -> None:
        lst = per_array[ai]
        if 0 <= j < len(lst):
            u = lst[j]
            first = (ai, u[0]) not in seen_head_pv
            seen_head_pv.add((ai, u[0]))
            put(pv_tile(ai, u, first, sm_id[(u[0], u[1])]))

    for w in range(longest + 2):
        if schedule == "staged":
            for ai in range(n):
                do_qk(ai, w)
            for ai in range(n):
                do_sm(ai, w - 1)
            for ai in range(n):
                do_pv(ai, w - 2)
        elif schedule == "qk_ahead":
            for ai in range(n):
                do_qk(ai, w)
            for ai in range(n):
                do_sm(ai, w - 2)
                do_pv(ai, w - 2)
        elif schedule == "interleaved":
            for ai in range(n):
                do_qk(ai, w)
                do_sm(ai, w - 1)
                do_pv(ai, w - 1)
        else:  # pragma: no cover - SCHEDULES is closed
            raise ValueError(schedule)
