"""SIGKILL an `accelsim sweep` mid-run, resume it: no committed point is lost or recomputed,
and results.csv is byte-identical to an uninterrupted sweep's."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from accelsim.sweep.runner import InlineExecutor, run_sweep
from accelsim.sweep.spec import load_sweep
from accelsim.sweep.store import Store
from sweep_helpers import kill_sweep_body, subprocess_env, write_sweep


def _sweep_cmd(f: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "accelsim.sweep.cli", str(f), "--out", str(out), "--workers", "1",
            "--quiet", "--no-plots"]


def _committed(db: Path) -> dict[str, float]:
    if not db.exists():
        return {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return dict(conn.execute("SELECT key, finished_at FROM points"))
    except sqlite3.OperationalError:  # schema not created yet
        return {}
    finally:
        conn.close()


def test_sigkill_mid_sweep_then_resume(tmp_path: Path) -> None:
    f = write_sweep(tmp_path, kill_sweep_body())
    out = tmp_path / "killed"
    db = out / "sweep.sqlite"
    proc = subprocess.Popen(_sweep_cmd(f, out), env=subprocess_env(), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        before: dict[str, float] = {}
        while time.monotonic() < deadline and proc.poll() is None:
            before = _committed(db)
            if len(before) >= 3:
                break
            time.sleep(0.005)
        assert proc.poll() is None, f"sweep ended before it could be killed: {proc.communicate()}"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    before = _committed(db)  # everything committed up to the kill
    assert 3 <= len(before) < 24

    done = subprocess.run(_sweep_cmd(f, out), env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with Store(db) as s:
        assert s.count() == 24 and s.count("ok") == 24
        attempts = s.attempts()
        after = {r.key: r.finished_at for r in s.records()}
    # nothing finished before the kill was handed to a worker again, nor rewritten
    assert all(attempts[k] == 1 for k in before)
    assert all(after[k] == t for k, t in before.items())

    ref = tmp_path / "uninterrupted"
    run_sweep(load_sweep(f), ref, executor=InlineExecutor(), plots=False)
    assert (out / "results.csv").read_bytes() == (ref / "results.csv").read_bytes()
