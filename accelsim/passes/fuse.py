"""Attention and element-wise fusion passes (see :mod:`accelsim.passes`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accelsim.workload.ir import Graph, Op
from accelsim.workload.ports import parse_port

__all__ = ["fuse_attention", "fuse_elementwise", "lower"]

#: Ops allowed between a softmax and the P.V matmul of a fusable attention chain.
_POST_VIEWS = frozenset({"clone", "contiguous", "alias", "detach"})


def _fusable(op: Op) -> bool:
    from accelsim.workload.opset import OPSET

    d = OPSET.get(op.kind)
    return d is not None and d.fusable and parse_port(op.module) is None


def _rebuild(g: Graph, ops: list[Op], drop: set[str], meta: Mapping[str, Any]) -> Graph:
    tensors = {n: t for n, t in g.tensors.items() if n not in drop}
    return Graph(g.name, tensors, tuple(ops), g.inputs, g.outputs, dict(meta))


# ---------------------------------------------------------------------------------------------
# attention
# ---------------------------------------------------------------------------------------------


def _single_use(t: str, cons: Mapping[str, list[Op]], outputs: set[str]) -> bool:
    return t not in outputs and len(cons.get(t, [])) == 1


def _chain_input(op: Op, shape: tuple[int, ...], g: Graph, prod: Mapping[str, Op]) -> str | None:
    """The input of ``op`` that carries the score chain: same shape as the scores and produced by
    an op (not a constant / weight / graph input)."""
    for t in op.inputs:
        if g.tensors[t].shape == shape and t in prod:
            return t
    return None


def _attention_chain(mm2: Op, g: Graph, prod: Mapping[str, Op], cons: Mapping[str, list[Op]],
                     outputs: set[str]) -> tuple[Op, list[Op], Op, list[Op]] | None:
    """(QK matmul, ops between it and the softmax, softmax, ops after it) of the attention
    chain ending in ``mm2``, or None."""
    if mm2.kind != "matmul" or len(mm2.inputs) != 2 or mm2.attrs.get("transpose_b") or \
            mm2.attrs.get("alpha", 1) != 1:
        return None
    t = mm2.inputs[0]
    post: list[Op] = []
    while True:
        p = prod.get(t)
        if p is None or not _single_use(t, cons, outputs):
            return None
        if p.kind == "cast" or (p.kind == "view" and str(p.attrs.get("op")) in _POST_VIEWS):
            post.insert(0, p)
            t = p.inputs[0]
            continue
        break
    sm = prod.get(t)
    if sm is None or sm.kind != "softmax" or not _single_use(t, cons, outputs):
        return None
    scores = g.tensors[sm.inputs[0]].shape
    if len(scores) < 2 or int(sm.attrs.get("dim", -1)) % len(scores) != len(scores) - 1:
        return None
    pre: list[Op] = []
    t = sm.inputs[0]
    for _ in range(16):
        p = prod.get(t)
        if p is None or not _single_use(t, cons, outputs):
            return None
        if p.kind == "matmul":
            if len(p.inputs) != 2 or p.attrs.get("alpha", 1) != 1 or g.tensors[p.outputs[0]].shape != scores:
                return None
            return p, pre, sm, post
        if not (_fusable(p) or p.kind == "cast") or g.tensors[p.outputs[0]].shape != scores:
            return None
        nxt = _chain_input(p, scores, g, prod)
        if nxt is None:
            return None
        pre.insert(0, p)
        t = nxt
    return None


def fuse_attention(g: Graph) -> tuple[Graph, list[str]]:
    """Rewrite every explicit attention chain into an ``attention`` composite."""
    prod = g.producers()
    cons = g.consumers()
    outputs = set(g.outputs)
    causal_masks = set(g.meta.get("causal_masks", []) or [])
    replace: dict[str, Op] = {}  # mm2 name -> composite
    remove: set[str] = set()
    drop: set[str] = set()
    made: list[str] = []
    for op in g.ops:
        if op.name in remove:
            continue
        hit = _attention_chain(op, g, prod, cons, outputs)
        if hit is None:
            continue
        mm1, pre, sm, post = hit
        body = [mm1, *pre, sm, *post, op]
        internal = {t for b in body[:-1] for t in b.outputs}
        q, kt, v = mm1.inputs[0], mm1.inputs[1], op.inputs[1]
        extras: list[str] = []
        for b in body:
            for t in b.inputs:
                if t not in internal and t not in (q, kt, v) and t not in extras:
                    extras.append(t)
        masks = [t for t in extras if g.tensors[t].shape[-2:] == g.tensors[sm.inputs[0]].shape[-2:]]
        causal = bool(masks) and all(t in causal_masks for t in masks)
        comp = Op(
            name=f"attention_{op.name}",
            kind="attention",
            inputs=(q, kt, v, *extras),
            outputs=(op.outputs[0],),
            attrs={
                "sub_ops": [b.to_dict() for b in body],
                "k_layout": "sd" if mm1.attrs.get("transpose_b") else "ds",
                "is_causal": causal,
            },
            module=op.module,
            target="",
        )
        replace[op.name] = comp
        remove.update(b.name for b in body[:-1])
        drop |= internal
        made.append(comp.name)
    if not made:
        return g, []
    ops = [replace.get(o.name, o) for o in g.ops if o.name not in remove]
    return _rebuild(g, ops, drop, g.meta), made


# ---------------------------------------------------------------------------------------------
# element-wise chains
# ---------------------------------------------------------------------------------------------


def fuse_elementwise(g: Graph) -> tuple[Graph, list[str]]:
    """Merge each run of consecutive element-wise ops whose intermediates stay inside the run
    into one ``fused`` composite (its outputs: the run's tensors used after it)."""
    cons = g.consumers()
    outputs = set(g.outputs)
    ops = list(g.ops)
    new_ops: list[Op] = []
    drop: set[str] = set()
    made: list[str] = []
    i = 0
    while i < len(ops):
        op = ops[i]
        if not _fusable(op):
            new_ops.append(op)
            i += 1
            continue
        size = max(g.tensors[o].numel for o in op.outputs)
        region = [op]
        produced = set(op.outputs)
        j = i + 1
        while j < len(ops):
            o = ops[j]
            if not _fusable(o) or any(g.tensors[t].numel != size for t in o.outputs):
                break
            if not any(t in produced for t in o.inputs):
                break  # unrelated element-wise op: a region is one dependent computation
            region.append(o)
            produced.update(o.outputs)
            j += 1
        if len(region) < 2:
            new_ops.append(op)
            i += 1
            continue
        names = {r.name for r in region}
        outs = [t for r in region for t in r.outputs
                if t in outputs or any(c.name not in names for c in cons.get(t, []))]
        internal = produced - set(outs)
        ins: list[str] = []
        for r in region:
            for t in r.inputs:
                if t not in produced and t not in ins:
                    ins.append(t)
        mods = [r.module for r in region]
        prefix = mods[0]
        for m in mods[1:]:
            while prefix and not (m == prefix or m.startswith(prefix + ".")):
                prefix = prefix.rpartition(".")[0]
        comp = Op(
            name=f"fused_{region[0].name}",
            kind="fused",
            inputs=tuple(ins),
            outputs=tuple(outs),
            attrs={"sub_ops": [r.to_dict() for r in region]},
            module=prefix,
            target="",
        )
        new_ops.append(comp)
        drop |= internal
        made.append(comp.name)
        i = j
    if not made:
        return g, []
    return _rebuild(g, new_ops, drop, g.meta), made


def lower(g: Graph, *, attention: bool = True, elementwise: bool = True) -> Graph:
    """Run the fusion passes; ``graph.meta["lowered"]`` lists the composites made."""
    done: dict[str, list[str]] = {}
    if attention:
        g, made = fuse_attention(g)
        if made:
            done["attention"] = made
    if elementwise:
        g, made = fuse_elementwise(g)
        if made:
            done["fused"] = made
    if done:
        g = Graph(g.name, g.tensors, g.ops, g.inputs, g.outputs, {**g.meta, "lowered": done})
    return g
