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

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from accelsim.arch.overrides import apply_overrides, parse_override
from accelsim.arch.spec import ArchSpec, semantic_problems
from accelsim.errors import Problem, SpecError
from accelsim.shipped import shipped_dir
from accelsim.specio import kind_of, read_yaml_with_problems, validation_problems

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

#: The shipped architectures (``<repo>/archs``, or ``accelsim/data/archs`` in a wheel install).
ARCHS_DIR = shipped_dir("archs")


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
    if given.is_file() or (given.exists() and not given.is_dir()):
        return given  # a FIFO or device is refused, by name, when it is read
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


def _read_yaml(path: Path, file: str) -> tuple[object, list[Problem]]:
    """Parse an architecture file with :mod:`accelsim.specio` (regular files only, size and
    nesting bounded, NUL bytes refused); returns the data and duplicate-key problems."""
    return read_yaml_with_problems(
        path, file, "architecture file", not_found=f" (shipped architectures: {_shipped_names()})"
    )


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
        problems = [*problems, *validation_problems(ArchSpec, e, file)]
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
    return kind_of(value)


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
