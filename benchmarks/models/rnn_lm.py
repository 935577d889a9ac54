"""Word-level recurrent language models as a researcher writes them (the PyTorch
``word_language_model`` example's ``RNNModel``: embedding, a multi-layer ``nn.LSTM`` or
``nn.GRU``, dropout, a linear decoder). A workload file for ``benchmarks/real_models.py``
(``accelsim run datacenter-bf16 benchmarks/models/rnn_lm.py:lstm-lm``)."""

from __future__ import annotations

import torch
from torch import nn

from accelsim.workload.registry import Workload


class RNNModel(nn.Module):
    def __init__(self, cell: str, vocab: int, emb: int, hidden: int, layers: int, dropout: float = 0.2) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(vocab, emb)
        self.rnn = getattr(nn, cell)(emb, hidden, layers, dropout=dropout, batch_first=True)
        self.decoder = nn.Linear(hidden, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.drop(self.encoder(tokens)))
        return self.decoder(self.drop(out))


def _lm(cell: str, vocab: int, emb: int, hidden: int, layers: int, seq: int, batch: int) -> Workload:
    torch.manual_seed(0)
    model = RNNModel(cell, vocab, emb, hidden, layers).eval()
    tokens = torch.randint(0, vocab, (batch, seq), generator=torch.Generator().manual_seed(1))
    return Workload(name=f"{cell.lower()}-lm", module=model, example_inputs=(tokens,),
                    meta={"seq": seq, "batch": batch, "tokens": seq * batch})


def lstm_lm(vocab: int = 10000, emb: int = 650, hidden: int = 650, layers: int = 2, seq: int = 35,
            batch: int = 1) -> Workload:
    """2-layer LSTM LM, 650 units, 10k vocab, 35-step BPTT (Zaremba et al.'s medium PTB model)."""
    return _lm("LSTM", vocab, emb, hidden, layers, seq, batch)


def gru_lm(vocab: int = 10000, emb: int = 650, hidden: int = 650, layers: int = 2, seq: int = 35,
           batch: int = 1) -> Workload:
    """The same with GRU cells."""
    return _lm("GRU", vocab, emb, hidden, layers, seq, batch)


WORKLOADS = {"lstm-lm": lstm_lm, "gru-lm": gru_lm}
