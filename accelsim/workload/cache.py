"""The trace cache: traced graphs kept on disk, keyed by content, so a repeated run needs no torch.

Tracing a PyTorch workload (importing torch, building the model, ``torch.export``) costs seconds;
loading its graph back from JSON costs milliseconds. :func:`lookup` / :func:`store` are called by
:func:`accelsim.workload.registry.load_graph`, so ``accelsim run``, ``sweep`` and ``regress``
all use the cache; ``--no-cache`` (or ``ACCELSIM_NO_CACHE=1``) turns it off for one process.

Where: ``$XDG_CACHE_HOME/accelsim/graphs`` (``~/.cache/accelsim/graphs`` when
``XDG_CACHE_HOME`` is unset), one ``<key>.json`` file per graph, at most :data:`MAX_BYTES` in all
(least recently used graphs are removed first); ``accelsim cache info`` lists it and
``accelsim cache clear`` empties it.

The key is the SHA-256 of everything the traced graph depends on (:func:`key_inputs`):

* the workload spec and its parameters (canonical JSON; ``--seq 1024`` and the default are two
  entries, both correct);
* the content (SHA-256) of the workload file that defines the name, and of every Python file it
  imports, transitively, from the project: its own directory, the workload directories
  (:func:`~accelsim.workload.registry.workload_dirs`) and the current directory; files it loads
  by path (a ``"name.py"`` string naming a file beside it) and the ``_``-prefixed helper files of
  its directory count as imports;
* the versions of the third-party packages those files import (``torch`` always, plus e.g.
  ``transformers``), and the Python version;
* accelsim's version and the content of its tracer (every ``.py`` file of
  ``accelsim/workload/`` plus ``accelsim/errors.py``), so a new commit of the tracer never reads
  a graph an older one wrote; any other accelsim module a workload file imports is hashed too.

The key is computed without importing the workload file (it is parsed with :mod:`ast`), so a
cache hit never imports torch. Named workloads are located the way the registry discovers them
(workload directories in order, ``*.py`` files sorted, ``_``-prefixed files skipped), reading
each file's ``WORKLOADS = {...}`` literal. When that cannot be decided statically (``WORKLOADS``
built by code, a spec kind the cache does not know) the key is ``None`` and the workload is
traced as if there were no cache: the cache may miss, it never serves a stale graph for a change
it tracks. Not tracked: data files a factory reads at run time and environment variables it
consults -- after changing those, run with ``--no-cache`` or ``accelsim cache clear``.

``--check`` needs weights, which the cache does not hold: it always traces afresh.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import sys
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import accelsim
from accelsim.workload.ir import Graph

__all__ = [
    "CacheInfo",
    "cache_dir",
    "cache_root",
    "clear",
    "enabled",
    "info",
    "key_for",
    "key_inputs",
    "lookup",
    "remove_entries",
    "set_enabled",
    "store",
    "write_atomic",
]

#: Bump when the layout of a cache file changes (old files then simply miss).
FORMAT = "accelsim.trace-cache/1"
ENV_DISABLE = "ACCELSIM_NO_CACHE"
#: Size bound: after a store, the least recently used graphs go until the cache holds at most
#: this many bytes (a gpt2-small graph is ~85 KiB, a 32-layer Llama ~250 KiB).
MAX_BYTES = 1 << 30

_lock = threading.Lock()
_enabled: bool | None = None  # None: follow $ACCELSIM_NO_CACHE
_memo: dict[str, Graph] = {}  # graphs read or written by this process, by key (immutable)
_ACCELSIM_DIR = Path(accelsim.__file__).resolve().parent

#: Import names whose distribution is named differently (for the version lookup).
_DIST_ALIASES = {"yaml": "PyYAML", "sklearn": "scikit-learn", "PIL": "pillow", "cv2": "opencv-python"}


# ---------------------------------------------------------------------------------------------
# switches and locations
# ---------------------------------------------------------------------------------------------


def set_enabled(on: bool | None) -> None:
    """Turn the cache on or off for this process (``None``: back to ``$ACCELSIM_NO_CACHE``)."""
    global _enabled
    _enabled = on


def enabled() -> bool:
    """Whether :func:`lookup` and :func:`store` are active in this process."""
    if _enabled is not None:
        return _enabled
    return os.environ.get(ENV_DISABLE, "").strip().lower() in ("", "0", "false", "no", "off")


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/accelsim`` (default ``~/.cache/accelsim``): the trace cache's
    ``graphs`` and the mapping cache's ``mappings`` (accelsim/mapping/search_cache.py)."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    root = Path(base).expanduser() if base else Path.home() / ".cache"
    return root / "accelsim"


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/accelsim/graphs`` (default ``~/.cache/accelsim/graphs``)."""
    return cache_root() / "graphs"


def write_atomic(d: Path, name: str, text: str, prefix: str = ".") -> Path:
    """Write ``text`` to ``d / name`` through a temporary file in ``d`` renamed into place (a
    reader never sees half a file); the temporary file is removed if writing fails. Raises
    OSError (the caller decides whether an unwritable cache matters)."""
    d.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, d / name)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return d / name


def remove_entries(d: Path) -> tuple[int, int]:
    """Remove every ``*.json`` entry of ``d`` and any temporary file left behind; returns
    (files removed, bytes freed)."""
    n = b = 0
    if not d.is_dir():
        return 0, 0
    for p in list(d.glob("*.json")) + list(d.glob(".*.tmp")):
        try:
            size = p.stat().st_size
            p.unlink()
        except OSError:
            continue
        n += 1
        b += size
    return n, b


# ---------------------------------------------------------------------------------------------
# the key
# ---------------------------------------------------------------------------------------------


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_file_memo: dict[tuple[str, int, int], str] = {}


def _file_digest(p: Path) -> str:
    """SHA-256 of a file's bytes (memoised per path, size and mtime within this process)."""
    st = p.stat()
    k = (str(p), st.st_size, st.st_mtime_ns)
    d = _file_memo.get(k)
    if d is None:
        d = _sha(p.read_bytes())
        _file_memo[k] = d
    return d


def _tracer_digest() -> str:
    """Digest of accelsim's version and its tracer's sources (accelsim/workload/, errors.py)."""
    files = sorted((_ACCELSIM_DIR / "workload").rglob("*.py")) + [_ACCELSIM_DIR / "errors.py"]
    h = hashlib.sha256(accelsim.__version__.encode())
    for f in files:
        if f.is_file():
            h.update(f.relative_to(_ACCELSIM_DIR).as_posix().encode())
            h.update(_file_digest(f).encode())
    return h.hexdigest()


def _dist_version(top: str) -> str:
    """Installed version of the distribution providing import name ``top`` ("?" if unknown)."""
    from importlib import metadata

    for name in (_DIST_ALIASES.get(top, top), top.replace("_", "-")):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        except Exception:  # noqa: BLE001 - a broken dist-info must not break a run
            break
    return "?"


def _imports(tree: ast.AST) -> list[str]:
    """Absolute module names imported anywhere in ``tree`` (``from a.b import c`` gives
    ``a.b`` and ``a.b.c``, since ``c`` may be a submodule)."""
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.append(node.module)
            out.extend(f"{node.module}.{a.name}" for a in node.names if a.name != "*")
    return out


def _find_local(mod: str, roots: Iterable[Path]) -> Path | None:
    """The file of module ``mod`` under one of ``roots`` (a ``.py`` or a package ``__init__``)."""
    parts = mod.split(".")
    for r in roots:
        base = r.joinpath(*parts)
        for cand in (base.with_suffix(".py"), base / "__init__.py"):
            if cand.is_file():
                return cand.resolve()
    return None


@dataclass
class _Sources:
    files: dict[str, str]  # path -> sha256
    packages: dict[str, str]  # import name -> installed version
    dynamic: bool = False  # some file could not be parsed


def _collect_sources(entry: Path) -> _Sources:
    """The entry file and every project file it imports (transitively), plus third-party
    packages' versions. Project roots: the entry's directory, the workload dirs, the cwd."""
    from accelsim.workload.registry import workload_dirs

    roots: list[Path] = []
    for r in (entry.parent, *workload_dirs(), Path.cwd()):
        r = r.resolve()
        if r not in roots:
            roots.append(r)
    src = _Sources({}, {"torch": _dist_version("torch")})
    todo = [entry.resolve()]
    seen: set[Path] = set()
    stdlib = set(getattr(sys, "stdlib_module_names", ()))
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        src.files[str(f)] = _file_digest(f)
        try:
            tree = ast.parse(f.read_bytes(), filename=str(f))
        except (SyntaxError, ValueError):
            src.dynamic = True  # importing it will fail and say why; do not cache
            continue
        # Files loaded by path rather than imported (importlib.util.spec_from_file_location(...,
        # Path(__file__).with_name("_cnn.py"))): any ``"*.py"`` string naming a file beside it,
        # and the directory's ``_``-prefixed helper files, which the registry never loads itself.
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.endswith(".py"):
                cand = f.parent / node.value
                if "\n" not in node.value and cand.is_file():
                    todo.append(cand.resolve())
        todo.extend(h.resolve() for h in sorted(f.parent.glob("_*.py")) if h.name != "__init__.py")
        for mod in _imports(tree):
            top = mod.split(".")[0]
            if top == "accelsim":
                rel = mod.split(".")[1:]
                if rel and rel[0] == "workload":
                    continue  # in the tracer digest
                p = _find_local(".".join(rel), [_ACCELSIM_DIR]) if rel else None
                if p is not None:
                    src.files[str(p)] = _file_digest(p)
                continue
            if top in stdlib or top == "__future__":
                continue
            p = _find_local(mod, roots)
            if p is not None:
                todo.append(p)
            elif _find_local(top, roots) is None and top not in src.packages:
                src.packages[top] = _dist_version(top)
    return src


def _workloads_literal(path: Path) -> set[str] | None:
    """Names in a workload file's top-level ``WORKLOADS = {...}`` dict literal; ``set()`` when
    the file has no ``WORKLOADS``; ``None`` when it cannot be decided without importing it."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, OSError):
        return set()  # the registry skips a file that fails to import
    found: set[str] | None = set()
    for node in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        elif isinstance(node, (ast.AugAssign, ast.Import, ast.ImportFrom)):
            names = [node.target] if isinstance(node, ast.AugAssign) else []
            if any(isinstance(t, ast.Name) and t.id == "WORKLOADS" for t in names):
                return None
            if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == "WORKLOADS" for a in node.names):
                return None
            continue
        if not any(isinstance(t, ast.Name) and t.id == "WORKLOADS" for t in targets):
            # WORKLOADS["x"] = ... or WORKLOADS.update(...) elsewhere: dynamic
            if any(isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id == "WORKLOADS"
                   for t in targets):
                return None
            continue
        if not isinstance(value, ast.Dict) or not all(
            isinstance(k, ast.Constant) and isinstance(k.value, str) for k in value.keys
        ):
            return None
        found = {k.value for k in value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    for sub in ast.walk(tree):  # WORKLOADS.update(...) / .setdefault(...) anywhere
        if (isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name)
                and sub.value.id == "WORKLOADS" and sub.attr in ("update", "setdefault", "__setitem__")):
            return None
    return found


def _named_source(name: str) -> Path | None:
    """The workload file that defines ``name`` as the registry would find it; None if unknown
    or undecidable without importing."""
    from accelsim.workload.registry import workload_dirs

    for d in workload_dirs():
        if not d.is_dir():
            continue
        for f in sorted(d.glob("*.py")):
            if f.name.startswith("_"):
                continue
            names = _workloads_literal(f)
            if names is None:
                return None
            if name in names:
                return f.resolve()
    return None


def _canonical_params(params: Mapping[str, object] | None) -> Any:
    def norm(v: object) -> Any:
        if v is None or isinstance(v, (bool, int, str)):
            return v
        if isinstance(v, float):
            return repr(v)  # exact, and 1.0 stays distinct from 1
        if isinstance(v, (list, tuple)):
            return [norm(x) for x in v]
        if isinstance(v, Mapping):
            return {str(k): norm(x) for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))}
        return f"{type(v).__name__}:{v!r}"

    return {str(k): norm(v) for k, v in sorted((params or {}).items(), key=lambda kv: str(kv[0]))}


def key_inputs(spec: str, params: Mapping[str, object] | None = None) -> dict[str, Any] | None:
    """Everything the graph of ``spec`` with ``params`` depends on, as a JSON-able dict; None
    when the spec cannot be keyed (``gemm:``/``.json`` specs need no cache; see the module
    docstring for the undecidable cases)."""
    from accelsim.workload.registry import _split_file_spec

    spec = spec.strip()
    if spec.startswith("gemm:") or spec.endswith(".json"):
        return None
    base: dict[str, Any] = {
        "format": FORMAT,
        "spec": spec,
        "params": _canonical_params(params),
        "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "accelsim": accelsim.__version__,
        "tracer": _tracer_digest(),
    }
    if spec.startswith("hf:"):
        base["packages"] = {p: _dist_version(p) for p in ("torch", "transformers")}
        return base
    fs = _split_file_spec(spec)
    if fs is not None:
        entry = fs[0].expanduser()
        if not entry.is_file():
            return None
        base["file"] = str(entry.resolve())
    elif ":" in spec:
        return None  # a spec kind this cache does not know
    else:
        entry_or_none = _named_source(spec)
        if entry_or_none is None:
            return None
        entry = entry_or_none
        base["file"] = str(entry)
    try:
        src = _collect_sources(entry)
    except OSError:
        return None
    if src.dynamic:
        return None
    base["sources"] = dict(sorted(src.files.items()))
    base["packages"] = dict(sorted(src.packages.items()))
    return base


def key_for(spec: str, params: Mapping[str, object] | None = None) -> str | None:
    """The cache key (hex SHA-256) of a workload spec, or None when it cannot be cached or the
    cache is off."""
    if not enabled():
        return None
    ki = key_inputs(spec, params)
    if ki is None:
        return None
    return _sha(json.dumps(ki, sort_keys=True, separators=(",", ":")).encode())


# ---------------------------------------------------------------------------------------------
# entries
# ---------------------------------------------------------------------------------------------


def _entry_path(key: str) -> Path:
    return cache_dir() / f"{key}.json"


def lookup(key: str | None) -> Graph | None:
    """The cached graph for ``key``, or None (a missing, unreadable or foreign file is a miss;
    a corrupt one is removed)."""
    if key is None or not enabled():
        return None
    with _lock:
        hit = _memo.get(key)
    if hit is not None:
        return hit
    p = _entry_path(key)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    try:
        doc = json.loads(text)
        if doc.get("format") != FORMAT or doc.get("key") != key:
            raise ValueError("foreign cache file")
        g = Graph.from_dict(doc["graph"])
    except Exception:  # noqa: BLE001 - any damage: drop the entry and trace afresh
        try:
            p.unlink()
        except OSError:
            pass
        return None
    try:
        os.utime(p)  # last use, for `accelsim cache info`
    except OSError:
        pass
    with _lock:
        _memo[key] = g
    return g


def store(key: str | None, graph: Graph, spec: str, params: Mapping[str, object] | None = None, *,
          only_if_missing: bool = False) -> Path | None:
    """Write ``graph`` under ``key`` (atomically: a temporary file renamed into place). An
    unwritable cache directory is not an error: the run goes on without caching."""
    if key is None or not enabled():
        return None
    if only_if_missing and _entry_path(key).is_file():
        return _entry_path(key)
    d = cache_dir()
    doc = {
        "format": FORMAT,
        "key": key,
        "spec": spec,
        "params": _canonical_params(params),
        "workload": graph.name,
        "ops": len(graph.ops),
        "graph": graph.to_dict(),
    }
    text = json.dumps(doc, separators=(",", ":"))
    with _lock:
        try:
            write_atomic(d, _entry_path(key).name, text, prefix=f".{key[:16]}.")
        except OSError:
            return None
        _memo[key] = graph
    _evict(d, keep=key)
    return _entry_path(key)


def _evict(d: Path, keep: str, max_bytes: int | None = None) -> None:
    """Remove least recently used entries (by mtime, which :func:`lookup` refreshes) beyond
    ``max_bytes`` (default :data:`MAX_BYTES`); the entry just written is kept."""
    limit = MAX_BYTES if max_bytes is None else max_bytes
    try:
        entries = [(p.stat().st_mtime, p.stat().st_size, p) for p in d.glob("*.json")]
    except OSError:
        return
    total = sum(size for _, size, _ in entries)
    for _, size, p in sorted(entries, key=lambda e: (e[0], e[2].name)):
        if total <= limit:
            break
        if p.stem == keep:
            continue
        try:
            p.unlink()
            total -= size
        except OSError:
            pass
        with _lock:
            _memo.pop(p.stem, None)


@dataclass(frozen=True)
class CacheInfo:
    """What the cache holds: its directory, and per entry (spec, params, ops, bytes)."""

    directory: Path
    entries: list[dict[str, Any]]

    @property
    def total_bytes(self) -> int:
        return sum(int(e["bytes"]) for e in self.entries)


def info() -> CacheInfo:
    """List the cache's entries (newest use first; unreadable files are listed as such)."""
    d = cache_dir()
    out: list[dict[str, Any]] = []
    if d.is_dir():
        for p in d.glob("*.json"):
            try:
                st = p.stat()
                with p.open("rb") as f:
                    head = f.read(4096).decode("utf-8", "replace")
            except OSError:
                continue
            e: dict[str, Any] = {"key": p.stem, "bytes": st.st_size, "used": st.st_mtime}
            # The metadata fields come before "graph" in the file: parse them from the head.
            for k in ("spec", "workload", "ops"):
                e[k] = _head_field(head, k)
            e["params"] = _head_params(head)
            out.append(e)
    out.sort(key=lambda e: (-e["used"], e["key"]))
    return CacheInfo(d, out)


def _head_field(head: str, k: str) -> Any:
    tag = f'"{k}":'
    i = head.find(tag)
    if i < 0:
        return None
    try:
        return json.JSONDecoder().raw_decode(head, i + len(tag))[0]
    except ValueError:
        return None


def _head_params(head: str) -> dict[str, Any] | None:
    v = _head_field(head, "params")
    return v if isinstance(v, dict) else None


def clear() -> tuple[int, int]:
    """Remove every cache entry; returns (files removed, bytes freed)."""
    with _lock:
        _memo.clear()
    return remove_entries(cache_dir())
