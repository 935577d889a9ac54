"""Lowering that does what the hardware would (issue 10, item 3), pure parts: no torch.

* element-wise DAGs (GPT-2's ``gelu_new``) fuse into one vector pass, reshape-only views inside;
* copies of dense tensors (eval-mode dropout) are elided; permuted copies are not;
* constant causal masks are recognised and their SDPA mapped as ``is_causal``;
* grouped convolutions: the packing rule and the useful-MAC count of a block-diagonal tile.

The claims on traced models (HF GPT-2 vs the shipped GPT-2, MobileNet vs ResNet, conv1d, RNN
weights, BatchNorm folding) are in ``test_lowering_models.py``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from accelsim.mapping.lowering import packed_useful_macs, packings
from accelsim.mapping.mapper import map_graph
from accelsim.passes import lower
from accelsim.passes.fuse import causal_sdpa, elide_copies, fuse_elementwise
from accelsim.workload.ir import Graph, Op, TensorInfo
from accelsim.workload.masks import causal_mask_kind
from accelsim.workload.opset import vector_work
from builders import make_arch

# ---------------------------------------------------------------------------------------------
# element-wise DAGs
# ---------------------------------------------------------------------------------------------


def _gelu_new_graph(M: int = 64, H: int = 256) -> Graph:
    """HF GPT-2's ``NewGELUActivation`` as torch.export writes it (transformers
    activations.py: ``0.5 * x * (1.0 + tanh(sqrt(2 / pi) * (x + 0.044715 * pow(x, 3.0))))``),
    between two linears and behind a reshape, as in HF's Conv1D (addmm + view)."""
    T: dict[str, TensorInfo] = {
        "x": TensorInfo("x", (M, 64), "float32", "input", "x"),
        "w1": TensorInfo("w1", (H, 64), "float32", "weight", "fc.weight"),
        "w2": TensorInfo("w2", (64, H), "float32", "weight", "proj.weight"),
        "h": TensorInfo("h", (M, H), "float32"),
        "g": TensorInfo("g", (M, H), "float32"),
        "y": TensorInfo("y", (M, 64), "float32"),
    }
    for n in ("hv", "m0", "p", "m1", "a0", "m2", "t", "a1", "gv"):
        T[n] = TensorInfo(n, (1, M, H), "float32")
    ops = (
        Op("fc", "linear", ("x", "w1"), ("h",), module="mlp.c_fc"),
        Op("v0", "view", ("h",), ("hv",), {"op": "view", "shape": [1, M, H]}, module="mlp.c_fc"),
        Op("mul0", "mul", ("hv",), ("m0",), {"other": 0.5}, module="mlp.act"),
        Op("pow", "pow", ("hv",), ("p",), {"exponent": 3.0}, module="mlp.act"),
        Op("mul1", "mul", ("p",), ("m1",), {"other": 0.044715}, module="mlp.act"),
        Op("add0", "add", ("hv", "m1"), ("a0",), module="mlp.act"),
        Op("mul2", "mul", ("a0",), ("m2",), {"other": 0.7978845608028654}, module="mlp.act"),
        Op("tanh", "tanh", ("m2",), ("t",), module="mlp.act"),
        Op("add1", "add", ("t",), ("a1",), {"other": 1.0}, module="mlp.act"),
        Op("mul3", "mul", ("m0", "a1"), ("gv",), module="mlp.act"),
        Op("v1", "view", ("gv",), ("g",), {"op": "view", "shape": [M, H]}, module="mlp.c_proj"),
        Op("proj", "linear", ("g", "w2"), ("y",), module="mlp.c_proj"),
    )
    return Graph("gelu_new", T, ops, ("x",), ("y",))


def test_gelu_new_dag_is_one_fused_pass() -> None:
    """Its second op reads ``x`` again (not the first op's result): still one region, all 8 ops,
    one input (x) and one output; the work is the sum of the 8 ops' element-ops."""
    g = _gelu_new_graph()
    g.verify()
    lg, made = fuse_elementwise(g)
    lg.verify()
    fused = [op for op in lg.ops if op.kind == "fused"]
    assert made == ["fused_mul0"] and len(fused) == 1
    f = fused[0]
    assert [s["name"] for s in f.attrs["sub_ops"]] == ["mul0", "pow", "mul1", "add0", "mul2", "tanh", "add1", "mul3"]
    assert f.inputs == ("hv",) and f.outputs == ("gv",)
    n = 64 * 256
    assert vector_work(f, lg) == {"add": 2 * n, "exp": n, "mul": 5 * n}
    # no intermediate survives in the graph: nothing to keep in SRAM or spill to DRAM
    assert not {"m0", "p", "m1", "a0", "m2", "t", "a1"} & set(lg.tensors)


def test_gelu_new_intermediates_never_reach_dram() -> None:
    """On an arch whose resident area holds none of the (M x H) activations, the unfused chain
    writes and re-reads its intermediates in DRAM; the fused pass reads x and writes y once."""
    g = _gelu_new_graph(M=256, H=1024)
    arch = make_arch(**{"sram.bank_size_kib": 16})
    fused = map_graph(g, arch)
    unfused = map_graph(g, arch, _opts(fuse_elementwise=False))
    act = lambda p: [op for op in p.ops if op.module == "mlp.act"]  # noqa: E731
    loads = lambda p, ops: sum(tr.nbytes for op in ops for t in p.tiles[op.tiles[0]:op.tiles[1]]  # noqa: E731
                               for tr in t.loads)
    stores = lambda p, ops: sum(tr.nbytes for op in ops for t in p.tiles[op.tiles[0]:op.tiles[1]]  # noqa: E731
                                for tr in t.stores)
    nb = 256 * 1024 * 1  # int8 arch: one byte per element
    (f,) = act(fused)
    assert loads(fused, [f]) == nb and stores(fused, [f]) == nb
    assert loads(unfused, act(unfused)) > 4 * nb and stores(unfused, act(unfused)) > 4 * nb


def _opts(**kw: object):  # type: ignore[no-untyped-def]
    from accelsim.mapping.options import MappingOptions

    return MappingOptions(**kw)


def test_reshape_views_join_a_run_trailing_views_stay_out() -> None:
    T = {
        "x": TensorInfo("x", (4, 8), "float32", "input", "x"),
        "a": TensorInfo("a", (4, 8), "float32"),
        "b": TensorInfo("b", (32,), "float32"),
        "c": TensorInfo("c", (32,), "float32"),
        "d": TensorInfo("d", (2, 16), "float32"),
    }
    ops = (
        Op("relu", "relu", ("x",), ("a",)),
        Op("flat", "view", ("a",), ("b",), {"op": "reshape", "shape": [32]}),
        Op("neg", "neg", ("b",), ("c",)),
        Op("v2", "view", ("c",), ("d",), {"op": "view", "shape": [2, 16]}),
    )
    g = Graph("v", T, ops, ("x",), ("d",))
    lg, made = fuse_elementwise(g)
    lg.verify()
    assert [op.kind for op in lg.ops] == ["fused", "view"]
    assert [s["name"] for s in lg.ops[0].attrs["sub_ops"]] == ["relu", "flat", "neg"]
    # a permute is a reorder, not a reshape: it ends the run
    ops2 = (ops[0], Op("flat", "view", ("a",), ("e",), {"op": "permute", "dims": [1, 0]}),
            Op("neg", "neg", ("e",), ("f",)))
    T2 = {**{k: T[k] for k in ("x", "a")},
          "e": TensorInfo("e", (8, 4), "float32"), "f": TensorInfo("f", (8, 4), "float32")}
    lg2, made2 = fuse_elementwise(Graph("p", T2, ops2, ("x",), ("f",)))
    assert made2 == [] and [op.kind for op in lg2.ops] == ["relu", "view", "neg"]


def test_unrelated_elementwise_ops_stay_apart() -> None:
    T = {n: TensorInfo(n, (4, 8), "float32", "input" if n in "xy" else "activation", n) for n in "xyab"}
    ops = (Op("r", "relu", ("x",), ("a",)), Op("n", "neg", ("y",), ("b",)))
    _, made = fuse_elementwise(Graph("u", T, ops, ("x", "y"), ("a", "b")))
    assert made == []


# ---------------------------------------------------------------------------------------------
# copies
# ---------------------------------------------------------------------------------------------


def test_dense_copies_are_elided_reorders_kept() -> None:
    T = {
        "x": TensorInfo("x", (4, 8), "float32", "input", "x"),
        "w": TensorInfo("w", (8, 8), "float32", "weight", "w"),
        **{n: TensorInfo(n, (4, 8), "float32") for n in ("h", "c1", "r", "o")},
        "p": TensorInfo("p", (8, 4), "float32"),
        "c2": TensorInfo("c2", (8, 4), "float32"),
        "c3": TensorInfo("c3", (8, 4), "float32"),
    }
    ops = (
        Op("fc", "linear", ("x", "w"), ("h",)),
        Op("drop", "view", ("h",), ("c1",), {"op": "clone"}),  # eval-mode dropout
        Op("res", "add", ("c1", "x"), ("r",)),
        Op("perm", "view", ("r",), ("p",), {"op": "permute", "dims": [1, 0]}),
        Op("cont", "view", ("p",), ("c2",), {"op": "contiguous"}),  # a real transpose copy
        Op("out", "view", ("c2",), ("c3",), {"op": "clone"}),  # a graph output: keeps its copy
        Op("fc2", "linear", ("r", "w"), ("o",)),
    )
    g = Graph("copies", T, ops, ("x",), ("c3", "o"))
    lg, made = elide_copies(g)
    lg.verify()
    assert made == ["drop"]
    assert {op.name: op.attrs["op"] for op in lg.ops if op.kind == "view"} == \
        {"drop": "alias", "perm": "permute", "cont": "contiguous", "out": "clone"}
    prog = map_graph(g, make_arch())
    assert next(m for m in prog.ops if m.name == "drop").unit == "none"


# ---------------------------------------------------------------------------------------------
# causal masks
# ---------------------------------------------------------------------------------------------


def test_causal_mask_kinds() -> None:
    L, S = 5, 5
    keep = np.tril(np.ones((L, S), dtype=bool))
    assert causal_mask_kind(keep[None, None]) == "keep"
    assert causal_mask_kind(np.broadcast_to(keep, (2, 3, L, S))) == "keep"
    assert causal_mask_kind(~keep) == "drop"
    add = np.where(keep, 0.0, np.finfo(np.float32).min).astype(np.float32)
    assert causal_mask_kind(add) == "additive"
    assert causal_mask_kind(np.where(keep, 0.0, -np.inf)) == "additive"
    # not causal: a shifted diagonal, a finite mask that leaves weight on masked scores, padding
    assert causal_mask_kind(np.tril(np.ones((L, S), dtype=bool), 1)) is None
    assert causal_mask_kind(np.where(keep, 0.0, -100.0)) is None
    pad = keep.copy()
    pad[:, 0] = False
    assert causal_mask_kind(pad) is None
    assert causal_mask_kind(np.ones((1, S), dtype=bool)) is None  # a single query row says nothing
    assert causal_mask_kind(keep.astype(np.int64)) is None


def _sdpa_graph(mask: str | None, L: int = 128, D: int = 64, H: int = 4, causal: bool = False) -> Graph:
    T = {n: TensorInfo(n, (1, H, L, D), "float32", "input", n) for n in "qkv"}
    T["o"] = TensorInfo("o", (1, H, L, D), "float32")
    ins: tuple[str, ...] = ("q", "k", "v")
    meta: dict[str, object] = {}
    if mask is not None:
        T["m"] = TensorInfo("m", (1, 1, L, L), "bool", "const", "folded:mask")
        ins += ("m",)
        meta["causal_masks"] = {"m": mask}
    ops = (Op("attn", "sdpa", ins, ("o",), {"is_causal": causal, "scale": None}, module="attn"),)
    return Graph("sdpa", T, ops, ("q", "k", "v"), ("o",), meta)


def test_causal_constant_mask_maps_as_is_causal() -> None:
    arch = make_arch(**{"arrays.0.precision": "bf16", "arrays.0.acc_precision": "fp32"})
    lg, made = causal_sdpa(_sdpa_graph("keep"))
    lg.verify()
    assert made == ["attn"] and lg.ops[0].attrs["is_causal"] and lg.ops[0].inputs == ("q", "k", "v")
    assert "m" not in lg.tensors
    masked = map_graph(_sdpa_graph("keep"), arch)
    native = map_graph(_sdpa_graph(None, causal=True), arch)
    full = map_graph(_sdpa_graph(None), arch)
    cyc = lambda p: sum(t.compute_cycles for t in p.tiles)  # noqa: E731
    assert cyc(masked) == cyc(native) < cyc(full)
    # a "drop" mask given to SDPA as a boolean mask is anti-causal: left alone
    assert causal_sdpa(_sdpa_graph("drop"))[1] == []
    assert lower(_sdpa_graph("keep")).meta["lowered"]["causal"] == ["attn"]


# ---------------------------------------------------------------------------------------------
# grouped convolutions: packing
# ---------------------------------------------------------------------------------------------


def test_packings() -> None:
    # depthwise 3x3 (K = 9, N = 1) on a 128x128 array: 14 fit, the largest divisor of 144 is 12
    assert packings(144, 9, 1, 128, 128) == [6, 12]
    assert packings(32, 9, 1, 128, 128) == [4, 8]
    assert packings(32, 9, 1, 16, 16) == []  # one 9-row block per 16 rows: nothing to pack
    assert packings(7, 9, 1, 128, 128) == [7]  # prime: all or nothing
    assert packings(64, 4, 2, 32, 32) == [4, 8]  # K = 4 (conv1d k=4), 2 filters per group


@pytest.mark.parametrize("P, kg, fg, m, n, k", [(12, 9, 1, 7, 5, 16), (4, 4, 2, 3, 3, 5), (3, 2, 3, 1, 4, 4)])
def test_packed_useful_macs_partition_the_blocks(P: int, kg: int, fg: int, m: int, n: int, k: int) -> None:
    """Summed over any tiling of the packed (P*kg x P*fg) weight, the useful MACs are the
    diagonal blocks' area times the rows: m * P * kg * fg; each tile's count equals a brute-force
    count of the nonzero weight positions it covers."""
    K, N = P * kg, P * fg
    nonzero = np.zeros((K, N), dtype=bool)
    for p in range(P):
        nonzero[p * kg:(p + 1) * kg, p * fg:(p + 1) * fg] = True
    total = 0
    for k0, n0 in itertools.product(range(0, K, k), range(0, N, n)):
        kk, nn = min(k, K - k0), min(n, N - n0)
        u = packed_useful_macs(m, n0, nn, k0, kk, fg, kg)
        assert u == m * int(nonzero[k0:k0 + kk, n0:n0 + nn].sum())
        total += u
    assert total == m * P * kg * fg


def _chain_graph(kind: str, fill: float = float("-inf"), L: int = 64, D: int = 32) -> Graph:
    """An explicit attention chain (q @ k^T, masked_fill(mask, fill), softmax, @ v) over a
    constant mask recorded as ``kind``."""
    T = {n: TensorInfo(n, (1, 2, L, D), "float32", "input", n) for n in "qv"}
    T["k"] = TensorInfo("k", (1, 2, D, L), "float32", "input", "k")
    T["m"] = TensorInfo("m", (1, 1, L, L), "bool", "const", "folded:mask")
    for n in ("s", "f", "p"):
        T[n] = TensorInfo(n, (1, 2, L, L), "float32")
    T["o"] = TensorInfo("o", (1, 2, L, D), "float32")
    ops = (
        Op("qk", "matmul", ("q", "k"), ("s",), module="attn"),
        Op("mask", "masked_fill", ("s", "m"), ("f",), {"value": fill}, module="attn"),
        Op("sm", "softmax", ("f",), ("p",), {"dim": -1}, module="attn"),
        Op("pv", "matmul", ("p", "v"), ("o",), module="attn"),
    )
    return Graph("chain", T, ops, ("q", "k", "v"), ("o",), {"causal_masks": {"m": kind}})


def test_explicit_chain_is_causal_only_when_its_mask_is_used_as_one() -> None:
    """masked_fill(scores, mask, -inf) with a mask True above the diagonal ("drop") is causal;
    the same op with SDPA's keep-pattern, or filling a finite value that leaves weight on the
    masked scores, is not (the attention composite then computes every block)."""
    causal = lambda g: next(op for op in lower(g).ops if op.kind == "attention").attrs["is_causal"]  # noqa: E731
    assert causal(_chain_graph("drop")) is True
    assert causal(_chain_graph("drop", fill=-3.4e38)) is True
    assert causal(_chain_graph("keep")) is False
    assert causal(_chain_graph("drop", fill=-10.0)) is False
