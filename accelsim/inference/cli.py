"""``accelsim requests`` (make a request trace) and ``accelsim serve`` (continuous-batching
serving on the ASIC and the GPU profile). Registered lazily on the main group by accelsim.cli."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import click

from accelsim.cli import _console, _params, handle_errors
from accelsim.errors import AccelsimError

_DISTS = ["fixed", "uniform", "lognormal"]


def _dist(which: str, kind: str, mean: float | None, lo: int, hi: int | None, sigma: float) -> Any:
    from pydantic import ValidationError

    from accelsim.inference.requests import LengthDist

    try:
        return LengthDist(kind=kind, mean=mean, min=lo, max=hi, sigma=sigma)  # type: ignore[arg-type]
    except ValidationError as e:
        msgs = "; ".join(err["msg"].removeprefix("Value error, ") for err in e.errors())
        raise AccelsimError(f"--{which}-dist {kind}: {msgs} (options --{which}-mean, "
                            f"--{which}-min, --{which}-max, --{which}-sigma)") from None


@click.command("requests")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), required=True,
              help="mean arrival rate, requests/s (Poisson arrivals)")
@click.option("--count", type=click.IntRange(min=1), required=True, help="number of requests")
@click.option("--prompt-dist", type=click.Choice(_DISTS), default="fixed", show_default=True,
              help="prompt-length distribution")
@click.option("--prompt-mean", type=click.FloatRange(min=0, min_open=True), default=512, show_default=True,
              help="prompt tokens: the value (fixed) or the unclipped mean (lognormal)")
@click.option("--prompt-min", type=click.IntRange(min=1), default=1, show_default=True,
              help="smallest prompt (uniform, lognormal clip)")
@click.option("--prompt-max", type=click.IntRange(min=1), default=None,
              help="largest prompt (uniform: required; lognormal: clip; default none)")
@click.option("--prompt-sigma", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="lognormal shape (std dev of the log)")
@click.option("--output-dist", type=click.Choice(_DISTS), default="fixed", show_default=True,
              help="output-length distribution")
@click.option("--output-mean", type=click.FloatRange(min=0, min_open=True), default=128, show_default=True,
              help="output tokens: the value (fixed) or the unclipped mean (lognormal)")
@click.option("--output-min", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--output-max", type=click.IntRange(min=1), default=None)
@click.option("--output-sigma", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="random seed (same seed: same file)")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="CSV trace to write")
@handle_errors
def requests_cmd(rate: float, count: int, prompt_dist: str, prompt_mean: float, prompt_min: int,
                 prompt_max: int | None, prompt_sigma: float, output_dist: str, output_mean: float,
                 output_min: int, output_max: int | None, output_sigma: float, seed: int,
                 output: str) -> None:
    """Write a seeded request trace (arrival_s, prompt_tokens, output_tokens) for `accelsim serve`.

    \b
    Arrivals are Poisson at --rate (exponential gaps, first one after t = 0), written in
    microseconds. Lengths: fixed (--*-mean), uniform on [--*-min, --*-max], or lognormal with
    unclipped mean --*-mean and log std dev --*-sigma, rounded and clipped to [--*-min, --*-max].
    Examples:
      accelsim requests --rate 4 --count 1000 -o trace.csv
      accelsim requests --rate 2 --count 200 --prompt-dist lognormal --prompt-mean 512 \\
          --prompt-max 4096 --output-dist uniform --output-min 16 --output-max 256 --seed 7 -o t.csv
    """
    from accelsim.inference.requests import generate_requests, summarize, write_requests

    p = _dist("prompt", prompt_dist, prompt_mean, prompt_min, prompt_max, prompt_sigma)
    o = _dist("output", output_dist, output_mean, output_min, output_max, output_sigma)
    reqs = generate_requests(rate, count, p, o, seed=seed)
    try:
        write_requests(reqs, output)
    except OSError as e:
        raise AccelsimError(f"{output}: cannot write the trace: {e}") from None
    s = summarize(reqs)
    click.echo(f"{output}: {count} requests over {s['last_arrival_s']:.3f} s; prompt {p.describe()} "
               f"(mean {s['prompt_tokens_mean']:.1f}), output {o.describe()} "
               f"(mean {s['output_tokens_mean']:.1f}); seed {seed}")


def load_cost_tables(arch: str, workload: str, params: dict[str, object], overrides: tuple[str, ...],
                     gpu: str | None, tp: int = 1, pp: int = 1) -> list[Any]:
    """The per-step cost tables to serve on: the ASIC first, then the GPU profile (if any).

    Delegates to ``accelsim.inference.costs.build_cost_tables``; a clear error while that module
    is not part of this build. (Tests monkeypatch this function.)
    """
    if importlib.util.find_spec("accelsim.inference.costs") is None:
        raise AccelsimError("accelsim serve needs the per-step prefill/decode cost tables "
                            "(accelsim.inference.costs), which this build does not have yet")
    from accelsim import api
    from accelsim.inference import costs  # type: ignore[attr-defined]  # the lead's module

    build = getattr(costs, "build_cost_tables", None)
    if build is None:
        raise AccelsimError("accelsim serve: accelsim.inference.costs has no build_cost_tables")
    arch_spec = api.load_arch(arch, overrides)
    if tp * pp == 1:
        return list(build(arch_spec, workload, params, gpu=gpu))
    return list(build(arch_spec, workload, params, gpu=gpu, tp=tp, pp=pp, fold=pp == 1))


@click.command()
@click.argument("arch")
@click.argument("workload")
@click.option("--requests", "requests_file", type=click.Path(dir_okay=False), required=True,
              help="request trace CSV (arrival_s, prompt_tokens, output_tokens; see `accelsim requests`)")
@click.option("--max-batch", type=click.IntRange(min=1), default=None,
              help="sequences in the engine at once (default and ceiling: the hardware's limit)")
@click.option("--max-prefill-tokens", type=click.IntRange(min=1), default=None,
              help="prompt tokens per iteration (default: no limit; longer prompts are rejected)")
@click.option("--schedule", type=click.Choice(["prefill-first", "mixed"]), default="prefill-first",
              show_default=True,
              help="prefill-first: an iteration prefills new prompts or decodes (vLLM); mixed: decode "
                   "and new prefills in the same iteration (Orca)")
@click.option("--kv", "kv", type=click.Choice(["paged", "reserve"]), default="paged", show_default=True,
              help="paged: KV blocks allocated as tokens grow, preemption by recompute (vLLM); "
                   "reserve: the whole prompt+output footprint reserved on admission (Orca)")
@click.option("--block-tokens", type=click.IntRange(min=1), default=16, show_default=True,
              help="KV block size in tokens (paged)")
@click.option("--watermark", type=click.FloatRange(min=0, max=1, max_open=True), default=0.01,
              show_default=True, help="fraction of KV blocks admission keeps free (paged)")
@click.option("--slo-ttft", type=click.FloatRange(min=0, min_open=True), default=None,
              help="TTFT SLO in seconds, for goodput")
@click.option("--slo-tpot", type=click.FloatRange(min=0, min_open=True), default=None,
              help="TPOT SLO in seconds, for goodput")
@click.option("--param", "param", multiple=True, metavar="NAME=VALUE", help="workload parameter (repeatable)")
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", help="override an arch field (repeatable)")
@click.option("--gpu", "gpu", default="h100", show_default=True, metavar="NAME",
              help="GPU profile to serve on as well (a100, h100, h200, l4, v100, or a YAML file)")
@click.option("--no-gpu", is_flag=True, help="serve on the ASIC only")
@click.option("--tp", "tp", type=click.IntRange(min=1), default=1, show_default=True,
              help="tensor-parallel chips per iteration (needs system.chips >= tp x pp; docs/multichip.md)")
@click.option("--pp", "pp", type=click.IntRange(min=1), default=1, show_default=True,
              help="pipeline stages per iteration (one micro-batch: the stages run one after another; "
                   "every layer simulated)")
@click.option("--json", "as_json", is_flag=True, help="print the JSON to stdout (no table)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="write result.json and per_request_<table>.csv here")
@handle_errors
def serve(arch: str, workload: str, requests_file: str, max_batch: int | None,
          max_prefill_tokens: int | None, schedule: str, kv: str, block_tokens: int, watermark: float,
          slo_ttft: float | None, slo_tpot: float | None, param: tuple[str, ...],
          overrides: tuple[str, ...], gpu: str, no_gpu: bool, as_json: bool, out_dir: str | None,
          tp: int = 1, pp: int = 1) -> None:
    """Serve the request trace on ARCH running WORKLOAD (and on the GPU profile) with continuous
    batching; report TTFT/TPOT percentiles, throughput and goodput.

    \b
    Policy (docs/serving.md): FCFS with head-of-line blocking; admission while the KV cache and
    --max-batch allow; the first token comes from the prefill; a request whose KV footprint can
    never fit is rejected and counted. Same inputs: byte-identical JSON.
    Example:
      accelsim requests --rate 4 --count 1000 -o trace.csv
      accelsim serve archs/datacenter-bf16.yaml gpt2-small --requests trace.csv --slo-ttft 0.5 --slo-tpot 0.05
    """
    from accelsim.inference.requests import read_requests
    from accelsim.inference.serving import ServingPolicy, serve_all, serving_report

    reqs = read_requests(requests_file)  # a bad trace fails before any simulation
    policy = ServingPolicy(schedule=schedule, kv=kv, max_batch=max_batch,  # type: ignore[arg-type]
                           max_prefill_tokens=max_prefill_tokens, block_tokens=block_tokens,
                           watermark=watermark, slo_ttft_s=slo_ttft, slo_tpot_s=slo_tpot)
    if tp * pp == 1:  # (tests monkeypatch load_cost_tables with the one-chip signature)
        tables = load_cost_tables(arch, workload, _params(None, None, param), overrides, None if no_gpu else gpu)
    else:
        tables = load_cost_tables(arch, workload, _params(None, None, param), overrides, None if no_gpu else gpu,
                                  tp=tp, pp=pp)
    results = serve_all(tables, reqs, policy)
    data = serving_report(results, reqs, policy)
    if tp * pp > 1:
        data["parallel"] = {"tp": tp, "pp": pp, "chips": tp * pp,
                            "note": "every iteration on tp x pp chips (GPUs), one micro-batch; KV capacity "
                                    "per chip (the busiest chip's share of the weights and cache)"}
    text = json.dumps(data, indent=2) + "\n"
    written: list[Path] = []
    if out_dir:
        d = Path(out_dir)
        d.mkdir(parents=True, exist_ok=True)
        (d / "result.json").write_text(text)
        written.append(d / "result.json")
        for r in results:
            p = d / f"per_request_{r.table}.csv"
            p.write_text(r.per_request_csv())
            written.append(p)
    if as_json:
        click.echo(text, nl=False)
        return
    _print_serving(data, [r.table for r in results], written)


def _fmt(v: Any, scale: float = 1.0, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v * scale:.{digits}g}"


_ROWS: list[tuple[str, str, float]] = [
    ("completed", "completed", 1), ("rejected", "rejected", 1),
    ("TTFT p50 (ms)", "ttft_p50_s", 1e3), ("TTFT p90 (ms)", "ttft_p90_s", 1e3),
    ("TTFT p99 (ms)", "ttft_p99_s", 1e3),
    ("TPOT p50 (ms)", "tpot_p50_s", 1e3), ("TPOT p90 (ms)", "tpot_p90_s", 1e3),
    ("TPOT p99 (ms)", "tpot_p99_s", 1e3),
    ("E2E p50 (s)", "e2e_p50_s", 1), ("E2E p99 (s)", "e2e_p99_s", 1),
    ("throughput (tokens/s)", "throughput_tokens_per_s", 1), ("requests/s", "requests_per_s", 1),
    ("goodput (requests/s)", "goodput_requests_per_s", 1), ("SLO attainment", "slo_attainment", 1),
    ("energy per token (mJ)", "energy_per_token_j", 1e3), ("mean batch", "mean_batch_size", 1),
    ("time in prefill (s)", "prefill_s", 1), ("time in decode (s)", "decode_s", 1),
    ("time in mixed (s)", "mixed_s", 1), ("idle (s)", "idle_s", 1),
    ("preemptions", "preemptions", 1), ("makespan (s)", "makespan_s", 1),
]


def _print_serving(data: dict[str, Any], names: list[str], written: list[Path]) -> None:
    from rich.table import Table

    con = _console()
    blocks = [data["serving"]] + [data[n]["serving"] for n in names[1:]]
    tr = data["trace"]
    t = Table(title="accelsim serve", title_justify="left")
    t.add_column("metric")
    for n in names:
        t.add_column(n.upper(), justify="right")
    for label, key, scale in _ROWS:
        if key == "mixed_s" and not any(b[key] for b in blocks):
            continue
        t.add_row(label, *(_fmt(b[key], scale) for b in blocks))
    con.print(t)
    con.print(f"trace: {tr['requests']} requests, {tr['prompt_tokens']:,} prompt and "
              f"{tr['output_tokens']:,} output tokens, arrivals {tr['first_arrival_s']:g}-"
              f"{tr['last_arrival_s']:g} s", markup=False)
    pol = data["policy"]
    slo = ", ".join(f"{lab} <= {pol[k]:g} s" for lab, k in (("TTFT", "slo_ttft_s"), ("TPOT", "slo_tpot_s"))
                    if pol[k] is not None)
    con.print(f"policy: {pol['schedule']}, kv {pol['kv']}, max batch "
              f"{'/'.join(str(b['max_batch']) for b in blocks)}"
              + (f", max prefill tokens {pol['max_prefill_tokens']}" if pol["max_prefill_tokens"] else "")
              + (f"; SLO {slo}" if slo else "; no SLO given (--slo-ttft/--slo-tpot for goodput)"),
              markup=False)
    for n, b in zip(names, blocks):
        if b["rejected"]:
            why = ", ".join(f"{k} {v}" for k, v in b["rejected_by_reason"].items())
            con.print(f"{n}: {b['rejected']} request(s) rejected ({why}); see per_request_{n}.csv "
                      "with --out", markup=False)
    for p in written:
        con.print(f"wrote {p}", markup=False)
