from __future__ import annotations
from dataclasses import dataclass, field
from typing import Any
@dataclass(frozen=True)
class Workload:
    name: str
    module: Any
    example_inputs: tuple
    meta: dict = field(default_factory=dict)
