"""The Python API. The CLI, sweeps and the regression gate all call these functions.

    from accelsim import api
    arch = api.load_arch("archs/tpuv1.yaml", overrides=["arrays[0].rows=128"])
    graph = api.load_graph("gpt2-tiny", {"seq": 64})
    result = api.simulate(arch, graph)
    result.write("results/")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from accelsim.arch.spec import ArchSpec
from accelsim.mapping.mapper import MappingOptions, map_graph
from accelsim.mapping.program import Program, TimingMode
from accelsim.results import RunResult, build_result
from accelsim.sim.engine import simulate as _simulate
from accelsim.workload.ir import Graph


@dataclass(frozen=True)
class RunOptions:
    """Everything that affects a run besides the architecture and the workload."""

    mode: TimingMode = "pipelined"
    mapping: MappingOptions = field(default_factory=MappingOptions)
    gpu: str | None = "h100"  # GPU profile to compare against (None: no comparison)
    energy: bool = True
    enforce: bool = False  # residual access-policy violations are an error (exit 1)
    rom_compare: bool = True  # with rom: in the arch, also simulate without it and report both
    gpu_launch: str = "eager"  # GPU launch model: "eager" (PyTorch eager) or "graph" (CUDA-graph replay)
    #: Refuse (exit 2) a run whose estimated simulation events exceed this (accelsim.model.resources);
    #: None: $ACCELSIM_MAX_EVENTS or the default; 0: no limit. Not part of the result's options.
    max_events: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mode": self.mode, "mapping": self.mapping.to_dict(), "gpu": self.gpu}
        if self.gpu_launch != "eager":  # the default stays out, so existing digests do not change
            d["gpu_launch"] = self.gpu_launch
        return d


def load_arch(path: str, overrides: Sequence[str] = ()) -> ArchSpec:
    from accelsim.arch.load import find_arch
    from accelsim.arch.load import load_arch as _load

    return _load(find_arch(path), overrides)


def load_traced(workload: str, params: Mapping[str, object] | None = None) -> Any:
    """Trace a workload keeping weights and example inputs (needed by the functional check)."""
    from accelsim.workload.registry import load_traced as _lt

    t = _lt(workload, params)
    t.graph.verify()
    return t


def check(result: RunResult, traced: Any, level: str = "outputs") -> dict[str, Any]:
    """Execute the mapped program tile by tile at the arch's precision and compare with
    PyTorch; adds ``check`` to the result and returns it (``passed`` says whether it held)."""
    from accelsim.numerics.check import run_check

    assert result.program is not None and result.arch is not None
    rep = run_check(traced, result.program, result.arch, level)
    result.data["check"] = rep.to_dict()
    return result.data["check"]


def load_graph(workload: str, params: Mapping[str, object] | None = None, *, cache: bool = True) -> Graph:
    """The op graph of a workload spec; traced graphs come from the on-disk trace cache when
    their inputs are unchanged (:mod:`accelsim.workload.cache`; ``cache=False`` traces afresh)."""
    from accelsim.workload.registry import load_graph as _lg

    g = _lg(workload, params, cache=cache)
    g.verify()
    return g


def check_resources(arch: ArchSpec, graph: Graph, options: RunOptions | None = None) -> Any:
    """Estimate the tiles, simulation events and memory of running ``graph`` on ``arch`` (before
    mapping, :mod:`accelsim.model.resources`); raise :class:`~accelsim.errors.ResourceError`
    (exit 2) when the events exceed the limit (``options.max_events``, else
    ``$ACCELSIM_MAX_EVENTS``, else the default; 0: none). Returns the estimate."""
    from accelsim.model.resources import check_resources as _check

    opts = options or RunOptions()
    return _check(graph, arch, opts.mapping.model_copy(update={"mode": opts.mode}), opts.max_events)


def map_program(arch: ArchSpec, graph: Graph, options: RunOptions | None = None) -> Program:
    opts = options or RunOptions()
    mopts = opts.mapping.model_copy(update={"mode": opts.mode})
    check_resources(arch, graph, opts)
    return map_graph(graph, arch, mopts)


def explain(arch: ArchSpec, graph: Graph, op: str, *, top: int = 5,
            options: RunOptions | None = None) -> dict[str, Any]:
    """What the mapping chose for the op(s) ``op`` names (an IR op name or a module path) and
    why: a GEMM's ``top`` best search candidates, winner first, with ``why``; fused attention's
    placement; a vector op's tiling (:func:`accelsim.mapping.explain.explain`; JSON-able)."""
    from accelsim.mapping.explain import explain as _explain

    opts = options or RunOptions()
    mopts = opts.mapping.model_copy(update={"mode": opts.mode})
    check_resources(arch, graph, opts)
    return _explain(arch, graph, op, top=top, options=mopts)


def simulate(arch: ArchSpec, graph: Graph, options: RunOptions | None = None) -> RunResult:
    """Map ``graph`` onto ``arch`` and simulate it."""
    opts = options or RunOptions()
    program = map_program(arch, graph, opts)
    sim = _simulate(program, arch)
    result = build_result(program, sim, arch, graph, opts.to_dict())
    if opts.energy:
        attach_energy(result)
    if opts.gpu:
        attach_gpu(result, opts.gpu, opts.gpu_launch)
    if arch.rom is not None and opts.rom_compare and opts.energy:
        attach_rom_comparison(result, arch, graph, opts)
    attach_layers(result)
    if opts.enforce:
        enforce_policy(result)
    return result


def attach_layers(result: RunResult) -> None:
    """Add ``layers``: the per-layer rollup by module prefix (cycles, share, MACs, DRAM bytes,
    energy, MAC utilization, GPU time; see :mod:`accelsim.report.layers`)."""
    from accelsim.report.layers import layer_rollup, op_energy_j

    d = result.data
    g = result.gpu_result
    d["layers"] = layer_rollup(
        d["ops"],
        peak_macs_per_cycle=int(d.get("peak_macs_per_cycle") or 0),
        op_energy=op_energy_j(result),
        gpu_ops=[(o.module, o.time_s) for o in g.ops] if g is not None else None,
    )


def enforce_policy(result: RunResult) -> None:
    """Raise :class:`CheckFailure` (exit 1) when the run violated the residual access policy."""
    from accelsim.errors import CheckFailure, MappingError

    v = result.data.get("policy_violations")
    if v is None:
        raise MappingError("--enforce needs an architecture with a 'residual:' access policy")
    if v:
        lines = [
            f"{x['access']} of residual partition '{x['partition']}' by module '{x['module']}' "
            f"(op '{x['op']}', role '{x['role']}', rule '{x['rule']}')"
            for x in v
        ]
        raise CheckFailure(f"{len(v)} residual access-policy violation(s):\n  " + "\n  ".join(lines))


def attach_rom_comparison(result: RunResult, arch: ArchSpec, graph: Graph, opts: RunOptions) -> None:
    """Cost and benefit of hard-wiring: the same model on the same arch without ``rom:``."""
    plain = arch.model_copy(update={"rom": None})
    other = simulate(plain, graph, replace(opts, gpu=None, enforce=False, rom_compare=False))
    d, o = result.data, other.data
    keys = ("total_cycles", "latency_s", "energy_j", "area_mm2", "dram_read_bytes")
    d["rom_comparison"] = {
        "with_rom": {k: d[k] for k in keys},
        "without_rom": {k: o[k] for k in keys},
        "speedup": o["latency_s"] / d["latency_s"] if d["latency_s"] else None,
        "energy_saving_j": o["energy_j"] - d["energy_j"],
        "area_cost_mm2": d["area_mm2"] - o["area_mm2"],
    }


def attach_energy(result: RunResult) -> None:
    """Price the run's action counts: ``energy_j``, ``power_w``, ``area_mm2``, ``energy``."""
    from accelsim.energy.model import estimate_area, estimate_energy

    assert result.sim is not None and result.arch is not None and result.graph is not None
    counts = action_counts(result)
    d = result.data
    e = estimate_energy(result.arch, counts, d["latency_s"])
    a = estimate_area(result.arch, counts)
    meta = result.graph.meta
    batch = int(meta.get("batch", 1) or 1)
    tokens = int(meta.get("tokens", 0) or 0) or batch * int(meta.get("seq", 0) or 0)
    d["energy_j"] = e.total_j
    d["power_w"] = e.power_w
    d["area_mm2"] = a.total_mm2
    d["energy"] = {
        **e.to_dict(),
        "per_inference_j": e.per_inference_j(batch),
        "per_token_j": e.per_token_j(tokens) if tokens else None,
    }
    d["area"] = a.to_dict()
    d["action_counts"] = counts.to_dict()


def action_counts(result: RunResult) -> Any:
    """What the hardware did in a run, as the energy model's ActionCounts."""
    from accelsim.energy.counts import ActionCounts

    sim = result.sim
    assert sim is not None
    macs: dict[str, int] = {}
    for a in sim.arrays:
        macs[a.precision] = macs.get(a.precision, 0) + a.macs
    return ActionCounts(
        macs=macs,
        array_cycles={a.name: a.busy_cycles for a in sim.arrays},
        sram_reads={n: p.reads for n, p in sim.sram.parts.items()},
        sram_writes={n: p.writes for n, p in sim.sram.parts.items()},
        dram_read_bytes=sim.dram.read_bytes,
        dram_write_bytes=sim.dram.write_bytes,
        vector_ops=dict(sorted(sim.vector.ops_by_kind.items())),
        dma_transfers=sim.stats.dma_transfers,
        dma_bytes=sim.stats.dma_bytes,
        sequencer_commands=sim.stats.commands,
        rom_read_bytes=getattr(sim, "rom_read_bytes", 0),
        rom_bytes=getattr(sim, "rom_bytes", 0),
    )


def attach_gpu(result: RunResult, profile: str, launch: str = "eager") -> None:
    """Run the same graph through a GPU profile; add ``gpu``, ``speedup_vs_gpu`` and
    ``energy_ratio_vs_gpu`` (GPU energy / ASIC energy: > 1 means the ASIC uses less).

    ``launch`` is the GPU launch model (``"eager"`` or ``"graph"``); ``gpu`` keeps the kernel
    time apart from launch and framework overhead (``kernel_s``, ``launch_s``, ``framework_s``,
    ``launch_mode``; see :mod:`accelsim.gpu.model`)."""
    from accelsim.gpu.model import simulate_gpu
    from accelsim.gpu.profile import gpu_precision, load_profile

    assert result.arch is not None and result.graph is not None
    prof = load_profile(profile)
    prec = gpu_precision(result.arch.arrays[0].precision)
    if prec not in prof.precisions:
        prec = "fp16" if "fp16" in prof.precisions else "fp32"
    g = simulate_gpu(result.graph, prof, prec, launch=launch)
    result.gpu_result = g  # per-op GPU times, for the per-layer rollup
    d = result.data
    gd = g.to_dict()
    gd["power_w"] = g.energy_j / g.latency_s if g.latency_s else 0.0
    gd["top_ops"] = [
        {"name": o.op, "kind": o.kind, "module": o.module, "time_s": o.time_s, "bound": o.bound}
        for o in g.top_ops(5)
    ]
    d["gpu"] = gd
    d["speedup_vs_gpu"] = g.latency_s / d["latency_s"] if d["latency_s"] else None
    if "energy_j" in d and d["energy_j"]:
        d["energy_ratio_vs_gpu"] = g.energy_j / d["energy_j"]
        d["perf_per_watt_vs_gpu"] = d["speedup_vs_gpu"] * (gd["power_w"] / d["power_w"]) if d["power_w"] else None


def run(
    arch: str,
    workload: str,
    *,
    overrides: Sequence[str] = (),
    params: Mapping[str, object] | None = None,
    options: RunOptions | None = None,
) -> RunResult:
    """Load an architecture (path or shipped name) and a workload, then simulate."""
    return simulate(load_arch(arch, overrides), load_graph(workload, params), options)
