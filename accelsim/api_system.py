"""Many chips: tensor and pipeline parallelism over a simulated interconnect (docs/multichip.md).

    from accelsim import api, api_system
    arch = api.load_arch("datacenter-bf16", ["system.chips=8"])
    graph = api.load_graph("llama2-7b", {"decode": True, "kv_len": 512, "layers": 2})
    r = api_system.simulate_system(arch, graph, tp=8)
    r["system"]["speedup_vs_one_chip"], r["latency_s"]

:func:`simulate_system` partitions the graph (:func:`accelsim.passes.shard.shard_tp`, then
:func:`~accelsim.passes.shard.split_pp`), maps every stage's graph with the single-chip mapper,
turns the collective markers into ``link`` tiles, simulates all chips and links in one SimPy
environment (:mod:`accelsim.sim.system`) and builds one :class:`~accelsim.results.RunResult`:

* ``total_cycles`` / ``latency_s``: the system's (the last chip's last op, or the last send);
* ``macs``, ``dram_read_bytes``, ``dram_write_bytes``, ``tiles``, ``energy_j``: all chips and
  micro-batches together (energy: every used chip's dynamic energy plus its static power over the
  system's latency; the links are not priced);
* ``ops`` (and ``layers``): TP rank 0 of every stage, micro-batch 0, on the system's clock (the
  collectives appear as ops on unit ``link``); ``units``, ``timeline_cycles`` and the stall
  counters: chip 0 (stage 0, rank 0), micro-batch 0, over the system's latency;
* ``system``: the chips, the interconnect as resolved, the TP plan, the stages, every collective
  and send (kind, bytes, cycles, the formula's cycles, chips), per-channel link utilisation,
  per-chip busy cycles and utilisation, time in communication, the pipeline bubble and the
  speedup and scaling efficiency against the same graph on one chip;
* ``gpu``: the same split on ``tp x pp`` GPUs of the profile over its NVLink
  (:func:`accelsim.gpu.model.simulate_gpu_system`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from accelsim.api import RunOptions
from accelsim.arch.spec import PRECISION_BYTES, ArchSpec
from accelsim.errors import MappingError, SpecError
from accelsim.mapping.program import MappedOp, Program, Tile
from accelsim.model.collectives import Interconnect, collective_s, p2p_s, pipeline_bubble, resolve_interconnect
from accelsim.passes.shard import COLLECTIVE_ATTR, Stage, TpPlan, op_cost, shard_tp, split_pp
from accelsim.results import RunResult, _r
from accelsim.workload.ir import DTYPE_BYTES, Graph

__all__ = ["SystemPlan", "SystemRaw", "plan_system", "simulate_system", "simulate_gpu_split", "check_system",
           "print_system"]


def _tensor_bytes(arch: ArchSpec, g: Graph, name: str) -> int:
    """Bytes of a tensor as the mapper stores it (floats at the arrays' precision)."""
    t = g.tensors[name]
    if t.dtype.startswith(("float", "bfloat")):
        return t.numel * PRECISION_BYTES[arch.arrays[0].precision]
    return t.numel * min(DTYPE_BYTES.get(t.dtype, 4), 4)


def _interconnect(arch: ArchSpec) -> Interconnect:
    s = arch.system_spec
    ic = s.interconnect
    try:
        return resolve_interconnect(s.chips, ic.topology, ic.links_per_chip, ic.link_bandwidth_gbps, ic.latency_ns)
    except ValueError as e:
        raise SpecError(f"system.interconnect: {e}") from None


@dataclass(frozen=True)
class SystemPlan:
    """The partitioned workload: the TP plan and the pipeline stages of its rank graph."""

    tp: int
    pp: int
    microbatches: int
    interconnect: Interconnect
    plan: TpPlan
    stages: tuple[Stage, ...]

    def stage_chips(self, s: int) -> list[int]:
        return [s * self.tp + r for r in range(self.tp)]


def plan_system(arch: ArchSpec, graph: Graph, *, tp: int = 1, pp: int = 1, microbatches: int = 1) -> SystemPlan:
    """Partition ``graph`` for ``tp`` x ``pp`` chips of ``arch``'s system (no simulation).

    Raises :class:`SpecError` (exit 2) when the system has too few chips and :class:`MappingError`
    naming the op when the graph cannot be split."""
    for name, v in (("--tp", tp), ("--pp", pp), ("--microbatches", microbatches)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise SpecError(f"{name} must be a positive integer (got {v!r})")
    chips = arch.system_spec.chips
    if tp * pp > chips:
        raise SpecError(f"--tp {tp} x --pp {pp} needs {tp * pp} chips; architecture '{arch.name}' has {chips} "
                        f"(add system.chips, e.g. --set system.chips={tp * pp})")
    ic = _interconnect(arch)
    tplan = shard_tp(graph, tp)
    peak = float(arch.peak_macs_per_cycle)
    bpc = arch.dram_bytes_per_cycle
    lanes = arch.vector.lanes
    elem = PRECISION_BYTES[arch.arrays[0].precision]
    stages = split_pp(tplan.graph, pp, lambda op, g: op_cost(op, g, peak, bpc, lanes, elem))
    return SystemPlan(tp, pp, microbatches, ic, tplan, tuple(stages))


# ------------------------------------------------------------------------------------ programs


def _with_link_tiles(prog: Program, markers: Mapping[str, str]) -> tuple[Program, dict[int, str]]:
    """``prog`` with one ``link`` tile for each collective marker op (``markers``: marker op name
    -> kind); returns the program and {op index: marker name}."""
    at: dict[int, str] = {}
    for op in prog.ops:
        if op.ir_op in markers and op.kind == "view":
            at[op.index] = op.ir_op
    missing = set(markers) - set(at.values())
    if missing:
        raise MappingError(f"internal: collective marker(s) {', '.join(sorted(missing))} not in the mapped program")
    pos = 0
    for op in prog.ops:  # tiles are contiguous per op, in op order (ops without tiles: any range)
        a, b = op.tiles
        if b == a:
            continue
        if a != pos or b < a:
            raise MappingError(f"internal: op {op.name} has tiles [{a}, {b}) out of program order")
        pos = b
    if pos != len(prog.tiles):
        raise MappingError("internal: the program's tiles are not covered by its ops")
    new_id: dict[int, int] = {}
    tiles: list[Tile] = []
    ops: list[MappedOp] = []
    for op in prog.ops:
        a, b = op.tiles
        first = len(tiles)
        for tid in range(a, b):
            new_id[tid] = len(tiles)
            tiles.append(prog.tiles[tid])
        if op.index in at:
            kind = markers[at[op.index]]
            tiles.append(Tile(id=-1, op=op.index, unit="link", compute_cycles=0, slot=0))
            ops.append(replace(op, kind=kind, unit="link", tiles=(first, len(tiles)), note=f"{kind.replace('_', '-')} "
                               f"over the tensor-parallel chips"))
        elif a == b:
            ops.append(op)
        else:
            ops.append(replace(op, tiles=(first, len(tiles))) if first != a else op)
    out_tiles: list[Tile] = []
    for i, t in enumerate(tiles):
        if t.id != i or any(new_id[d] != d for d in t.after):
            t = replace(t, id=i, after=tuple(new_id[d] for d in t.after))
        out_tiles.append(t)
    return replace(prog, ops=tuple(ops), tiles=tuple(out_tiles)), at


def _producer_ops(prog: Program, tensor: str) -> tuple[int, ...]:
    """Indices of the mapped ops that produce ``tensor`` (all pieces of its IR op)."""
    g = prog.graph
    p = g.producers().get(tensor) if g is not None else None
    if p is None:
        raise MappingError(f"internal: no op of the stage produces '{tensor}'")
    idx = tuple(op.index for op in prog.ops if op.ir_op == p.name)
    if not idx:
        raise MappingError(f"internal: op '{p.name}' (producing '{tensor}') is not in the mapped program")
    return idx


# ------------------------------------------------------------------------------------ simulation


@dataclass(frozen=True)
class SystemRaw:
    """What a multi-chip result keeps besides its JSON (``RunResult.system_raw``)."""

    plan: SystemPlan
    mapped: tuple[Program, ...]  # each stage's program as mapped (collectives as free views)
    programs: tuple[Program, ...]  # ... with the collectives' link tiles (what was simulated)
    output: Any  # accelsim.sim.system.SystemOutput


def simulate_system(arch: ArchSpec, graph: Graph, options: RunOptions | None = None, *, tp: int = 1, pp: int = 1,
                    microbatches: int = 1, baseline: bool = True, symmetric: bool | None = None) -> RunResult:
    """Simulate ``graph`` on ``tp`` x ``pp`` chips of ``arch``'s ``system`` (see the module
    docstring). ``graph`` is one micro-batch; ``microbatches`` of them flow through the pipeline.
    ``baseline``: also simulate the unsplit graph on one chip for ``system.speedup_vs_one_chip``
    and ``scaling_efficiency`` (``microbatches`` times its latency). ``symmetric`` (default: when
    it is exact) simulates one chip of the TP group and mirrors it: every chip runs the same
    program and, with one stage whose group is the whole ring or torus or any group of a fully
    connected system, sees the same collectives at the same times, so the others are copies
    (``tp`` times faster to simulate; ``system.symmetric`` says which was done; tested equal).
    With ``tp = pp = microbatches = 1`` the result is :func:`accelsim.api.simulate`'s plus a
    one-chip ``system``."""
    from accelsim import api

    opts = options or RunOptions()
    splan = plan_system(arch, graph, tp=tp, pp=pp, microbatches=microbatches)
    if tp == pp == microbatches == 1:
        result = api.simulate(arch, graph, opts)
        d = result.data
        total = d["total_cycles"]
        comp = d["timeline_cycles"].get("compute", 0)
        peak = arch.peak_macs_per_cycle
        d["system"] = {
            "chips": arch.system_spec.chips, "chips_used": 1, "tp": 1, "pp": 1, "microbatches": 1,
            "symmetric": False, "interconnect": splan.interconnect.to_dict(), "tp_plan": splan.plan.to_dict(),
            "stages": [], "collectives": [], "collective_summary": {}, "link_utilization": {},
            "per_chip": [{
                "chip": 0, "stage": 0, "tp_rank": 0, "busy_cycles": total, "utilization": 1.0 if total else 0.0,
                "compute_cycles": comp, "compute_utilization": _r(comp / total) if total else 0.0,
                "macs": d["macs"], "mac_utilization": _r(d["macs"] / (peak * total)) if total and peak else 0.0,
                "communication_cycles": 0, "dram_read_bytes": d["dram_read_bytes"],
                "dram_write_bytes": d["dram_write_bytes"],
            }],
            "communication_cycles": 0, "communication_fraction": 0.0,
            "pipeline_bubble": 0.0, "pipeline_bubble_formula": 0.0,
            "speedup_vs_one_chip": 1.0, "scaling_efficiency": 1.0,
        }
        return result
    if opts.mode == "scalesim":
        raise SpecError("--compat scalesim models one chip; it cannot be combined with --tp / --pp / --microbatches")
    from accelsim.mapping.mapper import map_graph
    from accelsim.sim.system import ChipPlan, CollectiveTile, Send, SystemSim

    mopts = opts.mapping.model_copy(update={"mode": opts.mode})
    acc = PRECISION_BYTES[arch.arrays[0].acc_precision]
    coll_of = {c.name: c for c in splan.plan.collectives}
    programs: list[Program] = []
    link_ops: list[dict[int, str]] = []
    mapped: list[Program] = []
    for st in splan.stages:  # every stage's estimate before any is mapped (accelsim.model.resources)
        api.check_resources(arch, st.graph, opts)
    for st in splan.stages:
        prog = map_graph(st.graph, arch, mopts)
        mapped.append(prog)
        markers = {op.name: str(op.attrs[COLLECTIVE_ATTR]) for op in st.graph.ops if COLLECTIVE_ATTR in op.attrs}
        prog, at = _with_link_tiles(prog, markers)
        programs.append(prog)
        link_ops.append(at)
    from accelsim.sim.link import symmetric_group

    exact = pp == 1 and symmetric_group(splan.interconnect, splan.stage_chips(0))
    if symmetric is None:
        symmetric = exact
    elif symmetric and not exact:
        raise SpecError("symmetric simulation needs one pipeline stage whose TP group is the whole ring or torus "
                        "(or a fully connected system)")
    plans: list[ChipPlan] = []
    for si, st in enumerate(splan.stages):
        chips = splan.stage_chips(si)
        prog = programs[si]
        colls = {}
        for idx, name in link_ops[si].items():
            c = coll_of[name]
            nbytes = c.elements * (acc if c.kind == "all_reduce" else PRECISION_BYTES[arch.arrays[0].precision])
            colls[idx] = CollectiveTile(name, c.kind, nbytes, tuple(chips))
        for r, chip in enumerate(chips[:1] if symmetric else chips):
            sends = tuple(
                Send(t, _producer_ops(prog, t), _tensor_bytes(arch, st.graph, t), splan.stage_chips(dst)[r])
                for t, dst in st.send
            )
            plans.append(ChipPlan(chip, si, r, prog, colls, sends, tuple(t for t, _ in st.recv)))
    out = SystemSim(arch, plans, splan.interconnect, microbatches, symmetric=symmetric).run()
    result = _build(arch, graph, opts, splan, programs, plans, out, tp if symmetric else 1)
    result.system_raw = SystemRaw(splan, tuple(mapped), tuple(programs), out)
    if baseline:
        _attach_baseline(result, arch, graph, opts, microbatches)
    return result


def _sum_counts(counts: Sequence[Any]) -> Any:
    from accelsim.energy.counts import ActionCounts

    tot = ActionCounts()
    for c in counts:
        for f in ("macs", "array_cycles", "sram_reads", "sram_writes", "vector_ops"):
            dst = getattr(tot, f)
            for k, v in getattr(c, f).items():
                dst[k] = dst.get(k, 0) + v
        for f in ("dram_read_bytes", "dram_write_bytes", "dma_transfers", "dma_bytes", "sequencer_commands",
                  "rom_read_bytes"):
            setattr(tot, f, getattr(tot, f) + getattr(c, f))
        tot.rom_bytes = max(tot.rom_bytes, c.rom_bytes)  # a capacity, not a count
    for f in ("macs", "array_cycles", "sram_reads", "sram_writes", "vector_ops"):
        setattr(tot, f, dict(sorted(getattr(tot, f).items())))
    return tot


def _union(intervals: Sequence[tuple[int, int]]) -> int:
    tot, end = 0, -1
    for a, b in sorted(intervals):
        if b <= end:
            continue
        tot += b - max(a, end)
        end = b
    return tot


def _build(arch: ArchSpec, graph: Graph, opts: RunOptions, splan: SystemPlan, programs: list[Program],
           plans: list[Any], out: Any, replicas: int = 1) -> RunResult:
    """The RunResult of a system run; ``replicas`` > 1: each simulated chip stands for that many
    identical chips (symmetric mode)."""
    from accelsim.api import action_counts
    from accelsim.results import build_result

    total = out.total_cycles
    clock = arch.clock_hz
    odict = {**opts.to_dict(), "parallel": {"tp": splan.tp, "pp": splan.pp, "microbatches": splan.microbatches}}
    # stage results: TP rank 0, micro-batch 0, denominators over the system's latency
    from accelsim.sim.stats import timeline_breakdown

    stage_results: list[RunResult] = []
    for si in range(len(splan.stages)):
        mb0 = out.runs[splan.stage_chips(si)[0]][0]
        sim = replace(mb0.output, total_cycles=total)
        sim.timeline = timeline_breakdown(mb0.run.stats, total)
        stage_results.append(build_result(programs[si], sim, arch, graph, odict))
    result = stage_results[0]
    d = result.data
    if len(stage_results) > 1:
        d["ops"] = [o for r in stage_results for o in r.data["ops"]]
    per_chip = []
    all_counts = []
    macs_total = 0
    dram_r = dram_w = tiles = 0
    peak = arch.peak_macs_per_cycle
    for p in plans:
        runs = out.runs[p.chip]
        counts = []
        active = compute = comm = macs = cr = cw = 0
        for r in runs:
            res = RunResult(data={}, program=p.program, sim=r.output, graph=graph, arch=arch)
            c = action_counts(res)
            counts.append(c)
            active += r.end - r.start
            compute += r.output.timeline.get("compute", 0)
            comm += _union(r.link_intervals)
            macs += sum(a.macs for a in r.output.arrays)
            cr += r.output.dram.read_bytes
            cw += r.output.dram.write_bytes
            tiles += len(p.program.tiles)
        all_counts.extend(counts * replicas)
        macs_total += macs * replicas
        dram_r += cr * replicas
        dram_w += cw * replicas
        for k in range(replicas):
            per_chip.append({
                "chip": p.chip + k, "stage": p.stage, "tp_rank": p.rank + k,
                "busy_cycles": active, "utilization": _r(active / total) if total else 0.0,
                "compute_cycles": compute, "compute_utilization": _r(compute / total) if total else 0.0,
                "macs": macs, "mac_utilization": _r(macs / (peak * total)) if total and peak else 0.0,
                "communication_cycles": comm, "dram_read_bytes": cr, "dram_write_bytes": cw,
            })
    tiles *= replicas
    d["total_cycles"] = total
    d["latency_s"] = total / clock
    d["macs"] = macs_total
    d["dram_read_bytes"] = dram_r
    d["dram_write_bytes"] = dram_w
    d["events"] = out.events
    d["tiles"] = tiles
    used = len(plans) * replicas
    d["array_utilization"]["mac_utilization"] = _r(macs_total / (peak * total * used)) if total and peak else 0.0
    # collectives and sends, with their formulas
    ic = splan.interconnect
    colls = []
    summary: dict[str, dict[str, Any]] = {}
    for rec, stage, mb in out.collectives + out.sends:
        f = collective_s(rec.kind, rec.nbytes, list(rec.group), ic) if rec.kind != "p2p" else \
            p2p_s(rec.nbytes, ic.channel_bandwidth, ic.latency_s, 1)
        colls.append({
            "kind": rec.kind, "name": rec.name, "bytes": rec.nbytes, "chips": list(rec.group),
            "algorithm": rec.algorithm, "stage": stage, "microbatch": mb, "start_cycle": rec.start,
            "cycles": rec.cycles, "formula_cycles": _r(f * clock), "skew_cycles": rec.skew_cycles,
        })
        s = summary.setdefault(rec.kind, {"count": 0, "bytes": 0, "cycles": 0})
        s["count"] += 1
        s["bytes"] += rec.nbytes
        s["cycles"] += rec.cycles
    colls.sort(key=lambda c: (c["start_cycle"], c["stage"], c["name"], c["chips"]))
    links = {}
    for (a, b), st in sorted(out.network.stats.items()):
        if replicas > 1 and not st.transfers:
            continue  # symmetric: one chip's channels were simulated, the others carry the same
        links[f"{a}->{b}"] = {"busy_cycles": st.busy_cycles, "bytes": st.bytes, "transfers": st.transfers,
                              "utilization": _r(st.busy_cycles / total) if total else 0.0}
    active_sum = sum(c["busy_cycles"] for c in per_chip)
    comm_max = max((c["communication_cycles"] for c in per_chip), default=0)
    d["system"] = {
        "chips": arch.system_spec.chips,
        "chips_used": used,
        "tp": splan.tp,
        "pp": splan.pp,
        "microbatches": splan.microbatches,
        "symmetric": replicas > 1,
        "interconnect": ic.to_dict(),
        "tp_plan": splan.plan.to_dict(),
        "stages": [
            {"stage": st.index, "layers": list(st.layers), "chips": splan.stage_chips(st.index),
             "ops": len(st.graph.ops), "balance_cost_cycles": _r(st.cost),
             "recv": [{"tensor": t, "from_stage": s} for t, s in st.recv],
             "send": [{"tensor": t, "to_stage": s} for t, s in st.send]}
            for st in splan.stages
        ],
        "collectives": colls,
        "collective_summary": dict(sorted(summary.items())),
        "link_utilization": links,
        "per_chip": per_chip,
        "communication_cycles": comm_max,
        "communication_fraction": _r(comm_max / total) if total else 0.0,
        "pipeline_bubble": _r(1 - active_sum / (used * total)) if total else 0.0,
        "pipeline_bubble_formula": _r(pipeline_bubble(splan.pp, splan.microbatches)),
    }
    if opts.energy:
        _energy(result, arch, all_counts, used)
    if opts.gpu:
        _gpu(result, arch, splan, opts)
    from accelsim.api import attach_layers

    attach_layers(result)
    return result


def _energy(result: RunResult, arch: ArchSpec, counts: Sequence[Any], used: int) -> None:
    from accelsim.energy.model import estimate_area, estimate_energy

    d = result.data
    tot = _sum_counts(counts)
    lat = d["latency_s"]
    # static power of every used chip over the system's latency: price `used` chip-latencies
    e = estimate_energy(arch, tot, lat * used)
    a = estimate_area(arch, tot)
    meta = result.graph.meta if result.graph is not None else {}
    batch = int(meta.get("batch", 1) or 1) * int(d["system"]["microbatches"])
    tokens = (int(meta.get("tokens", 0) or 0) or int(meta.get("batch", 1) or 1) * int(meta.get("seq", 0) or 0)) \
        * int(d["system"]["microbatches"])
    d["energy_j"] = e.total_j
    d["power_w"] = e.total_j / lat if lat > 0 else 0.0
    d["area_mm2"] = a.total_mm2
    d["energy"] = {
        **e.to_dict(),
        "power_w": d["power_w"],
        "per_inference_j": e.per_inference_j(batch),
        "per_token_j": e.per_token_j(tokens) if tokens else None,
        "chips": used,
    }
    d["area"] = {**a.to_dict(), "chips": used, "system_mm2": a.total_mm2 * used}
    d["action_counts"] = tot.to_dict()


def simulate_gpu_split(arch: ArchSpec, splan: SystemPlan, profile: str, launch: str = "eager") -> Any:
    """The split ``splan`` on ``tp x pp`` GPUs of ``profile`` over its NVLink (at the GPU precision
    matching ``arch``'s arrays): a :class:`accelsim.gpu.model.GpuSystemResult`."""
    from accelsim.gpu.model import simulate_gpu_system
    from accelsim.gpu.profile import gpu_precision, load_profile

    prof = load_profile(profile)
    prec = gpu_precision(arch.arrays[0].precision)
    if prec not in prof.precisions:
        prec = "fp16" if "fp16" in prof.precisions else "fp32"
    colls = {c.name: (c.kind, c.elements) for c in splan.plan.collectives}
    return simulate_gpu_system([st.graph for st in splan.stages], prof, prec, tp=splan.tp,
                               microbatches=splan.microbatches, collectives=colls,
                               sends=[[(st.graph.tensors[t].numel, dst) for t, dst in st.send] for st in splan.stages],
                               launch=launch)


def _gpu(result: RunResult, arch: ArchSpec, splan: SystemPlan, opts: RunOptions) -> None:
    assert opts.gpu is not None
    g = simulate_gpu_split(arch, splan, opts.gpu, opts.gpu_launch)
    result.gpu_result = g.result
    d = result.data
    gd = g.result.to_dict()
    gd["power_w"] = g.result.energy_j / g.result.latency_s if g.result.latency_s else 0.0
    gd["top_ops"] = [
        {"name": o.op, "kind": o.kind, "module": o.module, "time_s": o.time_s, "bound": o.bound}
        for o in g.result.top_ops(5)
    ]
    gd["system"] = g.to_dict()
    d["gpu"] = gd
    d["speedup_vs_gpu"] = g.result.latency_s / d["latency_s"] if d["latency_s"] else None
    if d.get("energy_j"):
        d["energy_ratio_vs_gpu"] = g.result.energy_j / d["energy_j"]
        d["perf_per_watt_vs_gpu"] = d["speedup_vs_gpu"] * (gd["power_w"] / d["power_w"]) if d["power_w"] else None


def _attach_baseline(result: RunResult, arch: ArchSpec, graph: Graph, opts: RunOptions, microbatches: int) -> None:
    """The unsplit graph on one chip: ``speedup_vs_one_chip`` and ``scaling_efficiency``."""
    from accelsim import api

    one = api.simulate(arch, graph, replace(opts, gpu=None, energy=False, rom_compare=False, enforce=False))
    d = result.data
    s = d["system"]
    base = one.data["total_cycles"] * microbatches
    s["one_chip"] = {"total_cycles": base, "latency_s": base / arch.clock_hz,
                     "note": f"the unsplit graph on one chip, {microbatches} micro-batch(es) back to back"}
    s["speedup_vs_one_chip"] = _r(base / d["total_cycles"]) if d["total_cycles"] else None
    s["scaling_efficiency"] = _r(base / d["total_cycles"] / s["chips_used"]) if d["total_cycles"] else None


# ------------------------------------------------------------------------------------ --check


#: relative tolerance of the combined replay against the unsplit model (both fp32; they differ
#: only in the order partial sums are added: K 2^-24-sized reassociation errors, compounded over
#: layers, stay orders of magnitude below it, while a wrong split is off by O(1))
COMBINED_RTOL = 1e-3


def _combine(cut: Any, parts: Sequence[Any]) -> Any:
    """The full tensor from every rank's part (the inverse of :meth:`Cut.take`)."""
    import torch

    shape = list(parts[0].shape)
    shape[cut.dim] = sum(cut.sections)
    full = torch.zeros(shape, dtype=parts[0].dtype)
    for r, part in enumerate(parts):
        off = 0
        for a, b in cut.ranges(r):
            full.narrow(cut.dim, a, b - a).copy_(part.narrow(cut.dim, off, b - a))
            off += b - a
    return full


def _rank_values(traced: Any, plan: TpPlan, rank: int) -> dict[str, Any]:
    """Weights, constants and inputs of rank ``rank``'s graph, cut from the traced model's."""
    full = {**traced.params, **traced.inputs}
    out = {}
    for n, info in plan.graph.tensors.items():
        if info.kind == "activation":
            continue
        c = plan.cuts.get(n)
        src = c.source if c is not None else n
        if src not in full:
            continue
        out[n] = c.take(full[src], rank) if c is not None else full[src]
    return out


def _combined_replay(traced: Any, plan: TpPlan) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every rank's graph executed in fp32 side by side, the collectives done for real
    (all-reduce: the sum of the ranks' partial sums, in fp32 (the accumulators' precision of
    bf16/fp16 arrays); all-gather: the ranks' slices put together). Returns each rank's tensor
    values and the combined graph outputs (sharded outputs put back together)."""
    import torch

    from accelsim.workload.replay import run_op

    g = plan.graph
    envs = [_rank_values(traced, plan, r) for r in range(plan.tp)]
    with torch.no_grad():
        for op in g.ops:
            coll = op.attrs.get(COLLECTIVE_ATTR)
            if coll == "all_reduce":
                tot = envs[0][op.inputs[0]].to(torch.float32).clone()
                for e in envs[1:]:
                    tot += e[op.inputs[0]].to(torch.float32)
                tot = tot.to(envs[0][op.inputs[0]].dtype)
                for e in envs:
                    e[op.outputs[0]] = tot
                continue
            for e in envs:
                outs = run_op(op, [e[i] for i in op.inputs])
                for name, v in zip(op.outputs, outs):
                    e[name] = v
    combined = {}
    for o in g.outputs:
        cut = plan.output_cuts.get(o) or plan.gather_cuts.get(o)
        combined[o] = _combine(cut, [e[o] for e in envs]) if cut is not None else envs[0][o]
    return envs, combined


def _compare(name: str, got: Any, ref: Any) -> dict[str, Any]:
    import torch

    if got.shape != ref.shape:
        return {"tensor": name, "op": "<combined>", "module": "", "max_abs_err": math.inf, "max_rel_err": math.inf,
                "bound": None, "passed": False, "note": f"shape {list(got.shape)} != {list(ref.shape)}"}
    if not (got.dtype.is_floating_point or ref.dtype.is_floating_point):
        ok = bool(torch.equal(got, ref))
        return {"tensor": name, "op": "<combined>", "module": "", "max_abs_err": 0.0 if ok else math.inf,
                "max_rel_err": 0.0 if ok else math.inf, "bound": 0.0, "passed": ok,
                "note": "all chips combined vs the unsplit model: exact"}
    a, b = got.double(), ref.double()
    err = float((a - b).abs().max()) if a.numel() else 0.0
    scale = float(b.abs().max()) if b.numel() else 0.0
    bound = COMBINED_RTOL * scale
    return {"tensor": name, "op": "<combined>", "module": "", "max_abs_err": err,
            "max_rel_err": err / scale if scale else err, "bound": bound, "passed": err <= bound,
            "note": f"all chips combined vs the unsplit model, fp32 replays (bound {COMBINED_RTOL:g} x max |ref|)"}


def check_system(result: RunResult, traced: Any, level: str = "outputs") -> dict[str, Any]:
    """``--check`` on a multi-chip run; adds ``check`` to the result and returns it.

    Two parts (docs/multichip.md): (1) every chip's mapped program is emulated tile by tile at
    the architecture's precision against its own graph (:func:`accelsim.numerics.check.run_check`
    on each stage's program with that chip's weight slices; the collectives are free views
    there, so each chip checks every op it maps); (2) the ranks' graphs are replayed side by side
    in fp32 with the collectives done for real (the all-reduce sums the partial sums at fp32, the
    accumulators' precision of float arrays), and the combined outputs must equal the unsplit
    model's replay within :data:`COMBINED_RTOL` of their largest magnitude: the split computes
    the model. ``passed`` needs both."""
    import dataclasses

    import torch

    from accelsim.numerics.check import run_check
    from accelsim.workload.replay import run_graph

    raw = result.system_raw
    assert raw is not None and result.arch is not None
    plan: TpPlan = raw.plan.plan
    envs, combined = _combined_replay(traced, plan)
    with torch.no_grad():
        ref = run_graph(traced.graph, {**traced.params, **traced.inputs})
    rows = [_compare(o, combined[o], ref[o]) for o in traced.graph.outputs]
    chips = []
    first = None
    scheme = ""
    for si, st in enumerate(raw.plan.stages):
        prog = raw.mapped[si]
        for r, chip in enumerate(raw.plan.stage_chips(si)):
            vals = envs[r]
            params = {n: vals[n] for n, t in st.graph.tensors.items() if t.kind in ("weight", "const") and n in vals}
            inputs = {n: vals[n] for n in st.graph.inputs}
            tr = dataclasses.replace(traced, graph=st.graph, params=params, inputs=inputs, eager_outputs=None)
            rep = run_check(tr, prog, result.arch, level)
            scheme = rep.scheme
            ff = rep.first_failure.to_dict() if rep.first_failure is not None else None
            if ff is not None and first is None:
                first = {**ff, "chip": chip}
            chips.append({"chip": chip, "stage": si, "tp_rank": r, "passed": rep.passed, "pieces": len(rep.tensors),
                          "first_failure": ff})
    comb_ok = all(x["passed"] for x in rows)
    if first is None and not comb_ok:
        first = next(x for x in rows if not x["passed"])
    out = {
        "passed": comb_ok and all(c["passed"] for c in chips),
        "scheme": scheme,
        "level": level,
        "tensors": rows,
        "first_failure": first,
        "vs_fp32": None,
        "vs_model": None,
        "system": {
            "chips": chips,
            "combined": {"passed": comb_ok, "rtol": COMBINED_RTOL, "outputs": len(rows)},
            "approach": "each chip's program emulated against its own graph (its weight slices); the ranks' "
                        "graphs replayed together in fp32 with real collectives vs the unsplit model",
        },
    }
    result.data["check"] = out
    return out


# ------------------------------------------------------------------------------------ terminal


def print_system(result: RunResult, console: Any) -> None:
    """The ``system`` block of a multi-chip run as a few lines and a per-chip table (read
    through result.json's typed description, :meth:`RunResult.typed`)."""
    from rich.table import Table

    d = result.typed()
    s = d.system
    assert s is not None, "not a multi-chip result"
    ic = s.interconnect
    dims = f" {ic.dims[0]}x{ic.dims[1]}" if ic.dims else ""
    console.print(
        f"[bold]System[/bold]: {s.chips_used} of {s.chips} chips, TP {s.tp} x PP {s.pp}, "
        f"{s.microbatches} micro-batch(es); {ic.topology}{dims}, {ic.links_per_chip} links x "
        f"{ic.link_bandwidth_gbps:g} GB/s per chip ({ic.channel_bandwidth_gbps:g} GB/s per neighbour "
        f"and direction), {ic.latency_ns:g} ns per hop"
    )
    lat = d.latency_s
    line = f"  latency {lat * 1e3:.4g} ms"
    if s.one_chip is not None and s.speedup_vs_one_chip is not None and s.scaling_efficiency is not None:
        line += (f"; one chip {s.one_chip.latency_s * 1e3:.4g} ms: speedup {s.speedup_vs_one_chip:.3g}x, "
                 f"scaling efficiency {100 * s.scaling_efficiency:.3g} %")
    console.print(line)
    console.print(f"  communication {s.communication_cycles:,} cycles ({100 * s.communication_fraction:.3g} % "
                  f"of the run, the busiest chip); pipeline bubble {100 * s.pipeline_bubble:.3g} % "
                  f"(GPipe formula {100 * s.pipeline_bubble_formula:.3g} %)")
    parts = [f"{k.replace('_', '-')} x{v.count} ({v.bytes:,} B, {v.cycles:,} cycles)"
             for k, v in s.collective_summary.items()]
    if parts:
        console.print("  collectives: " + "; ".join(parts))
    g = d.gpu.system if d.gpu is not None else None
    if g is not None and d.gpu is not None:
        console.print(f"  GPU: {g.gpus} x {d.gpu.profile} (TP {g.tp} x PP {g.pp}, {g.algorithm}, "
                      f"{g.bandwidth_per_direction_gbps:g} GB/s, {g.latency_us:g} us per hop): "
                      f"{d.gpu.latency_s * 1e3:.4g} ms, collectives {g.collective_s * 1e6:.4g} us per "
                      "micro-batch")
    t = Table(title="per chip", show_edge=False)
    for c in ("chip", "stage", "tp rank", "busy", "compute", "comm cycles", "MACs", "DRAM read"):
        t.add_column(c, justify="right")
    for pc in s.per_chip:
        t.add_row(str(pc.chip), str(pc.stage), str(pc.tp_rank), f"{100 * pc.utilization:.3g} %",
                  f"{100 * pc.compute_utilization:.3g} %", f"{pc.communication_cycles:,}", f"{pc.macs:,}",
                  f"{pc.dram_read_bytes:,}")
    console.print(t)
