"""Every shipped architecture loads and passes the semantic checks; key TPUv1 facts hold."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from accelsim.arch import (
    ARCHS_DIR,
    DEFAULT_ARCH,
    arch_from_dict,
    arch_to_dict,
    find_arch,
    load_arch,
    shipped_archs,
    spec_digest,
)
from accelsim.arch.spec import ROLES, semantic_problems
from accelsim.errors import SpecError

MIB = 1024 * 1024
SHIPPED = shipped_archs()


def test_expected_archs_are_shipped() -> None:
    names = {p.stem for p in SHIPPED}
    assert {"edge-int8", "tpuv1", "datacenter-bf16"} <= names
    assert DEFAULT_ARCH in names


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_arch_loads(path: Path) -> None:
    spec = load_arch(path)
    assert spec.name == path.stem
    assert spec.version == 1
    assert semantic_problems(spec) == []
    assert spec.description
    for role in ROLES:
        spec.sram.partition_for(role)  # every role has a home
    assert "version: 1" in path.read_text()
    assert arch_from_dict(arch_to_dict(spec)) == spec


def test_tpuv1_facts() -> None:
    spec = load_arch(find_arch("tpuv1"))
    (arr,) = spec.arrays
    assert (arr.rows, arr.cols, arr.count) == (256, 256, 1)
    assert (arr.precision, arr.acc_precision, arr.dataflow) == ("int8", "int32", "ws")
    assert spec.clock_ghz == pytest.approx(0.7)
    assert spec.peak_macs_per_cycle * 2 * spec.clock_hz == pytest.approx(92e12, rel=0.01)
    sram = spec.sram
    assert sram.partition_bytes(sram.partition_for("inputs")) == 24 * MIB
    assert sram.partition_for("inputs") == sram.partition_for("outputs")  # unified buffer
    assert sram.partition_bytes(sram.partition_for("accumulators")) == 4 * MIB
    assert sram.partition_bytes(sram.partition_for("weights")) == 4 * 256 * 256  # weight FIFO
    assert sram.bank_width_bytes == 256
    assert spec.dram.kind == "ddr3"
    assert spec.dram.bandwidth_gbps == pytest.approx(34)
    assert spec.dram.channels == 2
    assert spec.dram.capacity_gib == 8
    assert spec.technology == "28nm"


def test_edge_and_datacenter_shapes() -> None:
    edge = load_arch(find_arch("edge-int8"))
    assert edge.peak_macs_per_cycle == 16 * 16
    assert edge.sram.banks == 8 and edge.technology == "45nm"
    assert set(edge.sram.partitions) == {"inputs", "weights", "outputs", "accumulators"}
    dc = load_arch(find_arch(DEFAULT_ARCH))
    assert dc.arrays[0].count == 4 and dc.peak_macs_per_cycle == 4 * 128 * 128
    assert (dc.arrays[0].precision, dc.arrays[0].acc_precision) == ("bf16", "fp32")
    assert dc.sram.total_bytes == 64 * MIB
    assert dc.dram.bandwidth_gbps >= 2000 and dc.dram.channels == 16
    assert dc.controller.dma.engines >= 4 and dc.vector.lanes == 2048
    assert len(dc.array_instances()) == 4


def test_find_arch_forms(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    target = (ARCHS_DIR / "tpuv1.yaml").resolve()
    for form in ["tpuv1", "tpuv1.yaml", os.path.join("archs", "tpuv1.yaml"), str(target)]:
        assert find_arch(form).resolve() == target
    monkeypatch.chdir(tmp_path)  # away from the repo: still finds shipped names
    assert find_arch("tpuv1").resolve() == target
    assert find_arch(os.path.join("archs", "tpuv1.yaml")).resolve() == target
    (tmp_path / "mine.yaml").write_text("name: mine\n")
    assert find_arch("mine") == Path("mine.yaml")  # cwd, relative as given
    assert find_arch("mine.yaml") == Path("mine.yaml")


def test_find_arch_unknown_lists_shipped(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        find_arch("tpu-v9")
    text = str(info.value)
    assert text.startswith("tpu-v9: no such architecture")
    for p in SHIPPED:
        assert p.stem in text
    with pytest.raises(SpecError):  # a typo'd directory does not fall back to shipped files
        find_arch(str(tmp_path / "tpuv1.yaml"))


def test_spec_digest_stable_and_sensitive() -> None:
    path = find_arch("tpuv1")
    a, b = load_arch(path), load_arch(path)
    assert spec_digest(a) == spec_digest(b)
    assert len(spec_digest(a)) == 64 and int(spec_digest(a), 16) >= 0
    # Equal specs written differently hash the same (defaults made explicit, key order).
    d = arch_to_dict(a)
    assert spec_digest(arch_from_dict(dict(reversed(list(d.items()))))) == spec_digest(a)
    changed = load_arch(path, ["clock_ghz=0.75"])
    assert spec_digest(changed) != spec_digest(a)
    deep = load_arch(path, ["vector.lanes=128"])
    assert spec_digest(deep) != spec_digest(a)
    digests = {spec_digest(load_arch(p)) for p in SHIPPED}
    assert len(digests) == len(SHIPPED)


def test_spec_digest_respects_partition_order() -> None:
    base = {
        "name": "t",
        "clock_ghz": 1.0,
        "arrays": [{"rows": 2, "cols": 2}],
        "sram": {
            "banks": 2,
            "bank_size_kib": 4,
            "bank_width_bytes": 8,
            "partitions": {
                "a": {"banks": [0], "holds": ["inputs", "outputs", "weights", "accumulators"]},
                "b": {"banks": [1], "holds": ["inputs", "outputs", "weights", "accumulators"]},
            },
        },
        "dram": {"bandwidth_gbps": 1},
    }
    s1 = arch_from_dict(base)
    flipped = dict(base)
    parts = base["sram"]["partitions"]
    flipped["sram"] = {**base["sram"], "partitions": dict(reversed(parts.items()))}
    s2 = arch_from_dict(flipped)
    assert s1.sram.partition_for("inputs") != s2.sram.partition_for("inputs")
    assert spec_digest(s1) != spec_digest(s2)
