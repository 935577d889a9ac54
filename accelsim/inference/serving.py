"""Continuous-batching (iteration-level) LLM serving simulator on an abstract per-step cost table.

The scheduler works as Orca (Yu et al., OSDI 2022) and vLLM (Kwon et al., SOSP 2023) do: it
decides at every model iteration which sequences run, so requests join and leave the batch
between iterations. It is a plain loop over iterations (no SimPy): each iteration's duration and
energy come from a :class:`StepCostTable` (the simulated ASIC, the GPU profile, or the analytic
:class:`LinearStepCosts`). Same inputs give the same numbers; ``docs/serving.md`` states the
policy in full. In short:

* **Queue**: first come, first served with head-of-line blocking (as vLLM's default scheduler):
  a request that cannot be admitted stops admission for the ones behind it. Requests arriving
  during an iteration join at its end.
* **KV cache**, ``kv="paged"`` (default, vLLM): blocks of ``block_tokens`` tokens; admission
  allocates the blocks of the tokens to prefill and keeps ``watermark`` x total blocks free
  (vLLM's ``BlockSpaceManager`` default 0.01; waived when the engine is empty); each decode step
  allocates a block when a sequence crosses a block boundary and, when none is free, preempts
  the most recently admitted running sequence by *recompute* (vLLM's default for single
  sequences): its blocks are freed and it goes back to the front of the queue, to be prefilled
  again over its prompt plus the tokens generated so far. ``kv="reserve"`` (Orca): admission
  reserves the request's whole footprint up front, so nothing is ever preempted.
* **KV footprint**: a sequence's cache holds ``prompt + generated - 1`` tokens at its peak, i.e.
  ``prompt_tokens + output_tokens - 1`` (the last generated token is returned, never fed back).
  A request whose footprint exceeds the table's capacity can never run: it is *rejected*
  (counted, with its reason), not queued forever.
* **Iterations**, ``schedule="prefill-first"`` (default, vLLM's default scheduler): when a waiting
  request can be admitted the iteration prefills the admitted prompts (FCFS, up to ``max_batch``
  sequences in the engine and ``max_prefill_tokens`` prompt tokens); otherwise it is one decode
  step of every running sequence. ``schedule="mixed"`` (Orca's iteration-level batching): every
  iteration decodes all running sequences and prefills the newly admitted prompts in the same
  step (:meth:`StepCostTable.mixed`). Prompts are never chunked.
* **Tokens**: the prefill of a prompt produces the first output token; each decode step produces
  one more per sequence. Decode step of a sequence that has generated ``g`` tokens attends over
  ``kv_len = prompt + g`` tokens (its cache plus the token being fed in), the value passed in
  ``kv_lens``.

Metrics (``ServingResult.metrics``): TTFT = first-token time - arrival (queueing included);
TPOT per request = (last-token time - first-token time) / (output_tokens - 1), requests with one
output token excluded; percentiles by numpy's ``"linear"`` method (Hyndman-Fan type 7: the
``q``-quantile of ``n`` sorted values sits at rank ``q (n - 1)``, interpolated linearly).
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from accelsim.errors import AccelsimError, SimError
from accelsim.inference.requests import Request, summarize

PERCENTILE_METHOD: Final = "linear"
"""numpy.percentile ``method`` used for every percentile (Hyndman-Fan type 7)."""

PER_REQUEST_COLUMNS = (
    "index", "arrival_s", "prompt_tokens", "output_tokens", "status", "first_token_s", "finish_s",
    "ttft_s", "tpot_s", "e2e_s", "preemptions", "reason",
)


@dataclass(frozen=True)
class StepCost:
    """Cost of one model iteration: wall time (s) and energy (J)."""

    seconds: float
    energy_j: float


@runtime_checkable
class StepCostTable(Protocol):
    """Per-iteration costs of one engine (the ASIC or the GPU profile).

    ``kv_bytes_per_token``: KV-cache bytes per token of one sequence, all layers;
    ``kv_capacity_bytes``: bytes available for KV caches (memory minus weights);
    ``max_batch``: hardware/engine limit on sequences per iteration.
    """

    name: str
    kv_bytes_per_token: int
    kv_capacity_bytes: int
    max_batch: int

    def prefill(self, prompt_tokens: Sequence[int]) -> StepCost:
        """One iteration prefilling these prompts (tokens each) together."""
        ...

    def decode(self, kv_lens: Sequence[int]) -> StepCost:
        """One decode iteration: one new token for each running sequence, whose KV caches hold
        ``kv_lens`` tokens (including the token being fed in)."""
        ...

    def mixed(self, prompt_tokens: Sequence[int], kv_lens: Sequence[int]) -> StepCost:
        """Prefill of ``prompt_tokens`` and a decode step over ``kv_lens`` in one iteration."""
        ...


@dataclass(frozen=True)
class LinearStepCosts:
    """An analytic cost table, linear in the work of an iteration (for tests and what-ifs).

    ``seconds = base_s + per_prompt_token_s * sum(prompt_tokens) + per_seq_s * len(kv_lens)
    + per_kv_token_s * sum(kv_lens)``; ``energy_j = power_w * seconds``. ``prefill`` is
    ``mixed`` with no decodes, ``decode`` is ``mixed`` with no prompts.
    """

    name: str = "linear"
    kv_bytes_per_token: int = 0
    kv_capacity_bytes: int = 0
    max_batch: int = 256
    base_s: float = 0.0
    per_prompt_token_s: float = 0.0
    per_seq_s: float = 0.0
    per_kv_token_s: float = 0.0
    power_w: float = 0.0

    def mixed(self, prompt_tokens: Sequence[int], kv_lens: Sequence[int]) -> StepCost:
        s = (self.base_s + self.per_prompt_token_s * sum(prompt_tokens)
             + self.per_seq_s * len(kv_lens) + self.per_kv_token_s * sum(kv_lens))
        return StepCost(s, self.power_w * s)

    def prefill(self, prompt_tokens: Sequence[int]) -> StepCost:
        return self.mixed(prompt_tokens, ())

    def decode(self, kv_lens: Sequence[int]) -> StepCost:
        return self.mixed((), kv_lens)


class ServingPolicy(BaseModel):
    """Scheduler options (see the module docstring and docs/serving.md).

    ``max_batch``: sequences in the engine at once (None: the table's limit; never above it);
    ``max_prefill_tokens``: prompt tokens per iteration (None: no limit; a prompt longer than it
    is rejected; a preempted sequence's recomputation may exceed it when alone);
    ``block_tokens``: KV block size (tokens; vLLM's default 16); ``watermark``: fraction of KV
    blocks admission keeps free (paged only); ``slo_ttft_s``/``slo_tpot_s``: goodput SLOs (s).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    schedule: Literal["prefill-first", "mixed"] = "prefill-first"
    kv: Literal["paged", "reserve"] = "paged"
    max_batch: int | None = Field(None, ge=1)
    max_prefill_tokens: int | None = Field(None, ge=1)
    block_tokens: int = Field(16, ge=1)
    watermark: float = Field(0.01, ge=0.0, lt=1.0)
    slo_ttft_s: float | None = Field(None, gt=0)
    slo_tpot_s: float | None = Field(None, gt=0)


def _r(x: float) -> float:
    """Round to 10 significant digits: stable JSON, no float noise."""
    return float(f"{float(x):.10g}")


def _rn(x: float | None) -> float | None:
    return None if x is None else _r(x)


def _pct(xs: Sequence[float], q: float) -> float | None:
    if not xs:
        return None
    arr: np.ndarray[Any, np.dtype[np.float64]] = np.asarray(xs, dtype=np.float64)
    return _r(float(np.percentile(arr, q, method=PERCENTILE_METHOD)))


def _mean(xs: Sequence[float]) -> float | None:
    return _r(math.fsum(xs) / len(xs)) if xs else None


class _Seq:
    """Mutable state of one request in the simulation."""

    __slots__ = ("code", "ctx", "done_s", "first_s", "gen", "preemptions", "reason", "req", "units")

    def __init__(self, req: Request) -> None:
        self.req = req
        self.gen = 0            # output tokens generated so far
        self.ctx = 0            # tokens whose KV is in the cache
        self.units = 0          # KV held: blocks (paged) or bytes (reserve)
        self.first_s: float | None = None
        self.done_s: float | None = None
        self.preemptions = 0
        self.reason = ""       # why it was rejected (empty: not rejected)
        self.code = ""         # rejection class: kv_capacity | max_prefill_tokens


@dataclass
class ServingResult:
    """One table's serving run: ``metrics`` (the JSON ``serving`` block) and one row per request."""

    table: str
    metrics: dict[str, Any]
    per_request: list[dict[str, Any]]

    def per_request_csv(self) -> str:
        """The per-request rows as CSV text (columns :data:`PER_REQUEST_COLUMNS`)."""
        def cell(v: Any) -> str:
            if v is None:
                return ""
            s = str(v)
            return f'"{s}"' if ("," in s or '"' in s) else s

        lines = [",".join(PER_REQUEST_COLUMNS)]
        lines += [",".join(cell(row[c]) for c in PER_REQUEST_COLUMNS) for row in self.per_request]
        return "\n".join(lines) + "\n"


FAST_DECODE = True
"""Run stretches of decode-only iterations over an unchanged batch in a tight loop (same
results; tests turn it off to compare)."""


def _bad_cost(name: str, kind: str, prompts: Sequence[int], kv_lens: Sequence[int],
              sec: float, ej: float) -> None:
    raise SimError(f"cost table '{name}': {kind} step (prompts {list(prompts)}, kv_lens "
                   f"{list(kv_lens)}) returned seconds={sec}, energy_j={ej}; a step takes > 0 s "
                   "and >= 0 J")


def _check_table(table: StepCostTable) -> tuple[int, int, int]:
    name = getattr(table, "name", "?")
    vals: list[int] = []
    for attr, lo in (("kv_bytes_per_token", 0), ("kv_capacity_bytes", None), ("max_batch", 1)):
        v = getattr(table, attr, None)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise SimError(f"cost table '{name}': {attr} must be an integer, got {v!r}")
        if lo is not None and v < lo:
            raise SimError(f"cost table '{name}': {attr} must be >= {lo}, got {v}")
        vals.append(int(v))
    if vals[1] < 0:
        raise AccelsimError(f"cost table '{name}': no memory left for the KV cache "
                            f"(kv_capacity_bytes {vals[1]} < 0: the weights do not fit)")
    return vals[0], vals[1], vals[2]


def simulate_serving(requests: Sequence[Request], table: StepCostTable,
                     policy: ServingPolicy | None = None) -> ServingResult:
    """Serve ``requests`` (sorted by arrival) on ``table`` under ``policy``; see the module docstring."""
    pol = policy or ServingPolicy()
    kvb, cap, table_batch = _check_table(table)
    reqs = list(requests)
    if not reqs:
        raise AccelsimError("no requests to serve")
    for a, b in itertools.pairwise(reqs):
        if b.arrival_s < a.arrival_s:
            raise AccelsimError(f"requests must be sorted by arrival: request {b.index} "
                                f"({b.arrival_s} s) comes after request {a.index} ({a.arrival_s} s)")
    max_batch = min(pol.max_batch or table_batch, table_batch)
    budget = pol.max_prefill_tokens
    paged = pol.kv == "paged"
    bt = pol.block_tokens
    limited = kvb > 0
    if limited and paged:
        total = cap // (bt * kvb)            # KV blocks
        wm = int(pol.watermark * total)      # vLLM: int(watermark * num_gpu_blocks)
    else:
        total = cap if limited else 0        # bytes (reserve) / unlimited
        wm = 0

    def units(tokens: int) -> int:
        if not limited:
            return 0
        return -(-tokens // bt) if paged else tokens * kvb

    seqs = [_Seq(r) for r in reqs]
    queue: list[_Seq] = []
    for s in seqs:
        r = s.req
        peak = r.prompt_tokens + r.output_tokens - 1
        if limited and units(peak) > total:
            have = (f"{total} blocks of {bt} tokens ({cap} B)" if paged else f"{cap} B")
            s.reason = (f"needs {peak} tokens of KV cache ({peak * kvb} B"
                        + (f", {units(peak)} blocks" if paged else "")
                        + f") but the capacity is {have}")
            s.code = "kv_capacity"
        elif budget is not None and r.prompt_tokens > budget:
            s.reason = f"prompt of {r.prompt_tokens} tokens exceeds max_prefill_tokens {budget}"
            s.code = "max_prefill_tokens"
        else:
            queue.append(s)

    waiting: deque[_Seq] = deque()
    running: list[_Seq] = []
    free = total
    t = reqs[0].arrival_s
    nxt = 0
    n_iter = 0
    batch_sum = 0
    peak_batch = 0
    peak_used = 0
    energy = 0.0
    time_by_kind = {"prefill": 0.0, "decode": 0.0, "mixed": 0.0}
    preemptions = 0
    recomputed = 0
    idle = 0.0                               # s the engine waited, empty, for an arrival

    def preempt(victim: _Seq) -> None:
        nonlocal free, preemptions
        running.pop()  # victims are always the most recently admitted (the tail)
        free += victim.units
        victim.units = 0
        victim.ctx = 0
        victim.preemptions += 1
        preemptions += 1
        waiting.appendleft(victim)

    def grow() -> None:
        """Paged KV: give each running sequence the block its next token needs (oldest first),
        preempting from the tail when none is free."""
        nonlocal free
        if not (paged and limited):
            return
        i = 0
        while i < len(running):
            s = running[i]
            need = units(s.ctx + 1) - s.units
            while need > free:
                victim = running[-1]
                preempt(victim)
                if victim is s:
                    break
            else:
                free -= need
                s.units += need
                i += 1

    def head_blocked() -> bool:
        """True when admission would take nothing now (head-of-line blocking; running is non-empty)."""
        if len(running) >= max_batch:
            return True
        s = waiting[0]
        n_prefill = s.req.prompt_tokens + s.gen
        need = units(n_prefill) if paged else units(s.req.prompt_tokens + s.req.output_tokens - 1)
        return free - need < wm

    def admit() -> list[_Seq]:
        nonlocal free
        new: list[_Seq] = []
        tokens = 0
        while waiting and len(running) + len(new) < max_batch:
            s = waiting[0]
            n_prefill = s.req.prompt_tokens + s.gen
            if budget is not None and new and tokens + n_prefill > budget:
                break
            need = units(n_prefill) if paged else units(s.req.prompt_tokens + s.req.output_tokens - 1)
            headroom = wm if (running or new) else 0
            if free - need < headroom:
                break
            waiting.popleft()
            free -= need
            s.units = need
            new.append(s)
            tokens += n_prefill
        return new

    while True:
        while nxt < len(queue) and queue[nxt].req.arrival_s <= t:
            waiting.append(queue[nxt])
            nxt += 1
        if not running and not waiting:
            if nxt >= len(queue):
                break
            idle += queue[nxt].req.arrival_s - t
            t = queue[nxt].req.arrival_s
            continue
        if FAST_DECODE and running and (not waiting or head_blocked()):
            # A stretch of decode-only steps over an unchanged batch: no completion, no new KV
            # block, no arrival into an empty queue (a blocked head stays blocked: the batch and
            # the free KV do not change). Same arithmetic, in the same order, as the general
            # iteration below; just without its bookkeeping.
            k = min(s.req.output_tokens - s.gen - 1 for s in running)
            if paged and limited:
                k = min(k, min(s.units * bt - s.ctx for s in running))
            if k > 0:
                arr = queue[nxt].req.arrival_s if (not waiting and nxt < len(queue)) else math.inf
                kv_now = [s.ctx for s in running]
                nb = len(running)
                n = 0
                while n < k and t < arr:
                    kv_now = [x + 1 for x in kv_now]
                    cost = table.decode(kv_now)
                    sec, ej = float(cost.seconds), float(cost.energy_j)
                    if not (math.isfinite(sec) and sec > 0 and math.isfinite(ej) and ej >= 0):
                        _bad_cost(table.name, "decode", [], kv_now, sec, ej)
                    n_iter += 1
                    batch_sum += nb
                    energy += ej
                    time_by_kind["decode"] += sec
                    t = t + sec
                    n += 1
                for s in running:
                    s.ctx += n
                    s.gen += n
                peak_batch = max(peak_batch, nb)
                continue
        decode: list[_Seq] = []
        if pol.schedule == "mixed":
            grow()
            decode = list(running)
            new = admit()
        else:
            new = admit()
            if not new:
                grow()
                decode = list(running)
        if not new and not decode:  # cannot happen: an empty engine admits the queue's head
            raise SimError(f"serving scheduler stalled at t={t} s with {len(waiting)} waiting "
                           f"(head: request {waiting[0].req.index}) on table '{table.name}'")
        prompts = [s.req.prompt_tokens + s.gen for s in new]
        kv_lens = [s.ctx + 1 for s in decode]
        if new and decode:
            kind, cost = "mixed", table.mixed(prompts, kv_lens)
        elif new:
            kind, cost = "prefill", table.prefill(prompts)
        else:
            kind, cost = "decode", table.decode(kv_lens)
        sec, ej = float(cost.seconds), float(cost.energy_j)
        if not (math.isfinite(sec) and sec > 0 and math.isfinite(ej) and ej >= 0):
            _bad_cost(table.name, kind, prompts, kv_lens, sec, ej)
        n_iter += 1
        nb = len(new) + len(decode)
        batch_sum += nb
        peak_batch = max(peak_batch, nb)
        peak_used = max(peak_used, total - free)
        energy += ej
        time_by_kind[kind] += sec
        t_end = t + sec
        for s in decode:
            s.ctx += 1
            s.gen += 1
        for s in new:
            s.ctx = s.req.prompt_tokens + s.gen
            if s.gen > 0:
                recomputed += s.ctx
            s.gen += 1
            if s.first_s is None:
                s.first_s = t_end
            running.append(s)
        if any(s.gen >= s.req.output_tokens for s in running):
            keep: list[_Seq] = []
            for s in running:
                if s.gen >= s.req.output_tokens:
                    s.done_s = t_end
                    free += s.units
                    s.units = 0
                else:
                    keep.append(s)
            running[:] = keep
        t = t_end

    peak_bytes = (peak_used * bt * kvb if paged else peak_used) if limited else 0
    return _result(table.name, reqs, seqs, pol, {
        "max_batch": max_batch, "kvb": kvb, "cap": cap, "n_iter": n_iter, "batch_sum": batch_sum,
        "peak_batch": peak_batch, "peak_bytes": peak_bytes, "energy": energy,
        "time_by_kind": time_by_kind, "preemptions": preemptions, "recomputed": recomputed,
        "idle": idle})


def _result(name: str, reqs: list[Request], seqs: list[_Seq], pol: ServingPolicy,
            st: dict[str, Any]) -> ServingResult:
    # request index -> (TTFT, TPOT or None, E2E, finish time) of each completed request
    fin: dict[int, tuple[float, float | None, float, float]] = {}
    for s in seqs:
        if s.done_s is not None and s.first_s is not None:
            g = s.req.output_tokens
            fin[s.req.index] = (s.first_s - s.req.arrival_s,
                                (s.done_s - s.first_s) / (g - 1) if g > 1 else None,
                                s.done_s - s.req.arrival_s, s.done_s)
    done = [s for s in seqs if s.req.index in fin]
    rejected = [s for s in seqs if s.reason]
    ttft = [v[0] for v in fin.values()]
    tpot = [v[1] for v in fin.values() if v[1] is not None]
    e2e = [v[2] for v in fin.values()]
    t0 = reqs[0].arrival_s
    makespan = (max(v[3] for v in fin.values()) - t0) if fin else 0.0
    tokens = sum(s.req.output_tokens for s in done)
    busy = math.fsum(st["time_by_kind"].values())

    slo = pol.slo_ttft_s is not None or pol.slo_tpot_s is not None
    met: int | None = None
    if slo:
        met = 0
        for ft, tp, _, _ in fin.values():
            ok_ttft = pol.slo_ttft_s is None or ft <= pol.slo_ttft_s
            ok_tpot = pol.slo_tpot_s is None or tp is None or tp <= pol.slo_tpot_s
            met += ok_ttft and ok_tpot

    def per(x: float | None) -> float | None:
        return _r(x / makespan) if (x is not None and makespan > 0) else None

    reasons: dict[str, int] = {}
    for s in rejected:
        reasons[s.code] = reasons.get(s.code, 0) + 1
    m: dict[str, Any] = {
        "table": name,
        "requests": len(reqs),
        "completed": len(done),
        "rejected": len(rejected),
        "rejected_by_reason": dict(sorted(reasons.items())),
        "generated_tokens": tokens,
        "makespan_s": _r(makespan),
        "ttft_mean_s": _mean(ttft), "ttft_p50_s": _pct(ttft, 50), "ttft_p90_s": _pct(ttft, 90),
        "ttft_p99_s": _pct(ttft, 99),
        "tpot_mean_s": _mean(tpot), "tpot_p50_s": _pct(tpot, 50), "tpot_p90_s": _pct(tpot, 90),
        "tpot_p99_s": _pct(tpot, 99),
        "e2e_mean_s": _mean(e2e), "e2e_p50_s": _pct(e2e, 50), "e2e_p90_s": _pct(e2e, 90),
        "e2e_p99_s": _pct(e2e, 99),
        "throughput_tokens_per_s": per(float(tokens)) if done else None,
        "requests_per_s": per(float(len(done))) if done else None,
        "slo_ttft_s": pol.slo_ttft_s,
        "slo_tpot_s": pol.slo_tpot_s,
        "slo_met": met,
        "slo_attainment": _r(met / len(reqs)) if met is not None else None,
        "goodput_requests_per_s": (per(float(met)) if met is not None and makespan > 0 else None),
        "energy_j": _r(st["energy"]),
        "energy_per_token_j": _r(st["energy"] / tokens) if tokens else None,
        "iterations": st["n_iter"],
        "mean_batch_size": _r(st["batch_sum"] / st["n_iter"]) if st["n_iter"] else None,
        "peak_batch_size": st["peak_batch"],
        "busy_s": _r(busy),
        "prefill_s": _r(st["time_by_kind"]["prefill"]),
        "decode_s": _r(st["time_by_kind"]["decode"]),
        "mixed_s": _r(st["time_by_kind"]["mixed"]),
        "idle_s": _r(st["idle"]),
        "preemptions": st["preemptions"],
        "recomputed_tokens": st["recomputed"],
        "max_batch": st["max_batch"],
        "kv_bytes_per_token": st["kvb"],
        "kv_capacity_bytes": st["cap"],
        "kv_peak_bytes": st["peak_bytes"],
        "percentile_method": PERCENTILE_METHOD,
    }
    rows: list[dict[str, Any]] = []
    for s in seqs:
        r = s.req
        f = fin.get(r.index)
        rows.append({
            "index": r.index, "arrival_s": r.arrival_s, "prompt_tokens": r.prompt_tokens,
            "output_tokens": r.output_tokens, "status": "completed" if f else "rejected",
            "first_token_s": _rn(s.first_s), "finish_s": _rn(s.done_s),
            "ttft_s": _r(f[0]) if f else None, "tpot_s": _rn(f[1]) if f else None,
            "e2e_s": _r(f[2]) if f else None,
            "preemptions": s.preemptions, "reason": s.reason or None,
        })
    return ServingResult(name, m, rows)


RESERVED_KEYS = ("policy", "trace", "serving")


def serve_all(tables: Sequence[StepCostTable], requests: Sequence[Request],
              policy: ServingPolicy | None = None) -> list[ServingResult]:
    """:func:`simulate_serving` on each table (names must be distinct)."""
    if not tables:
        raise AccelsimError("no cost tables to serve on")
    names = [t.name for t in tables]
    if len(set(names)) != len(names):
        raise SimError(f"cost tables need distinct names, got {names}")
    bad = [n for n in names[1:] if n in RESERVED_KEYS]
    if bad:
        raise SimError(f"cost table name(s) {bad} clash with result keys {list(RESERVED_KEYS)}")
    return [simulate_serving(requests, t, policy) for t in tables]


def serving_report(results: Sequence[ServingResult], requests: Sequence[Request],
                   policy: ServingPolicy | None = None) -> dict[str, Any]:
    """The JSON of a serving run: ``policy``, ``trace`` (counts), ``serving`` (the first table,
    the ASIC) and ``<name>.serving`` for each other table (``gpu.serving``)."""
    pol = policy or ServingPolicy()
    out: dict[str, Any] = {
        "policy": pol.model_dump(mode="json"),
        "trace": summarize(list(requests)),
        "serving": results[0].metrics,
    }
    for r in results[1:]:
        out[r.table] = {"serving": r.metrics}
    return out


def run_serving(tables: Sequence[StepCostTable], requests: Sequence[Request],
                policy: ServingPolicy | None = None) -> dict[str, Any]:
    """Serve ``requests`` on every table; returns :func:`serving_report`'s dict."""
    return serving_report(serve_all(tables, requests, policy), requests, policy)
