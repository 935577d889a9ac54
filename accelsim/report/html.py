"""A single self-contained HTML report of one run (``result.json`` -> ``report.html``).

Everything is inline: CSS, the charts (SVG generated here, no plotting library), and a tiny
script that makes tables sortable/filterable. The page loads nothing from anywhere: a
Content-Security-Policy meta tag forbids every external fetch, so the report works offline
and a stray external reference would show up as an error rather than a silent download.

Sections (each only when its data is in ``result.json``): summary, ASIC vs GPU (``gpu``),
utilization over time (``utilization_timeline``), layers (``layers``), energy (``energy`` / ``energy_j``), roofline
(ops with MACs), functional check (``check``), SRAM access matrix (``access_matrix``), and the
per-op table.

Error marker (used by the headless-browser test): the first script in ``<head>`` sets
``<html data-js-errors="0">`` and increments it on any ``error`` event (JS exceptions, failed
resource loads), unhandled promise rejection, CSP violation or ``console.error`` call; the last
script sets ``data-ready="1"`` once the page's own script ran to completion.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

# ----------------------------------------------------------------------------- formatting


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _isnum(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _f(x: Any, default: float = 0.0) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return default
    return v if math.isfinite(v) else default


def _int(x: Any) -> str:
    return f"{int(x):,}" if _isnum(x) else "n/a"


_SI = [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]


def _si(x: Any, unit: str = "", digits: int = 3) -> str:
    if not _isnum(x):
        return "n/a"
    v = float(x)
    for scale, p in _SI:
        if abs(v) >= scale:
            return f"{v / scale:.{digits}g} {p}{unit}"
    if v != 0 and abs(v) < 1:
        for scale, p in ((1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p")):
            if abs(v) >= scale:
                return f"{v / scale:.{digits}g} {p}{unit}"
    return f"{v:.{digits}g} {unit}".rstrip()


def _bytes(n: Any) -> str:
    if not _isnum(n):
        return "n/a"
    v = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(v) < 1024 or unit == "TiB":
            return f"{v:.0f} {unit}" if unit == "B" else f"{v:.2f} {unit}"
        v /= 1024
    return str(n)


def _time(s: Any) -> str:
    if not _isnum(s):
        return "n/a"
    s = float(s)
    if s == 0:
        return "0 s"
    if abs(s) >= 1:
        return f"{s:.3f} s"
    if abs(s) >= 1e-3:
        return f"{s * 1e3:.3f} ms"
    if abs(s) >= 1e-6:
        return f"{s * 1e6:.2f} µs"
    return f"{s * 1e9:.1f} ns"


def _pct(x: Any, digits: int = 1) -> str:
    return f"{100 * float(x):.{digits}f}%" if _isnum(x) else "n/a"


def _ratio(x: Any) -> str:
    return f"{float(x):.3g}×" if _isnum(x) else "n/a"


def _g(x: Any) -> str:
    return f"{float(x):.4g}" if _isnum(x) else "n/a"


def _num_attr(x: Any) -> str:
    """Sort key for a table cell (``data-v``): a plain number, or the text."""
    if _isnum(x):
        return repr(float(x))
    return _e(x)


# Colours (colour-blind-friendly-ish palette).
PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac"]
UNIT_COLOURS = {"array": "#4e79a7", "vector": "#f28e2b", "none": "#bab0ac", "dma": "#59a14f",
                "dram": "#e15759"}


def _unit_colour(name: str, i: int) -> str:
    if name.startswith("vector"):
        return UNIT_COLOURS["vector"]
    if name.startswith("dma"):
        return UNIT_COLOURS["dma"]
    if name.startswith("dram"):
        return UNIT_COLOURS["dram"]
    return PALETTE[i % len(PALETTE)] if i else UNIT_COLOURS["array"]


# ----------------------------------------------------------------------------- html pieces


def _kv(rows: Iterable[tuple[str, str]], cls: str = "kv") -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="{cls}"><tbody>{body}</tbody></table>'


def _table(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[tuple[Any, str]]], *,
           sortable: bool = True, table_id: str = "", row_classes: Sequence[str] | None = None,
           caption: str = "") -> str:
    """columns: (label, 'num'|'text'); rows: cells as (sort value, html)."""
    ths = "".join(f'<th class="{k}">{_e(label)}</th>' for label, k in columns)
    trs = []
    for i, r in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        tds = "".join(
            f'<td class="{columns[j][1]}" data-v="{_num_attr(v)}">{h}</td>' for j, (v, h) in enumerate(r)
        )
        trs.append(f"<tr{cls}>{tds}</tr>")
    attrs = ' class="data sortable"' if sortable else ' class="data"'
    if table_id:
        attrs += f' id="{_e(table_id)}"'
    cap = f"<caption>{_e(caption)}</caption>" if caption else ""
    return f"<table{attrs}>{cap}<thead><tr>{ths}</tr></thead><tbody>{''.join(trs)}</tbody></table>"


def _cell_text(v: Any) -> tuple[Any, str]:
    if isinstance(v, bool):
        return (str(v), f'<span class="{"ok" if v else "bad"}">{"yes" if v else "no"}</span>')
    if _isnum(v):
        if isinstance(v, int):
            return (v, _int(v))
        return (v, _g(v))
    if isinstance(v, (dict, list)):
        import json

        s = json.dumps(v, sort_keys=True)
        return (s, f"<code>{_e(s if len(s) < 120 else s[:117] + '...')}</code>")
    return (v, _e(v))


def _generic_table(records: Sequence[dict[str, Any]], table_id: str = "") -> str:
    cols: list[str] = []
    for r in records:
        for k in r:
            if k not in cols:
                cols.append(k)
    kinds = []
    for c in cols:
        vals = [r.get(c) for r in records if r.get(c) is not None]
        kinds.append("num" if vals and all(_isnum(v) for v in vals) else "text")
    rows = [[_cell_text(r.get(c)) for c in cols] for r in records]
    flags = []
    for r in records:
        bad = any(r.get(k) is False for k in ("passed", "ok", "pass", "match"))
        flags.append("fail" if bad else "")
    return _table(list(zip(cols, kinds)), rows, table_id=table_id, row_classes=flags)


# ----------------------------------------------------------------------------- SVG charts


def _svg(w: int, h: int, inner: str, label: str) -> str:
    return (f'<svg class="chart" viewBox="0 0 {w} {h}" '
            f'width="{w}" height="{h}" role="img" aria-label="{_e(label)}">{inner}</svg>')


def _t(x: float, y: float, s: str, anchor: str = "start", cls: str = "", extra: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{c}{extra}>{_e(s)}</text>'


def svg_utilization(timeline: dict[str, Any], total_cycles: int) -> str:
    units: dict[str, list[float]] = timeline.get("units") or {}
    if not units:
        return ""
    left, right, row_h, gap, top = 110, 70, 34, 8, 10
    plot_w = 800
    w = left + plot_w + right
    h = top + len(units) * (row_h + gap) + 30
    parts = []
    for i, (name, vals) in enumerate(units.items()):
        vals = [min(1.0, max(0.0, _f(v))) for v in vals]
        n = max(1, len(vals))
        y0 = top + i * (row_h + gap)
        base = y0 + row_h
        col = _unit_colour(name, i)
        parts.append(f'<rect x="{left}" y="{y0}" width="{plot_w}" height="{row_h}" class="track"/>')
        pts = [f"M{left},{base}"]
        for b, v in enumerate(vals):
            x0 = left + plot_w * b / n
            x1 = left + plot_w * (b + 1) / n
            y = base - v * row_h
            pts.append(f"L{x0:.2f},{y:.2f}L{x1:.2f},{y:.2f}")
        pts.append(f"L{left + plot_w},{base}Z")
        avg = sum(vals) / n if vals else 0.0
        parts.append(f'<path d="{"".join(pts)}" fill="{col}" fill-opacity="0.75" stroke="{col}" '
                     f'stroke-width="0.8"><title>{_e(name)}: mean busy {avg:.1%}</title></path>')
        parts.append(_t(left - 8, y0 + row_h / 2 + 4, name, "end", "lbl"))
        parts.append(_t(left + plot_w + 8, y0 + row_h / 2 + 4, f"{avg:.1%}", "start", "lbl"))
    ya = top + len(units) * (row_h + gap)
    for k in range(5):
        x = left + plot_w * k / 4
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{ya - gap}" class="grid"/>')
        parts.append(_t(x, ya + 12, f"{round(total_cycles * k / 4):,}", "middle", "tick"))
    parts.append(_t(left + plot_w / 2, ya + 26, "cycle", "middle", "axis"))
    return _svg(w, h, "".join(parts), "busy fraction over time per unit")


def svg_stacked(items: Sequence[tuple[str, float]], unit_fmt: Any = _int, label: str = "") -> str:
    """One horizontal stacked bar with a legend underneath."""
    tot = sum(max(0.0, v) for _, v in items)
    if tot <= 0:
        return ""
    w, left, bar_w, h = 980, 10, 960, 70
    x = float(left)
    parts = []
    for i, (name, v) in enumerate(items):
        if v <= 0:
            continue
        bw = bar_w * v / tot
        col = PALETTE[i % len(PALETTE)]
        parts.append(f'<rect x="{x:.2f}" y="6" width="{bw:.2f}" height="26" fill="{col}">'
                     f'<title>{_e(name)}: {_e(unit_fmt(v))} ({v / tot:.1%})</title></rect>')
        if bw > 60:
            parts.append(_t(x + bw / 2, 24, f"{v / tot:.0%}", "middle", "inbar"))
        x += bw
    lx = float(left)
    for i, (name, v) in enumerate(items):
        col = PALETTE[i % len(PALETTE)]
        txt = f"{name}: {unit_fmt(v)} ({(v / tot if tot else 0):.1%})"
        parts.append(f'<rect x="{lx:.1f}" y="44" width="10" height="10" fill="{col}"/>')
        parts.append(_t(lx + 14, 53, txt, "start", "lbl"))
        lx += 24 + 6.6 * len(txt)
    return _svg(w, h, "".join(parts), label or "breakdown")


def svg_hbars(items: Sequence[tuple[str, float, str]], label: str, colours: Sequence[str] | None = None,
              max_label: int = 34) -> str:
    """Horizontal bars: (label, value, value text). Bars scale to the largest value."""
    if not items:
        return ""
    vmax = max((v for _, v, _ in items), default=0.0) or 1.0
    left, plot_w, row_h, gap = 230, 560, 18, 6
    w = left + plot_w + 180
    h = len(items) * (row_h + gap) + 8
    parts = []
    for i, (name, v, text) in enumerate(items):
        y = 4 + i * (row_h + gap)
        bw = max(0.0, plot_w * max(0.0, v) / vmax)
        col = colours[i] if colours else PALETTE[0]
        short = name if len(name) <= max_label else name[: max_label - 1] + "…"
        parts.append(_t(left - 8, y + 13, short, "end", "lbl"))
        parts.append(f'<rect x="{left}" y="{y}" width="{bw:.2f}" height="{row_h}" fill="{col}">'
                     f"<title>{_e(name)}: {_e(text)}</title></rect>")
        parts.append(_t(left + bw + 6, y + 13, text, "start", "lbl"))
    return _svg(w, h, "".join(parts), label)


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Decades in [lo, hi]; with 1-2-5 steps when the range spans under three decades."""
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    steps = (1.0,) if b - a > 3 else (1.0, 2.0, 5.0)
    return [m * 10.0**k for k in range(a, b + 1) for m in steps if lo <= m * 10.0**k <= hi]


def svg_roofline(points: Sequence[dict[str, Any]], peak_ops: float, bw_bytes: float,
                 extra_roofs: Sequence[tuple[str, float]] = ()) -> str:
    """Log-log roofline. points: {name, x (op/B), y (op/s), colour, zero_bytes, label}."""
    if not points or peak_ops <= 0:
        return ""
    xs = [p["x"] for p in points if p["x"] > 0]
    ys = [p["y"] for p in points if p["y"] > 0]
    if not xs or not ys:
        return ""
    ridge = peak_ops / bw_bytes if bw_bytes > 0 else None
    x_lo = min(min(xs), ridge or min(xs)) / 4
    x_hi = max(max(xs), ridge or max(xs)) * 4
    y_lo = min(min(ys), (bw_bytes * x_lo) if bw_bytes > 0 else min(ys)) / 4
    y_hi = max(peak_ops, max(ys)) * 3
    y_lo = max(y_lo, y_hi / 1e9)
    left, top, pw, ph = 80, 16, 780, 380
    w, h = left + pw + 150, top + ph + 50

    def X(v: float) -> float:
        return left + pw * (math.log10(v) - math.log10(x_lo)) / (math.log10(x_hi) - math.log10(x_lo))

    def Y(v: float) -> float:
        v = min(max(v, y_lo), y_hi)
        return top + ph - ph * (math.log10(v) - math.log10(y_lo)) / (math.log10(y_hi) - math.log10(y_lo))

    parts = [f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="plotbg"/>']
    for t in _log_ticks(x_lo, x_hi):
        parts.append(f'<line x1="{X(t):.1f}" y1="{top}" x2="{X(t):.1f}" y2="{top + ph}" class="grid"/>')
        parts.append(_t(X(t), top + ph + 14, _si(t), "middle", "tick"))
    for t in _log_ticks(y_lo, y_hi):
        parts.append(f'<line x1="{left}" y1="{Y(t):.1f}" x2="{left + pw}" y2="{Y(t):.1f}" class="grid"/>')
        parts.append(_t(left - 6, Y(t) + 4, _si(t), "end", "tick"))
    parts.append(_t(left + pw / 2, top + ph + 34, "arithmetic intensity (ops / DRAM byte)", "middle", "axis"))
    parts.append(_t(16, top + ph / 2, "achieved ops/s", "middle", "axis",
                    f' transform="rotate(-90 16 {top + ph / 2:.1f})"'))
    # Roofs.
    if ridge:
        xs_line = [x_lo, ridge, x_hi]
        d = "M" + "L".join(f"{X(x):.1f},{Y(min(peak_ops, bw_bytes * x)):.1f}" for x in xs_line)
        parts.append(f'<path d="{d}" class="roof"/>')
        parts.append(_t(X(ridge), Y(peak_ops) - 6, f"peak {_si(peak_ops, 'op/s')}", "start", "rooflbl"))
        xm = math.sqrt(x_lo * ridge)
        parts.append(_t(X(xm), Y(bw_bytes * xm) - 8, f"DRAM {_si(bw_bytes, 'B/s')}", "middle", "rooflbl"))
        parts.append(f'<line x1="{X(ridge):.1f}" y1="{Y(peak_ops):.1f}" x2="{X(ridge):.1f}" '
                     f'y2="{top + ph}" class="ridge"><title>ridge point {ridge:.3g} op/B</title></line>')
    else:
        parts.append(f'<line x1="{left}" y1="{Y(peak_ops):.1f}" x2="{left + pw}" y2="{Y(peak_ops):.1f}" class="roof"/>')
        parts.append(_t(left + 6, Y(peak_ops) - 6, f"peak {_si(peak_ops, 'op/s')}", "start", "rooflbl"))
    for name, val in extra_roofs:
        if val > 0:
            parts.append(f'<line x1="{left}" y1="{Y(val):.1f}" x2="{left + pw}" y2="{Y(val):.1f}" class="roof2"/>')
            parts.append(_t(left + 6, Y(val) - 5, f"{name} {_si(val, 'op/s')}", "start", "rooflbl"))
    # Points (labels skip places already taken, so clustered ops stay readable).
    taken: list[tuple[float, float, float, float]] = []
    for p in points:
        if p["x"] <= 0 or p["y"] <= 0:
            continue
        cx, cy = X(p["x"]), Y(p["y"])
        fill = "none" if p.get("zero_bytes") else p["colour"]
        parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4.5" fill="{fill}" stroke="{p["colour"]}" '
                     f'stroke-width="1.5" fill-opacity="0.8"><title>{_e(p["title"])}</title></circle>')
        if p.get("label"):
            box = (cx + 5, cy - 16, cx + 9 + 6.2 * len(p["label"]), cy - 2)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in taken):
                taken.append(box)
                parts.append(_t(cx + 7, cy - 5, p["label"], "start", "ptlbl"))
    # Legend.
    ly = top + 8
    for name, col, hollow in (("array op", UNIT_COLOURS["array"], False), ("vector op", UNIT_COLOURS["vector"], False),
                              ("no DRAM traffic", "#555", True)):
        parts.append(f'<circle cx="{left + pw + 20}" cy="{ly}" r="4.5" fill="{"none" if hollow else col}" '
                     f'stroke="{col}" stroke-width="1.5"/>')
        parts.append(_t(left + pw + 30, ly + 4, name, "start", "lbl"))
        ly += 18
    return _svg(w, h, "".join(parts), "roofline")


# ----------------------------------------------------------------------------- data helpers


def arch_summary(data: dict[str, Any]) -> dict[str, Any]:
    """peak_macs_per_cycle, clock_ghz, dram_bandwidth_gbps (+ where the bandwidth came from)."""
    s = dict(data.get("arch_summary") or {})
    s.setdefault("clock_ghz", data.get("clock_ghz"))
    s.setdefault("peak_macs_per_cycle", data.get("peak_macs_per_cycle"))
    if _isnum(s.get("dram_bandwidth_gbps")):
        s.setdefault("dram_bandwidth_source", "arch")
        return s
    if _isnum(data.get("dram_bandwidth_gbps")):
        s["dram_bandwidth_gbps"] = data["dram_bandwidth_gbps"]
        s["dram_bandwidth_source"] = "arch"
        return s
    # Infer: each channel serves bytes at a fixed rate, so bytes / (channel-busy cycles) is the
    # per-channel rate (up to ceil rounding per transfer).
    units = data.get("units") or {}
    chans = [u for u in units.values() if isinstance(u, dict) and u.get("kind") == "dram_channel"]
    busy = sum(_f(u.get("busy_cycles")) for u in chans)
    nbytes = _f(data.get("dram_read_bytes")) + _f(data.get("dram_write_bytes"))
    clock = _f(s.get("clock_ghz"))
    if chans and busy > 0 and nbytes > 0 and clock > 0:
        s["dram_bandwidth_gbps"] = nbytes / busy * len(chans) * clock
        s["dram_bandwidth_source"] = "estimated from DRAM busy time"
    return s


def _op_seconds(op: dict[str, Any], clock_hz: float) -> float:
    return _f(op.get("cycles")) / clock_hz if clock_hz > 0 else 0.0


def _op_work(op: dict[str, Any]) -> tuple[float, str]:
    """Operations an op performs: 2*MACs for GEMMs, else elements / flops if given."""
    macs = _f(op.get("macs"))
    if macs > 0:
        return 2 * macs, "array"
    for k in ("flops", "elements"):
        v = _f(op.get(k))
        if v > 0:
            return v, "vector"
    return 0.0, ""


# ----------------------------------------------------------------------------- sections


def _section(sid: str, title: str, body: str, note: str = "") -> tuple[str, str, str]:
    n = f'<p class="note">{note}</p>' if note else ""
    return sid, title, f'<section id="{_e(sid)}"><h2>{_e(title)}</h2>{n}{body}</section>'


def _sec_summary(d: dict[str, Any], arch: dict[str, Any]) -> tuple[str, str, str]:
    clock = _f(d.get("clock_ghz"))
    lat = _f(d.get("latency_s"))
    macs = _f(d.get("macs"))
    au = d.get("array_utilization") or {}
    rd, wr = d.get("dram_read_bytes"), d.get("dram_write_bytes")
    peak_macs = _f(arch.get("peak_macs_per_cycle"))
    achieved = 2 * macs / lat if lat > 0 else None
    peak_ops = 2 * peak_macs * clock * 1e9
    cards = [
        ("latency", _time(lat), f"{_int(d.get('total_cycles'))} cycles @ {_g(clock)} GHz"),
        ("array MAC utilization", _pct(au.get("mac_utilization")), f"busy {_pct(au.get('busy_fraction'))}"),
        ("throughput", _si(achieved, "op/s"), f"peak {_si(peak_ops, 'op/s')}"),
        ("DRAM traffic", _bytes(_f(rd) + _f(wr)), f"read {_bytes(rd)} / write {_bytes(wr)}"),
    ]
    if _isnum(d.get("energy_j")):
        pw = d.get("power_w") if _isnum(d.get("power_w")) else (_f(d["energy_j"]) / lat if lat else None)
        cards.append(("energy", _si(d["energy_j"], "J"), f"avg power {_si(pw, 'W')}"))
    if _isnum(d.get("speedup_vs_gpu")):
        gname = _gpu_name(d.get("gpu") or {})
        cards.append(("speedup vs GPU", _ratio(d["speedup_vs_gpu"]), gname))
    cards_html = "".join(
        f'<div class="card"><div class="k">{_e(k)}</div><div class="v">{_e(v)}</div><div class="s">{_e(s)}</div></div>'
        for k, v, s in cards
    )
    opts = d.get("options") or {}
    rows: list[tuple[str, str]] = [
        ("architecture", _e(d.get("arch"))),
        ("workload", _e(d.get("workload")) + (f' <span class="muted">{_e(_meta(d.get("workload_meta")))}</span>'
                                              if d.get("workload_meta") else "")),
        ("timing mode", _e(opts.get("mode", "n/a"))),
        ("clock", f"{_g(clock)} GHz"),
        ("total cycles", _int(d.get("total_cycles"))),
        ("latency", _time(lat)),
        ("MACs", _int(d.get("macs"))),
        ("peak MACs / cycle", _int(arch.get("peak_macs_per_cycle"))),
        ("achieved / peak ops/s", f"{_si(achieved, 'op/s')} / {_si(peak_ops, 'op/s')}"),
        ("array MAC utilization", _pct(au.get("mac_utilization"))),
        ("array busy fraction", _pct(au.get("busy_fraction"))),
        ("SCALE-Sim compute utilization / mapping efficiency",
         f"{_pct(au.get('scalesim_compute_utilization'))} / {_pct(au.get('scalesim_mapping_efficiency'))}"),
        ("DRAM read / write", f"{_bytes(rd)} / {_bytes(wr)}"),
        ("achieved DRAM bandwidth", _si((_f(rd) + _f(wr)) / lat if lat else None, "B/s")
         + (f" of {_si(_f(arch.get('dram_bandwidth_gbps')) * 1e9, 'B/s')}"
            + (f' <span class="muted">({_e(arch["dram_bandwidth_source"])})</span>'
               if arch.get("dram_bandwidth_source", "arch") != "arch" else "")
            if _isnum(arch.get("dram_bandwidth_gbps")) else "")),
        ("DMA stall cycles", _int(d.get("dma_stall_cycles"))
         + (f' <span class="muted">(engine wait {_int(d.get("dma_engine_wait_cycles"))}, '
            f'DRAM queue {_int(d.get("dram_queue_cycles"))})</span>' if "dma_engine_wait_cycles" in d else "")),
        ("bank-conflict stall cycles", _int(d.get("bank_conflict_stall_cycles"))),
        ("SRAM-bandwidth stall cycles", _int(d.get("sram_bandwidth_stall_cycles"))),
        ("simulated events / tiles", f"{_int(d.get('events'))} / {_int(d.get('tiles'))}"),
    ]
    for k, label, fmt in (("energy_j", "energy", lambda v: _si(v, "J")),
                          ("power_w", "average power", lambda v: _si(v, "W")),
                          ("area_mm2", "area", lambda v: f"{_g(v)} mm²")):
        if _isnum(d.get(k)):
            rows.append((label, fmt(d[k])))
    if _isnum(d.get("energy_j")) and _f(d["energy_j"]) > 0 and macs > 0:
        rows.append(("efficiency", _si(2 * macs / _f(d["energy_j"]), "op/J") + " (= op/s per W)"))
    if d.get("accelsim_version"):
        rows.append(("accelsim version", _e(d["accelsim_version"])))
    body = f'<div class="cards">{cards_html}</div>' + _kv(rows)
    tl = d.get("timeline_cycles") or {}
    items = [(k.replace("_", " "), _f(v)) for k, v in tl.items() if _isnum(v)]
    if items:
        body += "<h3>Where the cycles went</h3>" + svg_stacked(items, _int, "timeline breakdown")
    sram = d.get("sram") or {}
    if sram:
        rows2 = [[(n, _e(n)), (p.get("banks"), _int(p.get("banks"))),
                  (p.get("read_bytes"), _bytes(p.get("read_bytes"))),
                  (p.get("write_bytes"), _bytes(p.get("write_bytes")))]
                 for n, p in sram.items() if isinstance(p, dict)]
        body += "<h3>SRAM partitions</h3>" + _table(
            [("partition", "text"), ("banks", "num"), ("read", "num"), ("written", "num")], rows2, sortable=False)
    return _section("summary", "Summary", body)


def _meta(m: Any) -> str:
    if isinstance(m, dict):
        return ", ".join(f"{k}={v}" for k, v in m.items())
    return str(m)


def _gpu_name(g: dict[str, Any]) -> str:
    p = g.get("profile")
    if isinstance(p, dict):
        return str(p.get("name") or p.get("id") or "GPU")
    return str(p or g.get("name") or "GPU")


def _op_key(o: dict[str, Any]) -> str:
    """The IR op an entry belongs to: ASIC pieces carry ``ir_op``; GPU entries ``op`` or ``name``."""
    return str(o.get("ir_op") or o.get("op") or o.get("name") or "?")


def _keyed(k: str, v: Any) -> str:
    """Format a scalar whose unit is in its key's suffix (``_j``, ``_w``, ``_mm2``, ``_pj``...)."""
    if not _isnum(v):
        return _e(v)
    for suf, unit in (("_j", "J"), ("_w", "W"), ("_s", "s")):
        if k.endswith(suf):
            return _e(_time(v) if unit == "s" else _si(v, unit))
    if k.endswith("_mm2"):
        return f"{_g(v)} mm²"
    if k.endswith("_pj") or k.startswith("pj_"):
        return f"{_g(v)} pJ"
    return _int(v) if isinstance(v, int) else _g(v)


def svg_tpot(series: Sequence[tuple[str, Sequence[float], str]]) -> str:
    """TPOT (s) per decode step, one line per side (label, values, colour)."""
    series = [x for x in series if x[1]]
    if not series:
        return ""
    w, h, left, bottom, top = 760, 260, 70, 36, 14
    pw, ph = w - left - 20, h - top - bottom
    n = max(len(v) for _, v, _ in series)
    vmax = max(max(v) for _, v, _ in series) or 1.0
    parts = [f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="#888"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="#888"/>',
             _t(left + pw / 2, h - 6, "decode step", "middle", "lbl"),
             _t(left - 6, top + 10, _time(vmax), "end", "lbl"),
             _t(left - 6, top + ph, "0", "end", "lbl")]
    for j, (name, vals, col) in enumerate(series):
        pts = " ".join(f"{left + pw * i / max(1, n - 1):.1f},{top + ph * (1 - v / vmax):.1f}"
                       for i, v in enumerate(vals))
        parts.append(f'<polyline fill="none" stroke="{col}" stroke-width="1.5" points="{pts}">'
                     f"<title>{_e(name)}</title></polyline>")
        parts.append(_t(left + pw - 4, top + 14 + 14 * j, name, "end", "lbl", f'fill="{col}"'))
    return _svg(w, h, "".join(parts), "TPOT per decode step")


def _sec_inference(d: dict[str, Any]) -> tuple[str, str, str] | None:
    inf = d.get("inference")
    if not inf:
        return None
    g = (d.get("gpu") or {}).get("inference") or {}
    ok = bool(g) and "error" not in g
    rows: list[list[tuple[Any, str]]] = []
    for label, key, fmt in (("TTFT (prefill)", "ttft_s", _time), ("TPOT (mean decode step)", "tpot_s", _time),
                            ("end to end", "e2e_s", _time), ("tokens/s", "tokens_per_s", _g),
                            ("energy per token (J)", "energy_per_token_j", _g),
                            ("KV cache", "kv_cache_bytes", _bytes), ("KV cache location", "kv_cache_location", str),
                            ("weights", "weight_bytes", _bytes),
                            ("largest batch at this context", "max_batch_at_context", _int)):
        a, b = inf.get(key), g.get(key) if ok else None
        rows.append([(label, ""), (fmt(a) if a is not None else "-", "num"),
                     (fmt(b) if b is not None else "-", "num")])
    body = _table([("metric", ""), ("ASIC", "num"), ("GPU", "num")], rows)
    body += "<h3>TPOT per decode step</h3>" + svg_tpot(
        [("ASIC", inf.get("tpot_curve_s") or [], PALETTE[0])]
        + ([("GPU", g.get("tpot_curve_s") or [], PALETTE[1])] if ok else []))
    note = (f"{inf['batch']} sequence(s) of {inf['prompt_tokens']} prompt tokens generating "
            f"{inf['generated_tokens']} tokens each; {inf['method']}")
    return _section("inference", "Generation", body, note)


def _sec_gpu(d: dict[str, Any]) -> tuple[str, str, str] | None:
    g = d.get("gpu")
    if not isinstance(g, dict):
        return None
    gname = _gpu_name(g)
    lat, glat = _f(d.get("latency_s")), _f(g.get("latency_s"))
    en, gen = d.get("energy_j"), g.get("energy_j")
    macs = _f(d.get("macs"))
    ops_total = 2 * macs
    speed = glat / lat if lat > 0 and glat > 0 else d.get("speedup_vs_gpu")
    eff = _f(gen) / _f(en) if _isnum(en) and _isnum(gen) and _f(en) > 0 else d.get("energy_ratio_vs_gpu")
    asic_p = d.get("power_w") if _isnum(d.get("power_w")) else (_f(en) / lat if _isnum(en) and lat else None)
    gpu_p = g.get("power_w") if _isnum(g.get("power_w")) else (_f(gen) / glat if _isnum(gen) and glat else None)

    def tput(t: float) -> float | None:
        return ops_total / t if t > 0 and ops_total > 0 else None

    def ppw(e: Any) -> float | None:
        return ops_total / _f(e) if _isnum(e) and _f(e) > 0 and ops_total > 0 else None

    def rel(a: Any, b: Any) -> str:
        return _ratio(_f(a) / _f(b)) if _isnum(a) and _isnum(b) and _f(b) > 0 else "n/a"

    rows = [
        ("latency", _time(lat), _time(glat), _ratio(speed), "GPU / ASIC = ASIC speedup"),
        ("throughput (2·MACs / latency)", _si(tput(lat), "op/s"), _si(tput(glat), "op/s"),
         rel(tput(lat), tput(glat)), "ASIC / GPU"),
        ("energy", _si(en, "J"), _si(gen, "J"), _ratio(eff), "GPU / ASIC = ASIC energy saving"),
        ("average power", _si(asic_p, "W"), _si(gpu_p, "W"), rel(gpu_p, asic_p), "GPU / ASIC"),
        ("perf / W (op/J)", _si(ppw(en), "op/J"), _si(ppw(gen), "op/J"), rel(ppw(en), ppw(gen)), "ASIC / GPU"),
    ]
    head = "<tr><th>metric</th><th>ASIC</th><th>" + _e(gname) + "</th><th>ratio</th><th>ratio is</th></tr>"
    trs = "".join(f"<tr><th>{_e(a)}</th><td class='num'>{_e(b)}</td><td class='num'>{_e(c)}</td>"
                  f"<td class='num'><b>{_e(r)}</b></td><td class='muted'>{_e(n)}</td></tr>" for a, b, c, r, n in rows)
    body = f'<table class="data cmp"><thead>{head}</thead><tbody>{trs}</tbody></table>'
    keys = [f"{k} = {_g(d[k])}" for k in ("speedup_vs_gpu", "energy_ratio_vs_gpu", "perf_per_watt_vs_gpu")
            if _isnum(d.get(k))]
    if keys:
        body += f'<p class="note">result.json: {_e(", ".join(keys))}</p>'
    extra: list[tuple[str, str]] = []
    for k, v in g.items():
        if k in ("ops", "top_ops", "latency_s", "energy_j"):
            continue
        if _isnum(v) or isinstance(v, str):
            extra.append((k, _keyed(k, v)))
        elif k == "profile" and isinstance(v, dict):
            extra.append((k, _e(gname)))
        elif isinstance(v, dict) and all(_isnum(x) or isinstance(x, str) for x in v.values()):
            extra.append((k, _e(", ".join(f"{a} {b}" for a, b in v.items()))))
        elif isinstance(v, list) and all(isinstance(x, str) for x in v):
            extra.append((k, f"{len(v)}: " + _e(", ".join(v[:12]) + (" …" if len(v) > 12 else ""))))
    if extra:
        body += "<details><summary>GPU model details</summary>" + _kv(extra) + "</details>"
    bars = [(f"ASIC ({d.get('arch', '')})", lat, _time(lat)), (gname, glat, _time(glat))]
    body += "<h3>Latency</h3>" + svg_hbars(bars, "latency ASIC vs GPU", [PALETTE[0], PALETTE[1]])
    if _isnum(en) and _isnum(gen):
        ebars = [(f"ASIC ({d.get('arch', '')})", _f(en), _si(en, "J")), (gname, _f(gen), _si(gen, "J"))]
        body += "<h3>Energy</h3>" + svg_hbars(ebars, "energy ASIC vs GPU", [PALETTE[0], PALETTE[1]])
    # Top ops on each side, joined by IR op (the ASIC may split one IR op into pieces).
    clock_hz = _f(d.get("clock_ghz")) * 1e9
    gops = [o for o in g.get("ops") or [] if isinstance(o, dict)]
    gby: dict[str, dict[str, Any]] = {}
    for o in gops:
        gby.setdefault(_op_key(o), o)
    aby: dict[str, float] = {}
    for o in d.get("ops") or []:
        if isinstance(o, dict) and _f(o.get("cycles")) > 0:
            aby[_op_key(o)] = aby.get(_op_key(o), 0.0) + _op_seconds(o, clock_hz)
    rows_a = []
    for n, t in sorted(aby.items(), key=lambda kv: (-kv[1], kv[0]))[:10]:
        go = gby.get(n, {})
        gt = go.get("time_s")
        r = _f(gt) / t if t and _isnum(gt) else None
        rows_a.append([(n, _e(n)), (t, _time(t)), (t / lat if lat else 0, _pct(t / lat if lat else None)),
                       (gt, _time(gt)), (r, _ratio(r)), (go.get("bound"), _e(go.get("bound", "")))])
    rows_g = []
    for o in sorted(gops, key=lambda o: (-_f(o.get("time_s")), _op_key(o)))[:10]:
        n, gt = _op_key(o), o.get("time_s")
        at = aby.get(n)
        rows_g.append([(n, _e(n)), (gt, _time(gt)), (_f(gt) / glat if glat else 0,
                                                     _pct(_f(gt) / glat if glat else None)),
                       (o.get("achieved_tflops"), _g(o.get("achieved_tflops"))),
                       (o.get("bound"), _e(o.get("bound", ""))), (at, _time(at))])
    if rows_a:
        body += "<h3>Top ops on the ASIC</h3>" + _table(
            [("op", "text"), ("ASIC time", "num"), ("share", "num"), (f"{gname} time", "num"),
             ("GPU / ASIC", "num"), ("GPU bound", "text")], rows_a)
    if rows_g:
        body += f"<h3>Top ops on {_e(gname)}</h3>" + _table(
            [("op", "text"), ("GPU time", "num"), ("share", "num"), ("TFLOP/s", "num"), ("bound", "text"),
             ("ASIC time", "num")], rows_g)
    return _section("gpu", f"ASIC vs GPU ({gname})", body,
                    "Throughput and perf/W count the same work on both sides (2 × the workload's MACs).")


def _sec_layers(d: dict[str, Any]) -> tuple[str, str, str] | None:
    layers = [r for r in d.get("layers") or [] if isinstance(r, dict)]
    if not layers:
        return None
    has_e = any(_isnum(r.get("energy_j")) for r in layers)
    has_g = any(_isnum(r.get("gpu_time_s")) for r in layers)
    g_total = sum(_f(r.get("gpu_time_s")) for r in layers)
    e_total = sum(_f(r.get("energy_j")) for r in layers)
    cols = [("layer", "text wrap"), ("ops", "num"), ("cycles", "num"), ("share", "num"), ("busy (cycles)", "num"),
            ("MACs", "num"), ("MAC utilization", "num"), ("DRAM bytes", "num")]
    if has_e:
        cols += [("energy", "num"), ("energy share", "num")]
    if has_g:
        cols += [("GPU time", "num"), ("GPU share", "num")]
    rows = []
    for r in layers:
        row = [(r.get("layer"), _e(r.get("layer"))), (r.get("ops"), _int(r.get("ops"))),
               (r.get("cycles"), _int(r.get("cycles"))), (r.get("share"), _util_bar(r.get("share"))),
               (r.get("busy_cycles"), _int(r.get("busy_cycles"))), (r.get("macs"), _int(r.get("macs"))),
               (r.get("mac_utilization"), _pct(r.get("mac_utilization"))),
               (r.get("dram_bytes"), _bytes(r.get("dram_bytes")))]
        if has_e:
            e = r.get("energy_j")
            row += [(e, _si(e, "J")), (_f(e) / e_total if e_total else 0, _pct(_f(e) / e_total if e_total else None))]
        if has_g:
            gt = r.get("gpu_time_s")
            row += [(gt, _time(gt)), (_f(gt) / g_total if g_total else 0, _pct(_f(gt) / g_total if g_total else None))]
        rows.append(row)
    top = sorted(layers, key=lambda r: (-_f(r.get("cycles")), str(r.get("layer"))))[:15]
    bars = [(str(r.get("layer")), _f(r.get("share")), _pct(r.get("share"))) for r in top]
    body = ("<h3>Share of op cycles, top layers</h3>" + svg_hbars(bars, "layer share of op cycles")
            + '<input type="search" class="filter" data-table="layers-table" placeholder="filter layers…" '
              'aria-label="filter layers">' + _table(cols, rows, table_id="layers-table"))
    return _section("layers", f"Layers ({len(layers)})", body,
                    "Ops grouped by module prefix (e.g. h.3.attn, h.3.mlp). cycles: the sum of the layer's ops' "
                    "cycles (an op from its first tile's start to its last tile's end); share: of all ops' cycles "
                    "(ops overlap in time, so shares add up to 100 % while cycles may exceed the latency); busy: "
                    "cycles with at least one of its ops in flight; MAC utilization: MACs / (peak MACs per cycle × "
                    "busy cycles); energy: the run's energy split over ops by the activity each component prices; "
                    "GPU time: the GPU model's time for the same ops. Also in layers.csv (--out).")


def _sec_util(d: dict[str, Any]) -> tuple[str, str, str] | None:
    ut = d.get("utilization_timeline") or {}
    units = d.get("units") or {}
    if not ut.get("units") and not units:
        return None
    body = ""
    if ut.get("units"):
        body += svg_utilization(ut, int(_f(d.get("total_cycles"))))
        body += (f'<p class="note">{_int(ut.get("bins"))} bins of {_g(ut.get("bin_cycles"))} cycles; '
                 "DMA and DRAM rows are the mean over their engines / channels.</p>")
    if units:
        rows = []
        chans = [(n, u) for n, u in units.items() if isinstance(u, dict) and u.get("kind") == "dram_channel"]
        dram_done = False
        for n, u in units.items():
            if not isinstance(u, dict):
                continue
            if u.get("kind") == "dram_channel" and len(chans) > 1:
                if dram_done:
                    continue
                dram_done = True
                busy = [_f(c.get("busy_cycles")) for _, c in chans]
                ut = [_f(c.get("utilization")) for _, c in chans]
                mean_b, mean_u = sum(busy) / len(busy), sum(ut) / len(ut)
                det = (f"{len(chans)} channels; busy min {_int(min(busy))} / max {_int(max(busy))} cycles; "
                       f"utilization min {_pct(min(ut))} / max {_pct(max(ut))}")
                rows.append([(f"dram ({len(chans)} channels)", _e(f"dram ({len(chans)} channels)")),
                             ("dram_channel", "dram_channel"), (mean_b, _int(mean_b) + " (mean)"),
                             (mean_u, _util_bar(mean_u)), ("", ""), (det, _e(det))])
                continue
            extra = []
            for k in ("shape", "dataflow", "engines", "transfers", "commands", "elements"):
                if k in u:
                    extra.append(f"{k} {u[k]:,}" if _isnum(u[k]) else f"{k} {u[k]}")
            if _isnum(u.get("mac_utilization")):
                extra.append(f"MAC util {_pct(u['mac_utilization'])}")
            rows.append([(n, _e(n)), (u.get("kind"), _e(u.get("kind", ""))),
                         (u.get("busy_cycles"), _int(u.get("busy_cycles"))),
                         (u.get("utilization"), _util_bar(u.get("utilization"))),
                         (u.get("tiles"), _int(u.get("tiles")) if "tiles" in u else ""),
                         (", ".join(extra), _e(", ".join(extra)))])
        body += _table([("unit", "text"), ("kind", "text"), ("busy (cycles)", "num"), ("utilization", "num"),
                        ("tiles", "num"), ("details", "text")], rows, table_id="units")
    return _section("utilization", "Utilization over time", body)


def _util_bar(u: Any) -> str:
    if not _isnum(u):
        return "n/a"
    w = max(0.0, min(1.0, float(u))) * 100
    return (f'<span class="ubar"><span style="width:{w:.1f}%"></span></span>'
            f'<span class="uval">{_pct(u)}</span>')


def _breakdown(title: str, bd: dict[str, Any], unit_fmt: Any, total: float = 0.0) -> str:
    items = sorted(((str(k), _f(v)) for k, v in bd.items() if _isnum(v)), key=lambda kv: (-kv[1], kv[0]))
    if not items:
        return ""
    total = total or sum(v for _, v in items)
    bars = [(k, v, f"{unit_fmt(v)} ({v / total:.1%})" if total else unit_fmt(v)) for k, v in items]
    return f"<h3>{_e(title)}</h3>" + svg_hbars(bars, title, [PALETTE[i % len(PALETTE)] for i in range(len(bars))])


def _sec_energy(d: dict[str, Any]) -> tuple[str, str, str] | None:
    e: dict[str, Any] = d["energy"] if isinstance(d.get("energy"), dict) else {}
    a: dict[str, Any] = d["area"] if isinstance(d.get("area"), dict) else {}
    if not e and not a and not any(_isnum(d.get(k)) for k in ("energy_j", "power_w", "area_mm2")):
        return None
    rows: list[tuple[str, str]] = []
    for k, label in (("energy_j", "total energy"), ("power_w", "average power"), ("area_mm2", "area")):
        if _isnum(d.get(k)):
            rows.append((label, _keyed(k, d[k])))
    macs = _f(d.get("macs"))
    if _isnum(d.get("energy_j")) and _f(d["energy_j"]) > 0 and macs > 0:
        rows.append(("efficiency", _si(2 * macs / _f(d["energy_j"]), "op/J")))
    dup = {"total_j": "energy_j", "power_w": "power_w"}
    for k, v in e.items():
        if k in dup and _isnum(d.get(dup[k])):
            continue  # already shown from the top-level key
        if k != "breakdown_j" and (_isnum(v) or isinstance(v, str)):
            rows.append((f"energy.{k}", _keyed(k, v)))
    body = _kv(rows) if rows else ""
    bd = e.get("breakdown_j")
    if isinstance(bd, dict):
        body += _breakdown("Energy by component", bd, lambda v: _si(v, "J"), _f(d.get("energy_j")))
    abd = a.get("breakdown_mm2")
    if isinstance(abd, dict):
        body += _breakdown("Area by component", abd, lambda v: f"{_g(v)} mm²", _f(a.get("total_mm2")))
    for src, name in ((e, "energy"), (a, "area")):
        for k, v in src.items():
            if k in ("breakdown_j", "breakdown_mm2") or not isinstance(v, dict) or not v:
                continue
            if all(_isnum(x) or isinstance(x, str) for x in v.values()):
                body += (f"<details><summary>{_e(name)}.{_e(k)}</summary>"
                         + _kv((str(x), _keyed(k, y)) for x, y in v.items()) + "</details>")
    return _section("energy", "Energy and area", body)


def _sec_roofline(d: dict[str, Any], arch: dict[str, Any]) -> tuple[str, str, str] | None:
    clock = _f(arch.get("clock_ghz") or d.get("clock_ghz"))
    peak_ops = 2 * _f(arch.get("peak_macs_per_cycle")) * clock * 1e9
    bw = _f(arch.get("dram_bandwidth_gbps")) * 1e9
    clock_hz = clock * 1e9
    ops = [o for o in d.get("ops") or [] if isinstance(o, dict)]
    try:  # one point per IR op: an attention op's per-head pieces are one point
        from accelsim.report.layers import aggregate_ops

        ops = aggregate_ops(ops)
    except (KeyError, TypeError, ValueError):  # a hand-made result.json without start/end cycles
        pass
    pts: list[dict[str, Any]] = []
    for o in ops:
        work, kind = _op_work(o)
        t = _op_seconds(o, clock_hz)
        if work <= 0 or t <= 0:
            continue
        db = _f(o.get("dram_bytes"))
        mod = str(o.get("module") or "")
        label = f"{mod} ({str(o.get('kind') or '').split('.')[0]})" if mod else str(o.get("name"))
        pts.append({"name": str(o.get("name")), "label": label, "work": work, "t": t, "db": db, "kind": kind,
                    "cycles": _f(o.get("cycles"))})
    if not pts or peak_ops <= 0:
        return None
    finite = [p["work"] / p["db"] for p in pts if p["db"] > 0]
    ridge = peak_ops / bw if bw > 0 else 1.0
    zero_x = max(finite + [ridge]) * 2  # ops with no DRAM traffic sit right of everything
    top = sorted(pts, key=lambda p: (-p["cycles"], p["name"]))[:6]
    top_names = {id(p) for p in top}
    points = []
    for p in pts:
        x = p["work"] / p["db"] if p["db"] > 0 else zero_x
        y = p["work"] / p["t"]
        title = (f"{p['name']} in {p['label']}: {x:.3g} op/B{' (no DRAM bytes)' if p['db'] <= 0 else ''}, "
                 f"{_si(y, 'op/s')}, {int(p['cycles']):,} cycles")
        points.append({"x": x, "y": y, "colour": UNIT_COLOURS[p["kind"]], "zero_bytes": p["db"] <= 0,
                       "title": title, "label": p["label"] if id(p) in top_names else ""})
    extra = []
    if _isnum(arch.get("vector_ops_per_cycle")):
        extra.append(("vector peak", _f(arch["vector_ops_per_cycle"]) * clock_hz))
    svg = svg_roofline(points, peak_ops, bw, extra)
    src = arch.get("dram_bandwidth_source", "arch")
    note = (f"x: 2·MACs (or elements) per DRAM byte moved for the op; y: 2·MACs / (cycles / clock). "
            f"Roofs: peak {_si(peak_ops, 'op/s')} (2 × {_int(arch.get('peak_macs_per_cycle'))} MACs/cycle × "
            f"{_g(clock)} GHz)"
            + (f", DRAM {_g(bw / 1e9)} GB/s" + (f" ({_e(src)})" if src != "arch" else "") if bw > 0 else
               ", DRAM bandwidth unknown")
            + f". {len(points)} ops plotted, one per IR op (labels: module (kind) of the 6 longest); "
              "hollow markers had no DRAM traffic.")
    return _section("roofline", "Roofline", svg, note)


def _sec_check(d: dict[str, Any]) -> tuple[str, str, str] | None:
    c = d.get("check")
    if not isinstance(c, dict):
        return None
    passed = c.get("passed")
    badge = (f'<span class="badge {"pass" if passed else "fail"}">{"PASSED" if passed else "FAILED"}</span>'
             if isinstance(passed, bool) else "")
    rows = [(k, _e(_g(v) if _isnum(v) else v)) for k, v in c.items()
            if k != "passed" and (_isnum(v) or isinstance(v, str))]
    body = badge + (_kv(rows) if rows else "")
    for k, v in c.items():
        if isinstance(v, list) and v and all(isinstance(r, dict) for r in v):
            body += f"<h3>{_e(k)}</h3>" + _generic_table(v, table_id=f"check-{k}")
        elif isinstance(v, dict) and v and all(isinstance(r, dict) for r in v.values()):
            body += f"<h3>{_e(k)}</h3>" + _generic_table([{"name": n, **r} for n, r in v.items()],
                                                       table_id=f"check-{k}")
    return _section("check", "Functional check", body)


def _matrix(am: Any) -> tuple[list[str], list[str], list[list[float]]] | None:
    """Normalise an access matrix: dict-of-dicts, {roles, partitions, bytes} or records."""
    if isinstance(am, dict):
        if isinstance(am.get("roles"), list) and isinstance(am.get("partitions"), list):
            vals = am.get("bytes") or am.get("matrix") or am.get("values")
            if isinstance(vals, list):
                rows = [str(r) for r in am["roles"]]
                cols = [str(p) for p in am["partitions"]]
                m = [[_f(v) for v in (vals[i] if i < len(vals) and isinstance(vals[i], list) else [])]
                     for i in range(len(rows))]
                m = [(r + [0.0] * len(cols))[: len(cols)] for r in m]
                return rows, cols, m
        if am and all(isinstance(v, dict) for v in am.values()):
            rows = [str(r) for r in am]
            cols = []
            for v in am.values():
                for p in v:
                    if str(p) not in cols:
                        cols.append(str(p))
            m = [[_f(am[r].get(c)) for c in cols] for r in am]
            return rows, cols, m
    if isinstance(am, list) and am and all(isinstance(r, dict) for r in am):
        rows, cols = [], []
        cells: dict[tuple[str, str], float] = {}
        for r in am:
            role, part = str(r.get("role", "")), str(r.get("partition", ""))
            if role not in rows:
                rows.append(role)
            if part not in cols:
                cols.append(part)
            cells[(role, part)] = cells.get((role, part), 0.0) + _f(r.get("bytes"))
        return rows, cols, [[cells.get((a, b), 0.0) for b in cols] for a in rows]
    return None


def _sec_access_rw(am: dict[str, Any], d: dict[str, Any]) -> tuple[str, str, str]:
    """accelsim's residual access matrix: {rule role: {partition: {read, write}}} bytes."""
    cols: list[str] = sorted({str(p) for row in am.values() for p in row})
    vmax = max((_f(c.get("read")) + _f(c.get("write")) for row in am.values() for c in row.values()),
               default=0.0) or 1.0
    head = "<tr><th>role \\ partition</th>" + "".join(f"<th>{_e(c)}</th>" for c in cols) + "</tr>"
    trs = []
    for role, row in am.items():
        tds = []
        for c in cols:
            cell = row.get(c)
            if not cell:
                tds.append("<td class='num'>·</td>")
                continue
            rd, wr = _f(cell.get("read")), _f(cell.get("write"))
            tds.append(
                f'<td class="num heat" style="background:rgba(78,121,167,{0.08 + 0.72 * (rd + wr) / vmax:.3f})" '
                f'title="{_e(role)} on {_e(c)}: read {int(rd):,} B, write {int(wr):,} B">'
                f'{_e(_bytes(rd))} / {_e(_bytes(wr))}</td>')
        trs.append(f"<tr><th>{_e(role)}</th>{''.join(tds)}</tr>")
    viol = d.get("policy_violations") or []
    note = (f"<p class='bad'>{len(viol)} policy violation(s): " + "; ".join(
        _e(f"{v.get('access')} of {v.get('partition')} by {v.get('module')}") for v in viol[:20]) + "</p>"
            if viol else "<p>No access-policy violations.</p>")
    body = f'<table class="data matrix"><thead>{head}</thead><tbody>{"".join(trs)}</tbody></table>{note}'
    return _section("access", "Residual access matrix", body,
                    "Bytes read / written in each residual partition, per policy role "
                    f"({int(_f(d.get('policy_checks'))):,} tile checks by the controller).")


def _sec_access(d: dict[str, Any]) -> tuple[str, str, str] | None:
    am = d.get("access_matrix")
    if am is None:
        return None
    if isinstance(am, dict) and am and all(
        isinstance(row, dict) and all(isinstance(c, dict) and "read" in c for c in row.values())
        for row in am.values()
    ):
        return _sec_access_rw(am, d)
    norm = _matrix(am)
    if norm is None:
        import json

        return _section("access", "SRAM access matrix",
                        f"<pre>{_e(json.dumps(am, indent=1, sort_keys=True)[:20000])}</pre>")
    rows, cols, m = norm
    vmax = max((v for r in m for v in r), default=0.0) or 1.0
    head = "<tr><th>role \\ partition</th>" + "".join(f"<th>{_e(c)}</th>" for c in cols) + "<th>total</th></tr>"
    trs = []
    for name, r in zip(rows, m):
        tds = "".join(
            f'<td class="num heat" style="background:rgba(78,121,167,{0.08 + 0.72 * v / vmax:.3f})" '
            f'title="{_e(name)} in {_e(c)}: {int(v):,} B">{_e(_bytes(v)) if v else "·"}</td>'
            for c, v in zip(cols, r))
        trs.append(f"<tr><th>{_e(name)}</th>{tds}<td class='num'><b>{_e(_bytes(sum(r)))}</b></td></tr>")
    tot = "".join(f"<td class='num'><b>{_e(_bytes(sum(r[j] for r in m)))}</b></td>" for j in range(len(cols)))
    trs.append(f"<tr><th>total</th>{tot}<td class='num'><b>{_e(_bytes(sum(map(sum, m))))}</b></td></tr>")
    body = f'<table class="data matrix"><thead>{head}</thead><tbody>{"".join(trs)}</tbody></table>'
    return _section("access", "SRAM access matrix", body, "Bytes each operand role moved in each SRAM partition.")


def _sec_ops(d: dict[str, Any]) -> tuple[str, str, str] | None:
    ops = [o for o in d.get("ops") or [] if isinstance(o, dict)]
    if not ops:
        return None
    total = _f(d.get("total_cycles")) or 1.0
    rows = []
    for i, o in enumerate(ops):
        work, _ = _op_work(o)
        db = _f(o.get("dram_bytes"))
        ai = work / db if db > 0 and work > 0 else None
        cyc = o.get("cycles")
        rows.append([
            (i, str(i)), (o.get("name"), _e(o.get("name"))), (o.get("kind"), _e(o.get("kind"))),
            (o.get("module"), _e(o.get("module"))), (o.get("unit"), _e(o.get("unit"))),
            (o.get("start_cycle"), _int(o.get("start_cycle"))), (o.get("end_cycle"), _int(o.get("end_cycle"))),
            (cyc, _int(cyc)), (_f(cyc) / total, _pct(_f(cyc) / total)),
            (o.get("macs"), _int(o.get("macs"))), (db, _bytes(db)),
            (ai if ai is not None else -1, _g(ai) if ai is not None else "—"),
            (o.get("utilization"), _util_bar(o.get("utilization"))),
            (o.get("tiles"), _int(o.get("tiles"))),
            # what the mapping chose, and the cost model's cycles beside the simulated ones
            (o.get("mapping"), _e(o.get("mapping") or "")), (o.get("residency"), _e(o.get("residency") or "")),
            (o.get("predicted_cycles") if _isnum(o.get("predicted_cycles")) else -1,
             _int(o.get("predicted_cycles")) if _isnum(o.get("predicted_cycles")) else "—"),
            (o.get("bound"), _e(o.get("bound") or "")),
            (o.get("note"), _e(o.get("note", ""))),
        ])
    cols = [("#", "num"), ("op", "text wrap"), ("kind", "text"), ("module", "text wrap"), ("unit", "text"),
            ("start", "num"), ("end", "num"), ("cycles", "num"), ("% of latency", "num"), ("MACs", "num"),
            ("DRAM bytes", "num"), ("op/B", "num"), ("utilization", "num"), ("tiles", "num"),
            ("mapping", "text wrap"), ("residency", "text wrap"), ("predicted cycles", "num"), ("bound", "text"),
            ("note", "text wrap")]
    body = ('<input type="search" class="filter" data-table="ops-table" placeholder="filter ops…" '
            'aria-label="filter ops">' + _table(cols, rows, table_id="ops-table"))
    return _section("ops", f"Per-op table ({len(ops)} ops)", body, "Click a column header to sort.")


# ----------------------------------------------------------------------------- page

CSS = """
:root{--fg:#1d232b;--muted:#6b7480;--line:#d9dee5;--bg:#fff;--panel:#f6f8fa;--acc:#4e79a7}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--fg);background:var(--bg)}
header{background:#1f2d3d;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:22px;font-weight:600}
header .sub{color:#c8d2dc;margin-top:4px}
nav{position:sticky;top:0;background:#fff;border-bottom:1px solid var(--line);padding:6px 28px;z-index:5}
nav a{color:var(--acc);text-decoration:none;margin-right:16px;font-weight:500}
main{max-width:1240px;margin:0 auto;padding:8px 28px 40px}
section{margin-top:26px}
h2{font-size:19px;border-bottom:2px solid var(--line);padding-bottom:4px;margin:0 0 10px}
h3{font-size:15px;margin:18px 0 6px}
.note{color:var(--muted);margin:4px 0 10px;font-size:13px}
.muted{color:var(--muted)}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:6px 0 16px}
.card{flex:1 1 180px;background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:10px 14px}
.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:22px;font-weight:600;margin:2px 0}
.card .s{color:var(--muted);font-size:12px}
table{border-collapse:collapse}
table.kv th{text-align:left;font-weight:500;color:var(--muted);padding:3px 18px 3px 0;vertical-align:top}
table.kv td{padding:3px 0;font-variant-numeric:tabular-nums}
table.data{width:100%;font-size:13px;margin:4px 0}
table.data th,table.data td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;white-space:nowrap}
table.data thead th{background:var(--panel);position:sticky;top:33px;font-weight:600}
table.sortable thead th{cursor:pointer;user-select:none}
table.sortable thead th.asc::after{content:" ▲";font-size:10px}
table.sortable thead th.desc::after{content:" ▼";font-size:10px}
table.data td.num,table.data th.num{text-align:right;font-variant-numeric:tabular-nums}
table.data td.wrap{white-space:normal;overflow-wrap:anywhere;min-width:90px}
table.data tr.fail td{background:#fde8e8}
table.matrix td.heat{min-width:90px}
.ubar{display:inline-block;width:60px;height:8px;background:#e6eaef;border-radius:4px;margin-right:6px;vertical-align:middle;overflow:hidden}
.ubar span{display:block;height:100%;background:var(--acc)}
.uval{display:inline-block;min-width:48px;text-align:right}
.badge{display:inline-block;padding:3px 12px;border-radius:12px;font-weight:700;margin-bottom:8px}
.badge.pass,.ok{color:#1e7b34}.badge.pass{background:#dcf3e2}
.badge.fail,.bad{color:#b42318}.badge.fail{background:#fde8e8}
.scroll{overflow-x:auto}
svg.chart{max-width:100%;height:auto;display:block;margin:6px 0}
svg .track{fill:#f1f3f6}
svg .grid{stroke:#e3e7ec;stroke-width:1}
svg .plotbg{fill:#fbfcfd;stroke:#cfd6de}
svg text{font:12px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;fill:#333}
svg text.tick{font-size:11px;fill:#666}
svg text.axis{font-size:12px;fill:#444;font-weight:600}
svg text.inbar{fill:#fff;font-weight:600}
svg text.ptlbl{font-size:11px;fill:#222}
svg text.rooflbl{font-size:12px;fill:#b42318;font-weight:600}
svg .roof{fill:none;stroke:#b42318;stroke-width:2.2}
svg .roof2{stroke:#f28e2b;stroke-width:1.6;stroke-dasharray:6 4}
svg .ridge{stroke:#b42318;stroke-width:1;stroke-dasharray:3 4}
input.filter{margin:4px 0 8px;padding:5px 8px;width:280px;border:1px solid var(--line);border-radius:6px;font:inherit}
details{margin:8px 0}
pre{background:var(--panel);padding:10px;overflow:auto}
footer{color:var(--muted);font-size:12px;text-align:center;padding:20px}
"""

# Installed first: counts every error event on the page (data-js-errors on <html>).
ERROR_HOOK = """(function(){var root=document.documentElement,n=0;root.setAttribute('data-js-errors','0');
function bump(){n++;root.setAttribute('data-js-errors',String(n));}
window.addEventListener('error',bump,true);window.addEventListener('unhandledrejection',bump);
document.addEventListener('securitypolicyviolation',bump);
var ce=console.error;console.error=function(){bump();return ce.apply(console,arguments);};})();"""

PAGE_JS = """(function(){
function key(td){var v=td.getAttribute('data-v')||'';
  return /^[-+]?[0-9.]+([eE][-+]?[0-9]+)?$/.test(v)?parseFloat(v):v.toLowerCase();}
function cmp(x,y){if(typeof x!==typeof y)return typeof x==='number'?-1:1;return x<y?-1:x>y?1:0;}
document.querySelectorAll('table.sortable').forEach(function(t){
  var ths=t.tHead?t.tHead.rows[0].cells:[];
  Array.prototype.forEach.call(ths,function(th,i){th.title='click to sort';th.addEventListener('click',function(){
    var asc=!th.classList.contains('asc');
    Array.prototype.forEach.call(ths,function(h){h.classList.remove('asc','desc');});
    th.classList.add(asc?'asc':'desc');
    var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows);
    rows.sort(function(a,b){return cmp(key(a.cells[i]),key(b.cells[i]))*(asc?1:-1);});
    rows.forEach(function(r){body.appendChild(r);});
  });});
});
document.querySelectorAll('input.filter').forEach(function(inp){
  var t=document.getElementById(inp.getAttribute('data-table'));if(!t)return;
  inp.addEventListener('input',function(){var q=inp.value.toLowerCase();
    Array.prototype.forEach.call(t.tBodies[0].rows,function(r){
      r.style.display=(!q||r.textContent.toLowerCase().indexOf(q)>=0)?'':'none';});});
});
if(location.hash==='#selftest'){
  /* Used by the test suite: sort every column both ways and check the order, try the filter. */
  var bad=[];
  document.querySelectorAll('table.sortable').forEach(function(t,ti){
    var ths=t.tHead.rows[0].cells,orig=Array.prototype.slice.call(t.tBodies[0].rows);
    for(var i=0;i<ths.length;i++){for(var pass=0;pass<2;pass++){ths[i].click();
      var rows=t.tBodies[0].rows,dir=pass?-1:1;
      for(var r=1;r<rows.length;r++){
        if(cmp(key(rows[r-1].cells[i]),key(rows[r].cells[i]))*dir>0){bad.push(ti+':'+i);break;}}}}
    orig.forEach(function(r){t.tBodies[0].appendChild(r);});
    Array.prototype.forEach.call(ths,function(h){h.classList.remove('asc','desc');});
  });
  document.querySelectorAll('input.filter').forEach(function(inp){
    var t=document.getElementById(inp.getAttribute('data-table'));var q=t.tBodies[0].rows[0].cells[1].textContent;
    inp.value=q;inp.dispatchEvent(new Event('input'));
    var shown=Array.prototype.filter.call(t.tBodies[0].rows,function(r){return r.style.display!=='none';}).length;
    if(shown<1||shown>t.tBodies[0].rows.length)bad.push('filter');inp.value='';inp.dispatchEvent(new Event('input'));
  });
  document.documentElement.setAttribute('data-selftest',bad.length?'fail '+bad.join(','):'ok');
}
document.documentElement.setAttribute('data-ready','1');
})();"""

CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
       "font-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'")


def render_html(data: dict[str, Any]) -> str:
    """The report page for one run's ``result.json`` data, as one self-contained HTML string."""
    if not isinstance(data, dict):
        raise TypeError("render_html expects the result.json dict")
    arch = arch_summary(data)
    sections = [
        _sec_summary(data, arch),
        _sec_inference(data),
        _sec_gpu(data),
        _sec_layers(data),
        _sec_util(data),
        _sec_energy(data),
        _sec_roofline(data, arch),
        _sec_check(data),
        _sec_access(data),
        _sec_ops(data),
    ]
    present = [s for s in sections if s is not None]
    nav = "".join(f'<a href="#{_e(sid)}">{_e(title.split(" (")[0])}</a>' for sid, title, _ in present)
    title = f"accelsim: {data.get('workload', '?')} on {data.get('arch', '?')}"
    sub = (f"{_time(data.get('latency_s'))} · {_int(data.get('total_cycles'))} cycles @ "
           f"{_g(data.get('clock_ghz'))} GHz · mode {(data.get('options') or {}).get('mode', 'n/a')}")
    check = data.get("check")
    if isinstance(check, dict) and isinstance(check.get("passed"), bool):
        sub += " · check " + ("passed" if check["passed"] else "FAILED")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n"
        f"<script>{ERROR_HOOK}</script>\n"
        f"<style>{CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{_e(title)}</h1><div class=\"sub\">{_e(sub)}</div></header>\n"
        f"<nav>{nav}</nav>\n<main>\n"
        + "\n".join(body for _, _, body in present)
        + f"\n</main>\n<footer>generated by accelsim {_e(data.get('accelsim_version', ''))} "
        "· self-contained, works offline</footer>\n"
        f"<script>{PAGE_JS}</script>\n</body>\n</html>\n"
    )


def write_html(data: dict[str, Any], path: str | Path) -> Path:
    """Render ``data`` and write the page to ``path`` (parent folders are created)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(render_html(data), encoding="utf-8")
    return p
