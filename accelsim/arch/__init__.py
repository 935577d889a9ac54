"""Architecture specs: frozen pydantic models (:mod:`.spec`), YAML loading with path-named
errors (:mod:`.load`) and ``--set`` overrides (:mod:`.overrides`)."""

from accelsim.arch.load import (
    ARCHS_DIR,
    DEFAULT_ARCH,
    arch_from_dict,
    arch_to_dict,
    find_arch,
    load_arch,
    shipped_archs,
    spec_digest,
)
from accelsim.arch.overrides import apply_overrides, parse_override, parse_path, set_path
from accelsim.arch.spec import ArchSpec

__all__ = [
    "ARCHS_DIR",
    "DEFAULT_ARCH",
    "ArchSpec",
    "apply_overrides",
    "arch_from_dict",
    "arch_to_dict",
    "find_arch",
    "load_arch",
    "parse_override",
    "parse_path",
    "set_path",
    "shipped_archs",
    "spec_digest",
]
