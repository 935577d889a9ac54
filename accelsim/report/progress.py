"""Progress people can see: a transient status line on stderr while a long step runs.

    with status("tracing gpt2-small", enabled=progress_enabled(None, as_json=False)):
        graph = api.load_graph(...)

The line is drawn by rich on **stderr** only, erased when the step ends, and shown only when
stderr is a terminal -- unless asked for (``--progress`` or ``ACCELSIM_PROGRESS=1``); never
when asked not to (``--no-progress`` or ``ACCELSIM_PROGRESS=0``). stdout is never touched, so
``--json`` output stays machine-readable.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

ENV = "ACCELSIM_PROGRESS"


def progress_enabled(flag: bool | None) -> bool:
    """``flag`` (from ``--progress/--no-progress``) wins; then ``$ACCELSIM_PROGRESS``; then
    whether stderr is a terminal."""
    if flag is not None:
        return flag
    env = os.environ.get(ENV, "").strip().lower()
    if env in ("1", "true", "yes", "on"):
        return True
    if env in ("0", "false", "no", "off"):
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class _Null:
    def update(self, message: str) -> None:
        pass


@contextmanager
def status(message: str, enabled: bool) -> Iterator[Any]:
    """A spinner with ``message`` on stderr for the duration of the block (a no-op when not
    ``enabled``). Yields an object with ``update(message)``."""
    if not enabled:
        yield _Null()
        return
    from rich.console import Console

    con = Console(stderr=True, highlight=False)
    with con.status(message, spinner="dots") as st:
        yield st
