"""Every architecture number is finite and bounded, every field documented with its unit, and
whatever `accelsim validate` accepts comes from a file it could read without hanging."""

from __future__ import annotations

import os
import types
import typing
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from accelsim.arch import spec as S
from accelsim.arch.overrides import schema_problem
from accelsim.cli import main
from accelsim.mapping.mapper import VECTOR_KINDS

ARCHS = Path(__file__).resolve().parents[2] / "archs"  # as tests/conftest.py's ARCHS


def _models() -> list[type[BaseModel]]:
    return [m for m in vars(S).values() if isinstance(m, type) and issubclass(m, BaseModel)
            and m.__module__ == S.__name__ and not m.__name__.startswith("_")]


def _numeric(tp: object) -> bool:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return False
            tp = args[0]
        else:
            return tp in (int, float)


def test_every_field_is_documented() -> None:
    missing = [f"{m.__name__}.{n}" for m in _models() for n, f in m.model_fields.items() if not f.description]
    assert not missing, f"fields without a description (the config reference is generated from them): {missing}"


def test_every_number_has_an_upper_and_a_lower_bound() -> None:
    unbounded = []
    for m in _models():
        for n, f in m.model_fields.items():
            if not _numeric(f.annotation):
                continue
            text = repr(f.annotation) + repr(f.metadata)
            if not (("le=" in text or "lt=" in text) and ("ge=" in text or "gt=" in text)):
                unbounded.append(f"{m.__name__}.{n}")
    assert not unbounded, f"numbers without a documented range: {unbounded}"


def test_every_mapped_vector_kind_has_a_default_cost() -> None:
    assert set(VECTOR_KINDS.values()) <= set(S.DEFAULT_VECTOR_OP_CYCLES)
    assert set(S.DEFAULT_VECTOR_OP_CYCLES) == set(typing.get_args(S.VectorKind))


@pytest.mark.parametrize("path, problem", [
    ("arrays[0].rows", None),
    ("sram.partitions.anything.banks[1]", None),
    ("vector.op_cycles.exp", None),
    ("arrays[0].rowz", "unknown key 'rowz' in arrays[0] (allowed: acc_precision, area_mm2, cols, count, dataflow, "
                       "mac_energy_pj, name, precision, rows); did you mean 'rows'?"),
    ("dram.bandwith_gbps", "unknown key 'bandwith_gbps' in dram"),
    ("arrays.rows", "arrays is a list; index it like arrays[0]"),
    ("clock_ghz.x", "clock_ghz is a single value; it has no 'x'"),
    ("sram[0]", "sram is not a list"),
    ("arrays[0]..rows", "invalid path 'arrays[0]..rows': empty key"),
])
def test_schema_problem_resolves_paths_against_the_model(path: str, problem: str | None) -> None:
    got = schema_problem(path)
    assert (got is None) if problem is None else (got is not None and got.startswith(problem)), got


def test_validate_refuses_a_fifo_and_a_device_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "arch.yaml"
    os.mkfifo(fifo)
    r = CliRunner().invoke(main, ["validate", str(fifo), "/dev/zero"])
    assert r.exit_code == 2
    assert f"{fifo}: is a FIFO (named pipe), not a regular file" in r.output
    assert "/dev/zero: is a character device, not a regular file" in r.output


def test_validate_and_run_agree_on_non_finite_overrides(tmp_path: Path) -> None:
    for bad, msg in (("clock_ghz=.inf", "clock_ghz: must be a finite number (got inf)"),
                     ("static_power_w=.nan", "static_power_w: must be a finite number (got nan)"),
                     ("clock_ghz=1e300", "clock_ghz: must be <= 10 (got 1e+300)"),
                     ("dram.channels=1000000000", "dram.channels: must be <= 1024")):
        edge = str(ARCHS / "edge-int8.yaml")
        for cmd in (["validate", edge], ["run", edge, "gemm:M=8,N=8,K=8", "--no-gpu"]):
            r = CliRunner().invoke(main, [*cmd, "--set", bad])
            assert r.exit_code == 2, (cmd, bad, r.output)
            assert msg in r.output
