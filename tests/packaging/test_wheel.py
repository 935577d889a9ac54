"""A non-editable install (a wheel) carries the shipped archs, workloads and GPU profiles and
runs from any directory: built from a copy of the sources, installed into a fresh virtual
environment (its dependencies borrowed from this one's site-packages), run outside the checkout.

Slow (about 30 s: a wheel build plus a traced run); .ci/run runs it with ``-m slow``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import ROOT

SOURCES = ("accelsim", "archs", "workloads", "pyproject.toml", "setup.py", "MANIFEST.in", "README.md")


def _ignore(d: str, names: list[str]) -> list[str]:
    """Bytecode, and an in-place build's accelsim/data (the build hook makes the wheel's own)."""
    drop = [n for n in names if n == "__pycache__" or n.endswith(".pyc")]
    if Path(d).resolve() == (ROOT / "accelsim").resolve() and "data" in names:
        drop.append("data")
    return drop


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert r.returncode == 0, f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
    return r


@pytest.mark.slow
def test_wheel_install_runs_from_anywhere(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        p = ROOT / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=_ignore)
        else:
            shutil.copy2(p, src / name)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "XDG_CACHE_HOME": str(tmp_path / "xdg"),
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels),
          str(src)], tmp_path, env)
    (whl,) = wheels.glob("accelsim-*.whl")

    # A fresh venv; its dependencies come from this interpreter's site-packages via a .pth line
    # (a path, so the editable accelsim's own .pth finder there is not run).
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, env)
    py = venv / "bin" / "python"
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     tmp_path, env).stdout.strip())
    (site / "_borrowed_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", "--no-index", str(whl)],
         tmp_path, env)

    work = tmp_path / "elsewhere"
    work.mkdir()
    exe = str(venv / "bin" / "accelsim")
    where = _run([str(py), "-c", "import accelsim; print(accelsim.__file__)"], work, env).stdout.strip()
    assert where.startswith(str(site)), where  # the installed copy, not the checkout
    assert _run([exe, "--version"], work, env).stdout.strip().startswith("accelsim ")
    archs = _run([exe, "archs"], work, env).stdout
    shipped = sorted(p.stem for p in (ROOT / "archs").glob("*.yaml"))
    assert sorted(line.split()[0] for line in archs.splitlines() if line.strip()) == shipped
    assert "gpt2-tiny" in _run([exe, "workloads"], work, env).stdout
    out = json.loads(_run([exe, "run", "datacenter-bf16", "gpt2-tiny", "--seq", "16", "--json"], work, env).stdout)
    assert out["arch"] == "datacenter-bf16" and out["workload"] == "gpt2-tiny" and out["total_cycles"] > 0
    assert out["gpu"]["latency_s"] > 0  # the packaged GPU profile loaded
    assert out["schema_version"] == 1
    # the JSON Schema of result.json ships as package data, and is the one the models generate
    _run([str(py), "-m", "accelsim.result_schema", "--check"], work, env)
    assert list(work.iterdir()) == []  # nothing written to the working directory
