"""accelsim speed benchmarks: CPU seconds on this machine (run by hand; not part of the tests).

    OMP_NUM_THREADS=1 python benchmarks/run_benchmarks.py                # everything (~3 min)
    OMP_NUM_THREADS=1 python benchmarks/run_benchmarks.py --only main grid --repeat 3
    OMP_NUM_THREADS=1 python benchmarks/run_benchmarks.py --quick        # seconds: a smoke run
    OMP_NUM_THREADS=1 python benchmarks/run_benchmarks.py --profile      # + where the time goes
    PYTHONPATH=OLD python benchmarks/run_benchmarks.py --base OLD         # another checkout ("before")

Every CLI benchmark is a fresh process (``accelsim`` from this interpreter's environment); its
CPU time is user + system of it and all its children (sweep workers included), from
``getrusage(RUSAGE_CHILDREN)``. "cold" runs use an empty trace cache (a temporary
``XDG_CACHE_HOME``), "repeated" ones the cache the cold run filled. Targets (issue 14):

* ``main``   -- the main job, ``accelsim run datacenter-bf16 gpt2-small --seq 1024``:
  cold <= 3 s, repeated <= 0.8 s.
* ``llama``  -- a Llama-7B-shaped prefill at seq 2048 (``llama2-7b --seq 2048``, built on the
  meta device): <= 8 s.
* ``events`` -- the simulator's event rate on the main job's program against a bare SimPy
  replay of the same program (benchmarks/simpy_skeleton.py): >= 0.8 of the skeleton's.
* ``grid``   -- examples/sweeps/gpt2_tiny_grid.yaml (48 points): <= 4 s CPU in all; its fully
  cached resume <= 2 s.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

MAIN = ["datacenter-bf16", "gpt2-small", "--seq", "1024"]
LLAMA = ["datacenter-bf16", "llama2-7b", "--seq", "2048"]
GRID = ROOT / "examples" / "sweeps" / "gpt2_tiny_grid.yaml"  # the same file in every checkout


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


#: ``--base DIR``: measure another checkout (e.g. ``git archive HEAD | tar -x -C DIR``) instead.
BASE: Path | None = None


def cli(args: Sequence[str], cache: Path, cwd: Path | None = None) -> tuple[float, float]:
    """(CPU s, wall s) of one ``python -m accelsim.cli ...`` process (what the ``accelsim``
    script runs) and its children."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "XDG_CACHE_HOME": str(cache)}
    env.pop("ACCELSIM_NO_CACHE", None)
    if BASE is not None:
        env["PYTHONPATH"] = str(BASE)
    c0, t0 = _children_cpu(), time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "accelsim.cli", *args], cwd=cwd or BASE or ROOT, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if r.returncode != 0:
        raise SystemExit(f"accelsim {' '.join(args)} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return cpu, wall


def bench_run(name: str, args: list[str], repeat: int, rows: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        cache = Path(d) / "xdg"
        cpu, wall = cli(["run", *args, "-q"], cache)
        rows.append({"benchmark": f"{name}: cold (empty trace cache)", "cpu_s": cpu, "wall_s": wall})
        best = min((cli(["run", *args, "-q"], cache) for _ in range(repeat)), key=lambda x: x[0])
        rows.append({"benchmark": f"{name}: repeated (cached trace)", "cpu_s": best[0], "wall_s": best[1]})


def bench_events(workload: str, params: dict[str, Any], repeat: int, rows: list[dict[str, Any]]) -> None:
    """Engine vs skeleton on one program, in this process (graph from the trace cache)."""
    from simpy_skeleton import replay

    from accelsim import api
    from accelsim.sim.engine import simulate as engine_simulate

    arch = api.load_arch("datacenter-bf16")
    graph = api.load_graph(workload, params)
    program = api.map_program(arch, graph)
    best_e = best_s = float("inf")
    events = sk_events = 0
    for _ in range(repeat):
        t0 = time.process_time()
        out = engine_simulate(program, arch)
        out.dram.intervals, out.dma.intervals  # logs expanded when read: count that work too
        best_e = min(best_e, time.process_time() - t0)
        events = out.events
        t0 = time.process_time()
        sk_events, _ = replay(program, arch)
        best_s = min(best_s, time.process_time() - t0)
    label = f"{workload} {params}"
    rows.append({"benchmark": f"events: accelsim engine, {label}", "cpu_s": best_e, "events": events,
                 "events_per_s": events / best_e})
    rows.append({"benchmark": "events: bare SimPy skeleton, same program", "cpu_s": best_s, "events": sk_events,
                 "events_per_s": sk_events / best_s})
    rows.append({"benchmark": "events: engine rate / skeleton rate", "ratio": (events / best_e) / (sk_events / best_s)})
    # The engine leaves out events the skeleton schedules (dead ones, see accelsim/sim/lean.py),
    # so the rate understates it: the same program's CPU seconds compare like for like.
    rows.append({"benchmark": "events: skeleton CPU s / engine CPU s (same program)", "ratio": best_s / best_e})


def bench_grid(rows: list[dict[str, Any]], warm_trace: bool) -> None:
    with tempfile.TemporaryDirectory() as d:
        cache, out = Path(d) / "xdg", Path(d) / "grid"
        if warm_trace:
            cli(["trace", "gpt2-tiny", "--seq", "128", "-o", str(Path(d) / "g.json")], cache)
        cpu, wall = cli(["sweep", str(GRID), "--out", str(out), "-q"], cache)
        what = "trace cached" if warm_trace else "empty trace cache"
        rows.append({"benchmark": f"grid: 48-point gpt2-tiny sweep ({what})", "cpu_s": cpu, "wall_s": wall})
        cpu, wall = cli(["sweep", str(GRID), "--out", str(out), "-q"], cache)
        rows.append({"benchmark": "grid: its resume (every point in the store)", "cpu_s": cpu, "wall_s": wall})


def profile_main(top: int = 25) -> str:
    """cProfile of a cached main job in this process (after one warm-up run): where the time goes."""
    from click.testing import CliRunner

    from accelsim.cli import main

    runner = CliRunner()
    runner.invoke(main, ["run", *MAIN, "-q"])  # fill the trace cache, warm imports
    pr = cProfile.Profile()
    pr.enable()
    r = runner.invoke(main, ["run", *MAIN, "-q"])
    pr.disable()
    assert r.exit_code == 0, r.output
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats("cumulative").print_stats(top)
    return s.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="repeats of each warm measurement (the best is kept)")
    ap.add_argument("--only", nargs="*", choices=["main", "llama", "events", "grid"], help="run only these")
    ap.add_argument("--quick", action="store_true", help="a smoke run: gpt2-tiny stands in for the big jobs")
    ap.add_argument("--profile", action="store_true", help="also print a cProfile of the cached main job")
    ap.add_argument("--json", metavar="FILE", help="write the rows as JSON here too")
    ap.add_argument("--base", metavar="DIR", help="measure the accelsim checkout in DIR (run this script with "
                    "PYTHONPATH=DIR too, so the in-process benchmarks use it)")
    a = ap.parse_args()
    global BASE
    BASE = Path(a.base).resolve() if a.base else None
    which = set(a.only or ["main", "llama", "events", "grid"])
    rows: list[dict[str, Any]] = []
    if a.quick:
        bench_run("gpt2-tiny (quick)", ["edge-int8", "gpt2-tiny", "--seq", "16"], 1, rows)
        bench_events("gpt2-tiny", {"seq": 16}, 1, rows)
    else:
        if "main" in which:
            bench_run("main job", MAIN, a.repeat, rows)
        if "llama" in which:
            bench_run("llama2-7b prefill seq 2048", LLAMA, 1, rows)
        if "events" in which:
            bench_events("gpt2-small", {"seq": 1024}, a.repeat, rows)
        if "grid" in which:
            bench_grid(rows, warm_trace=True)
            bench_grid(rows, warm_trace=False)
    print(f"{'benchmark':62s} {'CPU s':>8s} {'wall s':>8s} {'events':>10s} {'events/s':>11s}")
    for r in rows:
        if "ratio" in r:
            print(f"{r['benchmark']:62s} {r['ratio']:8.2f}")
            continue
        ev = f"{r['events']:10d}" if "events" in r else " " * 10
        evs = f"{r['events_per_s']:11.0f}" if "events_per_s" in r else " " * 11
        wall = f"{r['wall_s']:8.2f}" if "wall_s" in r else " " * 8
        print(f"{r['benchmark']:62s} {r['cpu_s']:8.2f} {wall} {ev} {evs}")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1) + "\n")
    if a.profile:
        print(profile_main())
    shutil.rmtree(ROOT / "benchmarks" / "__pycache__", ignore_errors=True)


if __name__ == "__main__":
    main()
