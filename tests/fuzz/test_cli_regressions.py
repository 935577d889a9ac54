"""The CLI classes of issue 13, one test each: a factory's print() cannot corrupt --json, its
sys.exit() is an error, Rich markup in names is text, outputs are checked before simulating and
written only after the run succeeded, a bad --param is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from accelsim.cli import main

ARCHS = Path(__file__).resolve().parents[2] / "archs"  # as tests/conftest.py's ARCHS
EDGE = str(ARCHS / "edge-int8.yaml")

FACTORY = '''
import sys
import torch
from accelsim.workload import Workload


class Evil(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.add_module("[bold]x[/]", torch.nn.Linear(16, 16))

    def forward(self, x):
        print("forward() chatter")
        return getattr(self, "[bold]x[/]")(x)


def build():
    print("hello from the factory")
    return Workload("[/]evil[red]", Evil(), (torch.randn(4, 16),))


def leave():
    sys.exit(0)
'''


def _run(*args: object) -> Result:
    return CliRunner().invoke(main, ["run", *map(str, args)], catch_exceptions=False)


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    p = tmp_path_factory.mktemp("wl") / "evil.py"
    p.write_text(FACTORY)
    return p


def test_factory_print_does_not_corrupt_json_and_markup_is_text(factory: Path) -> None:
    r = _run(EDGE, f"{factory}:build", "--no-gpu", "--json", "--no-cache")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)  # stdout is the JSON alone
    assert data["workload"] == "[/]evil[red]"
    assert "hello from the factory" in r.stderr
    t = _run(EDGE, f"{factory}:build", "--no-gpu", "--no-cache")
    assert t.exit_code == 0, t.output
    assert "[/]evil[red] on edge-int8" in t.stdout and "[bold]x[/]" in t.stdout


def test_sys_exit_in_a_factory_is_a_workload_error(factory: Path) -> None:
    r = _run(EDGE, f"{factory}:leave", "--no-gpu", "--no-cache")
    assert r.exit_code == 2
    assert f"workload '{factory}:leave' called sys.exit(0) while building" in r.output
    bad = factory.with_name("exits_on_import.py")
    bad.write_text("import sys\nsys.exit(3)\n")
    r = _run(EDGE, f"{bad}:build", "--no-gpu", "--no-cache")
    assert r.exit_code == 2 and "called sys.exit(3) on import" in r.output


def test_unwritable_outputs_are_refused_before_simulating(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "out"
    for args, msg in (
        (["--out", out, "--html", tmp_path / "afile" / "r.html"], "--html"),
        (["--out", tmp_path / "afile" / "sub"], "--out"),
        (["--out", out, "--trace", tmp_path / "afile" / "t.json"], "--trace"),
    ):
        r = _run(EDGE, "gemm:M=8,N=8,K=8", "--no-gpu", *args)
        assert r.exit_code == 2, r.output
        assert f"accelsim: error: {msg} " in r.output and "is not a directory" in r.output
        assert not out.exists()  # nothing half-written
    r = _run(EDGE, "gemm:M=8,N=8,K=8", "--no-gpu", "--out", out, "--html", tmp_path / "r.html", "-q")
    assert r.exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["layers.csv", "ops.csv", "result.json"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left over


def test_a_bad_param_value_is_named() -> None:
    r = _run(EDGE, "gemm:M=8,N=8,K=8", "--no-gpu", "--param", "x=[")
    assert r.exit_code == 2
    assert "--param 'x=[': cannot parse the value as YAML" in r.output
    r = _run(EDGE, "gemm:M=8,N=8,K=8", "--no-gpu", "--param", "=3")
    assert r.exit_code == 2 and "no NAME before '='" in r.output


def test_trace_output_that_cannot_be_written_is_refused(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    r = CliRunner().invoke(main, ["trace", "gemm:M=8,N=8,K=8", "-o", str(tmp_path / "afile" / "g.json")])
    assert r.exit_code == 2 and "-o " in r.output and "is not a directory" in r.output
