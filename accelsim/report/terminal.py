"""Readable terminal tables (rich) for a RunResult."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

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


def print_run(result: RunResult, console: Any, *, n_ops: int = 12, quiet: bool = False,
              written: list[Path] | None = None) -> None:
    d = result.data
    headline = (
        f"[bold]{d['workload']}[/] on [bold]{d['arch']}[/]: "
        f"{d['total_cycles']:,} cycles = {fmt_time(d['latency_s'])} @ {d['clock_ghz']:g} GHz"
    )
    console.print(headline)
    if quiet:
        return
    s = Table(title="Summary", show_header=False, title_justify="left")
    s.add_column(style="dim")
    s.add_column(justify="right")
    au = d["array_utilization"]
    rows = [
        ("mode", d["options"]["mode"]),
        ("MACs", f"{d['macs']:,}"),
        ("array MAC utilisation", f"{au['mac_utilization']:.1%}"),
        ("array utilisation (SCALE-Sim compute)", f"{au['scalesim_compute_utilization']:.1%}"),
        ("DRAM read / write", f"{fmt_bytes(d['dram_read_bytes'])} / {fmt_bytes(d['dram_write_bytes'])}"),
        ("DMA stall cycles", f"{d['dma_stall_cycles']:,}"),
        ("bank-conflict stall cycles", f"{d['bank_conflict_stall_cycles']:,}"),
        ("SRAM-bandwidth stall cycles", f"{d['sram_bandwidth_stall_cycles']:,}"),
    ]
    tl = d["timeline_cycles"]
    rows.append(("timeline: compute / sram / memory / idle",
                 " / ".join(f"{tl[k]:,}" for k in ("compute", "sram_stall", "memory_stall", "control_idle"))))
    rows.append(("simulated events / tiles", f"{d['events']:,} / {d['tiles']:,}"))
    for r in rows:
        s.add_row(*r)
    for extra in d.get("_summary_rows", []):
        s.add_row(*extra)
    console.print(s)

    u = Table(title="Units", title_justify="left")
    for c in ("unit", "kind", "busy cycles", "utilisation"):
        u.add_column(c, justify="right" if c in ("busy cycles", "utilisation") else "left")
    for name, v in d["units"].items():
        if v["kind"] == "dram_channel" and len(d["units"]) > 24:
            continue
        u.add_row(name, v["kind"], f"{v['busy_cycles']:,}", f"{v['utilization']:.1%}")
    console.print(u)

    ops = [o for o in d["ops"] if o["unit"] != "none"]
    ops.sort(key=lambda o: (-o["cycles"], o["name"]))
    shown = ops if n_ops <= 0 else ops[:n_ops]
    t = Table(title=f"Ops ({len(shown)} of {len(ops)} by cycles)", title_justify="left")
    for c in ("op", "module", "unit", "start", "end", "cycles", "MACs", "DRAM", "util"):
        t.add_column(c, justify="right" if c in ("start", "end", "cycles", "MACs", "DRAM", "util") else "left",
                     overflow="fold")
    for o in shown:
        t.add_row(o["name"], o["module"] or "<top>", o["unit"], f"{o['start_cycle']:,}", f"{o['end_cycle']:,}",
                  f"{o['cycles']:,}", f"{o['macs']:,}", fmt_bytes(o["dram_bytes"]), f"{o['utilization']:.0%}")
    console.print(t)
    for p in written or []:
        console.print(f"wrote {p}")
