"""Tensor- and pipeline-parallel partitioning of a traced graph (pure Graph -> Graph rewrites).

**Tensor parallelism** (:func:`shard_tp`; Megatron-LM, Shoeybi et al. 2019) builds the graph one
of ``T`` chips runs. Every chip runs the same shapes; what differs between ranks is which slice
of each weight it holds (:class:`Cut`). The split is found by propagating a *split state* through
the traced graph (no model-specific code; module paths are used only for pipeline stages):

* a ``linear`` (or a ``matmul`` by a 2-D weight, Hugging Face's ``Conv1D``) whose input is
  replicated is **column-parallel**: its weight rows (output features) are cut in ``T``; a
  fused projection whose output is ``split`` into sections (GPT-2's ``c_attn`` = q | k | v) is cut
  per section, so each chip keeps whole heads of q, k and v;
* the split follows element-wise ops, views (the reshape to heads, transposes, GQA's
  ``expand`` + ``reshape``), RoPE (slices and ``cat`` along the head dim), norms and softmaxes
  over other dims; ``sdpa`` (or a ``matmul`` chain) over split heads runs on the local heads;
  a ``cat`` with a graph input along another dim (an explicit KV cache) makes that input
  **sharded by head** (each chip holds its heads' cache);
* a ``linear`` whose input is split along its K dim is **row-parallel**: its weight columns are
  cut, it yields partial sums, and an **all-reduce** follows (its bias, if any, is added once,
  after the all-reduce). So a transformer block gets two all-reduces (after attention's output
  projection and after the MLP's down projection; SwiGLU's gate and up are both
  column-parallel);
* a column-parallel ``linear`` whose output reaches a graph output through views alone (the LM
  head) is **vocab-parallel**: each chip computes ``vocab / T`` logits and an **all-gather**
  gives every chip all of them (Megatron's vocab-parallel output layer); embeddings are
  replicated (a lookup reads a few rows);
* a split that cannot go on (a residual add with a replicated tensor, a norm over the split
  dim, sizes not divisible by ``T``) undoes the column split it came from; the propagation
  restarts until it is consistent. If an attention op or any weight GEMM other than the output
  head is then left unsplit, the graph is refused with the op and the reason (e.g. 12 heads over
  8 chips); an output head whose vocabulary does not divide by ``T`` stays replicated (noted).

Collectives appear in the rank graph as ``view`` ops with attr ``op: alias`` and attr
``collective`` (``all_reduce`` / ``all_gather``), named ``tp_all_reduce.<i>`` /
``tp_all_gather.<i>``: free for the mapper and the GPU kernel model, turned into link tiles by
:mod:`accelsim.api_system`. The all-gather's output keeps the local shape (a chip's DRAM gets
the gathered tensor; what follows the gather is outside the graph).

**Pipeline parallelism** (:func:`split_pp`): the ops are grouped by layer (the first integer in
the module path: ``layers.3.attn`` -> 3; ops before the first layer join the first group, ops
after a layer join it) and the groups are cut into ``P`` contiguous stages minimising the most
expensive stage (cost per op: a roofline on the architecture, the larger of MACs / peak MACs
per cycle and weight bytes / DRAM bytes per cycle, plus vector elements / lanes). Tensors that
cross a cut are sent point-to-point; each stage is a graph of its own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from accelsim.errors import AccelsimError, MappingError, WorkloadError
from accelsim.workload.ir import Graph, Op, TensorInfo

__all__ = ["Cut", "TpCollective", "TpPlan", "Stage", "shard_tp", "split_pp", "layer_of", "COLLECTIVE_ATTR"]

#: attr of a marker ``view`` op naming its collective
COLLECTIVE_ATTR = "collective"

#: view sub-ops that only reinterpret the layout (a reshape of the linear index space)
_RESHAPES = frozenset({"view", "_unsafe_view", "reshape", "flatten", "unflatten", "unsqueeze", "squeeze",
                       "alias", "detach", "clone", "contiguous", "lift_fresh_copy"})


def _elementwise_kinds() -> frozenset[str]:
    from accelsim.workload.opset import OPSET

    return frozenset(k for k, d in OPSET.items() if d.unit == "vector" and d.fusable)


# ------------------------------------------------------------------------------------------ data


@dataclass(frozen=True)
class Cut:
    """How rank ``r`` of ``tp`` takes its part of a full tensor ``source``: along ``dim``, each of
    the ``sections`` (full sizes, summing to the dim's size) is cut into ``tp`` equal blocks and
    rank ``r`` keeps block ``r`` of every section, in order."""

    source: str
    dim: int
    sections: tuple[int, ...]
    tp: int

    def ranges(self, rank: int) -> list[tuple[int, int]]:
        """[start, end) index ranges along ``dim`` that rank ``rank`` keeps."""
        out = []
        off = 0
        for s in self.sections:
            b = s // self.tp
            out.append((off + rank * b, off + (rank + 1) * b))
            off += s
        return out

    def take(self, value: Any, rank: int) -> Any:
        """Rank ``rank``'s part of ``value`` (a torch tensor or numpy array of the full shape)."""
        parts = [value.narrow(self.dim, a, b - a) if hasattr(value, "narrow")
                 else value.take(range(a, b), axis=self.dim) for a, b in self.ranges(rank)]
        if len(parts) == 1:
            return parts[0]
        if hasattr(value, "narrow"):
            import torch

            return torch.cat(parts, dim=self.dim)
        import numpy as np

        return np.concatenate(parts, axis=self.dim)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "dim": self.dim, "sections": list(self.sections)}


@dataclass(frozen=True)
class TpCollective:
    """A collective of the rank graph: its marker op and what it moves."""

    name: str  # the marker op
    kind: Literal["all_reduce", "all_gather"]
    tensor: str  # the marker's output (the reduced / gathered tensor)
    elements: int  # elements of the whole tensor (the all-reduce's input, the all-gather's output)
    module: str
    after: str  # the op whose result it reduces / gathers

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "tensor": self.tensor, "elements": self.elements,
                "module": self.module, "after": self.after}


@dataclass(frozen=True)
class TpPlan:
    """The tensor-parallel split of a graph: the graph each of ``tp`` chips runs."""

    tp: int
    graph: Graph
    collectives: tuple[TpCollective, ...] = ()
    #: rank-graph tensor (weight, constant or input) -> how it is cut from the full one
    cuts: Mapping[str, Cut] = field(default_factory=dict)
    #: rank-graph output -> how it is cut from the full output (absent: every chip has all of it)
    output_cuts: Mapping[str, Cut] = field(default_factory=dict)
    #: rank-graph outputs an all-gather completes -> how each chip's part is cut from the whole
    gather_cuts: Mapping[str, Cut] = field(default_factory=dict)
    column: tuple[str, ...] = ()  # column-parallel GEMMs
    row: tuple[str, ...] = ()  # row-parallel GEMMs (each followed by an all-reduce)
    vocab: tuple[str, ...] = ()  # column-parallel GEMMs whose output is all-gathered
    replicated: tuple[str, ...] = ()  # weight GEMMs every chip runs whole
    attention: tuple[str, ...] = ()  # attention ops run on split heads
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "tp": self.tp,
            "column_parallel": list(self.column),
            "row_parallel": list(self.row),
            "vocab_parallel": list(self.vocab),
            "replicated": list(self.replicated),
            "split_attention": list(self.attention),
            "all_reduces": sum(1 for c in self.collectives if c.kind == "all_reduce"),
            "all_gathers": sum(1 for c in self.collectives if c.kind == "all_gather"),
            "sharded_inputs": sorted(t for t in self.cuts if self.graph.tensors[t].kind == "input"),
            "sharded_outputs": sorted(self.output_cuts),
            "notes": list(self.notes),
        }


# ------------------------------------------------------------------------------------ propagation


@dataclass(frozen=True)
class _Split:
    dim: int
    sections: tuple[int, ...]
    src: frozenset[str] = frozenset()


class _Conflict(Exception):
    def __init__(self, op: Op, reason: str, sources: frozenset[str]) -> None:
        super().__init__(reason)
        self.op = op
        self.reason = reason
        self.sources = sources


def _norm_dim(d: Any, rank: int) -> int:
    d = int(d)
    return d + rank if d < 0 else d


def _weight_gemm(op: Op, g: Graph) -> tuple[str, int, int] | None:
    """(weight, N dim of the weight, K dim of the weight) when ``op`` multiplies an activation by a
    2-D weight (``linear`` w[N, K]; ``matmul`` b[K, N], or [N, K] with ``transpose_b``)."""
    if len(op.inputs) < 2:
        return None
    w = op.inputs[1]
    t = g.tensors[w]
    if t.kind != "weight" or len(t.shape) != 2:
        return None
    if op.kind == "linear":
        return w, 0, 1
    if op.kind == "matmul" and g.tensors[op.inputs[0]].kind != "weight":
        return (w, 0, 1) if op.attrs.get("transpose_b") else (w, 1, 0)
    return None


def _sections_pre(g: Graph) -> dict[str, tuple[int, ...]]:
    """Column candidates whose output is split (through reshapes) along its last dim into
    sections: the sections (a fused q | k | v projection)."""
    cons = g.consumers()
    out: dict[str, tuple[int, ...]] = {}
    for op in g.ops:
        if _weight_gemm(op, g) is None:
            continue
        t = op.outputs[0]
        for _ in range(8):
            nxt = cons.get(t, [])
            if len(nxt) != 1 or nxt[0].kind != "view":
                break
            c = nxt[0]
            sub = str(c.attrs.get("op"))
            if sub in ("split", "split_with_sizes"):
                rank = len(g.tensors[t].shape)
                if _norm_dim(c.attrs.get("dim", 0), rank) == rank - 1:
                    out[op.name] = tuple(int(v) for v in c.attrs.get("split_sizes", []))
                break
            if sub not in _RESHAPES or g.tensors[c.outputs[0]].shape[-1] != g.tensors[t].shape[-1]:
                break
            t = c.outputs[0]
    return out


def _reshape_split(shape_in: Sequence[int], shape_out: Sequence[int], s: _Split, tp: int) -> _Split | None:
    """The split of a reshape's output, or None when the split is not one block of one dim."""
    d = s.dim
    n = shape_in[d]
    pre = math.prod(shape_in[:d])
    acc = 1
    for j, m in enumerate(shape_out):
        if acc == pre and m != 1 and (m % n == 0 or n % m == 0):
            if m == n:
                return _Split(j, s.sections, s.src)
            if len(s.sections) > 1:
                return None
            if m < n:  # the dim is cut into (m, n/m, ...): the split lands on m
                if m % tp:
                    return None
                return _Split(j, (m,), s.src)
            return _Split(j, (m,), s.src)  # dims merged into m: one block of m
        acc *= m
        if acc > pre:
            break
    return None


def _divide(sections: Sequence[int], tp: int) -> bool:
    return all(x % tp == 0 for x in sections)


@dataclass
class _State:
    split: dict[str, _Split]
    role: dict[str, str]  # GEMM op -> column | row | vocab | batch | replicated
    cuts: dict[tuple[str, int], _Split]  # (op, input index) -> cut of that (weight/const/input) operand
    assigned: dict[str, _Split]  # graph input -> its split (sharded inputs)
    attention: list[str]


def _propagate(g: Graph, tp: int, demoted: Mapping[str, str], sections: Mapping[str, tuple[int, ...]]) -> _State:
    T = g.tensors
    ew = _elementwise_kinds()
    st = _State({}, {}, {}, {}, [])
    sp = st.split
    consumed: set[str] = set()
    prods = g.producers()

    def S(t: str) -> _Split | None:
        return sp.get(t)

    def assign_operand(op: Op, i: int, t: str, s: _Split, why: str) -> None:
        """Cut a weight / constant / graph input to match a split partner."""
        info = T[t]
        if info.kind in ("weight", "const") or (info.kind == "input" and (t not in consumed or t in st.assigned)):
            if info.kind == "input":
                prev = st.assigned.get(t)
                if prev is not None and (prev.dim, prev.sections) != (s.dim, s.sections):
                    raise _Conflict(op, f"graph input '{t}' would be split two ways", s.src)
                st.assigned[t] = _Split(s.dim, s.sections)
            if info.shape[s.dim] != sum(s.sections) or not _divide(s.sections, tp):
                raise _Conflict(op, f"'{t}' ({list(info.shape)}) cannot be cut along dim {s.dim} {why}", s.src)
            st.cuts[(op.name, i)] = _Split(s.dim, s.sections)
            return
        raise _Conflict(op, f"'{t}' {list(info.shape)} is whole on every chip but meets a tensor split along "
                            f"dim {s.dim} {why}", s.src)

    for op in g.ops:
        ins = [S(t) for t in op.inputs]
        split_ins = [(i, s) for i, s in enumerate(ins) if s is not None]
        outs = op.outputs
        k = op.kind
        wg = _weight_gemm(op, g)
        try:
            if wg is not None and (op.kind == "linear" or op.kind == "matmul"):
                w, ndim, kdim = wg
                x = ins[0]
                xs = T[op.inputs[0]].shape
                wshape = T[w].shape
                N, K = wshape[ndim], wshape[kdim]
                if any(s is not None for s in ins[1:]):
                    raise _Conflict(op, "its weight or bias meets a split tensor", frozenset().union(
                        *(s.src for s in ins[1:] if s is not None)))
                if x is None:
                    if op.name in demoted:
                        st.role[op.name] = "replicated"
                    else:
                        secs = tuple(sections.get(op.name, (N,)))
                        if sum(secs) != N or not _divide(secs, tp):
                            raise _Conflict(op, f"{N} output features do not split into {tp} equal parts"
                                            + (f" per section {list(secs)}" if len(secs) > 1 else ""),
                                            frozenset({op.name}))
                        st.role[op.name] = "column"
                        st.cuts[(op.name, 1)] = _Split(ndim, secs)
                        if len(op.inputs) > 2:
                            st.cuts[(op.name, 2)] = _Split(len(T[op.inputs[2]].shape) - 1, secs)
                        sp[outs[0]] = _Split(len(T[outs[0]].shape) - 1, secs, frozenset({op.name}))
                elif x.dim == len(xs) - 1:  # split along K: row-parallel
                    if K != sum(x.sections):
                        raise _Conflict(op, "its K dim does not match the split input", x.src)
                    st.role[op.name] = "row"
                    st.cuts[(op.name, 1)] = _Split(kdim, x.sections)
                elif op.kind == "linear" or len(xs) > 2 or x.dim < len(xs) - 1:
                    st.role[op.name] = "batch"  # split along a leading dim: every chip its rows
                    sp[outs[0]] = _Split(x.dim, x.sections, x.src)
                else:
                    raise _Conflict(op, "cannot take its input split", x.src)
                for t in op.inputs:
                    consumed.add(t)
                continue

            if not split_ins:
                # whole inputs, whole outputs; graph inputs used whole can no longer be split
                for t in op.inputs:
                    consumed.add(t)
                continue
            src = frozenset().union(*(s.src for _, s in split_ins))

            if k == "sdpa":
                q, kk, v = ins[:3]
                if any(s is None or s.dim != 1 for s in (q, kk, v)) or len(T[op.inputs[0]].shape) != 4:
                    raise _Conflict(op, "q, k and v must all be split by head (dim 1)", src)
                for i in range(3, len(op.inputs)):
                    t = op.inputs[i]
                    if ins[i] is not None:
                        raise _Conflict(op, "its mask is split", src)
                    shp = T[t].shape
                    if len(shp) >= 3 and shp[-3] != 1:
                        assign_operand(op, i, t, _Split(len(shp) - 3, (shp[-3],), src), "(a per-head mask)")
                st.attention.append(op.name)
                sp[outs[0]] = _Split(1, (T[outs[0]].shape[1],), src)
            elif k == "matmul":
                a, b = ins[0], ins[1]
                sa, sb = T[op.inputs[0]].shape, T[op.inputs[1]].shape
                ro = len(T[outs[0]].shape)
                tb = bool(op.attrs.get("transpose_b"))
                out_split: _Split | None = None

                def al(s: _Split, r: int, ro: int = ro) -> int:
                    return s.dim + ro - r

                if a is not None and a.dim < len(sa) - 2:  # a batch (head) dim
                    j = al(a, len(sa))
                    if b is not None:
                        if b.dim >= len(sb) - 2 or al(b, len(sb)) != j or b.sections != a.sections:
                            raise _Conflict(op, "its operands are split along different dims", src)
                    else:
                        bj = j - (ro - len(sb))
                        if bj >= 0 and sb[bj] != 1:
                            raise _Conflict(op, "one operand is split by head, the other whole", src)
                    out_split = _Split(j, a.sections, src)
                elif a is not None and a.dim == len(sa) - 2 and b is None:
                    out_split = _Split(ro - 2, a.sections, src)
                elif a is None and b is not None and b.dim == (len(sb) - 2 if tb else len(sb) - 1):
                    out_split = _Split(ro - 1, b.sections, src)
                elif a is None and b is not None and b.dim < len(sb) - 2:
                    j = al(b, len(sb))
                    aj = j - (ro - len(sa))
                    if aj >= 0 and sa[aj] != 1:
                        raise _Conflict(op, "one operand is split by head, the other whole", src)
                    out_split = _Split(j, b.sections, src)
                else:
                    raise _Conflict(op, "a matmul contracting a split dim of activations", src)
                sp[outs[0]] = out_split
            elif k in ew:
                oshape = T[outs[0]].shape
                ro = len(oshape)
                js = {(s.dim + ro - len(T[op.inputs[i]].shape), s.sections) for i, s in split_ins}
                if len(js) != 1:
                    raise _Conflict(op, "its operands are split along different dims", src)
                (j, secs), = js
                for i, t in enumerate(op.inputs):
                    if ins[i] is not None:
                        continue
                    shp = T[t].shape
                    ij = j - (ro - len(shp))
                    if ij >= 0 and shp[ij] != 1:
                        assign_operand(op, i, t, _Split(ij, secs, src), "(element-wise partner)")
                for o in outs:
                    sp[o] = _Split(j, secs, src)
            elif k in ("softmax", "log_softmax", "cumsum"):
                s0 = split_ins[0][1]
                r = len(T[op.inputs[0]].shape)
                if _norm_dim(op.attrs.get("dim", -1), r) == s0.dim:
                    raise _Conflict(op, f"{k} runs along the split dim", src)
                for o in outs:
                    sp[o] = s0
            elif k in ("layer_norm", "rms_norm"):
                s = ins[0]
                if s is None or len(split_ins) > 1:
                    raise _Conflict(op, "its weights meet a split tensor", src)
                r = len(T[op.inputs[0]].shape)
                nk = len(op.attrs.get("normalized_shape") or [T[op.inputs[0]].shape[-1]])
                if s.dim >= r - nk:
                    raise _Conflict(op, "it normalises over the split dim", src)
                sp[outs[0]] = s
            elif k == "reduce":
                s = ins[0]
                r = len(T[op.inputs[0]].shape)
                dims = op.attrs.get("dims")
                dims = list(range(r)) if dims in (None, []) else [_norm_dim(d, r) for d in
                                                                   (dims if isinstance(dims, list) else [dims])]
                if s is None or s.dim in dims:
                    raise _Conflict(op, "it reduces over the split dim", src)
                nd = s.dim if op.attrs.get("keepdim") else s.dim - sum(1 for d in dims if d < s.dim)
                sp[outs[0]] = _Split(nd, s.sections, s.src)
            elif k == "topk":
                s = ins[0]
                r = len(T[op.inputs[0]].shape)
                if s is None or _norm_dim(op.attrs.get("dim", -1), r) == s.dim:
                    raise _Conflict(op, "top-k along the split dim", src)
                for o in outs:
                    sp[o] = s
            elif k == "embedding":
                if ins[0] is not None:
                    raise _Conflict(op, "its table is split", src)
                s = ins[1]
                assert s is not None
                sp[outs[0]] = s
            elif k == "view":
                _view(op, g, ins, sp, tp, assign_operand, src)
            else:
                raise _Conflict(op, f"a {k} op cannot take a tensor split along dim {split_ins[0][1].dim}", src)
        finally:
            for t in op.inputs:
                consumed.add(t)
    del prods
    return st


def _view(op: Op, g: Graph, ins: list[_Split | None], sp: dict[str, _Split], tp: int,
          assign: Callable[[Op, int, str, _Split, str], None], src: frozenset[str]) -> None:
    T = g.tensors
    sub = str(op.attrs.get("op"))
    x = T[op.inputs[0]]
    r = len(x.shape)
    s = ins[0]
    outs = op.outputs
    if sub in ("cat", "stack"):
        rank = r + (1 if sub == "stack" else 0)
        d = _norm_dim(op.attrs.get("dim", 0), rank)
        ref = next(v for v in ins if v is not None)
        for i, t in enumerate(op.inputs):
            v = ins[i]
            if v is None:
                if T[t].shape == (0,):
                    continue
                assign(op, i, t, _Split(ref.dim, ref.sections, src), f"(a {sub} partner)")
            elif (v.dim, v.sections) != (ref.dim, ref.sections):
                raise _Conflict(op, f"{sub} of tensors split along different dims", src)
        if sub == "cat" and d == ref.dim:
            raise _Conflict(op, "cat along the split dim", src)
        nd = ref.dim + (1 if sub == "stack" and d <= ref.dim else 0)
        sp[outs[0]] = _Split(nd, ref.sections, src)
        return
    if s is None:
        raise _Conflict(op, "only its second operand is split", src)
    if sub in _RESHAPES:
        ns = _reshape_split(x.shape, T[outs[0]].shape, s, tp)
        if ns is None:
            oshape = T[outs[0]].shape
            pre, n = math.prod(x.shape[:s.dim]), x.shape[s.dim]
            heads = [(j, m) for j, m in enumerate(oshape) if math.prod(oshape[:j]) == pre and 1 < m < n and n % m == 0]
            if heads:
                j, m = heads[0]
                raise _Conflict(op, f"its {m} heads (dim {j} of {list(oshape)}) do not split over {tp} chips", src)
            raise _Conflict(op, f"reshaping {list(x.shape)} to {list(oshape)} does not keep dim "
                                f"{s.dim} ({n}) in {tp} whole blocks", src)
        sp[outs[0]] = ns
        return
    if sub == "expand":
        ro = len(T[outs[0]].shape)
        j = s.dim + ro - r
        if T[outs[0]].shape[j] != x.shape[s.dim]:
            raise _Conflict(op, "expand along the split dim", src)
        sp[outs[0]] = _Split(j, s.sections, s.src)
        return
    if sub in ("permute", "transpose", "t"):
        if sub == "permute":
            dims = [_norm_dim(d, r) for d in op.attrs.get("dims", [])]
        elif sub == "transpose":
            d0, d1 = _norm_dim(op.attrs.get("dim0"), r), _norm_dim(op.attrs.get("dim1"), r)
            dims = list(range(r))
            dims[d0], dims[d1] = dims[d1], dims[d0]
        else:
            dims = list(reversed(range(r)))
        sp[outs[0]] = _Split(dims.index(s.dim), s.sections, s.src)
        return
    if sub in ("slice", "select", "narrow"):
        d = _norm_dim(op.attrs.get("dim", 0), r)
        if d == s.dim:
            raise _Conflict(op, f"{sub} along the split dim", src)
        nd = s.dim - (1 if sub == "select" and d < s.dim else 0)
        sp[outs[0]] = _Split(nd, s.sections, s.src)
        return
    if sub in ("split", "split_with_sizes", "unbind"):
        d = _norm_dim(op.attrs.get("dim", 0), r)
        if sub == "unbind":
            if d == s.dim:
                raise _Conflict(op, "unbind along the split dim", src)
            for o in outs:
                sp[o] = _Split(s.dim - (1 if d < s.dim else 0), s.sections, s.src)
            return
        sizes = tuple(int(v) for v in op.attrs.get("split_sizes", []))
        if d == s.dim:
            if sizes != s.sections:
                raise _Conflict(op, f"split {list(sizes)} along the split dim (cut as {list(s.sections)})", src)
            for o, z in zip(outs, sizes):
                sp[o] = _Split(d, (z,), s.src)
            return
        for o in outs:
            sp[o] = s
        return
    if sub in ("constant_pad_nd", "pad"):
        pad = list(op.attrs.get("pad", []))
        padded = {r - 1 - i for i in range(len(pad) // 2) if pad[2 * i] or pad[2 * i + 1]}
        if s.dim in padded:
            raise _Conflict(op, "pad along the split dim", src)
        sp[outs[0]] = s
        return
    if sub in ("flip", "roll"):
        dims = [_norm_dim(d, r) for d in op.attrs.get("dims", [])]
        if s.dim in dims:
            raise _Conflict(op, f"{sub} along the split dim", src)
        sp[outs[0]] = s
        return
    if sub == "repeat":
        rep = list(op.attrs.get("repeats", []))
        j = s.dim + len(rep) - r
        if rep[j] != 1:
            raise _Conflict(op, "repeat along the split dim", src)
        sp[outs[0]] = _Split(j, s.sections, s.src)
        return
    raise _Conflict(op, f"view op {sub!r} cannot take a split tensor", src)


# ---------------------------------------------------------------------------------------- rebuild


def _reaches_output(g: Graph, op: Op, cons: Mapping[str, list[Op]]) -> bool:
    """Does ``op``'s output reach a graph output through reshapes alone?"""
    outputs = set(g.outputs)
    t = op.outputs[0]
    for _ in range(16):
        if t in outputs:
            return True
        nxt = cons.get(t, [])
        if len(nxt) != 1 or nxt[0].kind != "view" or str(nxt[0].attrs.get("op")) not in _RESHAPES:
            return False
        t = nxt[0].outputs[0]
    return False


def _sharded(shape: Sequence[int], s: _Split | None, tp: int) -> tuple[int, ...]:
    if s is None:
        return tuple(shape)
    out = list(shape)
    out[s.dim] //= tp
    return tuple(out)


def shard_tp(graph: Graph, tp: int) -> TpPlan:
    """The graph one of ``tp`` tensor-parallel chips runs (see the module docstring). Raises
    :class:`MappingError` naming the op that cannot be split."""
    if tp < 1:
        raise MappingError(f"--tp must be at least 1 (got {tp})")
    if tp == 1:
        return TpPlan(1, graph)
    sections = _sections_pre(graph)
    demoted: dict[str, str] = {}
    cons = graph.consumers()
    for _ in range(len(graph.ops) + 2):
        try:
            st = _propagate(graph, tp, demoted, sections)
            break
        except _Conflict as conf:
            fresh = conf.sources - set(demoted)
            if not fresh:
                raise MappingError(f"tensor parallelism over {tp} chips: cannot split {conf.op.where()}: "
                                   f"{conf.reason}") from None
            for name in sorted(fresh):
                demoted[name] = f"{conf.op.where()}: {conf.reason}"
    else:  # pragma: no cover - each round demotes at least one op
        raise MappingError(f"tensor parallelism over {tp} chips: the split did not settle")
    T = graph.tensors
    notes: list[str] = []
    replicated: list[str] = []
    first = next(iter(demoted.values()), "")

    def why(name: str, default: str) -> str:
        own = demoted.get(name, default)
        return own if own == first or not first else f"{own} (first problem: {first})"

    # coverage: attention split, every weight GEMM split (an output head may stay whole)
    for op in graph.ops:
        if op.kind in ("sdpa", "attention") and op.name not in st.attention:
            raise MappingError(f"tensor parallelism over {tp} chips: cannot split the attention {op.where()} "
                               f"by head: {first or 'its inputs are not split by head'}")
        if st.role.get(op.name) == "replicated":
            if _reaches_output(graph, op, cons):
                replicated.append(op.name)
                notes.append(f"{op.name} ({op.module or '<top>'}) stays whole on every chip: "
                             f"{demoted.get(op.name, 'cannot be split')}")
            else:
                raise MappingError(f"tensor parallelism over {tp} chips: cannot split {op.where()}: "
                                   f"{why(op.name, 'its input cannot be split')}")
    conv = next((op for op in graph.ops if op.kind in ("conv2d", "conv1d")), None)
    if conv is not None:
        raise MappingError(f"tensor parallelism over {tp} chips: cannot split {conv.where()}: convolutions are not "
                           "split (TP splits linear layers and attention heads)")
    if not any(r == "row" for r in st.role.values()) and not st.attention:
        raise MappingError(f"tensor parallelism over {tp} chips: {graph.name} has no linear layer or attention "
                           "to split (TP splits transformer blocks: attention heads and MLPs)")
    # -- rebuild ----------------------------------------------------------------------------
    sp = st.split
    tensors: dict[str, TensorInfo] = {}
    cuts: dict[str, Cut] = {}
    # weight / const / input operands: one name per distinct cut
    operand_name: dict[tuple[str, int], str] = {}
    uses: dict[str, set[tuple[int, tuple[int, ...]] | None]] = {}
    for op in graph.ops:
        for i, t in enumerate(op.inputs):
            if T[t].kind in ("weight", "const", "input"):
                cut_i = st.cuts.get((op.name, i))
                uses.setdefault(t, set()).add(None if cut_i is None else (cut_i.dim, cut_i.sections))
    for t, us in uses.items():
        info = T[t]
        if len(us) == 1:
            (u,) = us
            if u is None:
                tensors[t] = info
            else:
                tensors[t] = replace(info, shape=_sharded(info.shape, _Split(u[0], u[1]), tp))
                cuts[t] = Cut(t, u[0], u[1], tp)
    for op in graph.ops:
        for i, t in enumerate(op.inputs):
            if t not in uses:
                continue
            if len(uses[t]) == 1:
                operand_name[(op.name, i)] = t
                continue
            oc = st.cuts.get((op.name, i))
            if oc is None:
                tensors[t] = T[t]
                operand_name[(op.name, i)] = t
            else:
                if T[t].kind == "input":
                    raise MappingError(f"tensor parallelism over {tp} chips: graph input '{t}' is used both "
                                       "whole and split")
                name = f"{t}.tp{oc.dim}"
                tensors[name] = replace(T[t], name=name, shape=_sharded(T[t].shape, oc, tp))
                cuts[name] = Cut(t, oc.dim, oc.sections, tp)
                operand_name[(op.name, i)] = name
    for t in graph.inputs:
        if t not in tensors:
            tensors[t] = T[t]
    for n, info in T.items():
        if info.kind == "const" and n not in tensors and n not in uses:
            tensors[n] = info
    ops: list[Op] = []
    colls: list[TpCollective] = []
    vocab: list[str] = []
    outputs = set(graph.outputs)
    gathered: dict[str, str] = {}  # graph output -> its local name
    for o in graph.outputs:
        so = sp.get(o)
        if so is not None and so.dim == len(T[o].shape) - 1 and so.src:
            gathered[o] = f"{o}.local"
    for op in graph.ops:
        new_inputs = tuple(operand_name.get((op.name, i), t) for i, t in enumerate(op.inputs))
        attrs = dict(op.attrs)
        role = st.role.get(op.name)
        for o in op.outputs:
            if o not in tensors:
                tensors[o] = replace(T[o], shape=_sharded(T[o].shape, sp.get(o), tp))
        if op.kind == "view" and any(sp.get(t) is not None for t in op.inputs):
            sub = str(attrs.get("op"))
            if sub in ("view", "_unsafe_view", "reshape", "flatten", "unflatten", "expand"):
                attrs["shape"] = list(tensors[op.outputs[0]].shape)
            elif sub in ("split", "split_with_sizes"):
                attrs["split_sizes"] = [tensors[o].shape[_norm_dim(attrs.get("dim", 0), len(T[op.inputs[0]].shape))]
                                        for o in op.outputs]
        if role == "row":
            out = op.outputs[0]
            partial = f"{out}.partial"
            tensors[partial] = replace(T[out], name=partial)
            bias = new_inputs[2] if len(new_inputs) > 2 else None
            ops.append(replace(op, inputs=new_inputs[:2], outputs=(partial,), attrs={
                k: v for k, v in attrs.items() if k != "beta"}))
            name = f"tp_all_reduce.{len(colls)}"
            red = out if bias is None else f"{out}.reduced"
            if bias is not None:
                tensors[red] = replace(T[out], name=red)
            ops.append(Op(name, "view", (partial,), (red,), {"op": "alias", COLLECTIVE_ATTR: "all_reduce"},
                          op.module, "accelsim.all_reduce"))
            colls.append(TpCollective(name, "all_reduce", red, T[out].numel, op.module, op.name))
            if bias is not None:
                beta = attrs.get("beta", 1)
                battrs: dict[str, Any] = {} if beta in (None, 1) else {"alpha": beta}
                ops.append(Op(f"{op.name}.bias", "add", (red, bias), (out,), battrs, op.module, "aten.add.Tensor"))
            continue
        new_outputs = tuple(gathered.get(o, o) for o in op.outputs)
        for o, no in zip(op.outputs, new_outputs):
            if no != o:
                tensors[no] = replace(tensors[o], name=no)
        ops.append(replace(op, inputs=new_inputs, outputs=new_outputs, attrs=attrs))
        for o, no in zip(op.outputs, new_outputs):
            if no != o:
                name = f"tp_all_gather.{len(colls)}"
                ops.append(Op(name, "view", (no,), (o,), {"op": "alias", COLLECTIVE_ATTR: "all_gather"},
                              op.module, "accelsim.all_gather"))
                colls.append(TpCollective(name, "all_gather", o, T[o].numel, op.module, op.name))
                vocab.extend(sorted(set(sp[o].src) - set(vocab)))
    output_cuts: dict[str, Cut] = {}
    gather_cuts: dict[str, Cut] = {}
    for o in graph.outputs:
        so = sp.get(o)
        if so is not None:
            (gather_cuts if o in gathered else output_cuts)[o] = Cut(o, so.dim, so.sections, tp)
    for t, sa in st.assigned.items():
        cuts.setdefault(t, Cut(t, sa.dim, sa.sections, tp))
    used = {t for op in ops for t in (*op.inputs, *op.outputs)} | set(graph.inputs) | outputs
    tensors = {n: info for n, info in tensors.items() if n in used}
    meta = dict(graph.meta)
    meta["parallel"] = {"tp": tp}
    kv = meta.get("kv_cache")
    if isinstance(kv, Mapping) and kv.get("kv_heads") and any(
            t in cuts for t in graph.inputs[1:1 + int(kv.get("inputs", 0) or 0)]):
        meta["kv_cache"] = {**kv, "kv_heads": int(kv["kv_heads"]) // tp}  # each chip caches its heads
    rank_graph = Graph(graph.name, tensors, tuple(ops), graph.inputs, graph.outputs, meta)
    try:
        rank_graph.verify()
    except WorkloadError as e:  # a bug in the rewrite: say where
        raise MappingError(f"tensor parallelism over {tp} chips: the split graph does not check: {e}") from None
    column = tuple(n for n, r in st.role.items() if r == "column" and n not in vocab)
    return TpPlan(
        tp=tp, graph=rank_graph, collectives=tuple(colls), cuts=cuts, output_cuts=output_cuts, gather_cuts=gather_cuts,
        column=column, row=tuple(n for n, r in st.role.items() if r == "row"), vocab=tuple(vocab),
        replicated=tuple(replicated), attention=tuple(st.attention), notes=tuple(notes),
    )


# --------------------------------------------------------------------------------- pipeline stages

_LAYER_RE = re.compile(r"(?:^|\.)(\d+)(?:\.|$)")


def layer_of(module: str) -> int | None:
    """The layer index of a module path: its first integer component (``layers.3.mlp`` -> 3)."""
    m = _LAYER_RE.search(module)
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: its graph, and the tensors it receives and sends."""

    index: int
    graph: Graph
    layers: tuple[int, int]  # [first, last] layer group index it holds
    recv: tuple[tuple[str, int], ...]  # (tensor, from stage)
    send: tuple[tuple[str, int], ...]  # (tensor, to stage)
    cost: float  # the balancing cost (cycles, roofline estimate)


def op_cost(op: Op, g: Graph, peak_macs: float, dram_bpc: float, lanes: int, elem: int) -> float:
    """Roofline cycles of an op for stage balancing: ``max(MACs / peak, weight bytes / DRAM
    bytes per cycle)`` for GEMMs and attention, ``elements / lanes`` for vector ops, 0 for views
    and constants."""
    from accelsim.workload.opset import OPSET, vector_elements

    T = g.tensors
    d = OPSET.get(op.kind)
    if d is None or d.unit in ("layout", "const"):
        return 0.0
    if op.kind in ("sdpa", "attention"):
        q, k = T[op.inputs[0]].shape, T[op.inputs[1]].shape
        macs = math.prod(q[:-2]) * q[-2] * k[-2] * 2 * q[-1]
        kv = sum(T[t].numel for t in op.inputs[1:3] if T[t].kind == "input") * elem
        return max(macs / peak_macs, kv / dram_bpc)
    if d.unit == "array":
        from accelsim.workload.gemm import gemm_view

        try:
            v = gemm_view(op, g)
        except AccelsimError:
            return 0.0
        wbytes = sum(T[t].numel for t in op.inputs if T[t].kind in ("weight", "input")) * elem
        return max(v.batch * v.M * v.N * v.K / peak_macs, wbytes / dram_bpc)
    try:
        return vector_elements(op, g) / lanes
    except AccelsimError:
        return 0.0


def _partition(costs: Sequence[float], p: int) -> list[tuple[int, int]]:
    """Contiguous [a, b) parts of ``costs`` minimising the largest part's sum (DP, exact)."""
    n = len(costs)
    pre = [0.0]
    for c in costs:
        pre.append(pre[-1] + c)
    INF = float("inf")
    best = [[INF] * (n + 1) for _ in range(p + 1)]
    cut = [[0] * (n + 1) for _ in range(p + 1)]
    best[0][0] = 0.0
    for k in range(1, p + 1):
        for j in range(k, n + 1):
            for i in range(k - 1, j):
                v = max(best[k - 1][i], pre[j] - pre[i])
                if v < best[k][j] - 1e-12:
                    best[k][j] = v
                    cut[k][j] = i
    parts = []
    j = n
    for k in range(p, 0, -1):
        i = cut[k][j]
        parts.append((i, j))
        j = i
    return list(reversed(parts))


def split_pp(graph: Graph, pp: int, cost: Callable[[Op, Graph], float]) -> list[Stage]:
    """``graph`` cut into ``pp`` pipeline stages of whole layers, balanced by ``cost`` (see the
    module docstring). Raises :class:`MappingError` when there are fewer layers than stages."""
    if pp < 1:
        raise MappingError(f"--pp must be at least 1 (got {pp})")
    T = graph.tensors
    # layer group of every op, non-decreasing in program order
    groups: list[int] = []
    cur = -1
    for op in graph.ops:
        lay = layer_of(op.module)
        if lay is not None and lay > cur:
            cur = lay
        groups.append(max(cur, 0))
    keys = sorted(set(groups))
    if pp == 1:
        costs_all = sum(cost(op, graph) for op in graph.ops)
        return [Stage(0, graph, (keys[0], keys[-1]) if keys else (0, 0), (), (), costs_all)]
    if len(keys) < pp:
        raise MappingError(f"pipeline parallelism: {graph.name} has {len(keys)} layer(s) (module paths "
                           f"such as layers.<i>), fewer than --pp {pp} stages")
    gcost = {k: 0.0 for k in keys}
    for op, gi in zip(graph.ops, groups):
        gcost[gi] += cost(op, graph)
    parts = _partition([gcost[k] for k in keys], pp)
    stage_of_group = {}
    for si, (a, b) in enumerate(parts):
        for k in keys[a:b]:
            stage_of_group[k] = si
    op_stage = [stage_of_group[gi] for gi in groups]
    producer_stage: dict[str, int] = {}
    prods = graph.producers()
    for op, s in zip(graph.ops, op_stage):
        for o in op.outputs:
            producer_stage[o] = s
    stages: list[Stage] = []
    sends: dict[int, set[tuple[str, int]]] = {i: set() for i in range(pp)}
    recvs: dict[int, set[tuple[str, int]]] = {i: set() for i in range(pp)}
    extra_const: dict[int, list[Op]] = {i: [] for i in range(pp)}
    for op, s in zip(graph.ops, op_stage):
        for t in op.inputs:
            ps = producer_stage.get(t)
            if ps is None or ps == s:
                continue
            p = prods[t]
            if p.kind == "const":  # generated on chip: every stage makes its own
                if p not in extra_const[s]:
                    extra_const[s].append(p)
                continue
            sends[ps].add((t, s))
            recvs[s].add((t, ps))
    # a decode step's KV cache (graph.meta["kv_cache"]): inputs 1..n and outputs 1..m, by position
    kvm = graph.meta.get("kv_cache") if isinstance(graph.meta.get("kv_cache"), Mapping) else None
    kv_in = list(graph.inputs[1:1 + int(kvm.get("inputs", 0) or 0)]) if kvm else []
    kv_out = list(graph.outputs[1:1 + int(kvm.get("outputs", 0) or 0)]) if kvm else []
    for si, (a, b) in enumerate(parts):
        ops = [*extra_const[si], *(op for op, s in zip(graph.ops, op_stage) if s == si)]
        recv_t = {t for t, _ in recvs[si]}
        used = {t for op in ops for t in op.inputs} | {o for op in ops for o in op.outputs}
        tensors = {}
        for n in used:
            info = T[n]
            tensors[n] = replace(info, kind="input", source=n) if n in recv_t else info
        produced = {o for op in ops for o in op.outputs}
        send_t = sorted({t for t, _ in sends[si]} - set(graph.outputs))
        # first the tokens (or the received activations), then the stage's cache, then the rest;
        # outputs: the logits (or what is sent on), the rows of the cache written, the rest
        s_kv_in = [t for t in kv_in if t in used]
        s_kv_out = [o for o in kv_out if o in produced]
        head_in = [t for t in graph.inputs if t in used and t not in kv_in] + sorted(recv_t)
        head_out = [o for o in graph.outputs if o in produced and o not in kv_out] + send_t
        ins = tuple(head_in[:1] + s_kv_in + head_in[1:])
        outs = tuple(head_out[:1] + s_kv_out + head_out[1:])
        meta = dict(graph.meta)
        meta["parallel"] = {**dict(meta.get("parallel", {})), "pp": pp, "stage": si}
        if kvm:
            meta["kv_cache"] = {**kvm, "inputs": len(s_kv_in), "outputs": len(s_kv_out),
                                "layers": (len(s_kv_out) or len(s_kv_in)) // 2}
        sg = Graph(f"{graph.name}", tensors, tuple(ops), ins, outs, meta)
        try:
            sg.verify()
        except WorkloadError as e:
            raise MappingError(f"pipeline parallelism: stage {si} does not check: {e}") from None
        stages.append(Stage(si, sg, (keys[a], keys[b - 1]), tuple(sorted(recvs[si])), tuple(sorted(sends[si])),
                            sum(gcost[k] for k in keys[a:b])))
    return stages
