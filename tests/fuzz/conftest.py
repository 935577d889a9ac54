"""Fuzz-suite setup: hypothesis profiles, the harness importable by name, and an outcome tally
printed at the end of the run (``pytest -m fuzz`` for the long profile)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.append(_HERE)  # after tests/: `import conftest` stays tests/conftest.py

_COMMON: dict[str, Any] = {
    "deadline": None,  # a case's own time limit is the harness's alarm, not hypothesis'
    "database": None,  # no .hypothesis/ directory in the tree
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    "print_blob": True,
}
#: The default run: a handful of derandomized (reproducible) cases per input kind, seconds in all.
settings.register_profile("quick", max_examples=8, derandomize=True, **_COMMON)
#: By hand: ``pytest -m fuzz`` (hundreds of random cases per kind; ``ACCELSIM_FUZZ_EXAMPLES=N``
#: sets how many per kind, 250 by default).
settings.register_profile("long", max_examples=int(os.environ.get("ACCELSIM_FUZZ_EXAMPLES") or 250), **_COMMON)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from harness import TALLY

    if not TALLY:
        return
    terminalreporter.section("accelsim fuzz outcomes")
    for kind in sorted(TALLY):
        counts = TALLY[kind]
        total = sum(counts.values())
        parts = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        terminalreporter.write_line(f"{kind}: {total} cases ({parts})")
