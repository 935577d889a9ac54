"""Record the engine pins of tests/sim/test_engine_pinned.py (run by hand, from the checkout):

    OMP_NUM_THREADS=1 python benchmarks/record_engine_pins.py            # rewrite every pin
    OMP_NUM_THREADS=1 python benchmarks/record_engine_pins.py --check    # compare, write nothing

Each case maps a workload on an architecture with today's mapper, freezes the mapped program
and the architecture in ``tests/data/engine_pins/<case>.json.gz`` and records the digest of
its simulation (accelsim/sim/pins.py). The test then simulates the frozen programs, so it
checks the engine alone: a mapper change does not touch it. Re-record only when a change to
the simulated timing is intended, and say so in the commit. The partitioned case traces a
model with torch, and so do gpt2-tiny at seq 64 and the residual MLP; the others read saved
graphs from tests/data/graphs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PINS = ROOT / "tests" / "data" / "engine_pins"
GRAPHS = ROOT / "tests" / "data" / "graphs"
TINY = str(GRAPHS / "gpt2-tiny_seq16.json")

#: name -> (arch, overrides, workload, params, mode, why)
CASES: dict[str, tuple[str, list[str], str, dict[str, Any], str, str]] = {
    "gpt2-tiny-edge-int8": ("edge-int8", [], TINY, {}, "pipelined", "2 DMA engines, 2 channels, one array"),
    "gpt2-tiny-datacenter-bf16": ("datacenter-bf16", [], TINY, {}, "pipelined",
                                  "4 arrays, fused attention (tile dependencies), 16 channels"),
    "gpt2-tiny-tpuv1": ("tpuv1", [], TINY, {}, "pipelined", "one 256x256 array, DDR3"),
    "gpt2-tiny-contended": ("edge-int8", ["controller.dma.engines=1", "dram.channels=3",
                                          "controller.sequencer.queue_depth=2", "controller.sequencer.issue_cycles=0",
                                          "controller.dma.max_burst_bytes=1024"], TINY, {}, "pipelined",
                            "one DMA engine, 3 channels, a shallow queue, no issue cost: queueing everywhere"),
    "partitioned-miswired": ("partitioned-residual", [], "partitioned-transformer",
                             {"n_layer": 2, "seq": 16, "miswire": True}, "pipelined",
                             "residual partitions, access policy with a violation, ROM weights"),
    "gpt2-tiny-seq64-datacenter-bf16": ("datacenter-bf16", [], "gpt2-tiny", {"seq": 64}, "pipelined",
                                        "a longer sequence: more attention tiles in flight on 4 arrays"),
    "gpt2-tiny-seq64-edge-int8": ("edge-int8", [], "gpt2-tiny", {"seq": 64}, "pipelined",
                                  "DMA-bound: two engines shared by loads and stores"),
    "residual-mlp-edge-int8": ("edge-int8", [], "residual-mlp", {"depth": 2, "d_model": 64, "tokens": 32},
                               "pipelined", "vector-heavy: layer norms, GELUs and adds between GEMMs"),
    "gemm-scalesim": ("edge-int8", [], "gemm:M=128,N=96,K=64,dtype=int8", {}, "scalesim",
                      "SCALE-Sim compatible timing"),
    "gemm-narrow-dram": ("edge-int8", ["dram.bandwidth_gbps=3.2", "dram.channels=1"],
                         "gemm:M=256,N=256,K=256,dtype=int8", {}, "pipelined", "DRAM-bound"),
}


def build(name: str) -> tuple[Any, Any]:
    from accelsim import api

    arch_name, sets, workload, params, mode, _ = CASES[name]
    arch = api.load_arch(arch_name, sets)
    graph = api.load_graph(workload, params, cache=False)
    program = api.map_program(arch, graph, api.RunOptions(mode=mode))  # type: ignore[arg-type]
    return program, arch


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="simulate the stored pins and compare; write nothing")
    ap.add_argument("cases", nargs="*", help="only these cases")
    a = ap.parse_args()
    from accelsim.sim.engine import simulate
    from accelsim.sim.pins import load_pin, save_pin, sim_digest

    bad = 0
    for name in a.cases or list(CASES):
        path = PINS / f"{name}.json.gz"
        if a.check:
            program, arch, doc = load_pin(path)
            got = sim_digest(simulate(program, arch))
            ok = got == doc["expected"]
            bad += not ok
            print(f"{name:28s} {'same' if ok else 'CHANGED'}  {got['total_cycles']} cycles")
            continue
        program, arch = build(name)
        out = simulate(program, arch)
        arch_name, sets, workload, params, mode, why = CASES[name]
        wl = Path(workload).name if workload.endswith(".json") else workload
        source = (f"{wl} {params or ''} on {arch_name} {' '.join('--set ' + s for s in sets)} "
                  f"(mode {mode}): {why}").replace("  ", " ")
        PINS.mkdir(parents=True, exist_ok=True)
        save_pin(path, name, program, arch, sim_digest(out), source)
        print(f"{name:28s} {len(program.tiles):5d} tiles {out.total_cycles:9d} cycles  -> {path.relative_to(ROOT)}"
              f" ({path.stat().st_size // 1024} KiB)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
