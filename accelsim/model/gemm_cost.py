"""Cost model of one GEMM mapping: cycles, DRAM bytes, SRAM footprint and energy (pure).

A GEMM-like op is ``batch`` products ``C[M x N] = A[M x K] . B[K x N]``. A *mapping*
(:class:`GemmCandidate`) fixes:

* **which arrays**: ``arrays`` instances of one array group (a mapping may leave arrays idle);
* **tile sizes** ``m x n x k``: one tile is one command on one array (pipelined folds, see
  :func:`accelsim.model.systolic.pipelined_cycles`); an output tile accumulates its
  ``ceil(K/k)`` K tiles back to back on one array (partial sums in the accumulators);
* **loop order** (which operand stays in SRAM across the outer loop):

  ``N`` (B-panel reuse)  for each N block of ``n`` columns, keep its ``K x n`` B panel in the
                         weights partition and stream A past it: B read once, A once per N block.
  ``M`` (A-panel reuse)  for each panel of ``mp`` rows, keep its ``mp x K`` A panel in the inputs
                         partition (and each ``K x n`` B block while the panel's M tiles use it):
                         A read once, B once per A panel.
  ``S`` (streaming)      no reuse beyond the tile: A once per N block, B once per M tile.

Work is dealt to arrays in *units*: one (batch item, outer block) — split further along the inner
dimension when there are fewer units than arrays, or when the candidate asks (``split``: more,
smaller units balance better over the arrays; each part loads its own copy of the reused panel).
Units are dealt in contiguous chunks whose sizes differ by at most one.

**Time.** Per array, tiles run in order with double buffering (two buffer slots: the next tile's
loads overlap this tile's compute; a tile holds its slot from its loads through its stores), so
a group of ``t`` similar tiles takes ``t * max(c, (l + c + s) / slots)`` with ``c`` the tile's
compute cycles, ``l`` / ``s`` its load / store time at the array's share of DRAM bandwidth (plus
DMA setup and DRAM latency) and ``slots = min(2, queue_depth / arrays)`` (the sequencer's queue
bounds the tiles in flight). The first tile's loads and the last tile's store are exposed. The
op also cannot beat the DRAM (all bytes at the full bandwidth), the sequencer (one command per
``issue_cycles``) or the DMA engines (every transfer holds an engine for its duration)::

    cycles = max(max_a [first_load + sum_groups + last_store],
                 dram_bytes / bw + first_load + last_store, tiles * issue, transfers * dur / engines)

**Energy** (pJ) is priced from the same action counts the simulator will record: MACs, SRAM
bank-width accesses per partition (:func:`accelsim.model.systolic.sram_operand_words`), DRAM
bytes, DMA transfers and bytes, sequencer commands, and static power over the estimated latency.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from accelsim.model import systolic

Order = Literal["N", "M", "S"]
ORDERS: tuple[Order, ...] = ("N", "M", "S")
ORDER_NAMES = {"N": "weights-panel", "M": "inputs-panel", "S": "streaming"}

__all__ = [
    "ArrayGroup",
    "Machine",
    "GemmProblem",
    "GemmCandidate",
    "GemmEstimate",
    "estimate_gemm",
    "footprint",
    "split_sizes",
    "units_of",
    "Unit",
]


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class ArrayGroup:
    """One ``arrays[]`` entry of the architecture: ``count`` identical arrays."""

    index: int
    rows: int
    cols: int
    dataflow: str
    count: int
    instances: tuple[str, ...]
    unit_indices: tuple[int, ...]  # SimPy unit index of each instance (SRAM regions)
    mac_pj: float = 0.0


@dataclass(frozen=True)
class Machine:
    """What the cost model needs to know about an architecture (built by the mapper).

    ``tile_bytes[p]``: bytes of SRAM partition ``p`` available to the arrays' tile buffers (the
    rest holds resident tensors and the vector unit's buffers); ``role_part[r]``: the partition
    holding operand role ``r`` (inputs, weights, outputs, accumulators). Rates in bytes/cycle,
    latencies in cycles. Energies in pJ (``sram_*_pj`` per ``sram_width`` bytes).
    """

    groups: tuple[ArrayGroup, ...]
    dram_bpc: float
    dram_latency: int
    dram_channels: int
    max_burst: int
    dma_setup: int
    dma_engines: int
    issue_cycles: int
    queue_depth: int
    tile_bytes: dict[str, int]
    role_part: dict[str, str]
    sram_width: int
    sram_read_pj: dict[str, float] = field(default_factory=dict)
    sram_write_pj: dict[str, float] = field(default_factory=dict)
    dram_pj_per_byte: float = 0.0
    dma_transfer_pj: float = 0.0
    dma_byte_pj: float = 0.0
    command_pj: float = 0.0
    static_w: float = 0.0
    clock_hz: float = 1e9
    part_banks: dict[str, tuple[int, int]] = field(default_factory=dict)  # (array banks, resident banks)
    bank_bpc: int = 0  # bytes per cycle of one bank
    resident_part: str = ""


@dataclass(frozen=True)
class GemmProblem:
    """A GEMM to map. Sizes in elements; ``elem`` / ``acc`` bytes per operand / partial sum.

    ``a_dram_bytes``: bytes to read all of A once from DRAM (smaller than ``batch*M*K*elem`` for
    a convolution's im2col matrix); ``*_on_chip``: that operand already lives in SRAM (resident
    activation, ROM weights) or the output stays there.
    """

    batch: int
    M: int
    N: int
    K: int
    elem: int
    acc: int
    a_dram_bytes: int
    a_on_chip: bool = False
    b_on_chip: bool = False
    out_on_chip: bool = False
    b_rom: bool = False

    @property
    def macs(self) -> int:
        return self.batch * self.M * self.N * self.K

    def key(self) -> tuple[object, ...]:
        return (self.batch, self.M, self.N, self.K, self.elem, self.acc, self.a_dram_bytes,
                self.a_on_chip, self.b_on_chip, self.out_on_chip, self.b_rom)


@dataclass(frozen=True, order=True)
class GemmCandidate:
    group: int
    arrays: int
    m: int
    n: int
    k: int
    order: Order
    mp: int = 0  # M order: A-panel rows (a multiple of m); else 0
    split: int = 1  # each unit's inner range cut in this many parts (more, smaller units: balance)

    def label(self) -> str:
        p = f", panel {self.mp} rows" if self.order == "M" else ""
        sp = f", units split {self.split} ways" if self.split > 1 else ""
        return (f"{self.m}x{self.n}x{self.k} {ORDER_NAMES[self.order]}{p}{sp} "
                f"on {self.arrays} array(s) of group {self.group}")


@dataclass(frozen=True)
class GemmEstimate:
    cycles: int
    compute_cycles: int  # the busiest array's compute
    dram_read: int
    dram_write: int
    tiles: int
    transfers: int
    footprint: dict[str, int]  # partition -> bytes used by the tile buffers
    energy_pj: float
    bound: str  # which term set the cycles: compute | dram | issue | dma | latency
    compulsory: int  # DRAM bytes with perfect reuse

    @property
    def dram_bytes(self) -> int:
        return self.dram_read + self.dram_write


def split_sizes(total: int, step: int) -> tuple[int, int, int]:
    """``(full blocks, size of the last block, blocks)`` covering ``total`` in ``step``s."""
    t = _cdiv(total, step)
    return t, total - (t - 1) * step, t


@dataclass(frozen=True)
class Unit:
    """A contiguous piece of work for one array: batch item ``b``, outer block ``ob``, inner
    blocks ``[i0, i1)`` (M tiles for orders N/S, N tiles for order M)."""

    b: int
    ob: int
    i0: int
    i1: int


def units_of(p: GemmProblem, c: GemmCandidate) -> tuple[list[Unit], int, int]:
    """The work units in issue order, and (outer blocks, inner blocks) per batch item.

    Order N/S: outer = N blocks of ``n``, inner = M tiles of ``m``. Order M: outer = A panels of
    ``mp`` rows, inner = N blocks of ``n`` (each panel's M tiles run inside every N block)."""
    if c.order == "M":
        outer = _cdiv(p.M, c.mp)
        inner = _cdiv(p.N, c.n)
    else:
        outer = _cdiv(p.N, c.n)
        inner = _cdiv(p.M, c.m)
    u = p.batch * outer
    split = min(inner, max(1, c.split))
    if u * split < c.arrays:
        split = min(inner, _cdiv(c.arrays, u))
    units: list[Unit] = []
    for b in range(p.batch):
        for ob in range(outer):
            for s in range(split):
                i0 = inner * s // split
                i1 = inner * (s + 1) // split
                if i1 > i0:
                    units.append(Unit(b, ob, i0, i1))
    return units, outer, inner


def deal(n_units: int, arrays: int) -> list[tuple[int, int]]:
    """Contiguous chunks ``[lo, hi)`` of ``n_units`` units for each of ``arrays`` arrays, sizes
    differing by at most one (6 units on 4 arrays: 2, 2, 1, 1)."""
    base, extra = divmod(n_units, arrays)
    bounds = [a * base + min(a, extra) for a in range(arrays + 1)]
    return [(bounds[a], bounds[a + 1]) for a in range(arrays)]


def footprint(p: GemmProblem, c: GemmCandidate, role_part: dict[str, str], g_df: str = "ws") -> dict[str, int]:
    """SRAM bytes per partition the mapping's tile buffers need on ``c.arrays`` arrays.

    Per array: A tiles double-buffered (order N/S) or the A panel ``mp x K`` (order M; doubled
    when a next panel will be prefetched); B tiles double-buffered (order S, and order M with one
    M tile per panel), the ``K x n`` B panel double-buffered (order N) or the ``K x n`` B block
    (order M with several M tiles per panel); accumulators ``m x n`` partial sums
    double-buffered; output tiles double-buffered unless the output stays on chip.
    """
    e, acc = p.elem, p.acc
    k = c.k
    a = 0
    if not p.a_on_chip:
        if c.order == "M":
            panels = _cdiv(p.M, c.mp)
            a = c.mp * p.K * e * (2 if panels * p.batch > c.arrays else 1)
        else:
            a = 2 * c.m * k * e
    b = 0
    if not (p.b_on_chip or p.b_rom):
        if c.order == "N":
            # the K x n panel, plus the next one loading when the array has more than one
            n_blocks = -(-p.N // c.n) * p.batch
            b = p.K * c.n * e * (2 if n_blocks > c.arrays else 1)
        elif c.order == "M" and c.mp > c.m:
            b = 2 * p.K * c.n * e
        else:
            b = 2 * k * c.n * e
    # partial sums: in the accumulators (double-buffered); an os array keeps them in its PEs
    # unless K is split
    accu = 0 if (g_df == "os" and k >= p.K) else 2 * c.m * c.n * acc
    out = 0 if p.out_on_chip else 2 * c.m * c.n * e
    need: dict[str, int] = {}
    for role, nbytes in (("inputs", a), ("weights", b), ("accumulators", accu), ("outputs", out)):
        part = role_part[role]
        need[part] = need.get(part, 0) + nbytes * c.arrays
    return need


def fits(p: GemmProblem, c: GemmCandidate, mach: Machine) -> bool:
    need = footprint(p, c, mach.role_part, mach.groups[c.group].dataflow)
    return all(need[part] <= mach.tile_bytes.get(part, 0) for part in need)


class _Sizes:
    """Block sizes along one dimension: ``count`` blocks of ``step``, the last ``last``."""

    __slots__ = ("step", "count", "last")

    def __init__(self, total: int, step: int) -> None:
        self.step = min(step, total)
        self.count = _cdiv(total, self.step)
        self.last = total - (self.count - 1) * self.step

    def size(self, i: int) -> int:
        return self.last if i == self.count - 1 else self.step

    def span(self, i0: int, i1: int) -> list[tuple[int, int]]:
        """[(size, how many)] of blocks i0..i1-1."""
        if i1 <= i0:
            return []
        if i1 == self.count:
            out = [(self.step, i1 - 1 - i0)] if i1 - 1 > i0 else []
            return out + [(self.last, 1)]
        return [(self.step, i1 - i0)]


def estimate_gemm(
    p: GemmProblem,
    c: GemmCandidate,
    mach: Machine,
    shared: dict[tuple[object, ...], Any] | None = None,
) -> GemmEstimate:
    """Cost of mapping ``p`` as ``c`` on ``mach``; see the module docstring for the model.

    ``shared``: memo tables reused across the candidates of one search (same ``p`` and
    ``mach``): per-command compute by (group, K tile), SRAM feed times and steady-state tile
    periods by (group, arrays, K tile). Pure memoisation: the estimate is the same with or
    without it."""
    if shared is None:
        shared = {}
    g = mach.groups[c.group]
    R, C, df = g.rows, g.cols, g.dataflow
    e = p.elem
    ms = _Sizes(p.M, c.m)
    ns = _Sizes(p.N, c.n)
    ks = _Sizes(p.K, c.k)
    kspan = ks.span(0, ks.count)
    a_scale = p.a_dram_bytes / max(1, p.batch * p.M * p.K * e)  # conv: im2col re-reads pixels

    # Per-tile compute summed over K tiles, per (m size, n size).
    ck: dict[tuple[int, int], int] = shared.setdefault(("ck", c.group, c.k), {})

    klist = [kk for kk, cnt in kspan for _ in range(cnt)]

    per_cmd: dict[tuple[int, int], tuple[list[int], list[int]]] = shared.setdefault(("cmd", c.group, c.k), {})

    def cmds_of(m: int, n: int) -> tuple[list[int], list[int]]:
        """Per K tile of one m x n output tile: cycles it holds its array when it follows the
        previous tile back to back (its body plus the preload the previous fold cannot hide) and
        after a gap (preload exposed); drains overlap the next tile
        (:func:`accelsim.model.systolic.tile_phases`)."""
        v = per_cmd.get((m, n))
        if v is None:
            b2b, alone = [], []
            for kk in klist:
                fill, body, drain, T = systolic.tile_phases_fast(df, m, n, kk, R, C)
                b2b.append(body + max(0, fill - T))
                alone.append(fill + body)
            v = per_cmd[(m, n)] = (b2b, alone)
        return v

    def csum(m: int, n: int) -> int:
        v = ck.get((m, n))
        if v is None:
            v = ck[(m, n)] = sum(cmds_of(m, n)[0])
        return v

    active = c.arrays
    bw_share = mach.dram_bpc / active
    sram_cmds = _sram_model(p, c, mach, g, klist, shared.setdefault(("sram", c.group, c.arrays, c.k), {}))
    overhead = mach.dma_setup + mach.dram_latency

    def xfer(nbytes: float) -> float:
        return overhead + nbytes / bw_share if nbytes > 0 else 0.0

    ukey = ("units", c.order, c.m, c.n, c.mp, c.split, c.arrays)
    if ukey not in shared:
        shared[ukey] = units_of(p, c)
    units, outer, inner = shared[ukey]
    chunks = deal(len(units), c.arrays)
    kt = ks.count
    a_on = p.a_on_chip
    b_on = p.b_on_chip or p.b_rom
    out_on = p.out_on_chip
    panel_sizes = _Sizes(p.M, c.mp) if c.order == "M" else None
    n_st = 0 if out_on else 1
    in_bpc = _slot_bpc(mach, mach.role_part["inputs"], 2 * c.arrays)
    drain_k = float(g.rows + g.cols - 2)

    def unit_groups(u: Unit) -> list[tuple[int, tuple[float, float], float, int, int, int, int]]:
        """(compute of one output tile over its K tiles, load bytes, store bytes, output tiles,
        load transfers per output tile) of each group of similar output tiles in ``u``."""
        out: list[tuple[int, tuple[float, float], float, int, int, int, int]] = []
        if c.order in ("N", "S"):
            nsz = ns.size(u.ob)
            first = c.order == "N"
            for msz, cnt in ms.span(u.i0, u.i1):
                cc = csum(msz, nsz)
                a_b = 0.0 if a_on else msz * p.K * e * a_scale
                b_b = 0.0 if b_on else float(p.K * nsz * e)
                o_b = 0.0 if out_on else float(msz * nsz * e)
                na, nb = (0 if a_on else kt), (0 if b_on else kt)
                if first:  # order N: the unit's first M tile carries the B panel
                    out.append((cc, (a_b, b_b), o_b, 1, na + nb, msz, nsz))
                    cnt -= 1
                    first = False
                    nb_rest = 0
                else:
                    nb_rest = nb if c.order == "S" else 0
                if cnt:
                    out.append((cc, (a_b, b_b if c.order == "S" else 0.0), o_b, cnt, na + nb_rest, msz, nsz))
            return out
        assert panel_sizes is not None  # order M: N blocks [i0, i1) of panel ob, its M tiles inside
        pm = _Sizes(panel_sizes.size(u.ob), c.m)
        block = pm.count > 1
        first_n = True
        for nsz, ncnt in ns.span(u.i0, u.i1):
            for _ in range(ncnt):
                first_m = True
                for msz, mcnt in pm.span(0, pm.count):
                    cc = csum(msz, nsz)
                    a_b = 0.0 if (a_on or not first_n) else msz * p.K * e * a_scale
                    na = kt if a_b else 0
                    b_b = 0.0 if b_on else float(p.K * nsz * e)
                    nb = 0 if b_on else kt
                    o_b = 0.0 if out_on else float(msz * nsz * e)
                    if block:  # the K x n B block is loaded with the panel's first M tile
                        if first_m:
                            out.append((cc, (a_b, b_b), o_b, 1, na + nb, msz, nsz))
                            mcnt -= 1
                            first_m = False
                        if mcnt:
                            out.append((cc, (a_b, 0.0), o_b, mcnt, na, msz, nsz))
                    else:
                        out.append((cc, (a_b, b_b), o_b, mcnt, na + nb, msz, nsz))
                first_n = False
        return out

    memo: dict[tuple[int, int, int], tuple[float, int, float, int, int, float]] = {}
    grp_memo: dict[tuple[int, int, float, float, float, int], float] = shared.setdefault(
        ("period", c.group, c.arrays, c.k), {})

    def group_period(la: float, lbb: float, sb: float, nl: int, ms_: int, ns_: int) -> float:
        """Steady-state cycles of one output tile of a group (its K tiles on one array)."""
        lb = la + lbb
        sr = sram_cmds(ms_, ns_)
        b2b, alone_ = cmds_of(ms_, ns_)
        # a command's loads run concurrently: the slowest one (a small transfer reaches only
        # the DRAM channels its bursts cover), or all of them at the array's bandwidth share
        l1 = max((lb / kt) / bw_share, (lb / kt) / in_bpc,
                 _xfer_cycles(la / kt, mach), _xfer_cycles(lbb / kt, mach)) + (overhead if nl else 0.0)
        # more transfers in flight than DMA engines: they take turns, each engine paying the
        # setup and DRAM latency of its transfers one after another, while the bytes still
        # share the full DRAM bandwidth (not multiplied: the engines streaming at once split it)
        t_fl = (nl / kt) * active
        if t_fl > mach.dma_engines:
            l1 = max(l1, (t_fl / mach.dma_engines) * overhead + t_fl * (lb / max(1, nl)) / mach.dram_bpc)
        s1 = sb / bw_share + (overhead if n_st else 0.0)
        tail = [drain_k] * (kt - 1) + [drain_k + s1]
        return _period([max(a, b) for a, b in zip(b2b, sr)], [max(a, b) for a, b in zip(alone_, sr)],
                       l1, 2, tail, math.inf)

    def unit_cost(u: Unit) -> tuple[float, int, float, int, int, float]:
        """(time, compute, load bytes, commands, transfers, first command's load bytes)."""
        osz = (panel_sizes.size(u.ob) if panel_sizes is not None else ns.size(u.ob))
        key = (osz, u.i0, u.i1)
        hit = memo.get(key)
        if hit is not None:
            return hit
        t = 0.0
        comp = 0
        lbytes = 0.0
        cmds = 0
        xfers = 0
        first_lb = -1.0
        for cc, (la, lbb), sb, cnt, nl, ms_, ns_ in unit_groups(u):
            lb = la + lbb
            gkey = (ms_, ns_, la, lbb, sb, nl)
            per_out = grp_memo.get(gkey)
            if per_out is None:
                per_out = grp_memo[gkey] = group_period(la, lbb, sb, nl, ms_, ns_)
            t += per_out * cnt
            comp += cc * cnt
            lbytes += lb * cnt
            cmds += kt * cnt
            xfers += (nl + n_st) * cnt
            if first_lb < 0:
                first_lb = lb / kt
        res = (t, comp, lbytes, cmds, xfers, max(0.0, first_lb))
        memo[key] = res
        return res

    costs = [unit_cost(u) for u in units]
    worst_time = 0.0
    worst_compute = 0
    for lo, hi in chunks:
        worst_time = max(worst_time, math.fsum(x[0] for x in costs[lo:hi]))
        worst_compute = max(worst_compute, sum(x[1] for x in costs[lo:hi]))
    dram_read = int(round(math.fsum(x[2] for x in costs)))
    tiles = sum(x[3] for x in costs)
    transfers = sum(x[4] for x in costs)
    first_load = xfer(costs[0][5]) if costs and costs[0][5] > 0 else 0.0
    out_bytes = 0 if out_on else p.batch * p.M * p.N * e
    f0, _, d0, _ = systolic.tile_phases_fast(df, ms.step, ns.step, ks.step, R, C)
    worst_time += f0 + d0  # one preload before the first tile, one drain after the last
    last_store = xfer(ms.last * ns.last * e) if not out_on else 0.0
    dram_write = out_bytes
    total_bytes = dram_read + dram_write
    t_compute = first_load + worst_time + last_store
    t_dram = total_bytes / mach.dram_bpc + first_load + last_store
    t_issue = tiles * mach.issue_cycles
    # Every transfer holds a DMA engine for its setup and the DRAM latency (a delay) and for its
    # stream (queueing for DRAM bandwidth): the DMA pool is a closed queueing network, solved by
    # mean-value analysis with as many customers as engines or transfers in flight.
    if transfers:
        avg = total_bytes / transfers
        in_flight = min(mach.dma_engines, max(1, 3 * active))
        # A transfer streams over the k channels its bursts cover, not all of them: the DRAM is
        # then channels / k servers, approximated as one server of the same capacity plus a
        # delay of the rest of its stream (Seidmann, Schweitzer and Shalev-Oren, 1987).
        k_ch = max(1, min(mach.dram_channels, _cdiv(int(avg), max(1, mach.max_burst))))
        stream = avg / (k_ch * mach.dram_bpc / max(1, mach.dram_channels))
        demand = avg / mach.dram_bpc
        t_dma = transfers / _mva_throughput(demand, overhead + max(0.0, stream - demand), in_flight)
    else:
        t_dma = 0.0
    terms = {"compute": t_compute, "dram": t_dram, "issue": t_issue, "dma": t_dma}
    bound = max(terms, key=lambda k: terms[k])
    cycles = int(math.ceil(max(terms.values())))
    if bound == "compute" and worst_compute < 0.9 * (worst_time):
        bound = "latency"
    compulsory = (0 if a_on else p.a_dram_bytes) + (0 if b_on else p.batch * p.K * p.N * e) + out_bytes
    energy = _energy(p, c, mach, g, ms, ns, ks, dram_read, dram_write, tiles, transfers, cycles)
    return GemmEstimate(
        cycles=cycles,
        compute_cycles=worst_compute,
        dram_read=dram_read,
        dram_write=dram_write,
        tiles=tiles,
        transfers=transfers,
        footprint=footprint(p, c, mach.role_part, df),
        energy_pj=energy,
        bound=bound,
        compulsory=compulsory,
    )


def _energy(p: GemmProblem, c: GemmCandidate, mach: Machine, g: ArrayGroup, ms: _Sizes, ns: _Sizes,
            ks: _Sizes, dram_read: int, dram_write: int, tiles: int, transfers: int, cycles: int) -> float:
    """pJ of the mapping: MACs, SRAM accesses (operand words as the simulator counts them),
    DRAM, DMA, sequencer and static power over ``cycles``."""
    e, acc = p.elem, p.acc
    R, C, df = g.rows, g.cols, g.dataflow
    rp = mach.role_part
    w = mach.sram_width
    rd: dict[str, float] = {}
    wr: dict[str, float] = {}

    def add(d: dict[str, float], part: str, nbytes: float) -> None:
        d[part] = d.get(part, 0.0) + nbytes

    a_part = rp["outputs"] if p.a_on_chip else rp["inputs"]
    b_part = rp["outputs"] if p.b_on_chip else rp["weights"]
    acc_part = rp["accumulators"]
    a_rd = b_rd = acc_rd = acc_wr = 0.0
    kfrac = (ks.count - 1) / ks.count
    for msz, mc in ms.span(0, ms.count):
        for nsz, nc in ns.span(0, ns.count):
            for ksz, kc in ks.span(0, ks.count):
                cnt = mc * nc * kc * p.batch
                wi, ww, wo = systolic.operand_words_fast(df, msz, nsz, ksz, R, C)
                a_rd += wi * e * cnt
                b_rd += ww * e * cnt
                if df == "os":
                    acc_wr += msz * nsz * acc * cnt * kfrac
                    acc_rd += msz * nsz * acc * cnt * kfrac
                else:
                    acc_wr += wo * acc * cnt
                    acc_rd += max(0.0, wo - msz * nsz / ks.count) * acc * cnt
    add(rd, a_part, a_rd)
    if not p.b_rom:
        add(rd, b_part, b_rd)
    add(rd, acc_part, acc_rd)
    add(wr, acc_part, acc_wr)
    out_b = p.batch * p.M * p.N
    if df != "os":
        add(rd, rp["accumulators"], out_b * acc)
    add(wr, rp["outputs"], out_b * e)
    # DMA writes into SRAM (loads) and reads from it (stores)
    add(wr, rp["inputs"], dram_read)
    add(rd, rp["outputs"], dram_write)
    pj = p.macs * g.mac_pj
    for part, nbytes in rd.items():
        pj += math.ceil(nbytes / w) * mach.sram_read_pj.get(part, 0.0)
    for part, nbytes in wr.items():
        pj += math.ceil(nbytes / w) * mach.sram_write_pj.get(part, 0.0)
    pj += (dram_read + dram_write) * mach.dram_pj_per_byte
    pj += transfers * mach.dma_transfer_pj + (dram_read + dram_write) * mach.dma_byte_pj
    pj += tiles * mach.command_pj
    pj += mach.static_w * cycles / mach.clock_hz * 1e12
    return pj


def _period(b2b: list[float], alone: list[float], load: float, slots: float,
            tail: list[float] | None = None, queue: float = math.inf) -> float:
    """Steady-state cycles of a repeating sequence of commands on one array.

    A command needs one of ``slots`` double-buffer slots (held from its loads to the end of its
    hold) and one of ``queue`` sequencer entries (held from issue to the end of its ``tail``:
    drain and store); its loads take ``load`` cycles, it starts when they are done and the array
    is free, and holds the array ``b2b[j]`` cycles when it starts the cycle the previous one ends
    (the pipeline continues), else ``alone[j]``. The recurrence runs over three repetitions; the
    last one is the period."""
    k = len(b2b)
    if load <= min(b2b) and not math.isfinite(queue):
        return float(sum(b2b))  # compute-bound: every command follows the previous back to back
    ns = max(1, int(slots))
    nq = max(1, math.ceil(queue - 1e-9)) if math.isfinite(queue) else 0
    tail = tail or [0.0] * k
    free = [0.0] * ns
    qfree = [0.0] * nq
    prev_end = 0.0
    ends = []
    i = 0
    for _rep in range(3):
        for j in range(k):
            t0 = free[i % ns]
            if nq:
                t0 = max(t0, qfree[i % nq])
            ld = t0 + load
            start = max(ld, prev_end)
            hold = b2b[j] if start <= prev_end + 1e-9 and i > 0 else alone[j]
            prev_end = start + hold
            free[i % ns] = prev_end
            if nq:
                qfree[i % nq] = prev_end + tail[j]
            i += 1
        ends.append(prev_end)
    return ends[2] - ends[1]


def _mva_throughput(demand: float, delay: float, customers: int) -> float:
    """Throughput (transfers per cycle) of ``customers`` transfers cycling through one queueing
    station (DRAM, ``demand`` cycles each) and a delay (setup + latency, ``delay`` cycles):
    exact mean-value analysis (Reiser and Lavenberg, JACM 1980)."""
    q = 0.0
    x = 0.0
    for n in range(1, customers + 1):
        r = demand * (1.0 + q)
        x = n / (delay + r)
        q = x * r
    return max(x, 1e-12)


def _xfer_cycles(nbytes: float, mach: Machine) -> float:
    """DRAM cycles of one transfer on its own: striped over ``min(channels, bursts)`` channels."""
    if nbytes <= 0:
        return 0.0
    ch = max(1, min(mach.dram_channels, -(-int(nbytes) // max(1, mach.max_burst))))
    return nbytes / (ch * mach.dram_bpc / mach.dram_channels)


def _slot_bpc(mach: Machine, part: str, pieces: int, active: int | None = None) -> float:
    """Bytes per cycle one access gets from its bank range when a partition's tile banks are
    split into ``pieces`` ranges of which ``active`` are in use at once (one computing slot per
    array): a range's own banks when there are enough, else a fair share of the shared banks."""
    if not mach.bank_bpc:
        return math.inf
    ab = mach.part_banks.get(part, (1, 0))[0]
    if ab <= 0:
        return 1e-9
    if ab >= pieces:
        return (ab // pieces) * mach.bank_bpc
    return ab / pieces * mach.bank_bpc  # pieces share banks: assume all of them busy


def _sram_model(p: GemmProblem, c: GemmCandidate, mach: Machine, g: ArrayGroup,
                klist: list[int], memo: dict[tuple[int, int], list[float]] | None = None
                ) -> Callable[[int, int], list[float]]:
    """``f(m, n)``: cycles the SRAM needs to feed each of one ``m x n`` output tile's K tiles (per
    command: the slowest bank range it touches, at that range's bandwidth)."""
    rp = mach.role_part
    n = c.arrays
    e, acc = p.elem, p.acc
    R, C, df = g.rows, g.cols, g.dataflow
    if not mach.bank_bpc:
        return lambda m, nn: [0.0] * len(klist)
    res_banks = mach.part_banks.get(mach.resident_part, (0, 0))[1]
    res_bpc = (res_banks if res_banks else sum(mach.part_banks.get(mach.resident_part, (1, 0)))) * mach.bank_bpc / n
    bpc = {
        ("slot", rp["inputs"]): _slot_bpc(mach, rp["inputs"], 2 * n, n),
        ("slot", rp["weights"]): _slot_bpc(mach, rp["weights"], 2 * n, n),
        ("slot", rp["outputs"]): _slot_bpc(mach, rp["outputs"], 2 * n, n),
        ("acc", rp["accumulators"]): _slot_bpc(mach, rp["accumulators"], n, n),
        ("res", ""): res_bpc,
    }
    a_key = ("res", "") if p.a_on_chip else ("slot", rp["inputs"])
    b_key = ("res", "") if p.b_on_chip else ("slot", rp["weights"])
    o_key = ("res", "") if p.out_on_chip else ("slot", rp["outputs"])
    acc_key = ("acc", rp["accumulators"])
    if memo is None:
        memo = {}
    J = len(klist)

    def f(m: int, nn: int) -> list[float]:
        v = memo.get((m, nn))
        if v is not None:
            return v
        tot: list[float] = []
        for j, ksz in enumerate(klist):
            wi, ww, wo = systolic.operand_words_fast(df, m, nn, ksz, R, C)
            by: dict[tuple[str, str], float] = {a_key: wi * e}
            if not p.b_rom:
                by[b_key] = by.get(b_key, 0.0) + ww * e
            if df == "os":
                a_b = (m * nn * acc if j < J - 1 else 0) + (m * nn * acc if j > 0 else 0)
            else:
                a_b = wo * acc + max(0, wo - (m * nn if j == 0 else 0)) * acc
                if j == J - 1:
                    a_b += m * nn * acc
            by[acc_key] = by.get(acc_key, 0.0) + a_b
            if j == J - 1:
                by[o_key] = by.get(o_key, 0.0) + m * nn * e
            tot.append(max(b / bpc[k] for k, b in by.items()))
        memo[(m, nn)] = tot
        return tot

    return f
