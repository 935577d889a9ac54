"""The same sweep through a Dask cluster: equal results; a worker killed mid-sweep loses nothing."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from accelsim.sweep.runner import DaskExecutor, InlineExecutor, run_sweep
from accelsim.sweep.spec import load_sweep
from accelsim.sweep.store import PointRecord, Store
from sweep_helpers import kill_sweep_body, write_sweep

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as c:
        yield c


def test_dask_sweep_equals_local_sweep(cluster: object, tmp_path: Path) -> None:
    f = write_sweep(tmp_path, {"parameters": {"arrays[0].rows": [8, 16], "dram.bandwidth_gbps": [8, 16, 32],
                                              "sram.banks": [8, 2]},
                               "workloads": ["gemm:M=64,N=64,K=64"]})
    run_sweep(load_sweep(f), tmp_path / "local", executor=InlineExecutor(), plots=False)
    o = run_sweep(load_sweep(f), tmp_path / "dask", scheduler=cluster.scheduler_address, plots=False)  # type: ignore[attr-defined]
    assert o.computed == 6 and o.count("error") == 6
    assert (tmp_path / "local" / "results.csv").read_bytes() == (tmp_path / "dask" / "results.csv").read_bytes()


def test_worker_killed_mid_sweep_loses_and_duplicates_nothing(cluster: object, tmp_path: Path) -> None:
    f = write_sweep(tmp_path, kill_sweep_body())
    client = distributed.Client(cluster)
    killed: list[str] = []

    def kill_one(rec: PointRecord) -> None:
        if killed or len(seen) < 2:
            seen.append(rec.key)
            return
        busy = {w: ts for w, ts in client.processing().items() if ts}
        if not busy:
            return
        addr = sorted(busy)[0]
        pid = client.run(os.getpid, workers=[addr])[addr]
        os.kill(pid, signal.SIGKILL)
        killed.append(addr)

    seen: list[str] = []
    try:
        ex = DaskExecutor(client)
        o = run_sweep(load_sweep(f), tmp_path / "dask", executor=ex, plots=False, on_result=kill_one)
    finally:
        client.close()
    assert killed, "no worker was busy when the kill was due"
    assert o.count("ok") == 24
    with Store(tmp_path / "dask" / "sweep.sqlite") as s:
        assert s.count() == 24
        rows = s.conn.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM points").fetchone()
        assert rows == (24, 24)
    run_sweep(load_sweep(f), tmp_path / "ref", executor=InlineExecutor(), plots=False)
    assert (tmp_path / "ref" / "results.csv").read_bytes() == (tmp_path / "dask" / "results.csv").read_bytes()
