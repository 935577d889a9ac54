"""Execute an IR graph op by op with torch: the reference semantics of every canonical op.

Only ``Op.kind``, ``Op.inputs`` and ``Op.attrs`` are used (never ``Op.target``), so a replay that
matches the eager model proves the IR carries everything needed to recompute each op. Every
result is checked against the graph's declared shape and dtype.

``run_op`` is the per-op reference used by the numerics layer; ``REPLAY`` / ``VIEW_REPLAY`` /
``CONST_REPLAY`` are tables that extensions can add entries to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import ModuleType as _ModuleType
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from accelsim.errors import WorkloadError
from accelsim.workload.ir import Graph, Op

aten = torch.ops.aten

if TYPE_CHECKING:
    from accelsim.workload.trace import Traced

__all__ = ["replay", "run_graph", "run_op", "REPLAY", "VIEW_REPLAY", "CONST_REPLAY", "torch_dtype"]

Tensor = torch.Tensor
ReplayFn = Callable[[Sequence[Tensor], Mapping[str, Any]], "Tensor | tuple[Tensor, ...]"]


def torch_dtype(name: str) -> torch.dtype:
    dt = getattr(torch, name, None)
    if not isinstance(dt, torch.dtype):
        raise WorkloadError(f"unknown dtype '{name}'")
    return dt


def _dt(a: Mapping[str, Any], key: str = "dtype") -> torch.dtype | None:
    v = a.get(key)
    return None if v is None else torch_dtype(v)


# -- elementwise --------------------------------------------------------------------------------


def _wrap(t: Tensor, s: Any) -> Tensor:
    """A 0-d tensor holding scalar ``s`` in the dtype torch would compute ``t (op) s`` in."""
    return torch.tensor(s, dtype=torch.result_type(t, s))


def _binary(name: str) -> ReplayFn:
    f = getattr(torch, name)

    def fn(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
        kw: dict[str, Any] = {}
        if "alpha" in a:
            kw["alpha"] = a["alpha"]
        if a.get("rounding_mode") is not None:
            kw["rounding_mode"] = a["rounding_mode"]
        if len(x) == 2:
            return f(x[0], x[1], **kw)
        if a.get("reverse"):  # scalar (op) tensor
            return f(_wrap(x[0], a["other"]), x[0], **kw)
        return f(x[0], a["other"], **kw)

    return fn


def _cmp(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
    """``compare`` and ``logical``: attr ``op`` is the torch function name (gt, logical_and, ...)."""
    f = getattr(torch, a["op"])
    if a["op"] in ("logical_not", "bitwise_not"):
        return f(x[0])
    if len(x) == 2:
        return f(x[0], x[1])
    if a.get("reverse"):
        return f(_wrap(x[0], a["other"]), x[0])
    if a["op"].startswith("logical_"):  # no Scalar overloads
        return f(x[0], _wrap(x[0], a["other"]))
    return f(x[0], a["other"])


def _pow(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
    if len(x) == 2:
        return torch.pow(x[0], x[1])
    if "exponent" in a:
        return torch.pow(x[0], a["exponent"])
    return torch.pow(a["base"], x[0])


def _clamp(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
    bounds: dict[str, Any] = {"min": a.get("min"), "max": a.get("max")}
    for t, k in zip(x[1:], a.get("tensor_bounds", [])):
        bounds[k] = t
    return torch.clamp(x[0], **bounds)


def _masked_fill(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
    return x[0].masked_fill(x[1], x[2] if len(x) > 2 else a["value"])


# -- GEMM-like ------------------------------------------------------------------------------------


def _matmul(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
    A, B = x[0], x[1]
    if a.get("transpose_b"):
        B = B.transpose(-1, -2)
    out_dt = _dt(a, "out_dtype")
    if out_dt is not None:
        A, B = A.to(out_dt), B.to(out_dt)
    if len(x) > 2:
        bias = x[2].to(out_dt) if out_dt is not None else x[2]
        if A.dim() == 2 and B.dim() == 2:
            return torch.addmm(bias, A, B, beta=a.get("beta", 1), alpha=a.get("alpha", 1))
        return torch.matmul(A, B) * a.get("alpha", 1) + bias * a.get("beta", 1)
    if A.dim() == 2 and B.dim() == 2:
        return torch.mm(A, B)
    if A.dim() == 3 and B.dim() == 3 and A.shape[0] == B.shape[0]:
        return torch.bmm(A, B)
    return torch.matmul(A, B)


def _sdpa(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
    kw: dict[str, Any] = {"is_causal": bool(a.get("is_causal", False)), "scale": a.get("scale")}
    if a.get("enable_gqa"):
        kw["enable_gqa"] = True
    return F.scaled_dot_product_attention(x[0], x[1], x[2], attn_mask=x[3] if len(x) > 3 else None, **kw)


def _conv1d(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
    return F.conv1d(
        x[0],
        x[1],
        x[2] if len(x) > 2 else None,
        stride=a.get("stride", 1),
        padding=a.get("padding", 0),
        dilation=a.get("dilation", 1),
        groups=a.get("groups", 1),
    )


def _conv2d(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
    return F.conv2d(
        x[0],
        x[1],
        x[2] if len(x) > 2 else None,
        stride=a.get("stride", 1),
        padding=a.get("padding", 0),
        dilation=a.get("dilation", 1),
        groups=a.get("groups", 1),
    )


# -- vector ops -----------------------------------------------------------------------------------


def _softmax(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
    dt = _dt(a)
    inp = x[0] if dt is None else x[0].to(dt)
    return torch.softmax(inp, a["dim"])


def _layer_norm(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
    w = b = None
    rest = list(x[1:])
    if a.get("has_weight", True) and rest:
        w = rest.pop(0)
    if rest:
        b = rest.pop(0)
    return F.layer_norm(x[0], list(a["normalized_shape"]), w, b, a.get("eps", 1e-5))


def _reduce(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
    op, dims, keep = a["op"], list(a.get("dims", [])), bool(a.get("keepdim", False))
    t = x[0]
    if op in ("sum", "mean"):
        fn = torch.sum if op == "sum" else torch.mean
        if "dtype" in a:
            return fn(t, dim=dims, keepdim=keep, dtype=_dt(a))
        return fn(t, dim=dims, keepdim=keep)
    if not dims and op in ("amax", "max", "amin", "min", "any"):  # 0-d input
        return t.clone() if op != "any" else t.to(torch.bool)
    if op in ("amax", "max"):
        return torch.amax(t, dim=dims, keepdim=keep)
    if op in ("amin", "min"):
        return torch.amin(t, dim=dims, keepdim=keep)
    if op == "any":
        return torch.any(t, dim=tuple(dims), keepdim=keep)
    return _reduce_more(op, t, dims, keep, a)


def _topk(x: Sequence[Tensor], a: Mapping[str, Any]) -> tuple[Tensor, ...]:
    v, i = torch.topk(x[0], a["k"], dim=a.get("dim", -1), largest=a.get("largest", True), sorted=a.get("sorted", True))
    return (v, i)


def _scatter(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
    t, idx = x[0], x[1]
    dim = a["dim"]
    reduce = a.get("reduce")
    src = x[2] if len(x) > 2 else a["value"]
    if "include_self" in a:  # scatter_reduce, whose reduce is required
        return torch.scatter_reduce(t, dim, idx, src, a["reduce"], include_self=a["include_self"])
    if reduce == "add" and isinstance(src, Tensor):
        return torch.scatter_add(t, dim, idx, src)
    if reduce is not None:
        return torch.scatter(t, dim, idx, src, reduce=reduce)
    return torch.scatter(t, dim, idx, src)


# -- issue 10 kinds ---------------------------------------------------------------------------


def _batch_norm(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
    rest = list(x[3:])
    w = rest.pop(0) if a.get("has_weight", bool(rest)) and rest else None
    b = rest.pop(0) if a.get("has_bias", bool(rest)) and rest else None
    return F.batch_norm(x[0], x[1], x[2], w, b, training=False, eps=a.get("eps", 1e-5))


def _group_norm(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
    rest = list(x[1:])
    w = rest.pop(0) if a.get("has_weight", bool(rest)) and rest else None
    b = rest.pop(0) if a.get("has_bias", bool(rest)) and rest else None
    return F.group_norm(x[0], a["groups"], w, b, a.get("eps", 1e-5))


def _rms_norm(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
    return F.rms_norm(x[0], list(a["normalized_shape"]), x[1] if len(x) > 1 else None, a.get("eps"))


def _pool(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
    op, n = a["op"], int(a.get("spatial", 2))
    t = x[0]
    if op == "adaptive_avg":
        return (F.adaptive_avg_pool1d if n == 1 else F.adaptive_avg_pool2d)(t, a["output_size"])
    if op == "adaptive_max":
        return (F.adaptive_max_pool1d if n == 1 else F.adaptive_max_pool2d)(t, a["output_size"])
    k, s, p, ceil = a["kernel_size"], a["stride"], a.get("padding", 0), bool(a.get("ceil_mode", False))
    if op == "max":
        f = F.max_pool1d if n == 1 else F.max_pool2d
        return f(t, k, s, p, a.get("dilation", 1), ceil_mode=ceil)
    if n == 1:
        return F.avg_pool1d(t, k, s, p, ceil, a.get("count_include_pad", True))
    return F.avg_pool2d(t, k, s, p, ceil, a.get("count_include_pad", True), a.get("divisor_override"))


_RESAMPLE = {
    ("nearest", 1): aten.upsample_nearest1d, ("nearest", 2): aten.upsample_nearest2d,
    ("linear", 1): aten.upsample_linear1d, ("bilinear", 2): aten.upsample_bilinear2d,
}  # fmt: skip


def _resample(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
    size = list(a["output_size"])
    fn = _RESAMPLE.get((a["mode"], len(size)))
    if fn is None:
        raise WorkloadError(f"no replay for resampling mode {a['mode']!r} in {len(size)}-D")
    lin = a["mode"] != "nearest"
    if "scale_factors" in a:  # the .vec overload: torch uses the scales when they are given
        sf = a.get("scale_factors")
        args: list[Any] = [x[0], None if sf else size]
        if lin:
            args.append(bool(a.get("align_corners", False)))
        args.append(sf)
        return fn.vec(*args)
    args = [x[0], size]
    if lin:
        args.append(bool(a.get("align_corners", False)))
    return fn.default(*args, *a.get("scales", []))


def _where(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
    rest = list(x[1:])
    xs = _wrap_for(rest, a["self_value"]) if "self_value" in a else rest.pop(0)
    ys = _wrap_for(rest if rest else [xs], a["other"]) if "other" in a else rest.pop(0)
    if "self_value" in a and not isinstance(xs, Tensor):
        xs = torch.tensor(xs)
    return torch.where(x[0], xs, ys)


def _wrap_for(others: Sequence[Any], s: Any) -> Any:
    """A Python scalar where torch.where would take one (it promotes like a wrapped number)."""
    return s


def _remainder(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
    f = torch.fmod if a.get("op") == "fmod" else torch.remainder
    if len(x) == 2:
        return f(x[0], x[1])
    if a.get("reverse"):
        return f(_wrap(x[0], a["other"]), x[0])
    return f(x[0], a["other"])


def _reduce_more(op: str, t: Tensor, dims: list[int], keep: bool, a: Mapping[str, Any]) -> Tensor:
    full = len(dims) == t.dim()
    if op in ("argmax", "argmin"):
        f = torch.argmax if op == "argmax" else torch.argmin
        if full and t.dim() > 1:
            r = f(t)
            return r.reshape([1] * t.dim()) if keep else r
        return f(t, dim=dims[0] if dims else None, keepdim=keep)
    if op in ("var", "std"):
        spread = torch.var if op == "var" else torch.std
        return spread(t, dim=dims, correction=a.get("correction", 1), keepdim=keep)
    if op == "prod":
        dtype = _dt(a) if "dtype" in a else None  # the first product casts; None is torch's default
        r = t
        for d in sorted(dims, reverse=True):
            r = torch.prod(r, dim=d, keepdim=keep, dtype=dtype)
            dtype = None
        return r if dims else torch.prod(t, dtype=dtype)
    if op == "all":
        return torch.all(t, dim=tuple(dims), keepdim=keep) if dims else torch.all(t)
    if op == "norm":
        return torch.linalg.vector_norm(t, ord=a.get("ord", 2.0), dim=dims or None, keepdim=keep)
    raise WorkloadError(f"unknown reduce op '{op}'")


def _embedding_bag(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
    return F.embedding_bag(
        x[1], x[0], x[2], mode=a.get("mode", "mean"), per_sample_weights=x[3] if len(x) > 3 else None,
        include_last_offset=bool(a.get("include_last_offset", False)), padding_idx=a.get("padding_idx"),
    )


def _index(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
    idx: list[Tensor | None] = [None] * (max(a["dims"]) + 1)
    for d, t in zip(a["dims"], x[1:]):
        idx[d] = t
    return aten.index.Tensor(x[0], idx)


def _pad(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
    mode = a.get("mode", "constant")
    if mode == "constant":
        return F.pad(x[0], list(a["pad"]), value=a.get("value", 0))
    return F.pad(x[0], list(a["pad"]), mode=mode)


def _composite(x: Sequence[Tensor], a: Mapping[str, Any]) -> tuple[Tensor, ...]:
    raise WorkloadError("a composite op is replayed by run_op (it needs the op's tensor names)")


def _run_composite(op: Op, args: Sequence[Tensor]) -> tuple[Tensor, ...]:
    """Run a composite's sub-ops in order over its inputs (see :mod:`accelsim.workload.opset`)."""
    from accelsim.workload.opset import COMPOSITE_KINDS

    env = dict(zip(op.inputs, args))
    for d in op.attrs.get("sub_ops") or []:
        s = Op.from_dict(d)
        if s.kind in COMPOSITE_KINDS:
            raise WorkloadError(f"{op.where()}: sub-op '{s.name}' is itself a composite")
        missing = [t for t in s.inputs if t not in env]
        if missing:
            raise WorkloadError(f"{op.where()}: sub-op '{s.name}' reads unknown tensor '{missing[0]}'")
        for n, v in zip(s.outputs, run_op(s, [env[t] for t in s.inputs])):
            env[n] = v
    missing = [o for o in op.outputs if o not in env]
    if missing:
        raise WorkloadError(f"{op.where()}: no sub-op produces output '{missing[0]}'")
    return tuple(env[o] for o in op.outputs)


# -- layout ops -------------------------------------------------------------------------------------


def _slice(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
    idx = [slice(None)] * a["dim"] + [slice(a["start"], a["end"], a["step"])]
    return x[0][tuple(idx)]


def _reshape(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
    return x[0].reshape(a["shape"])


def _copy(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
    return x[0].clone()


VIEW_REPLAY: dict[str, ReplayFn] = {
    "view": _reshape,
    "_unsafe_view": _reshape,
    "reshape": _reshape,
    "expand": lambda x, a: x[0].expand(a["shape"]),
    "unsqueeze": lambda x, a: x[0].unsqueeze(a["dim"]),
    "squeeze": lambda x, a: x[0].squeeze(tuple(a["dims"])) if a.get("dims") else x[0],
    "permute": lambda x, a: x[0].permute(a["dims"]),
    "transpose": lambda x, a: x[0].transpose(a["dim0"], a["dim1"]),
    "t": lambda x, a: x[0].t(),
    "slice": _slice,
    "select": lambda x, a: x[0].select(a["dim"], a["index"]),
    "split_with_sizes": lambda x, a: tuple(torch.split(x[0], list(a["split_sizes"]), a["dim"])),
    "split": lambda x, a: tuple(torch.split(x[0], list(a["split_sizes"]), a["dim"])),
    "unbind": lambda x, a: tuple(torch.unbind(x[0], a["dim"])),
    "clone": _copy,
    "contiguous": _copy,
    "alias": _copy,
    "detach": _copy,
    "lift_fresh_copy": _copy,
    "cat": lambda x, a: torch.cat(list(x), a.get("dim", 0)),
    "constant_pad_nd": lambda x, a: F.pad(x[0], list(a["pad"]), value=a.get("value", 0)),
    "repeat": lambda x, a: x[0].repeat(a["repeats"]),
    "flip": lambda x, a: x[0].flip(a["dims"]),
    "flatten": _reshape,
    "unflatten": _reshape,
    "stack": lambda x, a: torch.stack(list(x), a.get("dim", 0)),
    "pad": _pad,
    "roll": lambda x, a: torch.roll(x[0], list(a["shifts"]), list(a["dims"])) if a.get("dims")
    else torch.roll(x[0], list(a["shifts"])),
}


def _const_full(x: Sequence[Tensor], a: Mapping[str, Any]) -> Tensor:
    return torch.full(tuple(a["shape"]), a["value"], dtype=_dt(a))


CONST_REPLAY: dict[str, ReplayFn] = {
    "arange": lambda x, a: torch.arange(a["start"], a["end"], a["step"], dtype=_dt(a)),
    "tril": lambda x, a: torch.tril(x[0], a.get("diagonal", 0)),
    "triu": lambda x, a: torch.triu(x[0], a.get("diagonal", 0)),
}
for _k in (
    "full",
    "full_like",
    "new_full",
    "scalar_tensor",
    "zeros",
    "zeros_like",
    "new_zeros",
    "ones",
    "ones_like",
    "new_ones",
    "empty",
    "empty_like",
    "new_empty",
):
    CONST_REPLAY[_k] = _const_full


def _table(table: Mapping[str, ReplayFn], what: str) -> ReplayFn:
    def fn(x: Sequence[Tensor], a: Mapping[str, Any]) -> Any:
        op = a.get("op")
        f = table.get(op)  # type: ignore[arg-type]
        if f is None:
            if what == "const" and "value" in a and "shape" in a:
                return _const_full(x, a)
            raise WorkloadError(f"no replay for {what} op '{op}' (known: {', '.join(sorted(table))})")
        return f(x, a)

    return fn


REPLAY: dict[str, ReplayFn] = {
    "linear": lambda x, a: F.linear(x[0], x[1], x[2] if len(x) > 2 else None),
    "matmul": _matmul,
    "sdpa": _sdpa,
    "conv2d": _conv2d,
    "conv1d": _conv1d,
    "attention": _composite,
    "fused": _composite,
    "add": _binary("add"),
    "sub": _binary("sub"),
    "mul": _binary("mul"),
    "div": _binary("div"),
    "neg": lambda x, a: torch.neg(x[0]),
    "relu": lambda x, a: torch.relu(x[0]),
    "gelu": lambda x, a: F.gelu(x[0], approximate=a.get("approximate", "none")),
    "exp": lambda x, a: torch.exp(x[0]),
    "tanh": lambda x, a: torch.tanh(x[0]),
    "sigmoid": lambda x, a: torch.sigmoid(x[0]),
    "sqrt": lambda x, a: torch.sqrt(x[0]),
    "rsqrt": lambda x, a: torch.rsqrt(x[0]),
    "pow": _pow,
    "clamp": _clamp,
    "where": _where,
    "masked_fill": _masked_fill,
    "compare": _cmp,
    "logical": _cmp,
    "cast": lambda x, a: x[0].to(_dt(a)),
    "softmax": _softmax,
    "layer_norm": _layer_norm,
    "reduce": _reduce,
    "topk": _topk,
    "embedding": lambda x, a: F.embedding(x[1], x[0]),
    "gather": lambda x, a: torch.gather(x[0], a["dim"], x[1]),
    "scatter": _scatter,
    "remainder": _remainder,
    "maximum": lambda x, a: torch.maximum(x[0], x[1]),
    "minimum": lambda x, a: torch.minimum(x[0], x[1]),
    "abs": lambda x, a: torch.abs(x[0]),
    "sign": lambda x, a: torch.sign(x[0]),
    "leaky_relu": lambda x, a: F.leaky_relu(x[0], a.get("negative_slope", 0.01)),
    "round": lambda x, a: getattr(torch, a["op"])(x[0]),
    "expm1": lambda x, a: torch.expm1(x[0]),
    "sin": lambda x, a: torch.sin(x[0]),
    "cos": lambda x, a: torch.cos(x[0]),
    "log": lambda x, a: torch.log(x[0]),
    "log1p": lambda x, a: torch.log1p(x[0]),
    "erf": lambda x, a: torch.erf(x[0]),
    "elu": lambda x, a: aten.elu.default(x[0], a.get("alpha", 1.0), a.get("scale", 1.0), a.get("input_scale", 1.0)),
    "silu": lambda x, a: F.silu(x[0]),
    "softplus": lambda x, a: F.softplus(x[0], a.get("beta", 1), a.get("threshold", 20)),
    "hardswish": lambda x, a: F.hardswish(x[0]),
    "hardsigmoid": lambda x, a: F.hardsigmoid(x[0]),
    "log_softmax": lambda x, a: torch.log_softmax(x[0] if _dt(a) is None else x[0].to(_dt(a)), a["dim"]),
    "rms_norm": _rms_norm,
    "group_norm": _group_norm,
    "batch_norm": _batch_norm,
    "cumsum": lambda x, a: torch.cumsum(x[0], a["dim"], dtype=_dt(a)),
    "pool": _pool,
    "upsample_nearest": _resample,
    "interpolate": _resample,
    "embedding_bag": _embedding_bag,
    "index_select": lambda x, a: torch.index_select(x[0], a["dim"], x[1]),
    "index": _index,
    "view": _table(VIEW_REPLAY, "view"),
    "const": _table(CONST_REPLAY, "const"),
}


def run_op(op: Op, args: Sequence[Tensor]) -> tuple[Tensor, ...]:
    """Reference result(s) of one IR op on torch tensors ``args`` (in ``op.inputs`` order)."""
    fn = REPLAY.get(op.kind)
    if fn is None:
        raise WorkloadError(f"{op.where()}: no reference semantics for op kind '{op.kind}'")
    if op.kind in ("attention", "fused"):
        return _run_composite(op, args)
    try:
        out = fn(args, op.attrs)
    except WorkloadError:
        raise
    except Exception as e:  # noqa: BLE001
        raise WorkloadError(f"{op.where()}: replay failed: {type(e).__name__}: {e}") from e
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def run_graph(
    graph: Graph, values: Mapping[str, Tensor], keep_all: bool = False, check: bool = True
) -> dict[str, Tensor]:
    """Execute ``graph`` given values for its inputs, weights and consts.

    Returns the graph outputs (or every tensor, with ``keep_all``). With ``check`` every result is
    compared with the declared shape and dtype.
    """
    env: dict[str, Tensor] = {}
    missing = []
    for name, t in graph.tensors.items():
        if t.kind == "activation":
            continue
        if name in values:
            env[name] = values[name]
        else:
            missing.append(f"{name} ({t.kind})")
    if missing:
        raise WorkloadError(f"graph '{graph.name}': no value for " + ", ".join(missing[:10]))
    consumers: dict[str, int] = {}
    if not keep_all:
        for op in graph.ops:
            for i in op.inputs:
                consumers[i] = consumers.get(i, 0) + 1
    keep = set(graph.outputs)
    with torch.no_grad():
        for op in graph.ops:
            outs = run_op(op, [env[i] for i in op.inputs])
            if len(outs) != len(op.outputs):
                raise WorkloadError(f"{op.where()}: replay produced {len(outs)} outputs, graph has {len(op.outputs)}")
            for name, v in zip(op.outputs, outs):
                if check:
                    info = graph.tensors[name]
                    if tuple(v.shape) != info.shape or str(v.dtype).removeprefix("torch.") != info.dtype:
                        raise WorkloadError(
                            f"{op.where()}: replay gave {tuple(v.shape)} {v.dtype} for '{name}', "
                            f"graph says {info.shape} {info.dtype}"
                        )
                env[name] = v
            if not keep_all:  # free intermediates early (large models)
                for i in op.inputs:
                    consumers[i] -= 1
                    if consumers[i] == 0 and i not in keep and graph.tensors[i].kind == "activation":
                        env.pop(i, None)
    if keep_all:
        return env
    return {o: env[o] for o in graph.outputs}


def replay(traced: Traced, keep_all: bool = False) -> dict[str, Tensor]:
    """Execute ``traced.graph`` with its example inputs and parameters.

    Returns ``{output name: tensor}`` for the graph outputs, or every tensor with ``keep_all``.
    """
    values = {**traced.params, **traced.inputs}
    return run_graph(traced.graph, values, keep_all=keep_all)


class _CallableModule(_ModuleType):
    """Makes ``accelsim.workload.replay`` callable even when the package attribute is this module
    (the import system binds submodules over same-named package attributes)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return replay(*args, **kwargs)


__import__("sys").modules[__name__].__class__ = _CallableModule
