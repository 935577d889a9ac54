"""Export a run as a Chrome Trace Event Format JSON (opens in ui.perfetto.dev and chrome://tracing).

Layout: one process ``accelsim <arch>`` (pid 1) with one thread (track) per hardware unit, in
this order: every systolic-array instance, the vector unit, every DMA engine (``dma0``, ...),
every DRAM channel (``dram.ch0``, ...), then ``ops`` lanes showing each mapped op's span
(overlapping ops are packed greedily onto ``ops``, ``ops.1``, ... so that complete events on a
lane never overlap). Tracks are named with ``thread_name`` / ``thread_sort_index`` metadata;
their tids are 2, 3, ... (tid 1 == pid is the process's main thread, which carries only the
process metadata and the counters; tid 0 is avoided, Perfetto reads it as the idle thread).

Every busy interval is a complete event (``ph: "X"``). ``ts`` / ``dur`` are microseconds, as the
spec requires (``cycles / clock``): start and end are each rounded to whole nanoseconds and
``dur`` is their difference, so events that touch in cycles touch exactly in the trace and never
overlap after Perfetto's µs -> ns conversion. The exact cycle counts are in ``args``
(``start_cycle``, ``cycles``; plus ``op`` / ``module`` / ``tile`` for compute tiles and
``transfer`` / ``direction`` / ``tensor`` / ``bytes`` for DMA). A ``utilization`` counter
(``ph: "C"``) carries the busy-fraction timeline of ``result.json``.

``displayTimeUnit`` is ``"ns"``: it only changes how chrome://tracing prints times (current
Perfetto ignores it and always reads ``ts`` as µs). Nothing in an event is a JSON array (old
Perfetto JSON importers rejected arrays inside events). Output is deterministic: same run,
same bytes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from accelsim.errors import AccelsimError
from accelsim.results import RunResult

PID = 1
#: Process-level events (process metadata, counters) sit on the process's main thread, tid == pid
#: (tid 0 would be read as the idle/swapper thread). Unit tracks are tids PID + 1, PID + 2, ...
MAIN_TID = PID
_TRANSFER_RE = re.compile(r"^(load|store) (.+) \((\d+) B\)$")


def _ns(cycles: int, ns_per_cycle: float) -> int:
    return round(cycles * ns_per_cycle)


def _us(ns: int) -> float | int:
    """Whole nanoseconds -> microseconds as a short, exact-looking JSON number."""
    return ns // 1000 if ns % 1000 == 0 else ns / 1000


def _pack_lanes(spans: list[tuple[int, int, int]]) -> list[int]:
    """Greedy interval colouring: lane index for each (start, end, key), sorted by start."""
    lane_end: list[int] = []
    lanes: list[int] = []
    for s, e, _ in spans:
        for i, le in enumerate(lane_end):
            if le <= s:
                lane_end[i] = e
                lanes.append(i)
                break
        else:
            lane_end.append(e)
            lanes.append(len(lane_end) - 1)
    return lanes


def chrome_trace_events(result: RunResult) -> dict[str, Any]:
    """The trace as a dict: ``{"traceEvents": [...], "displayTimeUnit": "ns", "otherData": {...}}``."""
    sim, program, data = result.sim, result.program, result.data
    if sim is None or program is None:
        raise AccelsimError("a Chrome trace needs the simulation itself (run with --trace), "
                            "not a saved result.json")
    clock_ghz = float(data["clock_ghz"])
    if clock_ghz <= 0:
        raise AccelsimError(f"clock_ghz must be positive to build a trace (got {clock_ghz})")
    npc = 1.0 / clock_ghz  # ns per cycle
    arch = str(data.get("arch", "?"))

    meta: list[dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "ts": 0, "pid": PID, "tid": MAIN_TID,
         "args": {"name": f"accelsim {arch}"}},
        {"name": "process_labels", "ph": "M", "ts": 0, "pid": PID, "tid": MAIN_TID,
         "args": {"labels": str(data.get("workload", ""))}},
        {"name": "process_sort_index", "ph": "M", "ts": 0, "pid": PID, "tid": MAIN_TID,
         "args": {"sort_index": 0}},
    ]
    body: list[dict[str, Any]] = []
    tracks: list[str] = []

    def track(name: str) -> int:
        tid = MAIN_TID + 1 + len(tracks)
        tracks.append(name)
        meta.append({"name": "thread_name", "ph": "M", "ts": 0, "pid": PID, "tid": tid,
                     "args": {"name": name}})
        meta.append({"name": "thread_sort_index", "ph": "M", "ts": 0, "pid": PID, "tid": tid,
                     "args": {"sort_index": len(tracks)}})
        return tid

    def complete(tid: int, name: str, cat: str, start: int, end: int, args: dict[str, Any]) -> None:
        s_ns, e_ns = _ns(start, npc), _ns(end, npc)
        body.append({"name": name, "cat": cat, "ph": "X", "ts": _us(s_ns), "dur": _us(e_ns - s_ns),
                     "pid": PID, "tid": tid,
                     "args": {"start_cycle": int(start), "cycles": int(end - start), **args}})

    def tile_args(tile_id: int) -> tuple[str, dict[str, Any]]:
        t = program.tiles[tile_id]
        op = program.ops[t.op]
        a: dict[str, Any] = {"op": op.name, "module": op.module, "kind": op.kind, "tile": int(tile_id)}
        if t.macs:
            a["macs"] = int(t.macs)
        if t.vector_elems:
            a["elements"] = int(t.vector_elems)
        return op.name, a

    for unit in [*sim.arrays, sim.vector]:
        tid = track(unit.name)
        cat = "vector" if unit is sim.vector else "array"
        for s, e, tile_id in unit.intervals:
            if e > s:
                name, a = tile_args(tile_id)
                complete(tid, name, cat, s, e, a)

    for i, ivs in enumerate(sim.dma.intervals):
        tid = track(f"dma{i}")
        for s, e, label in ivs:
            if e > s:
                targs: dict[str, Any] = {"transfer": label}
                m = _TRANSFER_RE.match(label)
                if m:
                    targs.update(direction=m.group(1), tensor=m.group(2), bytes=int(m.group(3)))
                complete(tid, label, "dma", s, e, targs)

    for c, chan_ivs in enumerate(sim.dram.intervals):
        tid = track(f"dram.ch{c}")
        for s, e in chan_ivs:
            if e > s:
                complete(tid, "busy", "dram", s, e, {})

    spans = sorted((int(o["start_cycle"]), int(o["end_cycle"]), i)
                   for i, o in enumerate(data.get("ops", [])) if o["end_cycle"] > o["start_cycle"])
    lanes = _pack_lanes(spans)
    lane_tids = [track("ops" if k == 0 else f"ops.{k}") for k in range(max(lanes, default=-1) + 1)]
    for (s, e, i), lane in zip(spans, lanes):
        o = data["ops"][i]
        complete(lane_tids[lane], str(o["name"]), "op", s, e,
                 {"op": o["name"], "module": o.get("module", ""), "kind": o.get("kind", ""),
                  "unit": o.get("unit", ""), "macs": int(o.get("macs", 0)),
                  "dram_bytes": int(o.get("dram_bytes", 0))})

    tl = data.get("utilization_timeline") or {}
    if tl.get("units") and tl.get("bin_cycles"):
        bc = float(tl["bin_cycles"])
        names = list(tl["units"])
        nbins = max(len(v) for v in tl["units"].values())
        for b in range(nbins):
            body.append({"name": "utilization", "ph": "C", "ts": _us(round(b * bc * npc)),
                         "pid": PID, "tid": MAIN_TID,
                         "args": {n: float(tl["units"][n][b]) for n in names if b < len(tl["units"][n])}})
        body.append({"name": "utilization", "ph": "C", "ts": _us(_ns(int(sim.total_cycles), npc)),
                     "pid": PID, "tid": MAIN_TID, "args": {n: 0.0 for n in names}})

    body.sort(key=lambda ev: (ev["tid"], ev["ts"], ev["ph"]))
    return {
        "traceEvents": meta + body,
        "displayTimeUnit": "ns",
        "otherData": {
            "generator": f"accelsim {data.get('accelsim_version', '')}".strip(),
            "arch": arch,
            "workload": str(data.get("workload", "")),
            "clock_ghz": str(clock_ghz),
            "total_cycles": str(data.get("total_cycles", sim.total_cycles)),
            "time_unit": "ts/dur in microseconds = cycles / clock; exact cycles in args",
        },
    }


def write_chrome_trace(result: RunResult, path: str | Path) -> None:
    """Write the trace JSON to ``path`` (open it in https://ui.perfetto.dev)."""
    p = Path(path)
    if p.parent and not p.parent.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
    trace = chrome_trace_events(result)
    with p.open("w", encoding="utf-8") as f:
        f.write('{"traceEvents":[\n')
        evs = trace["traceEvents"]
        for i, ev in enumerate(evs):
            f.write(json.dumps(ev, separators=(",", ":"), ensure_ascii=False))
            f.write(",\n" if i + 1 < len(evs) else "\n")
        f.write('],\n"displayTimeUnit":"ns",\n"otherData":')
        f.write(json.dumps(trace["otherData"], separators=(",", ":"), ensure_ascii=False))
        f.write("}\n")
