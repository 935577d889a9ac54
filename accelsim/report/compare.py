"""``accelsim compare RESULT_A RESULT_B``: two runs side by side, metric by metric and per layer.

For two architectures (the same workload on each) or two commits (the same run before and
after a change). Inputs are result folders (``accelsim run --out DIR``) or ``result.json``
files. :func:`compare` is pure (two result dicts in, one JSON-able dict out); the terminal
(:func:`print_compare`) and HTML (:func:`render_compare_html`) views render it.

Per metric: A, B, ``ratio`` = B / A and ``change`` = (B - A) / A (None when A is 0), and a
``verdict`` for metrics with a direction (``better`` / ``worse`` / ``same`` for B relative to A;
``same`` when the relative change is under 1e-9). Per layer (joined by layer name, see
:mod:`accelsim.report.layers`): cycles, share, energy, DRAM bytes and GPU time on each side;
layers present in only one run are listed with the other side empty. A result without a
``layers`` list (written by an older accelsim) is rolled up from its ``ops``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click

from accelsim.cli import _console, handle_errors
from accelsim.report.cli import ReportError, load_result_json

__all__ = ["METRICS", "compare", "compare_command", "print_compare", "render_compare_html"]

#: (key path in result.json, label, unit, direction: "lower" / "higher" / "" for none)
METRICS: list[tuple[str, str, str, str]] = [
    ("latency_s", "latency", "s", "lower"),
    ("total_cycles", "total cycles", "cycles", "lower"),
    ("clock_ghz", "clock", "GHz", ""),
    ("energy_j", "energy", "J", "lower"),
    ("energy.per_token_j", "energy per token", "J", "lower"),
    ("power_w", "average power", "W", ""),
    ("area_mm2", "area", "mm²", "lower"),
    ("macs", "MACs", "MACs", ""),
    ("peak_macs_per_cycle", "peak MACs per cycle", "MACs/cycle", ""),
    ("array_utilization.mac_utilization", "array MAC utilization", "%", "higher"),
    ("dram_read_bytes", "DRAM read", "bytes", "lower"),
    ("dram_write_bytes", "DRAM write", "bytes", "lower"),
    ("dma_stall_cycles", "DMA stall", "cycles", "lower"),
    ("bank_conflict_stall_cycles", "bank-conflict stall", "cycles", "lower"),
    ("sram_bandwidth_stall_cycles", "SRAM-bandwidth stall", "cycles", "lower"),
    ("timeline_cycles.compute", "timeline: compute", "cycles", ""),
    ("timeline_cycles.memory_stall", "timeline: memory stall", "cycles", "lower"),
    ("gpu.latency_s", "GPU latency", "s", ""),
    ("speedup_vs_gpu", "speedup vs GPU", "x", "higher"),
    ("energy_ratio_vs_gpu", "GPU energy / ASIC energy", "x", "higher"),
    ("events", "simulated events", "events", ""),
]


def _get(d: Any, path: str) -> Any:
    for k in path.split("."):
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        return None
    return float(x)


def _layers(d: dict[str, Any]) -> list[dict[str, Any]]:
    ls = d.get("layers")
    if isinstance(ls, list) and all(isinstance(r, dict) and "layer" in r for r in ls):
        return ls
    ops = d.get("ops")
    if not isinstance(ops, list) or not ops:
        return []
    from accelsim.report.layers import layer_rollup

    try:
        return layer_rollup(ops, peak_macs_per_cycle=int(_num(d.get("peak_macs_per_cycle")) or 0))
    except (KeyError, TypeError, ValueError) as e:
        raise ReportError(f"ops of {d.get('workload')} on {d.get('arch')} are malformed ({e})") from None


def _label(d: dict[str, Any]) -> str:
    return f"{d.get('workload')} on {d.get('arch')}"


def compare(a: dict[str, Any], b: dict[str, Any], *, names: tuple[str, str] = ("A", "B")) -> dict[str, Any]:
    """Compare two result.json dicts (see the module docstring for the fields)."""
    notes: list[str] = []
    for key, what in (("workload", "workloads"), ("arch", "architectures"), ("accelsim_version", "accelsim versions")):
        if a.get(key) != b.get(key):
            notes.append(f"different {what}: {a.get(key)} vs {b.get(key)}")
    if (a.get("options") or {}) != (b.get("options") or {}):
        notes.append(f"different run options: {json.dumps(a.get('options'), sort_keys=True)} vs "
                     f"{json.dumps(b.get('options'), sort_keys=True)}")
    ga, gb = (a.get("gpu") or {}).get("profile"), (b.get("gpu") or {}).get("profile")
    if ga != gb:
        notes.append(f"different GPU profiles: {ga} vs {gb}")
    metrics = []
    for path, label, unit, direction in METRICS:
        va, vb = _num(_get(a, path)), _num(_get(b, path))
        if va is None and vb is None:
            continue
        ratio = vb / va if va not in (None, 0.0) and vb is not None else None
        change = (vb - va) / abs(va) if va not in (None, 0.0) and vb is not None else None
        verdict = ""
        if direction and va is not None and vb is not None:
            rel = abs(vb - va) / max(abs(va), abs(vb), 1e-300)
            if rel < 1e-9:
                verdict = "same"
            else:
                verdict = "better" if (vb < va) == (direction == "lower") else "worse"
        metrics.append({"metric": path, "label": label, "unit": unit, "a": va, "b": vb, "ratio": ratio,
                        "change": change, "direction": direction, "verdict": verdict})
    la = {r["layer"]: r for r in _layers(a)}
    lb = {r["layer"]: r for r in _layers(b)}
    order = list(la) + [k for k in lb if k not in la]
    layers = []
    for name in order:
        ra, rb = la.get(name), lb.get(name)
        row: dict[str, Any] = {"layer": name}
        for k in ("cycles", "share", "energy_j", "dram_bytes", "macs", "gpu_time_s"):
            va = _num(ra.get(k)) if ra else None
            vb = _num(rb.get(k)) if rb else None
            row[f"a_{k}"], row[f"b_{k}"] = va, vb
        ca, cb = row["a_cycles"], row["b_cycles"]
        row["cycles_ratio"] = cb / ca if ca and cb is not None else None
        layers.append(row)
    return {
        "format": "accelsim.compare/1",
        "names": list(names),
        "a": {"label": _label(a), "arch": a.get("arch"), "workload": a.get("workload"),
              "accelsim_version": a.get("accelsim_version")},
        "b": {"label": _label(b), "arch": b.get("arch"), "workload": b.get("workload"),
              "accelsim_version": b.get("accelsim_version")},
        "notes": notes,
        "metrics": metrics,
        "layers": layers,
    }


# --------------------------------------------------------------------------------------------- formatting


def fmt_value(v: float | None, unit: str) -> str:
    """A value with its unit, scaled for reading."""
    from accelsim.report.terminal import fmt_bytes, fmt_energy, fmt_time

    if v is None:
        return "—"
    if unit == "s":
        return fmt_time(v)
    if unit == "J":
        return fmt_energy(v)
    if unit == "bytes":
        return fmt_bytes(v)
    if unit == "%":
        return f"{v:.1%}"
    if unit == "x":
        return f"{v:.3g}x"
    if unit in ("W", "mm²", "GHz"):
        return f"{v:.4g} {unit}"
    if float(v).is_integer():
        return f"{int(v):,} {unit}"
    return f"{v:.4g} {unit}"


def _fmt_ratio(r: float | None) -> str:
    return "—" if r is None else f"{r:.3f}x"


def _fmt_change(c: float | None) -> str:
    return "—" if c is None else f"{c:+.1%}"


def print_compare(cmp: dict[str, Any], console: Any, n_layers: int = 20) -> None:
    from rich.markup import escape
    from rich.table import Table

    na, nb = cmp["names"]
    console.print(f"[bold]{na}[/]: {escape(cmp['a']['label'])}   [bold]{nb}[/]: {escape(cmp['b']['label'])}")
    for n in cmp["notes"]:
        console.print(f"note: {escape(n)}")
    t = Table(title=f"Metrics ({nb} relative to {na})", title_justify="left")
    for c in ("metric", na, nb, f"{nb} / {na}", "change", f"{nb} is"):
        t.add_column(c, justify="left" if c == "metric" else "right")
    style = {"better": "green", "worse": "bold red", "same": "dim"}
    for m in cmp["metrics"]:
        v = m["verdict"]
        t.add_row(m["label"], fmt_value(m["a"], m["unit"]), fmt_value(m["b"], m["unit"]), _fmt_ratio(m["ratio"]),
                  _fmt_change(m["change"]), f"[{style[v]}]{v}[/]" if v else "")
    console.print(t)
    layers = cmp["layers"]
    if not layers:
        return
    rows = sorted(layers, key=lambda r: (-max(r["a_cycles"] or 0, r["b_cycles"] or 0), r["layer"]))
    shown = rows if n_layers <= 0 else rows[:n_layers]
    lt = Table(title=f"Layers ({len(shown)} of {len(layers)} by cycles)", title_justify="left")
    has_e = any(r["a_energy_j"] is not None or r["b_energy_j"] is not None for r in layers)
    cols = ["layer", f"{na} cycles", f"{nb} cycles", f"{nb} / {na}", f"{na} share", f"{nb} share"]
    if has_e:
        cols += [f"{na} energy", f"{nb} energy"]
    for c in cols:
        lt.add_column(c, justify="left" if c == "layer" else "right")
    for r in shown:
        cells = [escape(str(r["layer"])), fmt_value(r["a_cycles"], "cycles"), fmt_value(r["b_cycles"], "cycles"),
                 _fmt_ratio(r["cycles_ratio"]), fmt_value(r["a_share"], "%"), fmt_value(r["b_share"], "%")]
        if has_e:
            cells += [fmt_value(r["a_energy_j"], "J"), fmt_value(r["b_energy_j"], "J")]
        lt.add_row(*cells)
    console.print(lt)


def render_compare_html(cmp: dict[str, Any]) -> str:
    """A self-contained HTML page of the comparison (same style and guarantees as the run report)."""
    from accelsim.report import html as H

    na, nb = cmp["names"]
    rows = []
    for m in cmp["metrics"]:
        v = m["verdict"]
        cls = {"better": "ok", "worse": "bad"}.get(v, "muted")
        rows.append([(m["label"], H._e(m["label"])), (m["a"], H._e(fmt_value(m["a"], m["unit"]))),
                     (m["b"], H._e(fmt_value(m["b"], m["unit"]))), (m["ratio"], H._e(_fmt_ratio(m["ratio"]))),
                     (m["change"], H._e(_fmt_change(m["change"]))), (v, f'<span class="{cls}">{H._e(v)}</span>')])
    metrics = H._table([("metric", "text"), (na, "num"), (nb, "num"), (f"{nb} / {na}", "num"), ("change", "num"),
                        (f"{nb} is", "text")], rows, table_id="metrics")
    lrows = []
    for r in cmp["layers"]:
        lrows.append([(r["layer"], H._e(r["layer"])),
                      (r["a_cycles"], H._e(fmt_value(r["a_cycles"], "cycles"))),
                      (r["b_cycles"], H._e(fmt_value(r["b_cycles"], "cycles"))),
                      (r["cycles_ratio"], H._e(_fmt_ratio(r["cycles_ratio"]))),
                      (r["a_share"], H._e(fmt_value(r["a_share"], "%"))),
                      (r["b_share"], H._e(fmt_value(r["b_share"], "%"))),
                      (r["a_energy_j"], H._e(fmt_value(r["a_energy_j"], "J"))),
                      (r["b_energy_j"], H._e(fmt_value(r["b_energy_j"], "J"))),
                      (r["a_dram_bytes"], H._e(fmt_value(r["a_dram_bytes"], "bytes"))),
                      (r["b_dram_bytes"], H._e(fmt_value(r["b_dram_bytes"], "bytes")))])
    layers = ""
    if lrows:
        top = sorted(cmp["layers"], key=lambda r: (-max(r["a_cycles"] or 0, r["b_cycles"] or 0), r["layer"]))[:12]
        bars = []
        cols = []
        for r in top:
            for side, key, col in ((na, "a_cycles", H.PALETTE[0]), (nb, "b_cycles", H.PALETTE[1])):
                v = r[key] or 0.0
                bars.append((f"{r['layer']} ({side})", v, fmt_value(r[key], "cycles")))
                cols.append(col)
        layers = ("<section id=\"layers\"><h2>Layers</h2><p class=\"note\">Joined by layer name; cycles are the sum "
                  "of the layer's ops' cycles, share its fraction of all ops' cycles.</p>"
                  + H.svg_hbars(bars, "cycles per layer", cols)
                  + '<input type="search" class="filter" data-table="layers-cmp" placeholder="filter layers…" '
                    'aria-label="filter layers">'
                  + H._table([("layer", "text wrap"), (f"{na} cycles", "num"), (f"{nb} cycles", "num"),
                              (f"{nb} / {na}", "num"), (f"{na} share", "num"), (f"{nb} share", "num"),
                              (f"{na} energy", "num"), (f"{nb} energy", "num"), (f"{na} DRAM", "num"),
                              (f"{nb} DRAM", "num")], lrows, table_id="layers-cmp")
                  + "</section>")
    notes = "".join(f'<p class="note">note: {H._e(n)}</p>' for n in cmp["notes"])
    title = f"accelsim compare: {cmp['a']['label']} vs {cmp['b']['label']}"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{H.CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{H._e(title)}</title>\n<script>{H.ERROR_HOOK}</script>\n<style>{H.CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{H._e(title)}</h1><div class=\"sub\">{H._e(na)}: {H._e(cmp['a']['label'])} · "
        f"{H._e(nb)}: {H._e(cmp['b']['label'])}</div></header>\n<main>\n"
        f"<section id=\"metrics\"><h2>Metrics</h2>{notes}{metrics}</section>\n{layers}\n</main>\n"
        "<footer>generated by accelsim · self-contained, works offline</footer>\n"
        f"<script>{H.PAGE_JS}</script>\n</body>\n</html>\n"
    )


@click.command("compare")
@click.argument("result_a", type=click.Path())
@click.argument("result_b", type=click.Path())
@click.option("--html", "html_file", type=click.Path(dir_okay=False), help="also write the comparison as HTML")
@click.option("--json", "as_json", is_flag=True, help="print the comparison as JSON (no tables)")
@click.option("--layers", "n_layers", type=int, default=20, show_default=True, help="rows of the layer table (0: all)")
@click.option("--names", nargs=2, default=("A", "B"), show_default=True, metavar="NAME_A NAME_B",
              help="column labels, e.g. --names before after")
@handle_errors
def compare_command(result_a: str, result_b: str, html_file: str | None, as_json: bool, n_layers: int,
                    names: tuple[str, str]) -> None:
    """Compare two runs (result folders from `accelsim run --out DIR`, or result.json files):
    every metric with B / A and the change, and cycles, share and energy per layer.

    \b
    Examples:
      accelsim compare results/tpuv1 results/edge            # two architectures
      accelsim compare before/ after/ --names before after   # two commits
    """
    a = load_result_json(result_a)
    b = load_result_json(result_b)
    cmp = compare(a, b, names=(names[0], names[1]))
    if html_file:
        p = Path(html_file)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(render_compare_html(cmp), encoding="utf-8")
        except OSError as e:
            raise ReportError(f"{p}: cannot write ({e.strerror or e})") from None
    if as_json:
        click.echo(json.dumps(cmp, indent=2))
        return
    print_compare(cmp, _console(), n_layers)
    if html_file:
        click.echo(f"wrote {html_file}")
