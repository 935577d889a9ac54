"""Engine pins: a mapped program frozen in a file with its architecture, and a digest of
everything the simulator reports for it, so that work on the engine's speed cannot change its
timing silently (``tests/sim/test_engine_pinned.py``; recorded with
``benchmarks/record_engine_pins.py``).

The digest covers what the rest of accelsim reads from a :class:`~accelsim.sim.engine.SimOutput`:
total cycles, the timeline split, every unit's busy/ideal cycles, tile count and busy
intervals, MACs and SCALE-Sim utilisations, vector element-ops by kind, DMA engine and DRAM
channel intervals and busy cycles, DRAM and SRAM bytes, every stall counter and interval list,
sequencer commands, each op's start/end/DRAM bytes, and the residual-policy checks. Not the
number of SimPy events (simulator work, not simulated behaviour).
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

from accelsim.arch.spec import ArchSpec
from accelsim.mapping.program import MappedOp, Program, SramAccess, Tile, Transfer

FORMAT = 1


def _canon(x: Any) -> str:
    return json.dumps(x, sort_keys=True, separators=(",", ":"), default=repr)


def _h(x: Any) -> str:
    return hashlib.sha256(_canon(x).encode()).hexdigest()[:16]


def sim_sections(out: Any) -> dict[str, Any]:
    """What a simulation reported, section by section (plain JSON-able values)."""
    units: dict[str, Any] = {}
    for u in [*out.arrays, out.vector]:
        d: dict[str, Any] = {"busy": u.busy_cycles, "ideal": u.ideal_cycles, "tiles": u.tiles,
                             "intervals": [list(iv) for iv in u.intervals]}
        if getattr(u, "kind", "") == "array":
            d.update(macs=u.macs, hidden_fill=u.hidden_fill_cycles,
                     su=repr(u.scalesim_compute_utilization), me=repr(u.mapping_efficiency))
        else:
            d.update(elements=u.elements, ops_by_kind=sorted(u.ops_by_kind.items()))
        units[u.name] = d
    st = out.stats
    sec: dict[str, Any] = {
        "total_cycles": out.total_cycles,
        "timeline": dict(out.timeline),
        "compat_offset": out.compat_offset,
        "units": units,
        "dma": {"busy": out.dma.busy_cycles, "intervals": [[list(iv) for iv in ivs] for ivs in out.dma.intervals]},
        "dram": {"busy": list(out.dram.busy_cycles), "read": out.dram.read_bytes, "write": out.dram.write_bytes,
                 "intervals": [[list(iv) for iv in ivs] for ivs in out.dram.intervals]},
        "sram": {n: [p.reads, p.writes] for n, p in out.sram.parts.items()},
        "stalls": {k: getattr(st, k) for k in ("dma_wait_cycles", "dram_queue_cycles", "bank_conflict_cycles",
                                                "sram_bandwidth_cycles", "dma_transfers", "dma_bytes", "commands")},
        "stall_intervals": {k: [list(iv) for iv in getattr(st, k)]
                            for k in ("transfer_intervals", "compute_intervals", "stall_intervals")},
        "ops": [[t.start, t.end, t.dram_bytes] for t in out.op_timing],
        "rom": [out.rom_read_bytes, out.rom_bytes],
    }
    p = out.policy
    if p is not None:
        sec["policy"] = {"checks": p.checks, "violations": [v.to_dict() for v in p.violations], "matrix": p.matrix}
    return sec


def sim_digest(out: Any) -> dict[str, Any]:
    """A few headline numbers (readable in a failure) and a digest per section and overall."""
    sec = sim_sections(out)
    st = sec["stalls"]
    return {
        "total_cycles": sec["total_cycles"],
        "timeline": sec["timeline"],
        "stalls": st,
        "sections": {k: _h(v) for k, v in sec.items()},
        "digest": _h(sec),
    }


# --- programs on disk -----------------------------------------------------------------------

def _tuples(x: Any) -> Any:
    return tuple(_tuples(v) for v in x) if isinstance(x, list) else x


def _nondefault(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if f.default is not dataclasses.MISSING and v == f.default:
            continue
        if f.default_factory is not dataclasses.MISSING and v == f.default_factory():
            continue
        out[f.name] = v
    return out


def _tile_dict(t: Tile) -> dict[str, Any]:
    d = _nondefault(t)
    for k in ("loads", "stores"):
        if k in d:
            d[k] = [_nondefault(tr) for tr in d[k]]
    if "sram" in d:
        d["sram"] = [_nondefault(a) for a in d["sram"]]
    return d


def _tile(d: dict[str, Any]) -> Tile:
    d = dict(d)
    for k in ("loads", "stores"):
        if k in d:
            d[k] = tuple(Transfer(**{**x, **({"banks": tuple(x["banks"])} if "banks" in x else {})}) for x in d[k])
    if "sram" in d:
        d["sram"] = tuple(SramAccess(**{**x, **({"banks": tuple(x["banks"])} if "banks" in x else {})})
                          for x in d["sram"])
    return Tile(**{k: (_tuples(v) if k not in ("loads", "stores", "sram") else v) for k, v in d.items()})


def program_to_dict(program: Program) -> dict[str, Any]:
    """The parts of ``program`` the engine reads (ops without their search plans; no graph)."""
    ops = []
    for o in program.ops:
        d = _nondefault(o)
        d.pop("plan", None)
        ops.append(d)
    return {"arch": program.arch, "mode": program.mode, "ops": ops,
            "tiles": [_tile_dict(t) for t in program.tiles], "rom_bytes": program.rom_bytes}


def program_from_dict(d: dict[str, Any]) -> Program:
    ops = tuple(MappedOp(**{k: _tuples(v) for k, v in o.items()}) for o in d["ops"])
    return Program(arch=d["arch"], mode=d["mode"], ops=ops, tiles=tuple(_tile(t) for t in d["tiles"]),
                   rom_bytes=d.get("rom_bytes", 0))


def save_pin(path: Path, name: str, program: Program, arch: ArchSpec, expected: dict[str, Any], source: str) -> None:
    """Write ``program`` on ``arch`` and its expected digest to ``path`` (gzip'd JSON, stable bytes)."""
    doc = {"format": FORMAT, "name": name, "source": source, "arch": arch.model_dump(mode="json"),
           "program": program_to_dict(program), "expected": expected}
    raw = (json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n").encode()
    path.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))


def load_pin(path: Path) -> tuple[Program, ArchSpec, dict[str, Any]]:
    doc = json.loads(gzip.decompress(path.read_bytes()))
    if doc.get("format") != FORMAT:
        raise ValueError(f"{path}: engine pin format {doc.get('format')!r}, expected {FORMAT}")
    return program_from_dict(doc["program"]), ArchSpec.model_validate(doc["arch"]), doc
