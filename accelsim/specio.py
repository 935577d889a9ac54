"""Reading specification files safely: one module for archs, sweeps, suites, GPU profiles,
calibration files and baselines.

Everything a user hands accelsim as a file goes through :func:`read_text` first, which refuses
what cannot be a spec before reading a byte of it:

* anything but a regular file (a FIFO, ``/dev/zero``, a socket, a directory) -- opened
  non-blocking, so a FIFO with no writer cannot hang the reader;
* a file larger than :data:`MAX_SPEC_BYTES` (checked on the open file, and again while
  reading, so a file that grows is cut off rather than read without end);
* bytes that are not UTF-8, and NUL bytes (named by line and column).

:func:`read_yaml` then parses YAML with PyYAML's ``SafeLoader`` (no tags that construct Python
objects) and refuses, with the line where it happens:

* nesting deeper than :data:`MAX_DEPTH` levels (PyYAML's composer is recursive: a file of
  10,000 ``[`` is a RecursionError otherwise);
* more than :data:`MAX_NODES` nodes once aliases are expanded ("billion laughs": nine
  aliases of nine aliases are 9^9 values for a validator that walks them), and recursive
  aliases (``&a [*a]``);
* duplicate mapping keys (YAML silently keeps the last one);
* integers longer than Python's conversion limit, multiple documents, syntax errors.

:func:`validation_problems` turns a pydantic ``ValidationError`` into
:class:`~accelsim.errors.Problem` s reading ``file: yaml.path: message`` -- every problem at
once, with the allowed keys, the choices of an enum and the bound of a range in the message.

Typical use::

    data, problems = read_yaml_with_problems(Path("archs/x.yaml"), "archs/x.yaml", "architecture")
    spec = ArchSpec.model_validate(data)  # on ValidationError: validation_problems(ArchSpec, e, file)
"""

from __future__ import annotations

import difflib
import errno
import json
import os
import re
import stat
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from accelsim.errors import Problem, SpecError

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_SPEC_BYTES",
    "format_loc",
    "kind_of",
    "read_json",
    "read_text",
    "read_yaml",
    "read_yaml_with_problems",
    "validation_problems",
]

#: Largest spec file accepted (bytes): 8 MiB. The largest shipped spec is a few KiB; a sweep
#: listing 100,000 values is about 1 MiB.
MAX_SPEC_BYTES = 8 * 1024 * 1024

#: Deepest nesting of mappings and lists accepted. An architecture is 5 levels deep
#: (``sram.partitions.NAME.banks[i]``); a sweep or suite about the same.
MAX_DEPTH = 64

#: Most YAML nodes (scalars, lists, mappings) accepted once aliases are expanded.
MAX_NODES = 1_000_000


# ------------------------------------------------------------------------------------ reading


def _what_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


def read_text(
    path: str | os.PathLike[str],
    label: str | None = None,
    what: str = "file",
    *,
    max_bytes: int = MAX_SPEC_BYTES,
    not_found: str = "",
) -> str:
    """The UTF-8 text of a regular file of at most ``max_bytes`` bytes.

    ``label`` names the file in messages (default: ``path`` as given); ``what`` says what kind
    of file it is ("architecture", "sweep file", ...); ``not_found`` is appended to the
    file-not-found message (e.g. the shipped names). Raises :class:`SpecError` (exit 2)
    naming the file for every refusal listed in the module docstring.
    """
    p = os.fspath(path)
    file = label if label is not None else p
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(p, flags)
    except FileNotFoundError:
        raise SpecError(Problem(file, "", f"cannot read {what}: no such file{not_found}")) from None
    except IsADirectoryError:
        raise SpecError(Problem(file, "", f"is a directory, not a {what}")) from None
    except OSError as e:
        raise SpecError(Problem(file, "", f"cannot read {what}: {e.strerror or e}")) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise SpecError(Problem(file, "", f"is a directory, not a {what}"))
        if not stat.S_ISREG(st.st_mode):
            kind = _what_kind(st.st_mode)
            raise SpecError(Problem(file, "", f"is {kind}, not a regular file ({what}s are read from files)"))
        if st.st_size > max_bytes:
            raise SpecError(Problem(file, "", f"{what} is {st.st_size:,} bytes; the limit is {max_bytes:,}"))
        chunks: list[bytes] = []
        total = 0
        while True:
            try:
                b = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK):  # pragma: no cover - regular files never block
                    continue
                raise SpecError(Problem(file, "", f"cannot read {what}: {e.strerror or e}")) from None
            if not b:
                break
            chunks.append(b)
            total += len(b)
            if total > max_bytes:
                raise SpecError(Problem(file, "", f"{what} is over {max_bytes:,} bytes (the limit)"))
    finally:
        os.close(fd)
    raw = b"".join(chunks)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line, col = _line_col(raw[: e.start].decode("utf-8", "replace"), e.start)
        raise SpecError(Problem(file, "", f"not UTF-8 text ({e.reason} at line {line}, byte {e.start})")) from None
    if text.startswith("\ufeff"):  # a UTF-8 byte-order mark is harmless
        text = text[1:]
    nul = text.find("\x00")
    if nul >= 0:
        line, col = _line_col(text, nul)
        raise SpecError(Problem(file, "", f"contains a NUL byte at line {line}, column {col} (not a text file?)"))
    return text


# ------------------------------------------------------------------------------------- YAML


def _mark(m: Any) -> str:
    return f" at line {m.line + 1}, column {m.column + 1}" if m is not None else ""


def _check_depth(text: str, file: str, max_depth: int) -> None:
    """Walk the event stream (PyYAML's parser is iterative) and refuse deep nesting before
    the recursive composer sees it."""
    loader = yaml.SafeLoader(text)
    depth = 0
    try:
        while loader.check_event():
            ev = loader.get_event()
            if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > max_depth:
                    raise SpecError(Problem(file, "", f"nesting deeper than {max_depth} levels{_mark(ev.start_mark)}"))
            elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    finally:
        loader.dispose()


def _yaml_problem(e: yaml.YAMLError, file: str) -> SpecError:
    if isinstance(e, yaml.MarkedYAMLError):
        mark = e.problem_mark or e.context_mark
        what = e.problem or e.context or "syntax error"
        if e.problem and e.context:
            what = f"{e.problem} ({e.context})"
        return SpecError(Problem(file, "", f"invalid YAML{_mark(mark)}: {what}"))
    if isinstance(e, yaml.reader.ReaderError):
        return SpecError(Problem(file, "", f"invalid YAML: {e.reason} (character {e.character!r})"))
    return SpecError(Problem(file, "", f"invalid YAML: {e}"))


def _key_text(n: yaml.Node) -> str:
    return str(n.value) if isinstance(n, yaml.ScalarNode) else "<complex key>"


def _walk_nodes(root: yaml.Node, file: str, max_nodes: int) -> list[Problem]:
    """Duplicate keys (as problems), recursive aliases and the expanded node count (refused)."""
    problems: list[tuple[int, Problem]] = []
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    walked: set[int] = set()

    # Iterative post-order walk: (node, yaml path, children visited?)
    stack: list[tuple[yaml.Node, list[str | int], bool]] = [(root, [], False)]
    while stack:
        n, path, done = stack.pop()
        nid = id(n)
        if done:
            on_path.discard(nid)
            total = 1
            if isinstance(n, yaml.MappingNode):
                total += sum(sizes[id(k)] + sizes[id(v)] for k, v in n.value)
            elif isinstance(n, yaml.SequenceNode):
                total += sum(sizes[id(v)] for v in n.value)
            sizes[nid] = min(total, max_nodes + 1)
            if sizes[nid] > max_nodes:
                raise SpecError(Problem(file, format_loc(path), (
                    f"expands to more than {max_nodes:,} values (aliases of aliases?){_mark(n.start_mark)}")))
            continue
        if nid in on_path:
            raise SpecError(Problem(file, format_loc(path), f"recursive alias{_mark(n.start_mark)}"))
        if nid in walked:  # an alias of a node already walked: its size is known
            continue
        walked.add(nid)
        on_path.add(nid)
        stack.append((n, path, True))
        if isinstance(n, yaml.MappingNode):
            first: dict[tuple[str, str], int] = {}
            for k, v in n.value:
                if isinstance(k, yaml.ScalarNode) and k.value != "<<":
                    line = k.start_mark.line + 1
                    kk = (k.tag, k.value)
                    if kk in first:
                        msg = f"duplicate key (line {line}; first given on line {first[kk]})"
                        problems.append((line, Problem(file, format_loc([*path, k.value]), msg)))
                    else:
                        first[kk] = line
                child = [*path, _key_text(k)] if not (isinstance(k, yaml.ScalarNode) and k.value == "<<") else path
                stack.append((v, child, False))
                stack.append((k, path, False))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                stack.append((v, [*path, i], False))
    return [p for _, p in sorted(problems, key=lambda lp: lp[0])]


def parse_yaml(
    text: str, file: str, *, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES
) -> tuple[Any, list[Problem]]:
    """Parse YAML text (one document). Returns the data and duplicate-key problems; raises
    :class:`SpecError` for everything else that is wrong with the text."""
    try:
        _check_depth(text, file, max_depth)
    except yaml.YAMLError as e:
        raise _yaml_problem(e, file) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, []
        problems = _walk_nodes(node, file, max_nodes)
        data = loader.construct_document(node)
    except yaml.YAMLError as e:
        raise _yaml_problem(e, file) from None
    except ValueError as e:  # e.g. an integer literal past Python's int-conversion limit
        raise SpecError(Problem(file, "", f"invalid YAML: {str(e).split(':')[0]}")) from None
    except RecursionError:  # pragma: no cover - _check_depth bounds the nesting
        raise SpecError(Problem(file, "", "invalid YAML: nested too deeply")) from None
    finally:
        loader.dispose()
    return data, problems


def read_yaml_with_problems(
    path: str | os.PathLike[str], label: str | None = None, what: str = "file", *, not_found: str = ""
) -> tuple[Any, list[Problem]]:
    """Read and parse a YAML file; returns (data, duplicate-key problems) so a caller can
    report them with its validation problems. Raises :class:`SpecError` otherwise."""
    file = label if label is not None else os.fspath(path)
    return parse_yaml(read_text(path, file, what, not_found=not_found), file)


def read_yaml(
    path: str | os.PathLike[str], label: str | None = None, what: str = "file", *, not_found: str = ""
) -> Any:
    """Read and parse a YAML file; every problem (duplicate keys included) is a SpecError."""
    data, problems = read_yaml_with_problems(path, label, what, not_found=not_found)
    if problems:
        raise SpecError(problems)
    return data


def read_json(path: str | os.PathLike[str], label: str | None = None, what: str = "file",
              *, not_found: str = "") -> Any:
    """Read and parse a JSON file with the checks of :func:`read_text`; NaN/Infinity literals
    and duplicate keys are refused."""
    file = label if label is not None else os.fspath(path)
    text = read_text(path, file, what, not_found=not_found)

    def const(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                raise ValueError(f"duplicate key {k!r}")
            out[k] = v
        return out

    try:
        return json.loads(text, parse_constant=const, object_pairs_hook=pairs)
    except json.JSONDecodeError as e:
        raise SpecError(Problem(file, "", f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}")) from None
    except (ValueError, RecursionError) as e:
        msg = str(e) if isinstance(e, ValueError) else "nested deeper than Python can read"
        raise SpecError(Problem(file, "", f"invalid JSON: {msg}")) from None


# ------------------------------------------------------------------------ pydantic -> Problem

_IDENT = re.compile(r"^[^.\[\]\s'\"]+$")


def format_loc(loc: Sequence[Any]) -> str:
    """``["arrays", 0, "rows"]`` -> ``arrays[0].rows``; a key that is itself a path is quoted:
    ``parameters['arrays[0].rows']``."""
    out = ""
    for seg in loc:
        if isinstance(seg, int):
            out += f"[{seg}]"
        elif _IDENT.match(str(seg)):
            out += f".{seg}" if out else str(seg)
        else:
            out += f"[{str(seg)!r}]"
    return out


def kind_of(value: object) -> str:
    """A short rendering of a YAML value for messages."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _unwrap(tp: Any) -> Any:
    """Strip Annotated[...] and Optional[...] down to the underlying type (a union of several
    types is returned as is)."""
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


def _union_members(tp: Any) -> dict[Any, Any]:
    """Tag -> model of a discriminated union of models with a ``kind`` Literal field."""
    out: dict[Any, Any] = {}
    for m in map(_unwrap, typing.get_args(tp)):
        if isinstance(m, type) and issubclass(m, BaseModel):
            for fname in ("kind", "op"):
                f = m.model_fields.get(fname)
                if f is not None and typing.get_origin(_unwrap(f.annotation)) is typing.Literal:
                    for tag in typing.get_args(_unwrap(f.annotation)):
                        out[tag] = m
    return out


def _resolve(root: type[BaseModel], loc: Sequence[Any]) -> tuple[list[Any], Any, Any, bool]:
    """Walk ``root`` along pydantic's ``loc``: (user-facing path, parent type, type at loc,
    whether the error is about a dict key). Union tags in ``loc`` are dropped."""
    segs: list[Any] = []
    parent: Any = None
    tp: Any = root
    key_error = False
    key_tp: Any = None  # the key type of the last mapping walked
    for item in loc:
        if item == "[key]":
            key_error = True
            tp = key_tp
            continue
        tp = _unwrap(tp) if tp is not None else None
        origin = typing.get_origin(tp)
        if origin in (typing.Union, types.UnionType):
            members = _union_members(tp)
            if item in members:  # a discriminated union's tag: not part of the YAML path
                tp = members[item]
                continue
            if isinstance(item, str):  # a smart union's branch label (a type name): not a path either
                tp = None
                continue
        parent = tp
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            segs.append(str(item))
            field = tp.model_fields.get(str(item))
            tp = field.annotation if field is not None else None
        elif origin is list and isinstance(item, int):
            segs.append(item)
            tp = typing.get_args(tp)[0]
        elif origin is dict:
            segs.append(str(item))
            key_tp, tp = typing.get_args(tp)
        else:
            segs.append(item)
            tp = None
    return segs, parent, (_unwrap(tp) if tp is not None else None), key_error


def _num(x: object) -> str:
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e16:
        return str(int(x))
    return str(x)


def _entries(n: object) -> str:
    return "entry" if n == 1 else "entries"


def _message(err: Any, parent: Any, tp: Any) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    got = kind_of(value)
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        if isinstance(parent, type) and issubclass(parent, BaseModel):
            allowed = sorted(parent.model_fields)
            msg = f"unknown key (allowed: {', '.join(allowed)})"
            close = difflib.get_close_matches(str(err["loc"][-1]), allowed, n=1)
            if close:
                msg += f"; did you mean '{close[0]}'?"
            return msg
        return "unknown key"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op, bound = {
            "greater_than": (">", "gt"),
            "greater_than_equal": (">=", "ge"),
            "less_than": ("<", "lt"),
            "less_than_equal": ("<=", "le"),
        }[kind]
        return f"must be {op} {_num(ctx.get(bound))} (got {got})"
    if kind == "literal_error":
        if typing.get_origin(tp) is typing.Literal:
            choices = [str(c) for c in typing.get_args(tp)]
        else:
            choices = [str(ctx.get("expected", "?"))]
        if len(choices) == 1:
            return f"must be {choices[0]} (got {got})"
        return f"must be one of {', '.join(choices)} (got {got})"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            tags = [str(t) for t in _union_members(tp)]
        else:
            tags = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        disc = str(ctx.get("discriminator", "kind")).strip("'")
        if kind == "union_tag_invalid":
            return f"unknown {disc} {ctx.get('tag')!r} (valid: {', '.join(tags)})"
        return f"needs a '{disc}' (one of {', '.join(tags)})"
    if kind in ("int_type", "int_parsing", "int_from_float", "int_parsing_size"):
        return f"expected an integer, got {got}"
    if kind in ("float_type", "float_parsing"):
        return f"expected a number, got {got}"
    if kind == "finite_number":
        return f"must be a finite number (got {got})"
    if kind in ("string_type", "string_unicode"):
        return f"expected a string, got {got}"
    if kind == "string_pattern_mismatch":
        return f"{got} does not match the pattern {ctx.get('pattern')}"
    if kind == "string_too_short":
        return f"must not be empty (got {got})" if ctx.get("min_length") == 1 else \
            f"must be at least {ctx.get('min_length')} characters (got {got})"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {got}"
    if kind in ("list_type", "tuple_type", "set_type"):
        return f"expected a list, got {got}"
    if kind in ("dict_type", "model_type", "model_attributes_type", "mapping_type"):
        return f"expected a mapping, got {got}"
    if kind == "too_short":
        n = ctx.get("min_length")
        return f"must have at least {n} {_entries(n)} (got {ctx.get('actual_length')})"
    if kind == "too_long":
        n = ctx.get("max_length")
        return f"must have at most {n} {_entries(n)} (got {ctx.get('actual_length')})"
    if kind in ("value_error", "assertion_error"):
        e = ctx.get("error")
        return str(e) if e is not None else str(err.get("msg", kind))
    text = str(err.get("msg", kind))
    return text[:1].lower() + text[1:]


def validation_problems(
    model: type[BaseModel], err: ValidationError, file: str, prefix: Sequence[Any] = ()
) -> list[Problem]:
    """Pydantic errors -> :class:`Problem` s (``file: yaml.path: message``), duplicates dropped.

    ``prefix`` is prepended to every path (e.g. ``("options", "mapping")`` when ``model``
    validated a sub-block of a file).
    """
    out: list[Problem] = []
    for e in err.errors():
        segs, parent, tp, key_error = _resolve(model, tuple(e["loc"]))
        msg = _message(e, parent, tp)
        if key_error:
            msg = f"invalid key: {msg}"
        out.append(Problem(file, format_loc([*prefix, *segs]), msg))
    return list(dict.fromkeys(out))


def display_path(p: Path) -> str:
    """``p`` relative to the working directory when it lies below it, else absolute."""
    r = p.resolve()
    try:
        return r.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(r)
