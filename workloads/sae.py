"""Sparse autoencoders (SAEs) over residual-stream activations, with seeded random weights.

Factories (keyword params; every one has a default):

* ``topk-sae`` — TopK SAE (Gao et al., "Scaling and evaluating sparse autoencoders", 2024):
  ``pre = x - b_dec``; ``acts = relu(encoder(pre))``; keep the ``k`` largest latents per token
  (``torch.topk``) and scatter them into a dense zero latent vector; ``decoder(latent) + b_dec``.
  Params ``k=32``, ``expansion=32``, ``d_model=768``, ``tokens=64``.
* ``gated-sae`` — Gated SAE (Rajamanoharan et al., "Improving Dictionary Learning with Gated
  Sparse Autoencoders", 2024): ``pi_gate = W_gate (x - b_dec) + b_gate``; ``f_gate = pi_gate > 0``
  (Heaviside as a comparison); the magnitude path shares ``W_gate`` rescaled per latent,
  ``W_mag = exp(r_mag) * W_gate``; ``f_mag = relu(W_mag (x - b_dec) + b_mag)``;
  ``f = f_gate * f_mag``; ``decoder(f) + b_dec``. Params ``expansion=32``, ``d_model=768``,
  ``tokens=64``.

The input is ``[tokens, d_model]`` residual activations (seeded ``randn``); the dictionary has
``expansion * d_model`` latents (24576 by default). Module paths: ``encoder`` (topk-sae) or
``gate`` (gated-sae, holding ``W_gate`` / ``b_gate``), and ``decoder`` for both. Nothing is
downloaded.
"""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
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


class TopKSAE(nn.Module):
    def __init__(self, d_model: int, n_latents: int, k: int) -> None:
        super().__init__()
        self.k = k
        self.b_dec = nn.Parameter(torch.randn(d_model) * 0.02)
        self.encoder = nn.Linear(d_model, n_latents)
        self.decoder = nn.Linear(n_latents, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = x - self.b_dec
        acts = F.relu(self.encoder(pre))
        vals, idx = torch.topk(acts, self.k, dim=-1)
        latent = torch.zeros_like(acts).scatter(-1, idx, vals)
        return self.decoder(latent) + self.b_dec


class GatedSAE(nn.Module):
    def __init__(self, d_model: int, n_latents: int) -> None:
        super().__init__()
        self.b_dec = nn.Parameter(torch.randn(d_model) * 0.02)
        # W_gate and b_gate: the gating path's linear map
        self.gate = nn.Linear(d_model, n_latents)
        # per-latent log-rescale of W_gate for the magnitude path, and its own bias
        self.r_mag = nn.Parameter(torch.randn(n_latents) * 0.1)
        self.b_mag = nn.Parameter(torch.randn(n_latents) * 0.02)
        self.decoder = nn.Linear(n_latents, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = x - self.b_dec
        pi_gate = self.gate(pre)
        f_gate = pi_gate > 0  # Heaviside step
        w_mag = torch.exp(self.r_mag).unsqueeze(-1) * self.gate.weight
        f_mag = F.relu(F.linear(pre, w_mag, self.b_mag))
        f = f_gate * f_mag
        return self.decoder(f) + self.b_dec


def _inputs(tokens: int, d_model: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    return torch.randn(tokens, d_model, generator=gen)


def _meta(tokens: int, d_model: int, n_latents: int, **extra: object) -> dict[str, object]:
    return {"seq": tokens, "batch": 1, "tokens": tokens, "d_model": d_model, "n_latents": n_latents, **extra}


def topk_sae(k: int = 32, expansion: int = 32, d_model: int = 768, tokens: int = 64) -> Workload:
    """TopK SAE on a d_model residual, expansion x d_model latents, k active (64 tokens)."""
    name = "topk-sae"
    k = _positive_int(name, "k", k)
    expansion = _positive_int(name, "expansion", expansion)
    d_model = _positive_int(name, "d_model", d_model)
    tokens = _positive_int(name, "tokens", tokens)
    n_latents = expansion * d_model
    if k > n_latents:
        raise ValueError(f"{name}: k {k} exceeds the number of latents {n_latents}")
    torch.manual_seed(0)
    model = TopKSAE(d_model, n_latents, k).eval()
    return Workload(name=name, module=model, example_inputs=(_inputs(tokens, d_model),),
                    meta=_meta(tokens, d_model, n_latents, k=k, expansion=expansion))


def gated_sae(expansion: int = 32, d_model: int = 768, tokens: int = 64) -> Workload:
    """Gated SAE (Heaviside gate, magnitude path sharing W_gate rescaled by exp(r_mag))."""
    name = "gated-sae"
    expansion = _positive_int(name, "expansion", expansion)
    d_model = _positive_int(name, "d_model", d_model)
    tokens = _positive_int(name, "tokens", tokens)
    n_latents = expansion * d_model
    torch.manual_seed(0)
    model = GatedSAE(d_model, n_latents).eval()
    return Workload(name=name, module=model, example_inputs=(_inputs(tokens, d_model),),
                    meta=_meta(tokens, d_model, n_latents, expansion=expansion))


WORKLOADS = {"topk-sae": topk_sae, "gated-sae": gated_sae}
DESCRIPTIONS = {
    "topk-sae": "TopK sparse autoencoder, d_model 768, 32x dictionary (24576 latents), k=32 "
                "(k=32, expansion=32, d_model=768, tokens=64)",
    "gated-sae": "Gated sparse autoencoder, d_model 768, 32x dictionary, Heaviside gate + "
                 "exp-rescaled magnitude path (expansion=32, d_model=768, tokens=64)",
}
