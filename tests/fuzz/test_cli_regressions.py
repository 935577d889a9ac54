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


# -- found by the fuzz suite's long profile and the graph-JSON type probe (issue 13) -------------

GRAPHS = Path(__file__).resolve().parents[1] / "data" / "graphs"


def _graph_doc() -> dict:
    return json.loads((GRAPHS / "gpt2-tiny_seq16.json").read_text())


def _first(d: dict, kind: str) -> dict:
    return next(o for o in d["ops"] if o["kind"] == kind)


@pytest.mark.parametrize("mutate, problem", [
    # a list / an object where the other is expected, at the top level and nested
    (lambda d: d.update(tensors={"a": 1}), "tensors: expected a list of objects, got an object"),
    (lambda d: d.update(ops={"x": {}}), "ops: expected a list of objects, got an object"),
    (lambda d: d["ops"].__setitem__(0, [1, 2]), "ops[0]: expected an object, got a list"),
    (lambda d: d["tensors"].__setitem__(0, "a"), "tensors[0]: expected an object, got a string"),
    (lambda d: d.update(inputs=[["input_ids"]]), "graph.inputs[0]: expected a tensor name (a string), got a list"),
    (lambda d: d.update(outputs=[{"x": 1}]), "graph.outputs[0]: expected a tensor name (a string), got an object"),
    (lambda d: d.update(outputs="logits"), "graph.outputs: expected a list of tensor names, got a string"),
    (lambda d: d.update(inputs={}), "graph.inputs: expected a list of tensor names, got an object"),
    (lambda d: d.update(meta=[1]), "graph.meta: expected an object, got a list"),
    (lambda d: d.update(name=["x"]), "graph.name: expected a string, got a list"),
    (lambda d: d["ops"][3].update(module=["h", "0"]), "ops[3] ('add').module: expected a string, got a list"),
    (lambda d: d["ops"][3].update(target=7), "ops[3] ('add').target: expected a string, got an integer"),
    (lambda d: d["ops"][3].update(inputs="ab"), "ops[3] ('add').inputs: expected a list of tensor names"),
    (lambda d: d["ops"][3].update(attrs=[1]), "ops[3] ('add').attrs: expected an object, got a list"),
    (lambda d: d["tensors"][0].update(source={"a": 1}), "tensors[0] ('idx').source: expected a string"),
    (lambda d: d["tensors"][0].update(shape={"0": 1}), "tensors[0] ('idx').shape: expected a list of integers"),
    # meta keys accelsim reads: were int() / .get() on a wrong type (exit 3)
    (lambda d: d["meta"].update(batch="abc"), "meta.batch: expected a non-negative integer, got 'abc'"),
    (lambda d: d["meta"].update(tokens=[16]), "meta.tokens: expected a non-negative integer, got [16]"),
    (lambda d: d["meta"].update(batch=-3), "meta.batch: expected a non-negative integer, got -3"),
    (lambda d: d["meta"].update(kv_cache=[1]), "meta.kv_cache: expected an object, got a list"),
    (lambda d: d["meta"].update(kv_cache={"inputs": "2"}), "meta.kv_cache.inputs: expected a non-negative integer"),
    (lambda d: d["meta"].update(causal_masks=5), "meta.causal_masks: expected an object or a list"),
    # a wrong-typed attribute reaching a shape rule (was a TypeError: exit 3)
    (lambda d: _first(d, "view")["attrs"].update(op=["split"]), "bad attributes"),
    (lambda d: _first(d, "layer_norm")["attrs"].update(normalized_shape="abc"), "normalized_shape must be integers"),
])
def test_wrong_typed_graph_json_is_refused_naming_file_and_problem(tmp_path: Path, mutate: object,
                                                                   problem: str) -> None:
    d = _graph_doc()
    mutate(d)  # type: ignore[operator]
    p = tmp_path / "g.json"
    p.write_text(json.dumps(d))
    r = _run(EDGE, p, "--no-gpu", "-q")
    assert r.exit_code == 2, r.output
    assert f"accelsim: error: {p}: " in r.output and problem in r.output, r.output


@pytest.mark.parametrize("text, problem", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"format": "accelsim.graph/2", "n": ' + "9" * 5000 + "}", "cannot read graph"),
    ('{"format": "accelsim.graph/2", "name": "x", "inputs": [], "outputs": []}', "missing key 'tensors'"),
    ("\xff\xfe", "cannot read graph"),
])
def test_unreadable_graph_json_is_refused(tmp_path: Path, text: str, problem: str) -> None:
    p = tmp_path / "g.json"
    p.write_bytes(text.encode("latin-1"))
    r = _run(EDGE, p, "--no-gpu", "-q")
    assert r.exit_code == 2 and problem in r.output and str(p) in r.output, r.output


def test_a_graph_json_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "dir.json"
    d.mkdir()
    r = _run(EDGE, d, "--no-gpu", "-q")
    assert r.exit_code == 2 and "is not a regular file" in r.output


def test_a_sweep_listing_one_objective_twice_is_refused(tmp_path: Path) -> None:
    """Found by the long profile: two objectives on one metric made two results.csv columns of
    one name, and building the frame raised a TypeError (exit 3)."""
    import yaml

    from accelsim.sweep.cli import sweep
    from builders import BASE_ARCH

    (tmp_path / "arch.yaml").write_text(yaml.safe_dump(BASE_ARCH, sort_keys=False))
    f = tmp_path / "sweep.yaml"
    f.write_text(yaml.safe_dump({"base": "arch.yaml", "workloads": ["gemm:M=16,N=16,K=16"],
                                 "objectives": ["units.sa0.utilization",
                                                {"metric": "units.sa0.utilization", "direction": "max"}]}))
    r = CliRunner().invoke(sweep, [str(f), "--out", str(tmp_path / "out"), "--workers", "0", "--no-plots"])
    assert r.exit_code == 2, r.output
    assert "objectives[1].metric: 'units.sa0.utilization' is already objectives[0]" in r.output


def test_fuzz_strategies_never_mutate_the_base_arch() -> None:
    """The arch strategy drew BASE_ARCH's own ``arrays`` list (``st.just``) into a document and an
    ``add_array`` edit appended to it, so every later case of the session ran on a broken arch:
    the long profile's graph, suite and sweep runs were all refused (exit 2) and found nothing."""
    import copy

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from strategies import _like, _set, arch_docs

    from builders import BASE_ARCH

    before = copy.deepcopy(BASE_ARCH)
    doc = _set(copy.deepcopy(BASE_ARCH), ("arrays",), BASE_ARCH["arrays"])
    assert doc["arrays"] == BASE_ARCH["arrays"] and doc["arrays"] is not BASE_ARCH["arrays"]

    @settings(max_examples=20, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(_like(BASE_ARCH["arrays"]), st.data())
    def drawn(value: list, data: st.DataObject) -> None:
        assert value == BASE_ARCH["arrays"] and value is not BASE_ARCH["arrays"]
        data.draw(arch_docs())
        assert BASE_ARCH == before

    drawn()
    assert BASE_ARCH == before


def test_a_huge_gemm_is_refused_by_the_resource_estimate() -> None:
    """A 16384^3 GEMM on a 16x16 array and a GEMM with M = 10^12 grew memory for minutes; now
    exit 2 with the estimate (tests/model/test_resources.py has the rest)."""
    for w in ("gemm:M=16384,N=16384,K=16384", "gemm:M=1000000000000,N=16,K=16"):
        r = _run(EDGE, w, "--no-gpu", "-q")
        assert r.exit_code == 2 and "too large to simulate" in r.output and "--max-events" in r.output
