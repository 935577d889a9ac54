"""Named workloads and workload specs.

A *workload file* is any Python file that defines ``WORKLOADS: dict[str, WorkloadFactory]``
(and optionally ``DESCRIPTIONS: dict[str, str]``). A factory takes keyword parameters (e.g.
``seq``, ``batch``) and returns a :class:`Workload`. Files are discovered in the repository's
``workloads/`` directory and in every directory of ``$ACCELSIM_WORKLOADS_DIR`` (``os.pathsep``
separated). See ``workloads/README.md``.

Workload specs understood by :func:`load_graph` / :func:`load_traced`:

* ``gpt2-tiny``                    -- a named workload
* ``path/to/file.py:factory``      -- a factory (function name or ``WORKLOADS`` key) in a file
* ``gemm:M=512,N=768,K=768[,dtype=bf16][,batch=B]`` -- one GEMM ``a[M,K] @ b[K,N]``, built without torch
* ``path/to/graph.json``           -- a saved :class:`~accelsim.workload.ir.Graph`, loaded without torch
* ``hf:<model_type>``              -- a random-init Hugging Face model (``pip install -e '.[hf]'``);
  params override ``transformers.AutoConfig.for_model`` fields, plus ``seq``, ``batch``, ... (see
  :mod:`accelsim.workload.hf`)

Nothing here imports torch at module level: gemm specs and saved graphs work without it.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import importlib.util
import inspect
import os
import sys
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from accelsim.errors import WorkloadError
from accelsim.workload.ir import Graph, Op, TensorInfo

if TYPE_CHECKING:
    from torch import nn

    from accelsim.workload.trace import Traced

__all__ = [
    "Workload",
    "WorkloadFactory",
    "resolve",
    "list_workloads",
    "load_graph",
    "load_traced",
    "workload_dirs",
    "parse_gemm",
    "gemm_graph",
    "weights_needed",
    "GemmSpec",
]


@dataclass(frozen=True, eq=False)  # eq=False: modules and tensors have no value equality
class Workload:
    """A PyTorch module plus example inputs, ready to trace."""

    name: str
    module: nn.Module
    example_inputs: tuple
    meta: dict = field(default_factory=dict)  # e.g. {"seq": 1024, "batch": 1, "tokens": 1024}
    #: keyword inputs of ``module.forward`` (e.g. ``input_ids``, ``attention_mask`` of a Hugging
    #: Face model), passed after ``example_inputs``
    example_kwargs: dict = field(default_factory=dict)


WorkloadFactory = Callable[..., Workload]

_WEIGHTS: contextvars.ContextVar[bool] = contextvars.ContextVar("accelsim_weights_needed", default=True)


def weights_needed() -> bool:
    """Whether the workload being built needs real weights (``load_traced``, e.g. ``--check``) or
    only shapes (``load_graph``): a factory may build on the meta device when this is False, so
    7B-scale shapes trace without allocating weights."""
    return _WEIGHTS.get()

ENV_DIRS = "ACCELSIM_WORKLOADS_DIR"


# ---------------------------------------------------------------------------------------------
# Discovery
# ---------------------------------------------------------------------------------------------


def workload_dirs() -> list[Path]:
    """Directories searched for workload files: the repo's ``workloads/`` then ``$ACCELSIM_WORKLOADS_DIR``."""
    from accelsim.shipped import shipped_dir

    dirs = [shipped_dir("workloads").resolve()]
    for entry in os.environ.get(ENV_DIRS, "").split(os.pathsep):
        if entry.strip():
            dirs.append(Path(entry.strip()).expanduser().resolve())
    out: list[Path] = []
    for d in dirs:
        if d not in out:
            out.append(d)
    return out


_lock = threading.RLock()
_module_cache: dict[Path, tuple[int, ModuleType]] = {}


def _import_file(path: Path) -> ModuleType:
    """Import a Python file by path under a unique module name (cached until it changes)."""
    path = path.resolve()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as e:
        raise WorkloadError(f"workload file {path}: {e.strerror or e}") from None
    with _lock:
        hit = _module_cache.get(path)
        if hit is not None and hit[0] == mtime:
            return hit[1]
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
        stem = "".join(ch if ch.isalnum() else "_" for ch in path.stem)
        modname = f"_accelsim_workload_{stem}_{digest}"
        spec = importlib.util.spec_from_file_location(modname, path)
        if spec is None or spec.loader is None:
            raise WorkloadError(f"workload file {path}: cannot be imported")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[modname] = mod  # dataclasses & pickling look the module up here
        try:
            with contextlib.redirect_stdout(sys.stderr):
                spec.loader.exec_module(mod)
        except SystemExit as e:
            sys.modules.pop(modname, None)
            raise WorkloadError(f"workload file {path}: called sys.exit({e.code!r}) on import") from None
        except Exception as e:  # noqa: BLE001 -- any error in user code
            sys.modules.pop(modname, None)
            raise WorkloadError(f"workload file {path}: import failed: {type(e).__name__}: {e}") from e
        _module_cache[path] = (mtime, mod)
        return mod


@dataclass(frozen=True)
class _Entry:
    name: str
    factory: WorkloadFactory
    description: str
    path: Path


def _discover() -> tuple[dict[str, _Entry], list[str]]:
    """All named workloads, plus messages for workload files that failed to import."""
    entries: dict[str, _Entry] = {}
    errors: list[str] = []
    for d in workload_dirs():
        if not d.is_dir():
            continue
        for f in sorted(d.glob("*.py")):
            if f.name.startswith("_"):
                continue
            try:
                mod = _import_file(f)
            except WorkloadError as e:
                errors.append(str(e))
                continue
            table = getattr(mod, "WORKLOADS", None)
            if table is None:
                continue
            if not isinstance(table, Mapping):
                errors.append(f"workload file {f}: WORKLOADS must be a dict of name -> factory")
                continue
            descs = getattr(mod, "DESCRIPTIONS", {}) or {}
            for name, fac in table.items():
                if not callable(fac):
                    errors.append(f"workload file {f}: WORKLOADS['{name}'] is not callable")
                    continue
                if name in entries and entries[name].path != f.resolve():
                    errors.append(f"workload '{name}' is defined in both {entries[name].path} and {f}; using the first")
                    continue
                desc = descs.get(name) or _first_doc_line(fac) or ""
                entries[name] = _Entry(name, fac, str(desc), f.resolve())
    return entries, errors


def _first_doc_line(fn: Any) -> str:
    doc = inspect.getdoc(fn) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def list_workloads() -> dict[str, str]:
    """Named workloads: name -> one-line description (sorted by name).

    Workload files that fail to import are skipped with a warning.
    """
    entries, errors = _discover()
    for e in errors:
        warnings.warn(e, stacklevel=2)
    return {n: entries[n].description for n in sorted(entries)}


# ---------------------------------------------------------------------------------------------
# resolve()
# ---------------------------------------------------------------------------------------------


def _split_file_spec(spec: str) -> tuple[Path, str | None] | None:
    """``file.py:factory`` or ``file.py`` -> (path, factory); None if ``spec`` is not a file spec."""
    path, sep, fac = spec.rpartition(":")
    if sep and path.endswith(".py"):
        return Path(path), fac or None
    if spec.endswith(".py"):
        return Path(spec), None
    return None


def _coerce(value: Any, like: Any, annotation: Any) -> Any:
    """Coerce string parameter values (from a command line) to the factory's parameter type."""
    if not isinstance(value, str):
        return value
    ann = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    target: type | None = None
    if isinstance(like, bool) or ann == "bool":
        target = bool
    elif isinstance(like, int) or ann == "int":
        target = int
    elif isinstance(like, float) or ann == "float":
        target = float
    if target is None:
        return value
    if target is bool:
        low = value.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected a boolean, got {value!r}")
    return target(value.strip())


def _call_factory(name: str, factory: WorkloadFactory, params: Mapping[str, object] | None) -> Workload:
    params = dict(params or {})
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        sig = None
    kwargs: dict[str, Any] = {}
    if sig is not None:
        accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
        named = {
            n: p
            for n, p in sig.parameters.items()
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        }
        unknown = [k for k in params if k not in named and not accepts_any]
        if unknown:
            accepted = ", ".join(
                f"{n}={p.default!r}" if p.default is not inspect.Parameter.empty else n for n, p in named.items()
            )
            raise WorkloadError(
                f"workload '{name}' has no parameter {', '.join(repr(u) for u in unknown)}; "
                f"it accepts: {accepted or '(none)'}"
            )
        for k, v in params.items():
            p = named.get(k)
            try:
                kwargs[k] = _coerce(v, None if p is None or p.default is inspect.Parameter.empty else p.default,
                                    None if p is None else p.annotation)
            except ValueError as e:
                raise WorkloadError(f"workload '{name}': parameter {k}={v!r}: {e}") from None
        missing = [
            n for n, p in named.items() if p.default is inspect.Parameter.empty and n not in kwargs
        ]
        if missing:
            raise WorkloadError(f"workload '{name}' needs parameter(s): {', '.join(missing)}")
    else:
        kwargs = params
    try:
        # A factory's print() must not corrupt `accelsim run --json` on stdout: send it to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            w = factory(**kwargs)
    except SystemExit as e:  # sys.exit() in user code is an error, not accelsim's exit status
        raise WorkloadError(f"workload '{name}' called sys.exit({e.code!r}) while building") from None
    except WorkloadError:
        raise
    except (ValueError, TypeError) as e:
        raise WorkloadError(f"workload '{name}': {e}") from e
    except ImportError as e:
        raise WorkloadError(f"workload '{name}' needs a missing package: {e}") from e
    except Exception as e:  # noqa: BLE001 -- user code; report it as a workload problem
        raise WorkloadError(f"workload '{name}' failed to build: {type(e).__name__}: {e}") from e
    if not isinstance(w, Workload):
        raise WorkloadError(
            f"workload factory '{name}' returned {type(w).__name__}, expected accelsim.workload.Workload"
        )
    return w


def resolve(spec: str, params: Mapping[str, object] | None = None) -> Workload:
    """Build the :class:`Workload` for a named workload or ``path/to/file.py:factory``.

    ``params`` are keyword arguments for the factory; an unknown name is a :class:`WorkloadError`
    that lists the accepted ones. ``gemm:`` specs and ``*.json`` graphs are not modules: use
    :func:`load_graph` / :func:`load_traced`.
    """
    spec = spec.strip()
    if spec.startswith("hf:"):
        from accelsim.workload.hf import hf_workload

        return hf_workload(spec[3:].strip(), params, weights=weights_needed())
    if spec.startswith("gemm:"):
        raise WorkloadError(f"'{spec}' is a GEMM spec, not a PyTorch workload: use load_graph() or load_traced()")
    if spec.endswith(".json"):
        raise WorkloadError(f"'{spec}' is a saved graph, not a PyTorch workload: use load_graph()")
    fs = _split_file_spec(spec)
    if fs is not None:
        path, fac_name = fs
        if not path.is_file():
            raise WorkloadError(f"workload file '{path}' does not exist")
        mod = _import_file(path)
        table = getattr(mod, "WORKLOADS", None)
        table = dict(table) if isinstance(table, Mapping) else {}
        if fac_name is None:
            if len(table) == 1:
                fac_name = next(iter(table))
            else:
                raise WorkloadError(
                    f"'{spec}': name a factory as '{path}:<factory>' "
                    f"(WORKLOADS: {', '.join(sorted(table)) or 'none'})"
                )
        factory = table.get(fac_name)
        if factory is None:
            obj = getattr(mod, fac_name, None)
            factory = obj if callable(obj) and not isinstance(obj, type) else None
        if factory is None:
            funcs = sorted(
                n for n, o in vars(mod).items()
                if inspect.isfunction(o) and o.__module__ == mod.__name__ and not n.startswith("_")
            )
            raise WorkloadError(
                f"'{path}' has no factory '{fac_name}' (WORKLOADS: {', '.join(sorted(table)) or 'none'}; "
                f"functions: {', '.join(funcs) or 'none'})"
            )
        return _call_factory(f"{path}:{fac_name}", factory, params)
    entries, errors = _discover()
    entry = entries.get(spec)
    if entry is None:
        msg = f"unknown workload '{spec}'; known: {', '.join(sorted(entries)) or '(none)'}"
        msg += "\n  (also: 'path/to/file.py:factory', 'gemm:M=..,N=..,K=..', 'graph.json')"
        if errors:
            msg += "\n  workload files that failed to load:\n    " + "\n    ".join(errors)
        raise WorkloadError(msg)
    return _call_factory(spec, entry.factory, params)


# ---------------------------------------------------------------------------------------------
# gemm: specs (no torch)
# ---------------------------------------------------------------------------------------------

_DTYPES = {
    "fp32": "float32", "f32": "float32", "float32": "float32", "float": "float32",
    "bf16": "bfloat16", "bfloat16": "bfloat16",
    "fp16": "float16", "f16": "float16", "float16": "float16", "half": "float16",
    "int8": "int8", "i8": "int8",
    "fp64": "float64", "float64": "float64",
}  # fmt: skip

_GEMM_FORM = "gemm:M=<int>,N=<int>,K=<int>[,dtype=fp32|bf16|fp16|int8][,batch=<int>]"


@dataclass(frozen=True)
class GemmSpec:
    M: int
    N: int
    K: int
    dtype: str = "float32"
    batch: int = 1

    @property
    def name(self) -> str:
        b = f",batch={self.batch}" if self.batch != 1 else ""
        d = f",dtype={self.dtype}" if self.dtype != "float32" else ""
        return f"gemm:M={self.M},N={self.N},K={self.K}{d}{b}"

    @property
    def out_dtype(self) -> str:
        return "int32" if self.dtype == "int8" else self.dtype


def parse_gemm(spec: str, params: Mapping[str, object] | None = None) -> GemmSpec:
    """Parse ``gemm:M=..,N=..,K=..[,dtype=..][,batch=..]``; ``params`` add or override keys."""
    body = spec.strip()
    if not body.startswith("gemm:"):
        raise WorkloadError(f"'{spec}' is not a gemm spec ({_GEMM_FORM})")
    body = body[len("gemm:"):]
    kv: dict[str, str] = {}
    for part in body.split(","):
        part = part.strip()
        if not part:
            continue
        k, sep, v = part.partition("=")
        k, v = k.strip(), v.strip()
        if not sep or not k or not v:
            raise WorkloadError(f"'{spec}': '{part}' is not KEY=VALUE ({_GEMM_FORM})")
        key = k if k in ("M", "N", "K") else k.lower()
        if key in kv:
            raise WorkloadError(f"'{spec}': '{k}' is given twice")
        kv[key] = v
    for pk, pv in (params or {}).items():
        key = pk if pk in ("M", "N", "K") else str(pk).lower()
        kv[key] = str(pv)
    unknown = sorted(set(kv) - {"M", "N", "K", "dtype", "batch"})
    if unknown:
        raise WorkloadError(f"'{spec}': unknown key(s) {', '.join(unknown)} ({_GEMM_FORM})")
    missing = [k for k in ("M", "N", "K") if k not in kv]
    if missing:
        raise WorkloadError(f"'{spec}': missing {', '.join(missing)} ({_GEMM_FORM})")
    dims: dict[str, int] = {}
    for k in ("M", "N", "K", "batch"):
        if k not in kv:
            continue
        try:
            n = int(kv[k])
        except ValueError:
            raise WorkloadError(f"'{spec}': {k}={kv[k]!r} is not an integer") from None
        if n < 1:
            raise WorkloadError(f"'{spec}': {k}={n} must be positive")
        dims[k] = n
    dt_key = kv.get("dtype", "fp32").lower()
    if dt_key not in _DTYPES:
        raise WorkloadError(f"'{spec}': unknown dtype '{kv['dtype']}' (use {', '.join(sorted(set(_DTYPES)))})")
    return GemmSpec(dims["M"], dims["N"], dims["K"], _DTYPES[dt_key], dims.get("batch", 1))


def gemm_graph(g: GemmSpec) -> Graph:
    """One ``matmul`` op: ``c = a @ b``; a[(B,)M,K] is the input, b[K,N] a weight."""
    lead = (g.batch,) if g.batch != 1 else ()
    tensors = {
        "a": TensorInfo("a", (*lead, g.M, g.K), g.dtype, "input", "a"),
        "b": TensorInfo("b", (g.K, g.N), g.dtype, "weight", "b"),
        "c": TensorInfo("c", (*lead, g.M, g.N), g.out_dtype, "activation"),
    }
    attrs: dict[str, Any] = {}
    if g.out_dtype != g.dtype:
        attrs["out_dtype"] = g.out_dtype
    op = Op("matmul", "matmul", ("a", "b"), ("c",), attrs, module="gemm", target="gemm")
    meta = {"M": g.M, "N": g.N, "K": g.K, "dtype": g.dtype, "batch": g.batch, "tokens": g.M * g.batch}
    graph = Graph(g.name, tensors, (op,), ("a",), ("c",), meta)
    graph.verify()
    return graph


# ---------------------------------------------------------------------------------------------
# load_graph / load_traced
# ---------------------------------------------------------------------------------------------

_graph_cache: dict[tuple[Any, ...], Graph] = {}
_GRAPH_CACHE_SIZE = 8


def _params_key(params: Mapping[str, object] | None) -> tuple[Any, ...]:
    return tuple(sorted((str(k), repr(v)) for k, v in (params or {}).items()))


def load_graph(spec: str, params: Mapping[str, object] | None = None, *, cache: bool = True) -> Graph:
    """The IR graph for any workload spec (see the module docstring).

    ``gemm:`` specs and ``*.json`` files need no torch; anything else is resolved and traced
    (results are cached in memory per spec and params, and on disk by
    :mod:`accelsim.workload.cache`; ``cache=False`` traces afresh).
    """
    spec = spec.strip()
    if spec.startswith("gemm:"):
        return gemm_graph(parse_gemm(spec, params))
    if spec.endswith(".json"):
        if params:
            raise WorkloadError(f"'{spec}' is a saved graph and takes no parameters (got {', '.join(params)})")
        if not Path(spec).is_file():
            if Path(spec).exists():
                raise WorkloadError(f"saved graph '{spec}' is not a regular file")
            raise WorkloadError(f"saved graph '{spec}' does not exist")
        g = Graph.load(spec)
        g.verify()
        return g
    # The on-disk trace cache (accelsim/workload/cache.py): keyed by content without importing
    # the workload file, so a hit needs no torch. ``cache=False`` bypasses it.
    from accelsim.workload import cache as trace_cache

    disk_key = trace_cache.key_for(spec, params) if cache else None
    if disk_key is not None:
        cached = trace_cache.lookup(disk_key)
        if cached is not None:
            return cached
    key = _cache_key(spec, params) if cache else None
    with _lock:
        hit = _graph_cache.get(key) if key is not None else None
    if hit is not None:
        trace_cache.store(disk_key, hit, spec, params, only_if_missing=True)
        return hit
    g = _traced(spec, params, weights=False).graph
    if key is not None:
        with _lock:
            if len(_graph_cache) >= _GRAPH_CACHE_SIZE:
                _graph_cache.pop(next(iter(_graph_cache)))
            _graph_cache[key] = g
    trace_cache.store(disk_key, g, spec, params)
    return g


def _cache_key(spec: str, params: Mapping[str, object] | None) -> tuple[Any, ...] | None:
    """Cache key including the workload file's mtime, so edits are picked up."""
    if spec.startswith("hf:"):
        return (spec, _params_key(params), "hf")
    fs = _split_file_spec(spec)
    try:
        if fs is not None:
            src = fs[0].resolve()
        else:
            entries, _ = _discover()
            if spec not in entries:
                return None
            src = entries[spec].path
        return (spec, _params_key(params), str(src), src.stat().st_mtime_ns)
    except (OSError, WorkloadError):
        return None


def load_traced(spec: str, params: Mapping[str, object] | None = None) -> Traced:
    """Resolve and trace a workload: graph plus parameter and example-input values (needs torch).

    For ``gemm:`` specs the graph is the same as :func:`load_graph`'s, with seeded random values.
    The eager module's outputs are kept in ``Traced.eager_outputs`` (for ``--check``).
    """
    return _traced(spec, params, weights=True)


def _traced(spec: str, params: Mapping[str, object] | None, weights: bool) -> Traced:
    """Resolve and trace; ``weights=False``: only the graph is needed (factories may build on the
    meta device, see :func:`weights_needed`; no eager run)."""
    spec = spec.strip()
    try:
        from accelsim.workload.trace import Traced, trace
    except ImportError as e:  # pragma: no cover - depends on the install
        raise WorkloadError(f"tracing '{spec}' needs PyTorch (pip install 'accelsim[torch]'): {e}") from None
    if spec.startswith("gemm:"):
        return _gemm_traced(parse_gemm(spec, params), Traced)
    if spec.endswith(".json"):
        raise WorkloadError(
            f"'{spec}' is a saved graph without weights; numerics need a traceable workload "
            "(a name, file.py:factory, or gemm: spec)"
        )
    token = _WEIGHTS.set(weights)
    try:
        w = resolve(spec, params)
    finally:
        _WEIGHTS.reset(token)
    meta = {"workload": w.name, **dict(w.meta)}
    return trace(w.module, w.example_inputs, w.name, meta, example_kwargs=dict(w.example_kwargs or {}),
                 eager=weights)


def _gemm_traced(g: GemmSpec, traced_cls: Any) -> Traced:
    import torch

    graph = gemm_graph(g)
    gen = torch.Generator().manual_seed(0)
    a_shape = graph.tensors["a"].shape
    b_shape = graph.tensors["b"].shape
    if g.dtype == "int8":
        a = torch.randint(-128, 128, a_shape, dtype=torch.int8, generator=gen)
        b = torch.randint(-128, 128, b_shape, dtype=torch.int8, generator=gen)
    else:
        dt = getattr(torch, g.dtype)
        a = torch.randn(a_shape, generator=gen).to(dt)
        b = (torch.randn(b_shape, generator=gen) / g.K**0.5).to(dt)
    return traced_cls(graph=graph, params={"b": b}, inputs={"a": a})
