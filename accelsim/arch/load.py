"""Architecture YAML -> validated :class:`ArchSpec`.

One pass collects *every* problem (YAML duplicate keys, bad ``--set`` overrides, pydantic type
and range errors, then the cross-field rules of :func:`semantic_problems`) and raises a single
:class:`SpecError` whose lines read ``file: yaml.path: message``, e.g.::

    archs/x.yaml: arrays[0].rows: must be > 0 (got 0)
    archs/x.yaml: sram.partitions.weights.banks[3]: bank 9 does not exist (8 banks)

The file is shown as the caller gave it (a relative path stays relative). Semantic checks run
only when the types are valid. Typical use::

    spec = load_arch(find_arch("tpuv1"), ["arrays[0].dataflow=os"])
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

import accelsim
from accelsim.arch.overrides import apply_overrides, format_path, parse_override
from accelsim.arch.spec import ArchSpec, semantic_problems
from accelsim.errors import Problem, SpecError

__all__ = [
    "ARCHS_DIR",
    "DEFAULT_ARCH",
    "arch_from_dict",
    "arch_to_dict",
    "find_arch",
    "load_arch",
    "shipped_archs",
    "spec_digest",
]

#: Name of the architecture used when none is given.
DEFAULT_ARCH = "datacenter-bf16"

#: The repository's shipped architectures (``<repo>/archs``).
ARCHS_DIR = Path(accelsim.__file__).resolve().parents[1] / "archs"


# ---------------------------------------------------------------------------------- discovery


def shipped_archs() -> list[Path]:
    """The shipped architecture files, sorted by name."""
    return sorted(ARCHS_DIR.glob("*.yaml"))


def _shipped_names() -> str:
    return ", ".join(p.stem for p in shipped_archs()) or "none"


def _display(p: Path) -> Path:
    """``p`` relative to the working directory when it lies below it, else absolute."""
    p = p.resolve()
    try:
        return p.relative_to(Path.cwd().resolve())
    except ValueError:
        return p


def find_arch(name_or_path: str) -> Path:
    """Resolve ``"tpuv1"``, ``"tpuv1.yaml"``, ``"archs/tpuv1.yaml"`` or any path to a file.

    Looks, in order, at the path as given, ``<cwd>/<name>.yaml``, then the shipped
    ``archs/`` directory. Raises :class:`SpecError` listing the shipped names if nothing fits.
    """
    given = Path(name_or_path)
    if given.is_file():
        return given
    is_yaml = given.suffix in (".yaml", ".yml")
    candidates: list[Path] = []
    if not is_yaml:
        candidates += [Path(f"{name_or_path}.yaml"), Path(f"{name_or_path}.yml")]
    # A bare name, or archs/<name>.yaml given from another directory, means a shipped file.
    if given.parent in (Path("."), Path("archs")):
        candidates.append(ARCHS_DIR / (given.name if is_yaml else f"{given.name}.yaml"))
    for c in candidates:
        if c.is_file():
            return c if not c.is_absolute() else _display(c)
    raise SpecError(
        Problem(
            name_or_path,
            "",
            f"no such architecture file or shipped architecture (shipped: {_shipped_names()})",
        )
    )


# ---------------------------------------------------------------------------------- reading


def _duplicate_keys(node: yaml.Node, file: str) -> list[Problem]:
    """Problems for repeated mapping keys (YAML silently keeps the last one)."""
    problems: list[Problem] = []
    seen_nodes: set[int] = set()

    def walk(n: yaml.Node, path: list[str | int]) -> None:
        if id(n) in seen_nodes:  # aliases (and recursive anchors) are walked once
            return
        seen_nodes.add(id(n))
        if isinstance(n, yaml.MappingNode):
            first: dict[str, int] = {}
            for k, v in n.value:
                if not isinstance(k, yaml.ScalarNode) or k.value == "<<":
                    walk(v, path)
                    continue
                line = k.start_mark.line + 1
                if k.value in first:
                    problems.append(
                        Problem(
                            file,
                            format_path([*path, k.value]),
                            f"duplicate key (line {line}; first given on line {first[k.value]})",
                        )
                    )
                else:
                    first[k.value] = line
                walk(v, [*path, k.value])
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                walk(v, [*path, i])

    walk(node, [])
    return problems


def _read_yaml(path: Path, file: str) -> tuple[object, list[Problem]]:
    """Parse ``path``; returns the data and duplicate-key problems, or raises SpecError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(
            Problem(file, "", f"file not found (shipped architectures: {_shipped_names()})")
        ) from None
    except IsADirectoryError:
        raise SpecError(Problem(file, "", "is a directory, not a YAML file")) from None
    except UnicodeDecodeError as e:
        raise SpecError(Problem(file, "", f"not UTF-8 text ({e.reason})")) from None
    except OSError as e:
        raise SpecError(Problem(file, "", f"cannot read file: {e.strerror}")) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, []
        dups = _duplicate_keys(node, file)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = e.problem or e.context or "syntax error"
        if e.problem and e.context:
            what = f"{e.problem} ({e.context})"
        raise SpecError(Problem(file, "", f"invalid YAML{where}: {what}")) from None
    except yaml.YAMLError as e:
        raise SpecError(Problem(file, "", f"invalid YAML: {e}")) from None
    finally:
        loader.dispose()
    return data, dups


def load_arch(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> ArchSpec:
    """Read an architecture YAML file, apply ``--set`` overrides and validate it.

    Raises :class:`SpecError` listing every problem, each as ``file: yaml.path: message``.
    Use :func:`find_arch` first to accept shipped names such as ``"tpuv1"``.
    """
    file = os.fspath(path)
    data, problems = _read_yaml(Path(file), file)
    if data is None:
        raise SpecError(Problem(file, "", "file is empty (expected an architecture mapping)"))
    return _build(data, file, overrides, problems)


def arch_from_dict(
    data: Mapping[str, Any], file: str = "<arch>", overrides: Sequence[str] = ()
) -> ArchSpec:
    """Validate a plain dict (as read from YAML) into an :class:`ArchSpec`.

    ``file`` only labels error messages. Raises :class:`SpecError` listing every problem.
    """
    return _build(data, file, overrides, [])


def _build(
    data: object, file: str, overrides: Sequence[str], problems: list[Problem]
) -> ArchSpec:
    if not isinstance(data, Mapping):
        raise SpecError(
            [
                *problems,
                Problem(
                    file, "", f"top level must be a mapping of arch fields (got {_kind(data)})"
                ),
            ]
        )
    if isinstance(overrides, str):
        overrides = [overrides]
    try:
        data = apply_overrides(data, overrides, file)
    except SpecError as e:
        raise SpecError([*problems, *e.problems]) from None
    try:
        spec = ArchSpec.model_validate(data)
    except ValidationError as e:
        problems = [*problems, *(Problem(file, *_convert(err)) for err in e.errors())]
    else:
        problems = [*problems, *(Problem(file, p, m) for p, m in semantic_problems(spec))]
    if problems:
        raise SpecError(_mark_overrides(problems, overrides))
    return spec


def _mark_overrides(problems: list[Problem], overrides: Sequence[str]) -> list[Problem]:
    """Append ``(from --set ...)`` to problems at or below an overridden path."""
    paths = [(parse_override(o)[0], o) for o in overrides]
    out = []
    for p in problems:
        src = [o for op, o in paths if p.path == op or p.path.startswith((op + ".", op + "["))]
        if src:
            p = Problem(p.file, p.path, f"{p.message} (from --set {src[-1]})")
        out.append(p)
    return out


# ------------------------------------------------------------------ pydantic error -> Problem


def _kind(value: object) -> str:
    """A short rendering of a YAML value for messages."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


def _unwrap(tp: Any) -> Any:
    """Strip Annotated[...] and Optional[...] down to the one underlying type."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def _resolve(loc: tuple[int | str, ...]) -> tuple[str, Any, Any, bool]:
    """Walk the ArchSpec type along ``loc``.

    Returns (yaml path, parent type, type at loc, whether the error is about a dict key).
    Types are ``None`` where the walk cannot follow.
    """
    segs: list[str | int] = []
    parent: Any = None
    tp: Any = ArchSpec
    key_error = False
    for item in loc:
        if item == "[key]":
            key_error = True
            continue
        tp = _unwrap(tp) if tp is not None else None
        parent = tp
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            segs.append(str(item))
            field = tp.model_fields.get(str(item))
            tp = field.annotation if field is not None else None
        elif origin is list and isinstance(item, int):
            segs.append(item)
            tp = typing.get_args(tp)[0]
        elif origin is dict:
            segs.append(str(item))
            tp = typing.get_args(tp)[1]
        else:
            segs.append(item)
            tp = None
    return format_path(segs), parent, (_unwrap(tp) if tp is not None else None), key_error


def _num(x: object) -> str:
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return str(x)


def _entries(n: object) -> str:
    return "entry" if n == 1 else "entries"


def _convert(err: Any) -> tuple[str, str]:
    """One pydantic error dict -> (yaml path, short plain message)."""
    path, parent, tp, key_error = _resolve(tuple(err["loc"]))
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    got = _kind(value)
    if kind == "missing":
        msg = "required"
    elif kind == "extra_forbidden":
        if isinstance(parent, type) and issubclass(parent, BaseModel):
            allowed = sorted(parent.model_fields)
            msg = f"unknown key (allowed: {', '.join(allowed)})"
            close = difflib.get_close_matches(str(err["loc"][-1]), allowed, n=1)
            if close:
                msg += f"; did you mean '{close[0]}'?"
        else:
            msg = "unknown key"
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op, bound = {
            "greater_than": (">", "gt"),
            "greater_than_equal": (">=", "ge"),
            "less_than": ("<", "lt"),
            "less_than_equal": ("<=", "le"),
        }[kind]
        msg = f"must be {op} {_num(ctx.get(bound))} (got {got})"
    elif kind == "literal_error":
        if typing.get_origin(tp) is typing.Literal:
            choices = [str(c) for c in typing.get_args(tp)]
        else:
            choices = [str(ctx.get("expected", "?"))]
        if len(choices) == 1:
            msg = f"must be {choices[0]} (got {got})"
        else:
            msg = f"must be one of {', '.join(choices)} (got {got})"
    elif kind in ("int_type", "int_parsing", "int_from_float", "int_parsing_size"):
        msg = f"expected an integer, got {got}"
    elif kind in ("float_type", "float_parsing"):
        msg = f"expected a number, got {got}"
    elif kind == "finite_number":
        msg = f"must be a finite number (got {got})"
    elif kind in ("string_type", "string_unicode"):
        msg = f"expected a string, got {got}"
    elif kind in ("bool_type", "bool_parsing"):
        msg = f"expected true or false, got {got}"
    elif kind in ("list_type", "tuple_type", "set_type"):
        msg = f"expected a list, got {got}"
    elif kind in ("dict_type", "model_type", "model_attributes_type"):
        msg = f"expected a mapping, got {got}"
    elif kind == "too_short":
        n = ctx.get("min_length")
        msg = f"must have at least {n} {_entries(n)} (got {ctx.get('actual_length')})"
    elif kind == "too_long":
        n = ctx.get("max_length")
        msg = f"must have at most {n} {_entries(n)} (got {ctx.get('actual_length')})"
    else:
        text = str(err.get("msg", kind))
        msg = text[:1].lower() + text[1:]
    if key_error:
        msg = f"invalid key: {msg}"
    return path, msg


# ------------------------------------------------------------------------- serialisation


def arch_to_dict(spec: ArchSpec) -> dict[str, Any]:
    """A plain JSON/YAML-able dict; ``arch_from_dict(arch_to_dict(s)) == s``."""
    return spec.model_dump(mode="json", exclude_none=True)


def spec_digest(spec: ArchSpec) -> str:
    """SHA-256 hex digest of the spec's canonical JSON (sorted keys, compact separators).

    Used as a cache key. Partitions are encoded as an ordered list of ``[name, partition]``
    pairs before sorting keys, because their file order matters (the first partition holding
    a role is that role's home).
    """
    d = arch_to_dict(spec)
    d["sram"]["partitions"] = [[k, v] for k, v in d["sram"]["partitions"].items()]
    text = json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
