"""Every fenced shell command in README.md and docs/*.md runs as written.

Each Markdown file's runnable blocks run in order, in a fresh working directory holding copies
of ``archs/``, ``examples/`` and ``benchmarks/`` (so commands that write, e.g.
``--update-baseline``, never touch the checkout), with this interpreter's ``accelsim`` first on
PATH. A block is a fence tagged ``bash``, ``sh``, ``shell`` or ``console``; each runs with
``bash -euo pipefail``, so any failing command fails the test. An HTML comment right before a
fence changes what happens to it (keep the exceptions rare and visible):

* ``<!-- docs-test: skip (why) -->``   -- not run (a cluster, a GPU, installing packages)
* ``<!-- docs-test: slow -->``         -- run only with ``-m slow`` (.ci/run does)
* ``<!-- docs-test: file NAME -->``    -- the block (any language) is written to NAME first
* ``<!-- docs-test: python -->``       -- a ``python`` block run with this interpreter
* ``<!-- docs-test: exit N -->``       -- the block must exit with status N

The default run executes every file's fast blocks; ``-m slow`` executes each file's blocks in
full (fast and slow, in order).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import ROOT

SHELL_LANGS = {"bash", "sh", "shell", "console"}
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COPIED = ("archs", "examples", "benchmarks")
_MARK = re.compile(r"<!--\s*docs-test:\s*(.*?)\s*-->")
_FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w+-]*)")


@dataclass
class Block:
    file: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    marks: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.file.relative_to(ROOT)}:{self.line}"

    def mark(self, name: str) -> str | None:
        for m in self.marks:
            if m == name or m.startswith(name + " "):
                return m[len(name):].strip()
        return None

    @property
    def runnable(self) -> bool:
        if self.mark("skip") is not None:
            return False
        return self.lang in SHELL_LANGS or self.mark("file") is not None or \
            (self.lang == "python" and self.mark("python") is not None)


def blocks(path: Path) -> list[Block]:
    """Fenced blocks of a Markdown file, with the docs-test marks of the comments before each."""
    out: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    pending: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _FENCE.match(line)
        if m:
            fence, lang = m.group(1), m.group(2).lower()
            j = i + 1
            while j < len(lines) and not lines[j].startswith(fence):
                j += 1
            out.append(Block(path, i + 1, lang, "\n".join(lines[i + 1:j]) + "\n", pending))
            pending = []
            i = j + 1
            continue
        marks = _MARK.findall(line)
        if marks:
            pending = pending + marks
        elif line.strip():
            pending = []  # a mark applies to the next fence only if nothing but blank lines follow
        i += 1
    return out


def _cases(slow: bool) -> list[object]:
    cases: list[object] = []
    for f in FILES:
        bs = [b for b in blocks(f) if b.runnable]
        fast = [b for b in bs if b.mark("slow") is None]
        if slow and len(fast) < len(bs):
            cases.append(pytest.param(f, bs, id=f"{f.relative_to(ROOT)}-all", marks=pytest.mark.slow))
        elif not slow and any(b.lang in SHELL_LANGS or b.lang == "python" for b in fast):
            cases.append(pytest.param(f, fast, id=f"{f.relative_to(ROOT)}-fast"))
    return cases


def _workdir(tmp_path: Path) -> Path:
    wd = tmp_path / "work"
    wd.mkdir()
    for d in COPIED:
        if (ROOT / d).is_dir():
            shutil.copytree(ROOT / d, wd / d, ignore=shutil.ignore_patterns("__pycache__"))
    return wd


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["OMP_NUM_THREADS"] = "1"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _run(bs: list[Block], wd: Path, timeout: int) -> None:
    for b in bs:
        name = b.mark("file")
        if name:
            (wd / name).parent.mkdir(parents=True, exist_ok=True)
            (wd / name).write_text(b.code, encoding="utf-8")
            if b.lang not in SHELL_LANGS and b.mark("python") is None:
                continue
        if b.lang == "python":
            cmd = [sys.executable, "-c", b.code]
        else:
            cmd = ["bash", "-euo", "pipefail", "-c", b.code]
        r = subprocess.run(cmd, cwd=wd, env=_env(), capture_output=True, text=True, timeout=timeout, check=False)
        want = int(b.mark("exit") or 0)
        assert r.returncode == want, (
            f"{b.where}: exit {r.returncode} (expected {want}) running\n{b.code}\n"
            f"--- stdout (tail)\n{r.stdout[-3000:]}\n--- stderr (tail)\n{r.stderr[-3000:]}"
        )


def test_markers_are_well_formed() -> None:
    """Marks are known, each skip says why, and nothing marked is silently ignored."""
    known = ("skip", "slow", "file", "python", "exit")
    for f in FILES:
        for b in blocks(f):
            for m in b.marks:
                assert m.split(" ")[0] in known, f"{b.where}: unknown docs-test mark {m!r}"
                if m.startswith("skip"):
                    assert re.search(r"\(.+\)", m), f"{b.where}: a skip needs a reason in parentheses"


@pytest.mark.parametrize(("path", "bs"), _cases(slow=False))
def test_fast_blocks(path: Path, bs: list[Block], tmp_path: Path) -> None:
    _run(bs, _workdir(tmp_path), timeout=180)


@pytest.mark.parametrize(("path", "bs"), _cases(slow=True))
def test_all_blocks(path: Path, bs: list[Block], tmp_path: Path) -> None:
    _run(bs, _workdir(tmp_path), timeout=1800)
