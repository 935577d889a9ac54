"""The continuous-batching scheduler on hand-made traces with the analytic LinearStepCosts table.

Every expected figure below is derived by hand in the comments from the table's formula
(seconds = base + per_prompt_token x prompt tokens + per_seq x decoding sequences
+ per_kv_token x KV tokens) and the policy in accelsim/inference/serving.py; percentiles by
numpy's "linear" method: the q-quantile of n sorted values is at rank q (n - 1).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import pytest

import accelsim.inference.serving as serving_mod
from accelsim.errors import AccelsimError, SimError
from accelsim.inference.requests import LengthDist, Request, generate_requests
from accelsim.inference.serving import (
    LinearStepCosts,
    ServingPolicy,
    StepCost,
    StepCostTable,
    run_serving,
    simulate_serving,
)

# prefill of P tokens: 0.1 + 0.01 P s; decode of n sequences: 0.1 + 0.02 n s (no KV term)
T = LinearStepCosts(name="asic", base_s=0.1, per_prompt_token_s=0.01, per_seq_s=0.02, power_w=100.0)


def approx(x: float) -> object:
    return pytest.approx(x, rel=1e-9, abs=1e-12)


def R(i: int, arrival: float, prompt: int, output: int) -> Request:
    return Request(i, arrival, prompt, output)


@dataclass
class Recording:
    """Wraps a table and records every call (kind, prompts, kv_lens)."""

    inner: LinearStepCosts
    calls: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def kv_bytes_per_token(self) -> int:
        return self.inner.kv_bytes_per_token

    @property
    def kv_capacity_bytes(self) -> int:
        return self.inner.kv_capacity_bytes

    @property
    def max_batch(self) -> int:
        return self.inner.max_batch

    def prefill(self, prompt_tokens: Sequence[int]) -> StepCost:
        self.calls.append(("prefill", tuple(prompt_tokens), ()))
        return self.inner.prefill(prompt_tokens)

    def decode(self, kv_lens: Sequence[int]) -> StepCost:
        self.calls.append(("decode", (), tuple(kv_lens)))
        return self.inner.decode(kv_lens)

    def mixed(self, prompt_tokens: Sequence[int], kv_lens: Sequence[int]) -> StepCost:
        self.calls.append(("mixed", tuple(prompt_tokens), tuple(kv_lens)))
        return self.inner.mixed(prompt_tokens, kv_lens)


def test_linear_table_satisfies_the_protocol() -> None:
    assert isinstance(T, StepCostTable)
    c = T.mixed([10, 20], [5, 6, 7])
    assert c.seconds == approx(0.1 + 0.01 * 30 + 0.02 * 3) and c.energy_j == approx(100 * c.seconds)


def test_one_request() -> None:
    # P=10, G=4 arriving at 1.0; per-KV-token term 0.001 s so the kv_lens convention shows.
    # prefill [10]: 0.1 + 0.1 = 0.2 -> first token at 1.2 (TTFT 0.2)
    # decodes at kv_len 11, 12, 13: 0.1 + 0.02 + 0.001 L = 0.131, 0.132, 0.133 -> done 1.596
    # TPOT = 0.396 / 3 = 0.132; E2E 0.596; 4 tokens / 0.596 s.
    tab = Recording(LinearStepCosts(name="asic", base_s=0.1, per_prompt_token_s=0.01, per_seq_s=0.02,
                                    per_kv_token_s=0.001, power_w=50.0))
    res = simulate_serving([R(0, 1.0, 10, 4)], tab, ServingPolicy())
    assert tab.calls == [("prefill", (10,), ()), ("decode", (), (11,)), ("decode", (), (12,)),
                         ("decode", (), (13,))]
    m = res.metrics
    assert m["completed"] == 1 and m["rejected"] == 0 and m["generated_tokens"] == 4
    for k in ("ttft_mean_s", "ttft_p50_s", "ttft_p90_s", "ttft_p99_s"):
        assert m[k] == approx(0.2), k
    for k in ("tpot_mean_s", "tpot_p50_s", "tpot_p90_s", "tpot_p99_s"):
        assert m[k] == approx(0.132), k
    assert m["e2e_p99_s"] == approx(0.596) and m["makespan_s"] == approx(0.596)
    assert m["throughput_tokens_per_s"] == approx(4 / 0.596)
    assert m["requests_per_s"] == approx(1 / 0.596)
    assert m["energy_j"] == approx(50 * 0.596) and m["energy_per_token_j"] == approx(50 * 0.596 / 4)
    assert m["iterations"] == 4 and m["mean_batch_size"] == 1 and m["peak_batch_size"] == 1
    assert m["prefill_s"] == approx(0.2) and m["decode_s"] == approx(0.396) and m["idle_s"] == 0
    row = res.per_request[0]
    assert row["first_token_s"] == approx(1.2) and row["finish_s"] == approx(1.596)
    assert row["status"] == "completed" and row["reason"] is None


TWO = [R(0, 0.0, 10, 3), R(1, 0.05, 20, 2)]


def test_two_overlapping_requests_prefill_first() -> None:
    # t=0    prefill [10] (A)          0.2  -> 0.2   A token 1 (B arrived at 0.05, waits)
    # t=0.2  prefill [20] (B)          0.3  -> 0.5   B token 1 (prefill-first: A's decode waits)
    # t=0.5  decode A(kv 11), B(kv 21) 0.14 -> 0.64  A token 2, B token 2: B done
    # t=0.64 decode A(kv 12)           0.12 -> 0.76  A token 3: A done
    tab = Recording(T)
    m = simulate_serving(TWO, tab, ServingPolicy()).metrics
    assert tab.calls == [("prefill", (10,), ()), ("prefill", (20,), ()), ("decode", (), (11, 21)),
                         ("decode", (), (12,))]
    # TTFT A 0.2, B 0.45: p50 = 0.325, p90 = 0.2 + 0.9 x 0.25 = 0.425, p99 = 0.4475
    assert (m["ttft_p50_s"], m["ttft_p90_s"], m["ttft_p99_s"]) == (approx(0.325), approx(0.425), approx(0.4475))
    # TPOT A (0.76 - 0.2) / 2 = 0.28, B (0.64 - 0.5) / 1 = 0.14
    assert (m["tpot_p50_s"], m["tpot_p90_s"], m["tpot_p99_s"]) == (approx(0.21), approx(0.266), approx(0.2786))
    # E2E A 0.76, B 0.59
    assert (m["e2e_p50_s"], m["e2e_p99_s"]) == (approx(0.675), approx(0.59 + 0.99 * 0.17))
    assert m["makespan_s"] == approx(0.76) and m["throughput_tokens_per_s"] == approx(5 / 0.76)
    assert m["prefill_s"] == approx(0.5) and m["decode_s"] == approx(0.26)
    assert m["mean_batch_size"] == approx(5 / 4) and m["peak_batch_size"] == 2


def test_two_overlapping_requests_mixed() -> None:
    # t=0    prefill [10] (A)                     0.2                    -> 0.2
    # t=0.2  mixed: decode A(kv 11) + prefill B   0.1 + 0.2 + 0.02 = 0.32 -> 0.52 A tok 2, B tok 1
    # t=0.52 decode A(kv 12), B(kv 21)            0.14                   -> 0.66 both done
    tab = Recording(T)
    res = simulate_serving(TWO, tab, ServingPolicy(schedule="mixed"))
    assert tab.calls == [("prefill", (10,), ()), ("mixed", (20,), (11,)), ("decode", (), (12, 21))]
    a, b = res.per_request
    assert (a["ttft_s"], a["tpot_s"], a["e2e_s"]) == (approx(0.2), approx(0.23), approx(0.66))
    assert (b["ttft_s"], b["tpot_s"], b["e2e_s"]) == (approx(0.47), approx(0.14), approx(0.61))
    assert res.metrics["mixed_s"] == approx(0.32)


def test_goodput_and_slo_attainment() -> None:
    # From the prefill-first trace: A TTFT 0.2, TPOT 0.28; B TTFT 0.45, TPOT 0.14; makespan 0.76.
    m = simulate_serving(TWO, T, ServingPolicy(slo_ttft_s=0.3, slo_tpot_s=0.3)).metrics
    assert m["slo_met"] == 1 and m["slo_attainment"] == 0.5  # only A
    assert m["goodput_requests_per_s"] == approx(1 / 0.76)
    m = simulate_serving(TWO, T, ServingPolicy(slo_tpot_s=0.2)).metrics
    assert m["slo_met"] == 1  # only B (A's TPOT 0.28 > 0.2)
    m = simulate_serving(TWO, T, ServingPolicy()).metrics
    assert m["slo_met"] is None and m["goodput_requests_per_s"] is None
    # a request with one output token has no TPOT: it meets any TPOT SLO
    m = simulate_serving([R(0, 0.0, 10, 1)], T, ServingPolicy(slo_tpot_s=1e-9)).metrics
    assert m["slo_met"] == 1 and m["tpot_p50_s"] is None


@pytest.mark.parametrize("kv", ["reserve", "paged"])
def test_burst_beyond_kv_capacity_queues_and_rejects(kv: str) -> None:
    # KV 1 B/token, capacity 12 B; P=10, G=3 needs 10 + 3 - 1 = 12 tokens: one at a time
    # (paged, 4-token blocks: 3 blocks total, a prompt takes all 3). P=20 can never fit: rejected.
    # Each request: prefill 0.2 + two decodes of 0.12 = 0.44, served back to back:
    # TTFT 0.2, 0.64, 1.08 -> p50 0.64, p90 = 0.64 + 0.8 x 0.44 = 0.992, p99 = 0.64 + 0.98 x 0.44
    tab = LinearStepCosts(name="asic", kv_bytes_per_token=1, kv_capacity_bytes=12, base_s=0.1,
                          per_prompt_token_s=0.01, per_seq_s=0.02)
    reqs = [R(0, 0.0, 10, 3), R(1, 0.0, 20, 3), R(2, 0.0, 10, 3), R(3, 0.0, 10, 3)]
    res = simulate_serving(reqs, tab, ServingPolicy(kv=kv, block_tokens=4))  # type: ignore[arg-type]
    m = res.metrics
    assert m["completed"] == 3 and m["rejected"] == 1 and m["rejected_by_reason"] == {"kv_capacity": 1}
    assert [r["ttft_s"] for r in res.per_request] == [approx(0.2), None, approx(0.64), approx(1.08)]
    assert (m["ttft_p50_s"], m["ttft_p90_s"], m["ttft_p99_s"]) == (
        approx(0.64), approx(0.992), approx(0.64 + 0.98 * 0.44))
    assert m["peak_batch_size"] == 1 and m["kv_peak_bytes"] == 12 and m["preemptions"] == 0
    assert m["makespan_s"] == approx(1.32) and m["slo_attainment"] is None
    bad = res.per_request[1]
    assert bad["status"] == "rejected" and "needs 22 tokens of KV cache" in bad["reason"]


def test_paged_preemption_by_recompute_vs_reserve() -> None:
    # KV 1 B/token, 12 B = 3 blocks of 4 tokens; A and B: P=4, G=5 (peak 8 tokens = 2 blocks).
    # paged, prefill-first:
    #  t=0    prefill [4, 4] (1 block each)  0.1 + 0.08 = 0.18 -> 0.18  A, B token 1
    #  decode needs kv 5 = 2 blocks each: A takes the free block; none left for B -> B (the newest)
    #         is preempted (its block freed, back to the queue head)
    #  decode A kv 5, 6, 7, 8: 4 x 0.12 -> 0.66  A done (TPOT 0.48 / 4 = 0.12)
    #  prefill B over 4 + 1 tokens = 0.15 -> 0.81  B token 2; decodes kv 6, 7, 8 -> 1.17
    #  B: TTFT 0.18, TPOT (1.17 - 0.18) / 4 = 0.2475; 5 tokens recomputed
    tab = Recording(LinearStepCosts(name="asic", kv_bytes_per_token=1, kv_capacity_bytes=12, base_s=0.1,
                                    per_prompt_token_s=0.01, per_seq_s=0.02))
    reqs = [R(0, 0.0, 4, 5), R(1, 0.0, 4, 5)]
    res = simulate_serving(reqs, tab, ServingPolicy(kv="paged", block_tokens=4))
    assert tab.calls == ([("prefill", (4, 4), ())] + [("decode", (), (k,)) for k in (5, 6, 7, 8)]
                         + [("prefill", (5,), ())] + [("decode", (), (k,)) for k in (6, 7, 8)])
    a, b = res.per_request
    assert (a["ttft_s"], a["tpot_s"], a["e2e_s"]) == (approx(0.18), approx(0.12), approx(0.66))
    assert (b["ttft_s"], b["tpot_s"], b["e2e_s"]) == (approx(0.18), approx(0.2475), approx(1.17))
    assert b["preemptions"] == 1 and res.metrics["preemptions"] == 1
    assert res.metrics["recomputed_tokens"] == 5 and res.metrics["kv_peak_bytes"] == 8
    # reserve: each reserves its 8-token footprint, 8 + 8 > 12, so B waits for A:
    # A: prefill [4] 0.14, 4 decodes 0.48 -> 0.62; B: prefill 0.14 -> 0.76, decodes -> 1.24
    res = simulate_serving(reqs, replace(T, kv_bytes_per_token=1, kv_capacity_bytes=12),
                           ServingPolicy(kv="reserve"))
    a, b = res.per_request
    assert (a["ttft_s"], a["e2e_s"], b["ttft_s"], b["e2e_s"]) == (
        approx(0.14), approx(0.62), approx(0.76), approx(1.24))
    assert res.metrics["preemptions"] == 0


def test_max_batch_limit() -> None:
    # three P=10, G=2 at t=0, max batch 2:
    #  prefill [10, 10] 0.3 -> 0.3; decode (11, 11) 0.14 -> 0.44 (both done);
    #  prefill [10] 0.2 -> 0.64; decode (11) 0.12 -> 0.76
    reqs = [R(i, 0.0, 10, 2) for i in range(3)]
    for tab, pol in ((T, ServingPolicy(max_batch=2)),
                     (replace(T, max_batch=2), ServingPolicy()),
                     (replace(T, max_batch=2), ServingPolicy(max_batch=8))):
        res = simulate_serving(reqs, tab, pol)
        assert [r["ttft_s"] for r in res.per_request] == [approx(0.3), approx(0.3), approx(0.64)]
        assert [r["e2e_s"] for r in res.per_request] == [approx(0.44), approx(0.44), approx(0.76)]
        assert res.metrics["max_batch"] == 2 and res.metrics["peak_batch_size"] == 2


def test_max_prefill_tokens_budget() -> None:
    # budget 15: two P=10 prompts cannot share an iteration; P=20 can never be prefilled.
    # G=1: each request is one prefill of 0.2 s; TTFT 0.2 and 0.4.
    reqs = [R(0, 0.0, 10, 1), R(1, 0.0, 20, 1), R(2, 0.0, 10, 1)]
    res = simulate_serving(reqs, T, ServingPolicy(max_prefill_tokens=15))
    assert [r["ttft_s"] for r in res.per_request] == [approx(0.2), None, approx(0.4)]
    assert res.metrics["rejected_by_reason"] == {"max_prefill_tokens": 1}
    assert res.metrics["tpot_p50_s"] is None  # one output token each: no TPOT
    assert "exceeds max_prefill_tokens 15" in res.per_request[1]["reason"]
    res = simulate_serving(reqs, T, ServingPolicy(max_prefill_tokens=20))  # 10 + 20 > 20, 20 alone
    assert [r["ttft_s"] for r in res.per_request] == [approx(0.2), approx(0.5), approx(0.7)]


def test_idle_gap_between_requests() -> None:
    # A at 0 (prefill 0.2 + decode 0.12 = 0.32), B at 10: engine idle 10 - 0.32 s
    m = simulate_serving([R(0, 0.0, 10, 2), R(1, 10.0, 10, 2)], T, ServingPolicy()).metrics
    assert m["makespan_s"] == approx(10.32) and m["busy_s"] == approx(0.64)
    assert m["idle_s"] == approx(10.32 - 0.64) and m["ttft_p99_s"] == approx(0.2)


def _trace(n: int = 300, rate: float = 20.0, seed: int = 3) -> list[Request]:
    return generate_requests(rate, n, LengthDist(kind="lognormal", mean=200, max=1500),
                             LengthDist(kind="lognormal", mean=60, max=400), seed=seed)


SMALL_KV = LinearStepCosts(name="asic", kv_bytes_per_token=2, kv_capacity_bytes=6000, max_batch=16,
                           base_s=0.008, per_prompt_token_s=1e-4, per_seq_s=2e-5, per_kv_token_s=2e-8,
                           power_w=400.0)


def test_deterministic_json_and_gpu_side() -> None:
    reqs = _trace()
    gpu = replace(SMALL_KV, name="gpu", base_s=0.01)
    pol = ServingPolicy(slo_ttft_s=0.5, slo_tpot_s=0.02)
    a = json.dumps(run_serving([SMALL_KV, gpu], reqs, pol), indent=2)
    b = json.dumps(run_serving([SMALL_KV, gpu], list(reqs), pol), indent=2)
    assert a == b
    d = json.loads(a)
    assert set(d) == {"policy", "trace", "serving", "gpu"} and set(d["gpu"]) == {"serving"}
    assert d["serving"]["table"] == "asic" and d["gpu"]["serving"]["table"] == "gpu"
    assert d["policy"]["schedule"] == "prefill-first" and d["trace"]["requests"] == len(reqs)
    with pytest.raises(SimError, match="distinct names"):
        run_serving([SMALL_KV, SMALL_KV], reqs, pol)


@pytest.mark.parametrize("kv", ["paged", "reserve"])
@pytest.mark.parametrize("schedule", ["prefill-first", "mixed"])
def test_invariants_and_fast_path(kv: str, schedule: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Physical bounds on a loaded trace, and the decode fast path equals the general loop."""
    reqs = _trace()
    pol = ServingPolicy(kv=kv, schedule=schedule, max_prefill_tokens=2048)  # type: ignore[arg-type]
    res = simulate_serving(reqs, SMALL_KV, pol)
    m = res.metrics
    done = [r for r in res.per_request if r["status"] == "completed"]
    assert m["completed"] + m["rejected"] == len(reqs) and m["completed"] == len(done) > 0
    assert m["generated_tokens"] == sum(r["output_tokens"] for r in done)
    assert m["busy_s"] + m["idle_s"] == approx(m["makespan_s"])
    assert m["energy_j"] == pytest.approx(SMALL_KV.power_w * m["busy_s"], rel=1e-9)
    assert 1 <= m["mean_batch_size"] <= m["peak_batch_size"] <= 16
    assert 0 < m["kv_peak_bytes"] <= SMALL_KV.kv_capacity_bytes
    for r in done:
        # TTFT at least the request's own prefill alone; finish after the first token
        assert r["ttft_s"] >= SMALL_KV.base_s + SMALL_KV.per_prompt_token_s * r["prompt_tokens"] - 1e-12
        assert r["e2e_s"] >= r["ttft_s"]
        if r["output_tokens"] > 1:  # each later token takes at least one decode step
            assert r["tpot_s"] >= SMALL_KV.base_s + SMALL_KV.per_seq_s - 1e-12
    if kv == "paged":
        assert m["preemptions"] > 0  # the small cache makes it preempt: the path is exercised
    monkeypatch.setattr(serving_mod, "FAST_DECODE", False)
    slow = simulate_serving(reqs, SMALL_KV, pol)
    assert json.dumps(slow.metrics) == json.dumps(m) and slow.per_request == res.per_request


def test_thousand_requests_simulate_fast() -> None:
    reqs = generate_requests(4.0, 1000, LengthDist(kind="lognormal", mean=512, max=4096),
                             LengthDist(kind="lognormal", mean=128, max=1024), seed=1)
    tab = LinearStepCosts(name="asic", kv_bytes_per_token=131072, kv_capacity_bytes=16 * 2**30,
                          max_batch=256, base_s=0.008, per_prompt_token_s=1e-4, per_seq_s=2e-5,
                          per_kv_token_s=2e-8, power_w=500.0)
    t0 = time.perf_counter()
    m = simulate_serving(reqs, tab, ServingPolicy()).metrics
    wall = time.perf_counter() - t0
    assert m["completed"] == 1000
    assert wall < 1.0, f"1,000 requests took {wall:.2f} s"


class _Bad(LinearStepCosts):
    def decode(self, kv_lens: Sequence[int]) -> StepCost:
        return StepCost(0.0, 1.0)


def test_bad_inputs_are_clear_errors() -> None:
    with pytest.raises(SimError, match="decode step .* returned seconds=0.0"):
        simulate_serving([R(0, 0.0, 10, 3)], _Bad(name="bad", base_s=0.1), ServingPolicy())
    with pytest.raises(AccelsimError, match="the weights do not fit"):
        simulate_serving([R(0, 0.0, 10, 3)], LinearStepCosts(kv_bytes_per_token=2, kv_capacity_bytes=-1))
    with pytest.raises(SimError, match="max_batch must be >= 1"):
        simulate_serving([R(0, 0.0, 10, 3)], LinearStepCosts(max_batch=0))
    with pytest.raises(AccelsimError, match="sorted by arrival"):
        simulate_serving([R(0, 1.0, 10, 3), R(1, 0.5, 10, 3)], T)
    with pytest.raises(AccelsimError, match="no requests"):
        simulate_serving([], T)
    # zero KV capacity: every request rejected, reported, no hang
    m = simulate_serving([R(0, 0.0, 10, 3)], LinearStepCosts(kv_bytes_per_token=2, kv_capacity_bytes=0,
                                                             base_s=0.1)).metrics
    assert m["completed"] == 0 and m["rejected"] == 1 and m["throughput_tokens_per_s"] is None
