"""accelsim speed benchmarks (run by hand; not part of the test suite).

    OMP_NUM_THREADS=1 python benchmarks/run_benchmarks.py [--repeat 3]

1. gpt2-small at seq 1024 on archs/datacenter-bf16.yaml: the whole CLI run (a fresh process:
   imports, building the model, tracing, mapping, simulation, energy, GPU comparison, JSON).
   Target: <= 10 s wall on a 2-core machine.
2. The 512x3072x768 GEMM on a 32x32 `os` array with --compat scalesim (SCALE-Sim needs about
   6.6 min for it: ../shared/reference/scalesim.md). Target: <= 0.5 s for the simulation.
3. The same gpt2-small graph, in process and already traced: mapping + SimPy simulation only
   (``simulate``), then with energy and the GPU comparison; the engine's events per second.
All report events scheduled and events per second.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli_run(args: list[str]) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as d:
        exe = Path(sys.executable).parent / "accelsim"
        t0 = time.perf_counter()
        subprocess.run([str(exe), "run", *args, "--out", d, "-q"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
        wall = time.perf_counter() - t0
        return wall, json.loads((Path(d) / "result.json").read_text())


def in_process_gemm() -> tuple[float, dict]:
    from accelsim import api

    arch = api.load_arch("edge-int8", ["arrays[0].rows=32", "arrays[0].cols=32", "arrays[0].dataflow=os",
                                       "sram.bank_size_kib=1024"])
    graph = api.load_graph("gemm:M=512,N=3072,K=768")
    t0 = time.perf_counter()
    r = api.simulate(arch, graph, api.RunOptions(mode="scalesim", gpu=None))
    return time.perf_counter() - t0, r.data


def in_process_gpt2_small() -> tuple[float, float, dict]:
    from accelsim import api

    arch = api.load_arch("datacenter-bf16")
    graph = api.load_graph("gpt2-small", {"seq": 1024})
    t0 = time.perf_counter()
    r = api.simulate(arch, graph, api.RunOptions(gpu=None, energy=False))
    sim_only = time.perf_counter() - t0
    t0 = time.perf_counter()
    api.simulate(arch, graph)
    return sim_only, time.perf_counter() - t0, r.data


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    rows = []
    walls = []
    for _ in range(a.repeat):
        w, d = cli_run(["archs/datacenter-bf16.yaml", "gpt2-small", "--seq", "1024"])
        walls.append(w)
    rows.append(("gpt2-small seq1024, datacenter-bf16, whole CLI", min(walls), d["events"], d["total_cycles"]))
    gw = []
    for _ in range(a.repeat):
        w, g = in_process_gemm()
        gw.append(w)
    rows.append(("GEMM 512x3072x768, 32x32 os, --compat scalesim (simulate only)", min(gw), g["events"], g["total_cycles"]))
    w, g2 = cli_run(["archs/edge-int8.yaml", "gemm:M=512,N=3072,K=768", "--set", "arrays[0].rows=32",
                     "--set", "arrays[0].cols=32", "--set", "arrays[0].dataflow=os",
                     "--set", "sram.bank_size_kib=1024", "--compat", "scalesim", "--no-gpu"])
    rows.append(("same GEMM, whole CLI process", w, g2["events"], g2["total_cycles"]))
    so, full, d3 = in_process_gpt2_small()
    rows.append(("gpt2-small seq1024, traced graph: map + simulate", so, d3["events"], d3["total_cycles"]))
    rows.append(("gpt2-small seq1024, traced graph: + energy + GPU comparison", full, d3["events"], d3["total_cycles"]))
    print(f"{'benchmark':70s} {'wall s':>8s} {'events':>9s} {'events/s':>10s} {'cycles':>12s}")
    for name, wall, ev, cyc in rows:
        print(f"{name:70s} {wall:8.3f} {ev:9d} {ev / wall:10.0f} {cyc:12d}")


if __name__ == "__main__":
    main()
