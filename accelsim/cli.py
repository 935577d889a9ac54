"""The ``accelsim`` command line: a thin layer over :mod:`accelsim.api`.

Exit codes: 0 ok; 1 a check, regression gate or access policy failed; 2 bad input
(spec, workload or mapping error); 3 internal error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import warnings
from pathlib import Path

import click

from accelsim.errors import AccelsimError

# torch.export emits deprecation chatter that is not actionable for accelsim users.
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning)

DEFAULT_WORKLOAD = "gpt2-small"


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    import shutil

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
        out[k.strip()] = yaml.safe_load(v)
    return out


class _LazyGroup(click.Group):
    """Commands that live in other packages load on demand: no import cycles, and
    ``accelsim run`` does not pay for importing dask or optuna."""

    LAZY = {
        "report": ("accelsim.report.cli", "report"),
        "sweep": ("accelsim.sweep.cli", "sweep"),
        "regress": ("accelsim.regress.cli", "regress"),
        "gpu-calibration": ("accelsim.gpu.cli", "gpu_calibration"),
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
@click.version_option(package_name="accelsim")
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
@click.option("--sparse-decoder", is_flag=True,
              help="map a TopK SAE decoder sparsely: gather only the k active rows per token")
@click.option("--check", "check", is_flag=False, flag_value="outputs", default=None,
              type=click.Choice(["outputs", "all"]),
              help="functional check: run the mapped program in numpy at the arch's precision and "
                   "compare with PyTorch (--check: outputs; --check=all: every tensor); exit 1 on failure")
@click.option("--enforce", is_flag=True,
              help="make residual access-policy violations an error (exit 1)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="write result.json and ops.csv here")
@click.option("--trace", "trace_file", type=click.Path(dir_okay=False),
              help="write a Chrome/Perfetto trace JSON (one track per unit)")
@click.option("--html", "html_file", type=click.Path(dir_okay=False), help="write a self-contained HTML report")
@click.option("--json", "as_json", is_flag=True, help="print result JSON to stdout (no tables)")
@click.option("--ops", "n_ops", type=int, default=12, show_default=True, help="rows of the per-op table (0: all)")
@click.option("-q", "--quiet", is_flag=True, help="print only the summary line")
@handle_errors
def run(arch: str | None, workload: str | None, seq: int | None, batch: int | None,
        param: tuple[str, ...], overrides: tuple[str, ...], compat: str | None,
        gpu: str, no_gpu: bool, sparse_decoder: bool, check: str | None, enforce: bool,
        out_dir: str | None,
        trace_file: str | None, html_file: str | None, as_json: bool, n_ops: int, quiet: bool) -> None:
    """Simulate WORKLOAD on the architecture ARCH and report latency and utilisation.

    \b
    ARCH      a YAML file or a shipped name (default: datacenter-bf16)
    WORKLOAD  a shipped name (gpt2-tiny, gpt2-small, ...), path/to/file.py:factory,
              a saved graph .json, or gemm:M=..,N=..,K=.. (default: gpt2-small)
    """
    from accelsim import api
    from accelsim.arch.load import DEFAULT_ARCH
    from accelsim.mapping.mapper import MappingOptions
    from accelsim.report.terminal import print_run

    arch_spec = api.load_arch(arch or DEFAULT_ARCH, overrides)
    params = _params(seq, batch, param)
    traced = api.load_traced(workload or DEFAULT_WORKLOAD, params) if check else None
    graph = traced.graph if traced is not None else api.load_graph(workload or DEFAULT_WORKLOAD, params)
    opts = api.RunOptions(mode="scalesim" if compat == "scalesim" else "pipelined",
                          gpu=None if no_gpu else gpu,
                          mapping=MappingOptions(sparse_decoder=sparse_decoder))
    result = api.simulate(arch_spec, graph, opts)
    if traced is not None:
        api.check(result, traced, check or "outputs")
    # Results are written and shown first: a failing gate never loses them.
    written = result.write(out_dir) if out_dir else []
    if trace_file:
        from accelsim.report.chrome_trace import write_chrome_trace

        write_chrome_trace(result, trace_file)
        written.append(Path(trace_file))
    if html_file:
        from accelsim.report.html import write_html

        written.append(write_html(result.data, html_file))
    if as_json:
        click.echo(result.to_json(), nl=False)
    else:
        print_run(result, _console(), n_ops=n_ops, quiet=quiet, written=written)
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

    g = api.load_graph(workload, _params(seq, batch, param))
    g.save(output)
    click.echo(f"{output}: {len(g.ops)} ops, {len(g.weights)} weights ({', '.join(f'{k} {v}' for k, v in g.op_counts().items())})")


if __name__ == "__main__":  # pragma: no cover
    main()
