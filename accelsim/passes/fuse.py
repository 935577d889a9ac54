"""Attention and element-wise fusion passes, copy elision and causal-mask recognition (see
:mod:`accelsim.passes`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from accelsim.workload.ir import Graph, Op
from accelsim.workload.masks import MASKED as _MASKED
from accelsim.workload.masks import causal_mask_kind
from accelsim.workload.ports import parse_port

__all__ = [
    "RESHAPE_VIEWS",
    "causal_mask_kind",
    "causal_sdpa",
    "elide_copies",
    "fuse_attention",
    "fuse_elementwise",
    "lower",
]

#: ``view`` sub-ops that only reinterpret a dense (row-major) buffer: no data moves, and a dense
#: input gives a dense output. They may sit inside a fused element-wise chain.
RESHAPE_VIEWS = frozenset({
    "view", "_unsafe_view", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "alias",
    "detach", "lift_fresh_copy",
})  # fmt: skip

#: ``view`` sub-ops that copy their input into a fresh dense buffer of the same layout.
_COPIES = frozenset({"clone", "contiguous"})


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
        kinds = g.meta.get("causal_masks") or {}
        causal = bool(masks) and all(
            t in causal_masks and all(_causal_use(b, t, kinds.get(t) if isinstance(kinds, Mapping) else None)
                                      for b in pre if t in b.inputs)
            for t in masks)
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


def _is_reshape(op: Op) -> bool:
    return (op.kind == "view" and str(op.attrs.get("op")) in RESHAPE_VIEWS and len(op.inputs) == 1
            and len(op.outputs) == 1 and parse_port(op.module) is None)


def fuse_elementwise(g: Graph) -> tuple[Graph, list[str]]:
    """Merge each run of consecutive element-wise ops that form one computation into one
    ``fused`` composite (its outputs: the run's tensors used after it).

    An op joins the run when it reads a tensor the run produced *or* a tensor of the run's size
    the run already reads (so a DAG such as GPT-2's ``gelu_new``, ``0.5 * x * (1 + tanh(c * (x +
    0.044715 * x ** 3)))``, whose second op reads ``x`` again rather than the first op's result,
    is one pass); reshape-only views of the run's tensors (:data:`RESHAPE_VIEWS`) may sit inside
    it. Every op of a run has outputs of the run's size (element-wise, no reduction)."""
    cons = g.consumers()
    outputs = set(g.outputs)
    T = g.tensors
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
        size = max(T[o].numel for o in op.outputs)
        region = [op]
        produced = set(op.outputs)
        read = {t for t in op.inputs if T[t].numel == size}
        j = i + 1
        while j < len(ops):
            o = ops[j]
            if _fusable(o):
                if any(T[t].numel != size for t in o.outputs):
                    break
                if not any(t in produced or t in read for t in o.inputs):
                    break  # unrelated element-wise op: a region is one dependent computation
            elif not (_is_reshape(o) and o.inputs[0] in produced and T[o.outputs[0]].numel == size):
                break
            region.append(o)
            produced.update(o.outputs)
            read.update(t for t in o.inputs if t not in produced and T[t].numel == size)
            j += 1
        while not _fusable(region[-1]):  # trailing views stay outside (they are free anyway)
            region.pop()
        j = i + len(region)
        if sum(1 for r in region if _fusable(r)) < 2:
            new_ops.append(op)
            i += 1
            continue
        produced = {t for r in region for t in r.outputs}
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


# ---------------------------------------------------------------------------------------------
# copy elision
# ---------------------------------------------------------------------------------------------


def elide_copies(g: Graph) -> tuple[Graph, list[str]]:
    """``clone`` / ``contiguous`` of a tensor that is already dense (produced by a compute op, a
    copy or reshape-only views of one; a graph input, weight or constant) copies nothing a
    compiler would keep: eval-mode dropout traces to a clone, ``.contiguous()`` of a contiguous
    tensor to another. Each becomes a free ``alias`` (graph outputs and the copies of residual
    ports, :mod:`accelsim.workload.residual`, keep theirs). A clone of a permuted / sliced /
    expanded view is a real reorder and stays."""
    outputs = set(g.outputs)
    dense: set[str] = {n for n, t in g.tensors.items() if t.kind != "activation"}
    ops: list[Op] = []
    made: list[str] = []
    for op in g.ops:
        vop = str(op.attrs.get("op", "")) if op.kind == "view" else ""
        if op.kind != "view":
            dense.update(op.outputs)
        elif vop in _COPIES:
            src = op.inputs[0] if len(op.inputs) == 1 else None
            if (src is not None and src in dense and op.outputs[0] not in outputs and len(op.outputs) == 1
                    and parse_port(op.module) is None):  # a residual port's copy is its access
                op = Op(op.name, op.kind, op.inputs, op.outputs, {**op.attrs, "op": "alias"}, op.module, op.target)
                made.append(op.name)
            dense.update(op.outputs)
        elif vop in RESHAPE_VIEWS:
            if all(t in dense for t in op.inputs):
                dense.update(op.outputs)
        elif vop and vop not in ("permute", "transpose", "t", "expand", "slice", "select", "split",
                                 "split_with_sizes", "unbind"):
            dense.update(op.outputs)  # cat / stack / pad / repeat / flip / roll: fresh buffers
        ops.append(op)
    if not made:
        return g, []
    return Graph(g.name, g.tensors, tuple(ops), g.inputs, g.outputs, g.meta), made


# ---------------------------------------------------------------------------------------------
# causal masks
# ---------------------------------------------------------------------------------------------


def _causal_use(op: Op, mask: str, kind: str | None) -> bool:
    """Does ``op`` apply ``mask`` (of causal pattern ``kind``) as a causal mask of its other
    operand (so skipping the masked score blocks changes nothing)?"""
    if kind == "additive":
        return op.kind == "add" and float(op.attrs.get("alpha", 1) or 1) == 1
    if op.kind == "masked_fill" and len(op.inputs) == 2 and op.inputs[1] == mask:
        v = op.attrs.get("value")
        return kind == "drop" and isinstance(v, (int, float)) and (math.isinf(v) or v <= _MASKED) and v < 0
    return False


def causal_sdpa(g: Graph) -> tuple[Graph, list[str]]:
    """An ``sdpa`` whose mask is a constant causal pattern (``graph.meta["causal_masks"]``,
    recorded by the tracer for folded masks: HF models build theirs from positions) becomes
    ``is_causal`` SDPA without the mask: the same result (masked scores are exactly 0 after the
    softmax either way), and the mapping skips the masked score blocks as for ``is_causal``."""
    kinds = g.meta.get("causal_masks") or {}
    if not isinstance(kinds, Mapping) or not kinds:
        return g, []
    ops: list[Op] = []
    made: list[str] = []
    for op in g.ops:
        if op.kind == "sdpa" and len(op.inputs) == 4 and not op.attrs.get("is_causal"):
            m = op.inputs[3]
            mt = g.tensors[m]
            want = "keep" if mt.dtype == "bool" else "additive"
            q, k = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]]
            if kinds.get(m) == want and tuple(mt.shape[-2:]) == (q.shape[-2], k.shape[-2]):
                op = Op(op.name, op.kind, op.inputs[:3], op.outputs, {**op.attrs, "is_causal": True},
                        op.module, op.target)
                made.append(op.name)
        ops.append(op)
    if not made:
        return g, []
    used = {t for op in ops for t in op.inputs} | set(g.outputs) | set(g.inputs)
    tensors = {n: t for n, t in g.tensors.items() if n in used or t.kind == "activation"}
    return Graph(g.name, tensors, tuple(ops), g.inputs, g.outputs, g.meta), made


def lower(g: Graph, *, attention: bool = True, elementwise: bool = True) -> Graph:
    """Run the lowering passes (copy elision, causal masks, fused attention, fused element-wise
    chains); ``graph.meta["lowered"]`` lists what each did (``alias``: copies elided,
    ``causal``: SDPA ops whose constant causal mask became ``is_causal``, ``attention`` /
    ``fused``: the composites made)."""
    done: dict[str, list[str]] = {}
    g, made = elide_copies(g)
    if made:
        done["alias"] = made
    g, made = causal_sdpa(g)
    if made:
        done["causal"] = made
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
