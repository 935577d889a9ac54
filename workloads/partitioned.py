"""A GPT-2-style decoder whose residual stream is split into named partitions, every access of
which goes through :mod:`accelsim.workload.residual` ports (seeded random weights).

Factory ``partitioned-transformer`` (keyword params ``n_layer=4``, ``seq=128``, ``batch=1``,
``miswire=False``): d_model 256, 8 heads, vocab 2048. The residual stream is a dict of four
partitions (channels): ``feedback`` 32, ``model`` 128, ``plan`` 64, ``control`` 32.

Components (module paths are what an arch's ``residual.policy`` globs match):

* ``embed`` — token + position embedding (``embed.wte``, ``embed.wpe``), split into the four
  partitions; write ports to every partition (each starts at zero).
* ``layer0`` — a fixed controller block (LN, Linear(64, 128), GELU, Linear(128, 32)): reads
  ``feedback`` + ``control``, writes ``control``. Runs first; meant to be hard-wired (ROM).
* ``h.<i>.attn.heads.<j>`` — one attention head each, with its own LN and q/k/v/o projections
  (head dim 32, causal SDPA) over the partitions it reads, adding its output into the partition
  it writes. All heads of a layer read the stream as it was before the layer's attention
  (as in a standard multi-head layer), then write in head order. Roles:

  ======  ==================  ============
  heads   reads               writes
  ======  ==================  ============
  0-3     model, plan         model
  4-5     model, plan         plan
  6-7     model, feedback     feedback
  ======  ==================  ============

* ``h.<i>.mlp`` — LN, Linear(192, 768), GELU, Linear(768, 192): reads ``model`` + ``plan``,
  writes ``model`` and ``plan``.
* ``readout`` — reads ``model``; ``readout.ln_f`` and ``readout.lm_head`` (Linear(128, vocab)).

Outputs: ``(logits, feedback, plan, control)``: the final non-``model`` partitions are returned
as the state carried to the next step (otherwise export would drop ``layer0``, the feedback
heads and the last MLP's ``plan`` write as dead code).

``miswire=True`` makes exactly one head, ``h.1.attn.heads.2``, write ``control`` (which no head
may write) instead of ``model``; it needs ``n_layer >= 2``. Nothing is downloaded.
"""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import nn

from accelsim.workload.registry import Workload
from accelsim.workload.residual import add_ports

D_MODEL = 256
N_HEAD = 8
HEAD_DIM = 32
VOCAB = 2048
BLOCK_SIZE = 1024
#: residual partitions and their widths (channels); they sum to D_MODEL
PARTITIONS: dict[str, int] = {"feedback": 32, "model": 128, "plan": 64, "control": 32}
#: head index -> (partitions read, partition written)
HEAD_ROLES: dict[int, tuple[tuple[str, ...], str]] = {
    **{j: (("model", "plan"), "model") for j in range(0, 4)},
    **{j: (("model", "plan"), "plan") for j in range(4, 6)},
    **{j: (("model", "feedback"), "feedback") for j in range(6, 8)},
}
MISWIRED_HEAD = (1, 2)  # (layer, head) that writes 'control' when miswire=True
MLP_READS = ("model", "plan")
MLP_WRITES = ("model", "plan")
CONTROLLER_READS = ("feedback", "control")
CONTROLLER_HIDDEN = 128
#: partitions returned (after the logits) as the model's final state
STATE_OUTPUTS = ("feedback", "plan", "control")

Stream = dict[str, torch.Tensor]


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


def _read(comp: nn.Module, stream: Stream, parts: tuple[str, ...]) -> torch.Tensor:
    """Concatenate the partitions ``parts`` of ``stream``, each read through ``comp``'s port."""
    xs = [getattr(comp, f"read_{p}")(stream[p]) for p in parts]
    return xs[0] if len(xs) == 1 else torch.cat(xs, dim=-1)


def _write(comp: nn.Module, stream: Stream, part: str, delta: torch.Tensor) -> None:
    stream[part] = getattr(comp, f"write_{part}")(stream[part], delta)


def _width(parts: tuple[str, ...]) -> int:
    return sum(PARTITIONS[p] for p in parts)


class Embed(nn.Module):
    """Token + position embedding, written into every partition (each starts at zero)."""

    def __init__(self) -> None:
        super().__init__()
        self.wte = nn.Embedding(VOCAB, D_MODEL)
        self.wpe = nn.Embedding(BLOCK_SIZE, D_MODEL)
        add_ports(self, writes=list(PARTITIONS))

    def forward(self, idx: torch.Tensor) -> Stream:
        b, t = idx.shape
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device)
        e = self.wte(idx) + self.wpe(pos)
        stream: Stream = {}
        lo = 0
        for p, w in PARTITIONS.items():
            stream[p] = torch.zeros(b, t, w, dtype=e.dtype, device=e.device)
            _write(self, stream, p, e[..., lo:lo + w])
            lo += w
        return stream


class Controller(nn.Module):
    """``layer0``: a small fixed MLP that reads feedback + control and writes control."""

    def __init__(self) -> None:
        super().__init__()
        add_ports(self, reads=list(CONTROLLER_READS), writes=["control"])
        d_in = _width(CONTROLLER_READS)
        self.ln = nn.LayerNorm(d_in)
        self.fc = nn.Linear(d_in, CONTROLLER_HIDDEN)
        self.act = nn.GELU(approximate="tanh")
        self.proj = nn.Linear(CONTROLLER_HIDDEN, PARTITIONS["control"])

    def forward(self, stream: Stream) -> None:
        x = _read(self, stream, CONTROLLER_READS)
        _write(self, stream, "control", self.proj(self.act(self.fc(self.ln(x)))))


class Head(nn.Module):
    """One causal attention head over the partitions it reads, adding into the one it writes."""

    def __init__(self, reads: tuple[str, ...], writes: str) -> None:
        super().__init__()
        self.reads = reads
        self.writes = writes
        add_ports(self, reads=list(reads), writes=[writes])
        d_in = _width(reads)
        self.ln = nn.LayerNorm(d_in)
        self.q = nn.Linear(d_in, HEAD_DIM)
        self.k = nn.Linear(d_in, HEAD_DIM)
        self.v = nn.Linear(d_in, HEAD_DIM)
        self.o = nn.Linear(HEAD_DIM, PARTITIONS[writes])

    def forward(self, src: Stream, dst: Stream) -> None:
        """Read from ``src`` (the stream before this layer's attention), write into ``dst``."""
        x = self.ln(_read(self, src, self.reads))
        q = self.q(x).unsqueeze(1)  # [B, 1, T, HEAD_DIM]: one head
        k = self.k(x).unsqueeze(1)
        v = self.v(x).unsqueeze(1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).squeeze(1)
        _write(self, dst, self.writes, self.o(y))


class Attention(nn.Module):
    def __init__(self, layer: int, miswire: bool) -> None:
        super().__init__()
        heads = []
        for j in range(N_HEAD):
            reads, writes = HEAD_ROLES[j]
            if miswire and (layer, j) == MISWIRED_HEAD:
                writes = "control"
            heads.append(Head(reads, writes))
        self.heads = nn.ModuleList(heads)

    def forward(self, stream: Stream) -> None:
        src = dict(stream)  # every head reads the pre-attention stream
        for head in self.heads:
            head(src, stream)


class MLP(nn.Module):
    """Reads model + plan, writes model and plan."""

    def __init__(self) -> None:
        super().__init__()
        add_ports(self, reads=list(MLP_READS), writes=list(MLP_WRITES))
        d = _width(MLP_READS)
        self.ln = nn.LayerNorm(d)
        self.c_fc = nn.Linear(d, 4 * d)
        self.act = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(4 * d, _width(MLP_WRITES))

    def forward(self, stream: Stream) -> None:
        y = self.c_proj(self.act(self.c_fc(self.ln(_read(self, stream, MLP_READS)))))
        lo = 0
        for p in MLP_WRITES:
            w = PARTITIONS[p]
            _write(self, stream, p, y[..., lo:lo + w])
            lo += w


class Layer(nn.Module):
    def __init__(self, layer: int, miswire: bool) -> None:
        super().__init__()
        self.attn = Attention(layer, miswire)
        self.mlp = MLP()

    def forward(self, stream: Stream) -> None:
        self.attn(stream)
        self.mlp(stream)


class Readout(nn.Module):
    """Reads the model partition: final LN and LM head."""

    def __init__(self) -> None:
        super().__init__()
        add_ports(self, reads=["model"])
        self.ln_f = nn.LayerNorm(PARTITIONS["model"])
        self.lm_head = nn.Linear(PARTITIONS["model"], VOCAB, bias=False)

    def forward(self, stream: Stream) -> torch.Tensor:
        return self.lm_head(self.ln_f(self.read_model(stream["model"])))


class PartitionedTransformer(nn.Module):
    def __init__(self, n_layer: int, miswire: bool) -> None:
        super().__init__()
        self.embed = Embed()
        self.layer0 = Controller()
        self.h = nn.ModuleList([Layer(i, miswire) for i in range(n_layer)])
        self.readout = Readout()
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
                if getattr(m, "bias", None) is not None:
                    nn.init.normal_(m.bias, std=0.02)
            elif isinstance(m, nn.LayerNorm):
                nn.init.normal_(m.weight, mean=1.0, std=0.02)
                nn.init.normal_(m.bias, std=0.02)

    def forward(self, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        stream = self.embed(idx)
        self.layer0(stream)
        for layer in self.h:
            layer(stream)
        # The final feedback / plan / control partitions are outputs too (the state a controller
        # carries to the next step); without them export would drop every op that only feeds
        # them (layer0, the feedback heads, the miswired head) as dead code.
        return self.readout(stream), *(stream[p] for p in STATE_OUTPUTS)


def partitioned_transformer(n_layer: int = 4, seq: int = 128, batch: int = 1, miswire: bool = False) -> Workload:
    """GPT-2-style decoder on a partitioned residual stream (feedback/model/plan/control) with ports."""
    name = "partitioned-transformer"
    n_layer = _positive_int(name, "n_layer", n_layer)
    seq = _positive_int(name, "seq", seq)
    batch = _positive_int(name, "batch", batch)
    if not isinstance(miswire, bool):
        raise ValueError(f"{name}: miswire must be a boolean, got {miswire!r}")
    if seq > BLOCK_SIZE:
        raise ValueError(f"{name}: seq {seq} exceeds the context length {BLOCK_SIZE}")
    if miswire and n_layer <= MISWIRED_HEAD[0]:
        raise ValueError(f"{name}: miswire rewires h.{MISWIRED_HEAD[0]}.attn.heads.{MISWIRED_HEAD[1]}, "
                         f"which needs n_layer >= {MISWIRED_HEAD[0] + 1} (got {n_layer})")
    torch.manual_seed(0)
    model = PartitionedTransformer(n_layer, miswire).eval()
    gen = torch.Generator().manual_seed(1)
    idx = torch.randint(0, VOCAB, (batch, seq), dtype=torch.int64, generator=gen)
    meta = {
        "seq": seq,
        "batch": batch,
        "tokens": seq * batch,
        "n_layer": n_layer,
        "d_model": D_MODEL,
        "n_head": N_HEAD,
        "vocab": VOCAB,
        "partitions": dict(PARTITIONS),
        "miswire": miswire,
    }
    return Workload(name=name, module=model, example_inputs=(idx,), meta=meta)


WORKLOADS = {"partitioned-transformer": partitioned_transformer}
DESCRIPTIONS = {
    "partitioned-transformer": "GPT-2-style decoder, d_model 256 split into feedback/model/plan/control "
                               "residual partitions accessed through ports, 8 per-head components, "
                               "a layer0 controller (n_layer=4, seq=128, batch=1, miswire=False)",
}
