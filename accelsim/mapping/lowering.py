"""Op-specific mapping rules the mapper dispatches to (:class:`~accelsim.mapping.mapper.Mapper`).

* **Convolutions** (:func:`map_conv`; ``conv2d`` and ``conv1d``, both im2col GEMMs through
  :func:`accelsim.workload.gemm.gemm_view`). A dense convolution (``groups == 1``) is one GEMM
  (the DMA reads the input once: ``a_dram_bytes`` is the input tensor, not the im2col matrix).
  A grouped / depthwise convolution is ``g`` tiny GEMMs (``M = N*Ho*Wo``, ``N = F/g``,
  ``K = C/g*R*S``: a depthwise 3x3 is ``K = 9``, ``N = 1``, 9 MACs per array cycle on a
  128x128 array). Three placements are costed and the fastest by the cost model (predicted
  cycles, whatever the search objective; ties: array, packed, vector) is kept:

  - ``array``: the ``g`` GEMMs one after another (the plain mapping);
  - ``packed``: ``P`` groups packed on the array as one block-diagonal GEMM
    (``K = P*C/g*R*S`` rows, ``N = P*F/g`` columns, zeros off the diagonal blocks, ``g/P`` of
    them): ``P`` times the useful MACs per pass, the zero weights loaded with the real ones;
    ``P`` is the largest divisor of ``g`` whose block fits the array (and half of it);
  - ``vector``: on the vector unit, one MAC per lane per cycle
    (:func:`accelsim.model.vector_conv.vector_conv_cycles`).

  The mapped op's ``plan`` records every placement's predicted cycles (``placements``) and the
  one chosen (``placement``; ``packed_groups`` for a packed one, which the numerics emulator reads
  to lay the operands out the same way). Array MACs (``MappedOp.macs``, tile MACs) count only the
  useful products (the zeros of a packed block are not counted, as zero-gated PEs spend no MAC
  energy on them); a convolution on the vector unit has no array MACs (its MACs are the vector
  element-ops of its tiles, cost class ``gather_mac``).
* **Weights kept on chip across ops** (:func:`retain_weights`): a weight that several ops read
  (an RNN's recurrent matrices, read once per time step; weights shared across layers) is kept in
  the resident SRAM area from its first use to its last when it fits the resident budget at its
  first use (what is left of ``resident_fraction`` of the resident partition, shared with the
  resident activations): the first reader loads it from DRAM once, later readers read SRAM. A
  first reader that reads only some rows (an embedding gather, a sparse decoder) does not
  qualify: the whole table never came on chip.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from accelsim.model.gemm_cost import GemmProblem
from accelsim.model.vector_conv import vector_conv_cycles
from accelsim.workload.gemm import GemmView, gemm_view
from accelsim.workload.ir import Op

if TYPE_CHECKING:
    from accelsim.mapping.mapper import Mapper

__all__ = ["CONV_KINDS", "PLACEMENTS", "map_conv", "packings", "retain_weights", "packed_useful_macs"]

CONV_KINDS = ("conv2d", "conv1d")
#: Grouped-convolution placements, in the order ties are broken.
PLACEMENTS = ("array", "packed", "vector")
#: Op kinds whose reads of their first input fetch only some rows of it (never the whole table).
_PARTIAL_READERS = frozenset({"embedding", "embedding_bag", "index_select", "gather", "index"})


# ---------------------------------------------------------------------------------------------
# convolutions
# ---------------------------------------------------------------------------------------------


def packings(groups: int, kg: int, fg: int, rows: int, cols: int) -> list[int]:
    """Group counts ``P > 1`` worth packing into one block-diagonal array GEMM: the largest divisor
    of ``groups`` with ``P*kg <= rows`` and ``P*fg <= cols``, and the largest divisor at most half
    of it (fewer zeros, smaller tiles); ascending. Empty when not even two groups fit."""
    cap = min(rows // max(1, kg), cols // max(1, fg), groups)
    divs = [p for p in range(2, cap + 1) if groups % p == 0]
    if not divs:
        return []
    best = divs[-1]
    half = [p for p in divs if p <= best // 2]
    return sorted({best, *half[-1:]})


def packed_useful_macs(m: int, n0: int, n: int, k0: int, k: int, fg: int, kg: int) -> int:
    """Useful MACs of a tile ``m x [n0, n0+n) x [k0, k0+k)`` of a block-diagonal GEMM whose
    diagonal blocks are ``kg`` rows by ``fg`` columns (group ``p`` owns rows ``[p*kg, (p+1)*kg)``
    and columns ``[p*fg, (p+1)*fg)``)."""
    total = 0
    for p in range(n0 // fg, (n0 + n - 1) // fg + 1):
        cols = min(n0 + n, (p + 1) * fg) - max(n0, p * fg)
        rows = min(k0 + k, (p + 1) * kg) - max(k0, p * kg)
        if cols > 0 and rows > 0:
            total += cols * rows
    return m * total


def _problem(m: Mapper, batch: int, M: int, N: int, K: int, a: str, b: str, out: str, b_rom: bool) -> GemmProblem:
    o_res = m.root(out) in m.resident
    return GemmProblem(batch=batch, M=M, N=N, K=K, elem=m.elem, acc=m.acc, a_dram_bytes=m.tbytes(a),
                       a_on_chip=m.on_chip(a), b_on_chip=m.on_chip(b) and not b_rom, out_on_chip=o_res,
                       b_rom=b_rom)


def _gemm_cycles(m: Mapper, prob: GemmProblem) -> int | None:
    """The mapping search's predicted cycles for ``prob`` (the search the mapper's ``emit_gemm``
    runs, with the same options, so the later emission hits its cache); None if nothing fits."""
    from accelsim.errors import MappingError
    from accelsim.mapping.search import search_gemm, simulate_candidate

    o = m.opts
    try:
        res = search_gemm(prob, m.machine, objective=o.objective, digest=m.digest,
                          max_tile_m=o.max_tile_m, tile_n_folds=o.tile_n_folds, tile_k_folds=o.tile_k_folds,
                          verify=lambda c: simulate_candidate(prob, c, m.machine, m.arch, m.banks),
                          verify_top=o.verify_top, verify_max_tiles=o.verify_max_tiles,
                          persist=m.sim_digest)
    except MappingError:
        return None
    if res.verified:
        return min(int(c) for _, c in res.verified)
    return int(res.estimate.cycles)


def _vector_inputs(m: Mapper, op: Op) -> list[tuple[str, int, bool]]:
    return [(t, m.tbytes(t), m.on_chip(t) or m.in_rom(op, t)) for t in op.inputs]


def _vector_tiles(m: Mapper, elems: int, total_in: int, out_bytes: int) -> int:
    """The number of tiles :meth:`Mapper.emit_vector` splits an op into (same rule)."""
    vb = m.banks.vector_bytes
    cap = max(1, min(vb.get(m.p_in, 0), vb.get(m.p_out, 0)) // 2)
    n = max(1, -(-max(total_in, out_bytes) // cap), -(-elems // m.opts.max_vector_tile_elems))
    return min(n, max(1, elems))


def _vector_cycles(m: Mapper, op: Op, v: GemmView) -> int:
    out = op.outputs[0]
    ins = _vector_inputs(m, op)
    total_in = sum(b for _, b, res in ins if not res)
    out_b = m.tbytes(out)
    out_res = m.root(out) in m.resident
    elems = m.g.tensors[out].numel
    vs = m.arch.vector
    return vector_conv_cycles(
        macs=v.macs, lanes=vs.lanes, mac_cost=vs.cost("gather_mac"), pipeline_latency=vs.pipeline_latency_cycles,
        tiles=_vector_tiles(m, elems, total_in, out_b), dram_bytes=total_in + (0 if out_res else out_b),
        dram_bytes_per_cycle=m.machine.dram_bpc, dram_latency=m.machine.dram_latency,
        dma_setup=m.machine.dma_setup,
    )


def map_conv(m: Mapper, op: Op) -> None:
    """Map a ``conv2d`` / ``conv1d`` (see the module docstring)."""
    v = gemm_view(op, m.g)
    a, b, out = v.a, v.b, v.out
    m._place(out)
    deps = m.deps_of(op)
    b_rom = m.in_rom(op, b)
    g = v.groups
    if g == 1 or m.opts.mode == "scalesim":
        idx = m.emit_gemm(name=op.name, ir_op=op.name, kind=op.kind, module=op.module, deps=deps,
                          batch=v.batch, M=v.M, N=v.N, K=v.K, a=a, b=b, out=out, a_bytes=m.tbytes(a),
                          b_rom=b_rom)
        for o in op.outputs:
            m.producer[o] = (idx,)
        return
    rows = max(grp.rows for grp in m.machine.groups)
    cols = max(grp.cols for grp in m.machine.groups)
    options: list[tuple[int, int, str, int]] = []  # (cycles, order, placement, P)
    cyc = _gemm_cycles(m, _problem(m, g, v.M, v.N, v.K, a, b, out, b_rom))
    if cyc is not None:
        options.append((cyc, 0, "array", 1))
    for P in packings(g, v.K, v.N, rows, cols):
        cyc = _gemm_cycles(m, _problem(m, g // P, v.M, P * v.N, P * v.K, a, b, out, b_rom))
        if cyc is not None:
            options.append((cyc, 1, "packed", P))
    options.append((_vector_cycles(m, op, v), 2, "vector", 1))
    best = min(options)
    _, _, where, P = best
    table: dict[str, Any] = {}
    for c, _, w, p in sorted(options, key=lambda x: (x[1], x[3])):
        table[w if w != "packed" else f"packed{p}"] = c
    if where == "vector":
        idx = _emit_vector_conv(m, op, v, deps)
    else:
        idx = _emit_array_conv(m, op, v, deps, P, b_rom)
    mop = m.ops[idx]
    plan = {**dict(mop.plan), "placement": where, "placements": table}
    if where == "packed":
        plan["packed_groups"] = P
    elif where == "vector":
        plan["predicted_cycles"] = best[0]
    m.ops[idx] = replace(mop, plan=plan)
    for o in op.outputs:
        m.producer[o] = (idx,)


def _emit_array_conv(m: Mapper, op: Op, v: GemmView, deps: tuple[int, ...], P: int, b_rom: bool) -> int:
    kind = "depthwise" if v.depthwise else "grouped"
    first = len(m.tiles)
    if P == 1:
        return m.emit_gemm(name=op.name, ir_op=op.name, kind=op.kind, module=op.module, deps=deps,
                           batch=v.batch, M=v.M, N=v.N, K=v.K, a=v.a, b=v.b, out=v.out, a_bytes=m.tbytes(v.a),
                           b_rom=b_rom)
    idx = m.emit_gemm(name=op.name, ir_op=op.name, kind=op.kind, module=op.module, deps=deps,
                      batch=v.batch // P, M=v.M, N=P * v.N, K=P * v.K, a=v.a, b=v.b, out=v.out,
                      a_bytes=m.tbytes(v.a), b_rom=b_rom)
    for i in range(first, len(m.tiles)):
        t = m.tiles[i]
        mm, nn, kk = t.dims
        _, _, n0, k0 = t.offsets
        m.tiles[i] = replace(t, macs=packed_useful_macs(mm, n0, nn, k0, kk, v.N, v.K))
    mop = m.ops[idx]
    m.ops[idx] = replace(mop, macs=v.macs,
                         note=f"{kind} conv: {P} groups packed per block-diagonal GEMM; {mop.note}")
    return idx


def _emit_vector_conv(m: Mapper, op: Op, v: GemmView, deps: tuple[int, ...]) -> int:
    out = op.outputs[0]
    elems = m.g.tensors[out].numel
    kind = "depthwise" if v.depthwise else "grouped"
    idx = m.emit_vector(name=op.name, ir_op=op.name, kind=op.kind, module=op.module, deps=deps,
                        vkind="gather_mac", elems=elems, in_bytes=_vector_inputs(m, op), out_tensor=out,
                        out_bytes=m.tbytes(out), out_res=m.root(out) in m.resident,
                        work={"gather_mac": v.macs})
    mop = m.ops[idx]
    m.ops[idx] = replace(mop, note=f"{kind} conv on the vector unit: {v.macs} MACs on "
                                   f"{m.arch.vector.lanes} lanes; {mop.note}")
    return idx


# ---------------------------------------------------------------------------------------------
# weights read by several ops
# ---------------------------------------------------------------------------------------------


def retain_weights(m: Mapper, op: Op, index: int) -> None:
    """After ``op`` (the ``index``-th op of the graph) is mapped: keep on chip every weight it read
    in full that a later op reads too, when it fits the resident budget (see the module
    docstring). Updates the mapper's resident set and live bytes and one program note."""
    if m.opts.mode == "scalesim" or op.kind in _PARTIAL_READERS:
        return
    if any(mo.ir_op == op.name and mo.kind.endswith(".sparse") for mo in m.ops[-1:]):
        return  # a sparse decoder gathers rows of its weight
    kept: dict[str, int] = m.__dict__.setdefault("retained_weights", {})
    for t in dict.fromkeys(op.inputs):
        r = m.root(t)
        info = m.g.tensors[r]
        if info.kind != "weight" or r in m.resident or r in m.rom_weights or r in m.res_loc:
            continue
        if m.last_use.get(r, -1) <= index:
            continue
        nb = m.tbytes(r)
        if m.live + nb > m.resident_budget:
            continue
        m.resident.add(r)
        m.resident_ever.add(r)
        m.live += nb
        kept[r] = nb
    if kept:
        note = (f"weights kept on chip across ops: {len(kept)} tensors, {sum(kept.values())} bytes "
                f"(each loaded from DRAM once)")
        pos = m.__dict__.get("_retained_note")
        if pos is None:
            m.__dict__["_retained_note"] = len(m.notes)
            m.notes.append(note)
        else:
            m.notes[pos] = note
