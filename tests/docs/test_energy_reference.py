"""docs/energy.md's tables are the technology tables (accelsim/energy/tables.py) rendered."""

from __future__ import annotations

from accelsim.energy.tables import TABLES
from accelsim.report.energy_reference import BEGIN, END, generate
from conftest import ROOT


def test_energy_tables_are_current() -> None:
    text = (ROOT / "docs" / "energy.md").read_text(encoding="utf-8")
    assert BEGIN in text and END in text
    block = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert block == generate().strip(), (
        "docs/energy.md is stale: python -m accelsim.report.energy_reference --update docs/energy.md")
    for name, t in TABLES.items():  # every table and its MAC energy appear
        assert f"`{name}`" in block
        assert f"{t.mac_pj('int8', 'int32'):.3g}" in block
