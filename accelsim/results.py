"""RunResult: the stable, deterministic record of one simulation.

``RunResult.data`` is what ``result.json`` holds. Its layout is a public contract, described key
by key (types, units) by :class:`accelsim.result_schema.ResultModel` and versioned by its
``schema_version`` key; :meth:`RunResult.typed` reads it through that model. No wall-clock
values go in it, so two runs give byte-identical JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accelsim import RESULT_SCHEMA_VERSION, __version__
from accelsim.arch.spec import ArchSpec
from accelsim.mapping.program import Program
from accelsim.sim.engine import SimOutput
from accelsim.workload.ir import Graph

if TYPE_CHECKING:
    from accelsim.result_schema import ResultModel

OPS_COLUMNS = [
    "name", "ir_op", "kind", "module", "unit", "start_cycle", "end_cycle", "cycles",
    "macs", "elements", "dram_bytes", "utilization", "tiles", "note",
    # what the mapping chose (accelsim/mapping/explain.py: mapping_columns)
    "mapping", "residency", "predicted_cycles", "simulated_cycles", "bound",
]


def _r(x: float) -> float:
    """Round to 10 significant digits: stable JSON, no spurious float noise."""
    return float(f"{float(x):.10g}")


@dataclass
class RunResult:
    data: dict[str, Any]
    program: Program | None = field(default=None, repr=False)
    sim: SimOutput | None = field(default=None, repr=False)
    graph: Graph | None = field(default=None, repr=False)
    arch: ArchSpec | None = field(default=None, repr=False)
    gpu_result: Any = field(default=None, repr=False)  # accelsim.gpu.model.GpuResult, per-op times
    #: a multi-chip run's plan and programs (accelsim.api_system.SystemRaw; None for one chip)
    system_raw: Any = field(default=None, repr=False)

    def __getitem__(self, k: str) -> Any:
        return self.data[k]

    def to_json(self) -> str:
        return json.dumps(self.data, indent=2, sort_keys=False) + "\n"

    def typed(self) -> ResultModel:
        """The result as :class:`~accelsim.result_schema.ResultModel`: what result.json holds,
        validated, with typed attributes (raises pydantic's ``ValidationError`` when ``data``
        does not match the schema)."""
        from accelsim.result_schema import validate_result

        return validate_result(json.loads(self.to_json()))

    def ops_frame(self) -> Any:
        """The per-op table as a pandas DataFrame (columns :data:`OPS_COLUMNS`)."""
        import pandas as pd

        return pd.DataFrame(self.data["ops"], columns=OPS_COLUMNS)

    def layers_frame(self) -> Any:
        """The per-layer rollup (``layers``) as a pandas DataFrame; see accelsim/report/layers.py."""
        import pandas as pd

        from accelsim.report.layers import LAYER_COLUMNS

        return pd.DataFrame(self.data.get("layers", []), columns=LAYER_COLUMNS)

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write ``result.json``, ``ops.csv`` and (when the result has ``layers``) ``layers.csv``."""
        d = Path(out_dir)
        d.mkdir(parents=True, exist_ok=True)
        rj = d / "result.json"
        rj.write_text(self.to_json())
        oc = d / "ops.csv"
        _write_csv(oc, self.data["ops"], OPS_COLUMNS)
        out = [rj, oc]
        if "layers" in self.data:
            from accelsim.report.layers import LAYER_COLUMNS

            lc = d / "layers.csv"
            _write_csv(lc, self.data["layers"], LAYER_COLUMNS)
            out.append(lc)
        return out


def _write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    """A CSV like pandas' ``to_csv(index=False)`` writes (None -> empty cell), without the
    0.5 s pandas import on every ``--out``."""
    import csv

    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow(["" if r.get(c) is None else r.get(c) for c in columns])


TIMELINE_BINS = 100


def _binned(intervals: list[tuple[int, int]], total: int, bins: int = TIMELINE_BINS, width: int = 1) -> list[float]:
    """Busy fraction of ``width`` parallel servers in each of ``bins`` equal time bins.

    The busy time up to ``x`` is ``F(x) = sum(max(0, x - start) - max(0, x - end))``: with the
    starts and ends sorted, ``(starts before x - ends before x) * x - (their sums' difference)``
    at every bin edge (``O(n log n)``; the sums are integers, exact), and a bin's busy time is
    the difference of ``F`` at its edges."""
    if total <= 0:
        return [0.0] * bins
    import numpy as np

    size = total / bins
    iv = np.asarray(intervals, dtype=np.int64).reshape(-1, 2)
    iv = iv[iv[:, 1] > iv[:, 0]]
    if not len(iv):
        return [0.0] * bins
    starts = np.sort(iv[:, 0])
    ends = np.sort(iv[:, 1])
    cs = np.concatenate(([0], np.cumsum(starts)))
    ce = np.concatenate(([0], np.cumsum(ends)))
    edges = np.arange(bins + 1, dtype=np.float64) * size
    ks = np.searchsorted(starts, edges, side="left")  # starts < x
    ke = np.searchsorted(ends, edges, side="left")
    upto = (ks - ke).astype(np.float64) * edges - (cs[ks] - ce[ke]).astype(np.float64)
    acc = np.diff(upto)
    return [_r(min(1.0, max(0.0, a) / (size * width))) for a in acc.tolist()]


def _residual_and_rom(sim: SimOutput, program: Program) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if sim.policy is not None:
        out["access_matrix"] = {r: dict(sorted(v.items())) for r, v in sorted(sim.policy.matrix.items())}
        out["policy_checks"] = sim.policy.checks
        out["policy_violations"] = [v.to_dict() for v in sim.policy.violations]
    if program.rom_bytes:
        out["rom"] = {"bytes": program.rom_bytes, "read_bytes": sim.rom_read_bytes,
                      "weights": list(program.rom_weights)}
    return out


def _mapping_columns(op: Any, program: Program, simulated: int) -> dict[str, Any]:
    """``mapping``, ``residency``, ``predicted_cycles``, ``simulated_cycles`` (the op's simulated
    span, end - start) and ``bound`` of one op (see :mod:`accelsim.mapping.explain`)."""
    from accelsim.mapping.explain import mapping_columns

    c = mapping_columns(op, program)
    return {"mapping": c["mapping"], "residency": c["residency"], "predicted_cycles": c["predicted_cycles"],
            "simulated_cycles": simulated, "bound": c["bound"]}


def build_result(
    program: Program,
    sim: SimOutput,
    arch: ArchSpec,
    graph: Graph,
    options: dict[str, Any],
) -> RunResult:
    total = sim.total_cycles + sim.compat_offset
    denom = max(1, sim.total_cycles)
    units: dict[str, dict[str, Any]] = {}
    peak = arch.peak_macs_per_cycle
    macs = sum(a.macs for a in sim.arrays)
    for a in sim.arrays:
        units[a.name] = {
            "kind": "systolic_array",
            "shape": f"{a.spec.rows}x{a.spec.cols}",
            "dataflow": a.spec.dataflow,
            "busy_cycles": a.busy_cycles,
            "utilization": _r(a.busy_cycles / denom),
            "mac_utilization": _r(a.macs / (a.pes * denom)),
            "tiles": a.tiles,
            "macs": a.macs,
        }
    v = sim.vector
    units["vector"] = {
        "kind": "vector",
        "busy_cycles": v.busy_cycles,
        "utilization": _r(v.busy_cycles / denom),
        "tiles": v.tiles,
        "elements": v.elements,
    }
    n_dma = arch.controller.dma.engines
    units["dma"] = {
        "kind": "dma",
        "engines": n_dma,
        "busy_cycles": sim.dma.busy_cycles,
        "utilization": _r(sim.dma.busy_cycles / (denom * n_dma)),
        "transfers": sim.stats.dma_transfers,
    }
    for c, busy in enumerate(sim.dram.busy_cycles):
        units[f"dram.ch{c}"] = {"kind": "dram_channel", "busy_cycles": busy, "utilization": _r(busy / denom)}
    units["sequencer"] = {"kind": "sequencer", "commands": sim.stats.commands,
                          "busy_cycles": sim.stats.commands * (0 if program.mode == "scalesim"
                                                               else arch.controller.sequencer.issue_cycles)}
    units["sequencer"]["utilization"] = _r(units["sequencer"]["busy_cycles"] / denom)

    ideal = sum(a._su_weight for a in sim.arrays)  # SCALE-Sim metrics are weighted by tile cycles
    su = sum(a._su_weighted for a in sim.arrays)
    me = sum(a._me_weighted for a in sim.arrays)
    array_util = {
        "mac_utilization": _r(macs / (peak * denom)) if peak else 0.0,
        "scalesim_compute_utilization": _r(su / ideal) if ideal else 0.0,
        "scalesim_mapping_efficiency": _r(me / ideal) if ideal else 0.0,
        "busy_fraction": _r(sum(a.busy_cycles for a in sim.arrays) / (denom * len(sim.arrays))),
    }
    ops = []
    for op, t in zip(program.ops, sim.op_timing):
        cyc = max(0, t.end - t.start)
        if op.unit == "array":
            n_used = len({program.tiles[i].unit for i in range(*op.tiles)}) or 1
            pes = sum(a.pes for a in sim.arrays[:n_used])
            util = op.macs / (pes * cyc) if cyc else 0.0
        elif op.unit == "vector":
            el = sum(program.tiles[i].vector_elems for i in range(*op.tiles))
            util = el / (arch.vector.lanes * cyc) if cyc else 0.0
        else:
            util = 0.0
        ops.append({
            "name": op.name, "ir_op": op.ir_op, "kind": op.kind, "module": op.module,
            "unit": op.unit, "start_cycle": t.start, "end_cycle": t.end, "cycles": cyc,
            "macs": op.macs, "dram_bytes": t.dram_bytes, "utilization": _r(min(util, 1.0)),
            "tiles": op.tiles[1] - op.tiles[0], "note": op.note,
            "elements": sum(program.tiles[i].vector_elems for i in range(*op.tiles)) if op.unit == "vector" else 0,
            **_mapping_columns(op, program, cyc),
        })
    st = sim.stats
    data: dict[str, Any] = {
        "schema_version": RESULT_SCHEMA_VERSION,  # the layout accelsim.result_schema describes
        "accelsim_version": __version__,
        "arch": arch.name,
        "workload": graph.name,
        "workload_meta": dict(graph.meta),
        "options": options,
        "clock_ghz": arch.clock_ghz,
        "arch_summary": {
            "peak_macs_per_cycle": peak,
            "clock_ghz": arch.clock_ghz,
            "dram_bandwidth_gbps": arch.dram.bandwidth_gbps,
            "vector_ops_per_cycle": arch.vector.lanes,
            "arrays": len(sim.arrays),
            "sram_bytes": arch.sram.total_bytes,
            "technology": arch.technology,
        },
        "total_cycles": total,
        "latency_s": total / arch.clock_hz,
        "macs": macs,
        "peak_macs_per_cycle": peak,
        "units": units,
        "array_utilization": array_util,
        "dram_read_bytes": sim.dram.read_bytes,
        "dram_write_bytes": sim.dram.write_bytes,
        "sram": {
            n: {"read_bytes": p.reads, "write_bytes": p.writes, "banks": p.banks}
            for n, p in sim.sram.parts.items()
        },
        "bank_conflict_stall_cycles": st.bank_conflict_cycles,
        "sram_bandwidth_stall_cycles": st.sram_bandwidth_cycles,
        "dma_stall_cycles": st.dma_wait_cycles + st.dram_queue_cycles,
        "dma_engine_wait_cycles": st.dma_wait_cycles,
        "dram_queue_cycles": st.dram_queue_cycles,
        "timeline_cycles": sim.timeline,
        "utilization_timeline": {
            "bins": TIMELINE_BINS,
            "bin_cycles": _r(max(1, sim.total_cycles) / TIMELINE_BINS),
            "units": {
                **{a.name: _binned([(x, y) for x, y, _ in a.intervals], sim.total_cycles) for a in sim.arrays},
                "vector": _binned([(x, y) for x, y, _ in sim.vector.intervals], sim.total_cycles),
                "dma": _binned([(x, y) for ivs in sim.dma.intervals for x, y, _ in ivs], sim.total_cycles,
                               width=n_dma),
                "dram": _binned([iv for ivs in sim.dram.intervals for iv in ivs], sim.total_cycles,
                                width=len(sim.dram.intervals)),
            },
        },
        "events": sim.events,
        "tiles": len(program.tiles),
        **_residual_and_rom(sim, program),
        "ops": ops,
    }
    return RunResult(data=data, program=program, sim=sim, graph=graph, arch=arch)
