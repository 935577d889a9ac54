"""Error types. Every user-facing failure is one of these; the CLI prints the message
(no traceback) and exits with ``exit_code``.

Exit codes: 0 ok, 1 check failure / regression / policy violation, 2 bad input.
"""

from __future__ import annotations

from dataclasses import dataclass


class AccelsimError(Exception):
    """Base class: a clear, user-facing error. ``exit_code`` is what the CLI returns."""

    exit_code: int = 2


@dataclass(frozen=True)
class Problem:
    """One problem found in an input file: ``file: yaml.path: message``."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        loc = f"{self.file}: " if self.file else ""
        if self.path:
            loc += f"{self.path}: "
        return f"{loc}{self.message}"


class SpecError(AccelsimError):
    """An invalid specification file (architecture, GPU profile, sweep, suite).

    Holds *every* problem found in one pass; ``str()`` lists them one per line.
    """

    def __init__(self, problems: list[Problem] | Problem | str, file: str = "") -> None:
        if isinstance(problems, str):
            problems = [Problem(file, "", problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class WorkloadError(AccelsimError):
    """A workload that cannot be found, built or traced."""


class MappingError(AccelsimError):
    """An op that cannot be mapped onto the architecture (names the op and its module)."""


class ResourceError(AccelsimError):
    """A run whose estimated work (tiles, simulation events, memory) is above the limit;
    refused before mapping (exit 2; see :mod:`accelsim.model.resources`)."""


class SimError(AccelsimError):
    """An internal inconsistency detected during simulation (a bug, reported clearly)."""

    exit_code = 3


class CheckFailure(AccelsimError):
    """A functional (numerics) check, a regression gate or an access policy failed."""

    exit_code = 1
