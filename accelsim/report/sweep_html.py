"""A sweep's report page: the Pareto plot with every objective shown, and the results table.

``write_sweep_html(out_dir / "report.html", frame, objectives, parameters, title, summary)``
is called by the sweep runner after results.csv; ``accelsim report SWEEP_DIR`` re-renders it from
``results.csv`` and the objectives stored in ``sweep.sqlite``. Self-contained like the run
report (inline SVG, CSS and script; no external fetch).

The plot is a scatter matrix: one panel per pair of objectives (one panel of objective vs point
index when there is a single objective), every successful point in grey, the Pareto front in
red, each point's parameters in its tooltip. Axes are logarithmic when a metric spans more than
two decades. The table lists every point (sortable, filterable), front rows highlighted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from accelsim.report import html as H

__all__ = ["render_sweep_html", "write_sweep_html"]

_UNITS = {"latency_s": "s", "energy_j": "J", "power_w": "W", "area_mm2": "mm²", "total_cycles": "cycles",
          "dram_bytes": "bytes", "mac_utilization": "", "speedup_vs_gpu": "×", "energy_ratio_vs_gpu": "×"}


def _label(metric: str, direction: str) -> str:
    unit = _UNITS.get(metric, "")
    return f"{metric}{f' ({unit})' if unit else ''} [{direction}]"


def _fmt(metric: str, v: float) -> str:
    unit = _UNITS.get(metric, "")
    if metric.endswith("_s"):
        return H._time(v)
    if unit in ("J", "W"):
        return H._si(v, unit)
    if unit == "bytes":
        return H._bytes(v)
    if metric == "mac_utilization":
        return H._pct(v)
    return H._g(v) + (f" {unit}" if unit else "")


def _axis(vals: Sequence[float]) -> tuple[float, float, bool]:
    lo, hi = min(vals), max(vals)
    log = lo > 0 and hi / lo > 100
    if log:
        return math.log10(lo) - 0.05, math.log10(hi) + 0.05, True
    pad = (hi - lo) * 0.06 or abs(hi) * 0.06 or 1.0
    return lo - pad, hi + pad, False


def _panel(pts: list[dict[str, Any]], xm: str, ym: str | None, xd: str, yd: str, w: int = 380, h: int = 300) -> str:
    left, top, pw, ph = 62, 10, w - 74, h - 52
    xs = [p[xm] for p in pts]
    ys = [p[ym] for p in pts] if ym else [float(p["index"]) for p in pts]
    x0, x1, xlog = _axis(xs)
    y0, y1, ylog = _axis(ys)

    def X(v: float) -> float:
        v = math.log10(v) if xlog else v
        return left + pw * (v - x0) / ((x1 - x0) or 1.0)

    def Y(v: float) -> float:
        v = math.log10(v) if ylog else v
        return top + ph - ph * (v - y0) / ((y1 - y0) or 1.0)

    parts = [f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="plotbg"/>']
    for k in range(5):
        fx = x0 + (x1 - x0) * k / 4
        fy = y0 + (y1 - y0) * k / 4
        vx = 10**fx if xlog else fx
        vy = 10**fy if ylog else fy
        px, py = left + pw * k / 4, top + ph - ph * k / 4
        parts.append(f'<line x1="{px:.1f}" y1="{top}" x2="{px:.1f}" y2="{top + ph}" class="grid"/>')
        parts.append(f'<line x1="{left}" y1="{py:.1f}" x2="{left + pw}" y2="{py:.1f}" class="grid"/>')
        parts.append(H._t(px, top + ph + 13, _fmt(xm, vx), "middle", "tick"))
        parts.append(H._t(left - 4, py + 4, _fmt(ym, vy) if ym else f"{vy:.0f}", "end", "tick"))
    parts.append(H._t(left + pw / 2, h - 8, _label(xm, xd) + (" (log)" if xlog else ""), "middle", "axis"))
    ylab = (_label(ym, yd) if ym else "point index") + (" (log)" if ylog else "")
    parts.append(H._t(12, top + ph / 2, ylab, "middle", "axis", f' transform="rotate(-90 12 {top + ph / 2:.1f})"'))
    front = sorted((p for p in pts if p["pareto"]), key=lambda p: p[xm])
    for p in sorted(pts, key=lambda p: p["pareto"]):  # front drawn last, on top
        y = p[ym] if ym else float(p["index"])
        col, r = ("#b42318", 4.5) if p["pareto"] else ("#9aa3ad", 3.2)
        parts.append(f'<circle cx="{X(p[xm]):.1f}" cy="{Y(y):.1f}" r="{r}" fill="{col}" fill-opacity="0.85">'
                     f"<title>{H._e(p['title'])}</title></circle>")
    if ym and len(front) > 1:
        d = "M" + "L".join(f"{X(p[xm]):.1f},{Y(p[ym]):.1f}" for p in front)
        parts.append(f'<path d="{d}" fill="none" stroke="#b42318" stroke-width="1.2" stroke-dasharray="4 3"/>')
    return H._svg(w, h, "".join(parts), f"{xm} vs {ym or 'index'}")


def render_sweep_html(frame: Any, objectives: Sequence[tuple[str, str]], parameters: Sequence[str], title: str,
                      summary: str = "") -> str:
    """The page for a sweep: ``frame`` is results.csv as a DataFrame (with ``pareto``,
    ``status``, ``index``, ``workload``); ``objectives`` (metric, "min"/"max") pairs."""
    rows = frame.to_dict("records") if hasattr(frame, "to_dict") else list(frame)
    objs = [(m, d) for m, d in objectives if any(m in r for r in rows)]
    ok = [r for r in rows if r.get("status") == "ok" and all(H._isnum(r.get(m)) for m, _ in objs)]
    pts = []
    for r in ok:
        params = ", ".join(f"{p}={r.get(p)}" for p in parameters)
        vals = ", ".join(f"{m} {_fmt(m, float(r[m]))}" for m, _ in objs)
        pts.append({**{m: float(r[m]) for m, _ in objs}, "index": r.get("index"), "pareto": bool(r.get("pareto")),
                    "title": f"#{r.get('index')} {r.get('workload', '')}: {params}; {vals}"})
    panels = []
    if pts and len(objs) == 1:
        panels.append(_panel(pts, objs[0][0], None, objs[0][1], ""))
    for i in range(len(objs)):
        for j in range(i + 1, len(objs)):
            if pts:
                panels.append(_panel(pts, objs[i][0], objs[j][0], objs[i][1], objs[j][1]))
    n_front = sum(1 for p in pts if p["pareto"])
    plot = ('<div class="panels">' + "".join(panels) + "</div>") if panels else "<p>No successful points to plot.</p>"
    cols = [c for c in (["index", "workload", *parameters, *(m for m, _ in objs)]
                        + [c for c in ("total_cycles", "latency_s", "energy_j", "power_w", "area_mm2",
                                       "mac_utilization", "dram_bytes", "status", "pareto", "error")
                           if c not in {m for m, _ in objs}]) if any(c in r for r in rows)]
    trs = []
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c)
            if isinstance(v, float) and math.isnan(v):
                v = None
            if H._isnum(v) and c in _UNITS:
                cells.append((v, H._e(_fmt(c, float(v)))))
            else:
                cells.append(H._cell_text(v if v is not None else ""))
        trs.append(cells)
    flags = ["front" if r.get("pareto") is True else ("fail" if r.get("status") != "ok" else "") for r in rows]
    def numeric(c: str) -> bool:
        vals = [r.get(c) for r in rows]
        blank = [v is None or v == "" or (isinstance(v, float) and math.isnan(v)) for v in vals]
        return any(not b for b in blank) and all(b or H._isnum(v) for v, b in zip(vals, blank))

    head = [(f"{c} ({_UNITS[c]})" if _UNITS.get(c) else c, "num" if numeric(c) else "text") for c in cols]
    table = ('<input type="search" class="filter" data-table="points" placeholder="filter points…" '
             'aria-label="filter points">' + H._table(head, trs, table_id="points", row_classes=flags))
    obj_text = ", ".join(f"{m} ({'lower' if d == 'min' else 'higher'} is better)" for m, d in objs)
    body = (f'<section id="pareto"><h2>Pareto front ({n_front} of {len(pts)} successful points)</h2>'
            f'<p class="note">Objectives: {H._e(obj_text)}. One panel per pair of objectives; red: the Pareto '
            "front (no other point is at least as good in every objective and better in one), grey: the other "
            "points. Hover a point for its parameters.</p>" + plot + "</section>"
            f'<section id="points"><h2>All points ({len(rows)})</h2><p class="note">Also in results.csv '
            "(pareto.csv: the front). Click a column header to sort.</p>" + table + "</section>")
    css = H.CSS + "table.data tr.front td{background:#fdecea}.panels{display:flex;flex-wrap:wrap;gap:8px}"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{H.CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{H._e('accelsim sweep: ' + title)}</title>\n<script>{H.ERROR_HOOK}</script>\n<style>{css}</style>\n"
        "</head>\n<body>\n"
        f"<header><h1>{H._e('accelsim sweep: ' + title)}</h1><div class=\"sub\">{H._e(summary)}</div></header>\n"
        f"<main>\n{body}\n</main>\n<footer>generated by accelsim · self-contained, works offline</footer>\n"
        f"<script>{H.PAGE_JS}</script>\n</body>\n</html>\n"
    )


def write_sweep_html(path: str | Path, frame: Any, objectives: Sequence[Any], parameters: Sequence[str], title: str,
                     summary: str = "") -> Path:
    """Write the page; ``objectives`` are sweep Objective models or (metric, direction) pairs."""
    pairs = [(o.metric, o.direction) if hasattr(o, "metric") else (str(o[0]), str(o[1])) for o in objectives]
    p = Path(path)
    p.write_text(render_sweep_html(frame, pairs, parameters, title, summary), encoding="utf-8")
    return p


def render_sweep_dir(out_dir: str | Path) -> tuple[str, str]:
    """(page, title) for a sweep output folder: results.csv plus the objectives stored in
    sweep.sqlite (``accelsim report SWEEP_DIR``)."""
    import pandas as pd

    from accelsim.sweep.store import Store

    d = Path(out_dir)
    frame = pd.read_csv(d / "results.csv")
    with Store(d / "sweep.sqlite") as st:
        meta = st.get_meta("sweep") or {}
    spec = meta.get("spec") or {}
    objectives = [(o["metric"], o.get("direction", "min")) for o in spec.get("objectives", [])]
    parameters = [c for c in frame.columns if c in (spec.get("parameters") or {})]
    title = str(meta.get("name") or d.name)
    return render_sweep_html(frame, objectives, parameters, title, f"{len(frame)} points (from {d})"), title
