"""Reports summarised the way people read them: per layer, and per IR op.

* :func:`layer_of` -- the layer a module path belongs to: the path up to the first numeric
  component (a ``ModuleList`` index) plus one more (``h.3.attn.c_attn`` -> ``h.3.attn``,
  ``layers.3.mlp.up_proj`` -> ``layers.3.mlp``, ``h.3`` (residual adds) -> ``h.3``); paths
  without an index keep their first component (``lm_head``, ``ln_f``, ``wte``); ``""`` is
  ``<top>``.
* :func:`op_energy_j` -- each scheduled op's share of the run's energy (J). Every component of
  ``energy.breakdown_j`` is split over the ops in proportion to the activity that component
  prices: arrays by MACs x pJ/MAC of the array that ran them; each SRAM partition by the bytes
  its tiles moved there (compute accesses plus DMA transfers); DRAM by the op's DRAM bytes;
  the vector unit by element-ops x the per-kind energy; controllers by DMA transfers and bytes
  and sequencer commands (one per tile); ROM by ROM bytes read; static energy by the op's cycles
  (first tile's start to last tile's end). So the ops' energies sum to ``energy_j`` exactly (up
  to float rounding); a component no op drove is split by cycles.
* :func:`aggregate_ops` -- one row per IR op over the pieces it is scheduled as (an SDPA
  becomes per-head-group QK^T, softmax and AV pieces); every top-ops list uses it. An IR op's
  ``cycles`` are the cycles during which at least one of its pieces was in flight (for a
  one-piece op, its first tile's start to its last tile's end).
* :func:`layer_rollup` -- the ``layers`` list of ``result.json``, over those IR ops: per layer
  ``ops`` (IR ops with scheduled work), ``start_cycle`` / ``end_cycle``, ``cycles`` (the sum of
  its IR ops' cycles), ``busy_cycles`` (cycles with at least one of its ops in flight),
  ``share`` (``cycles`` over all IR ops' cycles: ops overlap in time, so shares add up to 1
  while ``cycles`` may add up to more than ``total_cycles``), ``macs``, ``elements``,
  ``dram_bytes``, ``energy_j``, ``mac_utilization`` (MACs / (peak MACs per cycle x
  ``busy_cycles``)), ``gpu_time_s`` (the GPU model's time for the same IR ops). ``cycles``,
  ``macs``, ``elements``, ``dram_bytes``, ``energy_j`` and ``gpu_time_s`` summed over layers
  equal the op totals (and ``dram_bytes`` the run's DRAM traffic, ``energy_j`` its energy,
  ``gpu_time_s`` the GPU latency).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["LAYER_COLUMNS", "aggregate_ops", "layer_of", "layer_rollup", "op_energy_j", "top_ops"]

#: Columns of ``layers.csv`` (and the keys of each ``layers`` entry), in order.
LAYER_COLUMNS = [
    "layer", "ops", "start_cycle", "end_cycle", "cycles", "busy_cycles", "share", "macs", "elements",
    "dram_bytes", "energy_j", "mac_utilization", "gpu_time_s",
]


def _r(x: float) -> float:
    """10 significant digits, as in result.json."""
    return float(f"{float(x):.10g}")


def layer_of(module: str) -> str:
    """The layer of a module path (see the module docstring)."""
    if not module:
        return "<top>"
    parts = module.split(".")
    for i, p in enumerate(parts):
        if p.isdigit():
            return ".".join(parts[: i + 2])
    return parts[0]


# ---------------------------------------------------------------------------------------------
# per-op energy
# ---------------------------------------------------------------------------------------------


def _split(total: float, weights: Sequence[float], fallback: Sequence[float]) -> list[float]:
    w = list(weights)
    s = math.fsum(w)
    if s <= 0:
        w = list(fallback)
        s = math.fsum(w)
        if s <= 0:
            w = [1.0] * len(w)
            s = float(len(w))
    return [total * x / s for x in w] if s > 0 else [0.0] * len(w)


def op_energy_j(result: Any) -> list[float] | None:
    """Energy attributed to each scheduled op (J), in ``result.data["ops"]`` order; None when the
    run has no energy estimate or no program/arch (a result loaded from JSON)."""
    d = result.data
    energy = d.get("energy")
    program, arch = getattr(result, "program", None), getattr(result, "arch", None)
    if not isinstance(energy, Mapping) or program is None or arch is None:
        return None
    breakdown: Mapping[str, float] = energy.get("breakdown_j") or {}
    per: Mapping[str, float] = energy.get("per_action_pj") or {}
    ops = d["ops"]
    n = len(ops)
    if n == 0:
        return []
    pair = {name: f"{a.precision}/{a.acc_precision}" for name, a in arch.array_instances()}
    mac_w = [0.0] * n
    vec_w = [0.0] * n
    ctl_w = [0.0] * n
    rom_w = [0.0] * n
    sram_w: dict[str, list[float]] = {}
    e_tr = float(per.get("dma.transfer", 0.0))
    e_b = float(per.get("dma.byte", 0.0))
    e_cmd = float(per.get("sequencer.command", 0.0))
    for i, op in enumerate(program.ops):
        for t in program.tiles[op.tiles[0]:op.tiles[1]]:
            if t.macs:
                mac_w[i] += t.macs * float(per.get(f"mac.{pair.get(t.unit, '')}", 1.0))
            if t.vector_elems:
                vec_w[i] += t.vector_elems * float(per.get(f"vector.{t.vector_kind}", 1.0))
            xfers = (*t.loads, *t.stores)
            ctl_w[i] += len(xfers) * e_tr + sum(x.nbytes for x in xfers) * e_b + e_cmd
            rom_w[i] += t.rom_read_bytes
            for x in xfers:
                sram_w.setdefault(x.partition, [0.0] * n)[i] += x.nbytes
            for a in t.sram:
                sram_w.setdefault(a.partition, [0.0] * n)[i] += a.nbytes
    cycles = [float(o["cycles"]) for o in ops]
    dram = [float(o["dram_bytes"]) for o in ops]
    out = [0.0] * n
    for comp, total in breakdown.items():
        if not total:
            continue
        if comp == "arrays":
            w: Sequence[float] = mac_w
        elif comp == "vector":
            w = vec_w
        elif comp == "dram":
            w = dram
        elif comp == "controllers":
            w = ctl_w
        elif comp == "rom":
            w = rom_w
        elif comp.startswith("sram."):
            w = sram_w.get(comp[len("sram."):], [0.0] * n)
        else:  # static, and any component added later: by time
            w = cycles
        for i, e in enumerate(_split(float(total), w, cycles)):
            out[i] += e
    return out


# ---------------------------------------------------------------------------------------------
# rollups
# ---------------------------------------------------------------------------------------------


def _union(intervals: Iterable[tuple[int, int]]) -> int:
    """Cycles covered by at least one [start, end) interval."""
    total = 0
    cur_s = cur_e = -1
    for s, e in sorted(intervals):
        if e <= s:
            continue
        if s > cur_e:
            total += max(0, cur_e - cur_s)
            cur_s, cur_e = s, e
        elif e > cur_e:
            cur_e = e
    return total + max(0, cur_e - cur_s)


def aggregate_ops(ops: Sequence[Mapping[str, Any]], op_energy: Sequence[float] | None = None) -> list[dict[str, Any]]:
    """One row per IR op (``ir_op``, falling back to ``name``) over its scheduled pieces, in
    order of first appearance: ``name`` (the IR op), ``kind`` (the IR kind: a piece's kind is
    ``<kind>.<piece>``), ``module``, ``unit`` (``+``-joined when pieces ran on several),
    ``pieces``, ``start_cycle`` / ``end_cycle``, ``cycles`` (cycles during which at least one
    piece was in flight: for an op of one piece, its end - start), ``macs``, ``elements``,
    ``dram_bytes``, ``utilization`` (the pieces' utilizations weighted by their cycles) and,
    with ``op_energy``, ``energy_j``. Free layout ops (unit ``none``) are left out."""
    rows: dict[str, dict[str, Any]] = {}
    spans: dict[str, list[tuple[int, int]]] = {}
    for i, o in enumerate(ops):
        if o.get("unit") == "none":
            continue
        key = str(o.get("ir_op") or o.get("name"))
        r = rows.get(key)
        if r is None:
            r = rows[key] = {"name": key, "kind": str(o.get("kind", "")).split(".")[0],
                             "module": o.get("module", ""), "units": [], "pieces": 0,
                             "start_cycle": int(o["start_cycle"]), "end_cycle": int(o["end_cycle"]),
                             "cycles": 0, "macs": 0, "elements": 0, "dram_bytes": 0,
                             "utilization": 0.0, "_uw": 0.0, "_c": 0, "_e": []}
        if o.get("unit") not in r["units"]:
            r["units"].append(o.get("unit"))
        r["pieces"] += 1
        s, e = int(o["start_cycle"]), int(o["end_cycle"])
        r["start_cycle"] = min(r["start_cycle"], s)
        r["end_cycle"] = max(r["end_cycle"], e)
        spans.setdefault(key, []).append((s, e))
        c = int(o["cycles"])
        r["_c"] += c
        r["_uw"] += float(o.get("utilization") or 0.0) * c
        r["macs"] += int(o.get("macs") or 0)
        r["elements"] += int(o.get("elements") or 0)
        r["dram_bytes"] += int(o.get("dram_bytes") or 0)
        if op_energy is not None:
            r["_e"].append(op_energy[i])
    out = []
    for key, r in rows.items():
        r["unit"] = "+".join(str(u) for u in r.pop("units"))
        r["cycles"] = r["end_cycle"] - r["start_cycle"] if r["pieces"] == 1 else _union(spans[key])
        uw, c, es = r.pop("_uw"), r.pop("_c"), r.pop("_e")
        r["utilization"] = _r(min(1.0, uw / c)) if c else 0.0
        if op_energy is not None:
            r["energy_j"] = math.fsum(es)
        out.append(r)
    return out


def top_ops(ops: Sequence[Mapping[str, Any]], n: int) -> list[dict[str, Any]]:
    """The ``n`` IR ops with the most cycles (all of them when ``n <= 0``), pieces aggregated."""
    rows = sorted(aggregate_ops(ops), key=lambda r: (-r["cycles"], r["name"]))
    return rows if n <= 0 else rows[:n]


def layer_rollup(
    ops: Sequence[Mapping[str, Any]],
    *,
    peak_macs_per_cycle: int,
    op_energy: Sequence[float] | None = None,
    gpu_ops: Iterable[tuple[str, float]] | None = None,
) -> list[dict[str, Any]]:
    """Per-layer rows (see the module docstring). ``ops`` are result.json's ``ops``;
    ``op_energy`` the energies from :func:`op_energy_j`; ``gpu_ops`` (module, seconds) pairs,
    one per IR op the GPU model costed.

    Rows are in order of the layer's first op; a layer only the GPU has (no scheduled ASIC op)
    comes after them, in GPU order. ``energy_j`` / ``gpu_time_s`` are None without an energy
    estimate / a GPU comparison."""
    agg = aggregate_ops(ops, op_energy)
    total = sum(r["cycles"] for r in agg)
    rows: dict[str, dict[str, Any]] = {}
    spans: dict[str, list[tuple[int, int]]] = {}
    energy: dict[str, list[float]] = {}
    gtime: dict[str, list[float]] = {}

    def row(name: str) -> dict[str, Any]:
        r = rows.get(name)
        if r is None:
            r = rows[name] = {"layer": name, "ops": 0, "start_cycle": None, "end_cycle": None, "cycles": 0,
                              "busy_cycles": 0, "share": 0.0, "macs": 0, "elements": 0, "dram_bytes": 0,
                              "energy_j": None, "mac_utilization": 0.0, "gpu_time_s": None}
        return r

    for a in agg:
        name = layer_of(str(a.get("module") or ""))
        r = row(name)
        r["ops"] += 1
        r["start_cycle"] = a["start_cycle"] if r["start_cycle"] is None else min(r["start_cycle"], a["start_cycle"])
        r["end_cycle"] = a["end_cycle"] if r["end_cycle"] is None else max(r["end_cycle"], a["end_cycle"])
        r["cycles"] += a["cycles"]
        r["macs"] += a["macs"]
        r["elements"] += a["elements"]
        r["dram_bytes"] += a["dram_bytes"]
        if op_energy is not None:
            energy.setdefault(name, []).append(a["energy_j"])
    for o in ops:
        if o.get("unit") != "none":  # busy: over the pieces themselves, not their span
            spans.setdefault(layer_of(str(o.get("module") or "")), []).append(
                (int(o["start_cycle"]), int(o["end_cycle"])))
        elif int(o.get("dram_bytes") or 0):
            # Free layout ops have no cycles, but may move bytes in a future mapper: keep totals whole.
            row(layer_of(str(o.get("module") or "")))["dram_bytes"] += int(o["dram_bytes"])
    if gpu_ops is not None:
        for module, t in gpu_ops:
            name = layer_of(module or "")
            row(name)
            gtime.setdefault(name, []).append(float(t))
    out = []
    for name, r in rows.items():
        r["busy_cycles"] = _union(spans.get(name, []))
        r["share"] = _r(r["cycles"] / total) if total else 0.0
        r["mac_utilization"] = (_r(min(1.0, r["macs"] / (peak_macs_per_cycle * r["busy_cycles"])))
                                if r["busy_cycles"] and peak_macs_per_cycle else 0.0)
        if op_energy is not None:
            r["energy_j"] = math.fsum(energy.get(name, []))
        if gpu_ops is not None:
            r["gpu_time_s"] = math.fsum(gtime.get(name, []))
        out.append(r)
    return out
