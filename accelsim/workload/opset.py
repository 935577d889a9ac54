"""The op registry: every IR op kind (``Op.kind``) defined once.

Each :class:`OpDef` says which unit runs the op (``array`` / ``vector`` / ``layout`` /
``const``), its vector cost class (a key of :data:`COST_CLASSES`, the default cycles per
element per lane; the energy tables price vector work by the same class names), whether its
element-ops are counted on the outputs or on ``inputs[0]``, whether it may join a fused
element-wise chain, its GPU FLOPs per counted element and GPU memory-traffic model, and its
shape rule. The other tables of the project are derived from :data:`OPSET`:

* the tracer's converters (:mod:`accelsim.workload.trace`) emit only kinds listed here;
* the torch replay (:mod:`accelsim.workload.replay`) has one entry per kind;
* the mapper's vector kinds and free / reorder views (:data:`VIEW_OPS`);
* the GPU model's per-kind FLOPs and bytes (``gpu_flops_per_elem``, ``gpu_bytes``);
* ``accelsim.arch.spec.DEFAULT_VECTOR_OP_CYCLES`` (= :data:`COST_CLASSES`) and the energy
  recipes of ``accelsim.energy.tables`` (one per cost class);
* the op list of the IR docstring (``accelsim/workload/ir.py``).

``tests/workload/test_opset.py`` proves every kind complete (shape rule, converter, replay, cost
class, GPU fields, energy recipe) and round-trips each through torch -> IR -> replay.

This module imports no torch: saved graphs are verified with these shape rules without it.

Composite kinds (``attention`` on the arrays, ``fused`` on the vector unit) hold their body in
``attrs["sub_ops"]``: a list of :meth:`Op.to_dict` dicts, in execution order, whose inputs are
the composite's inputs or earlier sub-ops' outputs (internal tensors, not in the graph); every
composite output must be produced by a sub-op. Their shapes, replay and element counts come
from the sub-ops (:func:`expand`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from accelsim.errors import WorkloadError
from accelsim.workload.ir import Op, TensorInfo

if TYPE_CHECKING:
    from accelsim.workload.ir import Graph

__all__ = [
    "Unit",
    "OpDef",
    "ShapeError",
    "ShapeRule",
    "OPSET",
    "COST_CLASSES",
    "VIEW_OPS",
    "CONST_OPS",
    "get",
    "vector_elements",
    "vector_work",
    "infer",
    "expand",
    "COMPOSITE_KINDS",
    "GEMM_KINDS",
]

Unit = Literal["array", "vector", "layout", "const"]
OutInfo = tuple[tuple[int, ...], str]
ShapeRule = Callable[[Op, Sequence[TensorInfo]], list[OutInfo]]
CountRule = Callable[[Op, Sequence[TensorInfo], Sequence[TensorInfo]], int]


class ShapeError(WorkloadError):
    """An op's operands do not fit its kind's shape rule (the message says how)."""


@dataclass(frozen=True)
class OpDef:
    """One IR op kind. See the module docstring; ``count`` (optional) overrides the element-op
    count of :func:`vector_elements` for kinds whose work is neither the outputs nor
    ``inputs[0]`` (pooling windows, embedding bags); it gets ``(op, inputs, outputs)``."""

    kind: str
    unit: Unit
    cost: str
    work: Literal["out", "in"]
    fusable: bool
    gpu_flops_per_elem: float
    gpu_bytes: Literal["io", "rows"]
    shape: ShapeRule
    doc: str
    count: CountRule | None = None


#: Cost class -> default cycles per element per lane on the vector unit. The first 16 entries are
#: the historical ``DEFAULT_VECTOR_OP_CYCLES`` (unchanged). New classes, each from its formula
#: at 1 lane-cycle per add / mult / compare and 4 per special-function evaluation (the ``exp``
#: class):
#:   ``silu``       x * sigmoid(x): one SFU evaluation + 1 mult                         = 5
#:   ``softplus``   log1p(exp(x)): two SFU evaluations                                 = 8
#:   ``hardswish``  x * clamp(x + 3, 0, 6) / 6: 1 add, 1 clamp, 2 mults                = 4
#:   ``hardsigmoid`` clamp(x / 6 + 1/2, 0, 1): 1 mult, 1 add, 1 clamp                  = 3
#:   ``affine``     inference batch norm with per-channel scale/shift: one FMA        = 1
#:   ``rms_norm``   square, accumulate, * rstd, * gamma (rstd per row, amortised)      = 4
#:   ``interp``     bilinear interpolation: 4 mults + 3 adds, 2 issued per cycle        = 4
COST_CLASSES: dict[str, int] = {
    "default": 1,
    "add": 1,
    "mul": 1,
    "relu": 1,
    "compare": 1,
    "copy": 1,
    "exp": 4,
    "gelu": 6,
    "softmax": 8,
    "layer_norm": 6,
    "reduce": 1,
    "topk": 4,
    "gather": 1,
    "gather_mac": 1,
    "div": 4,
    "rsqrt": 4,
    "silu": 5,
    "softplus": 8,
    "hardswish": 4,
    "hardsigmoid": 3,
    "affine": 1,
    "rms_norm": 4,
    "interp": 4,
}

#: ``view`` sub-op (``Op.attrs["op"]``) -> how the mapper costs it: ``free`` (a DMA descriptor
#: change), ``reorder`` (free when every consumer reached through layout ops is a GEMM, which
#: reads the operand with a strided descriptor; otherwise a vector copy), ``copy`` (always a
#: vector copy of the output).
VIEW_OPS: dict[str, Literal["free", "reorder", "copy"]] = {
    "view": "free",
    "_unsafe_view": "free",
    "reshape": "free",
    "flatten": "free",
    "unflatten": "free",
    "expand": "free",
    "unsqueeze": "free",
    "squeeze": "free",
    "slice": "free",
    "select": "free",
    "split": "free",
    "split_with_sizes": "free",
    "unbind": "free",
    "alias": "free",
    "detach": "free",
    "lift_fresh_copy": "free",
    "permute": "reorder",
    "transpose": "reorder",
    "t": "reorder",
    "contiguous": "reorder",
    "clone": "reorder",
    "cat": "copy",
    "stack": "copy",
    "constant_pad_nd": "copy",
    "pad": "copy",
    "repeat": "copy",
    "flip": "copy",
    "roll": "copy",
}

#: ``const`` sub-ops (``Op.attrs["op"]``): constants generated on chip.
CONST_OPS: tuple[str, ...] = (
    "arange", "full", "full_like", "new_full", "scalar_tensor", "zeros", "zeros_like", "new_zeros",
    "ones", "ones_like", "new_ones", "empty", "empty_like", "new_empty", "tril", "triu",
)  # fmt: skip

# ---------------------------------------------------------------------------------------------
# dtype promotion (torch's rules, for the dtypes of DTYPE_BYTES)
# ---------------------------------------------------------------------------------------------

_FLOATS = ("float16", "bfloat16", "float32", "float64")
_INTS = ("uint8", "int8", "int16", "int32", "int64")


def _cat(dt: str) -> int:
    return 0 if dt == "bool" else 2 if dt in _FLOATS else 1


def _max_same(a: str, b: str) -> str:
    """The promotion of two dtypes of one category."""
    if a == b:
        return a
    if a in _FLOATS:
        if {a, b} == {"float16", "bfloat16"}:
            return "float32"
        return max(a, b, key=_FLOATS.index)
    if a in _INTS:
        if "uint8" in (a, b):
            other = b if a == "uint8" else a
            return "int16" if other == "int8" else other
        return max(a, b, key=_INTS.index)
    return a


def promote(tensors: Sequence[TensorInfo], scalars: Sequence[Any] = ()) -> str:
    """torch.result_type over tensors (0-d tensors rank below dimensioned ones) and Python
    scalars (bool / int / float), for real dtypes."""
    groups: list[list[str]] = [[t.dtype for t in tensors if t.shape], [t.dtype for t in tensors if not t.shape]]
    sc: list[str] = []
    for s in scalars:
        if isinstance(s, bool):
            sc.append("bool")
        elif isinstance(s, int):
            sc.append("int64")
        elif isinstance(s, float):
            sc.append("float32")
    groups.append(sc)
    top = max((_cat(d) for g in groups for d in g), default=2)
    for g in groups:
        inc = [d for d in g if _cat(d) == top]
        if inc:
            out = inc[0]
            for d in inc[1:]:
                out = _max_same(out, d)
            return out
    return "float32"  # pragma: no cover


def _float_of(dt: str) -> str:
    """Result dtype of a floating function (exp, sin, ...) of ``dt``: ints become float32."""
    return dt if dt in _FLOATS else "float32"


# ---------------------------------------------------------------------------------------------
# shape helpers
# ---------------------------------------------------------------------------------------------


def _err(op: Op, msg: str) -> ShapeError:
    return ShapeError(msg)


def broadcast(op: Op, *shapes: Sequence[int]) -> tuple[int, ...]:
    """numpy broadcasting; :class:`ShapeError` when the shapes do not broadcast."""
    n = max((len(s) for s in shapes), default=0)
    out = [1] * n
    for s in shapes:
        s = [1] * (n - len(s)) + list(s)
        for i, (a, b) in enumerate(zip(out, s)):
            if a == b or b == 1:
                continue
            if a == 1:
                out[i] = b
            else:
                raise _err(op, f"shapes {[list(x) for x in shapes]} do not broadcast")
    return tuple(out)


def _need(op: Op, ins: Sequence[TensorInfo], lo: int, hi: int | None = None) -> None:
    hi = lo if hi is None else hi
    if not lo <= len(ins) <= hi:
        want = str(lo) if lo == hi else f"{lo} to {hi}"
        raise _err(op, f"needs {want} tensor operand(s), got {len(ins)}")


def _dim(op: Op, d: Any, rank: int, what: str = "dim") -> int:
    if isinstance(d, bool) or not isinstance(d, int):
        raise _err(op, f"{what} {d!r} is not an integer")
    r = max(rank, 1)
    if not -r <= d < r:
        raise _err(op, f"{what} {d} out of range for rank {rank}")
    return d % r


def _ints(op: Op, v: Any, what: str) -> list[int]:
    if isinstance(v, bool):
        raise _err(op, f"{what} must be integers, got {v!r}")
    if isinstance(v, int):
        return [v]
    if not isinstance(v, (list, tuple)) or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        raise _err(op, f"{what} must be integers, got {v!r}")
    return list(v)


def _scalars(op: Op, *keys: str) -> list[Any]:
    return [op.attrs[k] for k in keys if k in op.attrs and not isinstance(op.attrs[k], (list, dict, str))
            and op.attrs[k] is not None]


def _same(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 1)
    return [(ins[0].shape, ins[0].dtype)]


# -- element-wise ------------------------------------------------------------------------------


def _binary(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 1, 2)
    shape = broadcast(op, *(t.shape for t in ins))
    dt = promote(ins, _scalars(op, "other"))
    if op.kind == "div" and op.attrs.get("rounding_mode") is None:
        dt = _float_of(dt)
    return [(shape, dt)]


def _pow(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 1, 2)
    return [(broadcast(op, *(t.shape for t in ins)), promote(ins, _scalars(op, "exponent", "base")))]


def _compare(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 1, 2)
    return [(broadcast(op, *(t.shape for t in ins)), "bool")]


def _logical(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 1, 2)
    shape = broadcast(op, *(t.shape for t in ins))
    name = str(op.attrs.get("op", ""))
    if name.startswith("bitwise_"):
        return [(shape, promote(ins, _scalars(op, "other")))]
    return [(shape, "bool")]


def _where(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 1, 3)
    if ins[0].dtype != "bool":
        raise _err(op, f"condition must be bool, got {ins[0].dtype}")
    shape = broadcast(op, *(t.shape for t in ins))
    vals = list(ins[1:])
    return [(shape, promote(vals, _scalars(op, "self_value", "other")))]


def _masked_fill(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 2, 3)
    if ins[1].dtype != "bool":
        raise _err(op, f"mask must be bool, got {ins[1].dtype}")
    shape = broadcast(op, ins[0].shape, ins[1].shape)
    if shape != ins[0].shape:
        raise _err(op, f"mask {list(ins[1].shape)} does not broadcast to self {list(ins[0].shape)}")
    return [(ins[0].shape, ins[0].dtype)]


def _clamp(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 1, 3)
    shape = broadcast(op, *(t.shape for t in ins))
    return [(shape, promote(ins, _scalars(op, "min", "max")))]


def _unary_float(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 1)
    return [(ins[0].shape, _float_of(ins[0].dtype))]


def _cast(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 1)
    dt = op.attrs.get("dtype")
    if not isinstance(dt, str):
        raise _err(op, "cast needs attr 'dtype'")
    return [(ins[0].shape, dt)]


# -- GEMM-like ------------------------------------------------------------------------------------


def _linear(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 2, 3)
    x, w = ins[0], ins[1]
    if len(w.shape) != 2 or not x.shape or x.shape[-1] != w.shape[1]:
        raise _err(op, f"linear of x{list(x.shape)} with weight{list(w.shape)} (needs x[..., K], w[N, K])")
    out = (*x.shape[:-1], w.shape[0])
    if len(ins) > 2 and broadcast(op, out, ins[2].shape) != out:
        raise _err(op, f"bias{list(ins[2].shape)} does not broadcast to {list(out)}")
    return [(out, promote(ins[:2]))]


def _matmul(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 2, 3)
    a, b = list(ins[0].shape), list(ins[1].shape)
    if not a or not b:
        raise _err(op, "matmul of a 0-d tensor")
    if op.attrs.get("transpose_b") and len(b) >= 2:
        b[-1], b[-2] = b[-2], b[-1]
    a2 = [1, *a] if len(a) == 1 else a
    b2 = [*b, 1] if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise _err(op, f"a{list(ins[0].shape)} @ b{list(ins[1].shape)}: inner dims {a2[-1]} != {b2[-2]}")
    batch = broadcast(op, a2[:-2], b2[:-2])
    out: list[int] = [*batch, a2[-2], b2[-1]]
    if len(a) == 1:
        out.pop(-2)
    if len(b) == 1:
        out.pop(-1)
    shape = tuple(out)
    if len(ins) > 2 and broadcast(op, shape, ins[2].shape) != shape:
        raise _err(op, f"addend{list(ins[2].shape)} does not broadcast to {list(shape)}")
    dt = op.attrs.get("out_dtype") or promote(ins[:2])
    return [(shape, str(dt))]


def _pairs(op: Op, v: Any, n: int, what: str) -> list[int]:
    vals = _ints(op, v, what)
    if len(vals) == 1:
        vals = vals * n
    if len(vals) != n:
        raise _err(op, f"{what} {v!r} needs {n} values")
    return vals


def _conv_out(op: Op, spatial: Sequence[int], kernel: Sequence[int]) -> list[int]:
    n = len(spatial)
    stride = _pairs(op, op.attrs.get("stride", 1), n, "stride")
    dil = _pairs(op, op.attrs.get("dilation", 1), n, "dilation")
    pad_attr = op.attrs.get("padding", 0)
    out = []
    for i in range(n):
        eff = dil[i] * (kernel[i] - 1) + 1
        if pad_attr == "same":
            out.append(spatial[i])
            continue
        p = 0 if pad_attr == "valid" else _pairs(op, pad_attr, n, "padding")[i]
        o = (spatial[i] + 2 * p - eff) // stride[i] + 1
        if o < 1:
            raise _err(op, f"kernel {list(kernel)} larger than padded input {list(spatial)}")
        out.append(o)
    return out


def _conv(rank: int) -> ShapeRule:
    def rule(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
        _need(op, ins, 2, 3)
        x, w = ins[0].shape, ins[1].shape
        if len(x) != rank or len(w) != rank:
            raise _err(op, f"{op.kind} needs rank-{rank} input and weight, got x{list(x)}, w{list(w)}")
        g = op.attrs.get("groups", 1) or 1
        if not isinstance(g, int) or g < 1 or w[0] % g or x[1] != w[1] * g:
            raise _err(op, f"groups={g!r} with {x[1]} input channels and weight{list(w)}")
        if len(ins) > 2 and ins[2].shape != (w[0],):
            raise _err(op, f"bias{list(ins[2].shape)} != [{w[0]}]")
        return [((x[0], w[0], *_conv_out(op, x[2:], w[2:])), promote(ins[:2]))]

    return rule


def _sdpa(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 3, 4)
    q, k, v = (t.shape for t in ins[:3])
    if len(q) < 2 or len(k) != len(q) or len(v) != len(q):
        raise _err(op, f"q{list(q)}, k{list(k)}, v{list(v)} must have one rank >= 2")
    if q[-1] != k[-1] or k[-2] != v[-2]:
        raise _err(op, f"q{list(q)}, k{list(k)}, v{list(v)}: needs q[..., L, D], k[..., S, D], v[..., S, Dv]")
    if op.attrs.get("enable_gqa") and len(q) >= 3:
        if k[-3] != v[-3] or q[-3] % k[-3]:
            raise _err(op, f"grouped-query heads {q[-3]} vs kv heads {k[-3]}")
        broadcast(op, q[:-3], k[:-3])
    else:
        broadcast(op, q[:-2], k[:-2], v[:-2])
    out = (*q[:-1], v[-1])
    if len(ins) > 3:
        m = ins[3].shape
        if broadcast(op, (*q[:-1], k[-2]), m) != (*q[:-1], k[-2]):
            raise _err(op, f"mask{list(m)} does not broadcast to the scores {list(q[:-1]) + [k[-2]]}")
    return [(tuple(out), ins[0].dtype)]


# -- rows, norms, reductions --------------------------------------------------------------------


def _norm(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 1, 3)
    x = ins[0]
    ns = op.attrs.get("normalized_shape")
    if ns is not None:
        ns = _ints(op, ns, "normalized_shape")
        if tuple(x.shape[len(x.shape) - len(ns):]) != tuple(ns) or len(ns) > len(x.shape):
            raise _err(op, f"normalized_shape {ns} is not the tail of input {list(x.shape)}")
        for t in ins[1:]:
            if tuple(t.shape) != tuple(ns):
                raise _err(op, f"affine parameter {list(t.shape)} != normalized_shape {ns}")
    return [(x.shape, x.dtype)]


def _batch_norm(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 3, 5)
    x = ins[0]
    if len(x.shape) < 2:
        raise _err(op, f"input {list(x.shape)} has no channel dim")
    for t in ins[1:]:
        if t.shape != (x.shape[1],):
            raise _err(op, f"per-channel tensor {list(t.shape)} != [{x.shape[1]}]")
    return [(x.shape, x.dtype)]


def _group_norm(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 1, 3)
    x = ins[0]
    g = op.attrs.get("groups")
    if len(x.shape) < 2 or not isinstance(g, int) or g < 1 or x.shape[1] % g:
        raise _err(op, f"groups={g!r} for input {list(x.shape)}")
    for t in ins[1:]:
        if t.shape != (x.shape[1],):
            raise _err(op, f"affine parameter {list(t.shape)} != [{x.shape[1]}]")
    return [(x.shape, x.dtype)]


def _softmax(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 1)
    _dim(op, op.attrs.get("dim"), len(ins[0].shape))
    return [(ins[0].shape, str(op.attrs.get("dtype") or ins[0].dtype))]


_REDUCE_OPS = ("sum", "mean", "max", "min", "amax", "amin", "any", "all", "prod", "argmax", "argmin", "var", "std",
               "norm")


def _reduce(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 1)
    x = ins[0]
    name = op.attrs.get("op")
    if name not in _REDUCE_OPS:
        raise _err(op, f"unknown reduce op {name!r} (known: {', '.join(_REDUCE_OPS)})")
    dims = [_dim(op, d, len(x.shape)) for d in _ints(op, op.attrs.get("dims", []), "dims")]
    if not dims:
        dims = list(range(len(x.shape)))
    keep = bool(op.attrs.get("keepdim", False))
    shape = tuple(1 if i in dims else s for i, s in enumerate(x.shape) if keep or i not in dims)
    if op.attrs.get("dtype"):
        dt = str(op.attrs["dtype"])
    elif name in ("sum", "prod"):
        dt = "int64" if _cat(x.dtype) < 2 else x.dtype
    elif name in ("any", "all"):
        dt = "bool" if x.dtype != "uint8" else "uint8"
    elif name in ("argmax", "argmin"):
        dt = "int64"
    elif name in ("mean", "var", "std", "norm"):
        dt = _float_of(x.dtype)
    else:
        dt = x.dtype
    return [(shape, dt)]


def _topk(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 1)
    x = ins[0]
    d = _dim(op, op.attrs.get("dim", -1), len(x.shape))
    k = op.attrs.get("k")
    size = x.shape[d] if x.shape else 1
    if not isinstance(k, int) or not 0 <= k <= size:
        raise _err(op, f"k={k!r} for a dim of size {size}")
    shape = tuple(k if i == d else s for i, s in enumerate(x.shape))
    return [(shape, x.dtype), (shape, "int64")]


def _cumsum(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 1)
    x = ins[0]
    _dim(op, op.attrs.get("dim"), len(x.shape))
    dt = op.attrs.get("dtype") or ("int64" if _cat(x.dtype) < 2 else x.dtype)
    return [(x.shape, str(dt))]


# -- pooling and resampling ------------------------------------------------------------------------

_POOL_OPS = ("max", "avg", "adaptive_avg", "adaptive_max")


def _pool_out(op: Op, x: tuple[int, ...]) -> list[int]:
    name = op.attrs.get("op")
    nsp = int(op.attrs.get("spatial", 2))
    if name not in _POOL_OPS:
        raise _err(op, f"unknown pool op {name!r} (known: {', '.join(_POOL_OPS)})")
    if len(x) < nsp + 1:
        raise _err(op, f"input {list(x)} has fewer than {nsp} spatial dims")
    sp = x[len(x) - nsp:]
    if name.startswith("adaptive"):
        return _pairs(op, op.attrs.get("output_size"), nsp, "output_size")
    k = _pairs(op, op.attrs.get("kernel_size"), nsp, "kernel_size")
    s = _pairs(op, op.attrs.get("stride") or op.attrs.get("kernel_size"), nsp, "stride")
    p = _pairs(op, op.attrs.get("padding", 0), nsp, "padding")
    d = _pairs(op, op.attrs.get("dilation", 1), nsp, "dilation")
    ceil = bool(op.attrs.get("ceil_mode", False))
    out = []
    for i in range(nsp):
        if 2 * p[i] > k[i]:
            raise _err(op, f"padding {p[i]} more than half the kernel {k[i]}")
        span = sp[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1
        o = (-(-span // s[i]) if ceil else span // s[i]) + 1
        if ceil and (o - 1) * s[i] >= sp[i] + p[i]:
            o -= 1  # the last window must start inside the input or the left padding
        if o < 1:
            raise _err(op, f"kernel {k} larger than padded input {list(sp)}")
        out.append(o)
    return out


def _pool(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 1)
    x = ins[0].shape
    nsp = int(op.attrs.get("spatial", 2))
    return [((*x[: len(x) - nsp], *_pool_out(op, x)), ins[0].dtype)]


def _adaptive_windows(n_in: int, n_out: int) -> int:
    """Sum over adaptive-pool output positions of their window lengths (torch's start/end rule)."""
    return sum((-(-(i + 1) * n_in // n_out)) - (i * n_in // n_out) for i in range(n_out))


def _pool_count(op: Op, ins: Sequence[TensorInfo], outs: Sequence[TensorInfo]) -> int:
    """Element-ops of a pooling op: one compare / add per window element read."""
    x = ins[0].shape
    nsp = int(op.attrs.get("spatial", 2))
    lead = math.prod(x[: len(x) - nsp])
    if str(op.attrs.get("op", "")).startswith("adaptive"):
        o = _pairs(op, op.attrs.get("output_size"), nsp, "output_size")
        return lead * math.prod(_adaptive_windows(x[len(x) - nsp + i], o[i]) for i in range(nsp))
    k = _pairs(op, op.attrs.get("kernel_size"), nsp, "kernel_size")
    return outs[0].numel * math.prod(k)


def _resample(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 1)
    x = ins[0].shape
    size = _ints(op, op.attrs.get("output_size"), "output_size")
    if len(size) > len(x) - 2 or len(size) < 1:
        raise _err(op, f"output_size {size} for input {list(x)}")
    return [((*x[: len(x) - len(size)], *size), ins[0].dtype)]


# -- indexing --------------------------------------------------------------------------------------


def _embedding(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 2)
    w, idx = ins
    if len(w.shape) != 2 or _cat(idx.dtype) != 1:
        raise _err(op, f"embedding of weight{list(w.shape)} by {idx.dtype} indices")
    return [((*idx.shape, w.shape[1]), w.dtype)]


def _embedding_bag(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 3, 4)
    w, idx, off = ins[0], ins[1], ins[2]
    if len(w.shape) != 2 or len(idx.shape) != 1 or len(off.shape) != 1:
        raise _err(op, f"embedding_bag of weight{list(w.shape)}, indices{list(idx.shape)}, offsets{list(off.shape)}")
    bags = off.shape[0] - (1 if op.attrs.get("include_last_offset") else 0)
    return [((bags, w.shape[1]), w.dtype)]


def _bag_count(op: Op, ins: Sequence[TensorInfo], outs: Sequence[TensorInfo]) -> int:
    """One accumulate per looked-up row element (indices x D)."""
    return ins[1].numel * ins[0].shape[1]


def _gather(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 2)
    x, idx = ins
    _dim(op, op.attrs.get("dim"), len(x.shape))
    if len(idx.shape) != len(x.shape) and x.shape:
        raise _err(op, f"index rank {len(idx.shape)} != input rank {len(x.shape)}")
    return [(idx.shape, x.dtype)]


def _scatter(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 2, 3)
    x, idx = ins[0], ins[1]
    _dim(op, op.attrs.get("dim"), len(x.shape))
    if len(idx.shape) != len(x.shape) and x.shape:
        raise _err(op, f"index rank {len(idx.shape)} != input rank {len(x.shape)}")
    return [(x.shape, x.dtype)]


def _index_select(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _need(op, ins, 2)
    x, idx = ins
    d = _dim(op, op.attrs.get("dim"), len(x.shape))
    if len(idx.shape) > 1:
        raise _err(op, f"index{list(idx.shape)} must be 1-D")
    shape = list(x.shape)
    if shape:
        shape[d] = idx.numel
    return [(tuple(shape), x.dtype)]


def _index(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    """``x[..., i0, ..., i1, ...]`` with integer / bool index tensors at dims ``attrs['dims']``."""
    if len(ins) < 2:
        raise _err(op, "needs a tensor and at least one index tensor")
    x = ins[0]
    dims = [_dim(op, d, len(x.shape)) for d in _ints(op, op.attrs.get("dims", []), "dims")]
    if len(dims) != len(ins) - 1 or dims != sorted(set(dims)):
        raise _err(op, f"attr dims {dims} does not match {len(ins) - 1} index tensor(s)")
    idx_shapes = []
    for t, _d in zip(ins[1:], dims):
        if t.dtype == "bool":
            raise _err(op, "bool mask indices have a data-dependent shape")
        if _cat(t.dtype) != 1:
            raise _err(op, f"index tensor of dtype {t.dtype}")
        idx_shapes.append(t.shape)
    b = broadcast(op, *idx_shapes)
    adjacent = dims == list(range(dims[0], dims[0] + len(dims)))
    rest_before = list(x.shape[: dims[0]])
    rest_after = list(x.shape[dims[-1] + 1:])
    if adjacent:
        shape = (*rest_before, *b, *rest_after)
    else:
        others = [s for i, s in enumerate(x.shape) if i not in dims]
        shape = (*b, *others)
    return [(tuple(shape), x.dtype)]


# -- layout and constants ------------------------------------------------------------------------


def _reshape(op: Op, x: TensorInfo, shape: Any) -> tuple[int, ...]:
    s = _ints(op, shape, "shape")
    if s.count(-1) > 1:
        raise _err(op, f"shape {s} has more than one -1")
    if -1 in s:
        known = math.prod(v for v in s if v != -1)
        if known == 0 or x.numel % known:
            raise _err(op, f"cannot view {list(x.shape)} as {s}")
        s[s.index(-1)] = x.numel // known
    if math.prod(s) != x.numel:
        raise _err(op, f"cannot view {list(x.shape)} ({x.numel} elements) as {s}")
    return tuple(s)


def _slice_len(start: int, end: int, step: int) -> int:
    return max(0, -(-(end - start) // step))


def _view_rule(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    sub = op.attrs.get("op")
    if sub not in VIEW_OPS:
        raise _err(op, f"unknown view op {sub!r} (known: {', '.join(sorted(VIEW_OPS))})")
    a = op.attrs
    if sub in ("cat", "stack"):
        parts = [t for t in ins if not (sub == "cat" and t.shape == (0,))] or list(ins[:1])
        if not parts:
            raise _err(op, f"{sub} of no tensors")
        rank = len(parts[0].shape) + (1 if sub == "stack" else 0)
        d = _dim(op, a.get("dim", 0), rank)
        dt = promote(parts)
        if sub == "stack":
            if any(t.shape != parts[0].shape for t in parts):
                raise _err(op, f"stack of shapes {[list(t.shape) for t in parts]}")
            s = list(parts[0].shape)
            s.insert(d, len(parts))
            return [(tuple(s), dt)]
        base = list(parts[0].shape)
        for t in parts[1:]:
            if len(t.shape) != len(base) or any(i != d and p != q for i, (p, q) in enumerate(zip(base, t.shape))):
                raise _err(op, f"cat along dim {d} of shapes {[list(t.shape) for t in parts]}")
        base[d] = sum(t.shape[d] for t in parts)
        return [(tuple(base), dt)]
    _need(op, ins, 1)
    x = ins[0]
    s = list(x.shape)
    r = len(s)
    if sub in ("view", "_unsafe_view", "reshape", "flatten", "unflatten"):
        return [(_reshape(op, x, a.get("shape")), x.dtype)]
    if sub == "expand":
        tgt = _ints(op, a.get("shape"), "shape")
        if len(tgt) < r:
            raise _err(op, f"cannot expand {s} to {tgt}")
        src = [1] * (len(tgt) - r) + s
        out = []
        for i, (p, q) in enumerate(zip(src, tgt)):
            if q == -1:
                if i < len(tgt) - r:
                    raise _err(op, f"-1 in a new leading dim of expand {tgt}")
                q = p
            if p != q and p != 1:
                raise _err(op, f"cannot expand {s} to {tgt}")
            out.append(q)
        return [(tuple(out), x.dtype)]
    if sub == "unsqueeze":
        d = _dim(op, a.get("dim"), r + 1)
        s.insert(d, 1)
        return [(tuple(s), x.dtype)]
    if sub == "squeeze":
        dims = [_dim(op, d, r) for d in _ints(op, a.get("dims", []), "dims")]
        return [(tuple(v for i, v in enumerate(s) if not (i in dims and v == 1)), x.dtype)]
    if sub == "permute":
        dims = [_dim(op, d, r) for d in _ints(op, a.get("dims"), "dims")]
        if sorted(dims) != list(range(r)):
            raise _err(op, f"permute dims {dims} for rank {r}")
        return [(tuple(s[d] for d in dims), x.dtype)]
    if sub == "transpose":
        d0, d1 = _dim(op, a.get("dim0"), r), _dim(op, a.get("dim1"), r)
        if s:
            s[d0], s[d1] = s[d1], s[d0]
        return [(tuple(s), x.dtype)]
    if sub == "t":
        if r > 2:
            raise _err(op, f"t() of a rank-{r} tensor")
        return [(tuple(reversed(s)), x.dtype)]
    if sub == "slice":
        d = _dim(op, a.get("dim"), r)
        start, end, step = a.get("start"), a.get("end"), a.get("step", 1)
        if not (isinstance(start, int) and isinstance(end, int) and isinstance(step, int)) or step < 1 \
                or not 0 <= start <= end <= s[d]:
            raise _err(op, f"slice [{start}:{end}:{step}] of a dim of size {s[d]}")
        s[d] = _slice_len(start, end, step)
        return [(tuple(s), x.dtype)]
    if sub == "select":
        d = _dim(op, a.get("dim"), r)
        index = a.get("index")
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < s[d]:
            raise _err(op, f"select index {index!r} of a dim of size {s[d]}")
        s.pop(d)
        return [(tuple(s), x.dtype)]
    if sub in ("split", "split_with_sizes"):
        d = _dim(op, a.get("dim"), r)
        sizes = _ints(op, a.get("split_sizes"), "split_sizes")
        if sum(sizes) != s[d] or any(v < 0 for v in sizes):
            raise _err(op, f"split sizes {sizes} of a dim of size {s[d]}")
        return [(tuple(v if i != d else z for i, v in enumerate(s)), x.dtype) for z in sizes]
    if sub == "unbind":
        d = _dim(op, a.get("dim"), r)
        return [(tuple(v for i, v in enumerate(s) if i != d), x.dtype)] * s[d]
    if sub in ("clone", "contiguous", "alias", "detach", "lift_fresh_copy"):
        return [(x.shape, x.dtype)]
    if sub in ("constant_pad_nd", "pad"):
        pad = _ints(op, a.get("pad"), "pad")
        if len(pad) % 2 or len(pad) // 2 > r:
            raise _err(op, f"pad {pad} for rank {r}")
        for i in range(len(pad) // 2):
            d = r - 1 - i
            s[d] += pad[2 * i] + pad[2 * i + 1]
            if s[d] < 0:
                raise _err(op, f"pad {pad} makes dim {d} negative")
        return [(tuple(s), x.dtype)]
    if sub == "repeat":
        rep = _ints(op, a.get("repeats"), "repeats")
        if len(rep) < r:
            raise _err(op, f"repeats {rep} shorter than rank {r}")
        src = [1] * (len(rep) - r) + s
        return [(tuple(p * q for p, q in zip(src, rep)), x.dtype)]
    if sub in ("flip", "roll"):
        for d in _ints(op, a.get("dims", []), "dims"):
            _dim(op, d, r)
        return [(x.shape, x.dtype)]
    raise _err(op, f"no shape rule for view op {sub!r}")  # pragma: no cover


def _const_rule(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    sub = op.attrs.get("op")
    if sub in ("tril", "triu"):
        _need(op, ins, 1)
        if len(ins[0].shape) < 2:
            raise _err(op, f"{sub} of a rank-{len(ins[0].shape)} tensor")
        return [(ins[0].shape, ins[0].dtype)]
    if sub not in CONST_OPS:
        if "shape" not in op.attrs or "dtype" not in op.attrs:
            raise _err(op, f"unknown const op {sub!r} (known: {', '.join(CONST_OPS)})")
    dt = op.attrs.get("dtype")
    if not isinstance(dt, str):
        raise _err(op, "const needs attr 'dtype'")
    shape = tuple(_ints(op, op.attrs.get("shape", []), "shape")) if op.attrs.get("shape") is not None else ()
    if sub == "arange":
        start, end, step = (op.attrs.get(k) for k in ("start", "end", "step"))
        try:
            n = max(0, math.ceil((float(end) - float(start)) / float(step)))  # type: ignore[arg-type]
        except (TypeError, ValueError, ZeroDivisionError):
            raise _err(op, f"arange({start!r}, {end!r}, {step!r})") from None
        if shape != (n,):
            raise _err(op, f"arange({start}, {end}, {step}) has {n} elements, attr shape {list(shape)}")
    if any(v < 0 for v in shape):
        raise _err(op, f"negative shape {list(shape)}")
    return [(shape, dt)]


# -- composites ----------------------------------------------------------------------------------


def _sub_ops(op: Op) -> list[Op]:
    raw = op.attrs.get("sub_ops")
    if not isinstance(raw, list) or not raw:
        raise _err(op, "a composite op needs a non-empty attr 'sub_ops'")
    out = []
    for i, d in enumerate(raw):
        try:
            out.append(Op.from_dict(d))
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            raise _err(op, f"sub_ops[{i}] is not an op dict ({e})") from None
    return out


def expand(op: Op, ins: Sequence[TensorInfo]) -> tuple[list[Op], dict[str, TensorInfo]]:
    """A composite op's sub-ops and every tensor they touch (inputs, internals, outputs),
    shapes inferred with the sub-ops' shape rules."""
    env: dict[str, TensorInfo] = {n: t for n, t in zip(op.inputs, ins)}
    subs = _sub_ops(op)
    for s in subs:
        if s.kind in COMPOSITE_KINDS:
            raise _err(op, f"sub-op '{s.name}' is itself a composite ({s.kind})")
        missing = [t for t in s.inputs if t not in env]
        if missing:
            raise _err(op, f"sub-op '{s.name}' reads {missing[0]!r}, which is neither an input of the "
                           "composite nor produced by an earlier sub-op")
        try:
            res = infer(s, [env[t] for t in s.inputs])
        except ShapeError as e:
            raise _err(op, f"sub-op {s.where()}: {e}") from None
        for n, (shape, dt) in zip(s.outputs, res):
            env[n] = TensorInfo(n, shape, dt, "activation")
    return subs, env


def _composite(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    _, env = expand(op, ins)
    out = []
    for o in op.outputs:
        if o not in env or o in op.inputs:
            raise _err(op, f"output {o!r} is not produced by any sub-op")
        out.append((env[o].shape, env[o].dtype))
    return out


# ---------------------------------------------------------------------------------------------
# the table
# ---------------------------------------------------------------------------------------------

OPSET: dict[str, OpDef] = {}


def _def(kind: str, unit: Unit, cost: str, work: Literal["out", "in"], fusable: bool, gpu: float,
         shape: ShapeRule, doc: str, gpu_bytes: Literal["io", "rows"] = "io", count: CountRule | None = None) -> None:
    OPSET[kind] = OpDef(kind, unit, cost, work, fusable, gpu, gpu_bytes, shape, doc, count)


# GEMM-like (systolic arrays). GPU FLOPs come from the GEMM view (2 per MAC), not per element.
_def("linear", "array", "", "out", False, 0.0, _linear, "x[..., K], w[N, K], [bias[N]] -> y[..., N]")
_def("matmul", "array", "", "out", False, 0.0, _matmul,
     "a[..., M, K], b[..., K, N], [addend] -> c[..., M, N] (mm, bmm, matmul, addmm; batch dims broadcast; "
     "attrs transpose_b when b is [..., N, K], beta / alpha for addmm, out_dtype)")
_def("conv2d", "array", "", "out", False, 0.0, _conv(4),
     "x[N, C, H, W], w[F, C/g, R, S], [bias[F]] -> y[N, F, P, Q]; attrs stride, padding, dilation, groups")
_def("conv1d", "array", "", "out", False, 0.0, _conv(3),
     "x[N, C, L], w[F, C/g, R], [bias[F]] -> y[N, F, Lo]; attrs stride, padding, dilation, groups")
_def("sdpa", "array", "", "out", False, 0.0, _sdpa,
     "q[.., L, D], k[.., S, D], v[.., S, Dv], [mask] -> o[.., L, Dv]; attrs is_causal, scale (None = 1/sqrt(D)), "
     "enable_gqa")
_def("attention", "array", "", "out", False, 0.0, _composite,
     "composite attention built by graph passes: attr sub_ops (GEMMs, softmax, masks) over internal tensors")

# element-wise (vector unit), binary / with scalars in attrs (``other``; ``reverse`` = scalar first)
_E = "element-wise"
for _k, _c, _doc in (
    ("add", "add", "a + alpha * b"), ("sub", "add", "a - alpha * b"), ("mul", "mul", "a * b"),
    ("div", "div", "a / b (attr rounding_mode)"), ("remainder", "div", "Python-style a mod b"),
    ("maximum", "compare", "max(a, b)"), ("minimum", "compare", "min(a, b)"),
):
    _def(_k, "vector", _c, "out", True, 1.0, _binary, f"{_E}: {_doc}")
_def("pow", "vector", "mul", "out", True, 1.0, _pow, f"{_E}: a ** b (attr exponent or base for a scalar)")
_def("compare", "vector", "compare", "out", True, 1.0, _compare, f"{_E}: attr op in eq ne lt le gt ge -> bool")
_def("logical", "vector", "compare", "out", True, 1.0, _logical,
     f"{_E}: attr op logical_and/or/xor/not, bitwise_and/or/xor/not")
_def("where", "vector", "compare", "out", True, 1.0, _where,
     f"{_E}: cond ? a : b (scalars in attrs self_value / other)")
_def("masked_fill", "vector", "compare", "out", True, 1.0, _masked_fill, f"{_E}: x, mask, [value] (attr value)")
_def("clamp", "vector", "compare", "out", True, 1.0, _clamp,
     f"{_E}: clamp(x, min, max) (also hardtanh / relu6); tensor bounds listed in attr tensor_bounds")
for _k, _c, _g, _doc in (
    ("neg", "add", 1.0, "-x"), ("abs", "compare", 1.0, "|x|"), ("sign", "compare", 1.0, "sign(x)"),
    ("relu", "relu", 1.0, "max(x, 0)"),
    ("leaky_relu", "default", 2.0, "x > 0 ? x : slope * x (attr negative_slope)"),
    ("round", "compare", 1.0, "attr op in floor ceil round trunc"),
):
    _def(_k, "vector", _c, "out", True, _g, _same, f"{_E}: {_doc}")
_def("cast", "vector", "copy", "out", True, 1.0, _cast, f"{_E}: dtype conversion (attr dtype)")
# floating functions (ints promote to float32). GPU FLOPs per element counted from each formula.
for _k, _c, _g, _doc in (
    ("gelu", "gelu", 8.0, "GELU (attr approximate none / tanh)"),
    ("exp", "exp", 1.0, "e ** x"), ("expm1", "exp", 1.0, "e ** x - 1"), ("tanh", "exp", 1.0, "tanh(x)"),
    ("sigmoid", "exp", 1.0, "1 / (1 + e ** -x)"), ("sqrt", "rsqrt", 1.0, "sqrt(x)"),
    ("rsqrt", "rsqrt", 1.0, "1 / sqrt(x)"),
    ("sin", "exp", 1.0, "sin(x)"), ("cos", "exp", 1.0, "cos(x)"), ("log", "exp", 1.0, "ln(x)"),
    ("log1p", "exp", 1.0, "ln(1 + x)"), ("erf", "exp", 1.0, "erf(x)"),
    ("elu", "exp", 3.0, "x > 0 ? x : alpha * (e ** x - 1) (attr alpha)"),
    ("silu", "silu", 4.0, "x * sigmoid(x): neg, exp, add, div"),
    ("softplus", "softplus", 3.0, "log1p(exp(beta x)) / beta, linear above threshold (attrs beta, threshold)"),
    ("hardswish", "hardswish", 4.0, "x * clamp(x + 3, 0, 6) / 6: add, clamp, 2 mults"),
    ("hardsigmoid", "hardsigmoid", 3.0, "clamp(x / 6 + 1/2, 0, 1): mult, add, clamp"),
):
    _def(_k, "vector", _c, "out", True, _g, _unary_float, f"{_E}: {_doc}")

# row ops, reductions (work counted on inputs[0])
_def("softmax", "vector", "softmax", "in", False, 5.0, _softmax, "softmax along attr dim (attr dtype)")
_def("log_softmax", "vector", "softmax", "in", False, 5.0, _softmax, "log-softmax along attr dim (attr dtype)")
_def("layer_norm", "vector", "layer_norm", "in", False, 8.0, _norm,
     "x, [w], [b]; attrs normalized_shape, eps (has_weight false when only b is given)")
_def("rms_norm", "vector", "rms_norm", "in", False, 4.0, _norm,
     "x, [w]; attrs normalized_shape, eps (None = finfo(dtype).eps): square, mean, rsqrt, 2 mults")
_def("group_norm", "vector", "layer_norm", "in", False, 8.0, _group_norm,
     "x[N, C, ...], [w[C]], [b[C]]; attrs groups, eps")
_def("batch_norm", "vector", "affine", "in", False, 2.0, _batch_norm,
     "inference batch norm: x[N, C, ...], mean[C], var[C], [w[C]], [b[C]] (attrs eps, has_weight, has_bias); "
     "folded into a preceding convolution at trace time when it can be")
_def("reduce", "vector", "reduce", "in", False, 1.0, _reduce,
     "attr op in sum mean max min amax amin any all prod argmax argmin var std (attr correction); attrs dims, "
     "keepdim, dtype")
_def("topk", "vector", "topk", "in", False, 1.0, _topk, "attrs k, dim, largest, sorted -> (values, int64 indices)")
_def("cumsum", "vector", "reduce", "in", False, 1.0, _cumsum, "running sum along attr dim (attr dtype)")
_def("pool", "vector", "reduce", "in", False, 1.0, _pool,
     "attr op max / avg (kernel_size, stride, padding, dilation, ceil_mode, count_include_pad, divisor_override) "
     "or adaptive_avg / adaptive_max (output_size); attr spatial 1 or 2; one compare / add per window element",
     count=_pool_count)
_def("upsample_nearest", "vector", "copy", "out", False, 0.0, _resample, "nearest-neighbour resize to attr output_size")
_def("interpolate", "vector", "interp", "out", False, 7.0, _resample,
     "linear / bilinear resize to attr output_size (attrs mode, align_corners, scales): 4 mults + 3 adds per output")

# indexing
_def("embedding", "vector", "gather", "out", False, 0.0, _embedding, "weight[V, D], indices -> rows", "rows")
_def("embedding_bag", "vector", "gather", "out", False, 1.0, _embedding_bag,
     "weight[V, D], indices[n], offsets[b], [per_sample_weights] -> [b, D]; attrs mode sum / mean / max, "
     "include_last_offset, padding_idx; one accumulate per looked-up element", "rows", count=_bag_count)
_def("gather", "vector", "gather", "out", False, 0.0, _gather, "torch.gather(x, attr dim, index)", "rows")
_def("index_select", "vector", "gather", "out", False, 0.0, _index_select, "x.index_select(attr dim, index)", "rows")
_def("index", "vector", "gather", "out", False, 0.0, _index,
     "advanced indexing x[..., i0, ..., i1] with integer index tensors at attr dims", "rows")
_def("scatter", "vector", "gather", "out", False, 1.0, _scatter,
     "x, index, [src] (attr value); attrs dim, reduce, include_self")

# layout and constants
_def("view", "layout", "", "out", False, 0.0, _view_rule,
     "attr op: a VIEW_OPS sub-op (view / reshape / permute / slice / cat / pad / ...) and its arguments")
_def("const", "const", "", "out", False, 0.0, _const_rule,
     "generated constant: attr op in CONST_OPS (arange, full, zeros, ones, tril, ...), shape, dtype, value")

# composite vector pass
_def("fused", "vector", "default", "out", False, 0.0, _composite,
     "composite element-wise chain built by graph passes: attr sub_ops, run in one vector pass (its work is "
     "the sum of its sub-ops', see vector_work)")

COMPOSITE_KINDS = frozenset({"attention", "fused"})
GEMM_KINDS = frozenset(k for k, d in OPSET.items() if d.unit == "array")


# ---------------------------------------------------------------------------------------------
# queries
# ---------------------------------------------------------------------------------------------


def get(kind: str) -> OpDef:
    """The :class:`OpDef` of ``kind``; an unknown kind is a :class:`WorkloadError` listing the known."""
    d = OPSET.get(kind)
    if d is None:
        raise WorkloadError(f"unknown op kind {kind!r}; known kinds: {', '.join(sorted(OPSET))}")
    return d


def infer(op: Op, ins: Sequence[TensorInfo]) -> list[OutInfo]:
    """Output (shape, dtype) per output of ``op`` given its input infos (:class:`ShapeError` on a
    mismatch, including a wrong number of outputs)."""
    d = get(op.kind)
    try:
        res = d.shape(op, ins)
    except WorkloadError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError, OverflowError,
            RecursionError) as e:
        # a wrong-typed attribute (a list where a name or a number is expected, ...) in a saved graph
        raise ShapeError(f"bad attributes {_attrs_summary(op)}: {type(e).__name__}: {e}") from None
    if len(res) != len(op.outputs):
        if op.kind == "reduce" and len(res) == 1:  # pragma: no cover - defensive
            pass
        raise ShapeError(f"produces {len(res)} output(s), the op lists {len(op.outputs)}")
    return res


def _attrs_summary(op: Op) -> str:
    text = repr(dict(op.attrs))
    return text if len(text) <= 200 else text[:197] + "..."


def _infos(op: Op, graph: Graph | Mapping[str, TensorInfo]) -> tuple[list[TensorInfo], list[TensorInfo]]:
    T = graph.tensors if hasattr(graph, "tensors") else graph  # type: ignore[union-attr]
    return [T[i] for i in op.inputs], [T[o] for o in op.outputs]


def vector_elements(op: Op, graph: Graph | Mapping[str, TensorInfo]) -> int:
    """Element-ops of ``op`` on the vector unit: the sum of its outputs' elements (``work ==
    "out"``) or ``inputs[0]``'s (``"in"``), unless the kind has a ``count`` rule (pooling: one
    per window element; embedding_bag: one per looked-up element). A composite (``fused``)
    counts the sum of its sub-ops'. ``const`` ops and array ops that are not composites count
    their outputs (what a vector-unit fallback would produce); ``view`` ops their outputs (the
    copy a non-free view costs)."""
    d = get(op.kind)
    ins, outs = _infos(op, graph)
    if op.kind in COMPOSITE_KINDS:
        return sum(vector_work(op, graph).values())
    if d.unit == "const":
        return 0
    if d.count is not None:
        return int(d.count(op, ins, outs))
    if d.work == "in" and ins:
        return ins[0].numel
    return sum(t.numel for t in outs)


def vector_work(op: Op, graph: Graph | Mapping[str, TensorInfo]) -> dict[str, int]:
    """Cost class -> element-ops of ``op`` (one entry for a plain vector op; a composite's
    sub-ops summed per class, array sub-ops and free views left out)."""
    d = get(op.kind)
    if op.kind not in COMPOSITE_KINDS:
        return {d.cost or "copy": vector_elements(op, graph)}
    ins, _ = _infos(op, graph)
    subs, env = expand(op, ins)
    out: dict[str, int] = {}
    for s in subs:
        sd = get(s.kind)
        if sd.unit == "array" or sd.unit == "const":
            continue
        if sd.unit == "layout" and VIEW_OPS.get(str(s.attrs.get("op")), "copy") != "copy":
            continue
        cls = sd.cost or "copy"
        out[cls] = out.get(cls, 0) + vector_elements(s, env)
    return dict(sorted(out.items()))
