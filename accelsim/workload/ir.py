"""The op IR: an immutable graph of ops over named tensors.

A :class:`Graph` is what tracing a PyTorch model produces and what mapping consumes. It is
plain data (JSON round-trips exactly), so everything after tracing runs without torch.

Every op kind (``Op.kind``) is defined once in :mod:`accelsim.workload.opset` (its shape rule,
unit, cost class, GPU model); ``tests/workload/test_opset.py`` checks that this list names
exactly the kinds of ``OPSET``. Operands are ``Op.inputs`` (tensor names); scalar operands live
in ``Op.attrs`` (e.g. ``other``).

GEMM-like (systolic arrays)
  ``linear``     x[..., K], w[N, K], [bias[N]]            -> y[..., N]
  ``matmul``     a[..., M, K], b[..., K, N], [bias]        -> c[..., M, N]  (mm, bmm, matmul, addmm;
                 batch dims broadcast; attrs ``transpose_b`` when b is given as [..., N, K])
  ``sdpa``       q[B, H, L, D], k[B, H, S, D], v[B, H, S, Dv], [mask] -> o[B, H, L, Dv]
                 attrs ``is_causal``, ``scale`` (None = 1/sqrt(D)), ``enable_gqa``
  ``conv2d``     x[N, C, H, W], w[F, C/g, R, S], [bias]    -> y;  attrs stride, padding, dilation, groups
  ``conv1d``     x[N, C, L], w[F, C/g, R], [bias]          -> y;  attrs as conv2d
  ``attention``  composite (attr ``sub_ops``) built by graph passes
Vector-unit ops
  element-wise: ``add sub mul div remainder pow maximum minimum compare logical where
  masked_fill clamp neg abs sign relu leaky_relu round cast gelu exp expm1 tanh sigmoid sqrt
  rsqrt sin cos log log1p erf elu silu softplus hardswish hardsigmoid``
  (``compare``/``logical``/``round`` carry attr ``op``; ``gelu`` attr ``approximate``; ``cast``
  attr ``dtype``; hardtanh / relu6 are ``clamp``)
  rows and reductions: ``softmax log_softmax layer_norm rms_norm group_norm batch_norm reduce
  topk cumsum pool`` (``reduce`` attr op in sum/mean/max/min/amax/amin/any/all/prod/argmax/
  argmin/var/std; ``pool`` attr op in max/avg/adaptive_avg/adaptive_max)
  resampling: ``upsample_nearest interpolate``
  indexing: ``embedding embedding_bag gather index_select index scatter``
  ``fused``: composite element-wise chain (attr ``sub_ops``) built by graph passes
Layout ops (free or a copy, decided by mapping; see ``opset.VIEW_OPS``): ``view`` with attr
  ``op`` naming the original (view/reshape/unsqueeze/squeeze/flatten/expand/permute/transpose/
  slice/select/split/clone/contiguous/cat/stack/pad/roll/...) and its arguments in attrs.
Constants: ``const`` (arange, full, zeros, ones, tril, ...; the value in attrs or recomputable).

Tensor kinds: ``input`` (model inputs), ``weight`` (parameters and buffers, with ``source`` the
parameter's fully qualified name), ``activation`` (produced by an op), ``const`` (lifted or
folded constants: values computed at trace time from constants, buffers and static shapes).

Saved graphs carry ``"format": "accelsim.graph/2"`` (:data:`GRAPH_FORMAT`); version 1 files (the
same layout) are still read. Loading verifies every op with the opset's shape rules.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from accelsim.errors import WorkloadError

TensorKind = Literal["input", "weight", "activation", "const"]

DTYPE_BYTES: dict[str, int] = {
    "float64": 8,
    "float32": 4,
    "float16": 2,
    "bfloat16": 2,
    "int64": 8,
    "int32": 4,
    "int16": 2,
    "int8": 1,
    "uint8": 1,
    "bool": 1,
}

GEMM_KINDS = frozenset({"linear", "matmul", "sdpa", "conv2d", "conv1d", "attention"})
LAYOUT_KINDS = frozenset({"view", "const"})

#: The graph JSON schema written by :meth:`Graph.to_dict`; :data:`READABLE_FORMATS` are read.
GRAPH_FORMAT = "accelsim.graph/2"
READABLE_FORMATS = ("accelsim.graph/1", "accelsim.graph/2")


def _json_type(v: Any) -> str:
    """What a JSON value is, in JSON's words (for messages)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return "an integer"
    if isinstance(v, float):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, Mapping):
        return "an object"
    if isinstance(v, (list, tuple)):
        return "a list"
    return type(v).__name__


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def document_problems(d: Mapping[str, Any]) -> list[str]:
    """Type problems of a saved graph's JSON document, each with its path (``ops[3].inputs``):
    the top-level keys and every tensor and op field must have the type :meth:`Graph.to_dict`
    writes (a list where a list is expected, an object where an object is, strings, integers).
    Shapes and edges are :meth:`Graph.verify`'s business."""
    probs: list[str] = []

    def names(where: str, v: Any) -> None:
        if not isinstance(v, list):
            probs.append(f"{where}: expected a list of tensor names, got {_json_type(v)}")
            return
        for i, x in enumerate(v):
            if not isinstance(x, str):
                probs.append(f"{where}[{i}]: expected a tensor name (a string), got {_json_type(x)}")

    def field(where: str, obj: Mapping[str, Any], key: str, want: str, required: bool = True) -> None:
        if key not in obj:
            if required:
                probs.append(f"{where}: missing key '{key}'")
            return
        v = obj[key]
        if want == "string" and not isinstance(v, str):
            probs.append(f"{where}.{key}: expected a string, got {_json_type(v)}")
        elif want == "object" and not isinstance(v, Mapping):
            probs.append(f"{where}.{key}: expected an object, got {_json_type(v)}")
        elif want == "names":
            names(f"{where}.{key}", v)
        elif want == "shape":
            if not isinstance(v, list):
                probs.append(f"{where}.{key}: expected a list of integers, got {_json_type(v)}")
            else:
                bad = [x for x in v if not _is_int(x)]
                if bad:
                    probs.append(f"{where}.{key}: {v!r} is not a list of integers ({_json_type(bad[0])} in it)")

    field("graph", d, "name", "string")
    field("graph", d, "meta", "object", required=False)
    field("graph", d, "inputs", "names")
    field("graph", d, "outputs", "names")
    for key, fields in (
        ("tensors", (("name", "string", True), ("shape", "shape", True), ("dtype", "string", True),
                     ("kind", "string", True), ("source", "string", False))),
        ("ops", (("name", "string", True), ("kind", "string", True), ("inputs", "names", True),
                 ("outputs", "names", True), ("attrs", "object", False), ("module", "string", False),
                 ("target", "string", False))),
    ):
        if key not in d:
            probs.append(f"graph: missing key '{key}'")
            continue
        items = d[key]
        if not isinstance(items, list):
            probs.append(f"{key}: expected a list of objects, got {_json_type(items)}")
            continue
        for i, item in enumerate(items):
            label = f"{key}[{i}]"
            if not isinstance(item, Mapping):
                probs.append(f"{label}: expected an object, got {_json_type(item)}")
                continue
            if isinstance(item.get("name"), str):
                label += f" ('{item['name']}')"
            for fname, want, required in fields:
                field(label, item, fname, want, required)
    return probs


#: Graph meta keys accelsim reads as counts (``int(...)``): non-negative integers or null.
_META_COUNTS = ("batch", "tokens", "seq", "kv_len")
#: Keys of ``meta["kv_cache"]`` read as counts.
_KV_COUNTS = ("layers", "kv_heads", "head_dim", "inputs", "outputs")


def meta_problems(meta: Mapping[str, Any]) -> list[str]:
    """Problems with the graph meta keys accelsim itself reads (others are free-form): the
    counts of :data:`_META_COUNTS`, the KV-cache declaration, the causal-mask table."""
    probs: list[str] = []
    for k in _META_COUNTS:
        v = meta.get(k)
        if v is not None and not (_is_int(v) and v >= 0):
            probs.append(f"meta.{k}: expected a non-negative integer, got {v!r}")
    kv = meta.get("kv_cache")
    if kv is not None:
        if not isinstance(kv, Mapping):
            probs.append(f"meta.kv_cache: expected an object, got {_json_type(kv)}")
        else:
            for k in _KV_COUNTS:
                v = kv.get(k)
                if v is not None and not (_is_int(v) and v >= 0):
                    probs.append(f"meta.kv_cache.{k}: expected a non-negative integer, got {v!r}")
            ax = kv.get("axis")
            if ax is not None and not _is_int(ax):
                probs.append(f"meta.kv_cache.axis: expected an integer, got {ax!r}")
    cm = meta.get("causal_masks")
    if cm is not None:
        if isinstance(cm, Mapping):
            if not all(isinstance(v, str) for v in cm.values()):
                probs.append("meta.causal_masks: expected an object of tensor name -> mask kind (strings)")
        elif not (isinstance(cm, list) and all(isinstance(v, str) for v in cm)):
            probs.append(f"meta.causal_masks: expected an object or a list of tensor names, got {_json_type(cm)}")
    return probs


@dataclass(frozen=True)
class TensorInfo:
    """A named tensor: shape, dtype, and where it comes from."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    kind: TensorKind = "activation"
    source: str = ""  # parameter FQN for weights, input name for inputs

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * DTYPE_BYTES.get(self.dtype, 4)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "kind": self.kind,
            "source": self.source,
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> TensorInfo:
        shape = d["shape"]
        if not isinstance(shape, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in shape):
            raise ValueError(f"tensor {d.get('name')!r}: shape {shape!r} is not a list of integers")
        for k in ("name", "dtype", "kind"):
            if not isinstance(d[k], str):
                raise ValueError(f"tensor {d.get('name')!r}: {k} {d[k]!r} is not a string")
        source = d.get("source", "")
        if not isinstance(source, str):
            raise ValueError(f"tensor {d.get('name')!r}: source {source!r} is not a string")
        return TensorInfo(d["name"], tuple(shape), d["dtype"], d["kind"], source)


@dataclass(frozen=True)
class Op:
    """One operation. ``attrs`` values are JSON-able (numbers, strings, lists, None)."""

    name: str
    kind: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)
    module: str = ""  # source module path, e.g. "h.0.attn.c_attn" ("" = top level)
    target: str = ""  # original framework op, e.g. "aten.linear.default"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "attrs": dict(self.attrs),
            "module": self.module,
            "target": self.target,
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> Op:
        for k in ("inputs", "outputs"):
            if not isinstance(d[k], list) or not all(isinstance(x, str) for x in d[k]):
                raise ValueError(f"op {d.get('name')!r}: {k} must be a list of tensor names")
        if not isinstance(d["name"], str) or not isinstance(d["kind"], str):
            raise ValueError(f"op {d.get('name')!r}: name and kind must be strings")
        if not isinstance(d.get("attrs", {}), Mapping):
            raise ValueError(f"op {d.get('name')!r}: attrs must be an object")
        for k in ("module", "target"):
            if not isinstance(d.get(k, ""), str):
                raise ValueError(f"op {d.get('name')!r}: {k} must be a string, got {_json_type(d.get(k))}")
        return Op(
            d["name"],
            d["kind"],
            tuple(d["inputs"]),
            tuple(d["outputs"]),
            dict(d.get("attrs", {})),
            d.get("module", ""),
            d.get("target", ""),
        )

    def where(self) -> str:
        """Human-readable location for error messages."""
        mod = self.module or "<top>"
        tgt = f" ({self.target})" if self.target else ""
        return f"op '{self.name}' [{self.kind}{tgt}] in module '{mod}'"


@dataclass(frozen=True)
class Graph:
    """An immutable op graph; ``ops`` are in a valid topological order."""

    name: str
    tensors: Mapping[str, TensorInfo]
    ops: tuple[Op, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)

    # -- queries ---------------------------------------------------------------
    def tensor(self, name: str) -> TensorInfo:
        return self.tensors[name]

    def producers(self) -> dict[str, Op]:
        """Tensor name -> the op that produces it."""
        return {t: op for op in self.ops for t in op.outputs}

    def consumers(self) -> dict[str, list[Op]]:
        """Tensor name -> ops that read it (in program order)."""
        out: dict[str, list[Op]] = {}
        for op in self.ops:
            for t in op.inputs:
                out.setdefault(t, []).append(op)
        return out

    @property
    def weights(self) -> dict[str, TensorInfo]:
        return {n: t for n, t in self.tensors.items() if t.kind == "weight"}

    def op_counts(self) -> dict[str, int]:
        c: dict[str, int] = {}
        for op in self.ops:
            c[op.kind] = c.get(op.kind, 0) + 1
        return dict(sorted(c.items()))

    # -- checking ----------------------------------------------------------------
    def verify(self, shapes: bool = True) -> None:
        """Raise :class:`WorkloadError` unless the graph is well formed: unique op names, every
        operand a known tensor produced before use (so the op order is topological and the graph
        acyclic), no op overwriting an input / weight / const, every graph output produced, every
        op of a known kind, and (``shapes``) every op's output shapes and dtypes equal to what its
        kind's shape rule (:mod:`accelsim.workload.opset`) gives for its inputs."""
        from accelsim.workload import opset

        errs: list[str] = []
        if not isinstance(self.meta, Mapping):
            errs.append(f"meta: expected an object, got {_json_type(self.meta)}")
        else:
            errs.extend(meta_problems(self.meta))
        for what, ts in (("input", self.inputs), ("output", self.outputs)):
            errs.extend(f"graph {what} {t!r} is not a tensor name" for t in ts if not isinstance(t, str))
        for op in self.ops:
            if not (isinstance(op.module, str) and isinstance(op.target, str)):
                errs.append(f"op {op.name!r}: module and target must be strings")
            errs.extend(f"op {op.name!r}: operand {t!r} is not a tensor name"
                        for t in (*op.inputs, *op.outputs) if not isinstance(t, str))
        if errs:  # the checks below index by these names
            raise WorkloadError(f"graph '{self.name}' is malformed:\n  " + "\n  ".join(errs[:20]))
        defined = {n for n, t in self.tensors.items() if t.kind in ("input", "weight", "const")}
        names: set[str] = set()
        for n, info in self.tensors.items():
            if n != info.name:
                errs.append(f"tensor key '{n}' != name '{info.name}'")
            if any((not isinstance(s, int)) or isinstance(s, bool) or s < 0 for s in info.shape):
                errs.append(f"tensor '{n}' has a bad shape {list(info.shape)}")
            if info.dtype not in DTYPE_BYTES:
                errs.append(f"tensor '{n}' has an unknown dtype '{info.dtype}' (known: {', '.join(DTYPE_BYTES)})")
        for i in self.inputs:
            if i not in self.tensors:
                errs.append(f"graph input '{i}' has no tensor")
            elif self.tensors[i].kind != "input":
                errs.append(f"graph input '{i}' is a {self.tensors[i].kind} tensor")
        for op in self.ops:
            if op.name in names:
                errs.append(f"duplicate op name '{op.name}'")
            names.add(op.name)
            ok = True
            if op.kind not in opset.OPSET:
                errs.append(f"{op.where()}: unknown op kind '{op.kind}'")
                ok = False
            for t in op.inputs:
                if t not in self.tensors:
                    errs.append(f"{op.where()}: input '{t}' is not a tensor")
                    ok = False
                elif t not in defined:
                    errs.append(f"{op.where()}: input '{t}' is used before it is produced")
                    ok = False
            for t in op.outputs:
                if t not in self.tensors:
                    errs.append(f"{op.where()}: output '{t}' is not a tensor")
                    ok = False
                elif t in defined:
                    what = self.tensors[t].kind
                    errs.append(f"{op.where()}: output '{t}' overwrites "
                                + ("an earlier op's output" if what == "activation" else f"a {what} tensor"))
                    ok = False
                defined.add(t)
            if ok and shapes and not errs:
                errs.extend(self._check_shapes(op, opset))
        for o in self.outputs:
            if o not in defined:
                errs.append(f"graph output '{o}' is never produced")
        if errs:
            more = f"\n  ... and {len(errs) - 20} more" if len(errs) > 20 else ""
            raise WorkloadError(f"graph '{self.name}' is malformed:\n  " + "\n  ".join(errs[:20]) + more)

    def _check_shapes(self, op: Op, opset: Any) -> list[str]:
        ins = [self.tensors[t] for t in op.inputs]
        try:
            res = opset.infer(op, ins)
        except WorkloadError as e:
            sig = ", ".join(f"{t.name}{list(t.shape)} {t.dtype}" for t in ins)
            return [f"{op.where()}: {e} (inputs: {sig or 'none'})"]
        out = []
        for name, (shape, dt) in zip(op.outputs, res):
            t = self.tensors[name]
            if tuple(t.shape) != tuple(shape) or t.dtype != dt:
                out.append(f"{op.where()}: output '{name}' is {list(t.shape)} {t.dtype}, but its inputs give "
                           f"{list(shape)} {dt}")
        return out

    # -- serialisation -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": GRAPH_FORMAT,
            "name": self.name,
            "meta": dict(self.meta),
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "tensors": [t.to_dict() for t in self.tensors.values()],
            "ops": [op.to_dict() for op in self.ops],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=False)

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> Graph:
        """Build a graph from :meth:`to_dict` output (not verified: see :meth:`load`)."""
        if not isinstance(d, Mapping):
            raise WorkloadError(f"not an accelsim graph (a JSON {type(d).__name__}, expected an object)")
        fmt = d.get("format")
        if fmt not in READABLE_FORMATS:
            if isinstance(fmt, str) and fmt.startswith("accelsim.graph/"):
                raise WorkloadError(
                    f"graph schema '{fmt}' is newer than this accelsim reads ({', '.join(READABLE_FORMATS)}); "
                    "upgrade accelsim or re-trace the workload")
            raise WorkloadError(f"not an accelsim graph (format={fmt!r}, expected {GRAPH_FORMAT!r})")
        probs = document_problems(d)
        if probs:
            more = f"\n  ... and {len(probs) - 20} more" if len(probs) > 20 else ""
            raise WorkloadError("not a well-formed accelsim graph:\n  " + "\n  ".join(probs[:20]) + more)
        try:
            tensors: dict[str, TensorInfo] = {}
            for t in d["tensors"]:
                info = TensorInfo.from_dict(t)
                if info.name in tensors:
                    raise WorkloadError(f"tensor '{info.name}' is listed twice")
                if info.kind not in ("input", "weight", "activation", "const"):
                    raise WorkloadError(f"tensor '{info.name}' has an unknown kind '{info.kind}'")
                tensors[info.name] = info
            return Graph(
                d["name"],
                tensors,
                tuple(Op.from_dict(o) for o in d["ops"]),
                tuple(d["inputs"]),
                tuple(d["outputs"]),
                dict(d.get("meta", {})),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise WorkloadError(f"not a well-formed accelsim graph: {type(e).__name__}: {e}") from None

    @staticmethod
    def from_json(text: str) -> Graph:
        return Graph.from_dict(json.loads(text))

    def save(self, path: str) -> None:
        with open(path, "w") as f:
            f.write(self.to_json())

    @staticmethod
    def load(path: str, verify: bool = True) -> Graph:
        """Read a saved graph; with ``verify`` (default) refuse one that fails :meth:`verify`
        (e.g. edited weight shapes, a dangling tensor), naming the file, the op and the mismatch."""
        try:
            with open(path) as f:
                g = Graph.from_json(f.read())
        except (OSError, ValueError, KeyError) as e:  # ValueError: bad JSON, bad UTF-8, a huge integer
            raise WorkloadError(f"{path}: cannot read graph: {e}") from None
        except RecursionError:
            raise WorkloadError(f"{path}: cannot read graph: nested too deeply") from None
        except WorkloadError as e:
            raise WorkloadError(f"{path}: {e}") from None
        if verify:
            try:
                g.verify()
            except WorkloadError as e:
                raise WorkloadError(f"{path}: {e}") from None
        return g
