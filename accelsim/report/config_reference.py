"""The architecture configuration reference, generated from the schema (accelsim/arch/spec.py).

    python -m accelsim.report.config_reference -o docs/configuration.md

Every field of :class:`~accelsim.arch.spec.ArchSpec` and of the models it nests becomes one table
row: its YAML path, type, unit, default, allowed range and description, all read from the pydantic
models (types and constraints from the annotations, descriptions from ``Field(description=...)``).
Units come from the field name's suffix (``_ghz`` GHz, ``_kib`` KiB, ``_pj`` pJ, ...), the
project's naming rule, or from :data:`NAMED_UNITS` for the few count-like fields without one.
``tests/docs/test_config_reference.py`` fails when ``docs/configuration.md`` and the schema
disagree; regenerate with the command above.
"""

from __future__ import annotations

import argparse
import builtins
import enum
import sys
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

__all__ = ["NAMED_UNITS", "SUFFIX_UNITS", "FieldRow", "generate", "rows", "unit_of"]

#: Field-name suffix -> unit (longest suffix wins).
SUFFIX_UNITS: dict[str, str] = {
    "_ghz": "GHz",
    "_gbps": "GB/s",
    "_kib": "KiB",
    "_gib": "GiB",
    "_bytes": "bytes",
    "_ns": "ns",
    "_cycles": "cycles",
    "_pj": "pJ",
    "_pj_per_bit": "pJ/bit",
    "_pj_per_byte": "pJ/byte",
    "_mm2": "mm²",
    "_w": "W",
}

#: Fields whose unit is not in their name (counts of things).
NAMED_UNITS: dict[str, str] = {
    "count": "arrays",
    "rows": "PEs",
    "cols": "PEs",
    "banks": "banks",
    "ports_per_bank": "ports",
    "channels": "channels",
    "engines": "engines",
    "lanes": "lanes",
    "queue_depth": "commands",
    "chips": "chips",
    "links_per_chip": "links",
}


def unit_of(name: str) -> str:
    """The unit of a field from its name ("" when it has none: names, enums, flags, text)."""
    for suf in sorted(SUFFIX_UNITS, key=len, reverse=True):
        if name.endswith(suf):
            return SUFFIX_UNITS[suf]
    return NAMED_UNITS.get(name, "")


@dataclass(frozen=True)
class FieldRow:
    """One documented field."""

    path: str  # YAML path, e.g. "arrays[].rows" or "sram.partitions.<name>.banks"
    type: str
    unit: str
    default: str
    range: str
    description: str
    section: str  # the model's YAML path ("" for the top level)
    model: builtins.type[BaseModel]  # builtins: the field ``type`` above shadows the name here


def _fmt_num(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, int):
        if abs(v) >= 1_000_000 and (v & (v - 1)) == 0:
            return f"2^{v.bit_length() - 1}"
        if abs(v) >= 100_000:
            m, e = f"{v:e}".split("e")
            return f"{float(m):g}e{int(e)}"
        return str(v)
    return f"{v:g}".replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")


def _constraints(meta: list[Any], what: str = "items", integer: bool = False) -> tuple[list[str], list[str]]:
    """(value range, length/pattern bounds) as text from pydantic / annotated-types metadata:
    ``1..4096`` for integers, interval notation ``(0, 1000]`` otherwise."""
    lo: tuple[str, Any] | None = None
    hi: tuple[str, Any] | None = None
    n_lo = n_hi = ""
    pattern = ""
    for m in meta:
        if isinstance(m, at.Gt):
            lo = ("(", m.gt)
        elif isinstance(m, at.Ge):
            lo = ("[", m.ge)
        elif isinstance(m, at.Lt):
            hi = (")", m.lt)
        elif isinstance(m, at.Le):
            hi = ("]", m.le)
        elif isinstance(m, at.MinLen):
            n_lo = str(m.min_length)
        elif isinstance(m, at.MaxLen):
            n_hi = str(m.max_length)
        elif getattr(m, "pattern", None):
            pattern = str(m.pattern)
    vals: list[str] = []
    if lo or hi:
        if integer:
            a = "" if lo is None else _fmt_num(lo[1] + 1 if lo[0] == "(" else lo[1])
            b = "" if hi is None else _fmt_num(hi[1] - 1 if hi[0] == ")" else hi[1])
            vals.append(f"{a or '-∞'}..{b or '∞'}")
        else:
            a = "(-∞" if lo is None else f"{lo[0]}{_fmt_num(lo[1])}"
            b = "∞)" if hi is None else f"{_fmt_num(hi[1])}{hi[0]}"
            vals.append(f"{a}, {b}")
    lens = []
    if n_lo or n_hi:
        lens.append(f"{n_lo or 0}..{n_hi or '∞'} {what}")
    if pattern:
        lens.append(f"pattern `{pattern}`")
    return vals, lens


def _split_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(args) < len(typing.get_args(tp)):
            return args[0], True
    return tp, False


def _describe(tp: Any) -> tuple[str, list[str]]:
    """(type text, constraint pieces) of an annotation."""
    tp, optional = _split_optional(tp)
    cons: list[str] = []
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        base, *meta = typing.get_args(tp)
        flat: list[Any] = []
        for m in meta:
            flat.extend(m.metadata if isinstance(m, FieldInfo) else [m])
        t, inner = _describe(base)
        vals, lens = _constraints(flat, "characters" if t.startswith("string") else "items", t == "integer")
        txt = (t, inner + vals + lens)
    elif origin is typing.Literal:
        choices = typing.get_args(tp)
        txt = (" | ".join(f"`{v}`" for v in choices) if len(choices) <= 8 else "enum", [] if len(choices) <= 8 else
               ["one of " + ", ".join(f"`{v}`" for v in choices)])
    elif origin in (list, tuple):
        (arg, *_) = typing.get_args(tp) or (Any,)
        t, inner = _describe(arg)
        txt = (f"list of {t}", [f"each {c}" for c in inner])
    elif origin is dict:
        k, v = typing.get_args(tp)
        kt, kin = _describe(k)
        vt, vin = _describe(v)
        txt = (f"map {kt} → {vt}", [f"keys: {c}" for c in kin] + [f"values {c}" for c in vin])
    elif isinstance(tp, type) and issubclass(tp, BaseModel):
        txt = ("mapping", [])
    elif isinstance(tp, type) and issubclass(tp, enum.Enum):
        txt = (" | ".join(f"`{m.value}`" for m in tp), [])
    elif isinstance(tp, type):
        txt = ({"int": "integer", "float": "number", "str": "string", "bool": "boolean"}.get(tp.__name__, tp.__name__),
               [])
    else:
        txt = (str(tp), [])
    t, c = txt
    cons.extend(c)
    if optional:
        t = f"{t} or null"
    return t, cons


def _default(f: FieldInfo) -> str:
    if f.is_required():
        return "required"
    if f.default_factory is not None:
        v = f.default_factory()  # type: ignore[call-arg]
    else:
        v = f.default
    if v is PydanticUndefined:
        return "required"
    if v is None:
        return "null"
    if isinstance(v, BaseModel):
        return "(defaults below)"
    if isinstance(v, (dict, list)) and not v:
        return "{}" if isinstance(v, dict) else "[]"
    if isinstance(v, str):
        return f'`"{v}"`' if v else '`""`'
    return f"`{_fmt_num(v)}`"


def _models_in(tp: Any) -> list[tuple[str, type[BaseModel]]]:
    """Nested models in an annotation with the YAML path suffix that reaches their fields."""
    tp, _ = _split_optional(tp)
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(tp)[0])
    if origin in (list, tuple):
        return [("[]" + s, m) for s, m in _models_in(typing.get_args(tp)[0])]
    if origin is dict:
        return [(".<name>" + s, m) for s, m in _models_in(typing.get_args(tp)[1])]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [("", tp)]
    return []


def rows(model: type[BaseModel] | None = None, prefix: str = "") -> Iterator[FieldRow]:
    """Every field of ``model`` (default: ArchSpec) and of the models it nests, depth first in
    declaration order."""
    if model is None:
        from accelsim.arch.spec import ArchSpec

        model = ArchSpec
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, f in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        t, cons = _describe(f.annotation)
        vals, lens = _constraints(list(f.metadata), "characters" if t.startswith("string") else "items",
                                  t.startswith("integer"))
        cons = cons + vals + lens
        yield FieldRow(path, t, unit_of(name), _default(f), "; ".join(cons), (f.description or "").strip(),
                       prefix, model)
        for suffix, m in _models_in(f.annotation):
            nested.append((path + suffix, m))
    for p, m in nested:
        yield from rows(m, p)


def _cell(s: str) -> str:
    return " ".join(s.replace("|", "\\|").replace("``", "`").split()) if s else "—"


HEADER = """# Architecture configuration reference

<!-- Generated from accelsim/arch/spec.py by `python -m accelsim.report.config_reference -o
docs/configuration.md`; do not edit by hand (tests/docs/test_config_reference.py checks it). -->

Every field an architecture YAML file (`archs/*.yaml`, `version: 1`) may set, section by
section. **Path** is the YAML path (`arrays[]` is any entry of the `arrays` list,
`<name>` any key of a mapping); **unit** comes from the field name's suffix (`_ghz`, `_kib`,
`_pj`, ...) — fields without one are counts, names or choices; **range** is what
`accelsim validate` accepts (`1..4096`: integers from 1 to 4096; `(0, 1000]`: above 0, at most
1000; list lengths; name patterns).
Cross-field rules (partitions name existing banks, every operand role has a home partition,
precision pairs, unique unit names, a minimal tile fits its partition) are listed at the end.
Overrides marked "override" replace a value the technology table (`technology:`) would give;
see [energy.md](energy.md).

Change any field from the command line with `--set PATH=VALUE` (e.g.
`--set arrays[0].rows=128`), in sweeps with the same paths, or in Python (see [api.md](api.md)).
"""

RULES = """## Cross-field rules

Checked after the field types and ranges (`accelsim.arch.spec.semantic_problems`), every problem
reported with its YAML path:

* every bank index in `sram.partitions.<name>.banks` exists (`< sram.banks`) and is in one
  partition only; a role appears once per partition;
* each operand role (`inputs`, `weights`, `outputs`, `accumulators`) is held by some partition
  (the first partition in file order holding a role is its home);
* `arrays[].precision` / `acc_precision` is a supported pair: {pairs};
* array instance names (`<name>` or `<name>.<i>` for `count > 1`) are unique and not a reserved
  unit name ({reserved});
* residual partitions name an SRAM partition that holds the role `residual`, and policy rules
  name existing residual partitions;
* the smallest tile the mapper emits fits each operand's partition.
"""


def generate() -> str:
    """The Markdown reference page."""
    from accelsim.arch.spec import RESERVED_UNIT_NAMES, VALID_PRECISION_PAIRS

    out = [HEADER]
    by_section: dict[str, list[FieldRow]] = {}
    docs: dict[str, str] = {}
    for r in rows():
        by_section.setdefault(r.section, []).append(r)
        doc = (r.model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ").replace("``", "`")
        docs.setdefault(r.section, " ".join(doc.split()))
    for section, rs in by_section.items():
        title = f"`{section}`" if section else "Top level"
        out.append(f"## {title}\n")
        if docs.get(section):
            out.append(f"{docs[section]}\n")
        out.append("| path | type | unit | default | range | description |")
        out.append("|---|---|---|---|---|---|")
        for r in rs:
            out.append(f"| `{r.path}` | {_cell(r.type)} | {_cell(r.unit)} | {_cell(r.default)} | "
                       f"{_cell(r.range)} | {_cell(r.description)} |")
        out.append("")
    pairs = ", ".join(f"`{a}/{b}`" for a, b in sorted(VALID_PRECISION_PAIRS))
    reserved = ", ".join(f"`{n}`" for n in sorted(RESERVED_UNIT_NAMES))
    out.append(RULES.format(pairs=pairs, reserved=reserved))
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", help="file to write (default: stdout)")
    a = ap.parse_args(argv)
    text = generate()
    if a.output:
        Path(a.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
