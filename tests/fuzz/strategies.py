"""Hypothesis strategies for hostile inputs: values a clumsy or malicious user might type, and
mutations of valid architecture, sweep, suite and graph documents built from them."""

from __future__ import annotations

import copy
import math
from typing import Any

from hypothesis import strategies as st

from builders import BASE_ARCH

#: Numbers at and past every kind of edge.
NUMBERS = st.sampled_from([
    0, -1, 1, 2, 3, 7, 8, 15, 16, 64, 100, 255, 256, 4096, 4097, 65536, 10**6, 10**9, 10**12, 2**63,
    0.0, -0.0, 1e-300, 1e-9, 1e-3, 0.5, 1.5, 3.2, 1e6, 1e20, 1e300, math.inf, -math.inf, math.nan,
])
#: Strings: names, markup, paths, enum members and near-misses, NUL and control characters.
STRINGS = st.sampled_from([
    "", "x", "ws", "os", "is", "rs", "int8", "bf16", "fp64", "45nm", "7nm", "5nm", "ddr4", "hbm9",
    "vector", "dma", "sequencer", "dram.ch0", "none", "sa0", "mxu.0", "[bold]x[/]", "[/]", "a b",
    "inputs", "weights", "outputs", "accumulators", "residual", "../../etc/passwd", "\x00", "\x1b[31m",
    "é" * 3, "x" * 300,
])
SCALARS = st.one_of(NUMBERS, STRINGS, st.booleans(), st.none(),
                    st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True))
VALUES = st.recursive(SCALARS, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(STRINGS, kids, max_size=3)), max_leaves=6)
#: Values a real design could have: most mutations of a valid arch should stay valid, so the
#: fuzz reaches the simulator, not only the validator.
PLAUSIBLE = st.one_of(
    st.integers(1, 300), st.floats(0.01, 500.0), st.sampled_from([1, 2, 4, 8, 16, 32, 64, 128, 1024]),
    st.sampled_from(["ws", "os", "is", "int8", "int16", "bf16", "fp16", "fp32", "int32", "lpddr4", "hbm2e",
                     "ddr4", "45nm", "28nm", "7nm", "mxu", "pe_grid"]),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


ARCH_PATHS = _paths(BASE_ARCH)
#: Fields the base arch does not set, and keys that do not exist at all.
EXTRA_ARCH_PATHS: list[tuple[Any, ...]] = [
    ("arrays", 0, "count"), ("arrays", 0, "name"), ("arrays", 0, "mac_energy_pj"), ("arrays", 0, "area_mm2"),
    ("static_power_w",), ("dram", "energy_pj_per_bit"), ("dram", "capacity_gib"), ("vector", "op_cycles"),
    ("vector", "op_cycles", "exp"), ("vector", "pipeline_latency_cycles"), ("vector", "precision"),
    ("sram", "read_energy_pj"), ("sram", "partitions", "inputs", "read_energy_pj"), ("rom",), ("residual",),
    ("controller", "dma", "transfer_energy_pj"), ("version",), ("arrays", 0, "rowz"), ("bogus",),
]


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    node = doc
    for seg in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(seg, {})
        elif isinstance(node, list) and isinstance(seg, int) and seg < len(node):
            node = node[seg]
        else:
            return doc
        if not isinstance(node, (dict, list)):
            return doc
    last = path[-1]
    value = copy.deepcopy(value)  # a drawn value may be a subtree of BASE_ARCH (st.just): never share it
    if isinstance(node, dict):
        node[last] = value
    elif isinstance(node, list) and isinstance(last, int) and last < len(node):
        node[last] = value
    return doc


@st.composite
def arch_docs(draw: Any, hostile: bool = True) -> dict[str, Any]:
    """BASE_ARCH with 1..4 fields replaced by hostile values (or deleted, or a group added);
    with ``hostile=False``, only by values of the field's own type in a plausible range (most
    such archs are valid, so the simulator is reached)."""
    doc = copy.deepcopy(BASE_ARCH)
    if not hostile:
        for _ in range(draw(st.integers(1, 4))):
            path = draw(st.sampled_from(ARCH_PATHS))
            doc = _set(doc, path, draw(_like(_get(BASE_ARCH, path))))
        return doc
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["value", "value", "value", "delete", "add_array"]))
        if how == "add_array":
            if not isinstance(doc.get("arrays"), list):
                continue
            doc["arrays"].append({"rows": draw(NUMBERS), "cols": draw(NUMBERS), "name": draw(STRINGS),
                                  "count": draw(NUMBERS)})
            continue
        path = draw(st.sampled_from(ARCH_PATHS + EXTRA_ARCH_PATHS))
        if how == "delete":
            node: Any = doc
            for seg in path[:-1]:
                if isinstance(node, dict):
                    node = node.get(seg)
                elif isinstance(node, list) and isinstance(seg, int) and seg < len(node):
                    node = node[seg]
                else:
                    node = None
                if node is None:
                    break
            if isinstance(node, dict):
                node.pop(path[-1], None)
            continue
        doc = _set(doc, path, draw(st.one_of(_like(_get(BASE_ARCH, path)), PLAUSIBLE, VALUES)))
    return doc


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    node = doc
    for seg in path:
        if isinstance(node, dict) and seg in node:
            node = node[seg]
        elif isinstance(node, list) and isinstance(seg, int) and seg < len(node):
            node = node[seg]
        else:
            return None
    return node


def _like(original: Any) -> Any:
    """A value of the same type as ``original`` in a range a design could use."""
    if isinstance(original, bool):
        return st.booleans()
    if isinstance(original, int):
        return st.integers(1, 128)
    if isinstance(original, float):
        return st.floats(0.01, 200.0)
    if isinstance(original, list) and original and all(isinstance(x, int) for x in original):
        return st.lists(st.integers(0, 9), min_size=1, max_size=4)
    if isinstance(original, str):  # an enum member or a name: another member, mostly
        return st.one_of(st.just(original), st.sampled_from(
            ["ws", "os", "is", "int8", "int16", "bf16", "fp16", "fp32", "int32", "lpddr4", "hbm2e", "ddr4",
             "45nm", "28nm", "7nm"]))
    return st.just(original).map(copy.deepcopy)  # a fresh copy: never a shared subtree of BASE_ARCH


GEMMS = st.builds(lambda m, n, k: f"gemm:M={m},N={n},K={k}",
                  st.sampled_from([1, 7, 16, 33, 64]), st.sampled_from([1, 8, 16, 48]), st.sampled_from([1, 8, 32]))

SWEEP_PATHS = st.sampled_from([
    "arrays[0].rows", "arrays[0].cols", "dram.bandwidth_gbps", "sram.banks", "clock_ghz", "arrays[0].dataflow",
    "arrays[0].rowz", "arrays[3].rows", "arrays.rows", "dram..channels", "options.mode",
    "options.mapping.tile_k_folds", "options.mapping.resident_fraction", "options.mapping.nope", "options.foo",
    "vector.op_cycles.exp", "arrays[0].name", "controller.dma.engines", "",
])
METRIC_NAMES = st.sampled_from([
    "latency_s", "energy_j", "mac_utilization", "area_mm2", "dram_bytes", "units.sa0.utilization",
    "latency", "total_cycle", "untis.x", "", "check_passed", "inference.tpot_s",
])


@st.composite
def sweep_docs(draw: Any) -> dict[str, Any]:
    """A sweep over the fuzz arch: 0..2 parameters of 1..2 values each (at most 4 points)."""
    params = {draw(SWEEP_PATHS): draw(st.lists(VALUES, min_size=0, max_size=2)) for _ in range(draw(st.integers(0, 2)))}
    doc: dict[str, Any] = {"base": "arch.yaml", "parameters": params, "workloads": [draw(GEMMS)]}
    if draw(st.booleans()):
        doc["objectives"] = draw(st.lists(st.one_of(METRIC_NAMES, st.builds(
            lambda m, d: {"metric": m, "direction": d}, METRIC_NAMES, st.sampled_from(["min", "max", "down"]))),
            min_size=0, max_size=2))
    if draw(st.booleans()):
        doc["strategy"] = draw(st.sampled_from([
            "grid", "bayes", {"kind": "random", "samples": 3, "seed": 1}, {"kind": "random", "samples": -1},
            {"kind": "nsga2", "trials": 2, "population": 2, "seed": 0}, {"kind": "nsga2", "trials": 2, "seed": 2**40},
        ]))
    if draw(st.booleans()):
        doc["options"] = {"mapping": {draw(st.sampled_from(["tile_k_folds", "resident_fraction", "verify_top",
                                                             "fuse_attention", "bogus"])): draw(VALUES)}}
    if draw(st.booleans()):
        doc[draw(STRINGS)] = draw(VALUES)
    return doc


@st.composite
def suite_docs(draw: Any) -> dict[str, Any]:
    """A suite of 1..2 GEMM cases on the fuzz arch with hostile metrics, options and overrides."""
    cases = []
    for i in range(draw(st.integers(1, 2))):
        c: dict[str, Any] = {"name": draw(st.sampled_from([f"case{i}", f"case{i}", "a b", "", "dup"])),
                             "arch": draw(st.sampled_from(["arch.yaml", "arch.yaml", "nope.yaml", "edge-int8"])),
                             "workload": draw(GEMMS)}
        if draw(st.booleans()):
            c["set"] = [draw(st.sampled_from(["dram.channels=1", "arrays[0].rows=0", "clock_ghz=.inf", "x", "=1",
                                              "dram.bandwidth_gbps=1e300", "arrays[0].name=vector"]))]
        if draw(st.booleans()):
            c["options"] = draw(st.sampled_from([{"compat": "scalesim"}, {"compat": "gem5"}, {"check": True},
                                                 {"mapping": {"tile_k_folds": -1}}, {"mapping": {"tile_k_folds": 2}}]))
        if draw(st.booleans()):
            c["max_wall_s"] = draw(NUMBERS)
        cases.append(c)
    doc: dict[str, Any] = {"version": 1, "cases": cases}
    if draw(st.booleans()):
        doc["metrics"] = {draw(METRIC_NAMES): draw(st.one_of(st.none(), st.builds(
            lambda r, d: {"rel": r, "direction": d}, NUMBERS, st.sampled_from(["lower_is_better", "exact", "up"]))))}
    return doc


@st.composite
def graph_docs(draw: Any, base: dict[str, Any]) -> dict[str, Any]:
    """A saved graph JSON with 1..3 edits: shapes, dtypes, names, edges, keys."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        what = draw(st.sampled_from(["shape", "dim", "dtype", "edge", "drop", "value", "cycle", "format",
                                     "field", "attr", "meta"]))
        tensors = doc.get("tensors") if isinstance(doc.get("tensors"), list) else []
        ops = doc.get("ops") if isinstance(doc.get("ops"), list) else []
        if what in ("shape", "dim", "dtype") and tensors:
            t = draw(st.sampled_from(tensors))
            if not isinstance(t, dict):
                continue
            if what == "shape":
                t["shape"] = draw(st.lists(st.sampled_from([0, -1, 1, 3, 64, 10**12, 2**40]), max_size=4))
            elif what == "dim" and isinstance(t.get("shape"), list) and t["shape"]:
                t["shape"][draw(st.integers(0, len(t["shape"]) - 1))] = draw(NUMBERS)
            else:
                t["dtype"] = draw(STRINGS)
        elif what == "edge" and ops:
            op = draw(st.sampled_from(ops))
            if isinstance(op, dict):
                key = draw(st.sampled_from(["inputs", "outputs"]))
                op[key] = draw(st.lists(st.sampled_from(["a", "b", "c", "zz", "", "matmul"]), max_size=3))
        elif what == "cycle" and ops and isinstance(ops[0], dict):
            ops.append({**copy.deepcopy(ops[0]), "name": "again"})
        elif what == "drop":
            doc.pop(draw(st.sampled_from(sorted(doc))), None)
        elif what == "format":
            doc["format"] = draw(st.sampled_from(["accelsim.graph/1", "accelsim.graph/99", "", None]))
        elif what == "field" and (tensors or ops):
            # a nested field of the wrong type: a list where an object is expected, and so on
            item = draw(st.sampled_from(tensors + ops))
            if isinstance(item, dict):
                item[draw(st.sampled_from(sorted(item) + ["module", "target", "source", "attrs"]))] = draw(VALUES)
        elif what == "attr" and ops:
            op = draw(st.sampled_from(ops))
            if isinstance(op, dict) and isinstance(op.get("attrs"), dict):
                keys = sorted(op["attrs"]) + ["op", "dim", "groups", "stride", "is_causal", "sub_ops", "k_layout"]
                op["attrs"][draw(st.sampled_from(keys))] = draw(st.one_of(VALUES, PLAUSIBLE))
        elif what == "meta":
            meta = doc.get("meta")
            if isinstance(meta, dict):
                key = draw(st.sampled_from(["batch", "tokens", "seq", "kv_len", "kv_cache", "causal_masks",
                                            "layers", "tied_weights"]))
                meta[key] = draw(st.one_of(VALUES, PLAUSIBLE, st.builds(
                    lambda a, b: {"inputs": a, "outputs": b, "layers": 1, "kv_heads": 1, "head_dim": 8, "axis": 2},
                    NUMBERS, NUMBERS)))
        else:
            key = draw(st.sampled_from(sorted(doc) or ["x"]))
            doc[key] = draw(VALUES)
    return doc
