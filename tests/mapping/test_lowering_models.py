"""Lowering that does what the hardware would (issue 10, item 3), on traced models.

1. HF GPT-2 (``gelu_new``, causal mask built from positions, dropout clones) costs what the
   shipped GPT-2 of the same shapes costs (within 5 % on datacenter-bf16), its GELU chain in one
   vector pass with the shipped GELU's DRAM traffic.
2. Depthwise / grouped convolutions are placed by the cost model (array, packed on the array,
   vector unit), and the emulator computes every placement (``--check`` int8 and bf16).
3. 1-D convolutions map and check.
4. Recurrent weights stay on chip across time steps: DRAM reads close to one pass over them.
5. BatchNorm after a convolution is folded: no ``batch_norm`` op is mapped.

Default tests use tiny configs (seconds); the full-size claims (GPT-2 small at seq 1024,
MobileNet-V2 vs ResNet-18 at 224x224 on every shipped arch, Mamba) are marked slow.
"""

from __future__ import annotations

import functools
import math

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from accelsim import api  # noqa: E402
from accelsim.mapping.options import MappingOptions  # noqa: E402
from accelsim.workload.gemm import gemm_view  # noqa: E402
from accelsim.workload.trace import trace  # noqa: E402
from builders import make_arch  # noqa: E402

torch.set_num_threads(1)

SHIPPED = ("edge-int8", "tpuv1", "datacenter-bf16", "partitioned-residual")
CHECK_ARCHS = {"edge-int8": "int8-exact", "datacenter-bf16": "bf16-fp32acc"}
NOGPU = api.RunOptions(gpu=None, energy=False)


def _run(arch: str | object, graph: object, opts: api.RunOptions = NOGPU):  # type: ignore[no-untyped-def]
    a = api.load_arch(arch) if isinstance(arch, str) else arch
    return api.simulate(a, graph, opts)  # type: ignore[arg-type]


def _check(res, traced) -> dict:  # type: ignore[no-untyped-def]
    chk = api.check(res, traced, level="all")
    assert chk["passed"], chk["first_failure"]
    return chk


# ---------------------------------------------------------------------------------------------
# 1. HF GPT-2 vs the shipped GPT-2
# ---------------------------------------------------------------------------------------------

#: hf:gpt2 with gpt2-tiny's shapes (workloads/gpt2.py: 2 layers, d_model 128, 4 heads, vocab
#: 1024, context 1024). ``use_cache=False``: the shipped model returns the logits only, HF's
#: default also returns the KV cache (two more outputs per layer, stored to DRAM): work the
#: shipped model does not do.
HF_TINY = {"n_layer": 2, "n_embd": 128, "n_head": 4, "vocab_size": 1024, "n_positions": 1024,
           "use_cache": False, "bos_token_id": 0, "eos_token_id": 0}


@functools.cache
def _gpt2_pair(seq: int, full: bool = False):  # type: ignore[no-untyped-def]
    pytest.importorskip("transformers")
    if full:
        ship = api.load_graph("gpt2-small", {"seq": seq})
        hf = api.load_graph("hf:gpt2", {"seq": seq, "use_cache": False})
    else:
        ship = api.load_graph("gpt2-tiny", {"seq": seq})
        hf = api.load_graph("hf:gpt2", {"seq": seq, **HF_TINY})
    return ship, hf


def _macs(g) -> int:  # type: ignore[no-untyped-def]
    return sum(gemm_view(op, g).macs for op in g.ops if op.kind in ("linear", "matmul", "conv2d", "conv1d"))


def _gelu_ops(res, module_suffix: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return [o for o in res.data["ops"] if o["module"].endswith(module_suffix) and o["unit"] == "vector"]


def test_hf_gpt2_lowers_to_the_shipped_gpt2() -> None:
    """The lowering finds what HF's graph hides: its causal mask (a folded constant) is SDPA's
    ``is_causal``; each ``gelu_new`` (8 element-wise ops, a DAG) is one fused vector pass. Then
    HF GPT-2 costs the shipped GPT-2's cycles within 5 %
    on datacenter-bf16 (same MACs), and on edge-int8, whose SRAM does not hold every activation,
    its GELU pass moves exactly the shipped GELU's DRAM bytes: no intermediate round trips."""
    ship, hf = _gpt2_pair(64)
    assert _macs(hf) == _macs(ship)
    assert set(hf.meta["causal_masks"].values()) == {"keep"}
    r_ship, r_hf = _run("datacenter-bf16", ship), _run("datacenter-bf16", hf)
    low = r_hf.program.graph.meta["lowered"]
    assert len(low["causal"]) == 2
    acts = [op for op in r_hf.program.graph.ops if op.module.endswith("mlp.act")]
    assert [op.kind for op in acts] == ["fused", "fused"]
    assert all([s["kind"] for s in op.attrs["sub_ops"]] == ["mul", "pow", "mul", "add", "mul", "tanh", "add", "mul"]
               for op in acts)
    ratio = r_hf.data["total_cycles"] / r_ship.data["total_cycles"]
    assert 0.95 <= ratio <= 1.05, ratio
    # edge-int8: the GELU is DRAM-bound there; fused, HF's reads x and writes y once, as the
    # shipped gelu does; unfused, its intermediates go to DRAM and back
    e_ship, e_hf = _run("edge-int8", ship), _run("edge-int8", hf)
    g_ship, g_hf = _gelu_ops(e_ship, "mlp.gelu"), _gelu_ops(e_hf, "mlp.act")
    assert len(g_ship) == len(g_hf) == 2
    assert [o["dram_bytes"] for o in g_hf] == [o["dram_bytes"] for o in g_ship]
    assert all(o["dram_bytes"] > 0 for o in g_ship)  # the test is not vacuous: the GELU does spill
    unfused = _run("edge-int8", hf, api.RunOptions(gpu=None, energy=False,
                                                   mapping=MappingOptions(fuse_elementwise=False)))
    spill = sum(o["dram_bytes"] for o in _gelu_ops(unfused, "mlp.act"))
    assert spill > 3 * sum(o["dram_bytes"] for o in g_hf)


@pytest.mark.slow
def test_hf_gpt2_small_within_5_percent_of_the_shipped_one() -> None:
    """The issue's claim at full size: hf:gpt2 at its defaults (GPT-2 small shapes) but
    ``use_cache=False``, seq 1024, vs the shipped gpt2-small on datacenter-bf16 (measured
    +2.1 %; +5.0 % with the default ``use_cache=True``, which also writes the KV cache)."""
    ship, hf = _gpt2_pair(1024, full=True)
    assert _macs(hf) == _macs(ship)
    ratio = _run("datacenter-bf16", hf).data["total_cycles"] / _run("datacenter-bf16", ship).data["total_cycles"]
    assert 0.95 <= ratio <= 1.05, ratio


# ---------------------------------------------------------------------------------------------
# 2. depthwise / grouped convolutions
# ---------------------------------------------------------------------------------------------


class _Separable(nn.Module):
    """A MobileNet-V2 block body: 1x1 expansion, depthwise 3x3 (BatchNorm, ReLU6), 1x1 projection,
    and a grouped 3x3 (4 groups, ResNeXt style) for the non-depthwise grouped case."""

    def __init__(self, c: int = 16, t: int = 4) -> None:
        super().__init__()
        h = c * t
        self.expand = nn.Conv2d(c, h, 1, bias=False)
        self.dw = nn.Conv2d(h, h, 3, padding=1, groups=h, bias=False)
        self.bn = nn.BatchNorm2d(h)
        self.project = nn.Conv2d(h, c, 1)
        self.grouped = nn.Conv2d(c, c, 3, padding=1, groups=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.relu6(self.bn(self.dw(self.expand(x))))
        return self.grouped(self.project(y) + x)


@functools.cache
def _separable():  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    m = _Separable().eval()
    with torch.no_grad():  # non-trivial batch-norm statistics (folded into the depthwise conv)
        m.bn.running_mean.uniform_(-0.5, 0.5)
        m.bn.running_var.uniform_(0.5, 2.0)
    return trace(m, (torch.randn(1, 16, 14, 14),), "separable")


def _placed(res, name: str):  # type: ignore[no-untyped-def]
    return next(m for m in res.program.ops if m.ir_op == name)


@pytest.mark.parametrize("arch", SHIPPED)
def test_grouped_convs_go_where_the_cost_model_says(arch: str) -> None:
    """Each grouped conv records every placement's predicted cycles and takes the cheapest; the
    depthwise conv's is far below the plain array mapping's (g one-column GEMMs). Check passes."""
    t = _separable()
    res = _run(arch, t.graph)
    res.program.verify(api.load_arch(arch))  # tiles cover each GEMM once, MACs add up, buffers fit
    for name in ("dw", "grouped"):
        op = next(o for o in t.graph.ops if o.module == name)
        m = _placed(res, op.name)
        table = m.plan["placements"]
        where = m.plan["placement"]
        key = where if where != "packed" else f"packed{m.plan['packed_groups']}"
        assert table[key] == min(table.values())
        assert m.unit == ("vector" if where == "vector" else "array")
        if name == "dw":
            assert table[key] < table["array"], table
            # the plain mapping does K = 9 MACs per array per cycle; the vector unit one per lane:
            # where that rate is 8x the arrays', the chosen placement is at least 4x faster
            spec = api.load_arch(arch)
            if spec.vector.lanes >= 8 * 9 * sum(a.count for a in spec.arrays):
                assert table[key] * 4 < table["array"], table
    if arch in CHECK_ARCHS:
        assert _check(res, t)["scheme"] == CHECK_ARCHS[arch]


@pytest.mark.parametrize("precision", ["int8", "bf16"])
def test_packed_placement_computes_the_same_convolution(precision: str) -> None:
    """With a 1-lane vector unit packing wins on a 32x32 array (3 depthwise 3x3 blocks fit: 2
    groups per block-diagonal GEMM, since 2 divides 64); the emulator lays the operands out the
    same way and the check passes (int8 bit-exact; bf16 within its bound). Array MACs count the
    useful products only: the model's MACs."""
    t = _separable()
    arch = make_arch(**{"vector.lanes": 1, "arrays.0.precision": precision,
                        "arrays.0.acc_precision": "int32" if precision == "int8" else "fp32"})
    res = _run(arch, t.graph)
    dw = next(o for o in t.graph.ops if o.module == "dw")
    m = _placed(res, dw.name)
    v = gemm_view(dw, t.graph)
    assert m.plan["placement"] == "packed" and m.plan["packed_groups"] == 2
    assert m.gemm == (v.groups // 2, v.M, 2 * v.N, 2 * v.K)
    assert m.macs == v.macs == sum(tl.macs for tl in res.program.tiles[m.tiles[0]:m.tiles[1]])
    res.program.verify(arch)
    _check(res, t)


def _mobilenet_vs_resnet(image: int) -> dict[str, tuple[int, int]]:
    gr = api.load_graph("resnet18", {"image": image})
    gm = api.load_graph("mobilenet-v2", {"image": image})
    return {a: (_run(a, gm).data["total_cycles"], _run(a, gr).data["total_cycles"]) for a in SHIPPED}


@pytest.mark.slow
def test_mobilenet_v2_costs_fewer_cycles_than_resnet18_everywhere() -> None:
    """MobileNet-V2 (300 M MACs) vs ResNet-18 (1.81 G MACs) at 224x224 on every shipped arch.
    Measured MobileNet / ResNet cycles: edge-int8 0.53, tpuv1 0.81, datacenter-bf16 0.97,
    partitioned-residual 0.51; with the plain array mapping of every depthwise conv (g one-column
    GEMMs): 0.71, 10.2, 10.6 and 2.9."""
    for arch, (mobile, res) in _mobilenet_vs_resnet(224).items():
        assert mobile < res, (arch, mobile, res)


@pytest.mark.slow
@pytest.mark.parametrize("arch", sorted(CHECK_ARCHS))
def test_mobilenet_v2_checks(arch: str) -> None:
    t = api.load_traced("mobilenet-v2", {"image": 32})
    res = _run(arch, t.graph)
    assert any(m.plan.get("placement") for m in res.program.ops)
    _check(res, t)


# ---------------------------------------------------------------------------------------------
# 3. conv1d
# ---------------------------------------------------------------------------------------------


class _Conv1d(nn.Module):
    """A dense 1-D conv (stride 2, dilation 2) and Mamba's causal depthwise conv (kernel 4,
    padding 3, the first L outputs kept)."""

    def __init__(self) -> None:
        super().__init__()
        self.dense = nn.Conv1d(8, 24, 3, stride=2, padding=2, dilation=2)
        self.causal = nn.Conv1d(24, 24, 4, groups=24, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dense(x)
        return self.causal(y)[..., : y.shape[-1]]


@pytest.mark.parametrize("arch", sorted(CHECK_ARCHS))
def test_conv1d_maps_and_checks(arch: str) -> None:
    torch.manual_seed(0)
    t = trace(_Conv1d().eval(), (torch.randn(2, 8, 33),), "conv1d")
    convs = [op for op in t.graph.ops if op.kind == "conv1d"]
    # by hand: dense Lo = (33 + 4 - 2*2 - 1) // 2 + 1 = 17, 24 x 8 x 3 MACs per output position;
    # depthwise Lo = 17 + 6 - 3 = 20 positions x 24 channels x 4 taps; batch 2
    assert [gemm_view(op, t.graph).macs for op in convs] == [2 * 17 * 24 * 8 * 3, 2 * 20 * 24 * 4]
    res = _run(arch, t.graph)
    placed = {m.ir_op: m.unit for m in res.program.ops if m.kind == "conv1d"}
    assert set(placed) == {op.name for op in convs} and placed[convs[0].name] == "array"
    _check(res, t)


class _ReshapeInChain(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.sigmoid(x * 2.0).reshape(x.shape[0], -1)
        return torch.tanh(y + 1.0) * y


@pytest.mark.parametrize("arch", sorted(CHECK_ARCHS))
def test_fused_chain_with_a_reshape_inside_checks(arch: str) -> None:
    torch.manual_seed(0)
    t = trace(_ReshapeInChain(), (torch.randn(4, 8, 16),), "reshape-chain")
    res = _run(arch, t.graph)
    fused = [op for op in res.program.graph.ops if op.kind == "fused"]
    assert len(fused) == 1 and "view" in [s["kind"] for s in fused[0].attrs["sub_ops"]]
    _check(res, t)


@pytest.mark.slow
@pytest.mark.parametrize("arch", sorted(CHECK_ARCHS))
def test_mamba_maps_checks_and_reads_its_weights_once(arch: str) -> None:
    pytest.importorskip("transformers")
    t = api.load_traced("hf:mamba", dict(num_hidden_layers=1, hidden_size=64, vocab_size=256, state_size=8, seq=4))
    res = _run(arch, t.graph)
    assert any(m.kind == "conv1d" for m in res.program.ops)
    _check(res, t)
    elem = 1 if arch == "edge-int8" else 2
    w = sum(t.graph.tensors[k].numel for k in t.params if t.graph.tensors[k].kind == "weight") * elem
    assert w <= res.data["dram_read_bytes"] <= 1.05 * w + 4096


# ---------------------------------------------------------------------------------------------
# 4. recurrent weights
# ---------------------------------------------------------------------------------------------


class _RNN(nn.Module):
    def __init__(self, cell: type[nn.Module], d: int = 32, h: int = 64) -> None:
        super().__init__()
        self.rnn = cell(d, h, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0]


@functools.cache
def _rnn(cell: str, steps: int = 8):  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    return trace(_RNN(getattr(nn, cell)).eval(), (torch.randn(1, steps, 32),), cell.lower())


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_recurrent_weights_are_read_from_dram_once(cell: str) -> None:
    """On datacenter-bf16 (2-byte elements) DRAM reads are one pass over the weights plus the
    input sequence: at least both weight matrices once, at most every parameter and the input
    once (by hand: 2 x numel bytes; the GEMMs' bias vectors are read with them or not); every
    recurrent GEMM after the first step reads W_hh from SRAM. With no resident area
    (resident_fraction=0) each of the 8 steps re-reads W_hh: the rule is what keeps it on chip."""
    t = _rnn(cell)
    g = t.graph
    T = g.tensors
    weights = [k for k in t.params if T[k].kind == "weight"]
    w_hh = next(k for k in weights if T[k].source.endswith("weight_hh_l0"))
    matrices = 2 * sum(T[k].numel for k in weights if len(T[k].shape) == 2)
    one_pass = 2 * (sum(T[k].numel for k in weights) + T[g.inputs[0]].numel)
    res = _run("datacenter-bf16", g)
    assert matrices <= res.data["dram_read_bytes"] <= one_pass
    recur = [m for m in res.program.ops if m.unit == "array" and w_hh in m.operands]
    assert len(recur) >= 7 and all(m.plan["residency"]["b"] == "sram" for m in recur[1:])
    assert any("weights kept on chip" in n for n in res.program.notes)
    cold = _run("datacenter-bf16", g, api.RunOptions(gpu=None, energy=False,
                                                     mapping=MappingOptions(resident_fraction=0.0)))
    assert cold.data["dram_read_bytes"] >= matrices + (len(recur) - 1) * 2 * T[w_hh].numel


@pytest.mark.parametrize("arch", sorted(CHECK_ARCHS))
def test_lstm_checks(arch: str) -> None:
    t = _rnn("LSTM")
    _check(_run(arch, t.graph), t)


# ---------------------------------------------------------------------------------------------
# 5. BatchNorm folding
# ---------------------------------------------------------------------------------------------


@functools.cache
def _resnet():  # type: ignore[no-untyped-def]
    return api.load_traced("resnet18", {"image": 32})


def test_resnet18_batch_norms_are_folded() -> None:
    """ResNet-18 has 20 BatchNorms, each right after a convolution (He et al. 2016: 17 3x3 / 7x7
    convs + 3 1x1 projections): all are folded at trace time; none reaches the mapper."""
    t = _resnet()
    folded = [f for f in t.graph.meta["folded"] if f["kind"] == "batch_norm"]
    assert len(folded) == 20 == sum(1 for op in t.graph.ops if op.kind == "conv2d")
    res = _run("datacenter-bf16", t.graph)
    assert not [op for op in res.program.graph.ops if op.kind == "batch_norm"]
    assert not [m for m in res.program.ops if m.kind == "batch_norm"]


@pytest.mark.parametrize("arch", sorted(CHECK_ARCHS))
def test_resnet18_checks(arch: str) -> None:
    t = _resnet()
    chk = _check(_run(arch, t.graph), t)
    assert chk["vs_model"] is None or chk["vs_model"]["passed"]


def test_vector_conv_estimate_is_close_to_the_simulation() -> None:
    """The closed form that picks the vector placement (model/vector_conv.py) against the SimPy
    run of the op it chose, on datacenter-bf16: within 25 % (it ignores SRAM bank contention)."""
    t = _separable()
    res = _run("datacenter-bf16", t.graph)
    dw = next(o for o in t.graph.ops if o.module == "dw")
    m = _placed(res, dw.name)
    sim = next(o for o in res.data["ops"] if o["name"] == m.name)["cycles"]
    pred = m.plan["placements"]["vector"]
    assert math.isclose(sim, pred, rel_tol=0.25), (sim, pred)
