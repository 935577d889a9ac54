"""A Llama-style decoder in plain PyTorch (Touvron et al. 2023, "Llama 2", sec. 2.2 and its
reference code): pre-norm RMSNorm blocks, rotary position embeddings (RoPE, Su et al. 2021) on
queries and keys, grouped-query attention (GQA, Ainslie et al. 2023: ``kv_heads`` key/value
heads shared by ``heads / kv_heads`` query heads each), a SwiGLU MLP (Shazeer 2020:
``down(silu(gate(x)) * up(x))``), an untied LM head. Module paths:
``embed``, ``layers.3.attn_norm``, ``layers.3.attn.{q,k,v,o}_proj``, ``layers.3.mlp_norm``,
``layers.3.mlp.{gate,up,down}_proj``, ``norm``, ``lm_head``.

Factories (params ``layers, dim, heads, kv_heads, ffn, vocab, seq, batch, decode, kv_len, meta``):

* ``llama``      -- 2 layers, dim 256, 8 heads, 2 KV heads, MLP 688, vocab 1024 (seq 128)
* ``llama2-7b``  -- Llama-2-7B's shapes: 32 layers, dim 4096, 32 heads (MHA), MLP 11008,
  vocab 32000 (seq 128); ``--param kv_heads=8`` gives a GQA variant

``kv_out=true``: a generation's prefill: it returns every layer's keys and values (the KV
cache it writes) and the logits of the last position only (what the next token is sampled from,
as serving engines compute it). ``decode=true, kv_len=L``: a decode step. The model takes, besides ``seq`` new tokens per
sequence (default 1 when decoding), explicit past keys and values ``past_k.<i>`` /
``past_v.<i>`` of shape ``[batch, kv_heads, L, head_dim]`` per layer; the new tokens attend over
the cache and themselves (causally), and the model returns the logits and each layer's new
keys and values (the rows a decode step appends to the cache).

The model is built on the meta device when no weights are needed (``accelsim run`` without
``--check``; ``meta=true/false`` forces it), so 7B-scale shapes trace without allocating
weights. With weights: N(0, 0.02) initialisation (RMSNorm gains N(1, 0.02)), seeded.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from accelsim.workload.registry import Workload, weights_needed


@dataclass(frozen=True)
class LlamaConfig:
    layers: int
    dim: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    rope_theta: float = 10000.0
    eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.cfg = cfg
        hd = cfg.head_dim
        self.q_proj = nn.Linear(cfg.dim, cfg.heads * hd, bias=False)
        self.k_proj = nn.Linear(cfg.dim, cfg.kv_heads * hd, bias=False)
        self.v_proj = nn.Linear(cfg.dim, cfg.kv_heads * hd, bias=False)
        self.o_proj = nn.Linear(cfg.heads * hd, cfg.dim, bias=False)

    def forward(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor | None,
        past_k: torch.Tensor | None = None, past_v: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        c = self.cfg
        B, T, _ = x.shape
        hd = c.head_dim
        q = self.q_proj(x).view(B, T, c.heads, hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, c.kv_heads, hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, c.kv_heads, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k_new, v_new = k, v
        if past_k is not None and past_v is not None:
            k = torch.cat((past_k, k), dim=2)
            v = torch.cat((past_v, v), dim=2)
        rep = c.heads // c.kv_heads
        if rep > 1:  # GQA: each KV head serves `rep` query heads (a broadcast, no copy)
            S = k.shape[2]
            k = k[:, :, None].expand(B, c.kv_heads, rep, S, hd).reshape(B, c.heads, S, hd)
            v = v[:, :, None].expand(B, c.kv_heads, rep, S, hd).reshape(B, c.heads, S, hd)
        if mask is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=T > 1)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        y = y.transpose(1, 2).reshape(B, T, c.heads * hd)
        return self.o_proj(y), k_new, v_new


class MLP(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(cfg.dim, cfg.ffn, bias=False)
        self.up_proj = nn.Linear(cfg.dim, cfg.ffn, bias=False)
        self.down_proj = nn.Linear(cfg.ffn, cfg.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.attn_norm = nn.RMSNorm(cfg.dim, eps=cfg.eps)
        self.attn = Attention(cfg)
        self.mlp_norm = nn.RMSNorm(cfg.dim, eps=cfg.eps)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor | None,
                past_k: torch.Tensor | None, past_v: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        a, k, v = self.attn(self.attn_norm(x), cos, sin, mask, past_k, past_v)
        x = x + a
        return x + self.mlp(self.mlp_norm(x)), k, v


class Llama(nn.Module):
    """``forward(idx, *past)``: ``past`` is ``past_k.0, past_v.0, past_k.1, ...`` when decoding
    (``kv_len > 0``). Returns ``(logits, k_new.0, v_new.0, ...)`` when decoding, else logits."""

    def __init__(self, cfg: LlamaConfig, kv_len: int = 0, kv_out: bool = False) -> None:
        super().__init__()
        self.cfg = cfg
        self.kv_len = kv_len
        self.kv_out = kv_out
        self.embed = nn.Embedding(cfg.vocab, cfg.dim)
        self.layers = nn.ModuleList([Block(cfg) for _ in range(cfg.layers)])
        self.norm = nn.RMSNorm(cfg.dim, eps=cfg.eps)
        self.lm_head = nn.Linear(cfg.dim, cfg.vocab, bias=False)
        hd = cfg.head_dim
        inv = 1.0 / (cfg.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        self.register_buffer("inv_freq", inv, persistent=False)

    def forward(self, idx: torch.Tensor, *past: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        B, T = idx.shape
        L = self.kv_len
        # RoPE tables and the causal mask depend only on positions: folded at trace time
        pos = torch.arange(L, L + T, dtype=torch.float32, device=idx.device)
        freqs = torch.outer(pos, self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]
        mask = None
        if L > 0 and T > 1:  # new query i (position L + i) sees keys 0 .. L + i
            qpos = torch.arange(T, device=idx.device)[:, None] + L
            kpos = torch.arange(L + T, device=idx.device)[None, :]
            mask = (kpos <= qpos)[None, None]
        x = self.embed(idx)
        new: list[torch.Tensor] = []
        for i, layer in enumerate(self.layers):
            pk, pv = (past[2 * i], past[2 * i + 1]) if L > 0 else (None, None)
            x, k, v = layer(x, cos, sin, mask, pk, pv)
            new += [k, v]
        if self.kv_out:  # a generation's prefill: only the last position's logits are needed
            x = x[:, -1:]
        logits = self.lm_head(self.norm(x))
        return (logits, *new) if (L > 0 or self.kv_out) else logits


def _pos(name: str, key: str, v: object, zero: bool = False) -> int:
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():  # from a command line (default None)
        v = int(v)
    try:
        if isinstance(v, bool):
            raise TypeError
        n = operator.index(v)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{name}: {key} must be an integer, got {v!r}") from None
    if n < (0 if zero else 1):
        raise ValueError(f"{name}: {key} must be {'non-negative' if zero else 'positive'}, got {v!r}")
    return n


@torch.no_grad()
def _init(model: Llama) -> None:
    for m in model.modules():
        if isinstance(m, nn.RMSNorm):
            m.weight.normal_(mean=1.0, std=0.02)
        elif isinstance(m, (nn.Linear, nn.Embedding)):
            m.weight.normal_(mean=0.0, std=0.02)


def _build(name: str, layers: int, dim: int, heads: int, kv_heads: int, ffn: int, vocab: int, seq: int | None,
           batch: int, decode: bool, kv_len: int, meta: bool | None, kv_out: bool = False) -> Workload:
    layers, dim, heads, kv_heads = (_pos(name, k, v) for k, v in
                                    (("layers", layers), ("dim", dim), ("heads", heads), ("kv_heads", kv_heads)))
    ffn, vocab, batch = _pos(name, "ffn", ffn), _pos(name, "vocab", vocab), _pos(name, "batch", batch)
    kv_len = _pos(name, "kv_len", kv_len, zero=True)
    if dim % heads or (dim // heads) % 2:
        raise ValueError(f"{name}: dim {dim} must split into {heads} heads of an even size")
    if heads % kv_heads:
        raise ValueError(f"{name}: heads {heads} must be a multiple of kv_heads {kv_heads}")
    if decode and kv_len < 1:
        raise ValueError(f"{name}: decode=true needs kv_len >= 1 (the cached tokens)")
    if not decode and kv_len:
        raise ValueError(f"{name}: kv_len={kv_len} needs decode=true")
    if isinstance(meta, str):  # from a command line (default None)
        low = meta.strip().lower()
        if low not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"{name}: meta must be true or false, got {meta!r}")
        meta = low in ("true", "1", "yes")
    seq = _pos(name, "seq", seq if seq is not None else (1 if decode else 128))
    cfg = LlamaConfig(layers, dim, heads, kv_heads, ffn, vocab)
    on_meta = (not weights_needed()) if meta is None else bool(meta)
    if on_meta and weights_needed():
        raise ValueError(f"{name}: meta=true builds no weights, but this run needs them (--check)")
    torch.manual_seed(0)
    with torch.device("meta"):
        model = Llama(cfg, kv_len if decode else 0, kv_out=bool(kv_out) and not decode)
    dev = torch.device("meta") if on_meta else torch.device("cpu")
    if not on_meta:
        model.to_empty(device="cpu")
        _init(model)
        hd = cfg.head_dim
        model.inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    else:
        hd = cfg.head_dim
        model.inv_freq = torch.empty(hd // 2, device="meta")
    model.eval()
    gen = torch.Generator().manual_seed(1)
    idx = torch.randint(0, vocab, (batch, seq), dtype=torch.int64, generator=gen).to(dev)
    inputs: list[torch.Tensor] = [idx]
    if decode:
        for _ in range(layers):
            for _kv in "kv":
                inputs.append(torch.randn(batch, kv_heads, kv_len, cfg.head_dim, generator=gen).to(dev))
    meta_info = {"seq": seq, "batch": batch, "tokens": seq * batch, "layers": layers, "dim": dim, "heads": heads,
                 "kv_heads": kv_heads, "ffn": ffn, "vocab": vocab, "decode": bool(decode), "kv_len": kv_len}
    if decode or kv_out:
        # the KV cache: inputs 1.. (decode) and outputs 1.. (the rows this step writes), per layer
        # k then v, [batch, kv_heads, length, head_dim]; read by accelsim.inference
        meta_info["kv_cache"] = {"layers": layers, "kv_heads": kv_heads, "head_dim": cfg.head_dim,
                                 "inputs": 2 * layers if decode else 0, "outputs": 2 * layers, "axis": 2}
    return Workload(name=name, module=model, example_inputs=tuple(inputs), meta=meta_info)


def llama(layers: int = 2, dim: int = 256, heads: int = 8, kv_heads: int = 2, ffn: int = 688, vocab: int = 1024,
          seq: int | None = None, batch: int = 1, decode: bool = False, kv_len: int = 0,
          meta: bool | None = None, kv_out: bool = False) -> Workload:
    """Llama-style decoder, 2 layers, dim 256, 8 heads / 2 KV heads (seq=128)."""
    return _build("llama", layers, dim, heads, kv_heads, ffn, vocab, seq, batch, decode, kv_len, meta, kv_out)


def llama2_7b(layers: int = 32, dim: int = 4096, heads: int = 32, kv_heads: int = 32, ffn: int = 11008,
              vocab: int = 32000, seq: int | None = None, batch: int = 1, decode: bool = False, kv_len: int = 0,
              meta: bool | None = None, kv_out: bool = False) -> Workload:
    """Llama-2-7B shapes (32 layers, dim 4096, 32 heads, MLP 11008, vocab 32000; seq=128)."""
    return _build("llama2-7b", layers, dim, heads, kv_heads, ffn, vocab, seq, batch, decode, kv_len, meta, kv_out)


WORKLOADS = {"llama": llama, "llama2-7b": llama2_7b}
DESCRIPTIONS = {
    "llama": "Llama-style decoder: GQA, RoPE, RMSNorm, SwiGLU; 2 layers, dim 256, 8/2 heads (seq=128; decode=true)",
    "llama2-7b": "Llama-2-7B shapes, built on the meta device unless --check (seq=128; decode=true, kv_len=L)",
}
