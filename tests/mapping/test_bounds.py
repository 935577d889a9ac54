"""Mapped GEMMs against their physical lower bounds (issue 9, item 4).

For a GEMM on ``arrays`` R x C arrays at ``bw`` bytes per cycle, no mapping can beat

    compute = MACs / (R x C x arrays)      (every PE busy every cycle)
    dram    = compulsory bytes / bw        (A, B read once, C written once)

and a good one lands within 1.15x of the larger. Hand-derived: the shapes below are multiples
of the array, so the compute bound is exact integer arithmetic; compulsory bytes are
(M K + K N + M N) x element bytes. Each case is one of os / ws / is, compute- or memory-bound,
on an arch whose SRAM can hold what the loop order reuses.
"""

from __future__ import annotations

import copy
import math

import pytest

from accelsim import api
from accelsim.arch.spec import ArchSpec
from builders import BASE_ARCH, gemm_graph

#: (dataflow, R, arrays, DRAM GB/s at 1 GHz = bytes/cycle, M, N, K, which bound binds)
CASES = [
    ("ws", 32, 1, 32, 512, 512, 512, "compute"),
    ("os", 32, 1, 32, 512, 512, 512, "compute"),
    ("is", 32, 1, 32, 512, 512, 512, "compute"),
    ("ws", 32, 2, 64, 1024, 768, 768, "compute"),
    ("os", 64, 1, 64, 1024, 768, 768, "compute"),
    ("is", 32, 2, 64, 768, 1024, 768, "compute"),
    ("ws", 32, 1, 4, 64, 1024, 1024, "dram"),  # skinny: 1 MiB of weights at 4 B/cycle
    ("os", 32, 1, 4, 64, 1024, 1024, "dram"),
    ("is", 32, 1, 4, 1024, 64, 1024, "dram"),
]


def _arch(df: str, R: int, arrays: int, bw: int) -> ArchSpec:
    """BASE_ARCH with ``arrays`` R x R arrays and an SRAM wide enough to feed them: per array,
    two double-buffer slots of 2 banks for each operand and 4 accumulator banks (ws / is read and
    write C partial sums of 4 bytes per cycle: 2 x 32 x 4 = 256 B/cycle = 4 banks of 64 B)."""
    d = copy.deepcopy(BASE_ARCH)
    d["arrays"] = [{"rows": R, "cols": R, "dataflow": df, "precision": "int8", "acc_precision": "int32",
                    "count": arrays}]
    per = {"inputs": 4 * arrays, "weights": 4 * arrays, "outputs": 4 * arrays, "accumulators": 4 * arrays * R // 32}
    parts, b = {}, 0
    for name, n in per.items():
        parts[name] = {"banks": list(range(b, b + n)), "holds": [name]}
        b += n
    d["sram"].update(banks=b, bank_size_kib=64, partitions=parts)
    d["dram"]["bandwidth_gbps"] = bw
    return ArchSpec.model_validate(d)


def _cycles(df: str, R: int, arrays: int, bw: int, M: int, N: int, K: int) -> tuple[int, float, float]:
    arch = _arch(df, R, arrays, bw)
    r = api.simulate(arch, gemm_graph(M, N, K, dtype="int8"), api.RunOptions(energy=False, gpu=None))
    compute = M * N * K / (R * R * arrays)
    dram = (M * K + K * N + M * N) / (bw / arch.clock_ghz)  # int8: one byte per element
    return int(r.data["total_cycles"]), compute, dram


@pytest.mark.parametrize(("df", "R", "arrays", "bw", "M", "N", "K", "binds"), CASES,
                         ids=[f"{c[0]}-{c[1]}x{c[2]}-{c[7]}-{c[4]}x{c[5]}x{c[6]}" for c in CASES])
def test_gemm_within_1_15x_of_its_bound(df: str, R: int, arrays: int, bw: int, M: int, N: int, K: int,
                                        binds: str) -> None:
    cycles, compute, dram = _cycles(df, R, arrays, bw, M, N, K)
    bound = max(compute, dram)
    assert (compute >= dram) == (binds == "compute"), (compute, dram)
    assert cycles >= math.floor(bound), f"faster than physics: {cycles} < {bound}"
    assert cycles <= 1.15 * bound, f"{cycles} cycles, {cycles / bound:.3f}x the {binds} bound {bound:.0f}"


def test_one_tile_gemm_still_overlaps_its_loads() -> None:
    """A GEMM that fits one tile is split so loads stream under compute. Its output (8 KiB, a
    quarter of its bytes) can only leave after the last partial sum, so it cannot reach 1.15x:
    1.81x its bound in v0.1 with one tile, 1.36x now (measured)."""
    cycles, compute, dram = _cycles("ws", 32, 1, 8, 64, 128, 128)
    assert cycles <= 1.4 * max(compute, dram), (cycles, compute, dram)


def test_tpuv1_large_conv_reaches_90_percent_of_peak() -> None:
    """Default mode, shipped tpuv1 (one 256x256 ws array): ResNet-18 at 448x448, batch 8. Its
    256- and 512-channel 3x3 convolutions (K = 2304 / 4608 covers 9+ array heights, N fills the
    columns, weights of one K tile fit on chip) reach >= 90 % of peak MACs (measured 96.2 %).
    At 224x224 the same layers reach 86 %: M = 1568 rows per weight tile no longer hides the
    first weight tile's DRAM load (64 KiB, ~1.5k cycles), which nothing prefetches across ops."""
    pytest.importorskip("torch")
    res = api.run("tpuv1", "resnet18", params={"batch": 8, "image": 448},
                  options=api.RunOptions(energy=False, gpu=None))
    convs = [o for o in res.data["ops"] if o["kind"] == "conv2d" and o["macs"] >= 1.5e8 and o["unit"] == "array"]
    assert convs, "no large convolutions found"
    peak = res.data["peak_macs_per_cycle"]
    best = max(o["macs"] / (o["cycles"] * peak) for o in convs)
    assert best >= 0.90, [(o["name"], round(o["macs"] / (o["cycles"] * peak), 3)) for o in convs]


@pytest.mark.parametrize("df", ["ws", "is"])
def test_narrow_accumulators_bind_at_their_bandwidth(df: str) -> None:
    """BASE_ARCH's accumulator partition has 2 banks (128 B/cycle). A 512^3 GEMM on its 32x32
    ws / is array accumulates K / R = 16 folds: every fold writes its M x N int32 partial sums
    and all but the first read them back, 2 x 16 x 512 x 512 x 4 B = 32 MiB in all (hand-derived,
    the final read folded in), 262,144 cycles: twice the compute bound. The run is held to that
    bound, not to compute, and lands within 1.15x of it."""
    from builders import make_arch

    arch = make_arch(**{"arrays.0.dataflow": df})
    r = api.simulate(arch, gemm_graph(512, 512, 512, dtype="int8"), api.RunOptions(energy=False, gpu=None))
    cycles = int(r.data["total_cycles"])
    sram_bound = 2 * 16 * 512 * 512 * 4 / 128
    assert sram_bound == 262_144
    assert sram_bound <= cycles <= 1.15 * sram_bound, cycles


def test_gpt2_small_fused_attention_near_its_bounds() -> None:
    """GPT-2 small's causal attention (12 heads, 1024 x 1024, head dim 64; one layer) fused on
    datacenter-bf16's four 128x128 arrays. Hand-derived bounds: 128-row query blocks skip the
    key blocks right of the diagonal, so each head executes 128 x 128 x (1 + ... + 8) = 589,824
    scores, 7,077,888 in all; QK^T and P.V take 64 MACs per score each (905,969,664 MACs), and
    a 64-deep (QK^T) or 64-wide (P.V) product fills half of a 128x128 array: 27,648 cycles on
    four. The vector unit normalises every score (softmax cost per element / lanes): 26,112.
    Measured 31,653 cycles, 1.145x (95,516 with the scores on the vector unit's one shared bank,
    39,113 with raw scores and probabilities on one output slot's three banks, which made the
    softmax SRAM-bound, 34,852 with the raw scores in the idle input slot under the old issue
    order). The mapper simulated each issue order alone and kept the fastest (plan.schedule)."""
    pytest.importorskip("torch")
    arch = api.load_arch("datacenter-bf16")
    r = api.run("datacenter-bf16", "gpt2-small", params={"layers": 1}, options=api.RunOptions(energy=False, gpu=None))
    att = [o for o in r.data["ops"] if o["kind"] == "attention"]
    assert len(att) == 1
    scores = 12 * 128 * 128 * sum(range(1, 9))
    assert att[0]["macs"] == 2 * 64 * scores == 905_969_664
    array_lb = att[0]["macs"] / (64 * 128 * 4)
    vector_lb = scores * arch.vector.cost("softmax") / arch.vector.lanes
    bound = max(array_lb, vector_lb)
    assert array_lb == 27_648
    assert bound <= att[0]["cycles"] <= 1.3 * bound, (att[0]["cycles"], array_lb, vector_lb)
    plan = next(o for o in r.program.ops if o.kind == "attention").plan
    tried = plan["schedule_cycles"]
    assert set(tried) == {"staged", "qk_ahead", "interleaved"}
    assert tried[plan["schedule"]] == min(tried.values())
    # the op alone and in the model: the same schedule, within the model's start-up offset
    assert abs(att[0]["cycles"] - tried[plan["schedule"]]) <= 0.01 * att[0]["cycles"]


def test_bigger_banks_moving_the_scores_to_the_resident_area_cost_nothing() -> None:
    """With 1 MiB banks GPT-2 small's scores fit the resident area and the probabilities move
    there; the raw scores keep the array's idle input slot (when both shared the resident
    slice, HF GPT-2 at seq 1024 got 2.5 % slower from the bigger banks). One layer: doubling the
    bank size does not add more than 1 % (measured: 781,621 -> 780,351 cycles)."""
    pytest.importorskip("torch")
    from accelsim.workload.registry import load_graph

    g = load_graph("gpt2-small", {"layers": 1})
    out = {}
    for kib in (512, 1024):
        base = api.load_arch("datacenter-bf16")
        d = base.model_dump()
        d["sram"]["bank_size_kib"] = kib
        r = api.simulate(type(base).model_validate(d), g, api.RunOptions(energy=False, gpu=None))
        plan = next(o for o in r.program.ops if o.kind == "attention").plan
        out[kib] = (int(r.data["total_cycles"]), plan["residency"]["scores"])
    assert out[512][1] == "sram (array tile slots), raw scores in the input slots"
    assert out[1024][1] == "sram (resident area), raw scores in the input slots"
    assert out[1024][0] <= 1.01 * out[512][0], out
