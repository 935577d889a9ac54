"""An example of your own workload file: `accelsim run archs/tpuv1.yaml examples/my_model.py:build`.

Any Python file with a factory returning `accelsim.workload.registry.Workload` works; see
workloads/README.md for the contract (keyword parameters with defaults, seeded weights, readable
submodule names).
"""

from __future__ import annotations

import torch
from torch import nn

from accelsim.workload.registry import Workload


class MLP(nn.Module):
    def __init__(self, d_model: int, hidden: int) -> None:
        super().__init__()
        self.up = nn.Linear(d_model, hidden)
        self.act = nn.GELU()
        self.down = nn.Linear(hidden, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.down(self.act(self.up(x)))


def build(hidden: int = 1024, d_model: int = 256, tokens: int = 128) -> Workload:
    """A residual MLP block: d_model -> hidden -> d_model over `tokens` tokens."""
    torch.manual_seed(0)
    model = MLP(d_model, hidden).eval()
    x = torch.randn(tokens, d_model, generator=torch.Generator().manual_seed(1))
    return Workload(name="my-mlp", module=model, example_inputs=(x,),
                    meta={"tokens": tokens, "batch": 1, "d_model": d_model, "hidden": hidden})


WORKLOADS = {"my-mlp": build}
