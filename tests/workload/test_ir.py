"""The op IR: JSON round trips and verify()."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accelsim.errors import WorkloadError
from accelsim.workload.ir import Graph, Op, TensorInfo

GRAPHS = Path(__file__).resolve().parents[1] / "data" / "graphs"


def _small_graph(**over) -> Graph:
    tensors = {
        "x": TensorInfo("x", (2, 8), "float32", "input", "x"),
        "w": TensorInfo("w", (4, 8), "bfloat16", "weight", "fc.weight"),
        "y": TensorInfo("y", (2, 4), "float32"),
        "z": TensorInfo("z", (2, 4), "float32"),
    }
    ops = (
        Op("fc", "linear", ("x", "w"), ("y",), {}, module="fc", target="aten.linear.default"),
        Op("act", "gelu", ("y",), ("z",), {"approximate": "tanh"}, module="act", target="aten.gelu.default"),
    )
    kw = dict(name="small", tensors=tensors, ops=ops, inputs=("x",), outputs=("z",), meta={"seq": 2, "x": [1, 2.5]})
    kw.update(over)
    return Graph(**kw)


def test_round_trip_small():
    g = _small_graph()
    g.verify()
    g2 = Graph.from_json(g.to_json())
    assert g2 == g
    assert g2.to_json() == g.to_json()


def test_round_trip_special_attr_values(tmp_path):
    # -inf (masked_fill), None (sdpa scale), nested lists, bools survive a file round trip
    attrs = {"value": float("-inf"), "scale": None, "pad": [[1, 2], [3, 4]], "keepdim": True, "op": "x"}
    g = _small_graph(ops=(
        Op("fc", "linear", ("x", "w"), ("y",)),
        Op("act", "masked_fill", ("y",), ("z",), attrs),
    ))
    p = tmp_path / "g.json"
    g.save(str(p))
    g2 = Graph.load(str(p), verify=False)  # attrs only: this masked_fill lacks its mask operand
    assert g2 == g
    assert g2.ops[1].attrs["value"] == float("-inf")


@pytest.mark.parametrize("fname", ["gpt2-tiny_seq16.json", "gemm_M64_N48_K32.json"])
def test_round_trip_saved_graphs(fname):
    text = (GRAPHS / fname).read_text()
    g = Graph.from_json(text)
    g.verify()
    assert Graph.from_json(g.to_json()) == g
    assert json.loads(g.to_json()) == json.loads(text)


def test_queries():
    g = _small_graph()
    assert g.op_counts() == {"gelu": 1, "linear": 1}
    assert g.producers()["z"].name == "act"
    assert [o.name for o in g.consumers()["y"]] == ["act"]
    assert set(g.weights) == {"w"}
    assert g.tensor("w").nbytes == 4 * 8 * 2
    assert g.tensor("x").numel == 16
    assert "module 'fc'" in g.ops[0].where()


def _err(g: Graph) -> str:
    with pytest.raises(WorkloadError) as ei:
        g.verify()
    return str(ei.value)


def test_verify_use_before_def():
    g = _small_graph()
    swapped = (g.ops[1], g.ops[0])
    assert "'y' is used before it is produced" in _err(_small_graph(ops=swapped))


def test_verify_duplicate_op_names():
    g = _small_graph()
    dup = (g.ops[0], Op("fc", "gelu", ("y",), ("z",)))
    assert "duplicate op name 'fc'" in _err(_small_graph(ops=dup))


def test_verify_missing_output():
    assert "graph output 'nope' is never produced" in _err(_small_graph(outputs=("nope",)))
    # an output that is a tensor but produced by nothing
    t = dict(_small_graph().tensors)
    t["orphan"] = TensorInfo("orphan", (1,), "float32")
    assert "'orphan' is never produced" in _err(_small_graph(tensors=t, outputs=("orphan",)))


def test_verify_unknown_tensors_and_overwrite():
    g = _small_graph()
    bad_in = (Op("fc", "linear", ("x", "ghost"), ("y",)), g.ops[1])
    assert "input 'ghost' is not a tensor" in _err(_small_graph(ops=bad_in))
    overwrite = (g.ops[0], Op("act", "gelu", ("y",), ("w",)))
    assert "overwrites a weight" in _err(_small_graph(ops=overwrite))
    assert "graph input 'q' has no tensor" in _err(_small_graph(inputs=("q",)))


def test_load_errors(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text("{not json")
    with pytest.raises(WorkloadError, match="cannot read graph"):
        Graph.load(str(p))
    p.write_text(json.dumps({"format": "other"}))
    with pytest.raises(WorkloadError, match="not an accelsim graph"):
        Graph.load(str(p))
    with pytest.raises(WorkloadError):
        Graph.load(str(tmp_path / "missing.json"))


# -- schema version and verification on load (issue 13 item 2) ----------------------------------


def _saved(tmp_path, mutate) -> str:
    d = json.loads((GRAPHS / "gpt2-tiny_seq16.json").read_text())
    mutate(d)
    p = tmp_path / "g.json"
    p.write_text(json.dumps(d))
    return str(p)


def test_schema_version_written_and_v1_still_read(tmp_path):
    from accelsim.workload.ir import GRAPH_FORMAT

    g = Graph.load(str(GRAPHS / "gpt2-tiny_seq16.json"))
    assert g.to_dict()["format"] == GRAPH_FORMAT == "accelsim.graph/2"
    v1 = _saved(tmp_path, lambda d: d.update(format="accelsim.graph/1"))
    assert Graph.load(v1) == g
    with pytest.raises(WorkloadError, match="newer than this accelsim reads"):
        Graph.load(_saved(tmp_path, lambda d: d.update(format="accelsim.graph/9")))


def _set_weight_shape(d: dict, name: str, shape: list[int]) -> None:
    next(t for t in d["tensors"] if t["name"] == name)["shape"] = shape


@pytest.mark.parametrize(
    "mutate, match",
    [
        # an edited weight shape: the linear's rule no longer fits (the op and the mismatch named)
        (lambda d: _set_weight_shape(d, "h.0.mlp.c_fc.weight", [512, 96]), r"op 'linear_2' \[linear.*linear of x"),
        # a weight shape edited consistently with K but not with the declared output
        (lambda d: (_set_weight_shape(d, "h.0.mlp.c_fc.weight", [256, 128]),
                    _set_weight_shape(d, "h.0.mlp.c_fc.bias", [256])),
         r"output 'linear_2' is \[1, 16, 512\].*\[1, 16, 256\]"),
        # a dangling tensor reference
        (lambda d: d["ops"][3]["inputs"].__setitem__(0, "ghost"), "input 'ghost' is not a tensor"),
        # ops reordered so a tensor is read before it is produced (no cycle can be expressed otherwise)
        (lambda d: d["ops"].insert(0, d["ops"].pop(5)), "used before it is produced"),
        (lambda d: d["ops"][2].update(kind="teleport"), "unknown op kind 'teleport'"),
        (lambda d: d["tensors"][0].update(shape=[1, "16"]), "not a list of integers"),
        (lambda d: d["tensors"][0].update(dtype="float7"), "unknown dtype 'float7'"),
    ],
)
def test_tampered_graphs_are_refused(tmp_path, mutate, match):
    path = _saved(tmp_path, mutate)
    with pytest.raises(WorkloadError, match=match) as ei:
        Graph.load(path)
    assert path in str(ei.value)
