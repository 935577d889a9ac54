"""Sweeps that cannot lie or leak: every point invalid is an error whatever -q says, a damaged
store names --fresh, a bad scheduler address is refused by name, two sweeps on one store never
compute a point twice, and workers die with a SIGKILLed sweep."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from accelsim.errors import AccelsimError
from accelsim.sweep.cli import sweep
from accelsim.sweep.runner import DaskExecutor, InlineExecutor, check_scheduler_address, run_sweep
from accelsim.sweep.spec import load_sweep
from accelsim.sweep.store import Store, StoreError
from sweep_helpers import SLOW_GEMM, subprocess_env, write_sweep

GEMM = "gemm:M=64,N=64,K=64"


def _sweep(*args: object) -> Result:
    return CliRunner().invoke(sweep, [str(a) for a in args], catch_exceptions=False)


def test_a_sweep_whose_every_point_is_invalid_fails_with_or_without_quiet(tmp_path: Path) -> None:
    # each value is valid on its own, but no combination is: 2 banks while partitions name 8
    f = write_sweep(tmp_path, {"parameters": {"sram.banks": [2, 3]}, "workloads": [GEMM]})
    for quiet in ((), ("-q",)):
        r = _sweep(f, "--out", tmp_path / "out", "--workers", 0, "--no-plots", *quiet)
        assert r.exit_code == 2, r.output
        assert "no point of the sweep could be simulated (2 invalid)" in r.output
        assert "sram.partitions.weights.banks[0]: bank 2 does not exist (2 banks)" in r.output


def test_quiet_does_not_change_the_exit_status_of_a_good_sweep(tmp_path: Path) -> None:
    f = write_sweep(tmp_path, {"parameters": {"sram.banks": [8, 2]}, "workloads": [GEMM]})
    loud = _sweep(f, "--out", tmp_path / "a", "--workers", 0, "--no-plots")
    quiet = _sweep(f, "--out", tmp_path / "b", "--workers", 0, "--no-plots", "-q")
    assert loud.exit_code == quiet.exit_code == 0  # one invalid point of two is a finding, not a failure
    assert "1 ok, 1 error" in quiet.output


def test_a_typo_in_a_parameter_path_is_refused_before_any_point(tmp_path: Path) -> None:
    f = write_sweep(tmp_path, {"parameters": {"arrays[0].rowz": [8, 16]}, "workloads": [GEMM]})
    r = _sweep(f, "--out", tmp_path / "out", "--workers", 0)
    assert r.exit_code == 2
    assert "parameters['arrays[0].rowz']: unknown key 'rowz' in arrays[0]" in r.output
    assert not (tmp_path / "out").exists()


def test_a_damaged_store_names_fresh(tmp_path: Path) -> None:
    f = write_sweep(tmp_path, {"parameters": {"arrays[0].rows": [8]}, "workloads": [GEMM]})
    out = tmp_path / "out"
    out.mkdir()
    (out / "sweep.sqlite").write_bytes(b"this is not a database" * 100)
    r = _sweep(f, "--out", out, "--workers", 0, "--no-plots")
    assert r.exit_code == 2
    assert "sweep.sqlite: not a readable sweep store" in r.output and "--fresh" in r.output
    assert _sweep(f, "--out", out, "--workers", 0, "--no-plots", "--fresh").exit_code == 0
    # a SQLite file of another program
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE points (key TEXT PRIMARY KEY, colour TEXT)")
    conn.close()
    with pytest.raises(StoreError, match=r"table points lacks column.*--fresh"):
        Store(other)
    # a row whose JSON was damaged
    with Store(out / "sweep.sqlite") as s:
        s.conn.execute("UPDATE points SET params = '{broken'")
    with Store(out / "sweep.sqlite") as s, pytest.raises(StoreError, match="is damaged.*--fresh"):
        s.records()


def test_out_must_be_a_directory(tmp_path: Path) -> None:
    f = write_sweep(tmp_path, {"workloads": [GEMM]})
    (tmp_path / "file").write_text("x")
    r = _sweep(f, "--out", tmp_path / "file", "--workers", 0)
    assert r.exit_code == 2 and "is a file" in r.output
    with pytest.raises(AccelsimError, match="exists and is not a directory"):
        run_sweep(load_sweep(f), tmp_path / "file", executor=InlineExecutor(), plots=False)


@pytest.mark.parametrize("address, why", [
    ("8786", "expected SCHEME://HOST:PORT"),
    ("http://host:8786", "unknown scheme 'http'"),
    ("tcp://host:99999", "port 99999 is out of range"),
    ("tcp://two words:1", "expected SCHEME://HOST:PORT"),
])
def test_a_malformed_scheduler_address_is_refused_by_name(tmp_path: Path, address: str, why: str) -> None:
    with pytest.raises(AccelsimError, match=why):
        check_scheduler_address(address)
    f = write_sweep(tmp_path, {"workloads": [GEMM]})
    r = _sweep(f, "--out", tmp_path / "out", "--scheduler", address)
    assert r.exit_code == 2 and f"--scheduler {address!r}" in r.output
    check_scheduler_address("tcp://10.0.0.5:8786")  # well formed
    check_scheduler_address("tls://[::1]:8786")


def test_an_unreachable_scheduler_is_an_error_naming_it() -> None:
    with pytest.raises(AccelsimError, match=r"--scheduler tcp://127.0.0.1:1: cannot connect"):
        DaskExecutor("tcp://127.0.0.1:1", timeout_s=0.5)


def test_two_sweeps_on_one_store_compute_each_point_once(tmp_path: Path) -> None:
    f = write_sweep(tmp_path, {"parameters": {"arrays[0].rows": [16, 32], "dram.bandwidth_gbps": [8, 16, 32]},
                               "workloads": ["gemm:M=128,N=64,K=64", GEMM]})
    out = tmp_path / "out"
    outcomes: list[object] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            outcomes.append(run_sweep(load_sweep(f), out, executor=InlineExecutor(), plots=False))
        except BaseException as e:  # noqa: BLE001 - re-raised in the test thread
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(outcomes) == 2
    with Store(out / "sweep.sqlite") as s:
        assert s.count("ok") == 12
        attempts = s.attempts()
        assert len(attempts) == 12 and all(n == 1 for n in attempts.values()), attempts
        assert s.claims() == {}  # every claim released
    computed = sorted(o.computed for o in outcomes)  # type: ignore[attr-defined]
    assert sum(computed) == 12
    assert all(o.count("ok") == 12 for o in outcomes)  # type: ignore[attr-defined]


def test_a_dead_sweeps_claims_are_taken_over(tmp_path: Path) -> None:
    f = write_sweep(tmp_path, {"parameters": {"arrays[0].rows": [8, 16]}, "workloads": [GEMM]})
    out = tmp_path / "out"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)  # a process that has exited
    sweep_ = load_sweep(f)
    from accelsim.sweep import runner

    with Store(out / "sweep.sqlite") as s:  # a sweep that died holding claims on every point
        s.pid, s.owner = pid, f"{s.host}:{pid}:dead"
        ctx = runner._Context(sweep_, runner._trace_workloads(sweep_), ["w"])
        for p in runner._make_points(ctx, 0, {"arrays[0].rows": 8}, 0) + runner._make_points(
                ctx, 1, {"arrays[0].rows": 16}, 1):
            assert s.claim(p.key) == "claimed"
        s.owner = "not-the-dead-one"  # keep its claims when this connection closes
    o = run_sweep(sweep_, out, executor=InlineExecutor(), plots=False)
    assert o.count("ok") == 2 and o.computed == 2


def _descendants(pid: int) -> list[int]:
    import psutil

    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def test_sigkilled_sweep_leaves_no_worker_behind(tmp_path: Path) -> None:
    import psutil

    f = write_sweep(tmp_path, {"parameters": {"arrays[0].rows": [4, 5, 6, 7]}, "workloads": [SLOW_GEMM]})
    cmd = [sys.executable, "-m", "accelsim.sweep.cli", str(f), "--out", str(tmp_path / "out"), "--workers", "2",
           "-q", "--no-plots"]
    proc = subprocess.Popen(cmd, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            workers = [p for p in _descendants(proc.pid)
                       if "resource_tracker" not in " ".join(psutil.Process(p).cmdline())]
            if len(workers) >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None and len(workers) >= 2, "the pool never started"
        os.kill(proc.pid, signal.SIGKILL)  # the parent alone: its workers must follow
        proc.wait(timeout=10)
        deadline = time.monotonic() + 15
        alive = workers
        while alive and time.monotonic() < deadline:
            alive = [p for p in alive if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
            time.sleep(0.05)
        assert not alive, f"workers {alive} outlived their SIGKILLed sweep"
    finally:
        for p in [proc.pid, *workers]:  # only processes this test started
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()
