"""``accelsim run --tp/--pp/--microbatches`` end to end (click's CliRunner)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from accelsim.cli import main


def _run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_run_tp_pp_json() -> None:
    code, out, err = _run("run", "datacenter-bf16", "llama", "--param", "layers=2", "--seq", "8", "--batch", "2",
                          "--tp", "2", "--pp", "2", "--microbatches", "2", "--set", "system.chips=4", "--json",
                          "--no-gpu")
    assert code == 0, err
    d = json.loads(out)
    s = d["system"]
    assert (s["chips"], s["tp"], s["pp"], s["microbatches"]) == (4, 2, 2, 2)
    assert d["workload_meta"]["batch"] == 1  # each micro-batch holds --batch / --microbatches sequences
    assert d["options"]["parallel"] == {"tp": 2, "pp": 2, "microbatches": 2}
    assert {c["kind"] for c in s["collectives"]} == {"all_reduce", "all_gather", "p2p"}
    assert len(s["per_chip"]) == 4 and set(s["link_utilization"])
    assert d["latency_s"] == d["total_cycles"] / (d["clock_ghz"] * 1e9)


def test_run_tp_errors_exit_2() -> None:
    code, _, err = _run("run", "datacenter-bf16", "llama", "--param", "layers=1", "--tp", "2", "-q")
    assert code == 2 and "needs 2 chips" in err and "--set system.chips=2" in err
    code, _, err = _run("run", "datacenter-bf16", "llama", "--param", "layers=1", "--tp", "16", "-q",
                        "--set", "system.chips=16")
    assert code == 2 and "do not split over 16 chips" in err and "Traceback" not in err
    code, _, err = _run("run", "datacenter-bf16", "llama", "--batch", "3", "--microbatches", "2", "-q")
    assert code == 2 and "does not split into --microbatches 2" in err
