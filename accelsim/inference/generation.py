"""Generation: a prefill of ``P`` prompt tokens and decode steps, on the ASIC and on the GPU.

Conventions (documented in docs/inference.md; the same as the serving simulator's):

* ``generated_tokens = G`` per sequence: the prefill computes the first one (TTFT is the prefill
  time), then ``G - 1`` decode steps compute the rest; decode step ``g`` (``g = 1 .. G - 1``)
  feeds token ``g`` and attends over a cache of ``P + g - 1`` earlier tokens plus itself.
* ``tpot_s`` is the mean decode step time (the per-step curve is ``tpot_curve_s``);
  ``e2e_s = ttft_s + sum(tpot_curve_s)``; ``tokens_per_s = batch * G / e2e_s``;
  ``energy_per_token_j = (prefill + decode energy) / (batch * G)``.
* ``kv_cache_bytes`` = ``batch * (P + G) * kv_bytes_per_token`` with ``kv_bytes_per_token = 2 x
  layers x kv_heads x head_dim x bytes`` at the arch's precision; ``kv_cache_location`` is where
  the last step's cache lives (``sram:<partition>`` or ``dram``); ``weight_bytes`` the model's.
* **Capacity**: weights plus the final cache must fit the DRAM (``dram.capacity_gib``; the GPU:
  its memory); otherwise a :class:`~accelsim.errors.SpecError` names the need and the capacity.
  ``max_batch_at_context`` is the largest batch whose cache fits beside the weights.
* **Many chips** (``tp``, ``pp``, ``microbatches`` of the :class:`StepModel`): every step runs on
  ``tp x pp`` chips (GPUs); ``weight_bytes`` and ``kv_cache_bytes`` stay the whole model's, the
  capacity check is per chip: the busiest chip's weights (``weight_bytes_per_chip``) plus its share
  of the cache (``kv_cache_bytes_per_chip``) against one chip's memory; ``memory_need_bytes``,
  ``memory_capacity_bytes`` and ``max_batch_at_context`` are then per chip too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from accelsim.arch.spec import ArchSpec
from accelsim.errors import SpecError
from accelsim.inference.costs import StepModel, StepPoint

__all__ = ["simulate_generation", "summarize", "check_capacity"]


def _r(x: float) -> float:
    return float(f"{float(x):.10g}")


def summarize(model: StepModel, side: str, prompt: int, generate: int, batch: int,
              capacity_bytes: int, kv_location: str, samples: int = 5) -> dict[str, Any]:
    """The ``inference`` block for one side ("asic" or "gpu")."""
    pre = model.prefill(side, prompt, batch)
    past = list(range(prompt, prompt + generate - 1))
    steps: list[StepPoint] = model.decode_curve(side, past, batch, samples) if past else []
    curve = [s.seconds for s in steps]
    dec_s = math.fsum(curve)
    e2e = pre.seconds + dec_s
    energy = pre.energy_j + math.fsum(s.energy_j for s in steps)
    kv_bytes = batch * (prompt + generate) * model.kv_per_token
    chip_kv = batch * (prompt + generate) * model.chip_kv_per_token
    need = model.chip_weight_bytes + chip_kv
    free = capacity_bytes - model.chip_weight_bytes
    per_seq = (prompt + generate) * model.chip_kv_per_token
    loc = (steps[-1].kv_location if steps else pre.kv_location) if side == "asic" else kv_location
    layers_note = (f"1 and 2 of {model.layers} layers simulated, extrapolated" if model._folding()
                   else "all layers simulated")
    if model.multichip:
        unit = "chips" if side == "asic" else "GPUs"
        layers_note += (f" on {model.chips} {unit} (TP {model.tp} x PP {model.pp}, "
                        f"{model.microbatches} micro-batch(es))")
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "generated_tokens": generate,
        "batch": batch,
        "ttft_s": _r(pre.seconds),
        "tpot_s": _r(dec_s / len(curve)) if curve else None,
        "tpot_curve_s": [_r(x) for x in curve],
        "e2e_s": _r(e2e),
        "tokens_per_s": _r(batch * generate / e2e) if e2e > 0 else None,
        "energy_j": _r(energy),
        "energy_per_token_j": _r(energy / (batch * generate)),
        "prefill_energy_j": _r(pre.energy_j),
        "kv_cache_bytes": kv_bytes,
        "kv_bytes_per_token": model.kv_per_token,
        "kv_cache_location": loc,
        "weight_bytes": model.weight_bytes,
        "memory_need_bytes": need,
        "memory_capacity_bytes": capacity_bytes,
        "max_batch_at_context": max(0, free // per_seq) if per_seq else None,
        "layers": model.layers,
        "method": (f"{layers_note}; "
                   f"decode steps sampled at {samples} cache lengths and interpolated"),
    }
    if model.multichip:
        out["parallel"] = {"tp": model.tp, "pp": model.pp, "microbatches": model.microbatches,
                           "chips": model.chips}
        out["weight_bytes_per_chip"] = model.chip_weight_bytes
        out["kv_cache_bytes_per_chip"] = chip_kv
    return out


def _check_capacity(what: str, need: int, capacity: int, weights: int, kv: int, batch: int, per_seq: int) -> None:
    if need > capacity:
        fit = max(0, (capacity - weights) // per_seq) if per_seq else 0
        raise SpecError(
            f"{what}: weights ({weights / 2**30:.2f} GiB) plus the KV cache of {batch} sequence(s) "
            f"({kv / 2**30:.2f} GiB) need {need / 2**30:.2f} GiB, more than its {capacity / 2**30:.2f} GiB "
            f"of memory; at this context at most {fit} sequence(s) fit"
        )


def check_capacity(arch: ArchSpec, model: StepModel, prompt: int, generate: int, batch: int) -> None:
    """Raise :class:`SpecError` when ``batch`` sequences of ``prompt + generate`` tokens do not
    fit the (busiest) chip's DRAM beside its weights, or do not split into the micro-batches.
    Cheap (no simulation): run it before anything is simulated."""
    model.graph_batch(batch)  # --batch splits into --microbatches
    kv = batch * (prompt + generate) * model.chip_kv_per_token
    per_seq = (prompt + generate) * model.chip_kv_per_token
    w = model.chip_weight_bytes
    cap = int(arch.dram.capacity_gib * 2**30)
    split = (f", the busiest of {model.chips} chips (--tp {model.tp} x --pp {model.pp})"
             if model.chips > 1 else "")
    _check_capacity(f"architecture '{arch.name}' (dram.capacity_gib = {arch.dram.capacity_gib:g}{split})",
                    w + kv, cap, w, kv, batch, per_seq)


def simulate_generation(
    arch: ArchSpec,
    workload: str,
    params: Mapping[str, object] | None,
    *,
    prompt: int,
    generate: int,
    batch: int = 1,
    options: Any = None,
    gpu: str | None = "h100",
    gpu_launch: str = "graph",
    fold: bool = True,
    samples: int = 5,
    model: StepModel | None = None,
    tp: int = 1,
    pp: int = 1,
    microbatches: int = 1,
) -> dict[str, Any]:
    """``{"inference": {...}, "gpu_inference": {...} | None}`` for a generation of ``generate``
    tokens after a ``prompt``-token prefill, ``batch`` sequences at once (on ``tp`` x ``pp``
    chips of ``arch``'s system, ``batch`` split into ``microbatches``; ignored when ``model`` is
    given: its own split counts)."""
    from accelsim.gpu.profile import load_profile

    if prompt < 1 or generate < 1 or batch < 1:
        raise SpecError(f"--prompt, --generate and --batch must be >= 1 (got {prompt}, {generate}, {batch})")
    if model is None:
        model = StepModel(arch, workload, dict(params or {}), options=options, fold=fold, gpu=gpu,
                          gpu_launch=gpu_launch, tp=tp, pp=pp, microbatches=microbatches)
    check_capacity(arch, model, prompt, generate, batch)
    kv = batch * (prompt + generate) * model.chip_kv_per_token
    w = model.chip_weight_bytes
    cap = int(arch.dram.capacity_gib * 2**30)
    out: dict[str, Any] = {"inference": summarize(model, "asic", prompt, generate, batch, cap, "", samples)}
    if gpu:
        prof = load_profile(gpu)
        gcap = int(prof.memory_gb * 1e9)
        gpu_ok = w + kv <= gcap
        g = summarize(model, "gpu", prompt, generate, batch, gcap, "hbm", samples) if gpu_ok else None
        if g is not None:
            g["launch_mode"] = gpu_launch
        else:
            per = f" per GPU ({model.chips} GPUs)" if model.chips > 1 else ""
            g = {"error": f"weights plus KV cache{per} ({(w + kv) / 2**30:.2f} GiB) exceed the "
                          f"{prof.name}'s {gcap / 2**30:.2f} GiB"}
        out["gpu_inference"] = g
    return out
