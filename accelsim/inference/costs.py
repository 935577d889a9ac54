"""Per-step costs of LLM inference on the simulated ASIC and on the GPU profile.

A generation is a prefill of the prompt followed by decode steps, one new token per sequence
against a KV cache of growing length ``L``. Simulating every step of a long generation would
cost one full simulation per token; instead (issue 11 item 3):

* **Decode steps are sampled, then interpolated.** A step's cost depends on ``L`` only through
  the attention over the cache (and where the cache lives), smoothly and piecewise: the step is
  simulated at a few cache lengths (the ends of the range, evenly spaced points between, and the
  length where the cache stops fitting the SRAM's resident area) and linearly interpolated.
  One decode graph is traced per model and re-shaped to each length
  (:func:`accelsim.inference.kv.with_kv_len`), never re-traced.
* **Identical layers are simulated once.** A decoder's blocks are identical, so a step on
  ``n`` blocks costs ``X(1) + (n - 1) * (X(2) - X(1))`` for every additive figure ``X``
  (cycles, energy, DRAM bytes): the model is traced and simulated with 1 and 2 blocks (the
  workload's layer parameter) and extrapolated. Both simulations include everything around the
  blocks (embedding, final norm, LM head). ``fold=False`` simulates the full depth instead.
* **Many chips** (``tp``, ``pp``, ``microbatches`` > 1, docs/multichip.md): every point is a
  :func:`accelsim.api_system.simulate_system` of the step's graph on ``tp x pp`` chips (the GPU
  side: the same split on ``tp x pp`` GPUs, :func:`accelsim.api_system.simulate_gpu_split`).
  Folding still holds under tensor parallelism (every chip's layers are identical, and so are
  their collectives) but not under pipeline parallelism, whose stages hold different layers:
  ``pp > 1`` needs ``fold=False``. ``batch`` is always the sequences of the whole step; with
  ``microbatches = M`` the traced graph is one micro-batch of ``batch / M`` of them.

Every simulated point is an ordinary :func:`accelsim.api.simulate` (or
:func:`~accelsim.api_system.simulate_system`) of a traced graph, on the same mapper and engine
as ``accelsim run``.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from accelsim.arch.spec import PRECISION_BYTES, ArchSpec
from accelsim.errors import SpecError, WorkloadError
from accelsim.inference.kv import kv_bytes_per_token, with_kv_len
from accelsim.inference.serving import StepCost
from accelsim.workload.ir import Graph

__all__ = ["StepPoint", "StepModel", "AsicStepCosts", "GpuStepCosts", "build_cost_tables", "layer_param"]

#: The cache length decode graphs are traced at before being re-shaped (a prime, so it never
#: coincides with a model dimension).
TEMPLATE_KV_LEN = 1009


@dataclass(frozen=True)
class StepPoint:
    """One simulated (or extrapolated) step: seconds, joules and what moved."""

    seconds: float
    energy_j: float
    cycles: int = 0
    dram_bytes: int = 0
    kv_location: str = ""

    def scaled(self, other: StepPoint, n: int) -> StepPoint:
        """``self`` (1 block) and ``other`` (2 blocks) extrapolated to ``n`` blocks."""
        k = n - 1
        return StepPoint(self.seconds + k * (other.seconds - self.seconds),
                         self.energy_j + k * (other.energy_j - self.energy_j),
                         int(round(self.cycles + k * (other.cycles - self.cycles))),
                         int(round(self.dram_bytes + k * (other.dram_bytes - self.dram_bytes))),
                         other.kv_location)


def layer_param(workload: str) -> str:
    """The workload parameter that sets the number of identical blocks."""
    return "num_hidden_layers" if workload.startswith("hf:") else "layers"


def _layers_of(g: Graph) -> int:
    for k in ("layers", "n_layer", "num_hidden_layers"):
        v = g.meta.get(k)
        if isinstance(v, int) and v > 0:
            return v
    spec = g.meta.get("kv_cache") or {}
    return int(spec.get("layers", 0) or 0)


@dataclass
class StepModel:
    """Traces and simulates one workload's prefill and decode steps on one architecture.

    ``params`` are the workload parameters (the generation fixes ``seq``, ``batch``, ``decode``,
    ``kv_len``, ``kv_out`` and the layer count itself). Simulated points are memoised.
    ``tp``, ``pp`` and ``microbatches`` split every step over chips of the arch's ``system``
    (see the module docstring); ``chip_weight_bytes`` and ``chip_kv_per_token`` are then what
    the busiest chip holds (equal to ``weight_bytes`` and ``kv_per_token`` on one chip).
    """

    arch: ArchSpec
    workload: str
    params: Mapping[str, object]
    options: Any = None  # api.RunOptions (energy on, no GPU: the GPU side is costed separately)
    fold: bool = True
    gpu: str | None = None
    gpu_launch: str = "graph"
    _graphs: dict[tuple[Any, ...], Graph] = field(default_factory=dict, repr=False)
    _asic: dict[tuple[Any, ...], StepPoint] = field(default_factory=dict, repr=False)
    _gpu: dict[tuple[Any, ...], StepPoint] = field(default_factory=dict, repr=False)
    layers: int = 0
    kv_per_token: int = 0  # bytes per token per sequence, all layers, at the arch's precision
    weight_bytes: int = 0
    graphs: dict[tuple[Any, ...], Graph] | None = None  # pre-traced graphs (sweep workers: no torch)
    tp: int = 1
    pp: int = 1
    microbatches: int = 1
    chip_weight_bytes: int = 0  # the busiest chip's weights (all of them on one chip)
    chip_kv_per_token: int = 0  # ... and its share of kv_per_token

    def __post_init__(self) -> None:
        from accelsim import api

        for name, v in (("--tp", self.tp), ("--pp", self.pp), ("--microbatches", self.microbatches)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise SpecError(f"{name} must be a positive integer (got {v!r})")
        if self.pp > 1 and self.fold:
            raise SpecError(f"--pp {self.pp}: layer folding (--fold) extrapolates identical layers, but pipeline "
                            "stages hold different layers; use --no-fold (every layer simulated)")
        chips = self.arch.system_spec.chips
        if self.tp * self.pp > chips:  # plan_system's check, before anything is traced
            raise SpecError(f"--tp {self.tp} x --pp {self.pp} needs {self.tp * self.pp} chips; architecture "
                            f"'{self.arch.name}' has {chips} (add system.chips, e.g. --set "
                            f"system.chips={self.tp * self.pp})")
        if self.graphs:
            self._graphs.update(self.graphs)
        if self.options is None:
            self.options = api.RunOptions(gpu=None)
        g = self._graph("decode", 1, TEMPLATE_KV_LEN, None)
        self.layers = _layers_of(g)
        if self.layers < 1:
            raise WorkloadError(f"workload '{self.workload}': cannot tell its number of layers (graph meta)")
        elem = PRECISION_BYTES[self.arch.arrays[0].precision]
        self.kv_per_token = kv_bytes_per_token(g, elem)
        self.weight_bytes = self._weights(elem)
        self.chip_weight_bytes, self.chip_kv_per_token = self._per_chip(elem)

    @property
    def multichip(self) -> bool:
        return self.tp * self.pp * self.microbatches > 1

    @property
    def chips(self) -> int:
        """Chips (or GPUs) a step runs on."""
        return self.tp * self.pp

    def graph_batch(self, batch: int) -> int:
        """Sequences in the traced graph of a step of ``batch`` sequences: one micro-batch."""
        if batch % self.microbatches:
            raise SpecError(f"--batch {batch} does not split into --microbatches {self.microbatches}")
        return batch // self.microbatches

    # -- graphs ------------------------------------------------------------------------------
    def _folding(self) -> bool:
        return self.fold and self.layers > 2

    def _graph(self, kind: str, batch: int, length: int, layers: int | None) -> Graph:
        """A traced prefill (``length`` = prompt tokens) or decode template (at the template
        cache length) with ``layers`` blocks (None: the workload's own)."""
        from accelsim import api

        key = (kind, batch, length if kind == "prefill" else 0, layers)
        g = self._graphs.get(key)
        if g is not None:
            return g
        p: dict[str, object] = {**self.params, "batch": batch}
        if layers is not None:
            p[layer_param(self.workload)] = layers
        if kind == "prefill":
            p.update(seq=length, kv_out=True)
            g = api.load_graph(self.workload, p)
        else:
            p.update(seq=1, decode=True)
            try:
                g = api.load_graph(self.workload, {**p, "kv_len": TEMPLATE_KV_LEN})
            except WorkloadError:
                g = api.load_graph(self.workload, {**p, "kv_len": length})
        self._graphs[key] = g
        return g

    def _decode_graph(self, batch: int, past: int, layers: int | None) -> Graph:
        g = self._graph("decode", batch, past, layers)
        if int(g.meta.get("kv_len", 0) or 0) == past:
            return g
        try:
            return with_kv_len(g, past)
        except WorkloadError:
            from accelsim import api

            p: dict[str, object] = {**self.params, "batch": batch, "seq": 1, "decode": True, "kv_len": past}
            if layers is not None:
                p[layer_param(self.workload)] = layers
            return api.load_graph(self.workload, p)

    @staticmethod
    def _wb(g: Graph, elem: int) -> int:
        return sum(t.numel * (elem if t.dtype.startswith(("float", "bfloat"))
                              else min(4, t.nbytes // max(1, t.numel)))
                   for t in g.weights.values())

    def _weights(self, elem: int) -> int:
        wb = self._wb
        if self._folding():
            w1 = wb(self._graph("decode", 1, TEMPLATE_KV_LEN, 1), elem)
            w2 = wb(self._graph("decode", 1, TEMPLATE_KV_LEN, 2), elem)
            return w1 + (self.layers - 1) * (w2 - w1)
        return wb(self._graph("decode", 1, TEMPLATE_KV_LEN, None), elem)

    def _per_chip(self, elem: int) -> tuple[int, int]:
        """(weight bytes, KV bytes per token and sequence) of the busiest chip: the rank graphs
        of the split (weights cut by the TP plan, replicated ones whole; each stage's layers),
        and the cache sharded by head over ``tp`` and by layer over the stages."""
        if self.tp * self.pp == 1:
            return self.weight_bytes, self.kv_per_token
        from accelsim.api_system import plan_system

        def stage_weights(layers: int | None) -> tuple[int, float]:
            sp = plan_system(self.arch, self._graph("decode", 1, TEMPLATE_KV_LEN, layers), tp=self.tp, pp=self.pp)
            w = [self._wb(st.graph, elem) for st in sp.stages]
            frac = max(st.layers[1] - st.layers[0] + 1 for st in sp.stages) / self.layers if self.pp > 1 else 1.0
            return max(w), frac

        if self._folding():  # tp only: every chip holds 1/tp of every layer
            (w1, _), (w2, _) = stage_weights(1), stage_weights(2)
            w, frac = w1 + (self.layers - 1) * (w2 - w1), 1.0
        else:
            w, frac = stage_weights(None)
        return w, math.ceil(self.kv_per_token * frac / self.tp)

    # -- where the cache lives ----------------------------------------------------------------
    def kv_mode(self, batch: int, tokens: int) -> str:
        """"sram" when the whole model's cache for ``batch`` sequences of ``tokens`` takes at most
        half of the SRAM's resident area (the mapper's rule), else "dram". On many chips: the
        busiest chip's share of the cache (every micro-batch's) against that chip's SRAM."""
        from accelsim.mapping.banks import bank_plan

        bp = bank_plan(self.arch, self.options.mapping.resident_fraction)
        res = bp.parts[bp.resident_part].resident_bytes
        return "sram" if batch * tokens * self.chip_kv_per_token <= res // 2 else "dram"

    # -- simulation -----------------------------------------------------------------------------
    def _asic_point(self, g: Graph, kv_mode: str) -> StepPoint:
        from accelsim import api

        opts = dataclasses.replace(self.options, gpu=None,
                                   mapping=self.options.mapping.model_copy(update={"kv_cache": kv_mode}))
        if self.multichip:
            from accelsim.api_system import simulate_system

            r = simulate_system(self.arch, g, opts, tp=self.tp, pp=self.pp, microbatches=self.microbatches,
                                baseline=False)
        else:
            r = api.simulate(self.arch, g, opts)
        d = r.data
        loc = r.program.kv_cache if r.program is not None else kv_mode
        return StepPoint(float(d["latency_s"]), float(d.get("energy_j", 0.0)), int(d["total_cycles"]),
                         int(d["dram_read_bytes"]) + int(d["dram_write_bytes"]), loc)

    def _gpu_point(self, g: Graph) -> StepPoint:
        from accelsim.gpu.model import simulate_gpu
        from accelsim.gpu.profile import gpu_precision, load_profile

        assert self.gpu is not None
        if self.multichip:
            from accelsim.api_system import plan_system, simulate_gpu_split

            splan = plan_system(self.arch, g, tp=self.tp, pp=self.pp, microbatches=self.microbatches)
            res = simulate_gpu_split(self.arch, splan, self.gpu, self.gpu_launch).result
            return StepPoint(float(res.latency_s), float(res.energy_j), 0, int(res.bytes), "hbm")
        prof = load_profile(self.gpu)
        prec = gpu_precision(self.arch.arrays[0].precision)
        if prec not in prof.precisions:
            prec = "fp16" if "fp16" in prof.precisions else "fp32"
        res = simulate_gpu(g, prof, prec, launch=self.gpu_launch)
        return StepPoint(float(res.latency_s), float(res.energy_j), 0, int(res.bytes), "hbm")

    def _point(self, side: str, kind: str, batch: int, n: int) -> StepPoint:
        """``kind`` "prefill" (``n`` = prompt tokens per sequence) or "decode" (``n`` = cached
        tokens per sequence before the step)."""
        memo = self._asic if side == "asic" else self._gpu
        key = (kind, batch, n)
        hit = memo.get(key)
        if hit is not None:
            return hit
        kv_mode = self.kv_mode(batch, n + 1)
        gb = self.graph_batch(batch)

        def one(layers: int | None) -> StepPoint:
            g = self._graph("prefill", gb, n, layers) if kind == "prefill" else self._decode_graph(gb, n, layers)
            return self._asic_point(g, kv_mode) if side == "asic" else self._gpu_point(g)

        if self._folding():
            pt = one(1).scaled(one(2), self.layers)
        else:
            pt = one(None)
        memo[key] = pt
        return pt

    def report_graph(self, prompt: int, batch: int) -> Graph:
        """The prefill graph a generation run reports op by op: the full model, or its first two
        blocks when the cost is extrapolated from them (one micro-batch of ``batch``)."""
        return self._graph("prefill", self.graph_batch(batch), prompt, 2 if self._folding() else None)

    def prefill(self, side: str, prompt: int, batch: int = 1) -> StepPoint:
        return self._point(side, "prefill", batch, prompt)

    def decode(self, side: str, past: int, batch: int) -> StepPoint:
        return self._point(side, "decode", batch, past)

    def decode_curve(self, side: str, past: Sequence[int], batch: int, samples: int = 5) -> list[StepPoint]:
        """Decode steps at every cache length in ``past`` (sorted), from ``samples`` simulated
        lengths (plus the SRAM/DRAM boundary when it falls inside) linearly interpolated."""
        lo, hi = past[0], past[-1]
        xs = sorted({lo, hi} | {lo + (hi - lo) * i // max(1, samples - 1) for i in range(samples)})
        # where the cache stops fitting the SRAM: sample both sides of the step
        modes = [self.kv_mode(batch, x + 1) for x in xs]
        if len(set(modes)) > 1:
            a, b = lo, hi
            while b - a > 1:
                mid = (a + b) // 2
                if self.kv_mode(batch, mid + 1) == modes[0]:
                    a = mid
                else:
                    b = mid
            xs = sorted(set(xs) | {a, b})
        pts = [self.decode(side, x, batch) for x in xs]
        out = []
        for L in past:
            if L in xs:
                out.append(pts[xs.index(L)])
                continue
            # never interpolate across the SRAM/DRAM switch
            i = bisect.bisect_right(xs, L) - 1
            p0, p1 = pts[i], pts[i + 1]
            if p0.kv_location != p1.kv_location:
                out.append(self.decode(side, L, batch))
                continue
            t = (L - xs[i]) / (xs[i + 1] - xs[i])
            out.append(StepPoint(p0.seconds + t * (p1.seconds - p0.seconds),
                                 p0.energy_j + t * (p1.energy_j - p0.energy_j),
                                 int(round(p0.cycles + t * (p1.cycles - p0.cycles))),
                                 int(round(p0.dram_bytes + t * (p1.dram_bytes - p0.dram_bytes))),
                                 p0.kv_location))
        return out


# ---------------------------------------------------------------------------------------------
# serving tables (accelsim.inference.serving.StepCostTable)
# ---------------------------------------------------------------------------------------------


class _Table:
    """A StepCostTable over a :class:`StepModel`: prefills and decode iterations from a grid
    of simulated points, interpolated (see the module docstring)."""

    side = "asic"

    def __init__(self, model: StepModel, *, name: str, capacity_bytes: int, max_batch: int,
                 max_tokens: int) -> None:
        self.m = model
        self.name = name
        # per chip (the busiest one) on many chips: the tokens that fit are the same count
        self.kv_bytes_per_token = model.chip_kv_per_token
        self.kv_capacity_bytes = max(0, capacity_bytes - model.chip_weight_bytes)
        self.max_batch = max_batch
        self.max_tokens = max_tokens
        self._batches = sorted({1, max_batch} | {1 << i for i in range(0, 12) if (1 << i) < max_batch})
        self._lens = sorted({1, max_tokens} | {max_tokens * i // 4 for i in range(1, 4)})
        self._prompts = sorted({16, max_tokens} | {1 << i for i in range(4, 20) if (1 << i) < max_tokens})

    def _grid(self, kind: str, b: int, n: int) -> StepPoint:
        return self.m.prefill(self.side, n, b) if kind == "prefill" else self.m.decode(self.side, n, b)

    def _decode_at(self, b: int, L: float) -> StepPoint:
        """Bilinear in (batch, cache length) over the grid."""
        bs, ls = self._batches, self._lens
        b = min(max(b, bs[0]), bs[-1])
        L = min(max(L, ls[0]), ls[-1])
        j = max(0, bisect.bisect_right(bs, b) - 1)
        j1 = min(j + 1, len(bs) - 1)
        i = max(0, bisect.bisect_right(ls, L) - 1)
        i1 = min(i + 1, len(ls) - 1)

        def at(bb: int) -> tuple[float, float]:
            p0, p1 = self._grid("decode", bb, ls[i]), self._grid("decode", bb, ls[i1])
            t = 0.0 if i1 == i else (L - ls[i]) / (ls[i1] - ls[i])
            return (p0.seconds + t * (p1.seconds - p0.seconds), p0.energy_j + t * (p1.energy_j - p0.energy_j))

        s0, e0 = at(bs[j])
        s1, e1 = at(bs[j1])
        u = 0.0 if j1 == j else (b - bs[j]) / (bs[j1] - bs[j])
        return StepPoint(s0 + u * (s1 - s0), e0 + u * (e1 - e0))

    def _prefill_at(self, n: int) -> tuple[float, float]:
        """One prompt of ``n`` tokens: linear between the two grid lengths around it (only those
        are simulated, so a model never meets a prompt longer than the trace's)."""
        xs = self._prompts
        x = min(max(n, xs[0]), xs[-1])
        i = bisect.bisect_right(xs, x) - 1
        p0 = self._grid("prefill", 1, xs[i])
        if xs[i] == x:
            return p0.seconds, p0.energy_j
        p1 = self._grid("prefill", 1, xs[i + 1])
        t = (x - xs[i]) / (xs[i + 1] - xs[i])
        return p0.seconds + t * (p1.seconds - p0.seconds), p0.energy_j + t * (p1.energy_j - p0.energy_j)

    def prefill(self, prompt_tokens: Sequence[int]) -> StepCost:
        sec = en = 0.0
        for n in prompt_tokens:
            a, b = self._prefill_at(n)
            sec += a
            en += b
        return StepCost(sec, en)

    def decode(self, kv_lens: Sequence[int]) -> StepCost:
        if not kv_lens:
            return StepCost(0.0, 0.0)
        b = len(kv_lens)
        mean_past = sum(kv_lens) / b - 1  # kv_lens count the token being fed in
        pt = self._decode_at(b, max(1.0, mean_past))
        return StepCost(pt.seconds, pt.energy_j)

    def mixed(self, prompt_tokens: Sequence[int], kv_lens: Sequence[int]) -> StepCost:
        p = self.prefill(prompt_tokens)
        d = self.decode(kv_lens)
        return StepCost(p.seconds + d.seconds, p.energy_j + d.energy_j)


class AsicStepCosts(_Table):
    side = "asic"


class GpuStepCosts(_Table):
    side = "gpu"


def build_cost_tables(arch: ArchSpec, workload: str, params: Mapping[str, object] | None = None, *,
                      gpu: str | None = "h100", max_batch: int = 64, max_tokens: int = 4096,
                      gpu_launch: str = "graph", fold: bool = True, tp: int = 1, pp: int = 1) -> list[Any]:
    """Serving tables for ``workload`` on ``arch`` (and on the ``gpu`` profile): the ASIC's KV
    capacity is its DRAM capacity minus the weights; the GPU's its memory. ``tp`` x ``pp``:
    every iteration on that many chips (GPUs), capacities per chip, the busiest chip's share of
    the weights and the cache (``pp > 1`` needs ``fold=False``)."""
    from accelsim.gpu.profile import load_profile

    model = StepModel(arch, workload, dict(params or {}), fold=fold, gpu=gpu, gpu_launch=gpu_launch, tp=tp, pp=pp)
    tables: list[Any] = [AsicStepCosts(model, name="asic", capacity_bytes=int(arch.dram.capacity_gib * 2**30),
                                       max_batch=max_batch, max_tokens=max_tokens)]
    if gpu:
        prof = load_profile(gpu)
        tables.append(GpuStepCosts(model, name="gpu", capacity_bytes=int(prof.memory_gb * 1e9),
                                   max_batch=max_batch, max_tokens=max_tokens))
    return tables


# ---------------------------------------------------------------------------------------------
# sweeps: the parent traces, the workers simulate
# ---------------------------------------------------------------------------------------------


def generation_bundle(arch: ArchSpec | None, workload: str, params: Mapping[str, object], prompt: int,
                      generate: int, batch: int, fold: bool) -> str:
    """JSON text holding every graph a generation point needs (traced here, once), for workers
    that have no torch: see :func:`run_generation_bundle`."""
    import json

    from accelsim import api

    m = StepModel(arch or api.load_arch("datacenter-bf16"), workload, dict(params), fold=fold)
    m.report_graph(prompt, batch)
    layers = (1, 2) if m._folding() else (None,)
    for n in layers:
        m._graph("prefill", batch, prompt, n)
        m._graph("decode", batch, TEMPLATE_KV_LEN, n)
        m._graph("decode", 1, TEMPLATE_KV_LEN, n)
    graphs = [{"key": list(k), "graph": g.to_dict()} for k, g in sorted(m._graphs.items(), key=lambda kv: repr(kv[0]))]
    return json.dumps({"format": "accelsim.generation/1", "workload": workload, "params": dict(params),
                       "prompt": prompt, "generate": generate, "batch": batch, "fold": fold, "graphs": graphs},
                      sort_keys=True)


def run_generation_bundle(text: str, arch: ArchSpec, options: Any) -> Any:
    """Simulate a generation point from :func:`generation_bundle`'s JSON: the prefill's
    RunResult with ``inference`` (and ``gpu.inference``) added."""
    import json

    from accelsim import api
    from accelsim.inference.generation import simulate_generation

    b = json.loads(text)
    graphs = {tuple(e["key"]): Graph.from_dict(e["graph"]) for e in b["graphs"]}
    gpu = getattr(options, "gpu", None)
    launch = getattr(options, "gpu_launch", "graph")
    m = StepModel(arch, b["workload"], b["params"], options=dataclasses.replace(options, gpu=None),
                  fold=b["fold"], gpu=gpu, gpu_launch=launch, graphs=graphs)
    result = api.simulate(arch, m.report_graph(b["prompt"], b["batch"]), options)
    gen = simulate_generation(arch, b["workload"], b["params"], prompt=b["prompt"], generate=b["generate"],
                              batch=b["batch"], gpu=gpu, gpu_launch=launch, fold=b["fold"], model=m)
    result.data["inference"] = gen["inference"]
    if gpu and isinstance(result.data.get("gpu"), dict) and gen.get("gpu_inference") is not None:
        result.data["gpu"]["inference"] = gen["gpu_inference"]
    return result
