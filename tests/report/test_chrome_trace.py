"""The Chrome Trace Event Format export: structure per the spec, and exact busy-cycle totals."""

from __future__ import annotations

import itertools
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from accelsim import api
from accelsim.errors import AccelsimError
from accelsim.report.chrome_trace import chrome_trace_events, write_chrome_trace
from accelsim.results import RunResult
from builders import make_arch, mlp_graph, parallel_graph

PHASES_WITH_TS = {"X", "B", "E", "i", "I", "C", "b", "e", "n", "s", "t", "f", "P", "O", "N", "D"}
METADATA_NAMES = {"process_name", "process_labels", "process_sort_index", "thread_name", "thread_sort_index"}


@pytest.fixture(scope="module")
def mlp_run() -> RunResult:
    return api.simulate(make_arch(), mlp_graph())


@pytest.fixture(scope="module")
def multi_run() -> RunResult:
    """Two array instances, three DMA engines, four DRAM channels, an odd clock (0.7 GHz)."""
    arch = make_arch(**{"arrays.0.count": 2, "clock_ghz": 0.7, "controller.dma.engines": 3,
                        "dram.channels": 4})
    return api.simulate(arch, parallel_graph())


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _no_arrays(x: Any) -> bool:
    if isinstance(x, list):
        return False
    if isinstance(x, dict):
        return all(_no_arrays(v) for v in x.values())
    return True


def validate_trace(trace: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Check ``trace`` against the Trace Event Format; return X events grouped by track name."""
    assert isinstance(trace, dict)
    assert isinstance(trace.get("traceEvents"), list) and trace["traceEvents"]
    assert trace.get("displayTimeUnit") in ("ms", "ns")
    assert isinstance(trace.get("otherData", {}), dict)
    assert all(isinstance(v, str) for v in trace.get("otherData", {}).values())

    process_names: dict[int, str] = {}
    thread_names: dict[tuple[int, int], str] = {}
    by_track: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for ev in trace["traceEvents"]:
        assert isinstance(ev, dict), ev
        ph = ev.get("ph")
        assert isinstance(ph, str) and len(ph) == 1, ev
        assert isinstance(ev.get("name"), str), ev
        assert _is_int(ev.get("pid")) and _is_int(ev.get("tid")), ev
        assert ev["pid"] > 0 and ev["tid"] > 0, f"pid/tid 0 is the kernel's idle task to Perfetto: {ev}"
        assert isinstance(ev.get("args", {}), dict), ev
        assert _no_arrays(ev), f"JSON arrays inside an event break older Perfetto importers: {ev}"
        if ph == "M":
            assert ev["name"] in METADATA_NAMES, ev
            if ev["name"] == "process_name":
                assert isinstance(ev["args"].get("name"), str) and ev["args"]["name"], ev
                process_names[ev["pid"]] = ev["args"]["name"]
            elif ev["name"] == "thread_name":
                assert isinstance(ev["args"].get("name"), str) and ev["args"]["name"], ev
                key = (ev["pid"], ev["tid"])
                assert key not in thread_names, f"track named twice: {key}"
                thread_names[key] = ev["args"]["name"]
            elif ev["name"].endswith("sort_index"):
                assert _is_int(ev["args"].get("sort_index")), ev
            continue
        assert ph in PHASES_WITH_TS, ev
        assert _is_num(ev.get("ts")) and ev["ts"] >= 0, ev
        if ph == "X":
            assert _is_num(ev.get("dur")) and ev["dur"] >= 0, ev
            assert isinstance(ev.get("cat", ""), str), ev
            a = ev["args"]
            assert _is_int(a.get("start_cycle")) and a["start_cycle"] >= 0, ev
            assert _is_int(a.get("cycles")) and a["cycles"] > 0, ev
            by_track[(ev["pid"], ev["tid"])].append(ev)
        elif ph == "C":
            assert ev["args"] and all(_is_num(v) for v in ev["args"].values()), ev
    assert process_names, "no process_name metadata"
    for pid, tid in by_track:
        assert pid in process_names, f"pid {pid} has no process_name"
        assert (pid, tid) in thread_names, f"events on undeclared track {(pid, tid)}"
    # Complete events on one track must not overlap (checked in whole ns, as Perfetto stores them).
    for key, evs in by_track.items():
        evs = sorted(evs, key=lambda e: e["ts"])
        for a, b in itertools.pairwise(evs):
            assert round(a["ts"] * 1000) + round(a["dur"] * 1000) <= round(b["ts"] * 1000), (
                f"overlap on {thread_names[key]}: {a} / {b}")
    return {thread_names[k]: v for k, v in by_track.items()}


def _busy(tracks: dict[str, list[dict[str, Any]]], name: str) -> int:
    return sum(e["args"]["cycles"] for e in tracks.get(name, []))


def check_totals(result: RunResult, tracks: dict[str, list[dict[str, Any]]]) -> None:
    units = result.data["units"]
    arrays = [n for n, u in units.items() if u["kind"] == "systolic_array"]
    assert arrays
    for n in [*arrays, "vector"]:
        assert _busy(tracks, n) == units[n]["busy_cycles"], n
    engines = units["dma"]["engines"]
    dma_tracks = [f"dma{i}" for i in range(engines)]
    assert set(dma_tracks) >= {t for t in tracks if t.startswith("dma")}
    assert sum(_busy(tracks, t) for t in dma_tracks) == units["dma"]["busy_cycles"]
    for n, u in units.items():
        if u["kind"] == "dram_channel":
            assert _busy(tracks, n) == u["busy_cycles"], n


def check_times(result: RunResult, trace: dict[str, Any]) -> None:
    """ts / dur are µs from cycles at the arch clock (rounded to whole ns)."""
    ns_per_cycle = 1.0 / result.data["clock_ghz"]
    for ev in trace["traceEvents"]:
        if ev["ph"] == "X":
            s, c = ev["args"]["start_cycle"], ev["args"]["cycles"]
            assert round(ev["ts"] * 1000) == round(s * ns_per_cycle), ev
            assert round((ev["ts"] + ev["dur"]) * 1000) == round((s + c) * ns_per_cycle), ev


@pytest.mark.parametrize("which", ["mlp_run", "multi_run"])
def test_trace_structure_and_busy_totals(which: str, request: pytest.FixtureRequest) -> None:
    result: RunResult = request.getfixturevalue(which)
    trace = chrome_trace_events(result)
    tracks = validate_trace(trace)
    check_totals(result, tracks)
    check_times(result, trace)
    # One track per unit, named after it.
    names = set(tracks)
    for a in result.sim.arrays:  # type: ignore[union-attr]
        assert a.name in names or a.busy_cycles == 0  # an idle array has an empty track
    assert "vector" in names and "ops" in names
    proc = [e for e in trace["traceEvents"] if e["ph"] == "M" and e["name"] == "process_name"]
    assert [e["args"]["name"] for e in proc] == [f"accelsim {result.data['arch']}"]


def test_compute_events_name_their_op(mlp_run: RunResult) -> None:
    tracks = validate_trace(chrome_trace_events(mlp_run))
    modules = {o["name"]: o["module"] for o in mlp_run.data["ops"]}
    seen = set()
    for n in ("sa0", "vector"):
        for e in tracks[n]:
            assert e["name"] == e["args"]["op"] and e["args"]["module"] == modules[e["name"]]
            seen.add(e["name"])
    assert seen == {"fc", "act", "proj", "res"}
    assert {e["args"]["direction"] for t in ("dma0", "dma1") for e in tracks.get(t, [])} == {"load", "store"}
    for e in tracks["dma0"]:
        assert e["name"] == e["args"]["transfer"] and e["args"]["bytes"] > 0
    # Op spans: every op with cycles shows up once, with its exact cycles.
    spans = {e["name"]: e["args"]["cycles"] for t, evs in tracks.items() if t.startswith("ops") for e in evs}
    assert spans == {o["name"]: o["cycles"] for o in mlp_run.data["ops"] if o["cycles"] > 0}


def test_overlapping_ops_get_separate_lanes(multi_run: RunResult) -> None:
    ops = multi_run.data["ops"]
    a, b = ops[0], ops[1]
    assert a["start_cycle"] < b["end_cycle"] and b["start_cycle"] < a["end_cycle"], "ops should overlap"
    tracks = validate_trace(chrome_trace_events(multi_run))
    assert {"ops", "ops.1"} <= set(tracks)
    # Every array instance that did work has its own track (the mapper decides which work).
    busy = [a.name for a in multi_run.sim.arrays if a.busy_cycles]  # type: ignore[union-attr]
    assert busy and all(tracks[n] for n in busy)


def test_counter_events(mlp_run: RunResult) -> None:
    trace = chrome_trace_events(mlp_run)
    cs = [e for e in trace["traceEvents"] if e["ph"] == "C"]
    assert len(cs) == mlp_run.data["utilization_timeline"]["bins"] + 1
    assert set(cs[0]["args"]) == set(mlp_run.data["utilization_timeline"]["units"])
    assert all(0.0 <= v <= 1.0 for e in cs for v in e["args"].values())


def test_written_file_is_strict_json_and_deterministic(tmp_path: Path) -> None:
    def reject(c: str) -> None:
        raise ValueError(f"non-standard JSON constant {c}")

    paths = []
    for i in range(2):
        r = api.simulate(make_arch(), mlp_graph())  # a fresh simulation each time
        p = tmp_path / f"sub{i}" / "trace.json"
        write_chrome_trace(r, p)
        paths.append(p)
    text = paths[0].read_text(encoding="utf-8")
    assert paths[0].read_bytes() == paths[1].read_bytes()
    loaded = json.loads(text, parse_constant=reject)
    assert loaded == json.loads(json.dumps(chrome_trace_events(r)))
    assert next(iter(loaded)) == "traceEvents"  # first key: older Perfetto importers stream it
    validate_trace(loaded)


def test_saved_result_without_simulation_is_a_clean_error(mlp_run: RunResult) -> None:
    with pytest.raises(AccelsimError, match="simulation"):
        chrome_trace_events(RunResult(data=mlp_run.data))
