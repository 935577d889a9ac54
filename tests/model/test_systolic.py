"""Hand-derived checks of accelsim.model.systolic (SCALE-Sim v3.0.0 closed forms + pipelined)."""

from __future__ import annotations

import csv
import itertools
import re
from pathlib import Path
from typing import Any, cast

import pytest

from accelsim.model.systolic import (
    Dataflow,
    compute_utilization,
    conv2d_gemm_dims,
    fold_counts,
    gemm_cycles,
    mac_utilization,
    mapping_efficiency,
    pipelined_cycles,
    scalesim_cycles,
    scalesim_fold_cycles,
    scalesim_serial_cycles,
    scalesim_sram_accesses,
    sram_operand_words,
    streamed_length,
)

CASES_CSV = Path(__file__).resolve().parents[1] / "data" / "scalesim_cases.csv"
DATAFLOWS: tuple[Dataflow, ...] = ("os", "ws", "is")

# (dataflow, M, N, K, R, C) -> hand-derived values. See the comment above each.
# fmt: off
HAND: list[dict[str, Any]] = [
    # os, partial row fold (M=33 on 32 rows): fr=2, fc=1, fold 10+32+16-2=56 -> 112 (111 reported).
    # Pipelined: (2-1)*max(10,32) + 10 + (32+16-2) = 88.
    # Mapping: folds use 32x16 and 1x16 PEs: (512+16)/(2*512) = 0.515625.
    # SRAM: ifmap 1*33*10=330, filter 2*10*16=320, ofmap 33*16 + 2*1*(32+16) = 624.
    dict(
        df="os", M=33, N=16, K=10, R=32, C=16, folds=(2, 1), T=10, fold=56, serial=112,
        pipe=88, map_num=528, map_den=1024, L=56,
        sram=(330, 320, 624), phys_out=528,
    ),
    # ws, partial folds both ways: K=33 on 32 rows (32+1), N=7 on 4 cols (4+3): fr=2, fc=2,
    # fold 2*32+4+5-2=71 -> 284. Pipelined: 32 + 3*max(5,32) + 5 + (32+4-2) = 167.
    # Mapping 33*7/(4*32*4) = 231/512; L = 64+8+5-3 = 74.
    # SRAM: ifmap 2*5*33=330, filter 33*7=231, ofmap 2*5*7=70.
    dict(
        df="ws", M=5, N=7, K=33, R=32, C=4, folds=(2, 2), T=5, fold=71, serial=284,
        pipe=167, map_num=231, map_den=512, L=74,
        sram=(330, 231, 70), phys_out=70,
    ),
    # is: K=3 on 2 rows (2+1), M=9 on 4 cols (4+4+1): fr=2, fc=3, fold 4+4+20-2=26 -> 156.
    # Pipelined: 2 + 5*max(20,2) + 20 + (2+4-2) = 126. Mapping 3*9/(6*8) = 27/48; L = 4+8+20-3 = 29.
    # SRAM: ifmap 9*3=27, filter 3*3*20=180, ofmap 2*9*20=360.
    dict(
        df="is", M=9, N=20, K=3, R=2, C=4, folds=(2, 3), T=20, fold=26, serial=156,
        pipe=126, map_num=27, map_den=48, L=29,
        sram=(27, 180, 360), phys_out=360,
    ),
    # 1-row array, os, 3x2x4 on 1x2: fr=3, fc=1, fold 4+1+2-2=5 -> 15; pipelined 2*4+4+1 = 13.
    dict(
        df="os", M=3, N=2, K=4, R=1, C=2, folds=(3, 1), T=4, fold=5, serial=15,
        pipe=13, map_num=6, map_den=6, L=5,
        sram=(12, 24, 6 + 3 * 3), phys_out=6,
    ),
    # 1x1 array, ws, 3x2x4: fr=4, fc=2, fold 2+1+3-2=4 -> 32; pipelined 1 + 7*3 + 3 + 0 = 25.
    # L = 2+2+3-3 = 4, so compute util = 3/4 (every fold is full).
    dict(
        df="ws", M=3, N=2, K=4, R=1, C=1, folds=(4, 2), T=3, fold=4, serial=32,
        pipe=25, map_num=8, map_den=8, L=4,
        sram=(24, 8, 24), phys_out=24,
    ),
    # 1-column array, is, 3x2x4 on 2x1: fr=2, fc=3, fold 4+1+2-2=5 -> 30; pipelined 2+5*2+2+1=15.
    dict(
        df="is", M=3, N=2, K=4, R=2, C=1, folds=(2, 3), T=2, fold=5, serial=30,
        pipe=15, map_num=12, map_den=12, L=4 + 2 + 2 - 3,
        sram=(12, 24, 12), phys_out=12,
    ),
    # 1x1 array, os, 2x3x5: fr=2, fc=3, fold 5+1+1-2=5 -> 30; pipelined 5*5+5+0 = 30: with C=1 and
    # min(K,R)=1 nothing overlaps, so pipelined == serial even with 6 folds.
    dict(
        df="os", M=2, N=3, K=5, R=1, C=1, folds=(2, 3), T=5, fold=5, serial=30,
        pipe=30, map_num=6, map_den=6, L=5,
        sram=(30, 30, 6 + 6 * 2), phys_out=6,
    ),
    # 1x1x1 GEMM on a 1x1 array: os fold 1+1+1-2=1 (0 reported); ws/is 2+1+1-2=2 (1 reported).
    dict(
        df="os", M=1, N=1, K=1, R=1, C=1, folds=(1, 1), T=1, fold=1, serial=1,
        pipe=1, map_num=1, map_den=1, L=1, sram=(1, 1, 3), phys_out=1,
    ),
    dict(
        df="ws", M=1, N=1, K=1, R=1, C=1, folds=(1, 1), T=1, fold=2, serial=2,
        pipe=2, map_num=1, map_den=1, L=2, sram=(1, 1, 1), phys_out=1,
    ),
    dict(
        df="is", M=1, N=1, K=1, R=1, C=1, folds=(1, 1), T=1, fold=2, serial=2,
        pipe=2, map_num=1, map_den=1, L=2, sram=(1, 1, 1), phys_out=1,
    ),
    # 1x1x1 GEMM on 4x4: os 1+4+4-2=7; ws/is 8+4+1-2=11 (L = 8+8+1-3 = 14). Mapping 1/16.
    dict(
        df="os", M=1, N=1, K=1, R=4, C=4, folds=(1, 1), T=1, fold=7, serial=7,
        pipe=7, map_num=1, map_den=16, L=7, sram=(1, 1, 9), phys_out=1,
    ),
    dict(
        df="ws", M=1, N=1, K=1, R=4, C=4, folds=(1, 1), T=1, fold=11, serial=11,
        pipe=11, map_num=1, map_den=16, L=14, sram=(1, 1, 1), phys_out=1,
    ),
    dict(
        df="is", M=1, N=1, K=1, R=4, C=4, folds=(1, 1), T=1, fold=11, serial=11,
        pipe=11, map_num=1, map_den=16, L=14, sram=(1, 1, 1), phys_out=1,
    ),
]
# fmt: on


def _id(c: dict[str, Any]) -> str:
    return f"{c['df']}-{c['M']}x{c['N']}x{c['K']}-on-{c['R']}x{c['C']}"


@pytest.mark.parametrize("c", HAND, ids=_id)
def test_hand_derived(c: dict[str, Any]) -> None:
    args: tuple[Dataflow, int, int, int, int, int] = (
        c["df"],
        c["M"],
        c["N"],
        c["K"],
        c["R"],
        c["C"],
    )
    assert fold_counts(*args) == c["folds"]
    assert streamed_length(c["df"], c["M"], c["N"], c["K"]) == c["T"]
    assert scalesim_fold_cycles(*args) == c["fold"]
    assert scalesim_serial_cycles(*args) == c["serial"]
    assert scalesim_cycles(*args) == c["serial"] - 1
    assert gemm_cycles(*args, mode="scalesim") == c["serial"]
    assert pipelined_cycles(*args) == c["pipe"]
    assert gemm_cycles(*args, mode="pipelined") == c["pipe"]
    assert mapping_efficiency(*args) == pytest.approx(c["map_num"] / c["map_den"], rel=1e-12)
    assert compute_utilization(*args) == pytest.approx(
        c["map_num"] * c["T"] / (c["map_den"] * c["L"]), rel=1e-12
    )
    ifm, flt, ofm = c["sram"]
    assert scalesim_sram_accesses(*args) == {
        "ifmap_reads": ifm,
        "filter_reads": flt,
        "ofmap_writes": ofm,
    }
    assert sram_operand_words(*args) == {"inputs": ifm, "weights": flt, "outputs": c["phys_out"]}


def test_scalesim_worked_example() -> None:
    # scalesim.md: 128x768x768 on 32x32 os: fr=4, fc=24, 768+62=830 per fold -> 79,679.
    assert fold_counts("os", 128, 768, 768, 32, 32) == (4, 24)
    assert scalesim_fold_cycles("os", 128, 768, 768, 32, 32) == 830
    assert scalesim_cycles("os", 128, 768, 768, 32, 32) == 79_679
    assert scalesim_serial_cycles("os", 128, 768, 768, 32, 32) == 79_680
    # All folds full: 100 % mapping, 768/830 compute, MACs/(1024*79679) overall.
    assert mapping_efficiency("os", 128, 768, 768, 32, 32) == 1.0
    assert compute_utilization("os", 128, 768, 768, 32, 32) == pytest.approx(768 / 830)
    assert mac_utilization(128, 768, 768, 32, 32, 79_679) == pytest.approx(
        128 * 768 * 768 / (1024 * 79_679)
    )
    # Pipelined: 96 folds every max(768, 32) cycles, + 62 skew once: 96*768 + 62.
    assert pipelined_cycles("os", 128, 768, 768, 32, 32) == 96 * 768 + 62


def test_gemv_ws_full_mapping_tiny_utilisation() -> None:
    # 1x768x768 on 128x128 ws: 6x6 full folds of weights -> 100 % mapping; T = M = 1 and
    # L = 2*128 + 2*128 + 1 - 3 = 510 -> compute utilisation 1/510 (0.196 %).
    args: tuple[Dataflow, int, int, int, int, int] = ("ws", 1, 768, 768, 128, 128)
    assert fold_counts(*args) == (6, 6)
    assert mapping_efficiency(*args) == 1.0
    assert compute_utilization(*args) == pytest.approx(1 / 510, rel=1e-12)
    assert scalesim_cycles(*args) == 36 * (256 + 128 + 1 - 2) - 1 == 13_787
    assert mac_utilization(1, 768, 768, 128, 128, 13_787) == pytest.approx(36 / 13_787)
    # Pipelined: preload 128 exposed once, folds every max(1, 128) cycles, last fold streams 1.
    assert pipelined_cycles(*args) == 128 + 35 * 128 + 1 + 254


def test_pipelined_equals_serial_for_one_fold() -> None:
    for df, M, N, K, R, C in itertools.product(
        DATAFLOWS, (1, 3, 8), (1, 4, 8), (1, 5, 8), (1, 2, 8), (1, 3, 8)
    ):
        if fold_counts(df, M, N, K, R, C) != (1, 1):
            continue
        # Holds for T >= R (the brief's condition) and also for T < R (no preload follows).
        assert pipelined_cycles(df, M, N, K, R, C) == scalesim_serial_cycles(df, M, N, K, R, C)


def test_pipelined_less_than_serial_for_many_folds() -> None:
    # 512x3072x768 on 32x32: hundreds of folds; pipelining hides preload/fill per fold.
    for df in DATAFLOWS:
        n = fold_counts(df, 512, 3072, 768, 32, 32)
        assert n[0] * n[1] > 100
        assert pipelined_cycles(df, 512, 3072, 768, 32, 32) < scalesim_serial_cycles(
            df, 512, 3072, 768, 32, 32
        )
    # ws: 16 folds of 2R+C+M-2 = 94 vs 8 + 16*max(64, 8) + ... hand value:
    # serial 4*4*(16+8+64-2)=1376; pipelined 8 + 15*64 + 64 + (8+8-2) = 1046.
    assert scalesim_serial_cycles("ws", 64, 32, 32, 8, 8) == 1376
    assert pipelined_cycles("ws", 64, 32, 32, 8, 8) == 1046


def test_pipelined_never_exceeds_serial() -> None:
    sizes = (1, 2, 3, 5, 9)
    shapes = itertools.product(DATAFLOWS, sizes, sizes, sizes, (1, 2, 4), (1, 2, 4))
    for df, M, N, K, R, C in shapes:
        p = pipelined_cycles(df, M, N, K, R, C)
        s = scalesim_serial_cycles(df, M, N, K, R, C)
        fr, fc = fold_counts(df, M, N, K, R, C)
        assert p <= s
        if fr * fc > 1 and C > 1:
            assert p < s


def _brute_pipelined(df: Dataflow, M: int, N: int, K: int, R: int, C: int) -> int:
    """Fold-by-fold schedule with one shadow buffer for the stationary operand."""
    fr, fc = fold_counts(df, M, N, K, R, C)
    T = {"os": K, "ws": M, "is": N}[df]
    swap = 0 if df == "os" else R  # ws/is: the first preload is exposed
    shadow_free = swap  # when the shadow buffer has been reloaded (ws/is) or drained (os)
    end = 0
    for i in range(fr * fc):
        start = max(swap, shadow_free) if i else swap
        end = start + T  # this fold's streaming ends
        # The shadow buffer is busy R cycles from this fold's start: ws/is preload the next
        # fold's stationary operand; os drains the previous fold's outputs.
        shadow_free = start + R
        swap = max(end, shadow_free)
    return end + R + C - 2


def test_pipelined_matches_fold_schedule() -> None:
    sizes = (1, 2, 3, 7)
    for df, M, N, K, R, C in itertools.product(DATAFLOWS, sizes, sizes, sizes, (1, 2, 5), (1, 3)):
        assert pipelined_cycles(df, M, N, K, R, C) == _brute_pipelined(df, M, N, K, R, C)


def _brute_folds(df: Dataflow, M: int, N: int, K: int, R: int, C: int) -> list[tuple[int, int]]:
    """(rows_used, cols_used) of every fold, column fold outer, row fold inner (SCALE-Sim)."""
    rows, cols = {"os": (M, N), "ws": (K, N), "is": (K, M)}[df]
    out = []
    for j in range(0, cols, C):
        for i in range(0, rows, R):
            out.append((min(R, rows - i), min(C, cols - j)))
    return out


def test_utilisations_match_brute_force_over_folds() -> None:
    sizes = (1, 2, 3, 5, 8)
    shapes = itertools.product(DATAFLOWS, sizes, sizes, sizes, (1, 2, 3, 4), (1, 3, 4))
    for df, M, N, K, R, C in shapes:
        folds = _brute_folds(df, M, N, K, R, C)
        fr, fc = fold_counts(df, M, N, K, R, C)
        assert len(folds) == fr * fc
        T = {"os": K, "ws": M, "is": N}[df]
        L = K + R + C - 2 if df == "os" else 2 * R + 2 * C + T - 3
        me = sum(r * c / (R * C) for r, c in folds) / len(folds)
        cu = sum(r * c * T / (R * C * L) for r, c in folds) / len(folds)
        assert mapping_efficiency(df, M, N, K, R, C) == pytest.approx(me, rel=1e-12)
        assert compute_utilization(df, M, N, K, R, C) == pytest.approx(cu, rel=1e-12)


def test_operand_words_match_brute_force_over_folds() -> None:
    # Physical per-fold traffic: the stationary tile is loaded once, the other input operand
    # streams through the fold, and the fold writes its outputs (partial sums for ws/is).
    sizes = (1, 2, 3, 5, 8)
    shapes = itertools.product(DATAFLOWS, sizes, sizes, sizes, (1, 2, 3), (1, 2, 4))
    for df, M, N, K, R, C in shapes:
        a = b = c_out = 0
        for r, c in _brute_folds(df, M, N, K, R, C):
            if df == "os":  # r output rows x c output cols, reduction over all K
                a, b, c_out = a + r * K, b + K * c, c_out + r * c
            elif df == "ws":  # r of K x c of N weights; all M rows stream
                a, b, c_out = a + M * r, b + r * c, c_out + M * c
            else:  # is: r of K x c of M inputs; all N filter columns stream
                a, b, c_out = a + r * c, b + r * N, c_out + c * N
        words = sram_operand_words(df, M, N, K, R, C)
        assert words == {"inputs": a, "weights": b, "outputs": c_out}
        fr, fc = fold_counts(df, M, N, K, R, C)
        spurious = fr * fc * (R + C) if df == "os" else 0
        assert scalesim_sram_accesses(df, M, N, K, R, C) == {
            "ifmap_reads": a,
            "filter_reads": b,
            "ofmap_writes": c_out + spurious,
        }


def test_mac_utilization() -> None:
    # 2x3x4 = 24 MACs on a 2x2 array in 12 cycles: 24/(4*12) = 0.5.
    assert mac_utilization(2, 3, 4, 2, 2, 12) == 0.5
    assert mac_utilization(1, 1, 1, 1, 1, 1) == 1.0
    with pytest.raises(ValueError):
        mac_utilization(1, 1, 1, 1, 1, 0)


def _conv_rows() -> list[dict[str, str]]:
    with CASES_CSV.open(newline="") as f:
        return [r for r in csv.DictReader(f) if r["kind"] == "conv"]


@pytest.mark.parametrize(
    "row", _conv_rows(), ids=lambda r: f"{r['layer']}-{r['array_rows']}-{r['dataflow']}"
)
def test_conv_rows_im2col_dims(row: dict[str, str]) -> None:
    # Layer names encode the conv: conv{R}x{S}_{H}x{W}x{C}_{F}_s{stride}.
    m = re.fullmatch(r"conv(\d+)x(\d+)_(\d+)x(\d+)x(\d+)_(\d+)_s(\d+)", row["layer"])
    assert m, row["layer"]
    r, s, h, w, c, f, stride = map(int, m.groups())
    assert conv2d_gemm_dims(h, w, c, r, s, f, stride=stride) == (
        int(row["M"]),
        int(row["N"]),
        int(row["K"]),
    )


def test_conv2d_gemm_dims_hand() -> None:
    # 15x15x64, 3x3, 128 filters, stride 2: Ho = (15-3)//2 + 1 = 7 -> M = 49, K = 9*64 = 576.
    assert conv2d_gemm_dims(15, 15, 64, 3, 3, 128, stride=2) == (49, 128, 576)
    # 28x28x32, 3x3, 64 filters: Ho = 26 -> M = 676, K = 288.
    assert conv2d_gemm_dims(28, 28, 32, 3, 3, 64) == (676, 64, 288)
    # "same" padding: 28x28 out; batch 2 doubles M.
    assert conv2d_gemm_dims(28, 28, 32, 3, 3, 64, padding=1, batch=2) == (2 * 784, 64, 288)
    # dilation 2 makes a 3x3 filter span 5: Ho = 15 - 5 + 1 = 11.
    assert conv2d_gemm_dims(15, 15, 1, 3, 3, 1, dilation=2) == (121, 1, 9)
    # Non-square: 10x20 input, 3x5 filter, stride 2: Ho = 7//2+1 = 4, Wo = 15//2+1 = 8.
    assert conv2d_gemm_dims(10, 20, 3, 3, 5, 7, stride=2) == (32, 7, 45)
    # 1x1 conv is a plain GEMM over pixels.
    assert conv2d_gemm_dims(7, 7, 256, 1, 1, 64) == (49, 64, 256)
    with pytest.raises(ValueError):
        conv2d_gemm_dims(2, 2, 1, 3, 3, 1)
    with pytest.raises(ValueError):
        conv2d_gemm_dims(8, 8, 1, 3, 3, 1, padding=-1)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        fold_counts(cast(Dataflow, "xs"), 1, 1, 1, 1, 1)
    with pytest.raises(ValueError):
        scalesim_cycles("os", 0, 1, 1, 1, 1)
    with pytest.raises(ValueError):
        pipelined_cycles("ws", 1, 1, 1, 0, 1)
    with pytest.raises(ValueError):
        gemm_cycles("os", 1, 1, 1, 1, 1, mode=cast(Any, "fast"))


def test_huge_fold_counts_are_closed_form() -> None:
    # 10^12-fold problems must not loop: M = N = 10^6 + 1 on a 1x1 array.
    M = N = 1_000_001
    assert fold_counts("os", M, N, 7, 1, 1) == (M, N)
    assert mapping_efficiency("os", M, N, 7, 1, 1) == 1.0
    assert compute_utilization("os", M, N, 7, 1, 1) == pytest.approx(7 / 7)
    assert scalesim_serial_cycles("os", M, N, 7, 1, 1) == M * N * 7
    assert mapping_efficiency("os", M, N, 7, 2, 2) == pytest.approx(M * N / ((M + 1) * (N + 1)))
