"""The sweep store: one SQLite file (WAL mode), one row per finished point.

Rows are keyed by the point's content hash (architecture, workload graph, run options,
accelsim version; see :func:`accelsim.sweep.runner.point_key`) and committed one at a time as
each point finishes, so a sweep killed at any moment (even SIGKILL) keeps every committed point,
and a re-run skips them. Inserts are idempotent: a key already present is left alone (a point
rescheduled after a worker died writes nothing twice), except rows with status ``failed`` (an
internal error, not a property of the design point), which a later run may replace.

Tables::

    points(key PK, first_index, workload, params JSON, status, metrics JSON, error,
           result JSON, wall_s, finished_at)
    attempts(id, key, started_at)      -- one row each time a point is handed to a worker
    claims(key PK, owner, host, pid, heartbeat)   -- points being computed right now
    meta(name PK, value)

Two sweeps may share one store (two terminals, two cluster jobs): before a point is handed to
a worker its sweep **claims** it (:meth:`Store.claim`, atomic: a key already finished or
claimed by a live sweep is not claimed), and the claim is dropped in the same transaction
that stores the result. A sweep that meets a point claimed by another waits for its result
instead of computing it; a claim whose owner died (its pid is gone on this host, or its
heartbeat is older than :data:`STALE_CLAIM_S` from another host) is taken over.

A file that is not a sweep store (or a damaged one) raises :class:`StoreError` naming
``--fresh``. Only sweep parents write; other processes may read at any time (WAL).
"""

from __future__ import annotations

import functools
import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from accelsim.errors import AccelsimError

__all__ = ["STALE_CLAIM_S", "STATUSES", "PointRecord", "Store", "StoreError"]

#: A claim from another host whose heartbeat is older than this (s) is taken to be dead.
STALE_CLAIM_S = 900.0


class StoreError(AccelsimError):
    """The sweep store cannot be used (not a store, damaged, locked); exit 2."""

#: ``ok``: simulated; ``error``: an invalid design point (spec, workload or mapping error);
#: ``failed``: an internal error or a worker that kept dying (retried on the next run).
STATUSES = ("ok", "error", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    key         TEXT PRIMARY KEY,
    first_index INTEGER NOT NULL,
    workload    TEXT NOT NULL,
    params      TEXT NOT NULL,
    status      TEXT NOT NULL,
    metrics     TEXT,
    error       TEXT,
    result      TEXT,
    wall_s      REAL,
    finished_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS attempts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    key        TEXT NOT NULL,
    started_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_key ON attempts(key);
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value TEXT
);
CREATE TABLE IF NOT EXISTS claims (
    key       TEXT PRIMARY KEY,
    owner     TEXT NOT NULL,
    host      TEXT NOT NULL,
    pid       INTEGER NOT NULL,
    heartbeat REAL NOT NULL
);
"""

_COLUMNS = {
    "points": {"key", "first_index", "workload", "params", "status", "metrics", "error", "result", "wall_s",
               "finished_at"},
    "attempts": {"id", "key", "started_at"},
    "meta": {"name", "value"},
    "claims": {"key", "owner", "host", "pid", "heartbeat"},
}

_F = TypeVar("_F", bound=Callable[..., Any])


def _guard(fn: _F) -> _F:
    """SQLite and JSON errors of a damaged store -> :class:`StoreError` naming ``--fresh``."""

    @functools.wraps(fn)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except (sqlite3.DatabaseError, json.JSONDecodeError) as e:
            raise self._error(e) from None

    return wrapper  # type: ignore[return-value]


@dataclass(frozen=True)
class PointRecord:
    """One finished point as stored."""

    key: str
    first_index: int
    workload: str
    params: dict[str, Any]
    status: str
    metrics: dict[str, Any] | None
    error: str | None
    result: str | None  # result.json text (None for error points)
    wall_s: float | None = None
    finished_at: float = 0.0

    def result_data(self) -> dict[str, Any] | None:
        return None if self.result is None else json.loads(self.result)


def _dumps(x: Any) -> str:
    return json.dumps(x, sort_keys=True, separators=(",", ":"), allow_nan=True)


ClaimState = Literal["claimed", "done", "busy"]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:  # pragma: no cover - e.g. an out-of-range pid
        return False
    return True


class Store:
    """A WAL-mode SQLite store of finished sweep points (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.owner = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:12]}"
        if self.path.exists() and not self.path.is_file():
            raise StoreError(f"{self.path}: is not a file (a sweep store is one SQLite file)")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"{self.path.parent}: cannot create the output directory ({e.strerror or e})") from None
        try:
            # isolation_level=None: autocommit, every statement is its own durable transaction.
            self.conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        except sqlite3.Error as e:
            raise self._error(e) from None
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(_SCHEMA)
            for table, cols in _COLUMNS.items():
                have = {r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")}
                if not cols <= have:
                    raise sqlite3.DatabaseError(f"table {table} lacks column(s) {', '.join(sorted(cols - have))}")
            self.conn.execute("SELECT COUNT(*) FROM points").fetchone()
        except sqlite3.DatabaseError as e:
            self.conn.close()
            raise self._error(e) from None

    def _error(self, e: BaseException) -> StoreError:
        if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
            return StoreError(f"{self.path}: the sweep store stayed locked by another process for 60 s ({e})")
        what = f"{type(e).__name__}: {e}" if not isinstance(e, sqlite3.Error) else str(e)
        return StoreError(f"{self.path}: not a readable sweep store ({what}); rerun with --fresh to start "
                          "over (deletes it and its points)")

    # -- lifecycle
    def close(self) -> None:
        try:
            self.release_all()
        except StoreError:
            pass
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def remove(path: str | Path) -> None:
        """Delete a store file and its WAL/SHM companions (``--fresh``)."""
        p = Path(path)
        for suffix in ("", "-wal", "-shm"):
            q = Path(str(p) + suffix)
            try:
                q.unlink(missing_ok=True)
            except OSError as e:
                raise StoreError(f"{q}: cannot delete the sweep store ({e.strerror or e})") from None

    @_guard
    def journal_mode(self) -> str:
        return str(self.conn.execute("PRAGMA journal_mode").fetchone()[0])

    # -- writes
    @_guard
    def put(self, rec: PointRecord) -> bool:
        """Insert a finished point (and drop this sweep's claim on it, in one transaction);
        returns False (and changes nothing) when the key is already stored with a final status."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            changed = self._insert(rec)
            self.conn.execute("DELETE FROM claims WHERE key = ? AND owner = ?", (rec.key, self.owner))
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        return changed

    def _insert(self, rec: PointRecord) -> bool:
        cur = self.conn.execute(
            """INSERT INTO points (key, first_index, workload, params, status, metrics, error,
                                   result, wall_s, finished_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(key) DO UPDATE SET
                   status=excluded.status, metrics=excluded.metrics, error=excluded.error,
                   result=excluded.result, wall_s=excluded.wall_s, finished_at=excluded.finished_at
               WHERE points.status = 'failed'""",
            (
                rec.key, rec.first_index, rec.workload, _dumps(rec.params), rec.status,
                None if rec.metrics is None else _dumps(rec.metrics), rec.error, rec.result,
                rec.wall_s, rec.finished_at or time.time(),
            ),
        )
        return cur.rowcount > 0

    # -- claims
    @_guard
    def claim(self, key: str) -> ClaimState:
        """Claim ``key`` for this sweep: ``claimed`` (compute it), ``done`` (a final result is
        stored) or ``busy`` (a live sweep is computing it). A dead owner's claim is taken over."""
        now = time.time()
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            if self.conn.execute("SELECT 1 FROM points WHERE key = ? AND status != 'failed'", (key,)).fetchone():
                state: ClaimState = "done"
            else:
                row = self.conn.execute("SELECT owner, host, pid, heartbeat FROM claims WHERE key = ?",
                                        (key,)).fetchone()
                if row is None or row[0] == self.owner or not self._alive(row[1], row[2], row[3]):
                    self.conn.execute(
                        "INSERT INTO claims (key, owner, host, pid, heartbeat) VALUES (?, ?, ?, ?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET owner=excluded.owner, host=excluded.host, "
                        "pid=excluded.pid, heartbeat=excluded.heartbeat",
                        (key, self.owner, self.host, self.pid, now))
                    state = "claimed"
                else:
                    state = "busy"
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        return state

    def _alive(self, host: str, pid: int, heartbeat: float) -> bool:
        if host == self.host:
            return _pid_alive(int(pid))
        return time.time() - float(heartbeat) < STALE_CLAIM_S

    @_guard
    def claims(self) -> dict[str, tuple[str, bool]]:
        """Key -> (owner, owner alive) of every claimed point."""
        return {k: (o, self._alive(h, p, hb))
                for k, o, h, p, hb in self.conn.execute("SELECT key, owner, host, pid, heartbeat FROM claims")}

    @_guard
    def heartbeat(self) -> None:
        """Mark this sweep's claims as alive (read by sweeps on other hosts)."""
        self.conn.execute("UPDATE claims SET heartbeat = ? WHERE owner = ?", (time.time(), self.owner))

    @_guard
    def release(self, key: str) -> None:
        self.conn.execute("DELETE FROM claims WHERE key = ? AND owner = ?", (key, self.owner))

    @_guard
    def release_all(self) -> None:
        """Drop every claim of this sweep (it is ending, finished or not)."""
        self.conn.execute("DELETE FROM claims WHERE owner = ?", (self.owner,))

    @_guard
    def log_attempt(self, key: str) -> None:
        self.conn.execute("INSERT INTO attempts (key, started_at) VALUES (?, ?)", (key, time.time()))

    @_guard
    def set_meta(self, name: str, value: Any) -> None:
        self.conn.execute(
            "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value=excluded.value",
            (name, _dumps(value)),
        )

    # -- reads
    @_guard
    def get_meta(self, name: str) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else json.loads(row[0])

    @_guard
    def done_keys(self) -> set[str]:
        """Keys with a final status (``ok`` or ``error``): a re-run skips them."""
        return {r[0] for r in self.conn.execute("SELECT key FROM points WHERE status != 'failed'")}

    @_guard
    def get_many(self, keys: Iterable[str], with_result: bool = False) -> dict[str, PointRecord]:
        keys = list(dict.fromkeys(keys))
        out: dict[str, PointRecord] = {}
        cols = "key, first_index, workload, params, status, metrics, error, " + (
            "result" if with_result else "NULL") + ", wall_s, finished_at"
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            q = f"SELECT {cols} FROM points WHERE key IN ({','.join('?' * len(chunk))})"
            for row in self.conn.execute(q, chunk):
                out[row[0]] = _record(row)
        return out

    def get(self, key: str, with_result: bool = True) -> PointRecord | None:
        return self.get_many([key], with_result).get(key)

    @_guard
    def records(self) -> list[PointRecord]:
        """All stored points (without result JSON), by first index."""
        q = ("SELECT key, first_index, workload, params, status, metrics, error, NULL, wall_s, "
             "finished_at FROM points ORDER BY first_index, key")
        return [_record(r) for r in self.conn.execute(q)]

    @_guard
    def count(self, status: str | None = None) -> int:
        if status is None:
            return int(self.conn.execute("SELECT COUNT(*) FROM points").fetchone()[0])
        return int(self.conn.execute("SELECT COUNT(*) FROM points WHERE status = ?", (status,)).fetchone()[0])

    @_guard
    def attempts(self) -> dict[str, int]:
        """Key -> how many times the point was handed to a worker."""
        return {k: n for k, n in self.conn.execute("SELECT key, COUNT(*) FROM attempts GROUP BY key")}


def _record(row: tuple[Any, ...]) -> PointRecord:
    key, idx, wl, params, status, metrics, error, result, wall, fin = row
    try:
        return PointRecord(
            key=key, first_index=int(idx), workload=wl, params=json.loads(params), status=status,
            metrics=None if metrics is None else json.loads(metrics), error=error, result=result,
            wall_s=wall, finished_at=fin,
        )
    except (TypeError, ValueError) as e:  # a damaged row
        raise sqlite3.DatabaseError(f"point {str(key)[:16]} is damaged ({e})") from None


def metrics_of(rec: PointRecord | None) -> Mapping[str, Any]:
    return (rec.metrics or {}) if rec is not None else {}
