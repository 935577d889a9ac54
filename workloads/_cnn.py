"""Shared helpers of the CNN workload files (not a workload file: its name starts with '_')."""

from __future__ import annotations

import operator

import torch
from torch import nn


def positive_int(name: str, key: str, v: object) -> int:
    try:
        if isinstance(v, bool):
            raise TypeError
        n = operator.index(v)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{name}: {key} must be a positive integer, got {v!r}") from None
    if n < 1:
        raise ValueError(f"{name}: {key} must be a positive integer, got {v!r}")
    return n


@torch.no_grad()
def init_cnn(model: nn.Module, seed: int = 0) -> None:
    """torchvision's initialisation (Kaiming-normal fan-out convolutions, N(0, 0.01) linear
    layers), with *random* batch-norm affine parameters and running statistics (gamma, var in
    [0.5, 1.5], beta, mean ~ N(0, 0.1)) so that folding BN into the convolutions is exercised
    by the functional check. Seeded; nothing is downloaded."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups
            m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_out) ** 0.5)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.copy_(0.5 + torch.rand(n, generator=g))
            m.bias.copy_(0.1 * torch.randn(n, generator=g))
            m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
            m.running_var.copy_(0.5 + torch.rand(n, generator=g))
        elif isinstance(m, nn.Linear):
            m.weight.copy_(0.01 * torch.randn(m.weight.shape, generator=g))
            m.bias.zero_()
