"""Makes tests/regress/regress_helpers.py importable (the tests use --import-mode=importlib)."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.append(_HERE)  # after tests/: `import conftest` stays tests/conftest.py
