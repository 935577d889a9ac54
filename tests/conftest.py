"""Shared test setup: single-threaded numerics (a busy 2-core machine makes torch's
default thread pool 100x slower on tiny ops), and common paths."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

try:  # torch is optional for most tests
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass

ROOT = Path(__file__).resolve().parent.parent
# The trace cache (accelsim/workload/cache.py) lives under $XDG_CACHE_HOME: keep the tests' own
# one inside the checkout (ignored by git) rather than in the user's ~/.cache.
os.environ["XDG_CACHE_HOME"] = str(ROOT / ".pytest_cache" / "xdg")
ARCHS = ROOT / "archs"
DATA = Path(__file__).resolve().parent / "data"
REFERENCE = ROOT.parent / "shared" / "reference"
