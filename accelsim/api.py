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

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "mapping": self.mapping.to_dict()}


def load_arch(path: str, overrides: Sequence[str] = ()) -> ArchSpec:
    from accelsim.arch.load import find_arch, load_arch as _load

    return _load(find_arch(path), overrides)


def load_graph(workload: str, params: Mapping[str, object] | None = None) -> Graph:
    from accelsim.workload.registry import load_graph as _lg

    g = _lg(workload, params)
    g.verify()
    return g


def map_program(arch: ArchSpec, graph: Graph, options: RunOptions | None = None) -> Program:
    opts = options or RunOptions()
    mopts = replace(opts.mapping, mode=opts.mode)
    return map_graph(graph, arch, mopts)


def simulate(arch: ArchSpec, graph: Graph, options: RunOptions | None = None) -> RunResult:
    """Map ``graph`` onto ``arch`` and simulate it."""
    opts = options or RunOptions()
    program = map_program(arch, graph, opts)
    sim = _simulate(program, arch)
    return build_result(program, sim, arch, graph, opts.to_dict())


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
