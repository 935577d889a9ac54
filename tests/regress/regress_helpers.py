"""Regress-test helpers: a tiny suite of GEMM cases written into a directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from builders import BASE_ARCH


def write_suite(d: Path, extra: dict[str, Any] | None = None, cases: list[dict[str, Any]] | None = None) -> Path:
    (d / "tiny.yaml").write_text(yaml.safe_dump(BASE_ARCH, sort_keys=False))
    body: dict[str, Any] = {
        "version": 1,
        "cases": cases if cases is not None else [
            {"name": "gemm-small", "arch": "tiny.yaml", "workload": "gemm:M=64,N=64,K=64"},
            {"name": "gemm-scalesim", "arch": "tiny.yaml", "workload": "gemm:M=128,N=64,K=96",
             "options": {"compat": "scalesim"}},
            {"name": "gemm-slow-dram", "arch": "tiny.yaml", "workload": "gemm:M=256,N=128,K=128",
             "set": ["dram.bandwidth_gbps=4"]},
        ],
        **(extra or {}),
    }
    p = d / "suite.yaml"
    p.write_text(yaml.safe_dump(body, sort_keys=False))
    return p
