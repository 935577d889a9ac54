"""The `accelsim_budget` pytest fixture."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from accelsim.regress.pytest_plugin import Budget, check_budget

GEMM = "gemm:M=128,N=128,K=128"


def test_within_budget_returns_the_result() -> None:
    r = Budget()("edge-int8", GEMM, max_cycles=10**9, max_latency_s=1.0, min_utilization=0.0)
    assert r["total_cycles"] > 0


def test_over_budget_fails_with_a_readable_message() -> None:
    budget = Budget()
    cycles = budget("edge-int8", GEMM)["total_cycles"]
    with pytest.raises(pytest.fail.Exception) as ei:
        budget("edge-int8", GEMM, set=["dram.bandwidth_gbps=1"], max_cycles=cycles, min_utilization=1.01)
    msg = str(ei.value)
    assert msg.startswith(f"accelsim budget exceeded: {GEMM} on edge-int8 (--set dram.bandwidth_gbps=1):")
    assert "total_cycles" in msg and f"> max_cycles {cycles}" in msg
    assert "mac_utilization" in msg and "< min_utilization 1.01" in msg


def test_bad_input_fails_the_test_cleanly() -> None:
    with pytest.raises(pytest.fail.Exception, match="no such architecture"):
        Budget()("no-such-arch", GEMM)


def test_check_budget_lines() -> None:
    data = {"total_cycles": 120, "latency_s": 2e-6, "array_utilization": {"mac_utilization": 0.4}}
    assert check_budget(data, max_cycles=200, min_utilization=0.3) == []
    assert check_budget(data, max_cycles=100) == ["total_cycles 120 > max_cycles 100 (+20.0 %)"]
    assert check_budget(data, max_energy_j=1.0) == ["energy_j is not reported by this build (needed for max_energy_j)"]


def test_fixture_in_a_pytest_run(tmp_path: Path) -> None:
    """The plugin as users load it (`-p`, standing in for the installed pytest11 entry point)."""
    (tmp_path / "test_budget.py").write_text(textwrap.dedent(f"""
        def test_fits(accelsim_budget):
            assert accelsim_budget("edge-int8", "{GEMM}", max_cycles=10**9)["total_cycles"] > 0

        def test_too_slow(accelsim_budget):
            accelsim_budget("edge-int8", "{GEMM}", max_cycles=10)
    """))
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "OMP_NUM_THREADS": "1"}
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "accelsim.regress.pytest_plugin", "-q",
                        "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path / "test_budget.py")],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "1 failed, 1 passed" in r.stdout
    assert "accelsim budget exceeded" in r.stdout and "> max_cycles 10" in r.stdout
