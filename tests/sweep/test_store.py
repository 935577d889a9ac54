"""The SQLite store: WAL mode, idempotent inserts, resume skipping finished keys."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from accelsim.sweep import runner
from accelsim.sweep.runner import InlineExecutor, run_sweep
from accelsim.sweep.spec import load_sweep
from accelsim.sweep.store import PointRecord, Store
from sweep_helpers import write_sweep


def _rec(key: str, status: str = "ok", cycles: int = 1) -> PointRecord:
    return PointRecord(key, 0, "w", {"a": 1}, status, {"total_cycles": cycles}, None, "{}", 0.1, 1.0)


def test_wal_mode_and_idempotent_insert(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    with Store(db) as s:
        assert s.journal_mode() == "wal"
        assert s.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert s.put(_rec("k1", cycles=1))
        assert not s.put(_rec("k1", cycles=2))  # already there: ignored
        assert s.get("k1").metrics == {"total_cycles": 1}
        assert s.count() == 1
        # a 'failed' row (internal error) may be replaced by a later run
        assert s.put(_rec("k2", status="failed"))
        assert s.done_keys() == {"k1"}
        assert s.put(_rec("k2", status="ok", cycles=5))
        assert s.get("k2").status == "ok" and s.done_keys() == {"k1", "k2"}
    # committed rows are visible to another connection at once (no explicit commit needed)
    with Store(db) as s2:
        assert s2.count() == 2
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM points").fetchone()[0] == 2
    conn.close()


def test_remove_deletes_wal_companions(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    with Store(db) as s:
        s.put(_rec("k"))
        Store.remove(db)
    assert not db.exists() and not Path(str(db) + "-wal").exists()


class CountingExecutor(InlineExecutor):
    def __init__(self) -> None:
        self.keys: list[str] = []

    def submit(self, task: runner.PointTask) -> object:
        self.keys.append(task.key)
        return super().submit(task)


def test_resume_skips_finished_points(tmp_path: Path) -> None:
    f = write_sweep(tmp_path, {"parameters": {"arrays[0].rows": [8, 16], "dram.bandwidth_gbps": [8, 16]},
                               "workloads": ["gemm:M=64,N=64,K=64"]})
    sweep = load_sweep(f)
    ex = CountingExecutor()
    first = run_sweep(sweep, tmp_path / "out", executor=ex, plots=False)
    assert len(ex.keys) == 4 and first.computed == 4 and first.cached == 0
    csv1 = (tmp_path / "out" / "results.csv").read_bytes()
    ex2 = CountingExecutor()
    second = run_sweep(sweep, tmp_path / "out", executor=ex2, plots=False)
    assert ex2.keys == [] and second.computed == 0 and second.cached == 4
    assert (tmp_path / "out" / "results.csv").read_bytes() == csv1
    # growing the sweep only runs the new points
    f = write_sweep(tmp_path, {"parameters": {"arrays[0].rows": [8, 16, 32], "dram.bandwidth_gbps": [8, 16]},
                               "workloads": ["gemm:M=64,N=64,K=64"]})
    ex3 = CountingExecutor()
    run_sweep(load_sweep(f), tmp_path / "out", executor=ex3, plots=False)
    assert len(ex3.keys) == 2
    # --fresh starts over
    ex4 = CountingExecutor()
    run_sweep(load_sweep(f), tmp_path / "out", executor=ex4, plots=False, resume=False)
    assert len(ex4.keys) == 6
    with Store(tmp_path / "out" / "sweep.sqlite") as s:
        assert s.count() == 6 and all(n == 1 for n in s.attempts().values())


def test_failed_points_are_retried_on_the_next_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = write_sweep(tmp_path, {"parameters": {"arrays[0].rows": [8, 16]}, "workloads": ["gemm:M=64,N=64,K=64"]})
    real = runner.run_point

    def flaky(task: runner.PointTask) -> dict:
        out = real(task)
        if task.arch["arrays"][0]["rows"] == 16:
            return {**out, "status": "failed", "error": "RuntimeError: boom", "result": None, "metrics": None}
        return out

    monkeypatch.setattr(runner, "run_point", flaky)
    o = run_sweep(load_sweep(f), tmp_path / "out", executor=InlineExecutor(), plots=False)
    assert o.count("failed") == 1 and o.count("ok") == 1
    monkeypatch.setattr(runner, "run_point", real)
    ex = CountingExecutor()
    o2 = run_sweep(load_sweep(f), tmp_path / "out", executor=ex, plots=False)
    assert len(ex.keys) == 1 and o2.count("ok") == 2
