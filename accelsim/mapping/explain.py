"""What the mapper chose for an op, and why: the data behind ``accelsim explain`` and the per-op
mapping columns of ``result.json`` / ``ops.csv`` (pure: the only simulation is the SimPy check
the search itself runs on small GEMMs).

* :func:`mapping_columns`: the short per-op strings (``mapping``, ``residency``) and the plan's
  ``predicted_cycles`` / ``bound``.
* :func:`explain`: for the ops an IR op name or a module path names, a JSON-able explanation:
  a GEMM's best candidates of the mapping search (:func:`accelsim.mapping.search.search_gemm`
  with ``keep=top``: estimated cycles, DRAM bytes, energy, tiles, the cost term that binds and the
  SRAM partition that caps the tile) with the winner first and one line on why it won; a fused
  attention op's placement and query block with their estimate; a vector op's tiling.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from accelsim.errors import MappingError
from accelsim.model.gemm_cost import ORDER_NAMES

if TYPE_CHECKING:
    from accelsim.arch.spec import ArchSpec
    from accelsim.mapping.mapper import Mapper
    from accelsim.mapping.options import MappingOptions
    from accelsim.mapping.program import MappedOp, Program
    from accelsim.model.gemm_cost import GemmCandidate, GemmEstimate
    from accelsim.workload.ir import Graph

__all__ = ["MAPPING_COLUMNS", "mapping_columns", "explain", "find_ops"]

#: The per-op columns this module adds to ``ops`` (after the existing ones, in this order).
MAPPING_COLUMNS = ["mapping", "residency", "predicted_cycles", "simulated_cycles", "bound"]


def _r(x: float) -> float:
    return float(f"{float(x):.10g}")


def _arrays(names: Sequence[str]) -> str:
    """``sa0``; ``sa0.0,sa0.1``; ``sa0.0..sa0.3`` (the arrays an op uses are a prefix of a group)."""
    names = list(names)
    if len(names) <= 2:
        return ",".join(names)
    return f"{names[0]}..{names[-1]}"


def _gemm_mapping(plan: dict[str, Any]) -> str:
    m, n, k = plan["tile"]
    s = f"{m}x{n}x{k} {ORDER_NAMES.get(plan['order'], plan['order'])}"
    if plan.get("panel_rows"):
        s += f" panel {plan['panel_rows']}"
    s += f" on {_arrays(plan.get('arrays') or [])}"
    if plan.get("placement") == "packed":  # a grouped convolution (accelsim/mapping/lowering.py)
        s += f", {plan.get('packed_groups')} groups packed"
    return s


def mapping_columns(op: MappedOp, program: Program) -> dict[str, Any]:
    """``mapping`` (tile m x n x k, loop order, panel rows, arrays; a fused op's blocks; a vector
    op's tiles), ``residency`` (where each operand lives, e.g. ``A:sram B:dram out:sram``),
    ``predicted_cycles`` and ``bound`` (the cost model's, None without a plan) of one op."""
    plan = dict(op.plan or {})
    tiles = program.tiles[op.tiles[0]:op.tiles[1]]
    mapping = residency = ""
    if plan.get("fused") == "attention":
        where = "vector" if plan.get("place") == "vector" else _arrays(plan.get("arrays") or [])
        mapping = f"attention {plan.get('query_block')}-row query blocks on {where}"
        if plan.get("kv_reuse"):
            mapping += ", K/V once per head"
        r = plan.get("residency") or {}
        scores = "sram" if str(r.get("scores", "sram")).startswith("sram") else str(r.get("scores"))
        residency = f"Q:{r.get('q')} KV:{r.get('kv')} out:{r.get('out')} scores:{scores}"
    elif "tile" in plan:
        mapping = _gemm_mapping(plan)
        r = plan.get("residency") or {}
        residency = f"A:{r.get('a')} B:{r.get('b')} out:{r.get('out')}"
    elif op.unit == "array" and tiles:  # --compat scalesim: one serial tile per batch element
        b, M, N, K = op.gemm
        mapping = f"{M}x{N}x{K} serial" + (f" x{b}" if b > 1 else "") + f" on {tiles[0].unit}"
        residency = "ideal memory"
    elif op.unit == "vector" and tiles:
        most = max(t.dims[0] if t.dims else t.vector_elems for t in tiles)
        kind = tiles[0].vector_kind or "vector"
        mapping = f"{len(tiles)} tile{'s' if len(tiles) != 1 else ''}" + (f" of <= {most} elements" if most else "") \
            + f" ({kind})"
        loads = sum(len(t.loads) for t in tiles)
        reads = sum(1 for t in tiles for a in t.sram if not a.write)
        # every DRAM input of a vector tile is loaded into, then read from, its buffer; the
        # other reads are of tensors already on chip
        ins = "+".join(x for x, on in (("dram", loads > 0), ("sram", reads > loads)) if on) or "none"
        out = "dram" if any(t.stores for t in tiles) else "sram"
        residency = f"in:{ins} out:{out}"
    pc = plan.get("predicted_cycles")
    return {"mapping": mapping, "residency": residency,
            "predicted_cycles": int(pc) if pc is not None else None, "bound": plan.get("bound")}


# ---------------------------------------------------------------------------------------- find


def find_ops(program: Program, query: str) -> list[MappedOp]:
    """The scheduled ops ``query`` names: a scheduled op's name, an IR op (all its pieces), an op
    of the traced graph that a lowering pass fused into another (the fused op), or a module path
    (its ops, free layout ops left out unless that is all it has). Raises :class:`MappingError`
    (exit 2) listing close matches otherwise."""
    ops = program.ops
    hit = [o for o in ops if o.name == query]
    if hit:
        return hit
    hit = [o for o in ops if o.ir_op == query]
    if hit:
        return hit
    g = program.graph
    if g is not None:
        fused = {o.name for o in g.ops if any(isinstance(s, dict) and s.get("name") == query
                                              for s in o.attrs.get("sub_ops", []) or [])}
        hit = [o for o in ops if o.ir_op in fused]
        if hit:
            return hit
    mod = [o for o in ops if o.module == query]
    if mod:
        return [o for o in mod if o.unit != "none"] or mod
    names = sorted({o.name for o in ops} | {o.ir_op for o in ops} | {o.module for o in ops if o.module})
    close = difflib.get_close_matches(query, names, n=6, cutoff=0.6)
    close += [n for n in names if n.startswith(query + ".") and n not in close][: max(0, 8 - len(close))]
    some = [o.name for o in ops if o.unit != "none"][:8]
    hint = f"; close matches: {', '.join(close)}" if close else (
        f"; its ops are named like {', '.join(some)}" + (", ..." if len(some) == 8 else "") if some else "")
    raise MappingError(f"--op {query!r}: no op or module of that name in the mapped workload{hint}")


# ------------------------------------------------------------------------------------- explain


def _sram_limit(est: GemmEstimate, budget: dict[str, int]) -> dict[str, Any] | None:
    """The partition whose tile-buffer budget the mapping uses most (what caps a bigger tile)."""
    best: dict[str, Any] | None = None
    for part, used in sorted(est.footprint.items()):
        have = budget.get(part, 0)
        if used <= 0:
            continue
        frac = used / have if have else math.inf
        if best is None or frac > best["fraction"]:
            best = {"partition": part, "used_bytes": int(used), "budget_bytes": int(have), "fraction": _r(frac)}
    return best


def _limit(est: GemmEstimate, mach: Any) -> str:
    """One phrase on the cost term that sets the estimate (``GemmEstimate.bound``)."""
    b = est.bound
    if b == "compute":
        return f"compute: the busiest array computes {est.compute_cycles:,} cycles"
    if b == "dram":
        return (f"DRAM: {est.dram_bytes:,} bytes at {mach.dram_bpc:g} B/cycle = "
                f"{math.ceil(est.dram_bytes / mach.dram_bpc):,} cycles")
    if b == "issue":
        return f"sequencer: {est.tiles:,} commands at {mach.issue_cycles} cycle(s) each"
    if b == "dma":
        return f"DMA: {est.transfers:,} transfers on {mach.dma_engines} engine(s)"
    if b == "latency":
        return (f"latency: loads and pipeline fill exposed (compute {est.compute_cycles:,} of "
                f"{est.cycles:,} cycles)")
    return b


def _metric(objective: str, est: GemmEstimate) -> tuple[float, float, str, str]:
    """(primary, tie-break, primary's name, tie-break's name) of ``objective``."""
    lat, en = float(est.cycles), est.energy_pj
    if objective == "energy":
        return en, lat, "energy", "cycles"
    if objective == "edp":
        return en * lat, lat, "energy-delay product", "cycles"
    return lat, en, "cycles", "energy"


def _why(objective: str, ranked: Sequence[tuple[GemmCandidate, GemmEstimate]],
         est_best: GemmCandidate, sims: dict[GemmCandidate, int]) -> str:
    """One line on why ``ranked[0]`` won, against the runner-up (or the cost model's favourite
    when the SimPy check overruled it)."""
    from accelsim.mapping.search import TIE_TOLERANCE

    wc, we = ranked[0]
    if wc != est_best and wc in sims:
        if est_best in sims:
            return (f"simulated faster: {sims[wc]:,} cycles in SimPy against {sims[est_best]:,} for "
                    f"{est_best.label()}, which the cost model ranked first")
        return (f"simulated faster: chosen by the SimPy check, {sims[wc]:,} cycles, among the {len(sims)} "
                f"candidates it simulated; the cost model's favourite ({est_best.label()}) was not "
                "among them")
    if len(ranked) < 2:
        return "the only mapping whose tile buffers fit the SRAM"
    rc, re_ = ranked[1]
    p_w, s_w, p_name, s_name = _metric(objective, we)
    p_r, s_r, _, _ = _metric(objective, re_)
    tail = ""
    if sims:
        tail = f"; {len(sims)} candidate(s) checked in SimPy"
        if wc in sims and sims[wc] == min(sims.values()):
            tail += f", the winner's {sims[wc]:,} cycles the fastest"
    tol = f"within {TIE_TOLERANCE:.1%}"
    if p_r > p_w * (1 + TIE_TOLERANCE):
        if p_name == "cycles":
            return (f"the runner-up ({rc.label()}) is {p_r / p_w - 1:.1%} slower: {re_.cycles:,} vs "
                    f"{we.cycles:,} cycles") + tail
        if p_name == "energy":
            return (f"the runner-up ({rc.label()}) uses {p_r / p_w - 1:.1%} more energy: "
                    f"{re_.energy_pj / 1e6:.4g} vs {we.energy_pj / 1e6:.4g} uJ") + tail
        return f"the runner-up ({rc.label()}) has a {p_r / p_w - 1:.1%} higher energy-delay product" + tail
    if s_r > s_w * (1 + TIE_TOLERANCE):
        diff = f"{s_r / s_w - 1:.1%} more energy" if s_name == "energy" else f"{s_r / s_w - 1:.1%} more cycles"
        return f"tied on {p_name} ({tol}); the runner-up ({rc.label()}) takes {diff}" + tail
    if re_.tiles > we.tiles:
        return (f"tied on {p_name} and {s_name} ({tol}); fewer tiles: {we.tiles:,} vs {re_.tiles:,} "
                f"for {rc.label()}") + tail
    return (f"tied on {p_name}, {s_name} and tiles with {rc.label()}; the larger tile, then the "
            "enumeration order, decides") + tail


def _gemm_problem(m: Mapper, op: MappedOp) -> Any:
    """The :class:`~accelsim.model.gemm_cost.GemmProblem` the mapper searched for ``op`` (its
    shape, and the residency its plan records)."""
    from accelsim.model.gemm_cost import GemmProblem

    batch, M, N, K = op.gemm
    res = op.plan.get("residency") or {}
    a = op.operands[0] if op.operands else ""
    # a convolution's A is its input tensor (the im2col matrix re-reads it), as the mapper passes it
    conv = op.kind in ("conv2d", "conv1d") and a in m.g.tensors
    a_bytes = m.tbytes(a) if conv else batch * M * K * m.elem
    return GemmProblem(batch=batch, M=M, N=N, K=K, elem=m.elem, acc=m.acc, a_dram_bytes=a_bytes,
                       a_on_chip=res.get("a") == "sram", b_on_chip=res.get("b") == "sram",
                       out_on_chip=res.get("out") == "sram", b_rom=res.get("b") == "rom")


def _candidate_row(rank: int, c: GemmCandidate, est: GemmEstimate, m: Mapper,
                   sims: dict[GemmCandidate, int]) -> dict[str, Any]:
    mach = m.machine
    grp = mach.groups[c.group]
    return {
        "rank": rank,
        "winner": rank == 1,
        "mapping": c.label(),
        "tile": [c.m, c.n, c.k],
        "order": c.order,
        "order_name": ORDER_NAMES[c.order],
        "panel_rows": c.mp if c.order == "M" else None,
        "group": c.group,
        "arrays": list(grp.instances[:c.arrays]),
        "cycles": est.cycles,
        "compute_cycles": est.compute_cycles,
        "dram_bytes": est.dram_bytes,
        "compulsory_dram_bytes": est.compulsory,
        "energy_pj": _r(est.energy_pj),
        "tiles": est.tiles,
        "transfers": est.transfers,
        "bound": est.bound,
        "limit": _limit(est, mach),
        "sram_limit": _sram_limit(est, mach.tile_bytes),
        "footprint_bytes": dict(sorted(est.footprint.items())),
        "simulated_cycles": sims.get(c),
    }


def _explain_gemm(m: Mapper, op: MappedOp, top: int) -> dict[str, Any]:
    from accelsim.mapping.search import search_gemm, simulate_candidate
    from accelsim.model.gemm_cost import estimate_gemm

    o = m.opts
    plan = dict(op.plan or {})
    batch, M, N, K = op.gemm
    base: dict[str, Any] = {"type": "gemm", "gemm": {"batch": batch, "M": M, "N": N, "K": K}}
    if "tile" not in plan:  # --compat scalesim: nothing searched
        return {**base, "note": op.note, "candidates": [], "why": "SCALE-Sim compatible timing: one serial "
                "tile per batch element on the first array, no search"}
    prob = _gemm_problem(m, op)
    caps = (o.max_tile_m, o.tile_n_folds, o.tile_k_folds)
    res = search_gemm(prob, m.machine, objective=o.objective, digest=m.digest, keep=top,
                      max_tile_m=caps[0], tile_n_folds=caps[1], tile_k_folds=caps[2],
                      verify=lambda c: simulate_candidate(prob, c, m.machine, m.arch, m.banks),
                      verify_top=o.verify_top, verify_max_tiles=o.verify_max_tiles)
    # the same search without the SimPy check: the cost model's own favourite
    by_model = search_gemm(prob, m.machine, objective=o.objective, digest=m.digest, keep=top,
                           max_tile_m=caps[0], tile_n_folds=caps[1], tile_k_folds=caps[2])
    sims = {c: cyc for c, cyc in res.verified}
    rows = [_candidate_row(i + 1, c, est, m, sims) for i, (c, est) in enumerate(res.ranked[:top])]
    w = res.best
    grp = m.machine.groups[w.group]
    # the same problem as the mapper's: the same winner with the same estimate
    chosen = (plan["tile"] == [w.m, w.n, w.k] and plan["order"] == w.order
              and (plan.get("panel_rows") or 0) == (w.mp if w.order == "M" else 0)
              and list(plan.get("arrays") or []) == list(grp.instances[:w.arrays])
              and plan.get("predicted_cycles") == res.estimate.cycles
              and plan.get("predicted_dram_bytes") == res.estimate.dram_bytes)
    simulated = []
    for c, cyc in res.verified:
        est = estimate_gemm(prob, c, m.machine)
        simulated.append({"mapping": c.label(), "estimated_cycles": est.cycles, "simulated_cycles": cyc,
                          "winner": c == w})
    return {
        **base,
        "residency_by_operand": dict(plan.get("residency") or {}),
        "objective": o.objective,
        "space": res.space,
        "feasible": res.feasible,
        "evaluated": res.evaluated,
        "candidates": rows,
        "why": _why(o.objective, res.ranked, by_model.best, sims),
        "simulated": simulated,
        "matches_plan": chosen,
        "predicted_cycles": plan.get("predicted_cycles"),
        "tile_buffer_budget_bytes": dict(sorted(m.machine.tile_bytes.items())),
    }


def _explain_attention(op: MappedOp, program: Program) -> dict[str, Any]:
    plan = dict(op.plan or {})
    tiles = program.tiles[op.tiles[0]:op.tiles[1]]
    keys = ("place", "arrays", "query_block", "kv_reuse", "causal_skip", "kv_group",
            "predicted_cycles", "predicted_dram_bytes", "bound", "array_cycles", "vector_cycles",
            "macs_full", "candidates", "schedule", "schedule_cycles")
    out: dict[str, Any] = {"type": "attention", **{k: plan.get(k) for k in keys}}
    out["residency_by_operand"] = dict(plan.get("residency") or {})
    out["macs_executed"] = op.macs
    out["units"] = sum(1 for t in tiles if t.role == "qk")
    out["tiles"] = len(tiles)
    b = plan.get("bound")
    terms = {"arrays": plan.get("array_cycles"), "vector": plan.get("vector_cycles")}
    out["why"] = (f"the fastest of {plan.get('candidates')} (placement, arrays, query block) choices by the "
                  f"attention cost model; bound by {b}"
                  + (f" ({terms[b]:,} cycles)" if b in terms and terms[b] is not None else ""))
    return out


def _explain_vector(m: Mapper, op: MappedOp, program: Program, top: int) -> dict[str, Any]:
    tiles = program.tiles[op.tiles[0]:op.tiles[1]]
    rows = []
    for t in tiles[:top]:
        rows.append({
            "tile": t.id, "first_element": t.offsets[0] if t.offsets else 0,
            "elements": t.dims[0] if t.dims else t.vector_elems, "cycles": t.compute_cycles,
            "load_bytes": sum(x.nbytes for x in t.loads), "store_bytes": sum(x.nbytes for x in t.stores),
            "banks": sorted({f"{a.partition}[{a.banks[0]}:{a.banks[1]}]" for a in t.sram}),
        })
    load = sum(x.nbytes for t in tiles for x in t.loads)
    store = sum(x.nbytes for t in tiles for x in t.stores)
    comp = sum(t.compute_cycles for t in tiles)
    dram = math.ceil((load + store) / m.machine.dram_bpc) if load + store else 0
    kinds: dict[str, int] = {}
    for t in tiles:
        for k, n in (t.vector_ops or ((t.vector_kind or "vector", t.vector_elems),)):
            kinds[k] = kinds.get(k, 0) + n
    vb = m.banks.vector_bytes
    return {
        "type": "vector",
        "tiles": len(tiles),
        "elements": sum(t.dims[0] if t.dims else 0 for t in tiles),
        "work": dict(sorted(kinds.items())),
        "compute_cycles": comp,
        "dram_bytes": load + store,
        "dram_cycles": dram,
        "bound": "vector" if comp >= dram else "dram",
        "vector_buffer_bytes": {p: vb.get(p, 0) for p in sorted({m.p_in, m.p_out})},
        "lanes": m.arch.vector.lanes,
        "first_tiles": rows,
        "why": (f"{len(tiles)} tile(s): the op's DRAM bytes split to fit half the vector unit's buffer "
                f"(double-buffered), at most {m.opts.max_vector_tile_elems:,} elements each"),
    }


def explain(arch: ArchSpec, graph: Graph, query: str, *, top: int = 5,
            options: MappingOptions | None = None) -> dict[str, Any]:
    """Map ``graph`` onto ``arch`` and explain the ops ``query`` names (see :func:`find_ops`):
    ``{"arch", "workload", "query", "top", "ops": [...]}``, each op with ``type`` ``gemm`` (the
    ``top`` best candidates of its mapping search, winner first, and ``why``), ``attention``,
    ``vector`` or ``free``. Deterministic; raises :class:`MappingError` for an unknown name."""
    from accelsim.mapping.mapper import Mapper, map_graph
    from accelsim.mapping.options import MappingOptions

    if top < 1:
        raise MappingError(f"--top {top}: must be at least 1")
    opts = options or MappingOptions()
    program = map_graph(graph, arch, opts)
    ops = find_ops(program, query)
    m = Mapper(program.graph if program.graph is not None else graph, arch, opts)
    out = []
    for op in ops:
        row: dict[str, Any] = {"name": op.name, "ir_op": op.ir_op, "kind": op.kind, "module": op.module,
                               "unit": op.unit, "tiles_emitted": op.tiles[1] - op.tiles[0], "note": op.note,
                               **mapping_columns(op, program)}
        if (op.plan or {}).get("fused") == "attention":
            row.update(_explain_attention(op, program))
        elif op.unit == "array" and any(op.gemm):
            row.update(_explain_gemm(m, op, top))
        elif op.unit == "vector":
            row.update(_explain_vector(m, op, program, top))
        else:
            row.update({"type": "free", "why": op.note or "a layout op: only the DMA descriptor changes"})
        out.append(row)
    return {"arch": arch.name, "workload": graph.name, "query": query, "top": top,
            "mode": opts.mode, "ops": out}
