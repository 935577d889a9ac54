"""Program.verify: every shipped workload maps to a program that passes, and tampered programs
(a dropped or duplicated tile, a bad bank range, a cyclic dependency, a tile waiting for a later
one, ...) are caught, every problem listed."""

from __future__ import annotations

import functools
from dataclasses import replace

import pytest

from accelsim import api
from accelsim.arch.load import shipped_archs
from accelsim.errors import MappingError
from accelsim.mapping.options import MappingOptions
from accelsim.mapping.program import Program
from accelsim.mapping.verify import VerifyError, verify_program
from accelsim.workload.ir import Graph, Op, TensorInfo
from builders import SMALL_WORKLOADS, gemm_graph, make_arch, mlp_graph

ARCH_NAMES = sorted(p.stem for p in shipped_archs())


@functools.cache
def _graph(name: str) -> Graph:
    return api.load_graph(name, SMALL_WORKLOADS[name])


@functools.cache
def _arch(name: str):  # type: ignore[no-untyped-def]
    return api.load_arch(name)


@pytest.mark.parametrize("arch_name", ARCH_NAMES)
@pytest.mark.parametrize("workload", sorted(SMALL_WORKLOADS))
def test_every_shipped_workload_verifies(workload: str, arch_name: str) -> None:
    arch = _arch(arch_name)
    prog = api.map_program(arch, _graph(workload))
    rep = prog.verify(arch)
    assert rep.ops == len(prog.ops) and rep.tiles == len(prog.tiles)
    # every op with tiles was checked as one of the three kinds
    kinds = sum(1 for o in prog.ops if o.tiles[1] > o.tiles[0])
    assert rep.gemm_ops + rep.vector_ops + rep.attention_ops == kinds
    # the emitter moves exactly the DRAM bytes the cost model priced (gemm_emit.py promises
    # "the tiles are exactly the ones the cost model priced"); a difference would be a note
    assert rep.dram_bytes and all(moved == pred for moved, pred in rep.dram_bytes.values()), rep.notes
    assert not [n for n in rep.notes if "DRAM bytes" in n]


def test_compat_scalesim_and_unfused_programs_verify() -> None:
    arch = make_arch()
    prog = api.map_program(arch, gemm_graph(96, 160, 200), api.RunOptions(mode="scalesim", gpu=None))
    assert prog.verify(arch).gemm_ops == 1
    opts = MappingOptions(fuse_attention=False, fuse_elementwise=False)
    g = _attention_graph()
    prog = api.map_program(arch, g, api.RunOptions(mapping=opts, gpu=None))
    rep = prog.verify(arch, opts)
    assert rep.gemm_ops >= 2 and rep.vector_ops >= 1 and rep.attention_ops == 0


def _conv_graph(C: int, F: int, groups: int, H: int = 14, R: int = 3) -> Graph:
    T = {"x": TensorInfo("x", (1, C, H, H), "float32", "input", "x"),
         "w": TensorInfo("w", (F, C // groups, R, R), "float32", "weight", "w"),
         "y": TensorInfo("y", (1, F, H, H), "float32")}
    attrs = {"groups": groups, "stride": [1, 1], "padding": [R // 2, R // 2]}
    return Graph("conv", T, (Op("conv", "conv2d", ("x", "w"), ("y",), attrs, module="conv"),), ("x",), ("y",))


@pytest.mark.parametrize(("lanes", "placement"), [(1, "packed"), (32, "vector")])
def test_depthwise_conv_placements_verify(lanes: int, placement: str) -> None:
    """A depthwise 3x3 conv (64 channels): with a 1-lane vector unit two groups are packed per
    block-diagonal array GEMM (its tiles' MACs count the diagonal blocks only); with 32 lanes it
    runs on the vector unit, one element per output."""
    arch = make_arch(**{"vector.lanes": lanes})
    prog = api.map_program(arch, _conv_graph(64, 64, 64))
    (op,) = prog.ops
    assert op.plan["placement"] == placement
    rep = prog.verify(arch)
    moved, predicted = rep.dram_bytes[0] if rep.dram_bytes else (0, 0)
    assert moved == predicted  # int8: one byte per element
    if placement == "packed":
        assert rep.gemm_ops == 1 and op.macs == 64 * 14 * 14 * 9
        assert op.plan["packed_groups"] == 2 and op.gemm == (32, 14 * 14, 2, 2 * 9)
    else:
        assert rep.vector_ops == 1
        assert sum(t.dims[0] for t in prog.tiles) == 64 * 14 * 14


def test_conv_tiles_load_what_the_plan_priced_at_two_bytes_per_element() -> None:
    arch = make_arch(**{"arrays.0.precision": "bf16", "arrays.0.acc_precision": "fp32"})
    rep = api.map_program(arch, _conv_graph(8, 16, 1, H=32)).verify(arch)
    moved, predicted = rep.dram_bytes[0]
    assert moved == predicted


# ------------------------------------------------------------------------------------ tampering


def _attention_graph(causal: bool = True) -> Graph:
    shape = (1, 4, 64, 32)  # batch, heads, L = S, D
    T = {n: TensorInfo(n, shape, "float32", "input", n) for n in ("q", "k", "v")}
    T["o"] = TensorInfo("o", shape, "float32")
    return Graph("attn", T, (Op("attn", "sdpa", ("q", "k", "v"), ("o",), {"is_causal": causal}, module="attn"),),
                 ("q", "k", "v"), ("o",))


@functools.cache
def _mlp() -> tuple[Program, object]:
    arch = make_arch()
    prog = api.map_program(arch, mlp_graph(128, 256, 512))
    prog.verify(arch)
    return prog, arch


def _problems(prog: Program, arch: object, **kw: object) -> list[str]:
    with pytest.raises(VerifyError) as ei:
        verify_program(prog, arch, **kw)  # type: ignore[arg-type]
    e = ei.value
    assert isinstance(e, MappingError) and e.exit_code == 2
    assert str(e).count("\n") == len(e.problems)  # one line per problem, all of them
    return e.problems


def _gemm_op(prog: Program, name: str = "fc") -> int:
    return next(o.index for o in prog.ops if o.name == name)


def _without_tile(prog: Program, tid: int) -> Program:
    """``prog`` with tile ``tid`` removed, ids, ``after`` refs and op ranges renumbered."""
    def nid(i: int) -> int:
        return i - 1 if i > tid else i

    tiles = tuple(replace(t, id=nid(t.id), after=tuple(nid(a) for a in t.after if a != tid))
                  for t in prog.tiles if t.id != tid)
    ops = []
    for o in prog.ops:
        s, e = o.tiles
        ops.append(replace(o, tiles=(s - (s > tid), e - (e > tid))) if e > s else o)
    return replace(prog, ops=tuple(ops), tiles=tiles)


def test_dropped_tile_leaves_a_hole() -> None:
    prog, arch = _mlp()
    op = prog.ops[_gemm_op(prog)]
    assert op.tiles[1] - op.tiles[0] >= 2
    t = prog.tiles[op.tiles[0]]
    probs = _problems(_without_tile(prog, t.id), arch)
    m, n, k = t.dims
    b, mo, no, ko = t.offsets
    hole = [p for p in probs if "not covered" in p]
    assert len(hole) == 1 and f"K range [{ko}, {ko + k})" in hole[0] and f"rows [{mo}, {mo + m})" in hole[0]
    short = [p for p in probs if "MACs" in p]
    assert short and str(op.macs - m * n * k) in short[0]
    # only the work is wrong: the helper left ids, ranges and op order consistent
    assert len(probs) == len(hole) + len(short)


def test_duplicated_tile_is_covered_twice() -> None:
    prog, arch = _mlp()
    op = prog.ops[_gemm_op(prog)]
    s, e = op.tiles
    dup = replace(prog.tiles[s], id=e)
    tiles = (*prog.tiles[:e], dup, *(replace(t, id=t.id + 1, after=tuple(a + (a >= e) for a in t.after))
                                     for t in prog.tiles[e:]))
    ops = tuple(replace(o, tiles=(o.tiles[0] + (o.tiles[0] >= e and o.index != op.index),
                                  o.tiles[1] + (o.tiles[1] >= e)))
                if o.tiles[1] > o.tiles[0] else o for o in prog.ops)
    probs = _problems(replace(prog, ops=ops, tiles=tiles), arch)
    assert any("covered more than once" in p for p in probs)


def test_bad_bank_range_and_unknown_partition_and_unit() -> None:
    prog, arch = _mlp()
    t = next(t for t in prog.tiles if t.loads)
    tr = t.loads[0]
    nb = len(arch.sram.partitions[tr.partition].banks)  # type: ignore[attr-defined]
    bad = replace(t, loads=(replace(tr, banks=(1, nb + 3)), *t.loads[1:]),
                  sram=(replace(t.sram[0], partition="nowhere"), *t.sram[1:]), unit="sa9")
    tiles = tuple(bad if x.id == t.id else x for x in prog.tiles)
    probs = _problems(replace(prog, tiles=tiles), arch)
    assert any(f"banks [1, {nb + 3})" in p and tr.partition in p for p in probs)
    assert any("partition 'nowhere'" in p for p in probs)
    assert any("unit 'sa9'" in p for p in probs)


def test_cyclic_op_dependency() -> None:
    prog, arch = _mlp()
    ops = list(prog.ops)
    ops[0] = replace(ops[0], deps=(len(ops) - 1,))  # the first op waits for the last: a cycle
    probs = _problems(replace(prog, ops=tuple(ops)), arch)
    assert any("not earlier" in p and p.startswith(f"op 0 '{ops[0].name}'") for p in probs)


def test_after_dependency_on_a_later_tile() -> None:
    arch = make_arch()
    prog = api.map_program(arch, _attention_graph())
    rep = prog.verify(arch)
    assert rep.attention_ops == 1
    t = next(t for t in prog.tiles if t.after)
    late = replace(t, after=(t.id + 1,))
    probs = _problems(replace(prog, tiles=tuple(late if x.id == t.id else x for x in prog.tiles)), arch)
    assert any(f"tile {t.id}" in p and f"waits for tile {t.id + 1}, which is not earlier" in p for p in probs)
    # and the attention check sees the broken QK^T -> softmax -> P.V chain
    assert any("must wait for" in p for p in probs)


def test_attention_unit_missing_its_softmax() -> None:
    arch = make_arch()
    prog = api.map_program(arch, _attention_graph())
    sm = next(t for t in prog.tiles if t.role == "softmax")
    probs = _problems(_without_tile(prog, sm.id), arch)
    b, q0 = sm.offsets[:2]
    assert any(f"head {b}, query block at {q0} has tiles ['pv', 'qk']" in p for p in probs)


def test_attention_block_missing_causal_keys() -> None:
    arch = make_arch()
    prog = api.map_program(arch, _attention_graph(causal=True))
    # the last query block of a head sees every key; make its QK^T see one key fewer
    qk = max((t for t in prog.tiles if t.role == "qk"), key=lambda t: (t.offsets[0] == 0, t.offsets[1]))
    mm, se, d = qk.dims
    short = replace(qk, dims=(mm, se - 1, d), macs=mm * (se - 1) * d)
    probs = _problems(replace(prog, tiles=tuple(short if x.id == qk.id else x for x in prog.tiles)), arch)
    assert any(f"attends to {se - 1} keys" in p for p in probs)


def test_tiles_out_of_op_order_and_vector_gap() -> None:
    prog, arch = _mlp()
    act = next(o for o in prog.ops if o.name == "act")
    vt = [t for t in prog.tiles[act.tiles[0]:act.tiles[1]]]
    # shift one vector tile's element range: a gap before it and an overlap past the end
    t = vt[0]
    moved = replace(t, offsets=(t.offsets[0] + 1,))
    probs = _problems(replace(prog, tiles=tuple(moved if x.id == t.id else x for x in prog.tiles)), arch)
    assert any("gap at element 0" in p for p in probs)
    # the op ranges swapped: the sequencer would issue a dependent op's tiles first
    ops = list(prog.ops)
    i, j = _gemm_op(prog, "fc"), _gemm_op(prog, "act")
    ops[i], ops[j] = replace(ops[i], tiles=ops[j].tiles), replace(ops[j], tiles=ops[i].tiles)
    probs = _problems(replace(prog, ops=tuple(ops)), arch)
    assert any("tiles must be listed in op order" in p for p in probs)


def test_footprint_over_the_tile_buffer_budget() -> None:
    prog, arch = _mlp()
    i = _gemm_op(prog)
    plan = dict(prog.ops[i].plan)
    from accelsim.mapping.banks import bank_plan

    budget = bank_plan(arch, 0.5).tile_bytes  # type: ignore[arg-type]
    part = next(p for p, v in plan["footprint_bytes"].items() if v > 0)
    plan["footprint_bytes"] = {**plan["footprint_bytes"], part: budget[part] + 1}
    ops = list(prog.ops)
    ops[i] = replace(ops[i], plan=plan)
    tampered = replace(prog, ops=tuple(ops))
    probs = _problems(tampered, arch)
    assert any(f"{budget[part] + 1} bytes of partition '{part}'" in p for p in probs)
    # the budget follows the options the program was mapped with: a smaller resident share
    # leaves more banks to the tile buffers (or the same, never fewer)
    assert bank_plan(arch, 0.0).tile_bytes[part] >= budget[part]  # type: ignore[arg-type]


def test_dram_mismatch_is_a_note_not_an_error() -> None:
    prog, arch = _mlp()
    i = _gemm_op(prog)
    plan = dict(prog.ops[i].plan)
    plan["predicted_dram_bytes"] = int(plan["predicted_dram_bytes"]) + 100
    ops = list(prog.ops)
    ops[i] = replace(ops[i], plan=plan)
    rep = replace(prog, ops=tuple(ops)).verify(arch)
    assert any("DRAM bytes" in n and "fc" in n for n in rep.notes)
    moved, pred = rep.dram_bytes[i]
    assert pred == moved + 100


def test_several_problems_are_all_listed() -> None:
    prog, arch = _mlp()
    ops = list(prog.ops)
    ops[1] = replace(ops[1], deps=(3,))
    tiles = list(prog.tiles)
    tiles[0] = replace(tiles[0], unit="ghost", slot=5)
    probs = _problems(replace(prog, ops=tuple(ops), tiles=tuple(tiles)), arch)
    assert len(probs) >= 3
    assert any("ghost" in p for p in probs) and any("slot 5" in p for p in probs)
    assert any("depends on op 3" in p for p in probs)
