"""A broken mapping is caught and the first failure names the op that diverged."""

from __future__ import annotations

import dataclasses
import functools

import pytest

torch = pytest.importorskip("torch")

from accelsim.arch.load import find_arch, load_arch
from accelsim.mapping.mapper import MappingOptions, map_graph
from accelsim.mapping.program import Program
from accelsim.numerics.check import run_check
from accelsim.workload.registry import load_traced
from builders import make_arch

torch.set_num_threads(1)


@functools.cache
def tiny():  # type: ignore[no-untyped-def]
    return load_traced("gpt2-tiny", {"seq": 16})


def bf16_small():  # type: ignore[no-untyped-def]
    # 32x32 bf16 arrays: K tiles of 256, so the 512-deep MLP projections have two each
    return make_arch(**{"arrays.0.precision": "bf16", "arrays.0.acc_precision": "fp32", "arrays.0.count": 2})


def drop_tile(prog: Program, tid: int) -> Program:
    """``prog`` without tile ``tid`` (op tile ranges shifted accordingly)."""
    ops = []
    for m in prog.ops:
        s, e = m.tiles
        ops.append(dataclasses.replace(m, tiles=(s - (s > tid), e - (e > tid))))
    tiles = tuple(t for t in prog.tiles if t.id != tid)
    return dataclasses.replace(prog, ops=tuple(ops), tiles=tiles)


def multi_k_op(prog: Program):  # type: ignore[no-untyped-def]
    """An array op with several K tiles and the id of one of its later K tiles."""
    for m in prog.ops:
        if m.unit != "array":
            continue
        tiles = prog.tiles[m.tiles[0]:m.tiles[1]]
        later = [t for t in tiles if t.offsets[3] > 0]
        if later:
            return m, later[0].id
    raise AssertionError("no GEMM with several K tiles")


@pytest.mark.parametrize("arch_fn", [bf16_small, lambda: load_arch(find_arch("edge-int8"))], ids=["bf16", "int8"])
def test_dropped_k_tile_is_caught(arch_fn) -> None:  # type: ignore[no-untyped-def]
    t = tiny()
    arch = arch_fn()
    prog = map_graph(t.graph, arch)
    assert run_check(t, prog, arch).passed
    op, tid = multi_k_op(prog)
    rep = run_check(t, drop_tile(prog, tid), arch)
    assert not rep.passed
    f = rep.first_failure
    assert f is not None and f.op == op.name and f.module == op.module
    assert "never completed" in f.note and "K=" in f.note
    # the divergence is also numeric, not only structural
    assert f.max_abs_err > 0


def test_swapped_tile_offsets_are_caught() -> None:
    t = tiny()
    # ample DRAM bandwidth; K tiles of one array fold (tile_k_folds=1) so output tiles have
    # several K offsets
    arch = make_arch(**{"arrays.0.precision": "bf16", "arrays.0.acc_precision": "fp32", "arrays.0.count": 2,
                        "dram.bandwidth_gbps": 1000})
    prog = map_graph(t.graph, arch, MappingOptions(tile_k_folds=1))

    def pair(m):  # type: ignore[no-untyped-def]
        """Two same-shape tiles of different output tiles and different K offsets."""
        tiles = list(prog.tiles[m.tiles[0]:m.tiles[1]])
        return next(((a, b) for a in tiles for b in tiles if b.offsets[3] != a.offsets[3]
                     and b.offsets[1:3] != a.offsets[1:3] and b.dims == a.dims), None)

    op, (a, b) = next((m, pair(m)) for m in prog.ops if m.unit == "array" and pair(m) is not None)
    new = list(prog.tiles)
    new[a.id] = dataclasses.replace(a, offsets=b.offsets)
    new[b.id] = dataclasses.replace(b, offsets=a.offsets)
    rep = run_check(t, dataclasses.replace(prog, tiles=tuple(new)), arch, level="all")
    assert not rep.passed
    assert rep.first_failure is not None and rep.first_failure.op == op.name
    failed = [c for c in rep.tensors if not c.passed]
    assert failed[0].op == op.name  # program order: nothing before it diverged


def test_swapping_offsets_across_arrays_splits_an_accumulator() -> None:
    """Same K offset, different arrays: the partial sums would land in two accumulators."""
    t = tiny()
    arch = load_arch(find_arch("datacenter-bf16"))  # four arrays
    prog = map_graph(t.graph, arch)
    op = next(m for m in prog.ops if m.unit == "array")
    tiles = prog.tiles[op.tiles[0]:op.tiles[1]]
    a = tiles[0]
    b = next(x for x in tiles if x.unit != a.unit and x.dims == a.dims and x.offsets != a.offsets)
    new = list(prog.tiles)
    new[a.id] = dataclasses.replace(a, unit=b.unit)
    new[b.id] = dataclasses.replace(b, unit=a.unit)
    assert run_check(t, dataclasses.replace(prog, tiles=tuple(new)), arch).passed  # whole tiles: fine
    # now give one K tile of a multi-K output tile to another array
    arch2 = make_arch(**{"arrays.0.precision": "bf16", "arrays.0.acc_precision": "fp32", "arrays.0.count": 2})
    prog2 = map_graph(t.graph, arch2)
    op2, tid = multi_k_op(prog2)
    tl = prog2.tiles[tid]
    other = next(u for u in ("sa0.0", "sa0.1") if u != tl.unit)
    new2 = list(prog2.tiles)
    new2[tid] = dataclasses.replace(tl, unit=other)
    rep = run_check(t, dataclasses.replace(prog2, tiles=tuple(new2)), arch2)
    assert not rep.passed and rep.first_failure is not None and rep.first_failure.op == op2.name
    assert "split across arrays" in rep.first_failure.note


def test_dropped_vector_tile_is_caught() -> None:
    t = tiny()
    arch = load_arch(find_arch("datacenter-bf16"))
    prog = map_graph(t.graph, arch, MappingOptions(max_vector_tile_elems=512))
    ln = next(m for m in prog.ops if m.kind == "gelu" and m.tiles[1] - m.tiles[0] > 1)
    rep = run_check(t, drop_tile(prog, ln.tiles[0] + 1), arch)
    assert not rep.passed and rep.first_failure is not None
    assert rep.first_failure.op == ln.name and "uncomputed" in rep.first_failure.note


def test_missing_op_is_caught() -> None:
    t = tiny()
    arch = load_arch(find_arch("edge-int8"))
    prog = map_graph(t.graph, arch)
    last = prog.ops[-1]
    assert last.unit == "array"
    cut = dataclasses.replace(prog, ops=prog.ops[:-1], tiles=prog.tiles[: last.tiles[0]])
    rep = run_check(t, cut, arch)
    assert not rep.passed
    assert rep.tensors[0].tensor == t.graph.outputs[0] and not rep.tensors[0].passed
    assert "never" in rep.first_failure.note  # type: ignore[union-attr]
