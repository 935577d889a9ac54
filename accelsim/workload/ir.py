"""The op IR: an immutable graph of ops over named tensors.

A :class:`Graph` is what tracing a PyTorch model produces and what mapping consumes. It is
plain data (JSON round-trips exactly), so everything after tracing runs without torch.

Canonical op kinds (``Op.kind``) and their operands (``Op.inputs``, tensor names):

GEMM-like (mapped to systolic arrays)
  ``linear``     x[..., K], w[N, K], [bias[N]]            -> y[..., N]
  ``matmul``     a[..., M, K], b[..., K, N], [bias[N]]     -> c[..., M, N]  (mm, bmm, matmul, addmm;
                 batch dims broadcast; attrs ``transpose_b`` when b is given as [..., N, K])
  ``sdpa``       q[B, H, L, D], k[B, H, S, D], v[B, H, S, Dv], [mask] -> o[B, H, L, Dv]
                 attrs ``is_causal``, ``scale`` (None = 1/sqrt(D))
  ``conv2d``     x[N, C, H, W], w[F, C/g, R, S], [bias]    -> y;  attrs stride, padding, dilation, groups
Vector-unit ops
  elementwise: ``add sub mul div neg relu gelu exp tanh sigmoid sqrt rsqrt pow clamp where
  masked_fill compare logical cast`` (``compare``/``logical`` carry attr ``op``; ``gelu`` attr
  ``approximate``; ``cast`` attr ``dtype``; scalar operands live in attrs, e.g. ``other``)
  ``softmax`` (attr dim), ``layer_norm`` (x, [w], [b]; attrs normalized_shape, eps),
  ``reduce`` (attrs op in sum/mean/max/min/any/amax, dims, keepdim), ``topk`` (attrs k, dim,
  largest; outputs values, indices), ``embedding`` (weight, indices), ``gather``, ``scatter``
Layout ops (free or a copy, decided by mapping): ``view`` with attr ``op`` naming the original
  (view/reshape/unsqueeze/squeeze/flatten/expand/permute/transpose/slice/select/split/getitem/
  clone/contiguous/cat/...) and its arguments in attrs.
Constants: ``const`` (arange, full, zeros, ones, tril, ...; the value in attrs or recomputable).

Tensor kinds: ``input`` (model inputs), ``weight`` (parameters and buffers, with ``source`` the
parameter's fully qualified name), ``activation`` (produced by an op), ``const``.
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

GEMM_KINDS = frozenset({"linear", "matmul", "sdpa", "conv2d"})
LAYOUT_KINDS = frozenset({"view", "const"})


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
        return TensorInfo(d["name"], tuple(int(x) for x in d["shape"]), d["dtype"], d["kind"], d.get("source", ""))


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
    def verify(self) -> None:
        """Raise :class:`WorkloadError` unless the graph is well formed."""
        errs: list[str] = []
        defined = {n for n, t in self.tensors.items() if t.kind in ("input", "weight", "const")}
        names: set[str] = set()
        for n, t in self.tensors.items():
            if n != t.name:
                errs.append(f"tensor key '{n}' != name '{t.name}'")
        for i in self.inputs:
            if i not in self.tensors:
                errs.append(f"graph input '{i}' has no tensor")
        for op in self.ops:
            if op.name in names:
                errs.append(f"duplicate op name '{op.name}'")
            names.add(op.name)
            for t in op.inputs:
                if t not in self.tensors:
                    errs.append(f"{op.where()}: input '{t}' is not a tensor")
                elif t not in defined:
                    errs.append(f"{op.where()}: input '{t}' is used before it is produced")
            for t in op.outputs:
                if t not in self.tensors:
                    errs.append(f"{op.where()}: output '{t}' is not a tensor")
                if t in defined and self.tensors.get(t, None) and self.tensors[t].kind != "activation":
                    errs.append(f"{op.where()}: output '{t}' overwrites a {self.tensors[t].kind}")
                defined.add(t)
        for o in self.outputs:
            if o not in defined:
                errs.append(f"graph output '{o}' is never produced")
        if errs:
            raise WorkloadError(f"graph '{self.name}' is malformed:\n  " + "\n  ".join(errs[:20]))

    # -- serialisation -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "accelsim.graph/1",
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
        if d.get("format") != "accelsim.graph/1":
            raise WorkloadError(f"not an accelsim graph (format={d.get('format')!r})")
        tensors = {t["name"]: TensorInfo.from_dict(t) for t in d["tensors"]}
        return Graph(
            d["name"],
            tensors,
            tuple(Op.from_dict(o) for o in d["ops"]),
            tuple(d["inputs"]),
            tuple(d["outputs"]),
            dict(d.get("meta", {})),
        )

    @staticmethod
    def from_json(text: str) -> Graph:
        return Graph.from_dict(json.loads(text))

    def save(self, path: str) -> None:
        with open(path, "w") as f:
            f.write(self.to_json())

    @staticmethod
    def load(path: str) -> Graph:
        try:
            with open(path) as f:
                return Graph.from_json(f.read())
        except (OSError, json.JSONDecodeError, KeyError) as e:
            raise WorkloadError(f"{path}: cannot read graph: {e}") from None
