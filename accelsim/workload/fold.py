"""Trace-time folding: what real hardware precomputes is computed once, while tracing.

* :func:`static_nodes` / :func:`fold_static`: on the exported FX graph, every node whose value
  depends only on constants, buffers and static shapes (RoPE cos/sin tables, causal masks,
  T5 relative-position buckets, ``var + eps`` of a buffer) is evaluated once with torch; the
  *frontier* nodes (static nodes read by a non-static op, or returned) become ``const``
  tensors of the graph and everything behind them disappears. Parameters are never folded:
  weights stay weights (the mapper streams or pins them, ROMs hold them). Plain constant
  generators (``arange``, ``zeros``, ...) that feed the rest directly stay ``const`` ops.
* :func:`fold_batch_norm`: an inference ``batch_norm`` whose input is a convolution read by
  nothing else is folded into that convolution's weight and bias
  (``w' = w * g / sqrt(var + eps)``, ``b' = (b - mean) * g / sqrt(var + eps) + beta``, per
  output channel; Jacob et al., CVPR 2018, sec. 3.2), computed in float64 from the traced
  values and stored in the weight's dtype.

Both record what they did in ``graph.meta["folded"]`` (a list of dicts), which reaches
``result.json``'s ``workload_meta``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.fx import Node

from accelsim.errors import WorkloadError
from accelsim.workload.ir import Op, TensorInfo

__all__ = ["FoldResult", "fold_static", "static_set", "fold_batch_norm", "GENERATOR_TARGETS"]

#: ATen overloads whose value depends on shapes only (their tensor argument, if any, gives the
#: shape / dtype / device): constant generators.
GENERATOR_TARGETS = frozenset({
    "aten.arange.default", "aten.arange.start", "aten.arange.start_step",
    "aten.full.default", "aten.full_like.default", "aten.new_full.default", "aten.scalar_tensor.default",
    "aten.zeros.default", "aten.zeros_like.default", "aten.new_zeros.default",
    "aten.ones.default", "aten.ones_like.default", "aten.new_ones.default",
    "aten.empty.memory_format", "aten.empty_like.default", "aten.new_empty.default",
    "aten.empty_permuted.default", "aten.empty_strided.default",
})  # fmt: skip

_SIDE_EFFECTS = frozenset({
    "aten._assert_tensor_metadata.default", "aten._assert_scalar.default", "aten._assert_async.msg",
    "aten._assert_async.default", "aten.sym_constrain_range.default", "aten.sym_constrain_range_for_size.default",
})  # fmt: skip


@dataclass
class FoldResult:
    """``static``: every static node (skipped by conversion); ``folded``: frontier node ->
    (value, record) for nodes replaced by a const tensor; ``generators``: static frontier nodes
    left as ``const`` ops."""

    static: set[Node] = field(default_factory=set)
    folded: dict[Node, tuple[torch.Tensor, dict[str, Any]]] = field(default_factory=dict)
    generators: set[Node] = field(default_factory=set)


def _node_inputs(n: Node) -> list[Node]:
    out: list[Node] = []

    def keep(x: Node) -> Node:
        out.append(x)
        return x

    torch.fx.node.map_arg((n.args, n.kwargs), keep)
    return out


def _mutates(n: Node) -> bool:
    schema = getattr(n.target, "_schema", None)
    return bool(schema is not None and getattr(schema, "is_mutable", False))


def static_set(nodes: list[Node], static_placeholders: set[Node]) -> set[Node]:
    """Nodes whose value depends only on ``static_placeholders`` (buffers, constants) and static
    shapes: constant generators and ops all of whose tensor inputs are static."""
    static: set[Node] = set()
    for n in nodes:
        if n.op == "placeholder":
            if n in static_placeholders:
                static.add(n)
            continue
        if n.op != "call_function":
            continue
        t = str(n.target)
        if t in _SIDE_EFFECTS or _mutates(n):
            continue  # in-place ops are never evaluated: functionalisation handles them
        ins = _node_inputs(n)
        if t in GENERATOR_TARGETS or (ins and all(i in static for i in ins)) or (
                not ins and n.target is not operator.getitem):
            static.add(n)
    return static


def fold_static(
    nodes: list[Node],
    static_placeholders: Mapping[Node, torch.Tensor],
    module_path: Callable[[Node], str],
    converters: Mapping[str, Any],
) -> FoldResult:
    """Find and evaluate the static subgraphs of an exported graph (see the module docstring).

    ``static_placeholders``: buffer / constant placeholder -> value. ``converters`` tells which
    generator nodes can stay ``const`` ops."""
    res = FoldResult()
    static = res.static
    static |= static_set(nodes, set(static_placeholders))
    if not static:
        return res

    def live_users(n: Node) -> list[Node]:
        return [u for u in n.users if not (u.op == "call_function" and str(u.target) in _SIDE_EFFECTS)]

    frontier = []
    for n in nodes:
        if n not in static or n.op == "placeholder":
            continue
        users = live_users(n)
        if any(u not in static or u.op == "output" for u in users):
            frontier.append(n)
    if not frontier:
        return res
    need = set()
    stack = []
    for n in frontier:
        if str(n.target) in GENERATOR_TARGETS and str(n.target) in converters:
            res.generators.add(n)
        else:
            stack.append(n)
    while stack:  # the cones to evaluate
        n = stack.pop()
        if n in need:
            continue
        need.add(n)
        stack.extend(i for i in _node_inputs(n) if i in static)
    if not need:
        return res
    vals: dict[Node, Any] = dict(static_placeholders)
    with torch.no_grad():
        for n in nodes:
            if n not in need or n in vals:
                continue
            args, kwargs = torch.fx.node.map_arg((n.args, n.kwargs), lambda x: vals[x])
            try:
                vals[n] = n.target(*args, **kwargs)  # type: ignore[operator]
            except Exception as e:  # noqa: BLE001 -- any torch failure: report it with the op
                raise WorkloadError(
                    f"folding the static value of {n.target} (node '{n.name}') in module "
                    f"'{module_path(n) or '<top>'}' failed: {type(e).__name__}: {e}") from e
    for n in frontier:
        if n in res.generators:
            continue
        v = vals[n]
        if not isinstance(v, torch.Tensor):
            continue  # a non-tensor static value (e.g. a tuple read by getitem users)
        cone: list[Node] = []
        seen: set[Node] = set()
        st = [n]
        while st:
            m = st.pop()
            if m in seen or m.op == "placeholder":
                continue
            seen.add(m)
            cone.append(m)
            st.extend(i for i in _node_inputs(m) if i in static)
        targets = sorted({_short(m) for m in cone})
        rec = {
            "kind": "static",
            "module": module_path(n),
            "ops": len(cone),
            "targets": targets,
            "shape": list(v.shape),
            "dtype": str(v.dtype).removeprefix("torch."),
        }
        causal = _causal_kind(v, cone, nodes)
        if causal is not None:
            rec["causal"] = causal
        res.folded[n] = (v.detach(), rec)
    return res


def _causal_kind(v: torch.Tensor, cone: list[Node], nodes: list[Node]) -> str | None:
    """The causal-mask pattern of a folded value (:func:`accelsim.workload.masks.causal_mask_kind`).
    On the meta device (shapes only) a mask that depends on shapes alone (its cone reads no
    buffer) is evaluated once more on the CPU to tell."""
    from accelsim.workload.masks import causal_mask_kind

    if v.dim() < 2 or not (v.dtype == torch.bool or v.is_floating_point()):
        return None
    if v.device.type != "meta":
        return causal_mask_kind(v)
    if v.numel() > (1 << 26):
        return None
    members = set(cone)
    if any(i.op == "placeholder" for m in cone for i in _node_inputs(m)):
        return None
    cpu = torch.device("cpu")
    vals: dict[Node, Any] = {}

    def arg(x: Node) -> Any:
        return vals[x]

    try:
        with torch.no_grad():
            for m in nodes:
                if m not in members:
                    continue
                args, kwargs = torch.fx.node.map_arg((m.args, m.kwargs), arg)
                if "device" in kwargs:
                    kwargs = {**kwargs, "device": cpu}
                vals[m] = m.target(*args, **kwargs)  # type: ignore[operator]
    except Exception:  # noqa: BLE001 - then it is simply not recognised
        return None
    out = vals.get(cone[0])
    return causal_mask_kind(out) if isinstance(out, torch.Tensor) and out.device.type == "cpu" else None


def _short(n: Node) -> str:
    if n.target is operator.getitem:
        return "getitem"
    t = str(n.target)
    parts = t.split(".")
    return parts[1] if len(parts) >= 3 and parts[0] == "aten" else t


# ---------------------------------------------------------------------------------------------
# BatchNorm into the preceding convolution
# ---------------------------------------------------------------------------------------------


def fold_batch_norm(
    ops: list[Op], tensors: dict[str, TensorInfo], params: dict[str, torch.Tensor], outputs: set[str]
) -> tuple[list[Op], list[dict[str, Any]]]:
    """Fold every ``batch_norm`` that directly follows a convolution into it (see the module
    docstring). Mutates ``tensors`` / ``params`` (new or replaced weight and bias tensors);
    returns the new op list and one record per fold."""
    readers: dict[str, int] = {}
    for op in ops:
        for t in op.inputs:
            readers[t] = readers.get(t, 0) + 1
    producer = {t: i for i, op in enumerate(ops) for t in op.outputs}
    drop: set[int] = set()
    replace: dict[int, Op] = {}
    records: list[dict[str, Any]] = []
    for i, bn in enumerate(ops):
        if bn.kind != "batch_norm":
            continue
        x = bn.inputs[0]
        j = producer.get(x)
        if j is None or j in drop or j in replace:
            continue
        conv = ops[j]
        if conv.kind not in ("conv2d", "conv1d") or readers.get(x, 0) != 1 or x in outputs:
            continue
        rest = list(bn.inputs[1:])
        mean, var = rest[0], rest[1]
        has_w = bool(bn.attrs.get("has_weight", len(rest) > 2))
        has_b = bool(bn.attrs.get("has_bias", len(rest) > 3 or (len(rest) > 2 and not has_w)))
        gamma = rest[2] if has_w else None
        beta = rest[3] if has_w and has_b else (rest[2] if has_b else None)
        w_name = conv.inputs[1]
        stat = [mean, var] + [t for t in (gamma, beta) if t is not None] + [w_name] + list(conv.inputs[2:3])
        if any(tensors[t].kind not in ("weight", "const") or t not in params for t in stat):
            continue  # statistics computed at run time: not foldable
        eps = float(bn.attrs.get("eps", 1e-5))
        W = params[w_name]
        F = W.shape[0]
        meta = W.device.type == "meta"
        dev = W.device

        def f64(name: str | None, default: float) -> torch.Tensor:
            if name is None:
                return torch.full((F,), default, dtype=torch.float64, device=dev)
            return params[name].to(torch.float64)

        scale = f64(gamma, 1.0) / torch.sqrt(f64(var, 0.0) + eps)
        shift = f64(beta, 0.0) - f64(mean, 0.0) * scale
        bias0 = f64(conv.inputs[2] if len(conv.inputs) > 2 else None, 0.0)
        new_w = (W.to(torch.float64) * scale.view(-1, *([1] * (W.dim() - 1)))).to(W.dtype)
        new_b = (bias0 * scale + shift).to(W.dtype)
        del meta
        # names: replace the conv's own tensors in place when nothing else reads them
        wn = w_name if readers.get(w_name, 0) == 1 else _fresh(f"{w_name}.bn_folded", tensors)
        old_b = conv.inputs[2] if len(conv.inputs) > 2 else None
        if old_b is not None and readers.get(old_b, 0) == 1:
            bname = old_b
        else:
            base = f"{conv.module}.bias" if conv.module else f"{conv.name}.bias"
            bname = _fresh(base, tensors)
        src = f"{tensors[w_name].source or w_name} (batch norm {bn.module or bn.name} folded)"
        tensors[wn] = TensorInfo(wn, tuple(new_w.shape), tensors[w_name].dtype, "weight", src)
        params[wn] = new_w
        bsrc = f"{conv.module or conv.name} bias with batch norm {bn.module or bn.name} folded"
        tensors[bname] = TensorInfo(bname, (F,), tensors[w_name].dtype, "weight", bsrc)
        params[bname] = new_b
        attrs = dict(conv.attrs)
        replace[j] = Op(conv.name, conv.kind, (conv.inputs[0], wn, bname), bn.outputs, attrs, conv.module, conv.target)
        drop.add(i)
        tensors.pop(x, None)
        records.append({"kind": "batch_norm", "module": bn.module, "into": conv.module or conv.name,
                        "op": bn.name, "conv": conv.name})
    if not records:
        return ops, []
    out = []
    for i, op in enumerate(ops):
        if i in drop:
            continue
        out.append(replace.get(i, op))
    # tensors read by nothing any more (the old conv weights / BN statistics)
    used = {t for op in out for t in op.inputs}
    for name in list(tensors):
        if tensors[name].kind in ("weight", "const") and name not in used:
            tensors.pop(name)
            params.pop(name, None)
    return out, records


def _fresh(base: str, taken: Mapping[str, Any]) -> str:
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    return name
