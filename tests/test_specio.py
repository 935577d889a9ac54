"""accelsim.specio: what it refuses before reading (non-regular files, size), what it refuses
while parsing (NUL, nesting, alias bombs, recursive aliases, duplicate keys, huge integers),
and that every refusal is a SpecError naming the file -- never a hang or a traceback."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from accelsim.errors import SpecError
from accelsim.specio import (
    MAX_DEPTH,
    format_loc,
    read_json,
    read_text,
    read_yaml,
    read_yaml_with_problems,
    validation_problems,
)


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail (instead of hanging the suite) when the block takes longer than ``seconds``."""
    if threading.current_thread() is not threading.main_thread():  # pragma: no cover
        yield
        return

    def boom(*_: object) -> None:
        raise TimeoutError(f"still reading after {seconds} s")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _err(fn: object, *args: object, **kw: object) -> str:
    with deadline(10), pytest.raises(SpecError) as e:
        fn(*args, **kw)  # type: ignore[operator]
    assert e.value.exit_code == 2
    return str(e.value)


def test_non_regular_files_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "arch.yaml"
    os.mkfifo(fifo)  # no writer: a blocking open would hang forever
    assert _err(read_yaml, fifo, "arch.yaml", "architecture file") == \
        "arch.yaml: is a FIFO (named pipe), not a regular file (architecture files are read from files)"
    assert "is a character device" in _err(read_yaml, "/dev/zero")
    assert _err(read_yaml, tmp_path, "d", "sweep file") == "d: is a directory, not a sweep file"
    assert _err(read_yaml, tmp_path / "nope.yaml", "nope.yaml", "suite file", not_found=" (try x)") == \
        "nope.yaml: cannot read suite file: no such file (try x)"


def test_oversized_files_are_refused_before_reading(tmp_path: Path) -> None:
    p = tmp_path / "big.yaml"
    p.write_text("a: 1\n" * 1000)
    assert _err(read_text, p, "big.yaml", "file", max_bytes=100) == \
        "big.yaml: file is 5,000 bytes; the limit is 100"
    assert read_text(p, max_bytes=5000).count("\n") == 1000


def test_nul_bytes_and_bad_utf8_are_named_by_position(tmp_path: Path) -> None:
    p = tmp_path / "x.yaml"
    p.write_bytes(b"name: ok\nclock: 1\x00\n")
    assert _err(read_yaml, p, "x.yaml") == "x.yaml: contains a NUL byte at line 2, column 9 (not a text file?)"
    p.write_bytes(b"name: \xff\n")
    assert "x.yaml: not UTF-8 text (invalid start byte at line 1, byte 6)" == _err(read_yaml, p, "x.yaml")
    p.write_bytes("\ufeffname: bom\n".encode())
    assert read_yaml(p) == {"name": "bom"}


def test_deep_nesting_is_refused_before_the_recursive_composer(tmp_path: Path) -> None:
    p = tmp_path / "deep.yaml"
    p.write_text("a: " + "[" * 50_000 + "]" * 50_000 + "\n")
    assert _err(read_yaml, p, "deep.yaml").startswith(f"deep.yaml: nesting deeper than {MAX_DEPTH} levels at line 1")
    p.write_text("a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n")
    assert isinstance(read_yaml(p)["a"], list)


def test_alias_bombs_and_recursive_aliases_are_refused(tmp_path: Path) -> None:
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 8)]  # 10^8 values
    p = tmp_path / "bomb.yaml"
    p.write_text("\n".join(lines) + "\n")
    assert "expands to more than 1,000,000 values" in _err(read_yaml, p, "bomb.yaml")
    p.write_text("a: &a [1, *a]\n")
    assert _err(read_yaml, p, "r.yaml").startswith("r.yaml: a[1]: recursive alias")
    p.write_text("base: &b {rows: 4}\narrays: [*b, *b]\n")  # ordinary aliases are fine
    assert read_yaml(p) == {"base": {"rows": 4}, "arrays": [{"rows": 4}, {"rows": 4}]}


def test_duplicate_keys_are_all_reported_in_file_order(tmp_path: Path) -> None:
    p = tmp_path / "dup.yaml"
    p.write_text("a: 1\nb: {x: 1, x: 2}\na: 2\n1: one\n1: uno\n'1': str\n")
    data, probs = read_yaml_with_problems(p, "dup.yaml")
    assert [str(x) for x in probs] == [
        "dup.yaml: b.x: duplicate key (line 2; first given on line 2)",
        "dup.yaml: a: duplicate key (line 3; first given on line 1)",
        "dup.yaml: 1: duplicate key (line 5; first given on line 4)",  # the int 1 twice; the string '1' is another key
    ]
    assert data["a"] == 2


@pytest.mark.parametrize("text, message", [
    ("a: " + "9" * 5000 + "\n", "invalid YAML: Exceeds the limit (4300 digits) for integer string conversion"),
    ("a: 1\n---\nb: 2\n", "invalid YAML at line 2, column 1: but found another document"),
    ("a: !!python/object/apply:os.system [echo]\n", "could not determine a constructor for the tag"),
    ("a: [1, 2\n", "invalid YAML at line 2, column 1"),
    ("? [1, 2]\n: x\n", "found unhashable key"),
    ("a: \x07\n", "invalid YAML: special characters are not allowed"),
])
def test_malformed_yaml_is_one_clean_problem(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "m.yaml"
    p.write_text(text)
    msg = _err(read_yaml, p, "m.yaml")
    assert msg.startswith("m.yaml: ") and message in msg, msg


def test_json_refuses_non_finite_numbers_and_duplicate_keys(tmp_path: Path) -> None:
    p = tmp_path / "b.json"
    p.write_text('{"a": NaN}')
    assert _err(read_json, p, "b.json") == "b.json: invalid JSON: NaN is not a JSON number"
    p.write_text('{"a": 1, "a": 2}')
    assert _err(read_json, p, "b.json") == "b.json: invalid JSON: duplicate key 'a'"
    p.write_text('{"a": [1, 2}')
    assert _err(read_json, p, "b.json").startswith("b.json: invalid JSON at line 1, column 12")
    p.write_text("[" * 100_000 + "]" * 100_000)
    assert "nested deeper than Python can read" in _err(read_json, p, "b.json")


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    rows: int = Field(gt=0, le=64)
    kind: str = "a"


class _Outer(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    items: list[_Inner]
    by_name: dict[str, _Inner] = {}
    clock: float = 1.0


def test_validation_problems_name_every_path_with_a_short_message() -> None:
    from pydantic import ValidationError

    try:
        _Outer.model_validate({"items": [{"rows": 0}, {"rowz": 1}], "by_name": {"x.y": {"rows": 99}},
                               "clock": float("inf")})
    except ValidationError as e:
        got = [str(p) for p in validation_problems(_Outer, e, "f.yaml")]
    assert got == [
        "f.yaml: items[0].rows: must be > 0 (got 0)",
        "f.yaml: items[1].rows: required",
        "f.yaml: items[1].rowz: unknown key (allowed: kind, rows); did you mean 'rows'?",
        "f.yaml: by_name['x.y'].rows: must be <= 64 (got 99)",
        "f.yaml: clock: must be a finite number (got inf)",
    ]
    assert format_loc(["parameters", "arrays[0].rows"]) == "parameters['arrays[0].rows']"
    assert format_loc(["cases", 2, "options", "mapping"]) == "cases[2].options.mapping"
