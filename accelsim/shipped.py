"""Where the shipped architectures and workloads are: inside the package when installed from a
wheel (``accelsim/data/archs``, ``accelsim/data/workloads``, copied there at build time by
setup.py), else the repository's top-level ``archs/`` and ``workloads/`` (a source checkout or
an editable install)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import accelsim

_PKG = Path(accelsim.__file__).resolve().parent


def shipped_dir(name: Literal["archs", "workloads"]) -> Path:
    """The directory of the shipped ``archs`` or ``workloads`` (it may not exist in a stripped
    install; callers treat a missing directory as empty)."""
    packaged = _PKG / "data" / name
    if packaged.is_dir():
        return packaged
    return _PKG.parent / name
