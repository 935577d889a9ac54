"""KV-cache bookkeeping for decode steps (pure; no torch).

A decode-step graph (traced from a workload with ``decode=true, kv_len=L``) declares its cache in
``graph.meta["kv_cache"]``: ``inputs`` (how many graph inputs after the token ids are the cache,
``[batch, kv_heads, L, head_dim]`` each, k then v per layer), ``outputs`` (how many graph outputs
after the logits are the rows the step writes) and ``axis`` (the length axis).

:func:`with_kv_len` re-shapes such a graph to another cache length without tracing it again: the
cache inputs and every tensor derived from them up to the attention (the appended cache, its
GQA broadcast) have their length dimension replaced, view attributes included, and the result is
verified with the op registry's shape rules. A decode step's cost depends on the length only
through these tensors, so one trace serves every step of a generation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accelsim.errors import WorkloadError
from accelsim.workload.ir import DTYPE_BYTES, Graph, Op, TensorInfo

__all__ = ["kv_spec", "kv_inputs", "kv_outputs", "with_kv_len", "kv_bytes_per_token"]

#: View attributes that hold sizes (rewritten with the cache length).
_SIZE_ATTRS = ("shape", "size", "sizes", "split_sizes", "end")


def kv_spec(g: Graph) -> Mapping[str, Any]:
    return g.meta.get("kv_cache") or {}


def kv_inputs(g: Graph) -> list[str]:
    n = int(kv_spec(g).get("inputs", 0) or 0)
    return list(g.inputs[1:1 + n])


def kv_outputs(g: Graph) -> list[str]:
    n = int(kv_spec(g).get("outputs", 0) or 0)
    return list(g.outputs[1:1 + n])


def kv_bytes_per_token(g: Graph, elem_bytes: int | None = None) -> int:
    """Bytes one token adds to one sequence's cache, all layers (k and v): ``2 x layers x
    kv_heads x head_dim x bytes`` (``elem_bytes`` overrides the graph's dtype size, e.g. the
    arch's storage precision)."""
    spec = kv_spec(g)
    if not spec:
        raise WorkloadError(f"graph '{g.name}' declares no KV cache (graph.meta['kv_cache'])")
    ref = (kv_outputs(g) or kv_inputs(g))[0]
    eb = elem_bytes or DTYPE_BYTES.get(g.tensors[ref].dtype, 4)
    return 2 * int(spec["layers"]) * int(spec["kv_heads"]) * int(spec["head_dim"]) * eb


def _swap(v: Any, old: dict[int, int]) -> Any:
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return old.get(v, v)
    if isinstance(v, list):
        return [_swap(x, old) for x in v]
    return v


def with_kv_len(g: Graph, length: int) -> Graph:
    """``g`` (a decode step at cache length ``L0 = meta["kv_len"]``) at cache length ``length``.

    Raises :class:`WorkloadError` when the rewritten graph does not verify (the caller can trace
    at ``length`` instead)."""
    spec = kv_spec(g)
    L0 = int(g.meta.get("kv_len", 0) or 0)
    if not spec or L0 < 1:
        raise WorkloadError(f"graph '{g.name}' is not a decode step with a KV cache")
    if length < 1:
        raise WorkloadError(f"a KV cache length must be >= 1, got {length}")
    if length == L0:
        return g
    axis = int(spec.get("axis", 2))
    ins = kv_inputs(g)
    T = g.tensors[g.inputs[0]].shape[-1] if g.tensors[g.inputs[0]].shape else 1
    old = {L0: length, L0 + T: length + T}
    if any(d in old for t in ins for i, d in enumerate(g.tensors[t].shape) if i != axis):
        raise WorkloadError(f"graph '{g.name}': the cache length {L0} also appears as another dimension")
    tensors = dict(g.tensors)
    derived = set(ins)
    for t in ins:
        ti = tensors[t]
        shp = list(ti.shape)
        shp[axis] = length
        tensors[t] = TensorInfo(t, tuple(shp), ti.dtype, ti.kind, ti.source)
    ops: list[Op] = []
    for op in g.ops:
        if not any(i in derived for i in op.inputs) or op.kind in ("sdpa", "attention"):
            ops.append(op)
            continue
        attrs = {k: (_swap(v, old) if k in _SIZE_ATTRS else v) for k, v in op.attrs.items()}
        for o in op.outputs:
            ti = tensors[o]
            tensors[o] = TensorInfo(o, tuple(old.get(d, d) for d in ti.shape), ti.dtype, ti.kind, ti.source)
            derived.add(o)
        ops.append(Op(op.name, op.kind, op.inputs, op.outputs, attrs, op.module, op.target))
    meta = {**g.meta, "kv_len": length}
    out = Graph(g.name, tensors, tuple(ops), g.inputs, g.outputs, meta)
    try:
        out.verify()
    except WorkloadError as e:
        raise WorkloadError(f"graph '{g.name}' cannot be re-shaped to a KV cache of {length}: {e}") from None
    return out
