"""Hugging Face models returned from a researcher's own factory (not the built-in ``hf:`` spec):
the model object exactly as ``transformers`` builds it, inputs by keyword. A workload file for
``benchmarks/real_models.py``.

* ``wav2vec2``: ``Wav2Vec2Model`` (a 7-layer 1-D convolutional feature encoder over the raw
  waveform, a grouped positional convolution, a transformer encoder) on one second of 16 kHz
  audio (``input_values``, which ``hf:`` does not build).
* ``gpt2-padded``: ``GPT2LMHeadModel`` with a left-padded batch of two (``attention_mask``),
  the way a generation pipeline feeds it.
* ``mixtral``: ``MixtralForCausalLM`` (sparse MoE) with the ``batched_mm`` experts path.
"""

from __future__ import annotations

from typing import Any

import torch

from accelsim.workload.registry import Workload


def _build(cls, cfg):  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    return cls(cfg).eval()


def wav2vec2(layers: int = 2, hidden: int = 256, heads: int = 4, ffn: int = 512, samples: int = 16000) -> Workload:
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    cfg = Wav2Vec2Config(num_hidden_layers=layers, hidden_size=hidden, num_attention_heads=heads,
                         intermediate_size=ffn)
    model = _build(Wav2Vec2Model, cfg)
    x = torch.randn(1, samples, generator=torch.Generator().manual_seed(1))
    return Workload(name="wav2vec2", module=model, example_inputs=(), example_kwargs={"input_values": x},
                    meta={"batch": 1, "tokens": 1, "samples": samples})


def gpt2_padded(layers: int = 2, hidden: int = 256, heads: int = 4, vocab: int = 1024, seq: int = 64,
                pad: int = 16) -> Workload:
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(n_layer=layers, n_embd=hidden, n_head=heads, vocab_size=vocab, bos_token_id=0,
                     eos_token_id=0)
    model = _build(GPT2LMHeadModel, cfg)
    ids = torch.randint(0, vocab, (2, seq), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(2, seq, dtype=torch.int64)
    mask[1, :pad] = 0  # the second prompt is shorter: left padding
    return Workload(name="gpt2-padded", module=model, example_inputs=(),
                    example_kwargs={"input_ids": ids, "attention_mask": mask},
                    meta={"seq": seq, "batch": 2, "tokens": 2 * seq})


def mixtral(layers: int = 2, hidden: int = 256, heads: int = 4, kv_heads: int = 2, ffn: int = 512, experts: int = 4,
            vocab: int = 1024, seq: int = 64, experts_implementation: str = "batched_mm") -> Workload:
    """Mixtral (sparse MoE, top-2 of ``experts``) with the library's ``batched_mm`` experts path
    (each token's two experts' weights gathered, one batched GEMM): static shapes, unlike the
    default ``grouped_mm`` path (sort / histc / a grouped-GEMM op)."""
    from transformers import AutoModelForCausalLM, MixtralConfig

    impl: dict[str, Any] = {"experts_implementation": experts_implementation}  # a PreTrainedConfig kwarg
    cfg = MixtralConfig(num_hidden_layers=layers, hidden_size=hidden, num_attention_heads=heads,
                        num_key_value_heads=kv_heads, intermediate_size=ffn, num_local_experts=experts,
                        vocab_size=vocab, **impl)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg).eval()
    ids = torch.randint(0, vocab, (1, seq), generator=torch.Generator().manual_seed(1))
    return Workload(name="mixtral", module=model, example_inputs=(), example_kwargs={"input_ids": ids},
                    meta={"seq": seq, "batch": 1, "tokens": seq})


WORKLOADS = {"wav2vec2": wav2vec2, "gpt2-padded": gpt2_padded, "mixtral": mixtral}
