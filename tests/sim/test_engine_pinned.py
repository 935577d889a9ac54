"""The engine's timing, pinned: frozen mapped programs (tests/data/engine_pins/*.json.gz: the
program, its architecture, and the digest of its simulation) must simulate to exactly the
recorded cycles, stalls, intervals and counters (accelsim/sim/pins.py lists what is covered).

The programs are frozen, so a mapper change cannot move these numbers; only the engine can. The
digests were recorded with the engine built on SimPy's stock Resource / Process / all_of
(commit d3fe957) and are reproduced exactly by the lean primitives that replaced them (an
independent implementation of the same scheduling; tests/sim/test_lean.py compares the two on
random scenarios). Re-record with ``python benchmarks/record_engine_pins.py`` only for an
intended change of the simulated timing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.sim.engine import simulate
from accelsim.sim.pins import load_pin, sim_digest
from conftest import DATA

PINS = sorted((DATA / "engine_pins").glob("*.json.gz"))


def test_every_case_is_pinned() -> None:
    names = {p.name.removesuffix(".json.gz") for p in PINS}
    assert len(names) >= 8
    assert {"gpt2-tiny-contended", "partitioned-miswired", "gemm-scalesim"} <= names


@pytest.mark.parametrize("path", PINS, ids=lambda p: p.name.removesuffix(".json.gz"))
def test_engine_reproduces_the_pinned_simulation(path: Path) -> None:
    program, arch, doc = load_pin(path)
    want = doc["expected"]
    got = sim_digest(simulate(program, arch))
    # the headline numbers first, so a failure shows what moved
    assert got["total_cycles"] == want["total_cycles"], doc["source"]
    assert got["timeline"] == want["timeline"]
    assert got["stalls"] == want["stalls"]
    changed = [k for k, v in want["sections"].items() if got["sections"].get(k) != v]
    assert not changed, f"{path.name}: changed sections {changed} ({doc['source']})"
    assert got["digest"] == want["digest"]


def test_the_policy_case_checks_and_records_a_violation() -> None:
    """The pinned partitioned run exercises the residual access policy (the digest covers its
    checks and violations): make sure the frozen program still carries them."""
    program, arch, _ = load_pin(DATA / "engine_pins" / "partitioned-miswired.json.gz")
    out = simulate(program, arch)
    assert out.policy is not None and out.policy.checks > 0
    assert [v.role for v in out.policy.violations] and out.rom_bytes > 0
