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
    meta(name PK, value)

Only the sweep's parent process writes; other processes may read at any time (WAL).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PointRecord", "Store", "STATUSES"]

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
"""


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


class Store:
    """A WAL-mode SQLite store of finished sweep points (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit, every statement is its own durable transaction.
        self.conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(_SCHEMA)

    # -- lifecycle
    def close(self) -> None:
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
            Path(str(p) + suffix).unlink(missing_ok=True)

    def journal_mode(self) -> str:
        return str(self.conn.execute("PRAGMA journal_mode").fetchone()[0])

    # -- writes
    def put(self, rec: PointRecord) -> bool:
        """Insert a finished point; returns False (and changes nothing) when the key is
        already stored with a final status."""
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

    def log_attempt(self, key: str) -> None:
        self.conn.execute("INSERT INTO attempts (key, started_at) VALUES (?, ?)", (key, time.time()))

    def set_meta(self, name: str, value: Any) -> None:
        self.conn.execute(
            "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value=excluded.value",
            (name, _dumps(value)),
        )

    # -- reads
    def get_meta(self, name: str) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else json.loads(row[0])

    def done_keys(self) -> set[str]:
        """Keys with a final status (``ok`` or ``error``): a re-run skips them."""
        return {r[0] for r in self.conn.execute("SELECT key FROM points WHERE status != 'failed'")}

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

    def records(self) -> list[PointRecord]:
        """All stored points (without result JSON), by first index."""
        q = ("SELECT key, first_index, workload, params, status, metrics, error, NULL, wall_s, "
             "finished_at FROM points ORDER BY first_index, key")
        return [_record(r) for r in self.conn.execute(q)]

    def count(self, status: str | None = None) -> int:
        if status is None:
            return int(self.conn.execute("SELECT COUNT(*) FROM points").fetchone()[0])
        return int(self.conn.execute("SELECT COUNT(*) FROM points WHERE status = ?", (status,)).fetchone()[0])

    def attempts(self) -> dict[str, int]:
        """Key -> how many times the point was handed to a worker."""
        return {k: n for k, n in self.conn.execute("SELECT key, COUNT(*) FROM attempts GROUP BY key")}


def _record(row: tuple[Any, ...]) -> PointRecord:
    key, idx, wl, params, status, metrics, error, result, wall, fin = row
    return PointRecord(
        key=key, first_index=idx, workload=wl, params=json.loads(params), status=status,
        metrics=None if metrics is None else json.loads(metrics), error=error, result=result,
        wall_s=wall, finished_at=fin,
    )


def metrics_of(rec: PointRecord | None) -> Mapping[str, Any]:
    return (rec.metrics or {}) if rec is not None else {}
