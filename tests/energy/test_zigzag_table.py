"""accelsim's GEMM energy against ZigZag 3.9.1 on twelve int8 layers.

The recorded ZigZag numbers (tests/data/zigzag_cases.json) come from
benchmarks/zigzag_table.py, which describes each case twice with the same per-action energies: a
ZigZag accelerator and its accelsim twin (``accelsim_arch``). Here accelsim maps and simulates
each GEMM (``MappingOptions(objective="energy")``; separately the default latency objective) and
its energy -- arrays + SRAM + DRAM, the components ZigZag models -- must be within 5 % of the
best mapping ZigZag knows: the cheaper of its LOMA search and its own evaluation of accelsim's
loop order. Held out: nothing in accelsim was fitted to these numbers. No ZigZag needed here.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

import pytest

from accelsim import api
from accelsim.arch.spec import ArchSpec
from accelsim.mapping.banks import bank_plan
from accelsim.mapping.options import MappingOptions, Objective
from builders import gemm_graph
from conftest import DATA

DOC: dict[str, Any] = json.loads((DATA / "zigzag_cases.json").read_text(encoding="utf-8"))
CASES: dict[str, dict[str, Any]] = {c["name"]: c for c in DOC["cases"]}
TOL = 0.05

#: Cases outside the 5 % band with the energy objective: the measured gap and its cause (see
#: docs/validation.md). A mapping-space difference; on the same mapping the two cost models agree
#: within 0.2 % (test_same_mapping_same_energy).
XFAIL_ENERGY: dict[str, str] = {
    "resnet50-conv3-os16": (
        "accelsim +6.5 % (110.5 vs 103.8 uJ): ZigZag keeps all of B (64 KiB, the whole weight buffer, "
        "single-buffered as the whole operand fits) and reads every operand from DRAM once (0.57 MB) "
        "while writing out small output tiles (it reaches 103.8 uJ with a 4 KiB output buffer too); in "
        "accelsim a tile's n is both the B panel's width and the output tile's, so holding all of B "
        "(n = N = 512) needs a 16 x 512 output tile, 16 KiB double-buffered, in 12 KiB of output tile "
        "buffer: its best, 16x256x128 in order N, reads A twice (0.67 MB); with a 64 KiB output "
        "partition (28 KiB of tile buffer) accelsim runs 16x512x128 and reads 0.57 MB (104.5 uJ)"),
}


@functools.cache
def simulate(name: str, objective: Objective) -> Any:
    c = CASES[name]
    arch = ArchSpec.model_validate(c["accelsim_arch"])
    opts = api.RunOptions(gpu=None, mapping=MappingOptions(objective=objective))
    return api.simulate(arch, gemm_graph(c["M"], c["N"], c["K"], dtype="int8"), opts)


def compared_energy_j(r: Any) -> float:
    """Energy of the components ZigZag models: MACs, SRAM, DRAM (J)."""
    b = r["energy"]["breakdown_j"]
    return math.fsum(v for k, v in b.items() if k not in ("controllers", "static"))


def zigzag_best_j(c: dict[str, Any]) -> float:
    """The cheapest mapping ZigZag evaluated for the case (J), recomputed from the record."""
    known = [c["zigzag_min_energy"]["energy_pj"]]
    known += [m["zigzag"]["energy_pj"] for m in c["zigzag_on_accelsim_mappings"] if m["zigzag"]]
    return min(known) * 1e-12


def _pj(v: float | None) -> float:
    assert v is not None, "every per-action energy of the twin is set explicitly"
    return v


def _params(xfails: dict[str, str]) -> list[Any]:
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=xfails[n])) if n in xfails else n
            for n in CASES]


# --- the recorded file --------------------------------------------------------------------------


def test_table_covers_what_the_issue_asks() -> None:
    assert DOC["tool"] == "zigzag-dse" and DOC["zigzag_version"] == "3.9.1"
    assert DOC["date"] and "benchmarks/zigzag_table.py" in DOC["command"]
    cs = list(CASES.values())
    assert len(cs) >= 10
    assert {c["dataflow"] for c in cs} == {"ws", "os"}
    sides = {c["array"][0] for c in cs}
    assert min(sides) == 16 and max(sides) == 128
    assert all(c["dtype"] == "int8" and c["macs"] == c["M"] * c["N"] * c["K"] for c in cs)
    for c in cs:
        best = zigzag_best_j(c)
        assert best == pytest.approx(c["zigzag_best_energy_pj"] * 1e-12, rel=1e-12)
        # ZigZag's own energy adds up: MACs + every memory level
        z = c["zigzag_min_energy"]
        levels = sum(lv["energy_pj"] for op in z["levels"].values() for lv in op)
        assert z["energy_pj"] == pytest.approx(z["mac_energy_pj"] + levels, rel=1e-9)
        assert z["mac_energy_pj"] == pytest.approx(c["macs"] * DOC["energy_rules"]["mac_pj"], rel=1e-9)


@pytest.mark.parametrize("name", list(CASES))
def test_both_sides_describe_the_same_hardware(name: str) -> None:
    """Capacities and per-byte energies of the accelsim twin, derived here from the ZigZag
    hierarchy independently of the script that wrote both."""
    c = CASES[name]
    arch = ArchSpec.model_validate(c["accelsim_arch"])
    hw = c["zigzag_inputs"]["hardware"]
    mems = hw["memories"]
    side = c["array"][0]
    assert hw["operational_array"]["sizes"] == c["array"] == [arch.arrays[0].rows, arch.arrays[0].cols]
    assert arch.arrays[0].dataflow == c["dataflow"] and arch.static_power_w == 0.0
    assert arch.controller.dma.transfer_energy_pj == 0.0 and arch.controller.sequencer.command_energy_pj == 0.0
    # capacities: what accelsim's mapper may use for the GEMM's tiles == ZigZag's memory sizes
    tiles = bank_plan(arch, MappingOptions().resident_fraction).tile_bytes
    assert c["tile_bytes"] == tiles, (
        "recorded under another bank plan (accelsim/mapping/banks.py): regenerate with benchmarks/zigzag_table.py")
    for buf in ("in_buf", "w_buf"):
        assert mems[buf]["size"] == 8 * tiles[buf], buf
    # os: ZigZag spills partial sums into the output buffer, accelsim into its accumulators
    spill = tiles["acc"] if c["dataflow"] == "os" else 0
    assert mems["out_buf"]["size"] == 8 * (tiles["out_buf"] + spill)
    if c["dataflow"] == "ws":
        assert mems["acc"]["size"] * side == 8 * (tiles["acc"] - tiles["acc"] % side)
    # per-byte energies (accelsim: per bank-width access; ZigZag: per port-width access)
    width = arch.sram.bank_width_bytes
    parts = {n: (_pj(p.read_energy_pj), _pj(p.write_energy_pj)) for n, p in arch.sram.partitions.items()}
    port = {m: mems[m]["ports"][0]["bandwidth_min"] / 8 for m in mems}
    assert port["in_buf"] == port["w_buf"] == port["out_buf"] == width == side
    per = {m: mems[m]["r_cost"] / port[m] for m in mems}  # pJ per byte
    assert arch.dram.energy_pj_per_bit == pytest.approx(per["dram"] / 8)
    assert parts["in_buf"][0] / width == pytest.approx(per["in_buf"])
    assert parts["in_buf"][1] / width == pytest.approx(per["in_buf"])
    assert parts["w_buf"][1] / width == pytest.approx(per["w_buf"])
    assert parts["out_buf"][0] / width == pytest.approx(per["out_buf"])
    mac = hw["operational_array"]["unit_energy"]
    if c["dataflow"] == "ws":
        reg = mems["w_reg"]["r_cost"]  # per 8-bit weight: one fill (write) + one read per buffer read
        assert parts["w_buf"][0] / width == pytest.approx(per["w_buf"] + 2 * reg)
        assert parts["out_buf"][1] / width == pytest.approx(per["out_buf"])
        assert parts["acc"][0] / width == pytest.approx(per["acc"])
        assert parts["acc"][1] / width == pytest.approx(per["acc"])
        assert _pj(arch.arrays[0].mac_energy_pj) == pytest.approx(mac)
    else:
        reg = mems["o_reg"]["r_cost"]  # per 32-bit partial sum
        assert _pj(arch.arrays[0].mac_energy_pj) == pytest.approx(mac + 2 * reg)
        assert parts["out_buf"][1] / width == pytest.approx(per["out_buf"] + reg)
        assert parts["acc"][0] / width == pytest.approx(per["out_buf"] + reg / 4)
        assert parts["w_buf"][0] / width == pytest.approx(per["w_buf"])


# --- accelsim against ZigZag ----------------------------------------------------------------------


@pytest.mark.parametrize("name", _params(XFAIL_ENERGY))
def test_energy_objective_within_5_percent_of_zigzag(name: str) -> None:
    c = CASES[name]
    r = simulate(name, "energy")
    ours, theirs = compared_energy_j(r), zigzag_best_j(c)
    assert ours == pytest.approx(theirs, rel=TOL), (
        f"{name}: accelsim {ours * 1e6:.1f} uJ vs ZigZag {theirs * 1e6:.1f} uJ ({(ours / theirs - 1) * 100:+.1f} %)")


def _recorded_same_mapping(c: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any] | None:
    """ZigZag's evaluation of the mapping accelsim chose now, if it was recorded."""
    for m in c["zigzag_on_accelsim_mappings"]:
        if (m["zigzag"] and m["tile"] == list(plan["tile"]) and m["order"] == plan["order"]
                and m["panel_rows"] == plan["panel_rows"]):
            return m["zigzag"]  # type: ignore[no-any-return]
    return None


def _same_mapping(name: str, objective: Objective, tol: float) -> None:
    c = CASES[name]
    r = simulate(name, objective)
    plan = r.program.ops[0].plan
    z = _recorded_same_mapping(c, plan)
    if z is None:
        pytest.skip(f"{name}: ZigZag has no recorded evaluation of accelsim's mapping "
                    f"{plan['tile']} order {plan['order']} (not an exact factorisation, or a new choice: "
                    "regenerate with benchmarks/zigzag_table.py)")
    ours, theirs = compared_energy_j(r), z["energy_pj"] * 1e-12
    assert ours == pytest.approx(theirs, rel=tol), (name, plan["tile"], plan["order"], ours, theirs)


@pytest.mark.parametrize("name", list(CASES))
def test_same_mapping_same_energy(name: str) -> None:
    """ZigZag's cost model on accelsim's own loop order (recorded by the script) agrees with the
    simulator within 1 %: the cost models match; remaining gaps are mapping choices."""
    _same_mapping(name, "energy", 0.01)


#: The latency objective's choices where the two cost models part on the same loop order.
XFAIL_SAME_LATENCY: dict[str, str] = {
    "gpt2-attn-qkv-os64": (
        "accelsim 2791.1 vs ZigZag 2895.0 uJ (-3.6 %) on the same loop order (128x256x384 tiles, K in "
        "2 tiles, one A panel): counting convention, not mapping -- ZigZag moves every partial sum "
        "through the output buffer twice each way at 32 bits (a first fill that reads zero, and the "
        "final sum written at partial-sum precision before its 8-bit read-out): 589,824 port-width "
        "accesses, 235.9 uJ, where accelsim spills once each way into its accumulators (119.3 uJ) and "
        "writes and reads the int8 result (30.2 uJ); everything else agrees within 3 uJ"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", _params(XFAIL_SAME_LATENCY))
def test_latency_objective_same_mapping_same_energy(name: str) -> None:
    """As above, for the latency objective's choices. 2 %: these include os mappings that split K,
    where ZigZag charges each partial sum's first fill (a read of zero) and writes the final sum
    at partial-sum precision (4 bytes) into a buffer that also holds partial sums; accelsim does
    neither (bert-attn-out-os32, K in 2 tiles: ZigZag +1.4 %; gpt2-attn-qkv-os64, whose output
    buffer costs twice as much per byte, is past 2 %: an xfail)."""
    _same_mapping(name, "latency", 0.02)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_energy_objective_never_costs_more_than_the_latency_objective(name: str) -> None:
    """The latency objective may spend energy for speed (reported in docs/validation.md); the
    energy objective must not lose to it (beyond the search's 0.5 % tie window)."""
    e = compared_energy_j(simulate(name, "energy"))
    lat = compared_energy_j(simulate(name, "latency"))
    assert e <= lat * 1.005, (name, e, lat)


@pytest.mark.parametrize("name", ["bert-attn-out-os32", "resnet50-conv2-ws16"])
def test_left_out_line_is_only_dma_transport(name: str) -> None:
    """The comparison drops ``controllers``: with transfer and command energies at 0 it must hold
    the DMA's on-chip byte transport alone (which an architecture file cannot override)."""
    r = simulate(name, "energy")
    b = r["energy"]["breakdown_j"]
    per = r["energy"]["per_action_pj"]
    counts = r["action_counts"]
    assert b["static"] == 0.0 and per["dma.transfer"] == 0.0 and per["sequencer.command"] == 0.0
    assert b["controllers"] == pytest.approx(counts["dma_bytes"] * per["dma.byte"] * 1e-12, rel=1e-9)
    assert counts["dma_bytes"] == r["dram_read_bytes"] + r["dram_write_bytes"]
    assert b["controllers"] < 0.05 * compared_energy_j(r)


@pytest.mark.parametrize("name", list(CASES))
def test_energy_is_physically_bounded(name: str) -> None:
    """Below no mapping can go: every MAC, and each operand crossing the DRAM pins once."""
    c = CASES[name]
    r = simulate(name, "energy")
    arch = ArchSpec.model_validate(c["accelsim_arch"])
    M, N, K = c["M"], c["N"], c["K"]
    compulsory = M * K + K * N + M * N  # int8 bytes
    assert r["dram_read_bytes"] + r["dram_write_bytes"] >= compulsory
    mac_pj, dram_pj_per_bit = _pj(arch.arrays[0].mac_energy_pj), _pj(arch.dram.energy_pj_per_bit)
    floor_j = (c["macs"] * mac_pj + compulsory * 8 * dram_pj_per_bit) * 1e-12
    assert compared_energy_j(r) >= floor_j
