"""Ports that mark accesses to a partitioned residual stream, for "interpretable by design"
models whose components may read and write only some partitions.

A model keeps its residual stream as one tensor per partition (``feedback``, ``model``,
``plan``, ``control``, ...). A component (an attention head, an MLP block, a controller block)
declares its ports with :func:`add_ports`; reads and writes go through them::

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            add_ports(self, reads=["model", "plan"], writes=["model"])
        def forward(self, stream):
            x = torch.cat([self.read_model(stream["model"]), self.read_plan(stream["plan"])], -1)
            ...
            stream["model"] = self.write_model(stream["model"], delta)

Tracing records each port op under the module path ``<component>.read_<partition>`` /
``<component>.write_<partition>``; mapping turns them into tile transfers on the SRAM bank
group bound to that partition (arch YAML ``residual:``), and the controller checks every one
against the arch's access policy, with the component's path as its role.
"""

from __future__ import annotations

import torch
from torch import nn

from accelsim.workload.ports import parse_port  # noqa: F401  (re-exported)


class ResidualRead(nn.Module):
    """Read residual partition ``partition`` (a copy out of its SRAM bank group)."""

    def __init__(self, partition: str) -> None:
        super().__init__()
        self.partition = partition

    def forward(self, part: torch.Tensor) -> torch.Tensor:
        return part.clone()


class ResidualWrite(nn.Module):
    """Add ``delta`` into residual partition ``partition`` (a read-modify-write of its banks)."""

    def __init__(self, partition: str) -> None:
        super().__init__()
        self.partition = partition

    def forward(self, part: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        return part + delta


def add_ports(module: nn.Module, reads: list[str] = (), writes: list[str] = ()) -> None:  # type: ignore[assignment]
    """Register ``read_<p>`` / ``write_<p>`` port submodules on ``module``."""
    for p in reads:
        module.add_module(f"read_{p}", ResidualRead(p))
    for p in writes:
        module.add_module(f"write_{p}", ResidualWrite(p))
