"""Compact GPT-2 (nanoGPT-style) workloads with seeded random weights.

Factories (keyword params ``seq`` and ``batch``; ``decode=true, kv_len=L``: a decode step of
``seq`` new tokens per sequence over an explicit KV cache, past keys / values
``[batch, heads, L, head_dim]`` per layer as inputs, logits and each layer's new keys / values
as outputs):

* ``gpt2-tiny``  — 2 layers, d_model 128, 4 heads, vocab 1024, default seq 64
* ``gpt2-small`` — 12 layers, d_model 768, 12 heads, vocab 50257, default seq 1024

Module paths are the usual GPT-2 ones: ``wte``, ``wpe``, ``h.3.ln_1``, ``h.3.attn.c_attn``,
``h.3.attn.c_proj``, ``h.3.ln_2``, ``h.3.mlp.c_fc``, ``h.3.mlp.c_proj``, ``ln_f``, ``lm_head``
(tied to ``wte``). Nothing is downloaded.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from accelsim.workload.registry import Workload


@dataclass(frozen=True)
class GPT2Config:
    n_layer: int
    n_embd: int
    n_head: int
    vocab_size: int
    block_size: int = 1024


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPT2Config) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.n_embd = cfg.n_embd
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.kv_out = False  # a prefill that also returns its keys and values (the KV cache)

    def forward(
        self, x: torch.Tensor, past_k: torch.Tensor | None = None, past_v: torch.Tensor | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        hd = C // self.n_head
        q = q.view(B, T, self.n_head, hd).transpose(1, 2)
        k = k.view(B, T, self.n_head, hd).transpose(1, 2)
        v = v.view(B, T, self.n_head, hd).transpose(1, 2)
        if past_k is None or past_v is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            y = y.transpose(1, 2).contiguous().view(B, T, C)
            if self.kv_out:
                return self.c_proj(y), k, v
            return self.c_proj(y)
        # decode step: the new tokens attend over the cache and (causally) each other
        L = past_k.shape[2]
        kk, vv = torch.cat((past_k, k), dim=2), torch.cat((past_v, v), dim=2)
        mask = None
        if T > 1:
            mask = (torch.arange(L + T, device=x.device)[None, :] <= torch.arange(T, device=x.device)[:, None] + L)
        y = F.scaled_dot_product_attention(q, kk, vv, attn_mask=mask)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y), k, v


class MLP(nn.Module):
    def __init__(self, cfg: GPT2Config) -> None:
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, cfg: GPT2Config) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = MLP(cfg)

    def forward(
        self, x: torch.Tensor, past_k: torch.Tensor | None = None, past_v: torch.Tensor | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if (past_k is None or past_v is None) and not self.attn.kv_out:
            x = x + self.attn(self.ln_1(x))
            x = x + self.mlp(self.ln_2(x))
            return x
        if past_k is None or past_v is None:
            a, k, v = self.attn(self.ln_1(x))
            x = x + a
            return x + self.mlp(self.ln_2(x)), k, v
        a, k, v = self.attn(self.ln_1(x), past_k, past_v)
        x = x + a
        return x + self.mlp(self.ln_2(x)), k, v


class GPT2(nn.Module):
    """GPT-2 with GPT-2's initialisation: N(0, 0.02) weights and biases (LayerNorm gamma
    N(1, 0.02), so numerics exercise the affine parameters), drawn from the global torch RNG.

    The modules are built on the meta device and materialised once: the default
    ``reset_parameters`` of every ``nn.Linear`` would be thrown away, and the tied
    ``lm_head``/``wte`` table (38.6M values in gpt2-small) is drawn once, not twice. That halves
    the build time of gpt2-small (~1.8 s -> ~0.8 s on one core)."""

    def __init__(self, cfg: GPT2Config) -> None:
        super().__init__()
        self.cfg = cfg
        with torch.device("meta"):
            self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
            self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
            self.h = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
            self.ln_f = nn.LayerNorm(cfg.n_embd)
            self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.to_empty(device="cpu")
        self.lm_head.weight = self.wte.weight  # weight tying, as in GPT-2
        self._init_weights()

    @torch.no_grad()
    def _init_weights(self) -> None:
        for m in self.modules():  # each tied parameter once, in module order
            if isinstance(m, nn.LayerNorm):
                m.weight.normal_(mean=1.0, std=0.02)
                m.bias.normal_(mean=0.0, std=0.02)
            elif isinstance(m, nn.Embedding) or (isinstance(m, nn.Linear) and m is not self.lm_head):
                for p in m.parameters(recurse=False):
                    p.normal_(mean=0.0, std=0.02)

    def forward(self, idx: torch.Tensor, *past: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """``past``: ``past_k.0, past_v.0, past_k.1, ...`` ([batch, heads, L, head_dim] each) for a
        decode step; then the new keys and values of every layer are returned after the logits."""
        _, t = idx.shape
        if not past:
            pos = torch.arange(0, t, dtype=torch.long, device=idx.device)
            x = self.wte(idx) + self.wpe(pos)
            if self.h and self.h[0].attn.kv_out:
                kv: list[torch.Tensor] = []
                for block in self.h:
                    x, k, v = block(x)
                    kv += [k, v]
                # a generation's prefill: only the last position's logits are needed
                return (self.lm_head(self.ln_f(x[:, -1:])), *kv)
            for block in self.h:
                x = block(x)
            return self.lm_head(self.ln_f(x))
        L = past[0].shape[2]
        pos = torch.arange(L, L + t, dtype=torch.long, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        new: list[torch.Tensor] = []
        for i, block in enumerate(self.h):
            x, k, v = block(x, past[2 * i], past[2 * i + 1])
            new += [k, v]
        return (self.lm_head(self.ln_f(x)), *new)


def _positive_int(name: str, key: str, v: object) -> int:
    try:
        if isinstance(v, bool):
            raise TypeError
        n = operator.index(v)  # int, numpy integers
    except TypeError:
        raise ValueError(f"{name}: {key} must be a positive integer, got {v!r}") from None
    if n < 1:
        raise ValueError(f"{name}: {key} must be a positive integer, got {v!r}")
    return n


def _build(cfg: GPT2Config, name: str, seq: int, batch: int, decode: bool = False, kv_len: int = 0,
           layers: int | None = None, kv_out: bool = False) -> Workload:
    seq = _positive_int(name, "seq", seq)
    batch = _positive_int(name, "batch", batch)
    if layers is not None:
        from dataclasses import replace as _replace

        cfg = _replace(cfg, n_layer=_positive_int(name, "layers", layers))
    if decode:
        kv_len = _positive_int(name, "kv_len", kv_len)
    elif kv_len:
        raise ValueError(f"{name}: kv_len={kv_len} needs decode=true")
    if seq + kv_len > cfg.block_size:
        raise ValueError(f"{name}: seq {seq} + kv_len {kv_len} exceeds the context length {cfg.block_size}")
    torch.manual_seed(0)
    model = GPT2(cfg).eval()
    if kv_out and not decode:
        for block in model.h:
            block.attn.kv_out = True
    gen = torch.Generator().manual_seed(1)
    idx = torch.randint(0, cfg.vocab_size, (batch, seq), dtype=torch.int64, generator=gen)
    inputs: tuple[torch.Tensor, ...] = (idx,)
    if decode:
        hd = cfg.n_embd // cfg.n_head
        inputs += tuple(torch.randn(batch, cfg.n_head, kv_len, hd, generator=gen) for _ in range(2 * cfg.n_layer))
    meta = {
        "seq": seq,
        "batch": batch,
        "tokens": seq * batch,
        "n_layer": cfg.n_layer,
        "d_model": cfg.n_embd,
        "n_head": cfg.n_head,
        "vocab": cfg.vocab_size,
    }
    if decode:
        meta.update(decode=True, kv_len=kv_len)
    if decode or kv_out:
        meta["kv_cache"] = {"layers": cfg.n_layer, "kv_heads": cfg.n_head, "head_dim": cfg.n_embd // cfg.n_head,
                            "inputs": 2 * cfg.n_layer if decode else 0, "outputs": 2 * cfg.n_layer, "axis": 2}
    return Workload(name=name, module=model, example_inputs=inputs, meta=meta)


TINY = GPT2Config(n_layer=2, n_embd=128, n_head=4, vocab_size=1024, block_size=1024)
SMALL = GPT2Config(n_layer=12, n_embd=768, n_head=12, vocab_size=50257, block_size=1024)


def gpt2_tiny(seq: int = 64, batch: int = 1, decode: bool = False, kv_len: int = 0, layers: int | None = None,
              kv_out: bool = False) -> Workload:
    return _build(TINY, "gpt2-tiny", seq, batch, decode, kv_len, layers, kv_out)


def gpt2_small(seq: int = 1024, batch: int = 1, decode: bool = False, kv_len: int = 0, layers: int | None = None,
               kv_out: bool = False) -> Workload:
    return _build(SMALL, "gpt2-small", seq, batch, decode, kv_len, layers, kv_out)


WORKLOADS = {"gpt2-tiny": gpt2_tiny, "gpt2-small": gpt2_small}
DESCRIPTIONS = {
    "gpt2-tiny": "GPT-2 shape, 2 layers, d_model 128, 4 heads, vocab 1024 (seq=64, batch=1)",
    "gpt2-small": "GPT-2 small (124M), 12 layers, d_model 768, 12 heads, vocab 50257 (seq=1024, batch=1)",
}
