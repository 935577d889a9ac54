"""Run a sweep: expand points, simulate them in worker processes (or on a Dask cluster),
commit each finished point to the store, then write the tables and plots.

Flow of :func:`run_sweep`:

1. The workloads are traced **once**, here in the parent (:func:`accelsim.api.load_graph`);
   each point task carries its graph as JSON and workers rebuild it with ``Graph.from_json``
   (parsed once per worker process).
2. Each configuration (one combination of parameter values) becomes one point per workload.
   Its arch dict is the base with the values applied by
   :func:`~accelsim.arch.overrides.set_path`; it is validated here, so an invalid combination
   is recorded as status ``error`` without leaving the parent.
3. Every point has a content key (:func:`point_key`). Keys already in the store are skipped;
   the rest go to an :class:`Executor` -- a local process pool or a Dask ``Client`` -- through
   one code path, at most ``2 x workers`` in flight. The parent writes each result to the store
   as it completes (one committed row per point).
4. ``results.csv``/``.parquet`` list every point by index; ``pareto.csv`` and the plots follow.

Point functions (:func:`run_point`) are top-level, picklable and pure: the same task always
gives the same record, so a task re-run after a worker died is harmless.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accelsim.errors import AccelsimError, Problem, SimError, SpecError
from accelsim.sweep.spec import METRICS, LoadedSweep, Nsga2, Objective, extract_metrics, workload_label
from accelsim.sweep.store import PointRecord, Store

__all__ = [
    "DaskExecutor",
    "Executor",
    "InlineExecutor",
    "LocalExecutor",
    "Point",
    "PointTask",
    "SweepOutcome",
    "expand_configs",
    "make_executor",
    "point_key",
    "run_point",
    "run_sweep",
]

STORE_NAME = "sweep.sqlite"
#: A task whose worker process dies this many times is recorded as ``failed``.
MAX_TASK_TRIES = 3


# =============================================================================== point model


@dataclass(frozen=True)
class PointTask:
    """Everything a worker needs for one point: plain, picklable data."""

    key: str
    arch: dict[str, Any]  # validated arch dict (overrides applied)
    arch_file: str  # labels error messages
    graph_digest: str
    graph_json: str = field(repr=False)
    options: dict[str, Any] = field(default_factory=dict)  # {"mode": ..., "mapping": {...}}


@dataclass(frozen=True)
class Point:
    index: int  # row of results.csv
    config: int  # configuration number (grid index, sample order or NSGA-II trial)
    workload: int  # index into the sweep's workloads
    params: dict[str, Any]
    key: str
    task: PointTask | None  # None: invalid, ``error`` holds why
    error: str | None = None


def _canonical(x: Any) -> str:
    return json.dumps(x, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def point_key(arch_digest: str, graph_digest: str, options: Mapping[str, Any]) -> str:
    """SHA-256 over the arch digest (or an invalid arch's canonical JSON), the workload graph's
    digest, the run options and the accelsim version."""
    import accelsim

    text = _canonical({"arch": arch_digest, "graph": graph_digest, "options": dict(options),
                       "accelsim": accelsim.__version__})
    return hashlib.sha256(text.encode()).hexdigest()


def _run_options(opts: Mapping[str, Any]) -> Any:
    from accelsim.api import RunOptions
    from accelsim.mapping.mapper import MappingOptions

    mode = opts.get("mode", "pipelined")
    return RunOptions(mode=mode, mapping=MappingOptions(**{**dict(opts.get("mapping") or {}), "mode": mode}))


# =============================================================================== expansion


def expand_configs(loaded: LoadedSweep) -> list[dict[str, Any]]:
    """Parameter assignments (path -> value) for the grid and random strategies, in order.

    ``grid``: every combination, the first parameter varying slowest. ``random``: ``samples``
    distinct grid points drawn with ``random.Random(seed)`` (in draw order).
    """
    spec = loaded.spec
    dims = spec.dimensions()
    sizes = [len(d[0][1]) for d in dims]

    def assign(choice: Sequence[int]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for dim, i in zip(dims, choice):
            for path, values in dim:
                out[path] = values[i]
        return out

    if spec.strategy.kind == "grid":
        return [assign(c) for c in itertools.product(*(range(n) for n in sizes))]
    if spec.strategy.kind == "random":
        total = spec.grid_size()
        rng = random.Random(spec.strategy.seed)
        picks = rng.sample(range(total), min(spec.strategy.samples, total))
        out = []
        for flat in picks:
            choice = []
            for n in reversed(sizes):
                flat, r = divmod(flat, n)
                choice.append(r)
            out.append(assign(list(reversed(choice))))
        return out
    raise ValueError(f"strategy {spec.strategy.kind} is not expanded up front")


@dataclass
class _Context:
    loaded: LoadedSweep
    graphs: list[tuple[str, str]]  # per workload: (digest, graph json)
    labels: list[str]
    sim_s: float = 0.0  # time spent running points (first submit to last result)


def _make_points(ctx: _Context, config: int, params: dict[str, Any], first_index: int) -> list[Point]:
    """One point per workload for one configuration (validated here, in the parent)."""
    from accelsim.arch.load import arch_from_dict, spec_digest
    from accelsim.arch.overrides import set_path

    loaded = ctx.loaded
    arch: dict[str, Any] = loaded.base
    opts: dict[str, Any] = {"options": loaded.spec.options.model_dump()}
    error: str | None = None
    try:
        for path, value in params.items():
            if path.startswith("options."):
                opts = set_path(opts, path, value)
            else:
                arch = set_path(arch, path, value)
    except SpecError as e:
        error = f"{loaded.base_file}: {path}: {e.problems[0].message}"
    options = opts["options"]
    arch_id = _canonical(arch)
    if error is None:
        try:
            run_opts = _run_options(options).to_dict()
        except (TypeError, ValueError) as e:
            error = f"{loaded.file}: options: {e}"
    if error is None:
        try:
            arch_id = spec_digest(arch_from_dict(arch, loaded.base_file))
        except SpecError as e:
            error = str(e)
    points = []
    for w, (digest, gjson) in enumerate(ctx.graphs):
        key = point_key(arch_id, digest, options if error else run_opts)
        task = None if error else PointTask(key, arch, loaded.base_file, digest, gjson, options)
        points.append(Point(first_index + w, config, w, dict(params), key, task, error))
    return points


# =============================================================================== worker side

_GRAPHS: dict[str, Any] = {}


def _limit_threads() -> None:
    """One thread per worker process: points run in parallel processes, not parallel BLAS."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            torch.set_num_threads(1)
        except Exception:  # noqa: BLE001 - best effort
            pass


def _die_with_parent() -> None:
    """Make this worker process end when the sweep process that spawned it dies, even by
    SIGKILL (which runs no cleanup in the parent): on Linux the kernel sends SIGKILL on the
    parent's death (``prctl(PR_SET_PDEATHSIG)``); everywhere a daemon thread waits on the
    parent's sentinel pipe (readable once the parent is gone) and exits the process."""
    import multiprocessing
    import signal

    parent = multiprocessing.parent_process()
    if parent is None:
        return
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            PR_SET_PDEATHSIG = 1
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the thread below suffices
            pass
    if parent.pid is not None and os.getppid() != parent.pid:  # died before prctl took effect
        os._exit(1)
    sentinel = getattr(parent, "sentinel", None)

    def watch() -> None:
        if sentinel is not None:
            from multiprocessing.connection import wait

            try:
                wait([sentinel])
            except OSError:
                pass
        else:  # pragma: no cover - every start method gives spawned children a sentinel
            while os.getppid() == parent.pid:
                time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="accelsim-parent-watch", daemon=True).start()


def _worker_init() -> None:
    _limit_threads()
    _die_with_parent()


def run_point(task: PointTask) -> dict[str, Any]:
    """Simulate one point (in a worker). Never raises: returns a record dict with ``status``
    ``ok``, ``error`` (an invalid design point) or ``failed`` (an internal error)."""
    import multiprocessing

    if multiprocessing.parent_process() is not None:  # a worker process (local pool or Dask)
        _limit_threads()
    t0 = time.perf_counter()
    out: dict[str, Any] = {"key": task.key, "metrics": None, "error": None, "result": None}
    try:
        from accelsim import api
        from accelsim.arch.load import arch_from_dict
        from accelsim.workload.ir import Graph

        arch = arch_from_dict(task.arch, task.arch_file)
        if '"format": "accelsim.generation/1"' in task.graph_json[:400]:
            from accelsim.inference.costs import run_generation_bundle

            result = run_generation_bundle(task.graph_json, arch, _run_options(task.options))
        else:
            graph = _GRAPHS.get(task.graph_digest)
            if graph is None:
                graph = _GRAPHS[task.graph_digest] = Graph.from_json(task.graph_json)
            result = api.simulate(arch, graph, _run_options(task.options))
        out["result"] = result.to_json()
        out["metrics"] = extract_metrics(result.data)
        out["status"] = "ok"
    except SimError as e:
        out["status"], out["error"] = "failed", f"{type(e).__name__}: {e}"
    except AccelsimError as e:
        out["status"], out["error"] = "error", str(e)
    except Exception as e:  # noqa: BLE001 - recorded, retried on the next run
        tb = traceback.format_exc(limit=-3).strip().splitlines()
        out["status"], out["error"] = "failed", f"{type(e).__name__}: {e}\n" + "\n".join(tb[-6:])
    out["wall_s"] = time.perf_counter() - t0
    return out


# =============================================================================== executors


class Executor:
    """Where point tasks run. :func:`run_sweep` only uses ``submit``, ``wait`` and ``close``."""

    name = "executor"
    workers = 1

    def submit(self, task: PointTask) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def wait(self, futures: set[Any]) -> tuple[set[Any], set[Any]]:  # pragma: no cover
        """Block until at least one future is done; return (done, not done)."""
        raise NotImplementedError

    def outcome(self, future: Any) -> dict[str, Any] | None:
        """The task's record, or None when its worker died (the task is then resubmitted)."""
        return future.result()  # type: ignore[no-any-return]

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return f"{self.name} ({self.workers} workers)"


class InlineExecutor(Executor):
    """Runs each task in this process when submitted (``--workers 0``; debugging, tests)."""

    name = "inline"

    def submit(self, task: PointTask) -> Any:
        from concurrent.futures import Future

        f: Future[dict[str, Any]] = Future()
        f.set_result(run_point(task))
        return f

    def wait(self, futures: set[Any]) -> tuple[set[Any], set[Any]]:
        return set(futures), set()


class LocalExecutor(Executor):
    """A ``concurrent.futures.ProcessPoolExecutor`` of spawned, single-threaded workers.

    A worker process that dies (killed, out of memory) breaks the pool; the pool is then
    rebuilt and the lost tasks are resubmitted.
    """

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._pool: Any = None
        self._generation = 0  # bumped on every restart; futures remember theirs

    def _ensure(self) -> Any:
        if self._pool is None:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=mp.get_context("spawn"), initializer=_worker_init
            )
        return self._pool

    def submit(self, task: PointTask) -> Any:
        from concurrent.futures.process import BrokenProcessPool

        try:
            fut = self._ensure().submit(run_point, task)
        except BrokenProcessPool:
            self._restart()
            fut = self._ensure().submit(run_point, task)
        fut.accelsim_generation = self._generation
        return fut

    def wait(self, futures: set[Any]) -> tuple[set[Any], set[Any]]:
        from concurrent.futures import FIRST_COMPLETED, wait

        done, pending = wait(futures, return_when=FIRST_COMPLETED)
        return set(done), set(pending)

    def outcome(self, future: Any) -> dict[str, Any] | None:
        from concurrent.futures import CancelledError
        from concurrent.futures.process import BrokenProcessPool

        try:
            return future.result()  # type: ignore[no-any-return]
        except (BrokenProcessPool, CancelledError):
            if getattr(future, "accelsim_generation", None) == self._generation:
                self._restart()  # only once per broken pool, never the fresh one
            return None

    def _restart(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._generation += 1

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class DaskExecutor(Executor):
    """Tasks on a Dask distributed cluster (``--scheduler tcp://HOST:PORT``).

    The scheduler reschedules the tasks of a worker that dies; a task that kills
    ``distributed.scheduler.allowed-failures`` workers in a row comes back as ``KilledWorker``
    and is resubmitted here up to :data:`MAX_TASK_TRIES` times.
    """

    name = "dask"

    def __init__(self, address: str | Any, timeout_s: float = 20.0) -> None:
        from distributed import Client

        if isinstance(address, str):
            check_scheduler_address(address)
            try:
                self.client = Client(address, timeout=f"{timeout_s}s", set_as_default=False)
            except Exception as e:  # noqa: BLE001 - any failure to connect is the address's problem
                raise AccelsimError(f"--scheduler {address}: cannot connect to the Dask scheduler "
                                    f"({type(e).__name__}: {e})") from None
            self._own = True
        else:  # an existing Client
            self.client, self._own = address, False
        self.address = self.client.scheduler.address
        from distributed import as_completed

        # every submitted future is tracked here; wait() returns the next finished batch
        self._completed = as_completed(loop=self.client.loop)
        self.workers = max(1, sum(self.client.nthreads().values()))

    def submit(self, task: PointTask) -> Any:
        fut = self.client.submit(run_point, task, pure=False)
        self._completed.add(fut)
        return fut

    def wait(self, futures: set[Any]) -> tuple[set[Any], set[Any]]:
        done = set(self._completed.next_batch(block=True)) & futures
        return done, futures - done

    def outcome(self, future: Any) -> dict[str, Any] | None:
        from distributed import KilledWorker

        try:
            return future.result()  # type: ignore[no-any-return]
        except KilledWorker:
            return None
        finally:
            future.release()

    def close(self) -> None:
        if self._own:
            self.client.close()

    def describe(self) -> str:
        return f"dask at {self.address} ({self.workers} worker threads)"


#: Transports the Dask client can reach a scheduler over.
SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss", "inproc", "ucx")


def check_scheduler_address(address: str) -> None:
    """Refuse a ``--scheduler`` that is not ``SCHEME://HOST:PORT`` (exit 2, naming it), before
    any work starts."""
    import re

    m = re.fullmatch(r"([a-z]+)://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+)(?::(\d+))?/?", address.strip())
    why = None
    if m is None:
        why = "expected SCHEME://HOST:PORT, e.g. tcp://10.0.0.5:8786"
    elif m.group(1) not in SCHEDULER_SCHEMES:
        why = f"unknown scheme {m.group(1)!r} (one of {', '.join(SCHEDULER_SCHEMES)})"
    elif m.group(3) is not None and not 0 < int(m.group(3)) < 65536:
        why = f"port {m.group(3)} is out of range (1..65535)"
    if why:
        raise AccelsimError(f"--scheduler {address!r}: {why}")


def make_executor(workers: int | None = None, scheduler: str | None = None) -> Executor:
    """A Dask executor when ``scheduler`` is given, inline for ``workers == 0``, else a local pool."""
    if scheduler:
        return DaskExecutor(scheduler)
    if workers == 0:
        return InlineExecutor()
    return LocalExecutor(workers)


# =============================================================================== the sweep


@dataclass
class SweepOutcome:
    """What :func:`run_sweep` did."""

    name: str
    out_dir: Path
    points: list[Point]
    records: dict[str, PointRecord]
    frame: Any  # pandas DataFrame of results.csv
    pareto: Any  # pandas DataFrame of pareto.csv
    objectives: list[Objective]  # after fallbacks (energy_j -> dram_bytes when absent)
    computed: int  # points simulated by this run
    sim_s: float  # wall time from the first submitted point to the last result
    cached: int  # points found in the store
    wall_s: float
    files: list[Path]
    parameters: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for p in self.points if self.records[p.key].status == status)


class _Progress:
    def __init__(self, total: int, enabled: bool, label: str) -> None:
        self.enabled = enabled
        self._p: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            # ETA is ours: (time per simulated point so far) x (points left), from the first
            # result on; rich's own estimate needs many samples and counts stored points too.
            self._p = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA {task.fields[eta]}"),
                console=Console(stderr=True), transient=False,
            )
            self._task = self._p.add_task(label, total=total, rate="", eta="-")
            self._p.start()
        self._t0 = time.perf_counter()
        self._computed = 0
        self._done = 0
        self._total = total

    def advance(self, n: int = 1, computed: bool = True) -> None:
        if computed:
            self._computed += n
        self._done += n
        if self._p is not None:
            el = time.perf_counter() - self._t0
            rate = f"{60 * self._computed / el:.1f} pts/min" if el > 0 and self._computed else ""
            left = max(0, self._total - self._done)
            eta = "-" if not self._computed else f"{int(el / self._computed * left) // 60}:" \
                f"{int(el / self._computed * left) % 60:02d}"
            self._p.update(self._task, advance=n, rate=rate, eta=eta)

    def grow(self, total: int) -> None:
        self._total = total
        if self._p is not None:
            self._p.update(self._task, total=total)

    def stop(self) -> None:
        if self._p is not None:
            self._p.stop()


def _error_record(p: Point, label: str) -> PointRecord:
    return PointRecord(p.key, p.index, label, p.params, "error", None, p.error, None, 0.0, time.time())


#: How often (s) a sweep waiting for points another sweep claimed looks for their results.
CLAIM_POLL_S = 0.25


def _execute(
    points: Sequence[Point],
    ctx: _Context,
    store: Store,
    get_executor: Callable[[], Executor],
    progress: _Progress,
    on_result: Callable[[PointRecord], None] | None,
) -> int:
    """Store a record for every point not yet stored; returns how many were computed here.

    Each point is claimed in the store right before it is handed to a worker; a point another
    live sweep has claimed is left to it, and this sweep waits for its result (taking it over
    if that sweep dies), so two sweeps on one store never compute a point twice.
    """
    done = store.done_keys()
    todo: list[Point] = []
    queued: set[str] = set()
    for p in points:
        if p.key in done or p.key in queued:
            if p.key in done:
                progress.advance(computed=False)
            continue
        if p.task is None:  # invalid: recorded right away, never shipped
            rec = _error_record(p, ctx.labels[p.workload])
            store.put(rec)
            done.add(p.key)
            progress.advance(computed=False)
            if on_result:
                on_result(rec)
            continue
        queued.add(p.key)
        todo.append(p)
    # duplicates of a queued key (same config reached twice) finish with their first copy
    dup_count = {k: 0 for k in queued}
    for p in points:
        if p.key in queued:
            dup_count[p.key] += 1
    if not todo:
        return 0
    ex: Executor | None = None
    window = 4
    queue: deque[Point] = deque(todo)
    waiting: list[Point] = []  # claimed by another live sweep
    inflight: dict[Any, tuple[Point, int]] = {}

    def submit(p: Point, tries: int) -> None:
        nonlocal ex, window
        assert p.task is not None
        if ex is None:
            ex = get_executor()
            window = max(4, 2 * ex.workers)
        store.log_attempt(p.key)
        inflight[ex.submit(p.task)] = (p, tries)

    def finished_elsewhere(p: Point) -> None:
        progress.advance(dup_count.get(p.key, 1), computed=False)
        if on_result:
            rec = store.get(p.key, with_result=False)
            if rec is not None:
                on_result(rec)

    def next_claimed() -> Point | None:
        while queue:
            p = queue.popleft()
            state = store.claim(p.key)
            if state == "claimed":
                return p
            if state == "done":
                finished_elsewhere(p)
            else:
                waiting.append(p)
        return None

    t_start = time.perf_counter()
    computed = 0
    last_beat = time.monotonic()
    while True:
        while len(inflight) < window:
            nxt = next_claimed()
            if nxt is None:
                break
            submit(nxt, 1)
        if inflight:
            assert ex is not None
            finished, _ = ex.wait(set(inflight))
            for fut in sorted(finished, key=lambda f: inflight[f][0].index):
                p, tries = inflight.pop(fut)
                out = ex.outcome(fut)
                if out is None:  # the worker died under it
                    if tries < MAX_TASK_TRIES:
                        submit(p, tries + 1)
                        continue
                    out = {"status": "failed", "metrics": None, "result": None, "wall_s": None,
                           "error": f"worker process died {tries} times running this point"}
                rec = PointRecord(p.key, p.index, ctx.labels[p.workload], p.params, out["status"],
                                  out["metrics"], out["error"], out["result"], out["wall_s"], time.time())
                store.put(rec)
                computed += 1
                progress.advance(dup_count.get(p.key, 1))
                if on_result:
                    on_result(rec)
            if time.monotonic() - last_beat > 30:
                store.heartbeat()
                last_beat = time.monotonic()
            continue
        if not waiting:
            break
        # Only points another sweep is computing are left: wait for them (or for their owner to die).
        time.sleep(CLAIM_POLL_S)
        store.heartbeat()
        done_now, held = store.done_keys(), store.claims()
        still = []
        for p in waiting:
            if p.key in done_now:
                finished_elsewhere(p)
            elif p.key in held and held[p.key][1]:
                still.append(p)
            else:  # released without a final result, or its owner died: try to claim it
                queue.append(p)
        waiting[:] = still
    ctx.sim_s += time.perf_counter() - t_start
    return computed


def _trace_workloads(loaded: LoadedSweep) -> list[tuple[str, str]]:
    """Trace each workload once; (digest, graph JSON) per workload."""
    from accelsim import api

    out = []
    problems = []
    for i, w in enumerate(loaded.spec.workloads):
        try:
            if w.generate is not None:
                from accelsim.inference.costs import generation_bundle

                text = generation_bundle(api.load_arch(loaded.base_file) if loaded.base_file else None,
                                         w.name, w.params, w.generate.prompt, w.generate.generate,
                                         w.generate.batch, w.generate.fold)
                out.append((hashlib.sha256(text.encode()).hexdigest(), text))
                continue
            g = api.load_graph(w.name, w.params)
        except AccelsimError as e:
            problems.append(Problem(loaded.file, f"workloads[{i}]", str(e)))
            continue
        text = g.to_json()
        out.append((hashlib.sha256(text.encode()).hexdigest(), text))
    if problems:
        raise SpecError(problems)
    return out


def _trial_value(recs: Sequence[PointRecord], metric: str) -> float | None:
    """A trial's objective: the mean over its workloads (None if any point failed). A metric no
    point reports falls back as in :func:`accelsim.sweep.pareto.resolve_objectives`."""
    from accelsim.sweep.pareto import FALLBACKS, objective_value

    vs: list[float] = []
    for r in recs:
        if r.status != "ok":
            return None
        v = objective_value(r.metrics, metric, r.result)
        for fb in FALLBACKS.get(metric, ()) if v is None else ():
            v = objective_value(r.metrics, fb)
            if v is not None:
                break
        if v is None:
            return None
        vs.append(float(v))
    return sum(vs) / len(vs) if vs else None


def _nsga2(
    ctx: _Context,
    store: Store,
    get_executor: Callable[[], Executor],
    progress: _Progress,
    on_result: Callable[[PointRecord], None] | None,
) -> tuple[list[Point], int]:
    """NSGA-II with Optuna's ask/tell: one population per batch, told in trial order (so a
    seeded run, and a resumed one, asks the same trials)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = ctx.loaded.spec
    custom = any(o.metric not in METRICS for o in spec.objectives)  # needs the stored result JSON
    st = spec.strategy
    assert isinstance(st, Nsga2)
    objectives = list(spec.objectives)
    study = optuna.create_study(
        directions=["minimize" if o.direction == "min" else "maximize" for o in objectives],
        sampler=optuna.samplers.NSGAIISampler(population_size=st.population, seed=st.seed),
    )
    dims = spec.dimensions()
    names = ["+".join(p for p, _ in d) for d in dims]
    simple = [len(d) == 1 and all(v is None or isinstance(v, (bool, int, float, str)) for v in d[0][1])
              for d in dims]
    points: list[Point] = []
    computed = 0
    n_w = len(ctx.graphs)
    while len(points) < st.trials * n_w:
        batch = min(st.population, st.trials - len(points) // n_w)
        trials = [study.ask() for _ in range(batch)]
        new: list[tuple[Any, list[Point]]] = []
        for t in trials:
            params: dict[str, Any] = {}
            for d, name, is_simple in zip(dims, names, simple):
                if is_simple:
                    v = t.suggest_categorical(name, d[0][1])
                    i = d[0][1].index(v)
                else:
                    i = t.suggest_categorical(name, list(range(len(d[0][1]))))
                for path, values in d:
                    params[path] = values[i]
            pts = _make_points(ctx, t.number, params, len(points))
            points.extend(pts)
            new.append((t, pts))
        computed += _execute([p for _, ps in new for p in ps], ctx, store, get_executor, progress, on_result)
        recs = store.get_many([p.key for _, ps in new for p in ps], with_result=custom)
        for t, pts in new:
            values = [_trial_value([recs[p.key] for p in pts], o.metric) for o in objectives]
            if any(v is None for v in values):
                study.tell(t, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(t, values)
    return points, computed


def run_sweep(
    loaded: LoadedSweep,
    out_dir: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    executor: Executor | None = None,
    resume: bool = True,
    progress: bool = False,
    plots: bool = True,
    on_result: Callable[[PointRecord], None] | None = None,
) -> SweepOutcome:
    """Run (or resume) a sweep and write its outputs into ``out_dir``.

    ``executor`` overrides ``workers``/``scheduler`` (e.g. an existing Dask client wrapped in
    :class:`DaskExecutor`). ``resume=False`` deletes the store first. ``on_result`` is called
    in the parent after each point is committed.
    """
    t0 = time.perf_counter()
    if scheduler and executor is None:
        check_scheduler_address(scheduler)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise AccelsimError(f"--out {out}: exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AccelsimError(f"--out {out}: cannot create the output directory ({e.strerror or e})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise AccelsimError(f"--out {out}: the output directory is not writable")
    db = out / STORE_NAME
    if not resume:
        Store.remove(db)
    from accelsim.report.progress import status

    with status(f"tracing {len(loaded.spec.workloads)} workload(s) (or reading them from the trace cache)",
                progress and sys.stderr.isatty()):
        graphs = _trace_workloads(loaded)
    ctx = _Context(loaded, graphs, [workload_label(w) for w in loaded.spec.workloads])
    made: list[Executor] = []

    def get_executor() -> Executor:
        if executor is not None:
            return executor
        if not made:
            made.append(make_executor(workers, scheduler))
        return made[0]

    spec = loaded.spec
    with Store(db) as store:
        store.set_meta("sweep", {"name": loaded.name, "file": Path(loaded.file).name,
                                 "spec": spec.model_dump(mode="json")})
        before = store.done_keys()
        try:
            if spec.strategy.kind == "nsga2":
                bar = _Progress(spec.strategy.trials * len(graphs), progress, loaded.name)
                try:
                    points, computed = _nsga2(ctx, store, get_executor, bar, on_result)
                finally:
                    bar.stop()
            else:
                configs = expand_configs(loaded)
                points = []
                for c, params in enumerate(configs):
                    points.extend(_make_points(ctx, c, params, len(points)))
                bar = _Progress(len(points), progress, loaded.name)
                try:
                    computed = _execute(points, ctx, store, get_executor, bar, on_result)
                finally:
                    bar.stop()
        finally:
            for ex in made:
                ex.close()
        custom = any(o.metric not in METRICS for o in spec.objectives)  # read from result JSON
        records = store.get_many([p.key for p in points], with_result=custom)
    cached = sum(1 for k in {p.key for p in points} if k in before)

    from accelsim.sweep.pareto import build_frame, pareto_frame, resolve_objectives

    objectives, notes = resolve_objectives(spec.objectives, records.values())
    frame = build_frame(points, records, spec.parameter_names(), ctx.labels, objectives)
    pareto = pareto_frame(frame, objectives)
    files = _write_outputs(out, frame, pareto)
    if plots:
        # The plots are a pure function of results.csv, the objectives and the parameters: a
        # resume that changed none of them keeps the plot files (matplotlib is most of a fully
        # cached resume's time) -- .plots.key records what they were drawn from.
        from accelsim import __version__

        stamp_file = out / ".plots.key"
        h = hashlib.sha256((out / "results.csv").read_bytes())
        h.update(json.dumps([[o.metric, o.direction] for o in objectives], sort_keys=True).encode())
        h.update(json.dumps(spec.parameter_names()).encode() + __version__.encode())
        stamp = h.hexdigest()
        old = [out / f"{n}.{ext}" for n in ("pareto", "sensitivity") for ext in ("png", "svg")]
        if stamp_file.is_file() and stamp_file.read_text().strip() == stamp and all(f.is_file() for f in old):
            files += old
        else:
            from accelsim.sweep.plots import pareto_plot, sensitivity_plot

            stamp_file.unlink(missing_ok=True)
            files += pareto_plot(frame, objectives, out / "pareto")
            files += sensitivity_plot(frame, spec.parameter_names(), objectives, out / "sensitivity")
            stamp_file.write_text(stamp + "\n")
    from accelsim.report.sweep_html import write_sweep_html  # the Pareto plot (SVG) and the table

    files.append(write_sweep_html(out / "report.html", frame, objectives, spec.parameter_names(), loaded.name,
                                  f"{len(points)} points"))
    return SweepOutcome(loaded.name, out, points, records, frame, pareto, objectives, computed,
                        ctx.sim_s, cached, time.perf_counter() - t0, [db, *files], spec.parameter_names(), notes)


def _replace_into(path: Path, write: Callable[[Path], None]) -> Path:
    """Write ``path`` through a temporary file renamed into place: a reader (or a second sweep
    on the same store writing the same tables) never sees a half-written file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as e:
        raise AccelsimError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _write_outputs(out: Path, frame: Any, pareto: Any) -> list[Path]:
    files = [_replace_into(out / "results.csv", lambda p: frame.to_csv(p, index=False, lineterminator="\n"))]
    try:
        files.append(_replace_into(out / "results.parquet", lambda p: frame.to_parquet(p, index=False)))
    except ImportError:  # pyarrow missing: CSV is the contract, parquet a convenience
        pass
    files.append(_replace_into(out / "pareto.csv", lambda p: pareto.to_csv(p, index=False, lineterminator="\n")))
    return files


def summary_line(o: SweepOutcome) -> str:
    """One line that accounts for every point: its status (``error``: the configuration or input
    was refused, the error column says why; ``failed``: a worker died or hit an internal error),
    and where it came from (simulated now, already in the store, or a duplicate of another point
    with the same configuration, simulated once)."""
    n = len(o.points)
    parts = [f"{o.count('ok')} ok"]
    if o.count("error"):
        parts.append(f"{o.count('error')} error (refused configuration or input: see the error column)")
    if o.count("failed"):
        parts.append(f"{o.count('failed')} failed (worker died or internal error: rerun to retry)")
    dups = n - len({p.key for p in o.points})
    rate = f" ({60 * o.computed / o.sim_s:.1f} points/min)" if o.computed and o.sim_s > 0 else ""
    where = [f"{o.computed} simulated in {o.sim_s:.1f} s{rate}", f"{o.cached} from the store"]
    if dups:
        where.append(f"{dups} duplicate{'s' if dups != 1 else ''} of other points (same configuration, simulated once)")
    return f"{o.name}: {n} points ({', '.join(parts)}); {', '.join(where)}; {o.wall_s:.1f} s in all"

