"""Shipped CNN workloads (workloads/resnet.py, workloads/mobilenet.py): torchvision layouts,
MACs equal to a count by hand from the papers' architecture tables, BatchNorm folded, and the
traced graph matching the eager model."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from accelsim.errors import WorkloadError  # noqa: E402
from accelsim.workload.gemm import gemm_view  # noqa: E402
from accelsim.workload.registry import load_graph, load_traced  # noqa: E402
from accelsim.workload.replay import replay  # noqa: E402

torch.set_num_threads(1)


def _macs(g) -> int:
    return sum(gemm_view(op, g).macs for op in g.ops if op.kind in ("conv2d", "linear", "matmul"))


def resnet18_macs(img: int = 224) -> int:
    """He et al. 2016, Table 1 (18-layer): conv1 7x7/2, 3x3 max pool /2, four stages of two basic
    blocks (two 3x3 convs each; a 1x1/2 projection where the width doubles), fc 1000."""
    s = img // 2
    total = s * s * 64 * 3 * 49
    s //= 2
    cin = 64
    for i, w in enumerate((64, 128, 256, 512)):
        if i:
            s //= 2
            total += s * s * w * cin  # projection shortcut
        total += s * s * w * cin * 9 + 3 * s * s * w * w * 9
        cin = w
    return total + 512 * 1000


def mobilenet_v2_macs(img: int = 224) -> int:
    """Sandler et al. 2018, Table 2: conv 3x3/2 to 32, bottlenecks (t, c, n, s), 1x1 to 1280, fc."""
    s = img // 2
    total = s * s * 32 * 27
    cin = 32
    for t, c, n, st in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                        (6, 320, 1, 1)):
        for i in range(n):
            hid = cin * t
            if t != 1:
                total += s * s * hid * cin  # 1x1 expansion at the input resolution
            if i == 0 and st == 2:
                s //= 2
            total += s * s * hid * 9 + s * s * c * hid  # 3x3 depthwise, 1x1 projection
            cin = c
    return total + s * s * 1280 * 320 + 1280 * 1000


@pytest.fixture(scope="module")
def resnet():
    return load_traced("resnet18", {"image": 64})


@pytest.fixture(scope="module")
def mobilenet():
    return load_traced("mobilenet-v2", {"image": 64})


def test_hand_counts_match_the_papers():
    """The hand counts give the published multiply-adds at 224x224 (ResNet-18 1.81 G, torchvision's
    model table; MobileNet-V2 300 M, Sandler et al. Table 4); the traced graphs equal the hand
    counts (at 64x64 below: the same formula, cheaper to trace)."""
    assert abs(resnet18_macs() / 1.81e9 - 1) < 0.005
    assert abs(mobilenet_v2_macs() / 300e6 - 1) < 0.005


_MOBILENET = pytest.param("mobilenet", marks=pytest.mark.slow)  # 52 convs: ~8 s to trace here


@pytest.mark.parametrize(
    "which, n_conv, n_dw", [("resnet", 20, 0), pytest.param("mobilenet", 52, 17, marks=pytest.mark.slow)]
)
def test_structure_and_folded_batch_norm(which, n_conv, n_dw, request):
    tr = request.getfixturevalue(which)
    g = tr.graph
    c = g.op_counts()
    assert c["conv2d"] == n_conv and "batch_norm" not in c  # every BN follows a conv: folded
    assert len([f for f in g.meta["folded"] if f["kind"] == "batch_norm"]) == n_conv
    assert sum(gemm_view(op, g).depthwise for op in g.ops if op.kind == "conv2d") == n_dw
    assert c["pool"] == (2 if which == "resnet" else 1)
    assert _macs(g) == (resnet18_macs(64) if which == "resnet" else mobilenet_v2_macs(64))
    mods = {op.module for op in g.ops}
    assert ({"conv1", "layer2.0.downsample.0", "fc"} if which == "resnet"
            else {"features.0.0", "features.2.conv.1.0", "classifier.1"}) <= mods


@pytest.mark.parametrize("which", ["resnet", _MOBILENET])
def test_replay_matches_the_eager_model(which, request):
    tr = request.getfixturevalue(which)
    out = replay(tr)[tr.graph.outputs[0]]
    ref = tr.eager_outputs[tr.graph.outputs[0]]
    assert (out - ref).abs().max().item() <= 1e-5 * ref.abs().max().item()  # BN folding: fp32 rounding


def test_bad_params():
    with pytest.raises(WorkloadError, match="image must be at least 32"):
        load_graph("resnet18", {"image": 16})
    with pytest.raises(WorkloadError, match="width must be"):
        load_graph("mobilenet-v2", {"width": 9})
