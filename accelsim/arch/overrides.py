"""``--set PATH=VALUE`` overrides applied to a plain (YAML-loaded) spec dict.

A path uses the same form as error messages: dotted keys with ``[i]`` list indices, e.g.
``arrays[0].rows`` or ``sram.partitions.weights.banks[1]``. The value is parsed as YAML, so
``64``, ``1.5``, ``true``, ``[0, 1]``, ``ws`` and ``"x"`` all mean what they would in the file.

Overrides only edit the dict; validation (unknown keys, ranges, cross-field rules) happens
afterwards in :mod:`accelsim.arch.load`, so ``--set arrays[0].rowz=1`` is reported there as an
unknown key. Example::

    >>> set_path({"arrays": [{"rows": 16}]}, "arrays[0].rows", 64)
    {'arrays': [{'rows': 64}]}
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence

import yaml

from accelsim.errors import Problem, SpecError

Segment = str | int

_KEY_RE = re.compile(r"[^.\[\]\s=]+")
_INDEX_RE = re.compile(r"\[(\d+)\]")
_EXP_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def _fail(message: str) -> SpecError:
    return SpecError(Problem("", "", message))


def format_path(segments: Sequence[Segment]) -> str:
    """Inverse of :func:`parse_path`: ``["arrays", 0, "rows"]`` -> ``"arrays[0].rows"``."""
    out = ""
    for seg in segments:
        if isinstance(seg, int):
            out += f"[{seg}]"
        else:
            out += f".{seg}" if out else str(seg)
    return out


def parse_path(path: str) -> list[Segment]:
    """Split ``"arrays[0].rows"`` into ``["arrays", 0, "rows"]``.

    Keys are separated by dots; ``[i]`` (a non-negative integer) indexes a list and may follow
    any key, repeatedly (``a[0][1].b``). Raises :class:`SpecError` on a malformed path.
    """
    text = path.strip()
    if not text:
        raise _fail("empty path")
    segments: list[Segment] = []
    for part in text.split("."):
        m = _KEY_RE.match(part)
        if m is None:
            what = "empty key" if not part else f"bad key {part!r}"
            raise _fail(f"invalid path {path!r}: {what} (expected e.g. arrays[0].rows)")
        segments.append(m.group(0))
        pos = m.end()
        while pos < len(part):
            im = _INDEX_RE.match(part, pos)
            if im is None:
                raise _fail(
                    f"invalid path {path!r}: cannot parse {part[pos:]!r} "
                    "(list indices are written [0], [1], ...)"
                )
            segments.append(int(im.group(1)))
            pos = im.end()
    return segments


def parse_override(text: str) -> tuple[str, object]:
    """Split ``"arrays[0].rows=64"`` into ``("arrays[0].rows", 64)``; the value is parsed as YAML.

    Raises :class:`SpecError` when there is no ``=``, the path is malformed, the value is
    missing (write ``null`` to clear an optional field) or is not valid YAML.
    """
    if "=" not in text:
        raise _fail(f"expected PATH=VALUE, e.g. arrays[0].rows=64 (got {text!r})")
    path, raw = text.split("=", 1)
    path = path.strip()
    parse_path(path)
    if not raw.strip():
        raise _fail("no value after '=' (write null to clear an optional field)")
    try:
        value = yaml.safe_load(raw)
    except (yaml.YAMLError, ValueError) as e:
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise _fail(f"cannot parse value {raw.strip()!r} as YAML: {problem}") from None
    if isinstance(value, str) and _EXP_NUMBER.match(value):
        value = float(value)  # YAML 1.1 reads 1e3 (no dot) as a string; on a command line it is a number
    return path, value


def _kind(value: object) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return repr(value)


def set_path(data: Mapping, path: str, value: object) -> dict:
    """Return a deep copy of ``data`` with ``value`` stored at ``path``.

    Missing intermediate mapping keys are created (``controller.dma.engines=8`` works on a
    file without a ``controller`` section), and a new key may be added to any mapping:
    validation rejects unknown keys later. A list index must be in range. Raises
    :class:`SpecError` naming the path when a step does not resolve.
    """
    segments = parse_path(path)
    root: dict = copy.deepcopy(dict(data))
    node: object = root
    for depth, seg in enumerate(segments):
        here = format_path(segments[:depth]) or "the top level"
        last = depth == len(segments) - 1
        if isinstance(seg, int):
            if not isinstance(node, list):
                raise _fail(f"{here} is not a list (got {_kind(node)})")
            if seg >= len(node):
                raise _fail(f"{here} has {len(node)} entries")
            if last:
                node[seg] = copy.deepcopy(value)
            else:
                node = node[seg]
        else:
            if isinstance(node, list):
                raise _fail(f"{here} is a list; index it like {here}[0]")
            if not isinstance(node, dict):
                raise _fail(f"{here} is not a mapping (got {_kind(node)})")
            if last:
                node[seg] = copy.deepcopy(value)
            else:
                if seg not in node or node[seg] is None:
                    if isinstance(segments[depth + 1], int):
                        raise _fail(f"{format_path(segments[: depth + 1])} does not exist")
                    node[seg] = {}
                node = node[seg]
    return root


def apply_overrides(data: Mapping, overrides: Sequence[str], file: str) -> dict:
    """Apply each ``PATH=VALUE`` in order to a copy of ``data``.

    Every bad override is reported, in one :class:`SpecError`, as
    ``file: --set TEXT: message``.
    """
    if isinstance(overrides, str):  # a lone string is one override, not its characters
        overrides = [overrides]
    out: dict = copy.deepcopy(dict(data))
    problems: list[Problem] = []
    for text in overrides:
        try:
            path, value = parse_override(text)
            out = set_path(out, path, value)
        except SpecError as e:
            problems.extend(Problem(file, f"--set {text}", p.message) for p in e.problems)
    if problems:
        raise SpecError(problems)
    return out


def schema_problem(path: str) -> str | None:
    """Why ``path`` names no field of an architecture file, or None when it does.

    Walks the :class:`~accelsim.arch.spec.ArchSpec` model (not a particular file): keys of a
    model must be its fields, list steps must be indices, mapping keys (partition names,
    vector op kinds) are free here and checked when the value is validated. Example::

        >>> schema_problem("arrays[0].rowz")  # doctest: +ELLIPSIS
        "unknown key 'rowz' in arrays[0] (allowed: ...); did you mean 'rows'?"
    """
    import difflib
    import types
    import typing

    from pydantic import BaseModel

    from accelsim.arch.spec import ArchSpec

    try:
        segments = parse_path(path)
    except SpecError as e:
        return e.problems[0].message
    tp: object = ArchSpec
    for depth, seg in enumerate(segments):
        while True:  # strip Annotated[...] and Optional[...]
            origin = typing.get_origin(tp)
            if origin is typing.Annotated:
                tp = typing.get_args(tp)[0]
            elif origin in (typing.Union, types.UnionType):
                members = [a for a in typing.get_args(tp) if a is not type(None)]
                if len(members) != 1:
                    return None  # a union of several types: the value's validation decides
                tp = members[0]
            else:
                break
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if isinstance(seg, int):
                return f"{format_path(segments[:depth]) or 'the top level'} is not a list"
            field = tp.model_fields.get(seg)
            if field is None:
                allowed = sorted(tp.model_fields)
                where = format_path(segments[:depth]) or "the top level"
                msg = f"unknown key {seg!r} in {where} (allowed: {', '.join(allowed)})"
                close = difflib.get_close_matches(seg, allowed, n=1)
                return msg + (f"; did you mean '{close[0]}'?" if close else "")
            tp = field.annotation
        elif origin is list:
            if not isinstance(seg, int):
                return f"{format_path(segments[:depth])} is a list; index it like {format_path(segments[:depth])}[0]"
            tp = typing.get_args(tp)[0]
        elif origin is dict:
            if isinstance(seg, int):
                return f"{format_path(segments[:depth])} is a mapping, not a list"
            tp = typing.get_args(tp)[1]
        else:
            return f"{format_path(segments[:depth])} is a single value; it has no {seg!r}"
    return None
