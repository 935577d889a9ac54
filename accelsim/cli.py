"""The ``accelsim`` command line: a thin layer over :mod:`accelsim.api`.

Exit codes: 0 ok; 1 a check, regression gate or access policy failed; 2 bad input
(spec, workload or mapping error); 3 internal error.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from accelsim import __version__
from accelsim.errors import AccelsimError

# torch.export emits deprecation chatter that is not actionable for accelsim users.
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning)

DEFAULT_WORKLOAD = "gpt2-small"


def _console(stderr: bool = False) -> Any:
    import shutil

    from rich.console import Console

    # Not a terminal (piped, CI logs): use a wide fixed width so tables don't fold.
    width = None if sys.stdout.isatty() else max(140, shutil.get_terminal_size((140, 24)).columns)
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn AccelsimError into a clean message + exit code (no traceback)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AccelsimError as e:
            label = "check failed" if e.exit_code == 1 else "error"
            click.echo(f"accelsim: {label}: {e}", err=True)
            sys.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("accelsim: interrupted", err=True)
            sys.exit(130)
        except Exception as e:  # noqa: BLE001 - last-resort guard, no traceback for users
            if os.environ.get("ACCELSIM_DEBUG"):
                raise
            click.echo(
                f"accelsim: internal error: {type(e).__name__}: {e}\n"
                "  (a bug in accelsim; rerun with ACCELSIM_DEBUG=1 for the traceback)",
                err=True,
            )
            sys.exit(3)

    return wrapper


def _disable_cache(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        from accelsim.workload import cache as trace_cache

        trace_cache.set_enabled(False)
        # sweep workers and other child processes started by this command too; put back when
        # the command ends, so an in-process caller (the API, tests) is left as it was
        before = os.environ.get(trace_cache.ENV_DISABLE)
        os.environ[trace_cache.ENV_DISABLE] = "1"

        def restore() -> None:
            if before is None:
                os.environ.pop(trace_cache.ENV_DISABLE, None)
            else:
                os.environ[trace_cache.ENV_DISABLE] = before

        ctx.call_on_close(restore)


#: ``--no-cache`` for every command that loads workloads (run, sweep, regress): trace and map
#: afresh, neither reading nor writing the trace cache (accelsim/workload/cache.py) or the
#: mapping cache (accelsim/mapping/search_cache.py).
no_cache_option = click.option(
    "--no-cache", is_flag=True, expose_value=False, is_eager=True, callback=_disable_cache,
    help="trace and map afresh: neither read nor write the trace and mapping caches "
    "(see `accelsim cache info`)")


#: ``--max-events N`` (run, explain): the limit on a run's estimated simulation events
#: (accelsim/model/resources.py; ``DEFAULT_MAX_EVENTS`` there, kept equal by a test).
max_events_option = click.option(
    "--max-events", "max_events", type=click.IntRange(min=0), default=None, metavar="N",
    help="refuse (exit 2) a run estimated to need more than N simulation events, before mapping "
         "(default: $ACCELSIM_MAX_EVENTS, else 25000000; 0: no limit)")


def _params(seq: int | None, batch: int | None, param: tuple[str, ...]) -> dict[str, object]:
    import yaml

    out: dict[str, object] = {}
    if seq is not None:
        out["seq"] = seq
    if batch is not None:
        out["batch"] = batch
    for p in param:
        if "=" not in p:
            raise AccelsimError(f"--param {p!r}: expected NAME=VALUE")
        k, v = p.split("=", 1)
        if not k.strip():
            raise AccelsimError(f"--param {p!r}: no NAME before '='")
        try:
            out[k.strip()] = yaml.safe_load(v)
        except (yaml.YAMLError, ValueError) as e:
            what = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise AccelsimError(f"--param {p!r}: cannot parse the value as YAML ({what})") from None
    return out


def check_output_paths(out_dir: str | None = None, files: tuple[tuple[str, str | None], ...] = ()) -> None:
    """Refuse, before any work, output paths that cannot be written (exit 2, naming the option):
    ``--out`` must be a directory or creatable as one, each ``(option, file)`` a file whose
    directory exists or can be created; every existing ancestor must be writable."""

    def writable_ancestor(p: Path, opt: str) -> None:
        q = p
        while not q.exists():
            if q.parent == q:
                break
            q = q.parent
        if not q.is_dir():
            raise AccelsimError(f"{opt} {p}: {q} is not a directory")
        if not os.access(q, os.W_OK | os.X_OK):
            raise AccelsimError(f"{opt} {p}: cannot write in {q} (permission denied)")

    if out_dir:
        d = Path(out_dir)
        if d.exists() and not d.is_dir():
            raise AccelsimError(f"--out {d}: exists and is not a directory")
        writable_ancestor(d, "--out")
    for opt, f in files:
        if not f:
            continue
        p = Path(f)
        if p.is_dir():
            raise AccelsimError(f"{opt} {p}: is a directory (expected a file name)")
        if p.exists() and not os.access(p, os.W_OK):
            raise AccelsimError(f"{opt} {p}: the file is not writable")
        writable_ancestor(p.parent if str(p.parent) else Path("."), opt)


def _write_run_outputs(result: Any, out_dir: str | None, trace_file: str | None,
                       html_file: str | None) -> list[Path]:
    """Write ``--out``, ``--trace`` and ``--html`` only once each is fully rendered: every file
    goes to a temporary name beside its target first and is renamed into place (atomically)
    after all of them were written, so a failure leaves no half-written output."""
    import shutil
    import tempfile

    staged: list[tuple[Path, Path]] = []  # (temporary, final)
    tmpdirs: list[Path] = []
    try:
        try:
            if out_dir:
                d = Path(out_dir)
                d.mkdir(parents=True, exist_ok=True)
                tmp = Path(tempfile.mkdtemp(prefix=".accelsim-", dir=d))
                tmpdirs.append(tmp)
                staged += [(f, d / f.name) for f in result.write(tmp)]
            if trace_file:
                from accelsim.report.chrome_trace import write_chrome_trace

                t = Path(trace_file)
                t.parent.mkdir(parents=True, exist_ok=True)
                tmp_t = t.with_name(f".{t.name}.{os.getpid()}.tmp")
                staged.append((tmp_t, t))
                write_chrome_trace(result, tmp_t)
            if html_file:
                from accelsim.report.html import write_html

                h = Path(html_file)
                h.parent.mkdir(parents=True, exist_ok=True)
                tmp_h = h.with_name(f".{h.name}.{os.getpid()}.tmp")
                staged.append((tmp_h, h))
                write_html(result.data, tmp_h)
        except OSError as e:
            raise AccelsimError(f"cannot write {e.filename or 'the output'}: {e.strerror or e}") from None
        written = []
        for tmp_f, final in staged:
            try:
                os.replace(tmp_f, final)
            except OSError as e:
                raise AccelsimError(f"cannot write {final}: {e.strerror or e}") from None
            written.append(final)
        return written
    finally:
        for tmp_f, _ in staged:
            if tmp_f.exists() and not tmp_f.is_dir():
                tmp_f.unlink(missing_ok=True)
        for t in tmpdirs:
            shutil.rmtree(t, ignore_errors=True)


class _LazyGroup(click.Group):
    """Commands that live in other packages load on demand: no import cycles, and
    ``accelsim run`` does not pay for importing dask or optuna."""

    LAZY = {
        "report": ("accelsim.report.cli", "report"),
        "compare": ("accelsim.report.compare", "compare_command"),
        "sweep": ("accelsim.sweep.cli", "sweep"),
        "regress": ("accelsim.regress.cli", "regress"),
        "gpu-calibration": ("accelsim.gpu.cli", "gpu_calibration"),
        "requests": ("accelsim.inference.cli", "requests_cmd"),
        "serve": ("accelsim.inference.cli", "serve"),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.LAZY))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.LAZY:
            import importlib

            mod, attr = self.LAZY[name]
            try:
                return getattr(importlib.import_module(mod), attr)  # type: ignore[no-any-return]
            except ImportError as e:
                raise click.ClickException(f"'{name}' is unavailable: {e}") from None
        return super().get_command(ctx, name)


@click.group(cls=_LazyGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(version=__version__, prog_name="accelsim", message="%(prog)s %(version)s")
def main() -> None:
    """accelsim: cycle-level simulation of ML accelerators on traced PyTorch models.

    \b
    Quick start:
      accelsim run                                  # default arch + workload
      accelsim run archs/tpuv1.yaml gpt2-tiny       # a shipped arch and workload
      accelsim run archs/edge-int8.yaml gemm:M=512,N=3072,K=768 --compat scalesim
      accelsim validate archs/tpuv1.yaml            # check an architecture file
      accelsim workloads                            # list shipped workloads
    """


@main.command()
@click.argument("arch", required=False)
@click.argument("workload", required=False)
@click.option("--seq", type=int, help="sequence length for transformer workloads")
@click.option("--batch", type=int, help="batch size")
@click.option("--param", "param", multiple=True, metavar="NAME=VALUE", help="other workload parameter (repeatable)")
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE",
              help="override an arch field, e.g. --set arrays[0].rows=64 (repeatable)")
@click.option("--compat", type=click.Choice(["scalesim"]), default=None,
              help="SCALE-Sim compatible timing: ideal memory, strictly serial folds, its -1 convention")
@click.option("--gpu", "gpu", default="h100", show_default=True, metavar="NAME",
              help="GPU profile to compare against (a100, h100, h200, l4, v100, or a YAML file)")
@click.option("--no-gpu", is_flag=True, help="skip the GPU comparison")
@click.option("--gpu-launch", "gpu_launch", type=click.Choice(["eager", "graph"]), default="eager",
              show_default=True,
              help="GPU launch model: eager PyTorch (launch + framework overhead per op) or a "
                   "CUDA-graph replay (~1.3 us per kernel)")
@click.option("--sparse-decoder", is_flag=True,
              help="map a TopK SAE decoder sparsely: gather only the k active rows per token")
@click.option("--check", "check", is_flag=False, flag_value="outputs", default=None,
              type=click.Choice(["outputs", "all"]),
              help="functional check: run the mapped program in numpy at the arch's precision and "
                   "compare with PyTorch (--check: outputs; --check=all: every tensor); exit 1 on failure")
@click.option("--enforce", is_flag=True,
              help="make residual access-policy violations an error (exit 1)")
@click.option("--tp", "tp", type=click.IntRange(min=1), default=1, show_default=True,
              help="tensor-parallel chips (Megatron-style split of attention heads and MLPs; needs "
                   "system.chips >= tp x pp, e.g. --set system.chips=8; docs/multichip.md)")
@click.option("--pp", "pp", type=click.IntRange(min=1), default=1, show_default=True,
              help="pipeline stages: the layers split into PP stages balanced by cost, TP chips each")
@click.option("--microbatches", "microbatches", type=click.IntRange(min=1), default=1, show_default=True,
              help="GPipe micro-batches through the pipeline: --batch is split into this many")
@click.option("--mapping-objective", "objective", type=click.Choice(["latency", "energy", "edp"]),
              default="latency", show_default=True,
              help="what the mapping search minimises per op (the other metric breaks ties)")
@click.option("--prompt", "prompt", type=click.IntRange(min=1), default=None,
              help="generation: prompt tokens per sequence (the prefill; reaches the workload as seq)")
@click.option("--generate", "generate", type=click.IntRange(min=1), default=None,
              help="generation: tokens generated per sequence (the prefill's first token, then decode "
                   "steps with a growing KV cache); adds `inference` to the result (docs/inference.md)")
@click.option("--fold/--no-fold", "fold", default=None,
              help="generation: simulate 1 and 2 of a decoder's identical layers and extrapolate "
                   "(--no-fold: every layer; default: fold, except with --pp, whose stages differ)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="write result.json and ops.csv here")
@click.option("--trace", "trace_file", type=click.Path(dir_okay=False),
              help="write a Chrome/Perfetto trace JSON (one track per unit)")
@click.option("--html", "html_file", type=click.Path(dir_okay=False), help="write a self-contained HTML report")
@click.option("--json", "as_json", is_flag=True, help="print result JSON to stdout (no tables)")
@click.option("--ops", "n_ops", type=int, default=12, show_default=True, help="rows of the per-op table (0: all)")
@click.option("--layers", "n_layers", type=int, default=16, show_default=True,
              help="rows of the per-layer table (0: all; every layer is in layers.csv with --out)")
@click.option("-q", "--quiet", is_flag=True, help="print only the summary line")
@no_cache_option
@max_events_option
@click.option("--progress/--no-progress", "progress", default=None,
              help="a status line on stderr while tracing and simulating (default: when stderr is a terminal)")
@handle_errors
def run(arch: str | None, workload: str | None, seq: int | None, batch: int | None,
        param: tuple[str, ...], overrides: tuple[str, ...], compat: str | None,
        gpu: str, no_gpu: bool, gpu_launch: str, sparse_decoder: bool, check: str | None, enforce: bool,
        out_dir: str | None,
        trace_file: str | None, html_file: str | None, as_json: bool, n_ops: int, quiet: bool,
        progress: bool | None = None, n_layers: int = 16, tp: int = 1, pp: int = 1,
        microbatches: int = 1, objective: str = "latency", prompt: int | None = None,
        generate: int | None = None, fold: bool | None = None, max_events: int | None = None) -> None:
    """Simulate WORKLOAD on the architecture ARCH and report latency, utilization and energy.

    \b
    ARCH      a YAML file or a shipped name (default: datacenter-bf16)
    WORKLOAD  a shipped name (gpt2-tiny, gpt2-small, ...), path/to/file.py:factory,
              a saved graph .json, or gemm:M=..,N=..,K=.. (default: gpt2-small)
    """
    import contextlib

    from accelsim import api
    from accelsim.arch.load import DEFAULT_ARCH
    from accelsim.mapping.mapper import MappingOptions
    from accelsim.report.progress import progress_enabled, status
    from accelsim.report.terminal import print_run

    show = progress_enabled(progress)
    check_output_paths(out_dir, (("--trace", trace_file), ("--html", html_file)))
    with contextlib.ExitStack() as quiet_stdout:
        if as_json:  # stdout carries the JSON alone: anything else printed meanwhile goes to stderr
            quiet_stdout.enter_context(contextlib.redirect_stdout(sys.stderr))
        arch_spec = api.load_arch(arch or DEFAULT_ARCH, overrides)
        multichip = tp * pp * microbatches > 1
        sequences = batch  # a generation's --batch: all sequences (StepModel splits them)
        if microbatches > 1 and batch is not None:
            if batch % microbatches:
                from accelsim.errors import SpecError

                raise SpecError(f"--batch {batch} does not split into --microbatches {microbatches}")
            batch //= microbatches  # the traced graph is one micro-batch
        if (prompt is None) != (generate is None):
            from accelsim.errors import SpecError

            raise SpecError("--prompt and --generate go together (a prefill of --prompt tokens, then "
                            "--generate tokens)")
        if prompt is not None and seq is not None and seq != prompt:
            from accelsim.errors import SpecError

            raise SpecError(f"--seq {seq} and --prompt {prompt} disagree (the prompt is the prefill's sequence)")
        if generate is not None and check:
            from accelsim.errors import SpecError

            raise SpecError("--generate does not combine with --check (check one step: --param decode=true "
                            "--param kv_len=L --check)")
        if generate is not None and compat:
            from accelsim.errors import SpecError

            raise SpecError("--generate does not combine with --compat scalesim (SCALE-Sim's timing of one "
                            "forward pass; a generation uses the default timing: drop --compat)")
        if fold is None:
            fold = pp == 1
        elif fold and pp > 1 and generate is not None:
            from accelsim.errors import SpecError

            raise SpecError(f"--fold does not combine with --pp {pp}: folding extrapolates identical layers, but "
                            "pipeline stages hold different layers; use --no-fold (or leave both out)")
        params = _params(seq, batch, param)
        wname = workload or DEFAULT_WORKLOAD
        if generate is not None:
            result, written = _run_generation(
                arch_spec, wname, params, prompt=int(prompt or 1), generate=generate, batch=sequences or 1,
                objective=objective, gpu=None if no_gpu else gpu, gpu_launch=gpu_launch, fold=fold,
                show=show, out_dir=out_dir, trace_file=trace_file, html_file=html_file, tp=tp, pp=pp,
                microbatches=microbatches, max_events=max_events)
    if generate is not None:
        if as_json:
            click.echo(result.to_json(), nl=False)
        else:
            print_run(result, _console(), n_ops=n_ops, quiet=quiet, written=written, n_layers=n_layers)
            if multichip and not quiet:
                from accelsim.api_system import print_system

                print_system(result, _console())
        return
    with contextlib.ExitStack() as quiet_stdout:
        if as_json:
            quiet_stdout.enter_context(contextlib.redirect_stdout(sys.stderr))
        with status(f"tracing {wname}" if check else f"loading {wname} (tracing unless cached)", show):
            # --check needs weights, which the trace cache does not keep: it always traces.
            traced = api.load_traced(wname, params) if check else None
            graph = traced.graph if traced is not None else api.load_graph(wname, params)
        opts = api.RunOptions(mode="scalesim" if compat == "scalesim" else "pipelined",
                              gpu=None if no_gpu else gpu, gpu_launch=gpu_launch, max_events=max_events,
                              mapping=MappingOptions(sparse_decoder=sparse_decoder, objective=objective))
        with status(f"mapping and simulating {len(graph.ops)} ops on {arch_spec.name}", show):
            if multichip:
                from accelsim import api_system

                result = api_system.simulate_system(arch_spec, graph, opts, tp=tp, pp=pp, microbatches=microbatches)
            else:
                result = api.simulate(arch_spec, graph, opts)
        if traced is not None:
            with status("functional check: emulating the mapped program", show):
                if multichip:
                    api_system.check_system(result, traced, check or "outputs")
                else:
                    api.check(result, traced, check or "outputs")
        # Written only now that the run succeeded, and shown before a failing check's exit 1:
        # a failing gate never loses them.
        written = _write_run_outputs(result, out_dir, trace_file, html_file)
    if as_json:
        click.echo(result.to_json(), nl=False)
    else:
        print_run(result, _console(), n_ops=n_ops, quiet=quiet, written=written, n_layers=n_layers)
        if "system" in result.data and result.data["system"].get("chips_used", 1) > 1 and not quiet:
            from accelsim.api_system import print_system

            print_system(result, _console())
    chk = result.data.get("check")
    if chk is not None and not chk["passed"]:
        from accelsim.errors import CheckFailure

        ff = chk.get("first_failure") or {}
        raise CheckFailure(
            f"functional check failed ({chk['scheme']}): first divergence at op '{ff.get('op')}' "
            f"(module '{ff.get('module') or '<top>'}'), tensor '{ff.get('tensor')}': "
            f"max abs error {ff.get('max_abs_err')}, bound {ff.get('bound')}"
        )
    if enforce:
        api.enforce_policy(result)


def _run_generation(arch_spec: Any, wname: str, params: dict[str, object], *, prompt: int, generate: int,
                    batch: int, objective: str, gpu: str | None, gpu_launch: str, fold: bool, show: bool,
                    out_dir: str | None, trace_file: str | None, html_file: str | None, tp: int = 1, pp: int = 1,
                    microbatches: int = 1, max_events: int | None = None) -> tuple[Any, list[Path]]:
    """``run --prompt P --generate G``: the prefill simulated op by op (the reported result; on
    ``tp x pp`` chips with its ``system`` block) and the generation's per-step costs
    (``inference``; ``gpu.inference``)."""
    from accelsim import api
    from accelsim.inference.costs import StepModel
    from accelsim.inference.generation import check_capacity, simulate_generation
    from accelsim.mapping.mapper import MappingOptions
    from accelsim.report.progress import status

    opts = api.RunOptions(gpu=gpu, gpu_launch=gpu_launch, mapping=MappingOptions(objective=objective),
                          max_events=max_events)
    base = {k: v for k, v in params.items() if k not in ("seq", "batch")}
    with status(f"tracing {wname} (prefill and decode step)", show):
        model = StepModel(arch_spec, wname, base,
                          options=api.RunOptions(gpu=None, mapping=opts.mapping, max_events=max_events),
                          fold=fold, gpu=gpu, gpu_launch=gpu_launch, tp=tp, pp=pp, microbatches=microbatches)
        check_capacity(arch_spec, model, prompt, generate, batch)  # before anything is simulated
        graph = model.report_graph(prompt, batch)
    with status(f"simulating the prefill ({len(graph.ops)} ops)", show):
        if model.multichip:
            from accelsim import api_system

            result = api_system.simulate_system(arch_spec, graph, opts, tp=tp, pp=pp, microbatches=microbatches)
        else:
            result = api.simulate(arch_spec, graph, opts)
    with status(f"simulating {generate} generated tokens", show):
        gen = simulate_generation(arch_spec, wname, base, prompt=prompt, generate=generate, batch=batch,
                                  gpu=gpu, gpu_launch=gpu_launch, fold=fold, model=model)
    result.data["inference"] = gen["inference"]
    if gpu and isinstance(result.data.get("gpu"), dict) and gen.get("gpu_inference") is not None:
        result.data["gpu"]["inference"] = gen["gpu_inference"]
    written = _write_run_outputs(result, out_dir, trace_file, html_file)
    return result, written


@main.command()
@click.argument("arch")
@click.argument("workload")
@click.option("--op", "op_name", required=True, metavar="NAME",
              help="the op: an IR op name (as in ops.csv) or a module path such as h.0.mlp.c_fc")
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True,
              help="how many of a GEMM's best search candidates to show")
@click.option("--seq", type=int, help="sequence length for transformer workloads")
@click.option("--batch", type=int, help="batch size")
@click.option("--param", "param", multiple=True, metavar="NAME=VALUE", help="other workload parameter (repeatable)")
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE",
              help="override an arch field, e.g. --set arrays[0].rows=64 (repeatable)")
@click.option("--json", "as_json", is_flag=True, help="print the explanation as JSON")
@no_cache_option
@max_events_option
@handle_errors
def explain(arch: str, workload: str, op_name: str, top: int, seq: int | None, batch: int | None,
            param: tuple[str, ...], overrides: tuple[str, ...], as_json: bool, max_events: int | None = None) -> None:
    """Show what the mapping chose for one op of WORKLOAD on ARCH, and why.

    \b
    For a GEMM: the best --top candidates of the mapping search (estimated cycles, DRAM bytes,
    energy, tiles, the bound and the SRAM partition that caps the tile), the winner marked,
    and one line on what the runner-up loses on. For fused attention: the placement and query
    block with its estimate. For a vector op: its tiling.
    """
    import json

    from accelsim import api

    arch_spec = api.load_arch(arch, overrides)
    graph = api.load_graph(workload, _params(seq, batch, param))
    data = api.explain(arch_spec, graph, op_name, top=top, options=api.RunOptions(max_events=max_events))
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        from accelsim.report.terminal import print_explain

        print_explain(data, _console())


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", help="apply overrides before validating")
@handle_errors
def validate(files: tuple[str, ...], overrides: tuple[str, ...]) -> None:
    """Check architecture YAML FILES; list every problem with its YAML path."""
    from accelsim.arch.load import load_arch
    from accelsim.errors import Problem, SpecError

    problems: list[Problem] = []
    for f in files:
        try:
            spec = load_arch(f, overrides)
            click.echo(f"{f}: ok ({spec.name}: {len(spec.array_instances())} arrays, "
                       f"{spec.peak_macs_per_cycle} MACs/cycle, "
                       f"{spec.sram.total_bytes / 2**20:.2f} MiB SRAM, {spec.dram.bandwidth_gbps:g} GB/s DRAM)")
        except SpecError as e:
            problems.extend(e.problems)
    if problems:
        raise SpecError(problems)


@main.command()
@handle_errors
def workloads() -> None:
    """List the shipped workloads."""
    from accelsim.workload.registry import list_workloads

    for name, desc in list_workloads().items():
        click.echo(f"{name:28s} {desc}")
    click.echo(f"{'gemm:M=..,N=..,K=..':28s} one GEMM (built in; optional dtype=, batch=)")


@main.command()
@handle_errors
def archs() -> None:
    """List the shipped architectures."""
    from accelsim.arch.load import load_arch, shipped_archs

    for p in shipped_archs():
        s = load_arch(p)
        click.echo(f"{p.stem:22s} {s.description.strip().splitlines()[0] if s.description else s.name}")


@main.command()
@click.argument("workload")
@click.option("--seq", type=int)
@click.option("--batch", type=int)
@click.option("--param", "param", multiple=True, metavar="NAME=VALUE")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="graph JSON to write")
@handle_errors
def trace(workload: str, seq: int | None, batch: int | None, param: tuple[str, ...], output: str) -> None:
    """Trace WORKLOAD into an op graph and save it as JSON (runs later need no torch)."""
    from accelsim import api

    check_output_paths(files=(("-o", output),))
    g = api.load_graph(workload, _params(seq, batch, param))
    try:
        g.save(output)
    except OSError as e:
        raise AccelsimError(f"-o {output}: cannot write the graph ({e.strerror or e})") from None
    click.echo(f"{output}: {len(g.ops)} ops, {len(g.weights)} weights "
               f"({', '.join(f'{k} {v}' for k, v in g.op_counts().items())})")


@main.group()
def cache() -> None:
    """The trace and mapping caches: traced graphs and GEMM mapping-search results kept on disk
    so repeated runs need neither torch nor a new search.

    \b
    Location: $XDG_CACHE_HOME/accelsim/graphs and .../mappings (default ~/.cache/accelsim/).
    Entries are keyed by content (workload source and its imports, parameters, torch and
    accelsim versions; for mappings the GEMM, the architecture, the options and accelsim's
    code): an edit misses. Bypass both for one command with --no-cache.
    """


@cache.command("info")
@handle_errors
def cache_info() -> None:
    """Show where the cache is and what it holds."""
    from accelsim.report.terminal import fmt_bytes
    from accelsim.workload import cache as trace_cache

    inf = trace_cache.info()
    state = "on" if trace_cache.enabled() else f"off (${trace_cache.ENV_DISABLE} is set)"
    click.echo(f"trace cache: {inf.directory} ({state})")
    click.echo(f"{len(inf.entries)} graph(s), {fmt_bytes(inf.total_bytes)}")
    for e in inf.entries:
        params = ", ".join(f"{k}={v}" for k, v in (e.get("params") or {}).items())
        ops = f"{e['ops']} ops" if isinstance(e.get("ops"), int) else "? ops"
        click.echo(f"  {e['key'][:12]}  {str(e.get('spec') or '?'):24s} {params:24s} {ops:>9s} "
                   f"{fmt_bytes(e['bytes']):>10s}")
    from accelsim.mapping import search_cache

    d, n, b = search_cache.info()
    click.echo(f"mapping cache: {d} ({state}): {n} search result(s), {fmt_bytes(b)}")


@cache.command("clear")
@handle_errors
def cache_clear() -> None:
    """Delete every cached graph and mapping-search result."""
    from accelsim.mapping import search_cache
    from accelsim.report.terminal import fmt_bytes
    from accelsim.workload import cache as trace_cache

    n, b = trace_cache.clear()
    click.echo(f"trace cache: removed {n} file(s), {fmt_bytes(b)} ({trace_cache.cache_dir()})")
    n, b = search_cache.clear()
    click.echo(f"mapping cache: removed {n} file(s), {fmt_bytes(b)} ({search_cache.cache_dir()})")


def entry() -> None:
    """The ``accelsim`` console script: run the CLI, then end the process without the
    interpreter's teardown (about a second once torch is imported) when that is safe.

    Every output file is written and closed inside the command; here atexit handlers run, stdout
    and stderr are flushed, and ``os._exit`` skips the garbage collection of every module. When
    a non-daemon thread is still alive the normal exit path is taken. The API never does this.
    """
    import atexit
    import threading

    try:
        main.main(prog_name="accelsim")
        code: Any = 0
    except SystemExit as e:
        code = e.code
    if isinstance(code, str) or not (code is None or isinstance(code, int)):
        print(code, file=sys.stderr)  # SystemExit("message") semantics
        code = 1
    code = int(code or 0)
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    try:
        atexit._run_exitfuncs()  # noqa: SLF001 - what Py_Finalize would run first
    except Exception:  # noqa: BLE001 - an atexit handler's error must not change the exit code
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`accelsim run --json | head`)
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
