"""result.json's typed description (accelsim/result_schema.py): the shipped JSON Schema is the one the
models generate, real results of every kind of run validate and name no key the models lack, and a
result with a key missing or of the wrong type is refused."""

from __future__ import annotations

import copy
import fnmatch
import json
import tomllib
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import BaseModel, ValidationError

from accelsim import RESULT_SCHEMA_VERSION
from accelsim.cli import main
from accelsim.result_schema import SCHEMA_VERSION, ResultModel, schema_path, schema_text
from accelsim.result_schema import main as schema_main
from conftest import DATA, ROOT

TINY = str(DATA / "graphs" / "gpt2-tiny_seq16.json")  # a saved graph: no torch needed

#: name -> (`accelsim run` arguments, needs torch)
RUNS: dict[str, tuple[list[str], bool]] = {
    "one-chip": (["datacenter-bf16", TINY], False),  # energy and the GPU comparison are on by default
    "tp2": (["datacenter-bf16", TINY, "--tp", "2", "--set", "system.chips=2"], False),
    "no-gpu-scalesim": (["tpuv1", "gemm:M=64,N=64,K=256", "--compat", "scalesim", "--no-gpu"], False),
    "generation": (["datacenter-bf16", "gpt2-tiny", "--prompt", "8", "--generate", "3"], True),
    "check": (["edge-int8", "gemm:M=64,N=64,K=64,dtype=int8", "--check"], True),
}


def _run(args: list[str], torch: bool) -> dict[str, Any]:
    if torch:
        pytest.importorskip("torch")
    r = CliRunner().invoke(main, ["run", *args, "--json"])
    assert r.exit_code == 0, r.stderr
    data: dict[str, Any] = json.loads(r.stdout)
    return data


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, Any]]:
    return {}


def _result(results: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    if name not in results:
        results[name] = _run(*RUNS[name])
    return results[name]


def _undeclared(m: Any, path: str = "") -> list[str]:
    """Keys of a validated result that no model names (kept in ``model_extra``)."""
    out: list[str] = []
    if isinstance(m, BaseModel):
        out += [f"{path}.{k}" for k in m.model_extra or {}]
        for k in type(m).model_fields:
            out += _undeclared(getattr(m, k), f"{path}.{k}")
    elif isinstance(m, dict):
        for k, v in m.items():
            out += _undeclared(v, f"{path}.{k}")
    elif isinstance(m, list):
        for v in m:
            out += _undeclared(v, f"{path}[]")
    return sorted(set(out))


def test_the_shipped_schema_file_is_the_generated_one() -> None:
    assert schema_path().read_text(encoding="utf-8") == schema_text(), \
        "accelsim/schemas/result.schema.json is stale: run `python -m accelsim.result_schema --write`"
    assert schema_main(["--check"]) == 0


def test_the_schema_file_ships_in_the_wheel() -> None:
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = conf["tool"]["setuptools"]["package-data"]["accelsim"]
    rel = schema_path().relative_to(ROOT / "accelsim").as_posix()
    assert any(fnmatch.fnmatch(rel, p) for p in patterns), (rel, patterns)


def test_schema_version_is_defined_once() -> None:
    assert SCHEMA_VERSION == RESULT_SCHEMA_VERSION == 1
    schema = json.loads(schema_text())
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    assert "schema_version" in schema["required"]


@pytest.mark.parametrize("name", list(RUNS))
def test_real_results_validate_and_every_key_is_described(results: dict[str, dict[str, Any]], name: str) -> None:
    data = _result(results, name)
    assert data["schema_version"] == SCHEMA_VERSION
    assert list(data)[0] == "schema_version"
    m = ResultModel.model_validate(data)
    assert m.total_cycles == data["total_cycles"] and m.latency_s == data["latency_s"]
    assert not _undeclared(m), f"keys of result.json that accelsim/result_schema.py does not describe: " \
                               f"{_undeclared(m)}"
    if name == "one-chip":
        assert m.energy is not None and m.gpu is not None and m.layers
        assert m.energy_j == m.energy.total_j and m.gpu.ops
    if name == "tp2":
        assert m.system is not None and m.system.tp == 2 and m.system.collectives
        assert m.options.parallel is not None and m.options.parallel.tp == 2
    if name == "no-gpu-scalesim":
        assert m.gpu is None and m.speedup_vs_gpu is None and m.options.mode == "scalesim"
    if name == "generation":
        assert m.inference is not None and m.inference.generated_tokens == 3
        assert m.gpu is not None and m.gpu.inference is not None
    if name == "check":
        assert m.check is not None and m.check.passed


def _one_chip(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return copy.deepcopy(_result(results, "one-chip"))


@pytest.mark.parametrize("key", ["total_cycles", "schema_version", "ops", "units", "arch"])
def test_a_result_missing_a_required_key_is_refused(results: dict[str, dict[str, Any]], key: str) -> None:
    d = _one_chip(results)
    del d[key]
    with pytest.raises(ValidationError, match=key):
        ResultModel.model_validate(d)


@pytest.mark.parametrize("path, value", [
    (("total_cycles",), "10079"),  # a string, even of digits
    (("total_cycles",), 10079.5),
    (("dram_read_bytes",), True),  # a bool is not an integer
    (("latency_s",), "7e-6"),
    (("arch",), 3),
    (("schema_version",), 2),  # another layout
    (("ops", 0, "cycles"), None),
    (("units", "dma", "kind"), "dma_engine"),  # not a unit kind
    (("energy", "breakdown_j", "dram"), "1 J"),
    (("gpu", "latency_s"), None),
])
def test_a_result_with_a_wrong_type_is_refused(results: dict[str, dict[str, Any]], path: tuple[Any, ...],
                                               value: Any) -> None:
    d = _one_chip(results)
    node = d
    for k in path[:-1]:
        node = node[k]
    assert path[-1] in node
    node[path[-1]] = value
    with pytest.raises(ValidationError):
        ResultModel.model_validate(d)


def test_a_newer_key_is_accepted_and_kept(results: dict[str, dict[str, Any]]) -> None:
    d = _one_chip(results)
    d["added_later"] = {"x": 1}
    m = ResultModel.model_validate(d)
    assert m.model_extra == {"added_later": {"x": 1}}


def test_run_result_typed() -> None:
    from accelsim import api
    from builders import make_arch

    r = api.simulate(make_arch(), api.load_graph("gemm:M=64,N=64,K=64"), api.RunOptions(gpu=None))
    m = r.typed()
    assert m.total_cycles == r.data["total_cycles"] and m.gpu is None
    assert set(m.units) == set(r.data["units"])
