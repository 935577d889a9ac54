"""Sweep-test helpers: a tiny architecture file and sweep files written into a directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from builders import BASE_ARCH

#: A GEMM that takes ~0.5 s to map (search) and simulate on a 4x4..7x7 array: slow enough to kill
#: a sweep mid-way, fast enough for 24 points (1024x512x512 took 1.4-3.4 s a point once the
#: mapping search checked candidates in SimPy).
SLOW_GEMM = "gemm:M=4096,N=32,K=32"


def write_arch(d: Path, name: str = "tiny.yaml") -> Path:
    p = d / name
    p.write_text(yaml.safe_dump(BASE_ARCH, sort_keys=False))
    return p


def write_sweep(d: Path, body: dict[str, Any], name: str = "sweep.yaml") -> Path:
    """A sweep file next to a tiny arch file (``base: tiny.yaml`` unless given)."""
    write_arch(d)
    body = {"base": "tiny.yaml", **body}
    p = d / name
    p.write_text(yaml.safe_dump(body, sort_keys=False))
    return p


def kill_sweep_body() -> dict[str, Any]:
    """24 points of ~0.1 s each."""
    return {
        "parameters": {
            "arrays[0].rows": [4, 5, 6],
            "arrays[0].cols": [4, 5, 6, 7],
            "dram.bandwidth_gbps": [16, 32],
        },
        "workloads": [SLOW_GEMM],
    }


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["OMP_NUM_THREADS"] = "1"
    # the kill tests need points that take time: no mapping-cache hits from earlier tests
    env["ACCELSIM_NO_CACHE"] = "1"
    return env
