"""The mapping cache: GEMM search results kept on disk, so a repeated run does not search again.

The mapping search (:func:`accelsim.mapping.search.search_gemm`) costs most of a run once the
trace is cached (about 1 s per distinct GEMM shape on the default architecture: thousands of
cost-model evaluations and a SimPy check of the small candidates). Its result is a pure function
of the problem, the architecture, the mapping options and accelsim's own code, so the mapper keeps
each result on disk and reads it back when all of those are unchanged.

Where: ``$XDG_CACHE_HOME/accelsim/mappings`` (beside the trace cache's ``graphs``), one
``<key>.json`` per search, at most :data:`MAX_FILES` files (the least recently used go first).
It follows the trace cache's switch: ``--no-cache`` or ``ACCELSIM_NO_CACHE=1`` turns both off;
``accelsim cache info`` / ``accelsim cache clear`` cover both.

The key is the SHA-256 of: the search's own key (problem shape, precisions, operand residency,
objective, tiling caps, verification settings), the digest of the architecture the candidates
are simulated on (its full canonical JSON, plus the mapper's machine description and bank plan),
and the digest of every ``.py`` file of the installed accelsim package (any code change, a new
commit or an edit, misses). A hit returns exactly what the search would have returned, so results
are byte-identical with or without the cache (tested).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import accelsim
from accelsim.model.gemm_cost import GemmCandidate, GemmEstimate
from accelsim.workload import cache as trace_cache

__all__ = ["code_digest", "cache_dir", "lookup", "store", "clear", "info", "MAX_FILES"]

#: Bump when the layout of a cache file changes (old files then miss).
FORMAT = "accelsim.mapping-cache/1"
#: Size bound: after a store that takes the directory past this many files, the least recently
#: used ones are removed down to 90 % of it (an entry is ~2-4 KiB).
MAX_FILES = 20000

_lock = threading.Lock()
_code: str | None = None
_PKG = Path(accelsim.__file__).resolve().parent


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/accelsim/mappings`` (default ``~/.cache/accelsim/mappings``)."""
    return trace_cache.cache_root() / "mappings"


def enabled() -> bool:
    """The trace cache's switch (``--no-cache``, ``ACCELSIM_NO_CACHE``) serves both caches."""
    return trace_cache.enabled()


def code_digest() -> str:
    """SHA-256 over accelsim's version and every ``.py`` file of the package (once per process)."""
    global _code
    if _code is None:
        h = hashlib.sha256(accelsim.__version__.encode())
        for p in sorted(_PKG.rglob("*.py")):
            rel = p.relative_to(_PKG).as_posix()
            h.update(rel.encode() + b"\0")
            try:
                h.update(p.read_bytes())
            except OSError:
                h.update(b"?")
        _code = h.hexdigest()
    return _code


def key_for(search_key: tuple[object, ...], sim_digest: str) -> str:
    blob = json.dumps([FORMAT, code_digest(), sim_digest, repr(search_key)])
    return hashlib.sha256(blob.encode()).hexdigest()


def _encode(res: Any) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "best": asdict(res.best),
        "estimate": asdict(res.estimate),
        "ranked": [[asdict(c), asdict(e)] for c, e in res.ranked],
        "space": res.space,
        "feasible": res.feasible,
        "evaluated": res.evaluated,
        "verified": [[asdict(c), int(cyc)] for c, cyc in res.verified],
    }


_EST_FIELDS = {f.name for f in fields(GemmEstimate)}
_CAND_FIELDS = {f.name for f in fields(GemmCandidate)}


def _cand(d: dict[str, Any]) -> GemmCandidate:
    if set(d) != _CAND_FIELDS:
        raise ValueError("candidate fields")
    return GemmCandidate(**d)


def _est(d: dict[str, Any]) -> GemmEstimate:
    if set(d) != _EST_FIELDS:
        raise ValueError("estimate fields")
    return GemmEstimate(**d)


def _decode(d: dict[str, Any]) -> Any:
    from accelsim.mapping.search import SearchResult

    if d.get("format") != FORMAT:
        raise ValueError("format")
    return SearchResult(
        best=_cand(d["best"]),
        estimate=_est(d["estimate"]),
        ranked=tuple((_cand(c), _est(e)) for c, e in d["ranked"]),
        space=int(d["space"]),
        feasible=int(d["feasible"]),
        evaluated=int(d["evaluated"]),
        verified=tuple((_cand(c), int(cyc)) for c, cyc in d["verified"]),
    )


def lookup(key: str) -> Any | None:
    """The cached :class:`~accelsim.mapping.search.SearchResult` for ``key``, or None (a missing,
    unreadable or malformed entry is a miss; a malformed one is removed)."""
    if not enabled():
        return None
    p = cache_dir() / f"{key}.json"
    try:
        raw = p.read_bytes()
    except OSError:
        return None
    try:
        res = _decode(json.loads(raw))
    except (ValueError, KeyError, TypeError):
        try:
            p.unlink()
        except OSError:
            pass
        return None
    try:
        os.utime(p)  # least recently used first out
    except OSError:
        pass
    return res


def store(key: str, res: Any) -> None:
    """Write ``res`` atomically (a temporary file renamed into place); never raises: a cache that
    cannot be written is a cache that misses."""
    if not enabled():
        return
    d = cache_dir()
    try:
        trace_cache.write_atomic(d, f"{key}.json", json.dumps(_encode(res), separators=(",", ":")))
    except OSError:
        return
    _maybe_evict(d)


def _maybe_evict(d: Path) -> None:
    with _lock:
        try:
            entries = list(d.glob("*.json"))
        except OSError:
            return
        if len(entries) <= MAX_FILES:
            return
        aged = []
        for p in entries:
            try:
                aged.append((p.stat().st_mtime, p.name, p))
            except OSError:
                continue
        aged.sort()
        for _, _, p in aged[: len(aged) - int(MAX_FILES * 0.9)]:
            try:
                p.unlink()
            except OSError:
                pass


def info() -> tuple[Path, int, int]:
    """(directory, entries, bytes)."""
    d = cache_dir()
    n = b = 0
    if d.is_dir():
        for p in d.glob("*.json"):
            try:
                b += p.stat().st_size
            except OSError:
                continue
            n += 1
    return d, n, b


def clear() -> tuple[int, int]:
    """Remove every entry; returns (files removed, bytes freed)."""
    return trace_cache.remove_entries(cache_dir())
