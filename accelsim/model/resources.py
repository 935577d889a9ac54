"""How much work a run will be, estimated before mapping (pure, closed form, milliseconds).

:func:`estimate_resources` reads only the graph's shapes and the architecture's array and SRAM
sizes -- no mapping search, no tiles -- and returns the tile commands, DMA transfers, SimPy
events and memory the mapped program and its simulation will take. :func:`check_resources`
refuses (:class:`~accelsim.errors.ResourceError`, exit 2) a run whose estimate is above the
event limit, so that a 16384^3 GEMM on a 16x16 array or a GEMM with M = 10^12 is an error
message naming the estimate and the limit instead of minutes of growing memory.

Per op:

* **GEMM-like** (``linear``, ``matmul``, ``conv*`` through the shared GEMM view): the fewest
  tiles of a ``batch x M x N x K`` GEMM whose double-buffered operand tiles fit the SRAM
  partitions' tile banks on the arrays of the largest group (all of them, or as many as the
  SRAM can give buffers; the bank plan the mapper uses):
  the two dimensions along the array are taken in whole folds (halvings down to one fold, or
  the whole), the third as large as every partition allows. Each tile is one or two loads
  plus a store per output tile. A grouped convolution counts as the cheaper of that and a
  vector-unit pass over its output (the lowering also packs groups or uses the vector unit).
* **attention** (``sdpa``, fused): ``3 x heads x ceil(L / bq)`` tiles (QK^T, softmax, P.V per
  query block) with the largest query block whose score buffers fit the vector unit's share or
  the resident area; unfused, two GEMMs and a softmax per head group.
* **vector** ops and copying views: the mapper's own tile count (bytes over half the vector
  unit's buffer, elements over ``max_vector_tile_elems``). Free views and constants: none.

The search may pick smaller tiles than the fewest-tile fit (to balance arrays or overlap
loads), so the estimate is a floor of the tile count in the cases that matter (large GEMMs);
``docs/configuration.md`` records how close it comes on the shipped workloads.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from accelsim.arch.spec import PRECISION_BYTES, ArchSpec
from accelsim.errors import ResourceError, SpecError

if TYPE_CHECKING:
    from accelsim.mapping.options import MappingOptions
    from accelsim.workload.ir import Graph, Op

__all__ = ["DEFAULT_MAX_EVENTS", "ENV_MAX_EVENTS", "OpWork", "ResourceEstimate", "check_resources",
           "estimate_resources", "resolve_max_events"]

#: The default limit on estimated simulation events per simulated program. Every shipped
#: workload on every shipped architecture stays well under it (tests/model/test_resources.py).
DEFAULT_MAX_EVENTS = 25_000_000
#: Environment variable that sets the limit (``--max-events`` and ``RunOptions.max_events`` win).
ENV_MAX_EVENTS = "ACCELSIM_MAX_EVENTS"

#: SimPy events per tile and per DMA transfer (sequencer issue, queue and buffer slots, the
#: unit, compute, drain; a transfer's engine request, timeout and release, its join). Measured
#: on the shipped workloads: docs/configuration.md.
EVENTS_PER_TILE = 7
EVENTS_PER_TRANSFER = 4
#: Python memory per tile of the mapped program (the Tile, its transfers and SRAM accesses, the
#: simulator's per-tile and per-transfer records), bytes; and a fixed base.
BYTES_PER_TILE = 3500
BYTES_BASE = 64 * 2**20


@dataclass(frozen=True)
class OpWork:
    """The estimate of one IR op."""

    name: str
    kind: str
    tiles: int
    transfers: int


@dataclass(frozen=True)
class ResourceEstimate:
    """What a run will take: tile commands, DMA transfers, SimPy events, memory (bytes)."""

    tiles: int
    transfers: int
    events: int
    memory_bytes: int
    ops: int
    largest: tuple[OpWork, ...]  # the ops with the most tiles, most first (at most 3)

    def to_dict(self) -> dict[str, Any]:
        return {"tiles": self.tiles, "transfers": self.transfers, "events": self.events,
                "memory_bytes": self.memory_bytes, "ops": self.ops,
                "largest": [{"op": o.name, "kind": o.kind, "tiles": o.tiles} for o in self.largest]}


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _folds(total: int, fold: int) -> list[int]:
    """Tile sizes along a dimension mapped onto ``fold`` PEs: whole folds by halvings, or all."""
    if total <= fold:
        return [total]
    out = {total}
    f = fold
    while f < total:
        out.add(f)
        f *= 2
    return sorted(out)


class _Machine:
    """The few architecture numbers the estimate needs (per op mapping options)."""

    def __init__(self, arch: ArchSpec, opts: MappingOptions) -> None:
        from accelsim.mapping.banks import bank_plan

        banks = bank_plan(arch, opts.resident_fraction)
        self.tile_bytes = banks.tile_bytes
        self.role_part = dict(banks.role_part)
        self.vector_bytes = banks.vector_bytes
        self.resident = banks.parts[banks.resident_part].resident_bytes
        a0 = arch.arrays[0]
        self.elem = PRECISION_BYTES[a0.precision]
        self.acc = PRECISION_BYTES[a0.acc_precision]
        # the group large ops use: the most MACs per cycle (the first of equals)
        g = max(arch.arrays, key=lambda a: a.rows * a.cols * a.count)
        self.rows, self.cols, self.count, self.dataflow = g.rows, g.cols, g.count, g.dataflow
        self.dram_bpc = max(1e-9, arch.dram.bandwidth_gbps / arch.clock_ghz)
        self.issue = 0 if opts.mode == "scalesim" else arch.controller.sequencer.issue_cycles
        self.xfer_overhead = arch.controller.dma.setup_cycles + arch.dram.latency_ns * arch.clock_ghz
        self.dma_setup = arch.controller.dma.setup_cycles
        self.dma_engines = arch.controller.dma.engines
        self.opts = opts
        self._gemm: dict[tuple[int, int, int, int], tuple[int, int]] = {}

    def tbytes(self, dtype: str, numel: int) -> int:
        from accelsim.workload.ir import DTYPE_BYTES

        if dtype.startswith(("float", "bfloat")):
            return numel * self.elem
        return numel * min(DTYPE_BYTES.get(dtype, 4), 4)

    def gemm(self, batch: int, M: int, N: int, K: int) -> tuple[int, int]:
        """(tiles, transfers) of a batch of M x N x K GEMMs (:meth:`_gemm_fit`)."""
        key = (batch, M, N, K)
        hit = self._gemm.get(key)
        if hit is None:
            hit = self._gemm[key] = self._gemm_fit(batch, M, N, K)
        return hit

    def _gemm_fit(self, batch: int, M: int, N: int, K: int) -> tuple[int, int]:
        """The tiling a latency-minded search would pick, by a coarse closed form: over the
        number of arrays used (each array's buffers shrink with it) and the tile sizes whose
        double-buffered operands fit, the least of max(compute, DRAM, issue) plus the first
        tile's load and the last one's store; ties to fewer tiles. Nothing fits even one
        array: the mapper will say why, so count whole-dimension tiles (a floor)."""
        if min(batch, M, N, K) <= 0:
            return 0, 0
        counts = sorted({self.count, *(2**i for i in range(self.count.bit_length()) if 2**i <= self.count)})
        best: tuple[float, int, int] | None = None
        for arrays in counts:
            for m, n, k in self._fits(M, N, K, arrays):
                mt, nt, kt = _cdiv(M, m), _cdiv(N, n), _cdiv(K, k)
                tiles = batch * mt * nt * kt
                lat = self._latency(batch, M, N, K, m, n, k, tiles, arrays)
                if best is None or (lat, tiles) < best[:2]:
                    best = (lat, tiles, tiles * 2 + batch * mt * nt)  # A and B loads, a store per output tile
        if best is None:
            tiles = batch * _cdiv(N, max(1, self.cols)) * _cdiv(K, max(1, self.rows))
            return tiles, 3 * tiles
        return best[1], best[2]

    def _latency(self, batch: int, M: int, N: int, K: int, m: int, n: int, k: int, tiles: int,
                 arrays: int) -> float:
        e = self.elem
        dims = {"M": m, "N": n, "K": k}
        r, c, st = {"os": ("M", "N", "K"), "ws": ("K", "N", "M"), "is": ("K", "M", "N")}[self.dataflow]
        tile_cycles = _cdiv(dims[r], self.rows) * _cdiv(dims[c], self.cols) * dims[st] + self.rows + self.cols
        compute = _cdiv(tiles, arrays) * tile_cycles
        mt, nt = _cdiv(M, m), _cdiv(N, n)
        # DRAM: A re-read per N block, B per M block (order S), plus each transfer's DMA setup
        dram = batch * (M * K * e * nt + K * N * e * mt + M * N * e) / self.dram_bpc \
            + 3 * tiles * self.dma_setup / self.dma_engines
        edges = ((m * k + k * n + m * n) * e) / self.dram_bpc + 2 * self.xfer_overhead
        return max(compute, dram, tiles * self.issue) + edges

    def _fits(self, M: int, N: int, K: int, arrays: int) -> list[tuple[int, int, int]]:
        """Tile sizes (m, n, k) whose order-S buffers (A, B, partial sums and output tiles,
        double-buffered on every array) fit the partitions: the dimensions along the array in
        whole folds (halvings), M from the largest that fits down by halvings."""
        e, acc = self.elem, self.acc
        rows_dim, cols_dim = {"os": ("M", "N"), "ws": ("K", "N"), "is": ("K", "M")}[self.dataflow]
        side = {rows_dim: self.rows, cols_dim: self.cols}
        m_fold = side.get("M", 1)
        rp = self.role_part
        caps = self.tile_bytes
        out: list[tuple[int, int, int]] = []
        for n in _folds(N, side.get("N", 1)):
            for k in _folds(K, side.get("K", 1)):
                # per partition: bytes = coef * m + const
                coef: dict[str, float] = {}
                const: dict[str, float] = {}
                coef[rp["inputs"]] = coef.get(rp["inputs"], 0) + 2 * k * e * arrays
                const[rp["weights"]] = const.get(rp["weights"], 0) + 2 * k * n * e * arrays
                if not (self.dataflow == "os" and k >= K):
                    coef[rp["accumulators"]] = coef.get(rp["accumulators"], 0) + 2 * n * acc * arrays
                coef[rp["outputs"]] = coef.get(rp["outputs"], 0) + 2 * n * e * arrays
                m_max = float(M)
                ok = True
                for part in set(coef) | set(const):
                    room = caps.get(part, 0) - const.get(part, 0)
                    if room < 0 or (room == 0 and coef.get(part, 0) > 0):
                        ok = False
                        break
                    if coef.get(part, 0) > 0:
                        m_max = min(m_max, room / coef[part])
                if not ok:
                    continue
                m = min(M, int(m_max))
                if "M" in side and M > m_fold:
                    m = (m // m_fold) * m_fold
                if m < 1 or (m < min(M, m_fold) and "M" in side):
                    continue
                floor = min(M, m_fold)
                while True:
                    out.append((m, n, k))
                    nxt = _cdiv(m, 2)
                    if "M" in side and M > m_fold:
                        nxt = (nxt // m_fold) * m_fold
                    if nxt < floor or nxt == m or len(out) > 4096:
                        break
                    m = nxt
        return out

    def vector(self, elems: int, in_bytes: int, out_bytes: int) -> tuple[int, int]:
        """(tiles, transfers) of a vector-unit op (the mapper's own count, operands in DRAM)."""
        vb = self.vector_bytes
        cap = max(1, min(vb.get(self.role_part["inputs"], 0), vb.get(self.role_part["outputs"], 0)) // 2)
        n = max(1, _cdiv(max(in_bytes, out_bytes), cap), _cdiv(max(elems, 1), self.opts.max_vector_tile_elems))
        n = min(n, max(1, elems))
        return n, 2 * n

    def attention(self, BH: int, L: int, S: int) -> tuple[int, int]:
        """(tiles, transfers) of fused attention: QK^T, softmax and P.V per query block."""
        if min(BH, L, S) <= 0:
            return 0, 0
        e, acc = self.elem, self.acc
        vec_cap = self.vector_bytes.get(self.role_part["outputs"], 0)
        bq = 1
        for b in sorted({min(L, x) for x in (1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)} | {L}):
            need = 2 * b * S * (acc + e)
            if need <= vec_cap or need * self.count <= self.resident:
                bq = max(bq, b)
        units = BH * _cdiv(L, bq)
        return 3 * units, 3 * units


def _op_work(op: Op, g: Graph, mach: _Machine) -> tuple[int, int]:
    from accelsim.workload.gemm import GEMM_OP_KINDS, gemm_view
    from accelsim.workload.opset import VIEW_OPS

    T = g.tensors
    k = op.kind
    if k == "const":
        return 0, 0
    if k == "view":
        if VIEW_OPS.get(str(op.attrs.get("op")), "copy") == "free":
            return 0, 0
        nbytes = sum(mach.tbytes(T[o].dtype, T[o].numel) for o in op.outputs)
        return mach.vector(sum(T[o].numel for o in op.outputs), nbytes, nbytes)
    if k in GEMM_OP_KINDS:
        v = gemm_view(op, g)
        work = mach.gemm(v.batch, v.M, v.N, v.K)
        if v.groups > 1:  # grouped / depthwise: also packed on the arrays or on the vector unit
            x, y = T[op.inputs[0]], T[op.outputs[0]]
            alt = mach.vector(y.numel, mach.tbytes(x.dtype, x.numel), mach.tbytes(y.dtype, y.numel))
            work = min(work, alt)
        return work
    if k in ("sdpa", "attention"):
        q, kk = T[op.inputs[0]], T[op.inputs[1]]
        L, D = (q.shape[-2], q.shape[-1]) if len(q.shape) >= 2 else (1, q.shape[-1] if q.shape else 1)
        ds = k == "attention" and str(op.attrs.get("k_layout", "ds")) == "ds"
        S = (kk.shape[-1] if ds else kk.shape[-2]) if len(kk.shape) >= 2 else 1
        BH = math.prod(q.shape[:-2]) if len(q.shape) > 2 else 1
        if k == "sdpa" and not mach.opts.fuse_attention:
            groups = min(BH, 64)
            per = _cdiv(BH, groups)
            qk = mach.gemm(per, L, S, D)
            av = mach.gemm(per, L, D, S)
            sm = mach.vector(per * L * S, per * L * S * mach.elem, per * L * S * mach.elem)
            return groups * (qk[0] + av[0] + sm[0]), groups * (qk[1] + av[1] + sm[1])
        return mach.attention(BH, L, S)
    ins = [T[t] for t in op.inputs]
    outs = [T[o] for o in op.outputs]
    elems = max([t.numel for t in outs] + ([ins[0].numel] if ins else []) or [1])
    in_b = sum(mach.tbytes(t.dtype, t.numel) for t in ins)
    if k in ("embedding", "embedding_bag", "index_select", "gather", "index") and ins:
        out_all = sum(mach.tbytes(t.dtype, t.numel) for t in outs)
        in_b = min(mach.tbytes(ins[0].dtype, ins[0].numel), out_all) + sum(
            mach.tbytes(t.dtype, t.numel) for t in ins[1:])
    out_b = sum(mach.tbytes(t.dtype, t.numel) for t in outs)
    return mach.vector(elems, in_b, out_b)


def estimate_resources(graph: Graph, arch: ArchSpec, options: MappingOptions | None = None) -> ResourceEstimate:
    """The tiles, transfers, SimPy events and memory of mapping and simulating ``graph`` on
    ``arch`` (see the module docstring). Pure; milliseconds even for a 7B-parameter graph."""
    from accelsim.mapping.options import MappingOptions

    opts = options or MappingOptions()
    mach = _Machine(arch, opts)
    works: list[OpWork] = []
    tiles = transfers = 0
    for op in graph.ops:
        t, x = _op_work(op, graph, mach)
        if opts.mode == "scalesim" and t:  # one serial tile per GEMM (per batch element), no transfers
            t, x = 1, 0
        tiles += t
        transfers += x
        if t:
            works.append(OpWork(op.name, op.kind, t, x))
    works.sort(key=lambda w: -w.tiles)
    events = tiles * EVENTS_PER_TILE + transfers * EVENTS_PER_TRANSFER
    memory = BYTES_BASE + tiles * BYTES_PER_TILE
    return ResourceEstimate(tiles, transfers, events, memory, len(graph.ops), tuple(works[:3]))


def resolve_max_events(value: int | None = None, env: Mapping[str, str] | None = None) -> int:
    """The event limit in force: ``value`` when given, else ``$ACCELSIM_MAX_EVENTS``, else
    :data:`DEFAULT_MAX_EVENTS`; 0 means no limit."""
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SpecError(f"max_events: expected a non-negative integer, got {value!r}")
        return value
    raw = (os.environ if env is None else env).get(ENV_MAX_EVENTS, "").strip()
    if not raw:
        return DEFAULT_MAX_EVENTS
    try:
        n = int(float(raw)) if any(c in raw for c in ".eE") else int(raw.replace("_", ""))
    except ValueError:
        raise SpecError(f"${ENV_MAX_EVENTS}={raw!r}: expected a non-negative integer (events; 0: no limit)") from None
    if n < 0:
        raise SpecError(f"${ENV_MAX_EVENTS}={raw!r}: expected a non-negative integer (events; 0: no limit)")
    return n


def _fmt(n: float) -> str:
    """12,345 / 31.6 million / 1.95 billion."""
    for word, scale in (("trillion", 1e12), ("billion", 1e9), ("million", 1e6)):
        if n >= scale:
            return f"{n / scale:.3g} {word}"
    return f"{n:,.0f}"


def _fmt_bytes(n: float) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n / 2**10:.3g} KiB"


def check_resources(graph: Graph, arch: ArchSpec, options: MappingOptions | None = None,
                    max_events: int | None = None) -> ResourceEstimate:
    """Estimate the run and raise :class:`ResourceError` (exit 2) when its events exceed the
    limit (:func:`resolve_max_events`); returns the estimate otherwise."""
    limit = resolve_max_events(max_events)
    est = estimate_resources(graph, arch, options)
    if limit and est.events > limit:
        big = est.largest[0] if est.largest else None
        what = "" if big is None or big.kind == big.name else f" ({big.kind})"
        where = (f"; the largest op, '{big.name}'{what}, alone needs {_fmt(big.tiles)} tiles"
                 if big is not None else "")
        raise ResourceError(
            f"workload '{graph.name}' on '{arch.name}' is too large to simulate: about {_fmt(est.tiles)} tile "
            f"commands, {_fmt(est.events)} simulation events and {_fmt_bytes(est.memory_bytes)} of memory "
            f"(estimated before mapping{where}); the limit is {limit:,} events. Raise it with "
            f"--max-events N (or {ENV_MAX_EVENTS}=N; 0: no limit), or use a smaller workload or larger "
            "arrays / SRAM")
    return est
