"""Recognise residual-stream port ops by module path (torch-free; see residual.py)."""

from __future__ import annotations

import re

_LAST = re.compile(r"^(?P<access>read|write)_(?P<partition>[A-Za-z0-9_]+)$")


def parse_port(module_path: str) -> tuple[str, str, str] | None:
    """``"h.0.attn.heads.3.write_model"`` -> ``("h.0.attn.heads.3", "write", "model")``;
    ``None`` when the op is not inside a residual port module."""
    role, _, last = module_path.rpartition(".")
    m = _LAST.match(last)
    if not m:
        return None
    return role, m.group("access"), m.group("partition")
