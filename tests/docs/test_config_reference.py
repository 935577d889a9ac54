"""docs/configuration.md is the schema (accelsim/arch/spec.py) rendered: every field with its type,
unit, default, range and description. Fails when the two disagree."""

from __future__ import annotations

import typing

from pydantic import BaseModel

from accelsim.arch.spec import ArchSpec
from accelsim.report.config_reference import generate, rows
from conftest import ROOT

REGEN = "python -m accelsim.report.config_reference -o docs/configuration.md"


def _all_fields(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> int:
    """Count fields of the model tree independently of the generator (by walking annotations)."""
    seen = seen if seen is not None else set()
    if model in seen:
        return 0
    seen.add(model)
    n = 0

    def models(tp: object) -> list[type[BaseModel]]:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return [tp]
        return [m for a in typing.get_args(tp) for m in models(a)]

    for f in model.model_fields.values():
        n += 1
        for m in models(f.annotation):
            n += _all_fields(m, seen)
    return n


def test_reference_matches_the_schema() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert doc == generate(), f"docs/configuration.md is stale: regenerate it with `{REGEN}`"


def test_every_field_is_documented_with_a_unit() -> None:
    rs = list(rows())
    assert len(rs) == _all_fields(ArchSpec)  # no field of the schema is skipped
    assert len({r.path for r in rs}) == len(rs)
    missing = [r.path for r in rs if not r.description]
    assert not missing, f"fields without a description in accelsim/arch/spec.py: {missing}"
    numeric = [r for r in rs if r.type.split(" or ")[0] in ("number", "integer")
               or r.type.endswith(("→ number", "→ integer"))]
    assert numeric
    no_unit = [r.path for r in numeric if not r.unit]
    assert not no_unit, ("numeric fields without a unit (name them with a unit suffix, or add them to "
                         f"accelsim.report.config_reference.NAMED_UNITS): {no_unit}")
    # Spot checks against the schema itself.
    by = {r.path: r for r in rs}
    f = ArchSpec.model_fields["clock_ghz"]
    assert by["clock_ghz"].unit == "GHz" and by["clock_ghz"].default == "required"
    assert f.description and by["clock_ghz"].description == " ".join(f.description.split())
    from accelsim.arch.spec import DramSpec

    ch = DramSpec.model_fields["channels"]
    hi = next(m.le for m in ch.metadata if hasattr(m, "le"))
    assert by["dram.channels"].default == f"`{ch.default}`" and by["dram.channels"].range.endswith(f"..{hi}")
    assert by["sram.partitions.<name>.banks"].type == "list of integer"
