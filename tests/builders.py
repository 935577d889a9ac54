"""Small builders shared by tests: architectures and graphs without YAML files or torch."""

from __future__ import annotations

import copy
from typing import Any

from accelsim.arch.spec import ArchSpec
from accelsim.workload.ir import Graph, Op, TensorInfo

#: Every shipped workload at a size that traces and checks in about a second.
SMALL_WORKLOADS: dict[str, dict[str, Any]] = {
    "gpt2-tiny": {"seq": 16},
    "topk-sae": {"tokens": 16, "expansion": 8, "d_model": 64, "k": 8},
    "gated-sae": {"tokens": 16, "expansion": 8, "d_model": 64},
    "residual-mlp": {"depth": 3, "d_model": 64, "tokens": 16},
    "partitioned-transformer": {"n_layer": 2, "seq": 16},
}

BASE_ARCH: dict[str, Any] = {
    "name": "test-arch",
    "clock_ghz": 1.0,
    "technology": "45nm",
    "arrays": [{"rows": 32, "cols": 32, "dataflow": "ws", "precision": "int8", "acc_precision": "int32"}],
    "sram": {
        "banks": 8,
        "bank_size_kib": 128,
        "bank_width_bytes": 64,
        "ports_per_bank": 1,
        "partitions": {
            "inputs": {"banks": [0, 1], "holds": ["inputs"]},
            "weights": {"banks": [2, 3], "holds": ["weights"]},
            "outputs": {"banks": [4, 5], "holds": ["outputs"]},
            "accumulators": {"banks": [6, 7], "holds": ["accumulators"]},
        },
    },
    "dram": {"kind": "lpddr4", "bandwidth_gbps": 32, "latency_ns": 100, "channels": 2},
    "controller": {"dma": {"engines": 2, "setup_cycles": 16, "max_burst_bytes": 4096},
                   "sequencer": {"issue_cycles": 2, "queue_depth": 8}},
    "vector": {"lanes": 32},
}


def make_arch(**changes: Any) -> ArchSpec:
    """BASE_ARCH with dotted-path changes, e.g. make_arch(**{"dram.bandwidth_gbps": 8})."""
    d = copy.deepcopy(BASE_ARCH)
    for path, value in changes.items():
        node = d
        parts = path.split(".")
        for p in parts[:-1]:
            node = node[int(p)] if isinstance(node, list) else node[p]
        last = parts[-1]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return ArchSpec.model_validate(d)


def single_bank_partitions() -> dict[str, Any]:
    return {
        "banks": 4,
        "bank_size_kib": 256,
        "bank_width_bytes": 64,
        "ports_per_bank": 1,
        "partitions": {
            "inputs": {"banks": [0], "holds": ["inputs"]},
            "weights": {"banks": [1], "holds": ["weights"]},
            "outputs": {"banks": [2], "holds": ["outputs"]},
            "accumulators": {"banks": [3], "holds": ["accumulators"]},
        },
    }


def gemm_graph(M: int, N: int, K: int, dtype: str = "float32") -> Graph:
    T = {
        "a": TensorInfo("a", (M, K), dtype, "input", "a"),
        "b": TensorInfo("b", (K, N), dtype, "weight", "b"),
        "c": TensorInfo("c", (M, N), dtype),
    }
    return Graph(f"gemm_{M}x{N}x{K}", T, (Op("mm", "matmul", ("a", "b"), ("c",), module="gemm"),),
                 ("a",), ("c",))


def mlp_graph(M: int = 128, D: int = 256, H: int = 1024) -> Graph:
    """x -> linear(D->H) -> gelu -> linear(H->D) -> + x  (a residual MLP block)."""
    T = {
        "x": TensorInfo("x", (M, D), "float32", "input", "x"),
        "w1": TensorInfo("w1", (H, D), "float32", "weight", "fc.weight"),
        "w2": TensorInfo("w2", (D, H), "float32", "weight", "proj.weight"),
        "h": TensorInfo("h", (M, H), "float32"),
        "g": TensorInfo("g", (M, H), "float32"),
        "y": TensorInfo("y", (M, D), "float32"),
        "z": TensorInfo("z", (M, D), "float32"),
    }
    ops = (
        Op("fc", "linear", ("x", "w1"), ("h",), module="mlp.fc"),
        Op("act", "gelu", ("h",), ("g",), {"approximate": "tanh"}, module="mlp.act"),
        Op("proj", "linear", ("g", "w2"), ("y",), module="mlp.proj"),
        Op("res", "add", ("y", "x"), ("z",), module=""),
    )
    return Graph("mlp", T, ops, ("x",), ("z",))


def parallel_graph() -> Graph:
    """A GEMM and an independent vector op (they may overlap on different units)."""
    T = {
        "a": TensorInfo("a", (256, 256), "float32", "input", "a"),
        "b": TensorInfo("b", (256, 256), "float32", "weight", "b"),
        "v": TensorInfo("v", (256, 4096), "float32", "input", "v"),
        "c": TensorInfo("c", (256, 256), "float32"),
        "r": TensorInfo("r", (256, 4096), "float32"),
    }
    ops = (
        Op("mm", "matmul", ("a", "b"), ("c",), module="left"),
        Op("act", "relu", ("v",), ("r",), module="right"),
    )
    return Graph("parallel", T, ops, ("a", "v"), ("c", "r"))


def hand_program(*ops: tuple[str, list[dict[str, Any]]], deps: dict[int, tuple[int, ...]] | None = None,
                 arch: str = "test-arch") -> Any:
    """A Program built by hand for SimPy scenario tests: each op is ``(unit, tiles)`` with unit
    "array", "vector" or "none" and each tile the :class:`~accelsim.mapping.program.Tile` fields
    other than ``id`` and ``op`` (ids run in issue order from 0); ``deps`` maps an op index to
    the ops it waits for."""
    from accelsim.mapping.program import MappedOp, Program, Tile

    mops, tiles = [], []
    for i, (unit, ts) in enumerate(ops):
        first = len(tiles)
        for t in ts:
            fields = {"slot": 0, **t}
            tiles.append(Tile(id=len(tiles), op=i, **fields))
        mops.append(MappedOp(index=i, name=f"op{i}", ir_op=f"op{i}", kind="matmul" if unit == "array" else "relu",
                             module=f"m{i}", unit=unit, deps=(deps or {}).get(i, ()),
                             tiles=(first, len(tiles)) if ts else (0, 0)))
    return Program(arch, "pipelined", tuple(mops), tuple(tiles))
