"""YAML -> ArchSpec loading: every bad-YAML fixture's expected messages, plus file handling.

Each ``tests/data/bad_yaml/*.yaml`` carries its expectations as leading comments:

    # expect: sram.partitions.weights.banks[3]: bank 9 does not exist (8 banks)
    # expect-count: 1

Every ``expect`` fragment must appear in the SpecError right after ``<file>: `` on one line
(so the file and the YAML path are both named); ``expect-count`` is the number of problems.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from accelsim.arch import arch_from_dict, arch_to_dict, load_arch
from accelsim.arch.spec import ArchSpec
from accelsim.errors import SpecError

BAD = Path(__file__).resolve().parents[1] / "data" / "bad_yaml"
FIXTURES = sorted(BAD.glob("*.yaml"))

MINIMAL = {
    "name": "tiny",
    "clock_ghz": 1.0,
    "arrays": [{"rows": 4, "cols": 4}],
    "sram": {
        "banks": 4,
        "bank_size_kib": 4,
        "bank_width_bytes": 16,
        "partitions": {
            "act": {"banks": [0, 1], "holds": ["inputs", "outputs"]},
            "w": {"banks": [2], "holds": ["weights"]},
            "acc": {"banks": [3], "holds": ["accumulators"]},
        },
    },
    "dram": {"bandwidth_gbps": 10},
}


def _expectations(path: Path) -> tuple[list[str], int | None]:
    fragments: list[str] = []
    count: int | None = None
    for line in path.read_text().splitlines():
        if line.startswith("# expect:"):
            fragments.append(line.removeprefix("# expect:").strip())
        elif line.startswith("# expect-count:"):
            count = int(line.removeprefix("# expect-count:"))
    return fragments, count


def test_fixtures_exist_and_declare_expectations() -> None:
    assert len(FIXTURES) >= 15
    for f in FIXTURES:
        fragments, count = _expectations(f)
        assert fragments, f"{f.name} has no '# expect:' line"
        assert count is not None, f"{f.name} has no '# expect-count:' line"


@pytest.mark.parametrize("path", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_bad_yaml_fixture(path: Path) -> None:
    fragments, count = _expectations(path)
    file = str(path)
    with pytest.raises(SpecError) as info:
        load_arch(file)
    err = info.value
    lines = str(err).splitlines()
    assert all(line.startswith(f"{file}: ") for line in lines), str(err)
    assert all(p.file == file for p in err.problems)
    for frag in fragments:
        assert any(f"{file}: {frag}" in line for line in lines), (
            f"expected {frag!r} in:\n{err}"
        )
    if count is not None:
        assert len(err.problems) == count, str(err)
    assert err.exit_code == 2


def test_relative_path_stays_relative(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(BAD.parent)
    with pytest.raises(SpecError) as info:
        load_arch(os.path.join("bad_yaml", "zero_rows.yaml"))
    rel = os.path.join("bad_yaml", "zero_rows.yaml")
    assert str(info.value) == f"{rel}: arrays[0].rows: must be > 0 (got 0)"


def test_file_not_found_lists_shipped(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(SpecError) as info:
        load_arch(missing)
    text = str(info.value)
    assert text.startswith(f"{missing}: cannot read architecture file: no such file")
    assert "tpuv1" in text


def test_directory_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="directory"):
        load_arch(tmp_path)


def test_truly_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "blank.yaml"
    p.write_text("")
    with pytest.raises(SpecError, match=r"blank.yaml: file is empty"):
        load_arch(p)


def test_minimal_dict_loads_with_defaults() -> None:
    spec = arch_from_dict(MINIMAL)
    assert isinstance(spec, ArchSpec)
    assert spec.version == 1
    assert spec.arrays[0].dataflow == "ws"
    assert spec.sram.partition_for("weights") == "w"


def test_arch_from_dict_labels_problems_with_file() -> None:
    bad = {**MINIMAL, "clock_ghz": -1}
    with pytest.raises(SpecError) as info:
        arch_from_dict(bad, file="mem.yaml")
    assert str(info.value) == "mem.yaml: clock_ghz: must be >= 0.001 (got -1)"
    with pytest.raises(SpecError, match=r"^<arch>: clock_ghz"):
        arch_from_dict(bad)


def test_arch_from_dict_rejects_non_mapping() -> None:
    with pytest.raises(SpecError, match="top level must be a mapping"):
        arch_from_dict([1, 2])  # type: ignore[arg-type]


def test_arch_from_dict_does_not_mutate_input() -> None:
    data = {**MINIMAL, "arrays": [{"rows": 4, "cols": 4}]}
    arch_from_dict(data, overrides=["arrays[0].rows=8"])
    assert data["arrays"][0]["rows"] == 4


def test_semantic_checks_run_only_after_types_pass() -> None:
    # A type error and a semantic error (bank 9 of 4): only the type error is reported,
    # because the cross-field rules need a well-typed spec.
    data = {**MINIMAL, "clock_ghz": "fast"}
    data["sram"] = {**MINIMAL["sram"], "partitions": {"all": {"banks": [9], "holds": ["inputs"]}}}
    with pytest.raises(SpecError) as info:
        arch_from_dict(data)
    assert [p.path for p in info.value.problems] == ["clock_ghz"]


def test_round_trip_through_dict() -> None:
    spec = arch_from_dict(MINIMAL)
    d = arch_to_dict(spec)
    assert arch_from_dict(d) == spec
    assert "mac_energy_pj" not in d["arrays"][0]  # None fields are dropped
    assert d["controller"]["dma"]["engines"] == spec.controller.dma.engines  # defaults kept
