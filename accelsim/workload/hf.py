"""Hugging Face ``transformers`` models as the library builds them.

* :func:`flatten_outputs`: a model's return value (``ModelOutput``, cache objects such as
  ``DynamicCache`` / ``EncoderDecoderCache``, tuples, dicts) as a flat list of
  ``(label, tensor)``; a cache contributes its per-layer keys and values (the KV cache a
  prefill writes), labelled ``past_key_values.<layer>.key`` / ``.value``.
* :class:`FlatOutputs`: wraps a module so ``torch.export`` sees a tuple of tensors.
* :func:`hf_workload`: the ``hf:<model_type>`` workload spec: a random-init model from
  ``transformers.AutoConfig.for_model(model_type, **overrides)``, seeded, with example inputs
  for its main input (token ids, pixel values or audio features), built on the meta device
  when no weights are needed.

``transformers`` is an optional extra (``pip install -c <(echo torch==2.13.0) -e '.[hf]'``);
this module imports it only inside :func:`hf_workload`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from accelsim.errors import WorkloadError

__all__ = ["flatten_outputs", "FlatOutputs", "needs_flattening", "hf_workload", "HF_RESERVED", "PREFIX"]

#: The attribute :class:`FlatOutputs` keeps the wrapped model under (stripped from module paths
#: and parameter names by the tracer).
PREFIX = "model_"


def _is_cache(o: Any) -> bool:
    return hasattr(o, "get_seq_length") and (hasattr(o, "layers") or hasattr(o, "self_attention_cache")
                                             or hasattr(o, "key_cache"))


def flatten_outputs(o: Any, label: str = "") -> list[tuple[str, torch.Tensor]]:
    """Tensors of a model output, in order, with readable labels (see the module docstring)."""
    out: list[tuple[str, torch.Tensor]] = []
    _flat(o, label, out)
    return out


def _join(a: str, b: str) -> str:
    return f"{a}.{b}" if a else b


def _flat(o: Any, label: str, out: list[tuple[str, torch.Tensor]]) -> None:
    if o is None or isinstance(o, (bool, int, float, str)):
        return
    if isinstance(o, torch.Tensor):
        out.append((label or f"output{len(out)}", o))
        return
    if _is_cache(o):
        if hasattr(o, "self_attention_cache"):  # EncoderDecoderCache
            _flat(o.self_attention_cache, _join(label, "self"), out)
            _flat(o.cross_attention_cache, _join(label, "cross"), out)
            return
        layers = getattr(o, "layers", None)
        if layers is not None:
            for i, layer in enumerate(layers):
                for attr, name in (("keys", "key"), ("values", "value"), ("conv_states", "conv"),
                                   ("recurrent_states", "ssm")):
                    v = getattr(layer, attr, None)
                    if isinstance(v, torch.Tensor) and v.numel() > 0:
                        out.append((_join(label, f"{i}.{name}"), v))
            return
        for i, (k, v) in enumerate(zip(getattr(o, "key_cache", []), getattr(o, "value_cache", []))):
            out.append((_join(label, f"{i}.key"), k))
            out.append((_join(label, f"{i}.value"), v))
        return
    if isinstance(o, Mapping) or (hasattr(o, "items") and hasattr(o, "keys")):  # dict, ModelOutput
        for k, v in o.items():
            _flat(v, _join(label, str(k)), out)
        return
    if isinstance(o, (list, tuple)):
        for i, v in enumerate(o):
            _flat(v, _join(label, str(i)), out)
        return
    # other containers with tensors (e.g. MambaCache): their tensor attributes, sorted
    found = False
    for k in sorted(vars(o)) if hasattr(o, "__dict__") else []:
        v = getattr(o, k)
        if isinstance(v, (torch.Tensor, list, tuple)) and not k.startswith("_"):
            before = len(out)
            _flat(v, _join(label, k), out)
            found = found or len(out) > before
    if not found:
        raise WorkloadError(f"model output {label or '<root>'}: cannot read tensors from a {type(o).__name__}")


def needs_flattening(module: nn.Module) -> bool:
    """Whether ``module``'s outputs may hold non-pytree objects (Hugging Face models)."""
    return type(module).__module__.startswith("transformers.") or hasattr(module, "config") and hasattr(
        module, "can_generate")


class FlatOutputs(nn.Module):
    """``forward(*args, **kwargs)`` -> the flat tuple of :func:`flatten_outputs`; the labels of
    the last call are in :attr:`labels`."""

    #: id(wrapper) -> labels of its last call (kept off the module: torch.export snapshots and
    #: restores module attributes around tracing)
    _LABELS: dict[int, list[str]] = {}

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.add_module(PREFIX, model)

    @property
    def labels(self) -> list[str]:
        return list(FlatOutputs._LABELS.get(id(self), []))

    def forward(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, ...]:
        flat = flatten_outputs(getattr(self, PREFIX)(*args, **kwargs))
        FlatOutputs._LABELS[id(self)] = [k for k, _ in flat]
        return tuple(v for _, v in flat)

    def release(self) -> None:
        FlatOutputs._LABELS.pop(id(self), None)


# ---------------------------------------------------------------------------------------------
# hf:<model_type>
# ---------------------------------------------------------------------------------------------

#: Parameters of an ``hf:`` spec that are not config fields.
HF_RESERVED = {
    "seq": "tokens per sequence (default 128)",
    "batch": "sequences per batch (default 1)",
    "dec_seq": "decoder tokens of an encoder-decoder model (default: seq)",
    "pad": "padded (masked-out) positions at the end of the first sequence's attention mask (default 0: no mask)",
    "head": "auto | causal-lm | seq2seq-lm | masked-lm | base (default auto)",
    "meta": "build on the meta device (default: when no weights are needed)",
    "seed": "random-init seed (default 0)",
    "attn_implementation": "sdpa | eager (default: the library's)",
}

_HEADS = ("auto", "causal-lm", "seq2seq-lm", "masked-lm", "base")


def _coerce(key: str, value: Any, like: Any) -> Any:
    if not isinstance(value, str):
        return value
    v = value.strip()
    if isinstance(like, bool) or (like is None and v.lower() in ("true", "false")):
        if v.lower() in ("1", "true", "yes", "on"):
            return True
        if v.lower() in ("0", "false", "no", "off"):
            return False
        raise WorkloadError(f"hf: parameter {key}={value!r}: expected a boolean")
    if isinstance(like, int) or (like is None and v.lstrip("-").isdigit()):
        try:
            return int(v)
        except ValueError:
            raise WorkloadError(f"hf: parameter {key}={value!r}: expected an integer") from None
    if isinstance(like, float):
        try:
            return float(v)
        except ValueError:
            raise WorkloadError(f"hf: parameter {key}={value!r}: expected a number") from None
    if like is None:
        try:
            return float(v) if any(c in v for c in ".e") else v
        except ValueError:
            return v
    return v


def _positive(key: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise WorkloadError(f"hf: {key} must be a positive integer, got {v!r}")
    return v


def hf_workload(model_type: str, params: Mapping[str, object] | None, weights: bool) -> Any:
    """The :class:`~accelsim.workload.registry.Workload` of ``hf:<model_type>`` (see the module
    docstring). ``weights``: real (seeded random) weights are needed; otherwise the model is
    built on the meta device unless ``meta=false`` is given."""
    from accelsim.workload.registry import Workload

    try:
        import transformers
        from transformers import AutoConfig
    except ImportError as e:
        raise WorkloadError(
            f"'hf:{model_type}' needs the transformers package: pip install -c <(echo torch==2.13.0) "
            f"-e '.[hf]' ({e})") from None
    p = dict(params or {})
    res = {k: p.pop(k) for k in list(p) if k in HF_RESERVED}
    try:
        base = AutoConfig.for_model(model_type)
    except (ValueError, KeyError) as e:
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

        known = ", ".join(sorted(CONFIG_MAPPING_NAMES))
        raise WorkloadError(f"hf:{model_type}: unknown model type ({e}); known: {known}") from None
    over: dict[str, Any] = {}
    unknown = []
    for k, v in p.items():
        if not hasattr(base, k) and k not in getattr(base, "attribute_map", {}):
            unknown.append(k)
            continue
        over[k] = _coerce(k, v, getattr(base, k, None))
    if unknown:
        fields = sorted(k for k in base.to_dict() if not k.startswith("_"))
        raise WorkloadError(
            f"hf:{model_type}: no config field {', '.join(repr(u) for u in unknown)}; config fields: "
            f"{', '.join(fields)}; workload parameters: {', '.join(HF_RESERVED)}")
    attn = res.get("attn_implementation")
    if attn is not None:
        over["attn_implementation"] = str(attn)
    try:
        cfg = AutoConfig.for_model(model_type, **over)
    except (ValueError, TypeError) as e:
        raise WorkloadError(f"hf:{model_type}: bad config: {e}") from None
    seq = _positive("seq", _coerce("seq", res.get("seq", 128), 0))
    batch = _positive("batch", _coerce("batch", res.get("batch", 1), 0))
    dec_seq = _positive("dec_seq", _coerce("dec_seq", res.get("dec_seq", seq), 0))
    pad = _coerce("pad", res.get("pad", 0), 0)
    if isinstance(pad, bool) or not isinstance(pad, int) or not 0 <= pad < seq:
        raise WorkloadError(f"hf: pad must be an integer in [0, seq), got {pad!r}")
    seed = _coerce("seed", res.get("seed", 0), 0)
    head = str(res.get("head", "auto"))
    if head not in _HEADS:
        raise WorkloadError(f"hf: head must be one of {', '.join(_HEADS)}, got {head!r}")
    meta_p = res.get("meta")
    meta = (not weights) if meta_p is None else bool(_coerce("meta", meta_p, False))
    if meta and weights:
        raise WorkloadError(f"hf:{model_type}: meta=true builds no weights, but this run needs them (--check)")
    cls = _model_class(transformers, model_type, cfg, head)
    torch.manual_seed(int(seed))
    try:
        if meta:
            with torch.device("meta"):
                model = cls.from_config(cfg)
        else:
            model = cls.from_config(cfg)
    except Exception as e:  # noqa: BLE001 -- library code
        raise WorkloadError(f"hf:{model_type}: building {cls.__name__} failed: {type(e).__name__}: {e}") from e
    model.eval()
    dev = torch.device("meta") if meta else torch.device("cpu")
    kwargs = _example_inputs(model, cfg, seq, batch, dec_seq, pad, dev)
    n_params = sum(t.numel() for t in model.parameters())
    meta_info = {
        "hf_model_type": model_type,
        "hf_class": type(model).__name__,
        "hf_config": {k: v for k, v in sorted(over.items()) if isinstance(v, (int, float, str, bool))},
        "transformers": transformers.__version__,
        "seq": seq,
        "batch": batch,
        "tokens": seq * batch,
        "params": n_params,
    }
    if getattr(cfg, "is_encoder_decoder", False):
        meta_info["dec_seq"] = dec_seq
    if pad:
        meta_info["pad"] = pad
    return Workload(name=f"hf:{model_type}", module=model, example_inputs=(), meta=meta_info,
                    example_kwargs=kwargs)


def _model_class(transformers: Any, model_type: str, cfg: Any, head: str) -> Any:
    from transformers.models.auto import modeling_auto as ma

    causal = model_type in ma.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    masked = model_type in ma.MODEL_FOR_MASKED_LM_MAPPING_NAMES
    s2s = model_type in ma.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES
    if head == "auto":
        if getattr(cfg, "is_encoder_decoder", False):
            head = "seq2seq-lm" if s2s else "base"
        elif causal and not masked:
            head = "causal-lm"
        else:
            head = "base"
    table = {"causal-lm": (transformers.AutoModelForCausalLM, causal),
             "seq2seq-lm": (transformers.AutoModelForSeq2SeqLM, s2s),
             "masked-lm": (transformers.AutoModelForMaskedLM, masked),
             "base": (transformers.AutoModel, model_type in ma.MODEL_MAPPING_NAMES)}
    cls, ok = table[head]
    if not ok:
        raise WorkloadError(f"hf:{model_type}: transformers has no {head} model for this type")
    return cls


def _example_inputs(model: nn.Module, cfg: Any, seq: int, batch: int, dec_seq: int, pad: int,
                    dev: torch.device) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    name = getattr(model, "main_input_name", "input_ids")
    kw: dict[str, torch.Tensor] = {}

    def ids(n: int) -> torch.Tensor:
        v = int(getattr(cfg, "vocab_size", 0) or 0)
        if v < 1:
            raise WorkloadError(f"hf: config of {type(model).__name__} has no vocab_size")
        return torch.randint(0, v, (batch, n), dtype=torch.int64, generator=gen).to(dev)

    if name == "input_ids":
        kw["input_ids"] = ids(seq)
        if pad:
            mask = torch.ones(batch, seq, dtype=torch.int64)
            mask[0, seq - pad:] = 0
            kw["attention_mask"] = mask.to(dev)
    elif name == "pixel_values":
        size = getattr(cfg, "image_size", 224)
        size = list(size) if isinstance(size, (list, tuple)) else [size, size]
        ch = int(getattr(cfg, "num_channels", 3))
        kw["pixel_values"] = torch.randn(batch, ch, *size, generator=gen).to(dev)
    elif name == "input_features":
        mel = int(getattr(cfg, "num_mel_bins", 80))
        frames = 2 * int(getattr(cfg, "max_source_positions", 1500))
        kw["input_features"] = torch.randn(batch, mel, frames, generator=gen).to(dev)
    elif name == "input_values":  # raw audio (wav2vec2, HuBERT, ...): seq = samples
        kw["input_values"] = torch.randn(batch, seq, generator=gen).to(dev)
    else:
        raise WorkloadError(f"hf: do not know how to build an example '{name}' input for {type(model).__name__}")
    if getattr(cfg, "is_encoder_decoder", False):
        kw["decoder_input_ids"] = ids(dec_seq)
    return kw
