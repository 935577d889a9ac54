"""Named workloads, workload files, gemm: specs and saved graphs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from accelsim.errors import WorkloadError
from accelsim.workload import list_workloads, load_graph, load_traced, resolve
from accelsim.workload.ir import Graph
from accelsim.workload.registry import Workload, gemm_graph, parse_gemm

ROOT = Path(__file__).resolve().parents[2]
GRAPHS = ROOT / "tests" / "data" / "graphs"

WORKLOAD_FILE = '''
import torch
from torch import nn
from accelsim.workload.registry import Workload


class Mlp(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc = nn.Linear(d, 2 * d)

    def forward(self, x):
        return torch.relu(self.fc(x))


def make(d: int = 8, rows: int = 2) -> Workload:
    """A one-layer MLP."""
    torch.manual_seed(0)
    return Workload("tmp-mlp", Mlp(d), (torch.randn(rows, d),), {"tokens": rows})


def not_a_workload():
    return 42


WORKLOADS = {"tmp-mlp": make}
'''


@pytest.fixture
def wl_file(tmp_path):
    p = tmp_path / "my_wl.py"
    p.write_text(WORKLOAD_FILE)
    return p


# -- named workloads -------------------------------------------------------------------------------


def test_list_workloads():
    wl = list_workloads()
    assert {"gpt2-tiny", "gpt2-small"} <= set(wl)
    assert all(isinstance(d, str) and d for d in wl.values())
    assert "2 layers" in wl["gpt2-tiny"]


def test_resolve_named_defaults_and_params():
    pytest.importorskip("torch")
    w = resolve("gpt2-tiny")
    assert isinstance(w, Workload) and w.name == "gpt2-tiny"
    assert w.meta["seq"] == 64 and w.meta["batch"] == 1 and w.meta["tokens"] == 64
    (idx,) = w.example_inputs
    assert tuple(idx.shape) == (1, 64) and str(idx.dtype) == "torch.int64"
    w = resolve("gpt2-tiny", {"seq": 16, "batch": 2})
    assert tuple(w.example_inputs[0].shape) == (2, 16) and w.meta["tokens"] == 32
    # string values (from a command line) are coerced to the factory's types
    w = resolve("gpt2-tiny", {"seq": "12"})
    assert w.meta["seq"] == 12
    # factories are seeded: identical weights and inputs each time
    a, b = resolve("gpt2-tiny", {"seq": 8}), resolve("gpt2-tiny", {"seq": 8})
    assert all(
        (pa == pb).all() for pa, pb in zip(a.module.parameters(), b.module.parameters())
    ) and (a.example_inputs[0] == b.example_inputs[0]).all()


def test_resolve_unknown_workload():
    with pytest.raises(WorkloadError) as ei:
        resolve("gpt3-huge")
    msg = str(ei.value)
    assert "unknown workload 'gpt3-huge'" in msg and "gpt2-tiny" in msg and "gpt2-small" in msg


def test_resolve_unknown_param():
    with pytest.raises(WorkloadError) as ei:
        resolve("gpt2-tiny", {"seqlen": 16})
    msg = str(ei.value)
    assert "'seqlen'" in msg and "seq" in msg and "batch" in msg


def test_resolve_bad_param_values():
    pytest.importorskip("torch")
    with pytest.raises(WorkloadError, match="seq"):
        resolve("gpt2-tiny", {"seq": 0})
    with pytest.raises(WorkloadError, match="context length"):
        resolve("gpt2-tiny", {"seq": 4096})
    with pytest.raises(WorkloadError, match="seq=.*abc"):
        resolve("gpt2-tiny", {"seq": "abc"})


def test_resolve_rejects_gemm_and_json():
    with pytest.raises(WorkloadError, match="load_graph"):
        resolve("gemm:M=1,N=2,K=3")
    with pytest.raises(WorkloadError, match="load_graph"):
        resolve("graph.json")


# -- workload files ---------------------------------------------------------------------------------


def test_file_factory_spec(wl_file):
    pytest.importorskip("torch")
    w = resolve(f"{wl_file}:make", {"d": 4})
    assert w.name == "tmp-mlp" and tuple(w.example_inputs[0].shape) == (2, 4)
    # a WORKLOADS key works too, and a file with a single WORKLOADS entry needs no factory name
    assert resolve(f"{wl_file}:tmp-mlp").meta == {"tokens": 2}
    assert resolve(str(wl_file)).name == "tmp-mlp"
    g = load_graph(f"{wl_file}:make", {"rows": 3})
    assert g.op_counts() == {"linear": 1, "relu": 1}
    assert g.tensors[g.outputs[0]].shape == (3, 16)
    assert next(op for op in g.ops if op.kind == "linear").module == "fc"


def test_file_spec_errors(wl_file, tmp_path):
    with pytest.raises(WorkloadError, match="no factory 'nope'.*make"):
        resolve(f"{wl_file}:nope")
    with pytest.raises(WorkloadError, match="does not exist"):
        resolve(f"{tmp_path / 'missing.py'}:make")
    with pytest.raises(WorkloadError, match="no parameter 'x'.*d=8.*rows=2"):
        resolve(f"{wl_file}:make", {"x": 1})
    pytest.importorskip("torch")
    with pytest.raises(WorkloadError, match="returned int"):
        resolve(f"{wl_file}:not_a_workload")
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(WorkloadError, match="import failed.*boom"):
        resolve(f"{broken}:make")


def test_env_workloads_dir(tmp_path, monkeypatch, wl_file):
    d = tmp_path / "extra"
    d.mkdir()
    (d / "extra_wl.py").write_text(WORKLOAD_FILE.replace('"tmp-mlp": make', '"extra-mlp": make'))
    (d / "broken_wl.py").write_text("import not_a_module_that_exists\n")
    monkeypatch.setenv("ACCELSIM_WORKLOADS_DIR", str(d))
    with pytest.warns(UserWarning, match="broken_wl"):
        wl = list_workloads()
    assert wl["extra-mlp"] == "A one-layer MLP."  # docstring fallback when no DESCRIPTIONS
    assert "gpt2-tiny" in wl
    pytest.importorskip("torch")
    assert resolve("extra-mlp", {"d": 2}).example_inputs[0].shape[-1] == 2
    with pytest.raises(WorkloadError, match="broken_wl"):  # the unknown-name error shows the failed file
        resolve("nothing-like-this")


# -- gemm: specs -------------------------------------------------------------------------------------


def test_gemm_spec_parse():
    g = parse_gemm("gemm:M=512,N=768,K=64")
    assert (g.M, g.N, g.K, g.dtype, g.batch) == (512, 768, 64, "float32", 1)
    g = parse_gemm("gemm: M=8 , N=4, K=2, dtype=BF16, batch=3")
    assert (g.dtype, g.batch) == ("bfloat16", 3)
    assert parse_gemm("gemm:M=8,N=4,K=2,dtype=int8").out_dtype == "int32"
    assert parse_gemm("gemm:M=8,N=4", {"K": 16, "M": "32"}) == parse_gemm("gemm:M=32,N=4,K=16")


@pytest.mark.parametrize(
    "spec, match",
    [
        ("gemm:M=64,N=64", "missing K"),
        ("gemm:M=64,N=64,K=abc", "K='abc' is not an integer"),
        ("gemm:M=64,N=64,K=1.5", "not an integer"),
        ("gemm:M=0,N=64,K=64", "M=0 must be positive"),
        ("gemm:M=64,N=64,K=64,L=3", "unknown key"),
        ("gemm:M=64,N=64,K=64,dtype=fp4", "unknown dtype"),
        ("gemm:M=64,M=32,N=64,K=64", "given twice"),
        ("gemm:M=64,N=64,K", "not KEY=VALUE"),
        ("gemm:", "missing M, N, K"),
    ],
)
def test_gemm_spec_errors(spec, match):
    with pytest.raises(WorkloadError, match=match):
        load_graph(spec)


def test_gemm_graph():
    g = load_graph("gemm:M=64,N=48,K=32")
    g.verify()
    (op,) = g.ops
    assert op.kind == "matmul" and op.inputs == ("a", "b") and op.outputs == ("c",)
    assert g.tensors["a"].shape == (64, 32) and g.tensors["a"].kind == "input"
    assert g.tensors["b"].shape == (32, 48) and g.tensors["b"].kind == "weight"
    assert g.tensors["c"].shape == (64, 48)
    assert g.meta["M"] == 64 and g.meta["tokens"] == 64
    g = load_graph("gemm:M=64,N=48,K=32,batch=4,dtype=bf16")
    assert g.tensors["a"].shape == (4, 64, 32) and g.tensors["c"].shape == (4, 64, 48)
    assert {t.dtype for t in g.tensors.values()} == {"bfloat16"}
    g = load_graph("gemm:M=8,N=8,K=8,dtype=int8")
    assert g.tensors["c"].dtype == "int32" and g.ops[0].attrs == {"out_dtype": "int32"}


def test_gemm_and_json_need_no_torch():
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["torch"] = None  # any 'import torch' now raises ImportError
        from accelsim.workload import load_graph
        g = load_graph("gemm:M=4,N=5,K=6")
        assert g.ops[0].kind == "matmul"
        g = load_graph({str(GRAPHS / "gpt2-tiny_seq16.json")!r})
        assert g.op_counts()["sdpa"] == 2
        print("ok")
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_load_traced_gemm():
    torch = pytest.importorskip("torch")
    from accelsim.workload.replay import replay

    tr = load_traced("gemm:M=16,N=8,K=32")
    assert tr.graph == load_graph("gemm:M=16,N=8,K=32")
    out = replay(tr)["c"]
    assert torch.equal(out, tr.inputs["a"] @ tr.params["b"])
    tr = load_traced("gemm:M=16,N=8,K=32,batch=2,dtype=bf16")
    out = replay(tr)["c"]
    assert out.dtype == torch.bfloat16 and tuple(out.shape) == (2, 16, 8)
    tr = load_traced("gemm:M=16,N=8,K=32,dtype=int8")
    a, b = tr.inputs["a"], tr.params["b"]
    assert a.dtype == torch.int8 and b.dtype == torch.int8
    exact = (a.double() @ b.double()).to(torch.int32)
    assert torch.equal(replay(tr)["c"], exact)


# -- saved graphs ------------------------------------------------------------------------------------


def test_load_json_graphs():
    g = load_graph(str(GRAPHS / "gemm_M64_N48_K32.json"))
    assert g == gemm_graph(parse_gemm("gemm:M=64,N=48,K=32"))
    g = load_graph(str(GRAPHS / "gpt2-tiny_seq16.json"))
    assert isinstance(g, Graph) and g.op_counts()["linear"] == 9 and g.meta["seq"] == 16


def test_load_json_errors(tmp_path):
    with pytest.raises(WorkloadError, match="does not exist"):
        load_graph(str(tmp_path / "nope.json"))
    with pytest.raises(WorkloadError, match="takes no parameters"):
        load_graph(str(GRAPHS / "gemm_M64_N48_K32.json"), {"seq": 1})
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "accelsim.graph/1", "name": "x", "inputs": [], "outputs": ["y"], '
                   '"tensors": [], "ops": []}')
    with pytest.raises(WorkloadError, match="never produced"):
        load_graph(str(bad))
    with pytest.raises(WorkloadError, match="without weights"):
        load_traced(str(GRAPHS / "gemm_M64_N48_K32.json"))


def test_load_graph_named_matches_saved_and_caches():
    pytest.importorskip("torch")
    g = load_graph("gpt2-tiny", {"seq": 16})
    assert g == Graph.load(str(GRAPHS / "gpt2-tiny_seq16.json"))
    assert load_graph("gpt2-tiny", {"seq": 16}) is g  # cached per spec + params
