"""The trace cache (accelsim/workload/cache.py): hit, miss on a source change, --no-cache, a
byte-identical result from a cached graph, and no torch import on a cached run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from accelsim import api
from accelsim.workload import cache

pytest.importorskip("torch")

MODEL = """
import torch
from torch import nn
from accelsim.workload.registry import Workload
{extra}

def build(width: int = 32) -> Workload:
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(16, width), nn.ReLU(), nn.Linear(width, 8)).eval()
    return Workload("tiny-mlp", m, (torch.randn(4, 16),), {{"batch": 4}})

WORKLOADS = {{"tiny-mlp": build}}
"""


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    monkeypatch.delenv(cache.ENV_DISABLE, raising=False)
    cache.set_enabled(None)
    cache.clear()
    yield home
    cache.set_enabled(None)
    cache.clear()


def _model(tmp_path: Path, extra: str = "", name: str = "mymodel.py") -> Path:
    p = tmp_path / name
    p.write_text(MODEL.format(extra=extra))
    return p


def _entries(home: Path) -> list[Path]:
    d = home / "accelsim" / "graphs"
    return sorted(d.glob("*.json")) if d.is_dir() else []


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(home), "OMP_NUM_THREADS": "1"}
    env.pop(cache.ENV_DISABLE, None)
    return env


def test_cached_graph_gives_byte_identical_result(cache_home: Path) -> None:
    """gpt2-tiny traced afresh vs read back from its cache file: the same result.json bytes."""
    arch = api.load_arch("edge-int8")
    opts = api.RunOptions(gpu=None)
    fresh = api.load_graph("gpt2-tiny", {"seq": 16}, cache=False)
    assert _entries(cache_home) == []  # cache=False neither reads nor writes
    key = cache.key_for("gpt2-tiny", {"seq": 16})
    assert cache.store(key, fresh, "gpt2-tiny", {"seq": 16}) is not None
    (entry,) = _entries(cache_home)
    assert entry.stem == key
    cache._memo.clear()  # the lookup must parse the file, as a new process would
    from_disk = cache.lookup(key)
    assert from_disk is not None and from_disk is not fresh
    assert api.load_graph("gpt2-tiny", {"seq": 16}) is from_disk  # load_graph now hits
    a = api.simulate(arch, fresh, opts).to_json()
    b = api.simulate(arch, from_disk, opts).to_json()
    assert a == b


def test_key_changes_with_the_source_and_its_imports(tmp_path: Path, cache_home: Path) -> None:
    helper = tmp_path / "myhelpers.py"
    helper.write_text("WIDTH = 32\n")
    f = _model(tmp_path, extra="import myhelpers")
    spec = f"{f}:build"
    k1 = cache.key_for(spec)
    assert k1 is not None and k1 == cache.key_for(spec)
    assert cache.key_for(spec, {"width": 64}) not in (None, k1)  # parameters are in the key
    ki = cache.key_inputs(spec)
    assert ki is not None and str(helper.resolve()) in ki["sources"]  # the imported file is hashed
    assert "torch" in ki["packages"]
    helper.write_text("WIDTH = 33\n")
    k2 = cache.key_for(spec)
    assert k2 not in (None, k1)
    f.write_text(f.read_text() + "\n# an edit\n")
    k3 = cache.key_for(spec)
    assert k3 not in (None, k1, k2)
    # A helper loaded by path (not imported) and a "_"-prefixed sibling are in the key too.
    (tmp_path / "weights.py").write_text("SCALE = 1\n")
    f.write_text(f.read_text() + "\nHELPER = 'weights.py'\n")
    k4 = cache.key_for(spec)
    (tmp_path / "weights.py").write_text("SCALE = 2\n")
    assert cache.key_for(spec) not in (None, k3, k4)
    k5 = cache.key_for(spec)
    (tmp_path / "_shared.py").write_text("X = 1\n")
    assert cache.key_for(spec) not in (None, k5)


def test_key_is_computed_without_importing_the_workload(tmp_path: Path, cache_home: Path) -> None:
    f = _model(tmp_path, extra="raise RuntimeError('imported!')")
    assert cache.key_for(f"{f}:build") is not None
    # A named workload is found from the WORKLOADS literal, without importing any file.
    assert cache.key_inputs("gpt2-tiny")["file"].endswith("gpt2.py")  # type: ignore[index]


def test_undecidable_workloads_are_not_cached(tmp_path: Path, cache_home: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "wl"
    d.mkdir()
    (d / "dyn.py").write_text("WORKLOADS = dict(make())\n")
    monkeypatch.setenv("ACCELSIM_WORKLOADS_DIR", str(d))
    # The shipped dir comes first and its literal WORKLOADS decide gpt2-tiny ...
    assert cache.key_for("gpt2-tiny") is not None
    # ... but a name not found there could be defined by dyn.py: no key, no caching.
    assert cache.key_for("not-in-any-literal") is None
    assert cache.key_for("gemm:M=8,N=8,K=8") is None


def test_hit_miss_and_no_cache(tmp_path: Path, cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run after a trace hits the cache (in a new process that imports no torch, with the same
    result.json bytes); --no-cache and ACCELSIM_NO_CACHE write nothing; an edit misses."""
    from click.testing import CliRunner

    from accelsim.cli import main

    f = _model(tmp_path)
    spec = f"{f}:build"
    args = ["run", "edge-int8", spec, "--no-gpu"]
    runner = CliRunner()
    r = runner.invoke(main, [*args, "--no-cache", "--out", str(tmp_path / "a")])
    cache.set_enabled(None)  # the flag switched the cache off for this (test) process
    assert r.exit_code == 0, r.output
    assert _entries(cache_home) == []
    monkeypatch.setenv(cache.ENV_DISABLE, "1")
    assert runner.invoke(main, [*args, "-q"]).exit_code == 0
    assert _entries(cache_home) == []
    monkeypatch.delenv(cache.ENV_DISABLE)
    assert runner.invoke(main, [*args, "-q"]).exit_code == 0  # miss: traced and stored
    assert len(_entries(cache_home)) == 1
    probe = (
        "import sys\nfrom accelsim.cli import main\n"
        f"main({[*args, '--out', str(tmp_path / 'b')]!r}, standalone_mode=False)\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n"
    )
    r2 = subprocess.run([sys.executable, "-c", probe], env=_env(cache_home), capture_output=True, text=True,
                        timeout=120, check=False)
    assert r2.returncode == 0, r2.stderr
    assert r2.stdout.strip().endswith("NO-TORCH")
    assert (tmp_path / "a" / "result.json").read_bytes() == (tmp_path / "b" / "result.json").read_bytes()
    # The console script's fast exit (os._exit) flushes all of stdout first.
    r3 = subprocess.run([sys.executable, "-m", "accelsim.cli", *args, "--json"], env=_env(cache_home),
                        capture_output=True, text=True, timeout=120, check=False)
    assert r3.returncode == 0, r3.stderr
    assert r3.stdout == (tmp_path / "b" / "result.json").read_text()
    # An edit of the workload file is a miss: a second entry.
    f.write_text(f.read_text() + "\n# edited\n")
    assert runner.invoke(main, [*args, "-q"]).exit_code == 0
    assert len(_entries(cache_home)) == 2


def test_corrupt_entry_is_a_miss(tmp_path: Path, cache_home: Path) -> None:
    f = _model(tmp_path)
    spec = f"{f}:build"
    g = api.load_graph(spec)
    key = cache.key_for(spec)
    (entry,) = _entries(cache_home)
    entry.write_text('{"format": "accelsim.trace-cache/1", "key": "' + str(key) + '", "graph": {"trunc')
    cache._memo.clear()
    assert cache.lookup(key) is None
    assert not entry.exists()  # removed, so the next store rewrites it
    g2 = api.load_graph(spec)
    assert g2.to_json() == g.to_json()
    assert len(_entries(cache_home)) == 1


def test_cache_info_and_clear_commands(tmp_path: Path, cache_home: Path) -> None:
    from click.testing import CliRunner

    from accelsim.cli import main

    api.load_graph(f"{_model(tmp_path)}:build", {"width": 8})
    runner = CliRunner()
    r = runner.invoke(main, ["cache", "info"])
    assert r.exit_code == 0, r.output
    assert str(cache_home / "accelsim" / "graphs") in r.output
    assert "1 graph(s)" in r.output and "width=8" in r.output and "ops" in r.output
    r = runner.invoke(main, ["cache", "clear"])
    assert r.exit_code == 0 and "removed 1 file(s)" in r.output
    assert _entries(cache_home) == []


def test_fast_exit_keeps_exit_codes_and_stderr(tmp_path: Path, cache_home: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "accelsim.cli", "run", "no-such-arch", "gemm:M=8,N=8,K=8"],
                       env=_env(cache_home), capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False)
    assert r.returncode == 2
    assert "no-such-arch" in r.stderr and "Traceback" not in r.stderr


def test_least_recently_used_entries_are_evicted(tmp_path: Path, cache_home: Path) -> None:
    g = api.load_graph("gemm:M=8,N=8,K=8")
    paths = [cache.store(f"{i:064x}", g, "gemm-fake") for i in range(3)]
    assert all(p is not None and p.is_file() for p in paths)
    os.utime(paths[1], (1, 1))  # the oldest use
    size = paths[0].stat().st_size  # type: ignore[union-attr]
    cache._evict(cache.cache_dir(), keep=f"{2:064x}", max_bytes=2 * size)
    assert [p.is_file() for p in paths] == [True, False, True]  # type: ignore[union-attr]


def test_no_cache_reaches_child_processes_and_is_put_back(tmp_path: Path, cache_home: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """--no-cache sets ACCELSIM_NO_CACHE while the command runs (sweep workers inherit it) and
    restores the caller's environment when it ends."""
    import os

    from click.testing import CliRunner

    from accelsim.cli import main

    seen: list[str | None] = []
    monkeypatch.delenv(cache.ENV_DISABLE, raising=False)
    import accelsim.api as api_mod

    real_sim = api_mod.simulate

    def sim(*a, **k):  # type: ignore[no-untyped-def]
        seen.append(os.environ.get(cache.ENV_DISABLE))
        return real_sim(*a, **k)

    monkeypatch.setattr(api_mod, "simulate", sim)
    r = CliRunner().invoke(main, ["run", "edge-int8", "gemm:M=16,N=16,K=16", "--no-gpu", "-q", "--no-cache"])
    cache.set_enabled(None)
    assert r.exit_code == 0, r.output
    assert seen == ["1"]
    assert cache.ENV_DISABLE not in os.environ
