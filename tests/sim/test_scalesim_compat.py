"""--compat scalesim: total_cycles of a single-GEMM run equals SCALE-Sim's stall-free cycle
count for every row of the reference data (all dataflows, array shapes, GEMM shapes)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from accelsim import api
from builders import gemm_graph, make_arch

CASES = Path(__file__).resolve().parents[1] / "data" / "scalesim_cases.csv"
ROWS = list(csv.DictReader(CASES.open()))


@pytest.mark.parametrize(
    "row", ROWS, ids=[f"{r['layer']}-{r['array_rows']}x{r['array_cols']}-{r['dataflow']}" for r in ROWS]
)
def test_compat_equals_scalesim(row: dict[str, str]) -> None:
    R, C = int(row["array_rows"]), int(row["array_cols"])
    arch = make_arch(**{"arrays": [{"rows": R, "cols": C, "dataflow": row["dataflow"]}],
                        "sram.bank_size_kib": 1024})
    g = gemm_graph(int(row["M"]), int(row["N"]), int(row["K"]))
    res = api.simulate(arch, g, api.RunOptions(mode="scalesim"))
    assert res["total_cycles"] == int(row["stall_free_cycles"])
    assert res["macs"] == int(row["M"]) * int(row["N"]) * int(row["K"])
    if row["compute_util_pct"]:
        assert res["array_utilization"]["scalesim_compute_utilization"] == pytest.approx(
            float(row["compute_util_pct"]) / 100, rel=1e-5)
        assert res["array_utilization"]["scalesim_mapping_efficiency"] == pytest.approx(
            float(row["mapping_eff_pct"]) / 100, rel=1e-5)


def test_compat_is_ideal_memory() -> None:
    res = api.simulate(make_arch(**{"dram.bandwidth_gbps": 0.01}), gemm_graph(128, 768, 768),
                       api.RunOptions(mode="scalesim"))
    assert res["total_cycles"] == 127871  # ws 32x32 row of the reference data
    assert res["dram_read_bytes"] == 0 and res["dma_stall_cycles"] == 0


def test_compat_rejects_vector_ops() -> None:
    from accelsim.errors import MappingError
    from builders import mlp_graph

    with pytest.raises(MappingError, match="act.*mlp.act.*scalesim"):
        api.simulate(make_arch(), mlp_graph(), api.RunOptions(mode="scalesim"))
