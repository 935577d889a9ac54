"""The residual-stream access policy, enforced by the controller (sequencer) on every tile.

Roles are module paths; the arch's ``residual.policy`` rules match them with globs (first
match wins; ``default`` applies to roles no rule matches). Every tile that reads or writes a
residual partition is checked when the sequencer issues it; violations are recorded with the
op, its module, the partition and the access, and the access matrix accumulates bytes per
(rule role, partition).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from accelsim.arch.spec import PolicyRule, ResidualSpec


@dataclass(frozen=True)
class Violation:
    op: str
    module: str
    role: str
    partition: str
    access: str  # "read" | "write"
    cycle: int
    rule: str  # the matching rule's role glob, or "<default>"

    def __str__(self) -> str:
        return (f"{self.access} of residual partition '{self.partition}' by '{self.role}' "
                f"(op '{self.op}' in module '{self.module}', cycle {self.cycle}) "
                f"is not allowed by rule '{self.rule}'")

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class AccessPolicy:
    def __init__(self, spec: ResidualSpec) -> None:
        self.spec = spec
        self.violations: list[Violation] = []
        self._seen: set[tuple[str, str, str]] = set()
        self.matrix: dict[str, dict[str, dict[str, int]]] = {}
        self.checks = 0

    def rule_for(self, role: str) -> PolicyRule | None:
        for rule in self.spec.policy:
            if fnmatch.fnmatchcase(role, rule.role):
                return rule
        return None

    def allowed(self, role: str, partition: str, access: str) -> tuple[bool, str]:
        rule = self.rule_for(role)
        if rule is None:
            return self.spec.default == "allow", "<default>"
        return partition in (rule.read if access == "read" else rule.write), rule.role

    def check(self, op: str, module: str, role: str, partition: str, access: str,
              nbytes: int, cycle: int) -> None:
        self.checks += 1
        ok, rule = self.allowed(role, partition, access)
        row = self.matrix.setdefault(rule, {})
        cell = row.setdefault(partition, {"read": 0, "write": 0})
        cell[access] += nbytes
        if not ok and (role, partition, access) not in self._seen:
            self._seen.add((role, partition, access))
            self.violations.append(Violation(op, module, role, partition, access, cycle, rule))
