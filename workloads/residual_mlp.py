"""A deep residual MLP with seeded random weights.

Factory ``residual-mlp`` (keyword params ``depth=16``, ``d_model=512``, ``tokens=256``):
``depth`` pre-LN blocks, each ``LayerNorm -> Linear(d, 4d) -> GELU -> Linear(4d, d)``, adding
into one residual stream (``x = x + block(x)``). The input is ``[tokens, d_model]`` seeded
``randn`` activations. Module paths: ``blocks.<i>.ln``, ``blocks.<i>.fc``, ``blocks.<i>.proj``.
Nothing is downloaded.
"""

from __future__ import annotations

import operator

import torch
from torch import nn

from accelsim.workload.registry import Workload


def _positive_int(name: str, key: str, v: object) -> int:
    try:
        if isinstance(v, bool):
            raise TypeError
        n = operator.index(v)
    except TypeError:
        raise ValueError(f"{name}: {key} must be a positive integer, got {v!r}") from None
    if n < 1:
        raise ValueError(f"{name}: {key} must be a positive integer, got {v!r}")
    return n


class MLPBlock(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.act = nn.GELU()
        self.proj = nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.act(self.fc(self.ln(x))))


class ResidualMLP(nn.Module):
    def __init__(self, depth: int, d: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([MLPBlock(d) for _ in range(depth)])
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
                nn.init.normal_(m.bias, std=0.02)
            elif isinstance(m, nn.LayerNorm):
                nn.init.normal_(m.weight, mean=1.0, std=0.02)
                nn.init.normal_(m.bias, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = x + block(x)
        return x


def residual_mlp(depth: int = 16, d_model: int = 512, tokens: int = 256) -> Workload:
    """Deep residual MLP: depth x (LN, Linear(d,4d), GELU, Linear(4d,d)) on one residual stream."""
    name = "residual-mlp"
    depth = _positive_int(name, "depth", depth)
    d_model = _positive_int(name, "d_model", d_model)
    tokens = _positive_int(name, "tokens", tokens)
    torch.manual_seed(0)
    model = ResidualMLP(depth, d_model).eval()
    x = torch.randn(tokens, d_model, generator=torch.Generator().manual_seed(1))
    meta = {"seq": tokens, "batch": 1, "tokens": tokens, "depth": depth, "d_model": d_model}
    return Workload(name=name, module=model, example_inputs=(x,), meta=meta)


WORKLOADS = {"residual-mlp": residual_mlp}
DESCRIPTIONS = {
    "residual-mlp": "Deep residual MLP: 16 blocks of LN -> Linear(d,4d) -> GELU -> Linear(4d,d), "
                    "d_model 512 (depth=16, d_model=512, tokens=256)",
}
