"""The status line: stderr only, on when asked or when stderr is a terminal, never on stdout."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from accelsim.cli import main
from accelsim.report.progress import ENV, progress_enabled, status


def test_progress_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert progress_enabled(True) and not progress_enabled(False)
    monkeypatch.setenv(ENV, "1")
    assert progress_enabled(None) and not progress_enabled(False)
    monkeypatch.setenv(ENV, "0")
    assert not progress_enabled(None) and progress_enabled(True)
    monkeypatch.delenv(ENV)
    assert progress_enabled(None) is False  # pytest's captured stderr is not a terminal
    with status("quiet", False) as st:
        st.update("nothing shown")


def test_forced_status_line_keeps_json_stdout_clean() -> None:
    r = CliRunner().invoke(main, ["run", "edge-int8", "gemm:M=64,N=64,K=64,dtype=int8", "--no-gpu", "--json",
                                  "--progress"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["workload"].startswith("gemm:")
