"""Readable terminal tables (rich) for a RunResult: every number with its unit, one spelling
("utilization"), DRAM channels as one row, an op's scheduled pieces as one row."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.markup import (
    escape as _e,  # names from workloads and files are text, never markup
)
from rich.table import Table

from accelsim.result_schema import (
    GpuInferenceError,
    GpuInferenceSummary,
    InferenceSummary,
    ResultModel,
    UnitStats,
)
from accelsim.results import RunResult


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return str(n)


def fmt_time(s: float) -> str:
    if s >= 1:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3f} ms"
    return f"{s * 1e6:.2f} us"


def fmt_cycles(n: float) -> str:
    return f"{int(n):,}"


def _units_rows(units: Mapping[str, UnitStats]) -> list[tuple[str, str, str, str]]:
    """(unit, kind, busy cycles, utilization) rows; DRAM channels collapse to one row with the
    channels' mean and their min/max."""
    rows: list[tuple[str, str, str, str]] = []
    chans = [(n, v) for n, v in units.items() if v.kind == "dram_channel"]
    done_dram = False
    for name, v in units.items():
        if v.kind == "dram_channel":
            if done_dram:
                continue
            done_dram = True
            busy = [c.busy_cycles for _, c in chans]
            util = [c.utilization for _, c in chans]
            if len(chans) == 1:
                rows.append((name, "dram_channel", fmt_cycles(busy[0]), f"{util[0]:.1%}"))
                continue
            rows.append((
                f"dram ({len(chans)} channels)", "dram_channel",
                f"mean {fmt_cycles(sum(busy) / len(busy))} (min {fmt_cycles(min(busy))}, max {fmt_cycles(max(busy))})",
                f"mean {sum(util) / len(util):.1%} (min {min(util):.1%}, max {max(util):.1%})",
            ))
            continue
        rows.append((name, v.kind, fmt_cycles(v.busy_cycles), f"{v.utilization:.1%}"))
    return rows


def print_run(result: RunResult, console: Any, *, n_ops: int = 12, quiet: bool = False,
              written: list[Path] | None = None, n_layers: int = 16) -> None:
    """The terminal report of a run, read through result.json's typed description
    (:meth:`RunResult.typed`)."""
    d = result.typed()
    headline = (
        f"[bold]{_e(d.workload)}[/] on [bold]{_e(d.arch)}[/]: "
        f"{d.total_cycles:,} cycles = {fmt_time(d.latency_s)} @ {d.clock_ghz:g} GHz"
    )
    console.print(headline)
    inf = d.inference
    if inf:
        console.print(_inference_line(inf))
    if quiet:
        return
    if inf:
        print_inference(d, console)
    s = Table(title="Summary", show_header=False, title_justify="left")
    s.add_column(style="dim")
    s.add_column(justify="right")
    au = d.array_utilization
    rows = [
        ("mode", d.options.mode),
        ("MACs", f"{d.macs:,}"),
        ("array MAC utilization", f"{au.mac_utilization:.1%}"),
        ("array utilization (SCALE-Sim compute)", f"{au.scalesim_compute_utilization:.1%}"),
        ("DRAM read / write", f"{fmt_bytes(d.dram_read_bytes)} / {fmt_bytes(d.dram_write_bytes)}"),
        ("DMA stall (cycles)", f"{d.dma_stall_cycles:,}"),
        ("bank-conflict stall (cycles)", f"{d.bank_conflict_stall_cycles:,}"),
        ("SRAM-bandwidth stall (cycles)", f"{d.sram_bandwidth_stall_cycles:,}"),
    ]
    tl = d.timeline_cycles
    rows.append(("timeline: compute / sram / memory / idle (cycles)",
                 " / ".join(f"{c:,}" for c in (tl.compute, tl.sram_stall, tl.memory_stall, tl.control_idle))))
    rows.append(("simulated events / tiles", f"{d.events:,} / {d.tiles:,}"))
    for r in rows:
        s.add_row(*r)
    for extra in result.data.get("_summary_rows", []):  # rows a caller added to the dict, if any
        s.add_row(*extra)
    console.print(s)

    u = Table(title="Units", title_justify="left")
    for c in ("unit", "kind", "busy (cycles)", "utilization"):
        u.add_column(c, justify="right" if c in ("busy (cycles)", "utilization") else "left")
    for row in _units_rows(d.units):
        u.add_row(*row)
    console.print(u)

    print_layers(d, console, n_layers)

    from accelsim.report.layers import top_ops

    allops = top_ops(result.data["ops"], 0)  # the aggregation reads op rows as dicts (ops.csv's columns)
    shown = allops if n_ops <= 0 else allops[:n_ops]
    t = Table(title=f"Ops ({len(shown)} of {len(allops)} by cycles; an op's pieces, e.g. attention "
                    "per head group, as one row)", title_justify="left")
    for c in ("op", "module", "unit", "pieces", "start (cycle)", "end (cycle)", "cycles", "MACs", "DRAM",
              "utilization", "predicted (cycles)"):
        t.add_column(c, justify="left" if c in ("op", "module", "unit") else "right", overflow="fold")
    # the cost model's cycles for an IR op of one piece (the mapping itself: ops.csv, `accelsim explain`)
    piece = {o.ir_op or o.name: o for o in d.ops}
    for o in shown:
        p = piece.get(o["name"]) if o["pieces"] == 1 else None
        pc = p.predicted_cycles if p is not None else None
        t.add_row(_e(o["name"]), _e(o["module"] or "<top>"), o["unit"], str(o["pieces"]), f"{o['start_cycle']:,}",
                  f"{o['end_cycle']:,}", f"{o['cycles']:,}", f"{o['macs']:,}", fmt_bytes(o["dram_bytes"]),
                  f"{o['utilization']:.0%}", f"{pc:,}" if isinstance(pc, int) else "")
    console.print(t)
    print_energy_gpu(d, console, result.data["ops"])
    print_residual(d, console)
    print_check(d, console)
    for path in written or []:
        console.print(f"wrote {_e(str(path))}")


def print_layers(d: ResultModel, console: Any, n: int = 16) -> None:
    """The per-layer rollup (``layers``), the ``n`` layers with the most cycles (0: all)."""
    layers = d.layers
    if not layers:
        return
    rows = sorted(layers, key=lambda r: (-r.cycles, r.layer))
    shown = rows if n <= 0 else rows[:n]
    has_e = any(r.energy_j is not None for r in layers)
    has_g = any(r.gpu_time_s is not None for r in layers)
    g_total = sum(r.gpu_time_s or 0.0 for r in layers) if has_g else 0.0
    t = Table(title=f"Layers ({len(shown)} of {len(layers)} by cycles; all in layers.csv with --out)",
              title_justify="left")
    cols = ["layer", "ops", "cycles", "share", "MACs", "MAC utilization", "DRAM"]
    if has_e:
        cols.append("energy")
    if has_g:
        cols += ["GPU time", "GPU share"]
    for c in cols:
        t.add_column(c, justify="left" if c == "layer" else "right")
    for r in shown:
        cells = [_e(r.layer), str(r.ops), f"{r.cycles:,}", f"{r.share:.1%}", f"{r.macs:,}",
                 f"{r.mac_utilization:.1%}", fmt_bytes(r.dram_bytes)]
        if has_e:
            cells.append(fmt_energy(r.energy_j) if r.energy_j is not None else "")
        if has_g:
            gt = r.gpu_time_s
            cells += [fmt_time(gt) if gt is not None else "",
                      f"{gt / g_total:.1%}" if gt is not None and g_total else ""]
        t.add_row(*cells)
    console.print(t)


def fmt_energy(j: float) -> str:
    if j >= 1:
        return f"{j:.3f} J"
    if j >= 1e-3:
        return f"{j * 1e3:.3f} mJ"
    return f"{j * 1e6:.3f} uJ"


def _ratio(x: float | None, good: str, bad: str) -> str:
    if not x:
        return ""
    return f"{x:.2f}x {good}" if x >= 1 else f"{1 / x:.2f}x {bad}"


def print_energy_gpu(d: ResultModel, console: Any, ops: Sequence[Mapping[str, Any]]) -> None:
    """Energy and area by component, then the ASIC-vs-GPU comparison and the ops that dominate
    each (``ops``: the op rows as dicts, for :func:`accelsim.report.layers.top_ops`)."""
    e = d.energy
    if e is not None:
        t = Table(title=f"Energy ({e.technology}) and area", title_justify="left")
        t.add_column("component")
        t.add_column("energy", justify="right")
        t.add_column("share", justify="right")
        t.add_column("area", justify="right")
        total = d.energy_j or 1.0
        area = d.area.breakdown_mm2 if d.area is not None else {}
        for k, v in e.breakdown_j.items():
            a = area.get(k)
            t.add_row(k, fmt_energy(v), f"{v / total:.1%}", f"{a:.2f} mm²" if a is not None else "")
        t.add_row("[bold]total[/]", f"[bold]{fmt_energy(_num(d.energy_j))}[/]", "100%",
                  f"[bold]{_num(d.area_mm2):.2f} mm²[/]")
        console.print(t)
        extra = f"average power {_num(d.power_w):.2f} W, {e.pj_per_mac:.3f} pJ/MAC, " \
                f"{fmt_energy(e.per_inference_j)} per inference"
        if e.per_token_j:
            extra += f", {fmt_energy(e.per_token_j)} per token"
        console.print(extra)
    g = d.gpu
    if g:
        t = Table(title=f"ASIC vs GPU ({_e(g.profile)}, {g.precision})", title_justify="left")
        for c in ("", "ASIC", "GPU", "ASIC advantage"):
            t.add_column(c, justify="right" if c else "left")
        sp = d.speedup_vs_gpu
        t.add_row("latency", fmt_time(d.latency_s), fmt_time(g.latency_s), _ratio(sp, "faster", "slower"))
        # GPU latency = kernels + exposed launch + framework overhead
        t.add_row(f"  GPU kernels / launch / framework ({g.launch_mode})", "",
                  f"{fmt_time(g.kernel_s)} / {fmt_time(g.launch_s)} / {fmt_time(g.framework_s)}", "")
        if d.energy_j is not None:
            er = d.energy_ratio_vs_gpu
            t.add_row("energy", fmt_energy(d.energy_j), fmt_energy(g.energy_j), _ratio(er, "less", "more"))
            t.add_row("average power", f"{_num(d.power_w):.2f} W", f"{g.power_w:.1f} W", "")
            ppw = d.perf_per_watt_vs_gpu
            if ppw:
                t.add_row("perf/W", "", "", _ratio(ppw, "better", "worse"))
        console.print(t)
        from accelsim.report.layers import top_ops

        agg = top_ops(ops, 0)
        op_total = max(1, sum(o["cycles"] for o in agg))
        asic_top = agg[:5]
        t2 = Table(title="Ops that dominate each (share: of the ASIC's op cycles / of the GPU's time)",
                   title_justify="left")
        t2.add_column("ASIC op (module)")
        t2.add_column("share", justify="right")
        t2.add_column("GPU kernel (module)")
        t2.add_column("share", justify="right")
        t2.add_column("bound")
        gtop = g.top_ops
        for i in range(max(len(asic_top), len(gtop))):
            ao = asic_top[i] if i < len(asic_top) else None
            go = gtop[i] if i < len(gtop) else None
            t2.add_row(
                _e(f"{ao['name']} ({ao['module'] or '<top>'})") if ao else "",
                f"{ao['cycles'] / op_total:.1%}" if ao else "",
                _e(f"{go.name} ({go.module or '<top>'})") if go else "",
                f"{go.time_s / g.latency_s:.1%}" if go and g.latency_s else "",
                go.bound if go else "",
            )
        console.print(t2)


def _num(x: float | None) -> float:
    """A value the schema makes optional but that is present here (the energy keys come together)."""
    assert x is not None
    return x


def print_residual(d: ResultModel, console: Any) -> None:
    if d.access_matrix is not None:
        parts = sorted({p for row in d.access_matrix.values() for p in row})
        t = Table(title=f"Residual access matrix (bytes read / written; {d.policy_checks or 0:,} tile checks)",
                  title_justify="left")
        t.add_column("role")
        for p in parts:
            t.add_column(_e(p), justify="right")
        for role, row in d.access_matrix.items():
            t.add_row(_e(role), *[
                f"{fmt_bytes(row[p].read)} / {fmt_bytes(row[p].write)}" if p in row else "-"
                for p in parts
            ])
        console.print(t)
        v = d.policy_violations or []
        if v:
            console.print(f"[bold red]{len(v)} access-policy violation(s):[/]")
            for x in v:
                console.print(_e(f"  {x.access} of '{x.partition}' by {x.module} "
                                 f"(op {x.op}, rule '{x.rule}')"))
        else:
            console.print("access policy: no violations")
    rc = d.rom_comparison
    if rc:
        w, o = rc.with_rom, rc.without_rom
        t = Table(title="Hard-wired modules in ROM: cost and benefit", title_justify="left")
        for c in ("", "with ROM", "without ROM"):
            t.add_column(c, justify="right" if c else "left")
        t.add_row("latency", fmt_time(w.latency_s), fmt_time(o.latency_s))
        t.add_row("energy", fmt_energy(w.energy_j), fmt_energy(o.energy_j))
        t.add_row("area", f"{w.area_mm2:.2f} mm²", f"{o.area_mm2:.2f} mm²")
        t.add_row("DRAM read", fmt_bytes(w.dram_read_bytes), fmt_bytes(o.dram_read_bytes))
        console.print(t)


def print_check(d: ResultModel, console: Any) -> None:
    c = d.check
    if not c:
        return
    tensors = c.tensors
    failed = [t for t in tensors if not t.passed]
    shown = failed[:10] if failed else tensors[:10]
    t = Table(title=f"Functional check ({c.scheme}, {c.level}): "
                    f"{'PASSED' if c.passed else 'FAILED'}", title_justify="left")
    for col in ("tensor", "op", "module", "max abs err", "max rel err", "bound", "ok"):
        t.add_column(col, justify="right" if col.startswith(("max", "bound")) else "left")
    for x in shown:
        b = x.bound
        t.add_row(_e(x.tensor), _e(x.op), _e(x.module or "<top>"), f"{x.max_abs_err:.3g}",
                  f"{x.max_rel_err:.3g}", "exact" if b == 0 else (f"{b:.3g}" if b is not None else ""),
                  "yes" if x.passed else "[bold red]NO[/]")
    console.print(t)
    if len(tensors) > len(shown):
        console.print(f"({len(tensors) - len(shown)} more tensors checked)")
    v = c.vs_fp32
    if v:
        console.print("vs the fp32 model: " + ", ".join(f"{k} {val:.4g}" if isinstance(val, float) else f"{k} {val}"
                                                       for k, val in v.items() if not isinstance(val, (dict, list))))


def print_explain(d: dict[str, Any], console: Any) -> None:
    """``accelsim explain``: per op, what the mapping chose and why (the data of
    :func:`accelsim.mapping.explain.explain`)."""
    for o in d["ops"]:
        head = (f"[bold]{_e(o['name'])}[/] ({_e(o['kind'])}, module '{_e(o['module'] or '<top>')}') on "
                f"[bold]{_e(d['arch'])}[/]: {_e(o.get('mapping') or o.get('note') or 'free')}")
        console.print(head)
        if o.get("residency"):
            console.print(f"  residency: {_e(o['residency'])}")
        typ = o.get("type")
        if typ == "gemm":
            g = o["gemm"]
            if o.get("space") is not None:
                console.print(f"  GEMM {g['batch']}x{g['M']}x{g['N']}x{g['K']} (batch x M x N x K); objective "
                              f"{o['objective']}: {o['space']:,} candidates, {o['feasible']:,} fit the SRAM, "
                              f"{o['evaluated']:,} costed")
            if o["candidates"]:
                t = Table(title_justify="left", title=f"best {len(o['candidates'])} by the cost model (winner first)")
                for c in ("", "mapping", "cycles", "DRAM", "energy", "tiles", "bound", "SRAM use", "simulated"):
                    t.add_column(c, justify="left" if c in ("", "mapping", "bound", "SRAM use") else "right",
                                 overflow="fold")
                for c in o["candidates"]:
                    sl = c.get("sram_limit")
                    use = f"{_e(sl['partition'])} {sl['fraction']:.0%}" if sl else ""
                    sim = c.get("simulated_cycles")
                    t.add_row("*" if c["winner"] else "", _e(c["mapping"]), f"{c['cycles']:,}",
                              fmt_bytes(c["dram_bytes"]), fmt_energy(c["energy_pj"] * 1e-12), f"{c['tiles']:,}",
                              _e(c["bound"]), use, f"{sim:,}" if isinstance(sim, int) else "")
                console.print(t)
                console.print(f"  binds: {_e(o['candidates'][0]['limit'])}")
            if o.get("simulated"):
                sims = sorted(o["simulated"], key=lambda s: (s["simulated_cycles"], s["mapping"]))
                console.print(f"  checked in SimPy ({len(sims)} candidates; the fastest "
                              f"{min(3, len(sims))}, simulated cycles vs estimated): " + "; ".join(
                                  f"{_e(s['mapping'])}: {s['simulated_cycles']:,} vs {s['estimated_cycles']:,}"
                                  for s in sims[:3]))
        elif typ == "attention":
            console.print(f"  fused attention on {_e(', '.join(o.get('arrays') or []))}: query blocks of "
                          f"{o.get('query_block')} rows, {o.get('units')} units, K/V "
                          f"{'once per head' if o.get('kv_reuse') else 'once per query block'}"
                          + (", blocks above the causal diagonal skipped" if o.get("causal_skip") else ""))
            console.print(f"  estimate: {o.get('predicted_cycles'):,} cycles (arrays {o.get('array_cycles'):,}, "
                          f"vector {o.get('vector_cycles'):,}), {fmt_bytes(o.get('predicted_dram_bytes') or 0)} "
                          f"DRAM; MACs executed {o.get('macs_executed'):,} of {o.get('macs_full'):,}")
            if o.get("schedule"):
                tried = o.get("schedule_cycles") or {}
                console.print(f"  issue order: {_e(str(o['schedule']))}"
                              + (" (simulated alone: " + ", ".join(f"{_e(k)} {v:,}" for k, v in tried.items())
                                 + " cycles)" if tried else ""))
        elif typ == "vector":
            console.print(f"  {o['tiles']:,} tile(s), {o['elements']:,} elements, work "
                          + ", ".join(f"{_e(k)} {v:,}" for k, v in o["work"].items())
                          + f"; {o['compute_cycles']:,} vector cycles on {o['lanes']:,} lanes, "
                          f"{fmt_bytes(o['dram_bytes'])} DRAM ({o['dram_cycles']:,} cycles): {o['bound']}-bound")
        console.print(f"  why: {_e(o.get('why') or '')}")


def _inference_line(inf: InferenceSummary) -> str:
    tp = inf.tpot_s
    tps = inf.tokens_per_s
    return (f"generation: {inf.batch} x ({inf.prompt_tokens} prompt + {inf.generated_tokens} generated "
            f"tokens): TTFT {fmt_time(inf.ttft_s)}, TPOT {fmt_time(tp) if tp is not None else '-'}, "
            f"{f'{tps:,.1f}' if tps is not None else '-'} tokens/s, {inf.energy_per_token_j * 1e3:.3f} mJ/token")


def print_inference(d: ResultModel, console: Any) -> None:
    """The generation table: TTFT, TPOT, throughput, energy per token, memory; ASIC and GPU."""
    inf = d.inference
    assert inf is not None
    gi = d.gpu.inference if d.gpu is not None else None
    g = gi if isinstance(gi, GpuInferenceSummary) else None
    t = Table(title=f"Generation ({_e(inf.method)}; the prefill below is its first "
                    f"{'two layers' if 'extrapolated' in inf.method else 'pass'})", title_justify="left")
    t.add_column("metric")
    t.add_column("ASIC", justify="right")
    if g is not None:
        t.add_column(f"GPU ({_e(d.gpu.profile if d.gpu is not None else '')}, {_e(g.launch_mode)})",
                     justify="right")

    def row(label: str, key: str, fmt: Any) -> None:
        a = getattr(inf, key)
        cells = [label, fmt(a) if a is not None else "-"]
        if g is not None:
            b = getattr(g, key)
            cells.append(fmt(b) if b is not None else "-")
        t.add_row(*cells)

    row("TTFT (prefill)", "ttft_s", fmt_time)
    row("TPOT (mean decode step)", "tpot_s", fmt_time)
    row("end to end", "e2e_s", fmt_time)
    row("throughput (tokens/s)", "tokens_per_s", lambda x: f"{x:,.1f}")
    row("energy per token", "energy_per_token_j", lambda x: f"{x * 1e3:,.3f} mJ")
    row("KV cache", "kv_cache_bytes", lambda x: f"{x / 2**20:,.2f} MiB")
    row("KV cache location", "kv_cache_location", str)
    row("weights", "weight_bytes", lambda x: f"{x / 2**20:,.2f} MiB")
    row("largest batch at this context", "max_batch_at_context", lambda x: f"{x:,}")
    console.print(t)
    if isinstance(gi, GpuInferenceError):
        console.print(f"GPU: {_e(gi.error)}")
