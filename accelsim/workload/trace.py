"""Trace a PyTorch module into the op IR (:mod:`accelsim.workload.ir`).

Capture is ``torch.export.export(strict=False)`` followed, when the training IR holds an op
without a converter or mutates state (:func:`needs_decomposition`), by ``run_decompositions``
with the default core-ATen table minus ``linear``, ``scaled_dot_product_attention`` and
``layer_norm`` (so those stay whole). Every FX node of the result is then converted to one canonical IR op by a
table of converters keyed by the ATen overload (``"aten.add.Tensor"``); see
:func:`register_converter` to add one. ``getitem`` on a multi-output op (split, topk, ...) emits
nothing: its users read the right output tensor of the producing op directly.

Naming (short, stable, deterministic): activations are named after their FX node
(``linear_3``, ``getitem_1``); weights after their parameter/buffer FQN (``h.0.attn.c_attn.weight``;
tied weights are deduplicated by storage and named after the first FQN in module order, the
aliases listed in ``graph.meta["tied_weights"]``); lifted tensor constants after their
placeholder (``c_lifted_tensor_0``, kind ``const``); model inputs after their placeholder (``idx``).
"""

from __future__ import annotations

import json
import operator
import re
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType as _ModuleType
from typing import Any

import torch
from torch import nn
from torch.fx import Node

from accelsim.errors import WorkloadError
from accelsim.workload.ir import Graph, Op, TensorInfo, TensorKind

aten = torch.ops.aten

__all__ = [
    "Traced",
    "trace",
    "export_program",
    "needs_decomposition",
    "register_converter",
    "supported_ops",
    "Emit",
    "Ctx",
    "dtype_name",
]


@dataclass(frozen=True, eq=False)  # eq=False: comparing tensor dicts is ambiguous
class Traced:
    """A traced workload: the IR graph plus the values needed to execute it."""

    graph: Graph
    params: dict[str, torch.Tensor]  # IR tensor name -> value, every weight / const tensor
    inputs: dict[str, torch.Tensor]  # IR tensor name -> example input value
    #: graph output name -> the eager PyTorch module's value for it (computed once at trace time;
    #: None when the model was traced on the meta device or without ``eager``)
    eager_outputs: dict[str, torch.Tensor] | None = None


# ---------------------------------------------------------------------------------------------
# Converter table
# ---------------------------------------------------------------------------------------------


@dataclass
class Emit:
    """What a converter returns: one IR op. ``inputs`` holds FX nodes (or IR tensor names)."""

    kind: str
    inputs: list[Any]
    attrs: dict[str, Any]
    n_outputs: int | None = None  # keep only the first n results of a multi-output ATen op


Converter = Callable[["Ctx"], "Emit | None"]
#: a converter that always emits an op (the converter factories that others wrap build these)
Emitter = Callable[["Ctx"], "Emit"]
_CONVERTERS: dict[str, Converter] = {}

# Nodes that produce no IR op (runtime assertions); their results must not be used.
_SKIP = {
    "aten._assert_tensor_metadata.default",
    "aten._assert_scalar.default",
    "aten._assert_async.msg",
    "aten._assert_async.default",
    "aten.sym_constrain_range.default",
    "aten.sym_constrain_range_for_size.default",
}


def register_converter(*targets: str) -> Callable[[Converter], Converter]:
    """Decorator: register ``fn(ctx) -> Emit`` for ATen overloads given as ``"aten.add.Tensor"``.

    Later registrations replace earlier ones, so a workload file can extend or override the table.
    """

    def deco(fn: Converter) -> Converter:
        for t in targets:
            _CONVERTERS[t] = fn
        return fn

    return deco


def supported_ops() -> list[str]:
    """Sorted ATen overloads that :func:`trace` can convert."""
    return sorted(_CONVERTERS)


def dtype_name(d: torch.dtype) -> str:
    return str(d).removeprefix("torch.")


class Ctx:
    """Conversion context for one FX node: bound schema arguments and shape helpers."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.target = str(node.target)
        self.a: dict[str, Any] = _bind(node)

    # -- helpers ---------------------------------------------------------------------------
    @property
    def val(self) -> Any:
        return self.node.meta.get("val")

    @property
    def out_shape(self) -> list[int]:
        return _shape(self.val, self.node)

    @property
    def out_dtype(self) -> str:
        return dtype_name(self.val.dtype)

    def shape(self, x: Any) -> list[int]:
        if not isinstance(x, Node):
            raise self.error(f"expected a tensor argument, got {x!r}")
        return _shape(x.meta.get("val"), x)

    def dtype(self, x: Node) -> str:
        return dtype_name(x.meta["val"].dtype)

    def rank(self, x: Any) -> int:
        return len(self.shape(x))

    def dim(self, d: int, rank: int) -> int:
        """Normalise a possibly negative dim against ``rank``."""
        r = max(rank, 1)
        if not -r <= d < r:
            raise self.error(f"dim {d} out of range for rank {rank}")
        return d % r

    def dims(self, ds: Sequence[int] | int | None, rank: int) -> list[int]:
        """Normalised sorted dims; ``None`` or ``[]`` mean all dims."""
        if ds is None:
            return list(range(rank))
        if isinstance(ds, int):
            ds = [ds]
        if len(ds) == 0:
            return list(range(rank))
        return sorted({self.dim(int(d), rank) for d in ds})

    def error(self, msg: str) -> WorkloadError:
        return WorkloadError(f"{self.target} (node '{self.node.name}') "
                             f"in module '{_module_path(self.node) or '<top>'}': {msg}")


def _bind(node: Node) -> dict[str, Any]:
    """Map FX args/kwargs onto the overload's schema argument names (with defaults)."""
    target = node.target
    schema = getattr(target, "_schema", None)
    if schema is None:
        return {str(i): a for i, a in enumerate(node.args)} | dict(node.kwargs)
    out: dict[str, Any] = {}
    pos = list(node.args)
    i = 0
    for arg in schema.arguments:
        if not arg.kwarg_only and i < len(pos):
            out[arg.name] = pos[i]
            i += 1
        elif arg.name in node.kwargs:
            out[arg.name] = node.kwargs[arg.name]
        elif arg.has_default_value():
            out[arg.name] = arg.default_value
        else:
            out[arg.name] = None
    return out


def _shape(val: Any, node: Node | None = None) -> list[int]:
    if not isinstance(val, torch.Tensor):
        raise WorkloadError(f"node '{getattr(node, 'name', '?')}' is not a tensor (got {type(val).__name__})")
    out = []
    for s in val.shape:
        if not isinstance(s, int):
            try:
                s = int(s)
            except Exception:  # noqa: BLE001
                raise WorkloadError(
                    f"node '{getattr(node, 'name', '?')}' has a symbolic shape {tuple(val.shape)}; "
                    "trace with static shapes"
                ) from None
        out.append(s)
    return out


def _scalar(ctx: Ctx, v: Any) -> Any:
    """A JSON-able attribute value (scalars, lists, dtype names)."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return float(v)
    if isinstance(v, torch.dtype):
        return dtype_name(v)
    if isinstance(v, (torch.memory_format, torch.layout, torch.device)):
        return str(v).removeprefix("torch.")
    if isinstance(v, (list, tuple)):
        return [_scalar(ctx, x) for x in v]
    if isinstance(v, Node):
        raise ctx.error(f"tensor '{v.name}' where a constant was expected")
    if isinstance(v, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        raise ctx.error("symbolic scalar argument; trace with static shapes")
    raise ctx.error(f"cannot represent argument {v!r} ({type(v).__name__})")


def _is_t(x: Any) -> bool:
    return isinstance(x, Node)


# -- GEMM-like ---------------------------------------------------------------------------------


@register_converter("aten.linear.default")
def _linear(c: Ctx) -> Emit:
    ins = [c.a["input"], c.a["weight"]]
    if c.a["bias"] is not None:
        ins.append(c.a["bias"])
    return Emit("linear", ins, {})


@register_converter("aten.mm.default", "aten.bmm.default", "aten.matmul.default")
def _mm(c: Ctx) -> Emit:
    return Emit("matmul", [c.a["self"], c.a["mat2"] if "mat2" in c.a else c.a["other"]], {})


@register_converter("aten.addmm.default")
def _addmm(c: Ctx) -> Emit:
    attrs: dict[str, Any] = {}
    if c.a["beta"] != 1:
        attrs["beta"] = _scalar(c, c.a["beta"])
    if c.a["alpha"] != 1:
        attrs["alpha"] = _scalar(c, c.a["alpha"])
    return Emit("matmul", [c.a["mat1"], c.a["mat2"], c.a["self"]], attrs)


@register_converter("aten.scaled_dot_product_attention.default")
def _sdpa(c: Ctx) -> Emit:
    if c.a["dropout_p"] not in (0, 0.0):
        raise c.error(f"dropout_p={c.a['dropout_p']} is not supported (must be 0 for inference)")
    ins = [c.a["query"], c.a["key"], c.a["value"]]
    if c.a["attn_mask"] is not None:
        ins.append(c.a["attn_mask"])
    attrs: dict[str, Any] = {"is_causal": bool(c.a["is_causal"]), "scale": _scalar(c, c.a["scale"])}
    if c.a.get("enable_gqa"):
        attrs["enable_gqa"] = True
    return Emit("sdpa", ins, attrs)


# -- elementwise ---------------------------------------------------------------------------------


def _binary(kind: str, a: str = "self", b: str = "other") -> Emitter:
    def conv(c: Ctx) -> Emit:
        x, y = c.a[a], c.a[b]
        attrs: dict[str, Any] = {}
        if c.a.get("alpha", 1) != 1:
            attrs["alpha"] = _scalar(c, c.a["alpha"])
        if c.a.get("rounding_mode") is not None:
            attrs["rounding_mode"] = c.a["rounding_mode"]
        if _is_t(x) and _is_t(y):
            return Emit(kind, [x, y], attrs)
        if _is_t(x):
            return Emit(kind, [x], {"other": _scalar(c, y), **attrs})
        if _is_t(y):  # scalar first: e.g. 1 - x
            return Emit(kind, [y], {"other": _scalar(c, x), "reverse": True, **attrs})
        raise c.error("no tensor operand")

    return conv


for _k in ("add", "sub", "mul", "div"):
    register_converter(f"aten.{_k}.Tensor", f"aten.{_k}.Scalar")(_binary(_k))
register_converter("aten.div.Tensor_mode", "aten.div.Scalar_mode")(_binary("div"))


def _compare(op: str) -> Converter:
    inner = _binary("compare")

    def conv(c: Ctx) -> Emit:
        e = inner(c)
        e.attrs = {"op": op, **e.attrs}
        return e

    return conv


for _k in ("eq", "ne", "lt", "le", "gt", "ge"):
    register_converter(f"aten.{_k}.Tensor", f"aten.{_k}.Scalar")(_compare(_k))


def _logical(op: str) -> Converter:
    inner = _binary("logical")

    def conv(c: Ctx) -> Emit:
        if op in ("logical_not", "bitwise_not"):
            return Emit("logical", [c.a["self"]], {"op": op})
        e = inner(c)
        e.attrs = {"op": op, **e.attrs}
        return e

    return conv


for _k in ("logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor"):
    register_converter(f"aten.{_k}.default", f"aten.{_k}.Tensor", f"aten.{_k}.Scalar")(_logical(_k))
register_converter("aten.logical_not.default")(_logical("logical_not"))
register_converter("aten.bitwise_not.default")(_logical("bitwise_not"))


def _unary(kind: str) -> Converter:
    def conv(c: Ctx) -> Emit:
        return Emit(kind, [c.a["self"]], {})

    return conv


for _k in ("neg", "relu", "exp", "tanh", "sigmoid", "sqrt", "rsqrt"):
    register_converter(f"aten.{_k}.default")(_unary(_k))


@register_converter("aten.reciprocal.default")
def _reciprocal(c: Ctx) -> Emit:
    return Emit("div", [c.a["self"]], {"other": 1.0, "reverse": True})


@register_converter("aten.gelu.default")
def _gelu(c: Ctx) -> Emit:
    return Emit("gelu", [c.a["self"]], {"approximate": c.a["approximate"] or "none"})


@register_converter("aten.pow.Tensor_Scalar", "aten.pow.Tensor_Tensor", "aten.pow.Scalar")
def _pow(c: Ctx) -> Emit:
    base, ex = c.a["self"], c.a["exponent"]
    if _is_t(base) and _is_t(ex):
        return Emit("pow", [base, ex], {})
    if _is_t(base):
        return Emit("pow", [base], {"exponent": _scalar(c, ex)})
    return Emit("pow", [ex], {"base": _scalar(c, base)})


@register_converter("aten.clamp.default", "aten.clamp.Tensor", "aten.clamp_min.default", "aten.clamp_max.default")
def _clamp(c: Ctx) -> Emit:
    ins = [c.a["self"]]
    attrs: dict[str, Any] = {}
    for k in ("min", "max"):
        v = c.a.get(k)
        if _is_t(v):
            ins.append(v)
            attrs.setdefault("tensor_bounds", []).append(k)
        else:
            attrs[k] = _scalar(c, v)
    return Emit("clamp", ins, attrs)


@register_converter("aten.where.self")
def _where(c: Ctx) -> Emit:
    return Emit("where", [c.a["condition"], c.a["self"], c.a["other"]], {})


@register_converter("aten.masked_fill.Scalar", "aten.masked_fill.Tensor")
def _masked_fill(c: Ctx) -> Emit:
    v = c.a["value"]
    if _is_t(v):
        return Emit("masked_fill", [c.a["self"], c.a["mask"], v], {})
    return Emit("masked_fill", [c.a["self"], c.a["mask"]], {"value": _scalar(c, v)})


@register_converter("aten._to_copy.default", "aten.to.dtype", "aten.to.dtype_layout", "aten._to_dtype.default")
def _cast(c: Ctx) -> Emit:
    return Emit("cast", [c.a["self"]], {"dtype": c.out_dtype})


# -- normalisation / reductions ---------------------------------------------------------------


@register_converter("aten._softmax.default", "aten.softmax.int")
def _softmax(c: Ctx) -> Emit:
    x = c.a["self"]
    attrs: dict[str, Any] = {"dim": c.dim(c.a["dim"], c.rank(x))}
    if c.out_dtype != c.dtype(x):
        attrs["dtype"] = c.out_dtype
    return Emit("softmax", [x], attrs)


@register_converter("aten.layer_norm.default")
def _layer_norm(c: Ctx) -> Emit:
    ins = [c.a["input"]]
    attrs: dict[str, Any] = {"normalized_shape": _scalar(c, list(c.a["normalized_shape"])), "eps": float(c.a["eps"])}
    if c.a["weight"] is not None:
        ins.append(c.a["weight"])
    elif c.a["bias"] is not None:
        attrs["has_weight"] = False
    if c.a["bias"] is not None:
        ins.append(c.a["bias"])
    return Emit("layer_norm", ins, attrs)


def _reduce(op: str) -> Emitter:
    def conv(c: Ctx) -> Emit:
        x = c.a["self"]
        r = c.rank(x)
        attrs: dict[str, Any] = {
            "op": op,
            "dims": c.dims(c.a.get("dim"), r),
            "keepdim": bool(c.a.get("keepdim") or False),
        }
        if c.a.get("dtype") is not None:
            attrs["dtype"] = _scalar(c, c.a["dtype"])
        return Emit("reduce", [x], attrs)

    return conv


register_converter("aten.sum.dim_IntList", "aten.sum.default")(_reduce("sum"))
register_converter("aten.mean.dim", "aten.mean.default")(_reduce("mean"))
register_converter("aten.amax.default")(_reduce("amax"))
register_converter("aten.amin.default", "aten.min.default")(_reduce("min"))
register_converter("aten.max.default")(_reduce("max"))
register_converter("aten.any.default", "aten.any.dim", "aten.any.dims")(_reduce("any"))


def _reduce_with_indices(op: str) -> Converter:
    """``max.dim`` / ``min.dim``: supported when only the values are used (a plain reduce)."""
    inner = _reduce(op)

    def conv(c: Ctx) -> Emit:
        for u in c.node.users:
            if u.target is operator.getitem and u.args[1] != 0:
                raise c.error("the indices output (argmax/argmin) is not supported; only the values")
        return inner(c)

    return conv


register_converter("aten.max.dim")(_reduce_with_indices("max"))
register_converter("aten.min.dim")(_reduce_with_indices("min"))


@register_converter("aten.topk.default")
def _topk(c: Ctx) -> Emit:
    x = c.a["self"]
    return Emit(
        "topk",
        [x],
        {
            "k": int(c.a["k"]),
            "dim": c.dim(c.a["dim"], c.rank(x)),
            "largest": bool(c.a["largest"]),
            "sorted": bool(c.a["sorted"]),
        },
    )


# -- indexing -------------------------------------------------------------------------------


@register_converter("aten.embedding.default")
def _embedding(c: Ctx) -> Emit:
    return Emit("embedding", [c.a["weight"], c.a["indices"]], {})


@register_converter("aten.gather.default")
def _gather(c: Ctx) -> Emit:
    x = c.a["self"]
    return Emit("gather", [x, c.a["index"]], {"dim": c.dim(c.a["dim"], c.rank(x))})


@register_converter(
    "aten.scatter.src",
    "aten.scatter.value",
    "aten.scatter.reduce",
    "aten.scatter.value_reduce",
    "aten.scatter_add.default",
    "aten.scatter_reduce.two",
)
def _scatter(c: Ctx) -> Emit:
    x = c.a["self"]
    attrs: dict[str, Any] = {"dim": c.dim(c.a["dim"], c.rank(x))}
    ins = [x, c.a["index"]]
    if "src" in c.a:
        ins.append(c.a["src"])
    else:
        attrs["value"] = _scalar(c, c.a["value"])
    if c.target == "aten.scatter_add.default":
        attrs["reduce"] = "add"
    elif c.target == "aten.scatter_reduce.two":
        attrs["reduce"] = c.a["reduce"]
        attrs["include_self"] = bool(c.a["include_self"])
    elif c.a.get("reduce") is not None:
        attrs["reduce"] = c.a["reduce"]
    return Emit("scatter", ins, attrs)


# -- layout ops -------------------------------------------------------------------------------


def _view(op: str, fn: Callable[[Ctx], dict[str, Any]] | None = None, many: str | None = None) -> Converter:
    def conv(c: Ctx) -> Emit:
        ins = list(c.a[many]) if many else [c.a["self"]]
        attrs: dict[str, Any] = {"op": op}
        if fn is not None:
            attrs.update(fn(c))
        return Emit("view", ins, attrs)

    return conv


def _shape_attr(c: Ctx) -> dict[str, Any]:
    return {"shape": _scalar(c, list(c.a["size"]))}


register_converter("aten.view.default")(_view("view", _shape_attr))
register_converter("aten._unsafe_view.default")(_view("_unsafe_view", _shape_attr))
register_converter("aten.reshape.default")(_view("reshape", lambda c: {"shape": _scalar(c, list(c.a["shape"]))}))
register_converter("aten.expand.default")(_view("expand", _shape_attr))
register_converter("aten.unsqueeze.default")(
    _view("unsqueeze", lambda c: {"dim": c.dim(c.a["dim"], c.rank(c.a["self"]) + 1)})
)


def _squeeze_attrs(c: Ctx) -> dict[str, Any]:
    x = c.a["self"]
    shp = c.shape(x)
    d = c.a.get("dim")
    dims = [i for i, s in enumerate(shp) if s == 1] if d is None else c.dims(d, len(shp))
    return {"dims": [i for i in dims if shp[i] == 1] if shp else []}


register_converter("aten.squeeze.default", "aten.squeeze.dim", "aten.squeeze.dims")(_view("squeeze", _squeeze_attrs))
register_converter("aten.permute.default")(
    _view("permute", lambda c: {"dims": [c.dim(d, c.rank(c.a["self"])) for d in c.a["dims"]]})
)
register_converter("aten.transpose.int")(
    _view(
        "transpose",
        lambda c: {"dim0": c.dim(c.a["dim0"], c.rank(c.a["self"])), "dim1": c.dim(c.a["dim1"], c.rank(c.a["self"]))},
    )
)
register_converter("aten.t.default")(_view("t"))


def _slice_attrs(c: Ctx) -> dict[str, Any]:
    shp = c.shape(c.a["self"])
    d = c.dim(c.a["dim"], len(shp))
    start, end, step = slice(c.a["start"], c.a["end"], c.a["step"]).indices(shp[d])
    return {"dim": d, "start": start, "end": max(end, start), "step": step}


register_converter("aten.slice.Tensor")(_view("slice", _slice_attrs))


def _select_attrs(c: Ctx) -> dict[str, Any]:
    shp = c.shape(c.a["self"])
    d = c.dim(c.a["dim"], len(shp))
    idx = int(c.a["index"])
    return {"dim": d, "index": idx % shp[d] if shp[d] else idx}


register_converter("aten.select.int")(_view("select", _select_attrs))


def _split_attrs(c: Ctx) -> dict[str, Any]:
    shp = c.shape(c.a["self"])
    d = c.dim(c.a["dim"], len(shp))
    if "split_sizes" in c.a:
        sizes = [int(s) for s in c.a["split_sizes"]]
    else:
        n = int(c.a["split_size"])
        sizes = [min(n, shp[d] - i) for i in range(0, shp[d], n)] if n > 0 else [shp[d]]
    return {"split_sizes": sizes, "dim": d}


register_converter("aten.split_with_sizes.default")(_view("split_with_sizes", _split_attrs))
register_converter("aten.split.Tensor")(_view("split", _split_attrs))
register_converter("aten.unbind.int")(_view("unbind", lambda c: {"dim": c.dim(c.a["dim"], c.rank(c.a["self"]))}))
for _k in ("clone", "alias", "detach", "lift_fresh_copy", "contiguous"):
    register_converter(f"aten.{_k}.default")(_view(_k))
@register_converter("aten.cat.default")
def _cat(c: Ctx) -> Emit:
    """``cat``; legacy empty 1-D operands (e.g. a lazily initialised KV cache, ``torch.tensor([])``)
    contribute nothing and are dropped, as torch.cat does."""
    parts = [t for t in c.a["tensors"] if not (_is_t(t) and c.shape(t) == [0])]
    if not parts:
        parts = list(c.a["tensors"][:1])
    if len(parts) == 1 and c.shape(parts[0]) == c.out_shape:
        return Emit("view", parts, {"op": "alias"})
    return Emit("view", parts, {"op": "cat", "dim": c.dim(c.a["dim"], c.rank(parts[0]))})
register_converter("aten.constant_pad_nd.default")(
    _view("constant_pad_nd", lambda c: {"pad": _scalar(c, list(c.a["pad"])), "value": _scalar(c, c.a["value"])})
)
register_converter("aten.repeat.default")(_view("repeat", lambda c: {"repeats": _scalar(c, list(c.a["repeats"]))}))
register_converter("aten.flip.default")(
    _view("flip", lambda c: {"dims": [c.dim(d, c.rank(c.a["self"])) for d in c.a["dims"]]})
)


# -- constants ----------------------------------------------------------------------------------


@register_converter("aten.arange.default", "aten.arange.start", "aten.arange.start_step")
def _arange(c: Ctx) -> Emit:
    start = c.a.get("start", 0)
    step = c.a.get("step", 1)
    attrs = {
        "op": "arange",
        "start": _scalar(c, start),
        "end": _scalar(c, c.a["end"]),
        "step": _scalar(c, step),
        "shape": c.out_shape,
        "dtype": c.out_dtype,
    }
    return Emit("const", [], attrs)


def _fill(value: Any | None) -> Converter:
    def conv(c: Ctx) -> Emit:
        v = value
        if v is None:
            v = c.a.get("fill_value", c.a.get("s", 0))
        return Emit(
            "const", [],
            {"op": c.target.split(".")[1], "shape": c.out_shape, "dtype": c.out_dtype, "value": _scalar(c, v)},
        )

    return conv


register_converter("aten.full.default", "aten.full_like.default", "aten.new_full.default")(_fill(None))
register_converter("aten.scalar_tensor.default")(_fill(None))
register_converter("aten.zeros.default", "aten.zeros_like.default", "aten.new_zeros.default")(_fill(0))
register_converter("aten.ones.default", "aten.ones_like.default", "aten.new_ones.default")(_fill(1))
# ``empty``: values are undefined; the IR (and replay) fills zeros.
register_converter("aten.empty.memory_format", "aten.empty_like.default", "aten.new_empty.default")(_fill(0))


@register_converter("aten.tril.default", "aten.triu.default")
def _tri(c: Ctx) -> Emit:
    return Emit("const", [c.a["self"]], {"op": c.target.split(".")[1], "diagonal": int(c.a["diagonal"])})


# -- convolution, normalisation, pooling, resampling (issue 10) ----------------------------------


def _nlist(c: Ctx, v: Any, n: int, what: str) -> Any:
    """An int or list attribute as a list of ``n`` ints (strings such as 'same' kept)."""
    if isinstance(v, str):
        return v
    v = _scalar(c, v)
    if isinstance(v, int):
        return [v] * n
    if isinstance(v, list) and len(v) == 1:
        return v * n
    if not isinstance(v, list) or len(v) != n:
        raise c.error(f"{what} {v!r} needs {n} values")
    return v


@register_converter(
    "aten.convolution.default", "aten.conv2d.default", "aten.conv2d.padding",
    "aten.conv1d.default", "aten.conv1d.padding",
)
def _conv(c: Ctx) -> Emit:
    if c.a.get("transposed"):
        raise c.error("transposed convolution is not supported")
    rank = c.rank(c.a["weight"])
    kind = {4: "conv2d", 3: "conv1d"}.get(rank)
    if kind is None:
        raise c.error(f"only 1-D and 2-D convolution are supported (weight rank {rank})")
    ins = [c.a["input"], c.a["weight"]]
    if c.a["bias"] is not None:
        ins.append(c.a["bias"])
    n = rank - 2
    attrs = {k: _nlist(c, c.a[k], n, k) for k in ("stride", "padding", "dilation")}
    attrs["groups"] = int(c.a["groups"])
    return Emit(kind, ins, attrs)


@register_converter(
    "aten.batch_norm.default", "aten._native_batch_norm_legit_no_training.default",
    "aten.native_batch_norm.default", "aten._native_batch_norm_legit.default",
)
def _batch_norm(c: Ctx) -> Emit:
    if c.a.get("training"):
        raise c.error("batch norm in training mode (batch statistics) is not supported; call model.eval()")
    mean, var = c.a.get("running_mean"), c.a.get("running_var")
    if not _is_t(mean) or not _is_t(var):
        raise c.error("batch norm without running statistics is not supported")
    ins = [c.a["input"], mean, var]
    attrs: dict[str, Any] = {"eps": float(c.a["eps"])}
    w, b = c.a.get("weight"), c.a.get("bias")
    attrs["has_weight"] = _is_t(w)
    attrs["has_bias"] = _is_t(b)
    ins += [t for t in (w, b) if _is_t(t)]
    return Emit("batch_norm", ins, attrs, n_outputs=1)


@register_converter("aten.native_group_norm.default", "aten.group_norm.default")
def _group_norm(c: Ctx) -> Emit:
    ins = [c.a["input"]]
    w, b = c.a.get("weight"), c.a.get("bias")
    ins += [t for t in (w, b) if _is_t(t)]
    groups = c.a["group"] if "group" in c.a else c.a["num_groups"]  # native_group_norm / group_norm
    attrs = {"groups": int(groups), "eps": float(c.a["eps"]), "has_weight": _is_t(w), "has_bias": _is_t(b)}
    return Emit("group_norm", ins, attrs, n_outputs=1)


@register_converter("aten.rms_norm.default")
def _rms_norm(c: Ctx) -> Emit:
    ins = [c.a["input"]]
    if c.a.get("weight") is not None:
        ins.append(c.a["weight"])
    eps = c.a.get("eps")
    return Emit("rms_norm", ins, {"normalized_shape": _scalar(c, list(c.a["normalized_shape"])),
                                  "eps": None if eps is None else float(eps)})


def _pool(op: str, spatial: int) -> Converter:
    def conv(c: Ctx) -> Emit:
        x = c.a["self"]
        attrs: dict[str, Any] = {"op": op, "spatial": spatial}
        if op.startswith("adaptive"):
            attrs["output_size"] = _nlist(c, list(c.a["output_size"]), spatial, "output_size")
        else:
            k = _nlist(c, c.a["kernel_size"], spatial, "kernel_size")
            st = c.a.get("stride")
            attrs["kernel_size"] = k
            attrs["stride"] = k if st is None or (isinstance(st, (list, tuple)) and len(st) == 0) else _nlist(
                c, st, spatial, "stride")
            attrs["padding"] = _nlist(c, c.a.get("padding", 0), spatial, "padding")
            if op == "max":
                attrs["dilation"] = _nlist(c, c.a.get("dilation", 1), spatial, "dilation")
            attrs["ceil_mode"] = bool(c.a.get("ceil_mode", False))
            if op == "avg":
                attrs["count_include_pad"] = bool(c.a.get("count_include_pad", True))
                if c.a.get("divisor_override") is not None:
                    attrs["divisor_override"] = int(c.a["divisor_override"])
        return Emit("pool", [x], attrs, n_outputs=1)

    return conv


for _s in (1, 2):
    register_converter(f"aten.max_pool{_s}d.default", f"aten.max_pool{_s}d_with_indices.default")(_pool("max", _s))
    register_converter(f"aten.avg_pool{_s}d.default")(_pool("avg", _s))
    register_converter(f"aten.adaptive_avg_pool{_s}d.default", f"aten._adaptive_avg_pool{_s}d.default")(
        _pool("adaptive_avg", _s))
    register_converter(f"aten.adaptive_max_pool{_s}d.default")(_pool("adaptive_max", _s))


def _resample(mode: str, spatial: int) -> Converter:
    def conv(c: Ctx) -> Emit:
        x = c.a.get("input", c.a.get("self"))
        out = c.out_shape
        attrs: dict[str, Any] = {"mode": mode, "output_size": out[len(out) - spatial:]}
        if "align_corners" in c.a:
            attrs["align_corners"] = bool(c.a["align_corners"])
        if c.target.endswith(".vec"):
            sf = c.a.get("scale_factors")
            attrs["scale_factors"] = None if sf is None else [float(s) for s in sf]
            if c.a.get("output_size") is not None:
                attrs["scale_factors"] = None
        else:
            keys = ["scales"] if spatial == 1 else ["scales_h", "scales_w"]
            attrs["scales"] = [None if c.a.get(k) is None else float(c.a[k]) for k in keys]
        return Emit("upsample_nearest" if mode == "nearest" else "interpolate", [x], attrs)

    return conv


register_converter("aten.upsample_nearest2d.vec", "aten.upsample_nearest2d.default")(_resample("nearest", 2))
register_converter("aten.upsample_nearest1d.vec", "aten.upsample_nearest1d.default")(_resample("nearest", 1))
register_converter("aten.upsample_bilinear2d.vec", "aten.upsample_bilinear2d.default")(_resample("bilinear", 2))
register_converter("aten.upsample_linear1d.vec", "aten.upsample_linear1d.default")(_resample("linear", 1))


# -- more element-wise --------------------------------------------------------------------------

for _k in ("abs", "sign", "sin", "cos", "log", "log1p", "erf", "expm1", "silu", "hardswish", "hardsigmoid"):
    register_converter(f"aten.{_k}.default")(_unary(_k))


@register_converter("aten.hardtanh.default")
def _hardtanh(c: Ctx) -> Emit:
    return Emit("clamp", [c.a["self"]], {"min": _scalar(c, c.a["min_val"]), "max": _scalar(c, c.a["max_val"])})


@register_converter("aten.relu6.default")
def _relu6(c: Ctx) -> Emit:
    return Emit("clamp", [c.a["self"]], {"min": 0, "max": 6})


@register_converter("aten.softplus.default")
def _softplus(c: Ctx) -> Emit:
    return Emit("softplus", [c.a["self"]], {"beta": _scalar(c, c.a["beta"]), "threshold": _scalar(c, c.a["threshold"])})


@register_converter("aten.leaky_relu.default")
def _leaky(c: Ctx) -> Emit:
    return Emit("leaky_relu", [c.a["self"]], {"negative_slope": _scalar(c, c.a["negative_slope"])})


@register_converter("aten.elu.default")
def _elu(c: Ctx) -> Emit:
    return Emit("elu", [c.a["self"]], {k: _scalar(c, c.a[k]) for k in ("alpha", "scale", "input_scale")})


def _round(op: str) -> Converter:
    def conv(c: Ctx) -> Emit:
        return Emit("round", [c.a["self"]], {"op": op})

    return conv


for _k in ("floor", "ceil", "round", "trunc"):
    register_converter(f"aten.{_k}.default")(_round(_k))

register_converter("aten.maximum.default", "aten.max.other")(_binary("maximum"))
register_converter("aten.minimum.default", "aten.min.other")(_binary("minimum"))


def _remainder(op: str) -> Converter:
    inner = _binary("remainder")

    def conv(c: Ctx) -> Emit:
        e = inner(c)
        e.attrs = {"op": op, **e.attrs}
        return e

    return conv


register_converter("aten.remainder.Tensor", "aten.remainder.Scalar")(_remainder("remainder"))
register_converter("aten.fmod.Tensor", "aten.fmod.Scalar")(_remainder("fmod"))


@register_converter("aten.where.ScalarOther", "aten.where.ScalarSelf", "aten.where.Scalar")
def _where_scalar(c: Ctx) -> Emit:
    x, y = c.a["self"], c.a["other"]
    ins = [c.a["condition"]]
    attrs: dict[str, Any] = {}
    if _is_t(x):
        ins.append(x)
    else:
        attrs["self_value"] = _scalar(c, x)
    if _is_t(y):
        ins.append(y)
    else:
        attrs["other"] = _scalar(c, y)
    return Emit("where", ins, attrs)


for _k, _op in (("__and__", "bitwise_and"), ("__or__", "bitwise_or"), ("__xor__", "bitwise_xor")):
    register_converter(f"aten.{_k}.Tensor", f"aten.{_k}.Scalar")(_logical(_op))


@register_converter("aten.log_softmax.int", "aten._log_softmax.default")
def _log_softmax(c: Ctx) -> Emit:
    x = c.a["self"]
    attrs: dict[str, Any] = {"dim": c.dim(c.a["dim"], c.rank(x))}
    if c.out_dtype != c.dtype(x):
        attrs["dtype"] = c.out_dtype
    return Emit("log_softmax", [x], attrs)


@register_converter("aten.cumsum.default")
def _cumsum(c: Ctx) -> Emit:
    x = c.a["self"]
    attrs: dict[str, Any] = {"dim": c.dim(c.a["dim"], c.rank(x))}
    if c.a.get("dtype") is not None:
        attrs["dtype"] = _scalar(c, c.a["dtype"])
    return Emit("cumsum", [x], attrs)


def _reduce_corr(op: str) -> Converter:
    inner = _reduce(op)

    def conv(c: Ctx) -> Emit:
        e = inner(c)
        corr = c.a.get("correction")
        if c.a.get("unbiased") is not None:
            corr = 1 if c.a["unbiased"] else 0
        e.attrs["correction"] = 1 if corr is None else _scalar(c, corr)
        return e

    return conv


register_converter("aten.var.correction", "aten.var.dim", "aten.var.default")(_reduce_corr("var"))
register_converter("aten.std.correction", "aten.std.dim", "aten.std.default")(_reduce_corr("std"))
register_converter("aten.prod.dim_int", "aten.prod.default")(_reduce("prod"))
register_converter("aten.all.default", "aten.all.dim", "aten.all.dims")(_reduce("all"))
register_converter("aten.argmax.default")(_reduce("argmax"))
register_converter("aten.argmin.default")(_reduce("argmin"))


@register_converter("aten.linalg_vector_norm.default")
def _vector_norm(c: Ctx) -> Emit:
    """``torch.linalg.vector_norm`` (weight normalisation's ``||v||``, ``F.normalize``): a reduce
    with ``op="norm"`` and the order ``ord`` (2 unless given; inf / -inf / 0 allowed)."""
    e = _reduce("norm")(c)
    o = c.a.get("ord", 2)
    e.attrs["ord"] = float(o) if not isinstance(o, bool) and isinstance(o, (int, float)) else 2.0
    return e


# -- more indexing ------------------------------------------------------------------------------


@register_converter("aten.index_select.default")
def _index_select(c: Ctx) -> Emit:
    x = c.a["self"]
    return Emit("index_select", [x, c.a["index"]], {"dim": c.dim(c.a["dim"], c.rank(x))})


@register_converter("aten.index.Tensor")
def _index(c: Ctx) -> Emit:
    x = c.a["self"]
    idx = list(c.a["indices"])
    dims = [i for i, t in enumerate(idx) if t is not None]
    for i in dims:
        if c.dtype(idx[i]) == "bool":
            raise c.error("indexing with a bool mask has a data-dependent shape")
    return Emit("index", [x, *[idx[i] for i in dims]], {"dims": dims})


@register_converter(
    "aten.embedding_bag.padding_idx", "aten.embedding_bag.default", "aten._embedding_bag.default",
    "aten._embedding_bag_forward_only.default",
)
def _embedding_bag(c: Ctx) -> Emit:
    ins = [c.a["weight"], c.a["indices"], c.a["offsets"]]
    if c.a.get("per_sample_weights") is not None:
        ins.append(c.a["per_sample_weights"])
    mode = c.a.get("mode", 0)
    mode = {0: "sum", 1: "mean", 2: "max"}.get(int(mode), str(mode))
    attrs: dict[str, Any] = {"mode": mode, "include_last_offset": bool(c.a.get("include_last_offset", False))}
    pidx = c.a.get("padding_idx")
    if pidx is not None and int(pidx) >= 0:
        attrs["padding_idx"] = int(pidx)
    return Emit("embedding_bag", ins, attrs, n_outputs=1)


# -- more layout ops ------------------------------------------------------------------------------


@register_converter("aten.dropout.default", "aten.feature_dropout.default", "aten.alpha_dropout.default")
def _dropout(c: Ctx) -> Emit:
    if c.a.get("train"):
        raise c.error("dropout in training mode is not supported; call model.eval()")
    return Emit("view", [c.a["input"]], {"op": "alias"})


@register_converter("aten.to.device", "aten.type_as.default")
def _to_device(c: Ctx) -> Emit:
    x = c.a["self"]
    if c.out_dtype != c.dtype(x):
        return Emit("cast", [x], {"dtype": c.out_dtype})
    return Emit("view", [x], {"op": "alias"})


register_converter("aten.flatten.using_ints")(_view("flatten", lambda c: {"shape": c.out_shape}))
register_converter("aten.unflatten.int")(_view("unflatten", lambda c: {"shape": c.out_shape}))


@register_converter("aten.chunk.default")
def _chunk(c: Ctx) -> Emit:
    x = c.a["self"]
    d = c.dim(c.a["dim"], c.rank(x))
    sizes = [int(_shape(v, c.node)[d]) for v in c.val]
    return Emit("view", [x], {"op": "split", "split_sizes": sizes, "dim": d})


register_converter("aten.stack.default")(
    _view("stack", lambda c: {"dim": c.dim(c.a["dim"], c.rank(c.a["tensors"][0]) + 1)}, many="tensors")
)


@register_converter("aten.narrow.default")
def _narrow(c: Ctx) -> Emit:
    x = c.a["self"]
    d = c.dim(c.a["dim"], c.rank(x))
    start = int(c.a["start"]) % max(c.shape(x)[d], 1) if int(c.a["start"]) < 0 else int(c.a["start"])
    return Emit("view", [x], {"op": "slice", "dim": d, "start": start, "end": start + int(c.a["length"]), "step": 1})


@register_converter("aten.pad.default")
def _pad(c: Ctx) -> Emit:
    mode = c.a.get("mode") or "constant"
    attrs: dict[str, Any] = {"op": "pad", "pad": _scalar(c, list(c.a["pad"])), "mode": mode}
    if mode == "constant":
        attrs["value"] = _scalar(c, c.a.get("value") or 0)
    return Emit("view", [c.a["self"]], attrs)


def _pad_mode(mode: str) -> Converter:
    def conv(c: Ctx) -> Emit:
        return Emit("view", [c.a["self"]], {"op": "pad", "pad": _scalar(c, list(c.a["padding"])), "mode": mode})

    return conv


for _s in (1, 2, 3):
    register_converter(f"aten.reflection_pad{_s}d.default")(_pad_mode("reflect"))
    register_converter(f"aten.replication_pad{_s}d.default")(_pad_mode("replicate"))


@register_converter("aten.roll.default")
def _roll(c: Ctx) -> Emit:
    x = c.a["self"]
    dims = [c.dim(int(d), c.rank(x)) for d in (c.a.get("dims") or [])]
    return Emit("view", [x], {"op": "roll", "shifts": _scalar(c, list(c.a["shifts"])), "dims": dims})


# ---------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------

#: Ops the IR keeps whole although the core-ATen table would decompose them.
_KEEP_WHOLE = (
    "linear", "scaled_dot_product_attention", "layer_norm", "rms_norm", "silu", "hardswish", "hardsigmoid",
    "softplus", "adaptive_avg_pool2d", "adaptive_avg_pool1d", "max_pool2d", "max_pool1d", "avg_pool1d", "pad",
    "roll", "reflection_pad1d", "reflection_pad2d", "replication_pad1d", "replication_pad2d",
    "upsample_nearest2d", "upsample_nearest1d", "log_softmax", "relu6", "embedding_bag",
)  # fmt: skip


def decomposition_table() -> dict[Any, Callable[..., Any]]:
    """Core-ATen decompositions minus those ops the IR keeps whole (linear, SDPA, layer_norm,
    rms_norm, the named activations, pooling, padding, ...: :data:`_KEEP_WHOLE`)."""
    table = torch.export.default_decompositions()
    for name in _KEEP_WHOLE:
        packet = getattr(aten, name, None)
        if packet is None:
            continue
        for ov in packet.overloads():
            table.pop(getattr(packet, ov), None)
    return table


def needs_decomposition(ep: torch.export.ExportedProgram) -> bool:
    """Whether ``ep`` (export's training IR) must be run through :func:`decomposition_table`.

    It need not when every node is an ATen overload with a converter (the IR keeps ``linear``,
    SDPA and ``layer_norm`` whole either way), there are no ``get_attr`` nodes (higher-order ops,
    lifted submodules) and the program mutates no state. Converters are keyed by exact overload,
    and in-place / ``out=`` overloads have none, so a mutating graph always decomposes (that is
    where functionalisation happens). Skipping the retrace saves ~1.3 s on gpt2-small; the
    result is the same IR up to layout-op spelling (``transpose`` vs ``permute``,
    ``split.Tensor`` vs ``split_with_sizes``), which tests check op by op."""
    from torch.export.graph_signature import InputKind, OutputKind

    from accelsim.workload.fold import static_set

    if any(s.kind != OutputKind.USER_OUTPUT for s in ep.graph_signature.output_specs):
        return True
    names = {s.arg.name for s in ep.graph_signature.input_specs  # type: ignore[union-attr]
             if s.kind in (InputKind.BUFFER, InputKind.CONSTANT_TENSOR)}
    nodes = list(ep.graph.nodes)
    static = static_set(nodes, {n for n in nodes if n.op == "placeholder" and n.name in names})
    # ops in static subgraphs are evaluated by folding: they need no converter
    return any(n.op == "get_attr" or (_unconvertible(n) and n not in static) for n in nodes)


def _unconvertible(n: Node) -> bool:
    """An op node that no converter handles (and that is not a skipped runtime assertion)."""
    if n.op != "call_function" or n.target is operator.getitem:
        return False
    t = str(n.target)
    return t not in _CONVERTERS and t not in _SKIP


_TORCH_DIR = str(Path(torch.__file__).resolve().parent)
_ACCELSIM_DIR = str(Path(__file__).resolve().parents[1])
_FIX_WORDS = re.compile(r"\b(consider|suggest\w*|fix\w*|insert|torch\._check|try|use)\b", re.I)


def _user_frames(tb: Any) -> list[traceback.FrameSummary]:
    """Traceback frames in the model's code (not torch, not accelsim, not the stdlib)."""
    out = []
    for fr in traceback.extract_tb(tb):
        f = str(Path(fr.filename).resolve()) if not fr.filename.startswith("<") else fr.filename
        if f.startswith("<") or f.startswith(_TORCH_DIR) or f.startswith(_ACCELSIM_DIR):
            continue
        if "/lib/python3" in f and "site-packages" not in f:
            continue
        out.append(fr)
    return out


def _export_error(e: BaseException, label: str) -> WorkloadError:
    """A :class:`WorkloadError` for a torch.export failure: its first lines, the model's source
    line that triggered it (file:line), and torch's suggested fix."""
    lines = [ln.rstrip() for ln in str(e).strip().splitlines()]
    head: list[str] = []
    for ln in lines:
        if not ln.strip() and head:
            break
        head.append(ln)
    head = head[:8]
    fixes = [ln.strip() for ln in lines[len(head):] if _FIX_WORDS.search(ln) and "draft_export" not in ln
             and "TORCH_LOGS" not in ln and "DEBUG" not in ln and not ln.strip().startswith("For ")]
    fixes = list(dict.fromkeys(fixes))[:4]
    frames = _user_frames(e.__traceback__)
    where = ""
    if frames:
        fr = frames[-1]
        where = f"\n  at {fr.filename}:{fr.lineno} in {fr.name}: {(fr.line or '').strip()}"
    else:  # torch puts the model's line into the message ("The following call raised this error")
        m = re.search(r'File "([^"]+)", line (\d+), in (\S+)\n\s*(.*)', str(e))
        if m:
            where = f"\n  at {m.group(1)}:{m.group(2)} in {m.group(3)}: {m.group(4).strip()}"
    msg = "\n    ".join(head)
    fix = ("\n  torch suggests: " + "\n    ".join(fixes)) if fixes else ""
    hint = ""
    if "data-dependent" in str(e) or "DataDependent" in type(e).__name__:
        hint = "\n  (data-dependent Python control flow and .item() calls cannot be traced)"
    return WorkloadError(
        f"cannot capture workload{label} with torch.export: {type(e).__name__}: {msg}{where}{fix}{hint}")


def export_program(
    module: nn.Module, example_inputs: tuple, name: str = "", decompose: bool | None = None,
    example_kwargs: dict[str, Any] | None = None,
) -> torch.export.ExportedProgram:
    """``torch.export`` (non-strict) in eval mode without grad, then the decompositions of
    :func:`decomposition_table` when the training IR needs them (``decompose=None``: see
    :func:`needs_decomposition`; ``True`` / ``False`` force either way)."""
    module.eval()
    label = f" '{name}'" if name else ""
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # torch-internal deprecation noise emitted by export itself
            warnings.filterwarnings("ignore", message=r".*LeafSpec.*", category=FutureWarning)
            warnings.filterwarnings("ignore", category=UserWarning)
            ep = torch.export.export(module, tuple(example_inputs), dict(example_kwargs or {}), strict=False)
            if decompose is None:
                decompose = needs_decomposition(ep)
            return ep.run_decompositions(decomposition_table()) if decompose else ep
    except WorkloadError:
        raise
    except Exception as e:  # noqa: BLE001 -- torch raises many types; report them uniformly
        raise _export_error(e, label) from e


# ---------------------------------------------------------------------------------------------
# trace()
# ---------------------------------------------------------------------------------------------

_PREFIX: list[str] = []  # module-path prefix to strip (the output-flattening wrapper's child)


def _module_path(node: Node) -> str:
    stack = node.meta.get("nn_module_stack")
    if not stack:
        return ""
    path = list(stack.values())[-1][0]
    path = str(path)
    if path.startswith("L['self']"):  # strict-mode spelling, just in case
        path = path.removeprefix("L['self']").replace("['", ".").replace("']", "").replace("[", ".").replace("]", "")
    path = path.lstrip(".")
    for p in _PREFIX:
        if path == p.rstrip("."):
            return ""
        path = path.removeprefix(p)
    return path


def _source_line(node: Node) -> str:
    """``file:line: code`` of the innermost model frame that created ``node`` ('' if unknown)."""
    st = node.meta.get("stack_trace") or ""
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)\n\s*(.*)', st)
    for f, line, _fn, code in reversed(frames):
        rf = str(Path(f).resolve()) if not f.startswith("<") else f
        if rf.startswith(_TORCH_DIR) or rf.startswith(_ACCELSIM_DIR) or rf.startswith("<"):
            continue
        return f"{f}:{line}: {code.strip()}"
    return ""


def _storage_key(t: torch.Tensor) -> tuple[Any, ...]:
    if t.numel() == 0 or t.device.type == "meta":
        return ("id", id(t))
    return (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()), t.dtype)


def _named_state(module: nn.Module) -> list[tuple[str, torch.Tensor]]:
    out: list[tuple[str, torch.Tensor]] = list(module.named_parameters(remove_duplicate=False))
    out += list(module.named_buffers(remove_duplicate=False))
    return out


def _is_meta(module: nn.Module, args: Any) -> bool:
    leaves = [t for t in torch.utils._pytree.tree_leaves(args) if isinstance(t, torch.Tensor)]
    leaves += [t for _, t in _named_state(module)][:1]
    return any(t.device.type == "meta" for t in leaves)


def trace(
    module: nn.Module,
    example_inputs: tuple,
    name: str,
    meta: dict | None = None,
    decompose: bool | None = None,
    example_kwargs: dict[str, Any] | None = None,
    eager: bool = True,
    fold: bool = True,
) -> Traced:
    """Trace ``module(*example_inputs, **example_kwargs)`` into a :class:`Traced` (IR graph +
    values). ``decompose`` as in :func:`export_program`.

    Hugging Face models (and any module whose output holds cache or ``ModelOutput`` objects) are
    wrapped so their outputs flatten to tensors (``graph.meta["output_labels"]`` names them).
    With ``fold`` (default), subgraphs that depend only on constants, buffers and static shapes
    are computed now and become const tensors, and batch norms after convolutions are folded
    into them (both listed in ``graph.meta["folded"]``). With ``eager`` (default) the module
    also runs once eagerly and its outputs are kept in :attr:`Traced.eager_outputs` (skipped on
    the meta device).

    Raises :class:`WorkloadError` if capture fails or any op has no canonical IR form (naming
    each such op, its module, its source line, and the supported ops).
    """
    from accelsim.workload.hf import PREFIX, FlatOutputs, needs_flattening

    if not isinstance(example_inputs, tuple):
        example_inputs = (example_inputs,)
    kwargs = dict(example_kwargs or {})
    target: nn.Module = module
    wrapped = needs_flattening(module)
    if wrapped:
        target = FlatOutputs(module)
    try:
        ep = export_program(target, example_inputs, name, decompose, kwargs)
    except WorkloadError as e:
        if wrapped or "not a known type" not in str(e):
            raise
        target, wrapped = FlatOutputs(module), True
        ep = export_program(target, example_inputs, name, decompose, kwargs)
    _PREFIX[:] = [PREFIX + "."] if wrapped else []
    try:
        graph, params, inputs, out_pos = _convert(ep, module, (example_inputs, kwargs), name, dict(meta or {}), fold)
    finally:
        _PREFIX[:] = []
    if wrapped:
        labels = list(getattr(target, "labels", []))
        target.release()  # type: ignore[operator]
        if labels and len(out_pos) == len(graph.outputs):
            graph = Graph(graph.name, graph.tensors, graph.ops, graph.inputs, graph.outputs,
                          {**graph.meta, "output_labels": [labels[i] if i < len(labels) else "" for i in out_pos]})
    eager_out = None
    if eager and not _is_meta(module, (example_inputs, kwargs)):
        with torch.no_grad():
            res = target(*example_inputs, **kwargs)
        if wrapped:
            target.release()  # type: ignore[operator]
        flat = list(res) if wrapped else torch.utils._pytree.tree_leaves(res)
        if all(i < len(flat) and isinstance(flat[i], torch.Tensor) for i in out_pos):
            eager_out = {o: flat[i].detach() for o, i in zip(graph.outputs, out_pos)}
    return Traced(graph=graph, params=params, inputs=inputs, eager_outputs=eager_out)


def _convert(
    ep: torch.export.ExportedProgram, module: nn.Module, example: tuple[tuple, dict[str, Any]], name: str,
    meta: dict[str, Any], fold: bool = True,
) -> tuple[Graph, dict[str, torch.Tensor], dict[str, torch.Tensor], list[int]]:
    from torch.export.graph_signature import InputKind, OutputKind

    from accelsim.workload.fold import fold_batch_norm, fold_static

    sig = ep.graph_signature
    fx_nodes = list(ep.graph.nodes)
    fx_names = {n.name for n in fx_nodes}

    for spec in sig.output_specs:
        if spec.kind not in (OutputKind.USER_OUTPUT, OutputKind.TOKEN):
            raise WorkloadError(
                f"workload '{name}': the forward pass mutates state ({spec.kind.name} -> {spec.target}); "
                "only pure inference graphs are supported"
            )

    def strip(fqn: str) -> str:
        for p in _PREFIX:
            fqn = fqn.removeprefix(p)
        return fqn

    # -- canonical names for parameters / buffers (tied weights deduped by storage) ---------
    state = _named_state(module)
    canon_by_key: dict[tuple[Any, ...], str] = {}
    value_by_fqn: dict[str, torch.Tensor] = {}
    tied: dict[str, str] = {}
    for fqn, t in state:
        key = _storage_key(t)
        value_by_fqn[fqn] = t
        first = canon_by_key.setdefault(key, fqn)
        if first != fqn:
            tied[fqn] = first

    placeholders = {n.name: n for n in fx_nodes if n.op == "placeholder"}
    # values of buffers and constants: the inputs of static (foldable) subgraphs
    state_values: dict[Node, tuple[str, str, torch.Tensor]] = {}  # node -> (kind, fqn, value)
    for spec in sig.input_specs:
        pname = getattr(spec.arg, "name", None)
        node = placeholders.get(pname) if pname else None
        if node is None:
            continue
        if spec.kind in (InputKind.PARAMETER, InputKind.BUFFER):
            fqn = strip(str(spec.target))
            val = value_by_fqn.get(fqn)
            if val is None:
                val = ep.state_dict.get(str(spec.target), ep.constants.get(str(spec.target)))
            if val is None:
                raise WorkloadError(f"workload '{name}': no value for parameter '{fqn}'")
            state_values[node] = ("param" if spec.kind == InputKind.PARAMETER else "buffer", fqn, val)
        elif spec.kind == InputKind.CONSTANT_TENSOR:
            state_values[node] = ("const", str(spec.target), ep.constants[str(spec.target)])

    folding = fold_static(
        fx_nodes,
        {n: v for n, (k, _, v) in state_values.items() if k != "param"} if fold else {},
        _module_path,
        _CONVERTERS,
    ) if fold else None
    static = folding.static if folding else set()
    skip = {n for n in static if n not in (folding.generators if folding else set())}

    # -- unsupported ops: report all at once ---------------------------------------------
    bad = []
    for n in fx_nodes:
        if n in skip or not _unconvertible(n):
            continue
        src = _source_line(n)
        bad.append(f"{n.target} (node '{n.name}') in module '{_module_path(n) or '<top>'}'"
                   + (f" at {src}" if src else ""))
    if bad:
        uniq = list(dict.fromkeys(bad))
        raise WorkloadError(
            f"workload '{name}' uses {len(uniq)} unsupported op(s):\n  "
            + "\n  ".join(uniq)
            + "\nsupported ops: "
            + ", ".join(sorted({t.rsplit(".", 1)[0] for t in supported_ops()}))
        )

    tensors: dict[str, TensorInfo] = {}
    params: dict[str, torch.Tensor] = {}
    inputs: dict[str, torch.Tensor] = {}
    alias: dict[Any, str] = {}  # placeholder / getitem node -> IR tensor name
    graph_inputs: list[str] = []
    used_names = set(fx_names)

    def info(n: Node, ir_name: str, kind: TensorKind, source: str = "") -> TensorInfo:
        v = n.meta.get("val")
        shape = tuple(_shape(v, n))
        assert isinstance(v, torch.Tensor)  # _shape raised a WorkloadError otherwise
        return TensorInfo(ir_name, shape, dtype_name(v.dtype), kind, source)

    leaves = [x for x in torch.utils._pytree.tree_leaves(example)]
    user_specs = [s for s in sig.input_specs if s.kind == InputKind.USER_INPUT]
    example_by_name: dict[str, Any] = {}
    if len(leaves) == len(user_specs):
        example_by_name = {s.arg.name: v for s, v in zip(user_specs, leaves)}  # type: ignore[union-attr]

    deferred_weights: list[tuple[Node, str, TensorKind, str, torch.Tensor]] = []
    for spec in sig.input_specs:
        pname = getattr(spec.arg, "name", None)
        node = placeholders.get(pname) if pname else None
        if node is None:
            continue
        if spec.kind == InputKind.USER_INPUT:
            v = node.meta.get("val")
            if not isinstance(v, torch.Tensor):
                continue  # specialised non-tensor input
            alias[node] = node.name
            tensors[node.name] = info(node, node.name, "input", node.name)
            graph_inputs.append(node.name)
            ex = example_by_name.get(node.name)
            if isinstance(ex, torch.Tensor):
                inputs[node.name] = ex
        elif spec.kind in (InputKind.PARAMETER, InputKind.BUFFER):
            _, fqn, val = state_values[node]
            canon = canon_by_key.get(_storage_key(val), fqn)
            deferred_weights.append((node, canon, "weight", canon, val))
        elif spec.kind == InputKind.CONSTANT_TENSOR:
            _, _, val = state_values[node]
            deferred_weights.append((node, node.name, "const", str(spec.target), val))
        elif spec.kind == InputKind.TOKEN:
            continue
        else:
            raise WorkloadError(f"workload '{name}': unsupported graph input {spec.kind.name} '{spec.target}'")

    # weights / consts that some converted op actually reads, in placeholder order
    for node, ir_name, kind, source, val in deferred_weights:
        if not any(u not in skip for u in node.users):
            continue
        if ir_name in used_names and ir_name not in tensors:
            # an FQN colliding with an FX node name: keep names unique
            ir_name = ir_name + "_w"
        alias[node] = ir_name
        if ir_name in tensors:
            continue
        used_names.add(ir_name)
        tensors[ir_name] = info(node, ir_name, kind, source)
        params[ir_name] = val.detach()

    # folded static values: const tensors named after their node
    folded_meta: list[dict[str, Any]] = []
    causal_masks: dict[str, str] = {}
    if folding:
        for n, (val, rec) in folding.folded.items():
            ir_name = f"{n.name}_folded"
            while ir_name in used_names:
                ir_name += "_"
            used_names.add(ir_name)
            alias[n] = ir_name
            v = n.meta.get("val")
            shape = tuple(_shape(v, n)) if isinstance(v, torch.Tensor) else tuple(val.shape)
            tensors[ir_name] = TensorInfo(ir_name, shape, dtype_name(val.dtype), "const", f"folded:{n.name}")
            params[ir_name] = val
            folded_meta.append({"tensor": ir_name, **rec})
            if rec.get("causal") and tuple(val.shape) == shape:  # the lowering maps its SDPA as is_causal
                causal_masks[ir_name] = str(rec["causal"])

    # -- ops -----------------------------------------------------------------------------------
    ops: list[Op] = []

    def ref(x: Any, ctx: Ctx) -> str:
        if isinstance(x, str):
            return x
        if not isinstance(x, Node):
            raise ctx.error(f"operand {x!r} is not a tensor")
        if x not in alias:
            raise ctx.error(f"operand '{x.name}' has no IR tensor (produced by an op without a tensor result)")
        return alias[x]

    for n in fx_nodes:
        if n.op != "call_function" or n in skip:
            continue
        if n.target is operator.getitem:
            src = n.args[0]
            key = (src, n.args[1])
            if key in alias:
                alias[n] = alias[key]
            continue  # getitem outputs were named when the producer was converted
        target = str(n.target)
        if target in _SKIP:
            continue
        ctx = Ctx(n)
        emit = _CONVERTERS[target](ctx)
        if emit is None:
            continue
        result = n.meta.get("val")
        if isinstance(result, (list, tuple)):
            # multi-output op: name outputs after their getitem users
            names: dict[int, str] = {}
            for u in n.users:
                if u.target is operator.getitem:
                    names.setdefault(int(u.args[1]), u.name)  # type: ignore[arg-type]
            outs: list[str] = []
            keep = emit.n_outputs
            if emit.kind == "reduce":  # max.dim / min.dim: values only
                keep = 1
            if keep is not None:
                for u in n.users:
                    if u.target is operator.getitem and int(u.args[1]) >= keep and u.users:  # type: ignore[arg-type]
                        raise ctx.error(f"only the first {keep} result(s) are supported; result "
                                        f"{u.args[1]} is used (e.g. pooling indices)")
                result = result[:keep]
            for i, v in enumerate(result):
                oname = names.get(i, f"{n.name}.{i}")
                tensors[oname] = TensorInfo(oname, tuple(_shape(v, n)), dtype_name(v.dtype), "activation")
                outs.append(oname)
                alias[(n, i)] = oname
            for u in n.users:
                if u.target is operator.getitem and (n, int(u.args[1])) in alias:  # type: ignore[arg-type]
                    alias[u] = alias[(n, int(u.args[1]))]  # type: ignore[arg-type]
        else:
            if not isinstance(result, torch.Tensor):
                raise ctx.error(f"op result is not a tensor ({type(result).__name__})")
            tensors[n.name] = info(n, n.name, "activation")
            outs = [n.name]
            alias[n] = n.name
        attrs = emit.attrs
        try:
            json.dumps(attrs, allow_nan=True)
        except (TypeError, ValueError) as e:
            raise ctx.error(f"attrs are not JSON-able: {e}") from None
        ops.append(
            Op(
                name=n.name,
                kind=emit.kind,
                inputs=tuple(ref(x, ctx) for x in emit.inputs),
                outputs=tuple(outs),
                attrs=attrs,
                module=_module_path(n),
                target=target,
            )
        )

    # -- outputs -----------------------------------------------------------------------------
    out_node = next(n for n in fx_nodes if n.op == "output")
    flat_out = list(torch.utils._pytree.tree_leaves(out_node.args[0]))
    user_out_specs = [s for s in sig.output_specs if s.kind == OutputKind.USER_OUTPUT]
    user_out_names = {getattr(s.arg, "name", None) for s in user_out_specs}
    out_names: list[str] = []
    out_pos: list[int] = []
    for i, x in enumerate(flat_out):
        if isinstance(x, Node) and x.name in user_out_names:
            if x not in alias:
                raise WorkloadError(f"workload '{name}': output '{x.name}' has no IR tensor")
            out_names.append(alias[x])
            out_pos.append(i)
    if not out_names:
        raise WorkloadError(f"workload '{name}': the model returns no tensor")

    if fold:
        ops, bn_meta = fold_batch_norm(ops, tensors, params, set(out_names))
        folded_meta += bn_meta
    if tied:
        meta = {**meta, "tied_weights": {strip(k): strip(v) for k, v in tied.items()}}
    if folded_meta:
        meta = {**meta, "folded": folded_meta}
    if causal_masks:
        meta = {**meta, "causal_masks": causal_masks}
    try:
        json.dumps(meta)
    except (TypeError, ValueError) as e:
        raise WorkloadError(f"workload '{name}': meta is not JSON-able: {e}") from None

    # order: inputs, weights/consts (by first use), activations (program order)
    ordered: dict[str, TensorInfo] = {}
    for k in graph_inputs:
        ordered[k] = tensors[k]
    for op in ops:
        for k in op.inputs:
            if k not in ordered and tensors[k].kind != "activation":
                ordered[k] = tensors[k]
    for k in out_names:
        if k not in ordered and tensors[k].kind != "activation":
            ordered[k] = tensors[k]
    produced = {o for op in ops for o in op.outputs}
    for op in ops:
        for k in op.outputs:
            ordered.setdefault(k, tensors[k])
    params = {k: v for k, v in params.items() if k in ordered}
    del produced
    if "folded" in meta:  # folded values nothing reads any more (e.g. empty lazy caches) are gone
        kept = [f for f in meta["folded"] if f.get("kind") != "static" or f.get("tensor") in ordered]
        meta = {**meta, "folded": kept} if kept else {k: v for k, v in meta.items() if k != "folded"}
    if "causal_masks" in meta:
        cm = {k: v for k, v in meta["causal_masks"].items() if k in ordered}
        meta = {**meta, "causal_masks": cm} if cm else {k: v for k, v in meta.items() if k != "causal_masks"}

    graph = Graph(name, ordered, tuple(ops), tuple(graph_inputs), tuple(out_names), meta)
    graph.verify()
    return graph, params, inputs, out_pos


class _CallableModule(_ModuleType):
    """Makes ``accelsim.workload.trace`` callable even when the package attribute is this module
    (the import system binds submodules over same-named package attributes)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return trace(*args, **kwargs)


__import__("sys").modules[__name__].__class__ = _CallableModule
