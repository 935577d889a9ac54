"""The partitioned-residual transformer (workloads/partitioned.py) on its arch
(archs/partitioned-residual.yaml): ports, replay, access matrix, policy violations, ROM."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from accelsim import api  # noqa: E402
from accelsim.errors import WorkloadError  # noqa: E402
from accelsim.workload import load_traced, resolve  # noqa: E402
from accelsim.workload.ports import parse_port  # noqa: E402
from accelsim.workload.replay import replay  # noqa: E402

torch.set_num_threads(1)

ARCH = Path(__file__).resolve().parents[2] / "archs" / "partitioned-residual.yaml"
N_LAYER = 2  # the smallest model with the miswirable head h.1.attn.heads.2
PARAMS = {"n_layer": N_LAYER, "seq": 16}
OPTS = api.RunOptions(gpu=None)

#: (component role, partition) -> the accesses the design makes (arch policy rule -> bytes)
READS = {
    "embed": set(),
    "layer0": {"feedback", "control"},
    "h.*.attn.heads.[0-3]": {"model", "plan"},
    "h.*.attn.heads.[45]": {"model", "plan"},
    "h.*.attn.heads.[67]": {"model", "feedback"},
    "h.*.mlp": {"model", "plan"},
    "readout": {"model"},
}
WRITES = {
    "embed": {"feedback", "model", "plan", "control"},
    "layer0": {"control"},
    "h.*.attn.heads.[0-3]": {"model"},
    "h.*.attn.heads.[45]": {"plan"},
    "h.*.attn.heads.[67]": {"feedback"},
    "h.*.mlp": {"model", "plan"},
    "readout": set(),
}


def _traced(params: dict):
    tr = load_traced("partitioned-transformer", params)
    tr.graph.verify()
    w = resolve("partitioned-transformer", params)
    with torch.no_grad():
        ref = w.module(*w.example_inputs)
    return tr, w, ref


@pytest.fixture(scope="module")
def good():
    return _traced(PARAMS)


@pytest.fixture(scope="module")
def miswired():
    return _traced({**PARAMS, "miswire": True})


@pytest.fixture(scope="module")
def arch():
    return api.load_arch(str(ARCH))


@pytest.fixture(scope="module")
def good_run(good, arch):
    return api.simulate(arch, good[0].graph, OPTS)


def _ports(tr) -> set[tuple[str, str, str]]:
    return {p for p in (parse_port(op.module) for op in tr.graph.ops) if p is not None}


@pytest.mark.parametrize("which", ["good", "miswired"])
def test_replays_exactly(which, request):
    tr, _, ref = request.getfixturevalue(which)
    out = list(replay(tr).values())
    assert len(out) == len(ref) == 4  # logits, feedback, plan, control
    assert [tuple(o.shape) for o in out] == [(1, 16, 2048), (1, 16, 32), (1, 16, 64), (1, 16, 32)]
    for o, r in zip(out, ref):
        assert torch.equal(o, r)


def test_ops_and_ports(good):
    tr, w, _ = good
    kinds = Counter(op.kind for op in tr.graph.ops)
    # per layer 8 heads x (q, k, v, o) + MLP (c_fc, c_proj); layer0 (fc, proj); lm_head
    assert kinds["linear"] == N_LAYER * (8 * 4 + 2) + 2 + 1
    assert kinds["sdpa"] == N_LAYER * 8
    assert kinds["embedding"] == 2
    ports = _ports(tr)
    expected = {("embed", "write", p) for p in ("feedback", "model", "plan", "control")}
    expected |= {("layer0", "read", "feedback"), ("layer0", "read", "control"), ("layer0", "write", "control")}
    expected |= {("readout", "read", "model")}
    for i in range(N_LAYER):
        for j in range(8):
            role = f"h.{i}.attn.heads.{j}"
            reads, write = (("model", "plan"), "model") if j < 4 else (
                (("model", "plan"), "plan") if j < 6 else (("model", "feedback"), "feedback"))
            expected |= {(role, "read", p) for p in reads} | {(role, "write", write)}
        expected |= {(f"h.{i}.mlp", a, p) for a in ("read", "write") for p in ("model", "plan")}
    assert ports == expected
    # components only see the stream through read_<p> / write_<p>: every consumer of a
    # partition tensor (a write port's output) is another port op, or it is a model output
    port_ops = [op for op in tr.graph.ops if parse_port(op.module)]
    assert all(op.kind in ("view", "add") for op in port_ops)  # read = copy, write = add
    stream = {op.outputs[0] for op in port_ops if parse_port(op.module)[1] == "write"}
    for op in tr.graph.ops:
        if stream & set(op.inputs):
            assert parse_port(op.module) is not None, f"{op.name} in '{op.module}' bypasses the ports"
    assert set(tr.graph.outputs[1:]) <= stream
    assert w.meta["partitions"] == {"feedback": 32, "model": 128, "plan": 64, "control": 32}


def test_miswire_changes_one_port(good, miswired):
    a, b = _ports(good[0]), _ports(miswired[0])
    assert a - b == {("h.1.attn.heads.2", "write", "model")}
    assert b - a == {("h.1.attn.heads.2", "write", "control")}


def test_arch_validates(arch):
    assert arch.residual is not None and set(arch.residual.partitions) == {"feedback", "model", "plan", "control"}
    assert arch.residual.default == "deny"
    assert arch.rom is not None and arch.rom.modules == ["layer0"]


def test_no_violations_and_access_matrix(good_run):
    d = good_run.data
    assert d["policy_violations"] == []
    m = d["access_matrix"]
    assert set(m) == set(READS)
    for role in READS:
        for part in ("feedback", "model", "plan", "control"):
            cell = m[role].get(part, {"read": 0, "write": 0})
            assert (cell["read"] > 0) == (part in READS[role]), (role, part, cell)
            assert (cell["write"] > 0) == (part in WRITES[role]), (role, part, cell)
    # embed writes the whole [1, 16, 256] embedding once, split across the four partitions
    # in proportion to their widths (32/128/64/32 channels)
    elem = m["embed"]["model"]["write"] // (16 * 128)  # bytes per element
    assert elem in (2, 4)
    assert {p: c["write"] for p, c in m["embed"].items()} == {
        "feedback": 16 * 32 * elem, "model": 16 * 128 * elem, "plan": 16 * 64 * elem, "control": 16 * 32 * elem}


def test_layer0_weights_in_rom(good_run):
    d = good_run.data
    assert set(d["rom"]["weights"]) >= {"layer0.fc.weight", "layer0.proj.weight"}
    assert all(w.startswith("layer0.") for w in d["rom"]["weights"])
    assert d["rom_comparison"]["without_rom"]["dram_read_bytes"] > d["rom_comparison"]["with_rom"]["dram_read_bytes"]


def test_miswire_is_a_violation(miswired, arch):
    d = api.simulate(arch, miswired[0].graph, OPTS).data
    v = d["policy_violations"]
    assert len(v) == 1
    (x,) = v
    assert "h.1.attn.heads.2" in x["module"] and x["role"] == "h.1.attn.heads.2"
    assert x["partition"] == "control" and x["access"] == "write"
    assert x["rule"] == "h.*.attn.heads.[0-3]"
    assert d["access_matrix"]["h.*.attn.heads.[0-3]"]["control"]["write"] > 0


def test_runs_on_plain_archs(good):
    """Without a residual: section the ports are ordinary copies/adds."""
    for name in ("datacenter-bf16", "edge-int8"):
        d = api.simulate(api.load_arch(name), good[0].graph, OPTS).data
        assert d["total_cycles"] > 0
        assert "policy_violations" not in d


def test_bad_params():
    with pytest.raises(WorkloadError, match="n_layer >= 2"):
        resolve("partitioned-transformer", {"n_layer": 1, "miswire": True})
    with pytest.raises(WorkloadError, match="seq"):
        resolve("partitioned-transformer", {"seq": 4096})
    assert resolve("partitioned-transformer", {"miswire": "true", "n_layer": 2}).meta["miswire"] is True
