"""``--set PATH=VALUE`` parsing and application."""

from __future__ import annotations

import pytest

from accelsim.arch import (
    apply_overrides,
    find_arch,
    load_arch,
    parse_override,
    parse_path,
    set_path,
)
from accelsim.errors import SpecError

DATA = {
    "name": "x",
    "arrays": [{"rows": 16, "cols": 16}],
    "sram": {"partitions": {"weights": {"banks": [2, 3], "holds": ["weights"]}}},
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("name", ["name"]),
        ("arrays[0].rows", ["arrays", 0, "rows"]),
        ("sram.partitions.weights.banks[1]", ["sram", "partitions", "weights", "banks", 1]),
        ("a[0][12].b-c", ["a", 0, 12, "b-c"]),
        ("  clock_ghz ", ["clock_ghz"]),
    ],
)
def test_parse_path(path: str, expected: list[str | int]) -> None:
    assert parse_path(path) == expected


@pytest.mark.parametrize(
    "path", ["", "a..b", ".a", "a.", "a[x]", "a[0", "a]", "[0]", "a[-1]", "a b"]
)
def test_parse_path_rejects(path: str) -> None:
    with pytest.raises(SpecError):
        parse_path(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("arrays[0].rows=64", ("arrays[0].rows", 64)),
        ("clock_ghz=1.5", ("clock_ghz", 1.5)),
        ("arrays[0].dataflow=ws", ("arrays[0].dataflow", "ws")),
        ("flag=true", ("flag", True)),
        ("sram.partitions.w.banks=[0, 1]", ("sram.partitions.w.banks", [0, 1])),
        ('name="x=y"', ("name", "x=y")),
        ("name = spaced ", ("name", "spaced")),
        ("static_power_w=null", ("static_power_w", None)),
        ("description='64'", ("description", "64")),
    ],
)
def test_parse_override(text: str, expected: tuple[str, object]) -> None:
    assert parse_override(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("arrays[0].rows", "expected PATH=VALUE"),
        ("arrays[0].rows=", "no value after '='"),
        ("=5", "empty path"),
        ("a..b=5", "invalid path"),
        ("a=[1, 2", "cannot parse value"),
    ],
)
def test_parse_override_rejects(text: str, fragment: str) -> None:
    with pytest.raises(SpecError, match=fragment.replace("[", r"\[")):
        parse_override(text)


def test_set_path_copies_and_sets() -> None:
    out = set_path(DATA, "arrays[0].rows", 64)
    assert out["arrays"][0]["rows"] == 64
    assert DATA["arrays"][0]["rows"] == 16  # input untouched
    out = set_path(DATA, "sram.partitions.weights.banks[1]", 7)
    assert out["sram"]["partitions"]["weights"]["banks"] == [2, 7]


def test_set_path_adds_keys_and_creates_sections() -> None:
    out = set_path(DATA, "arrays[0].rowz", 1)  # validation rejects it later
    assert out["arrays"][0]["rowz"] == 1
    out = set_path(DATA, "controller.dma.engines", 8)
    assert out["controller"] == {"dma": {"engines": 8}}


def test_set_path_value_is_copied() -> None:
    value = [0, 1]
    out = set_path(DATA, "sram.partitions.weights.banks", value)
    value.append(2)
    assert out["sram"]["partitions"]["weights"]["banks"] == [0, 1]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("arrays[5].rows", "arrays has 1 entries"),
        ("sram.partitions.weights.banks[2]", "sram.partitions.weights.banks has 2 entries"),
        ("name.first", "name is not a mapping (got 'x')"),
        ("arrays.rows", "arrays is a list; index it like arrays[0]"),
        ("sram[0]", "sram is not a list (got a mapping)"),
        ("arrays[0].rows[0]", "arrays[0].rows is not a list (got 16)"),
        ("missing[0].x", "missing does not exist"),
    ],
)
def test_set_path_errors_name_the_path(path: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        set_path(DATA, path, 1)
    assert str(info.value) == message


def test_apply_overrides_in_order() -> None:
    out = apply_overrides(DATA, ["arrays[0].rows=32", "arrays[0].rows=48", "name=y"], "f.yaml")
    assert out["arrays"][0]["rows"] == 48
    assert out["name"] == "y"
    assert DATA["name"] == "x"
    assert apply_overrides(DATA, [], "f.yaml") == DATA


def test_apply_overrides_reports_every_bad_one() -> None:
    with pytest.raises(SpecError) as info:
        apply_overrides(DATA, ["arrays[5].rows=1", "ok=1", "nonsense"], "archs/x.yaml")
    lines = str(info.value).splitlines()
    assert lines[0] == "archs/x.yaml: --set arrays[5].rows=1: arrays has 1 entries"
    assert lines[1].startswith("archs/x.yaml: --set nonsense: expected PATH=VALUE")
    assert len(lines) == 2


def test_load_arch_applies_overrides() -> None:
    path = find_arch("edge-int8")
    base = load_arch(path)
    spec = load_arch(
        path, ["arrays[0].rows=64", "arrays[0].dataflow=os", "controller.dma.engines=4"]
    )
    assert base.arrays[0].rows == 16
    assert spec.arrays[0].rows == 64
    assert spec.arrays[0].dataflow == "os"
    assert spec.controller.dma.engines == 4
    assert spec.arrays[0].cols == base.arrays[0].cols


def test_override_with_invalid_value_names_path() -> None:
    path = find_arch("edge-int8")
    with pytest.raises(SpecError) as info:
        load_arch(path, ["arrays[0].rows=0"])
    assert str(info.value) == (
        f"{path}: arrays[0].rows: must be > 0 (got 0) (from --set arrays[0].rows=0)"
    )


def test_override_with_unknown_key_and_semantic_error() -> None:
    path = find_arch("edge-int8")
    with pytest.raises(SpecError, match=r"arrays\[0\]\.rowz: unknown key"):
        load_arch(path, ["arrays[0].rowz=64"])
    with pytest.raises(SpecError) as info:
        load_arch(path, ["sram.partitions.weights.banks[0]=99"])
    assert "sram.partitions.weights.banks[0]: bank 99 does not exist (8 banks)" in str(info.value)
    assert "(from --set sram.partitions.weights.banks[0]=99)" in str(info.value)


def test_bad_override_path_in_load_arch() -> None:
    path = find_arch("edge-int8")
    with pytest.raises(SpecError) as info:
        load_arch(path, ["arrays[5].rows=1"])
    assert str(info.value) == f"{path}: --set arrays[5].rows=1: arrays has 1 entries"
