"""The mapping search for one GEMM: enumerate a mapspace, rank it with the pure cost model
(:mod:`accelsim.model.gemm_cost`), keep the best.

The mapspace of a ``batch x M x N x K`` GEMM on an architecture is every combination of

* an array group and a number of its arrays (1 .. count: a mapping may leave arrays idle);
* tile sizes: the dimensions that lie along the array are whole folds (multiples of the array
  side, or the whole dimension when it is smaller), the streamed dimension any size; tiles are
  drawn from halvings and even splits of each dimension;
* a loop order (``N`` B-panel reuse, ``M`` A-panel reuse with panels of 1, 2, 4, ... M tiles or
  the whole of M, ``S`` streaming),

restricted to the mappings whose tile buffers fit the SRAM partitions. **Monotone by
construction**: with more arrays, more or bigger SRAM banks, or more DRAM bandwidth, every
mapping of the smaller machine is still in the space, and the cost model never charges it more,
so the best found never gets worse. The objective (``latency``, ``energy`` or ``edp``) picks the
winner; ties go to fewer tiles (fewer simulation events), then larger tiles.

Results are cached per (problem, machine digest, objective): the 12 layers of GPT-2 share six
searches.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import cast

import numpy as np

from accelsim.errors import MappingError
from accelsim.model.gemm_cost import (
    ORDERS,
    GemmCandidate,
    GemmEstimate,
    GemmProblem,
    Machine,
    Order,
    estimate_gemm,
)

__all__ = ["SearchResult", "search_gemm", "candidates", "machine_digest", "clear_cache", "rank_key"]


@dataclass(frozen=True)
class SearchResult:
    """The winner and the runners-up (best first), with the size of the space searched."""

    best: GemmCandidate
    estimate: GemmEstimate
    ranked: tuple[tuple[GemmCandidate, GemmEstimate], ...]  # the best few, best first
    space: int  # candidates enumerated
    feasible: int  # candidates whose buffers fit
    evaluated: int = 0  # candidates fully costed (the rest were pruned by their lower bound)
    verified: tuple[tuple[GemmCandidate, int], ...] = ()  # (candidate, simulated cycles) when checked in SimPy


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _fold_options(total: int, fold: int, cap: int | None = None) -> list[int]:
    """Tile sizes along a dimension mapped onto ``fold`` PEs: whole folds (or ``total`` when it
    is smaller), from halvings of the dimension and even splits into 1..8 blocks."""
    if total <= fold:
        return [total]
    folds = _cdiv(total, fold)
    opts = {total}
    f = 1
    while f < folds:
        opts.add(f * fold)
        f *= 2
    for j in (1, 2, 3, 4, 6, 8):
        opts.add(min(total, _cdiv(folds, j) * fold))
    out = sorted(x for x in opts if x >= 1)
    if cap is not None:
        out = [x for x in out if x <= max(cap, min(total, fold))]
    return out


def _stream_options(total: int, base: int, cap: int | None = None) -> list[int]:
    """Tile sizes along the streamed dimension: the whole, halvings down to ``base`` rows, and
    even splits into 1..8 blocks."""
    opts = {total}
    x = total
    while x > max(1, base // 2):
        x = _cdiv(x, 2)
        opts.add(x)
    for j in (1, 2, 3, 4, 6, 8):
        opts.add(_cdiv(total, j))
    f = base
    while f < total:
        opts.add(f)
        f *= 2
    out = sorted(opts)
    if cap is not None:
        out = [v for v in out if v <= cap] or [min(out)]
    return out


def _cand(t: tuple[int, int, int, int, int, str, int, int]) -> GemmCandidate:
    g, arrays, m, n, k, order, mp, split = t
    assert order in ORDERS
    return GemmCandidate(g, arrays, m, n, k, cast(Order, order), mp, split)


def _dims(dataflow: str) -> tuple[str, str, str]:
    """Which GEMM dimension lies on array rows, on array cols, and which streams."""
    return {"os": ("M", "N", "K"), "ws": ("K", "N", "M"), "is": ("K", "M", "N")}[dataflow]


def candidates(p: GemmProblem, mach: Machine, **caps: int | None) -> list[GemmCandidate]:
    """Every candidate of the mapspace (not yet filtered by fit), in a deterministic order."""
    return [_cand(t) for t in _candidate_tuples(p, mach, **caps)]


def _candidate_tuples(p: GemmProblem, mach: Machine, *, max_tile_m: int | None = None,
                      tile_n_folds: int | None = None,
                      tile_k_folds: int | None = None) -> Iterable[tuple[int, int, int, int, int, str, int, int]]:
    for gi, g in enumerate(mach.groups):
        rows_dim, cols_dim, stream_dim = _dims(g.dataflow)
        side = {rows_dim: g.rows, cols_dim: g.cols}
        total = {"M": p.M, "N": p.N, "K": p.K}

        def opts(d: str, cap: int | None) -> list[int]:
            if d == stream_dim:
                return _stream_options(total[d], max(g.rows, g.cols), cap)
            return _fold_options(total[d], side[d], cap)

        m_cap = max_tile_m
        n_cap = tile_n_folds * (side.get("N") or max(g.rows, g.cols)) if tile_n_folds else None
        k_cap = tile_k_folds * (side.get("K") or max(g.rows, g.cols)) if tile_k_folds else None
        ms, ns, ks = opts("M", m_cap), opts("N", n_cap), opts("K", k_cap)
        counts = range(1, g.count + 1) if g.count <= 16 else sorted(
            {1, 2, 4, 8, 16, g.count, g.count // 2, g.count // 4} - {0})
        for arrays in counts:
            for m in ms:
                panels = sorted({m * (1 << i) for i in range(0, 3) if m * (1 << i) < p.M} | {p.M})
                for n in ns:
                    # units per array: split them when they deal unevenly over the arrays
                    outer_n = p.batch * _cdiv(p.N, n)
                    splits_n = (1, 2, 4) if arrays > 1 and outer_n % arrays and _cdiv(p.M, m) > 1 else (1,)
                    for k in ks:
                        for sp in splits_n:
                            yield (gi, arrays, m, n, k, "N", 0, sp)
                            if k < p.K:  # with one K tile, streaming B is order N without its reuse
                                yield (gi, arrays, m, n, k, "S", 0, sp)
                        for mp in panels:
                            if mp >= m:
                                outer_m = p.batch * _cdiv(p.M, mp)
                                splits_m = (1, 2, 4) if arrays > 1 and outer_m % arrays and _cdiv(p.N, n) > 1 else (1,)
                                for sp in splits_m:
                                    yield (gi, arrays, m, n, k, "M", mp, sp)


#: Candidates within this fraction of the best objective value count as tied; the other metric
#: (energy for the latency objective, latency for energy) breaks the tie.
TIE_TOLERANCE = 0.005
#: Within the tie window, candidates within this fraction of the best secondary metric count as
#: tied too, and the one with the fewest tiles wins (a faster simulation for the same answer).
SECONDARY_TOLERANCE = 0.02


def rank_key(objective: str, est: GemmEstimate, c: GemmCandidate) -> tuple[float, ...]:
    """Sort key: the objective, the other metric (the tie-break within :data:`TIE_TOLERANCE`),
    then fewer tiles, bigger tiles, and the candidate itself (deterministic)."""
    lat, en = float(est.cycles), est.energy_pj
    if objective == "energy":
        head: tuple[float, ...] = (round(en, 3), lat)
    elif objective == "edp":
        head = (round(en * lat, 3), lat)
    else:
        head = (lat, round(en, 3))
    return (*head, est.tiles, -c.m * c.n * c.k, c.arrays, c.group, c.m, c.n, c.k, "NMS".index(c.order), c.mp, c.split)


def machine_digest(mach: Machine) -> str:
    blob = json.dumps(asdict(mach), sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


_CACHE: OrderedDict[tuple[object, ...], SearchResult] = OrderedDict()
_CACHE_SIZE = 4096
_lock = threading.Lock()


def clear_cache() -> None:
    with _lock:
        _CACHE.clear()


def _comp_total(df: str, M: int, N: int, K: int, m: np.ndarray, n: np.ndarray, k: np.ndarray,
                R: int, C: int) -> np.ndarray:
    """Vectorised total compute cycles of one batch item (all output tiles, K tiles chained as in
    :func:`accelsim.model.systolic.chained_tile_cycles`)."""
    m = np.minimum(m, M)
    n = np.minimum(n, N)
    k = np.minimum(k, K)
    mt, nt, kt = -(-M // m), -(-N // n), -(-K // k)
    m_last, n_last, k_last = M - (mt - 1) * m, N - (nt - 1) * n, K - (kt - 1) * k
    total = np.zeros(m.shape, dtype=np.float64)
    for msz, mc in ((m, mt - 1), (m_last, np.ones_like(mt))):
        for nsz, nc in ((n, nt - 1), (n_last, np.ones_like(nt))):
            # back-to-back tiles: body + the preload the previous fold cannot hide
            # (accelsim.model.systolic.tile_phases)
            if df == "os":
                f = -(-msz // R) * -(-nsz // C)

                def steady(kk: np.ndarray) -> np.ndarray:
                    return (f - 1) * np.maximum(kk, R) + kk

                comp = (kt - 1) * steady(k) + steady(k_last)
            else:
                T, cols = (msz, nsz) if df == "ws" else (nsz, msz)
                fc = -(-cols // C)

                def steady(kk: np.ndarray) -> np.ndarray:
                    fk = fc * (-(-kk // R))
                    return (fk - 1) * np.maximum(T, R) + T + np.maximum(0, R - T)

                comp = (kt - 1) * steady(k) + steady(k_last)
            total += mc * nc * comp
    return total


def _bounded_pool(p: GemmProblem, mach: Machine, cands: list[tuple[int, int, int, int, int, str, int, int]],
                  objective: str) -> list[tuple[float, GemmCandidate, float]]:
    """Every candidate whose buffers fit, with a lower bound on its objective (vectorised
    :func:`accelsim.model.gemm_cost.fits` and :func:`~accelsim.model.gemm_cost.lower_bound`)."""
    if not cands:
        return []
    e, acc = p.elem, p.acc
    cols = list(zip(*cands))
    grp = np.array(cols[0])
    arr = np.array(cols[1], dtype=np.int64)
    m = np.array(cols[2], dtype=np.int64)
    n = np.array(cols[3], dtype=np.int64)
    k = np.array(cols[4], dtype=np.int64)
    mp = np.maximum(1, np.array(cols[6], dtype=np.int64))
    sp = np.array(cols[7], dtype=np.int64)
    order = np.array(["NMS".index(o) for o in cols[5]])
    isM = order == 1
    isN = order == 0
    # footprint (see gemm_cost.footprint)
    if p.a_on_chip:
        a_need = np.zeros_like(m)
    else:
        panels = -(-p.M // mp)
        a_need = np.where(isM, mp * p.K * e * np.where(panels * p.batch > arr, 2, 1), 2 * m * k * e)
    if p.b_on_chip or p.b_rom:
        b_need = np.zeros_like(m)
    else:
        nblk = (-(-p.N // np.minimum(n, p.N))) * p.batch
        b_need = np.where(isN, p.K * n * e * np.where(nblk > arr, 2, 1),
                          np.where(isM & (mp > m), 2 * p.K * n * e, 2 * k * n * e))
    dfs = np.array([mach.groups[gi].dataflow == "os" for gi in range(len(mach.groups))])[grp]
    acc_need = np.where(dfs & (k >= p.K), 0, 2 * m * n * acc)
    out_need = np.zeros_like(m) if p.out_on_chip else 2 * m * n * e
    ok = np.ones(len(cands), dtype=bool)
    need: dict[str, np.ndarray] = {}
    for role, v in (("inputs", a_need), ("weights", b_need), ("accumulators", acc_need), ("outputs", out_need)):
        part = mach.role_part[role]
        need[part] = need.get(part, 0) + v * arr
    for part, v in need.items():
        ok &= v <= mach.tile_bytes.get(part, 0)
    # lower bound (see gemm_cost.lower_bound)
    comp = np.zeros(len(cands), dtype=np.float64)
    for gi, g in enumerate(mach.groups):
        sel = grp == gi
        if sel.any():
            comp[sel] = _comp_total(g.dataflow, p.M, p.N, p.K, m[sel], n[sel], k[sel], g.rows, g.cols)
    comp *= p.batch
    mt = -(-p.M // np.minimum(m, p.M))
    nt = -(-p.N // np.minimum(n, p.N))
    kt = -(-p.K // np.minimum(k, p.K))
    a_tot = 0 if p.a_on_chip else p.a_dram_bytes
    b_tot = 0 if (p.b_on_chip or p.b_rom) else p.batch * p.K * p.N * e
    out = 0 if p.out_on_chip else p.batch * p.M * p.N * e
    traffic = np.where(isN, a_tot * nt + b_tot * sp, np.where(isM, a_tot * sp + b_tot * (-(-p.M // mp)),
                                                               a_tot * nt + b_tot * mt)) + out
    tiles = p.batch * mt * nt * kt
    # DMA transfers (each holds an engine for at least its setup + the DRAM latency)
    a_loads = 0 if p.a_on_chip else np.where(isM, p.batch * mt * kt, tiles)
    b_loads = 0 if (p.b_on_chip or p.b_rom) else np.where(
        isN, p.batch * nt * kt, np.where(isM & (mp > m), p.batch * (-(-p.M // mp)) * nt * kt, tiles))
    stores = 0 if p.out_on_chip else p.batch * mt * nt
    t_dma = (a_loads + b_loads + stores) * (mach.dma_setup + mach.dram_latency) / mach.dma_engines
    # every mapping also pays one preload and one drain, the first load's and the last store's
    # fixed latency (accelsim.model.gemm_cost.estimate_gemm adds them to every bound)
    R_ = np.array([g.rows for g in mach.groups])[grp]
    C_ = np.array([g.cols for g in mach.groups])[grp]
    fixed = R_ + (R_ + C_ - 2) + (mach.dma_setup + mach.dram_latency) * (2 if not p.out_on_chip else 1)
    # a command that loads waits for the transfer's fixed latency, and only two commands per array
    # are in flight: at least (loading commands x latency + compute) / 2 per array
    loading = np.maximum(a_loads, b_loads)
    t_lat = (loading * (mach.dma_setup + mach.dram_latency) + comp) / (2 * arr)
    cyc = np.maximum(np.maximum(np.maximum(np.maximum(comp / arr + fixed, traffic / mach.dram_bpc),
                                           tiles * mach.issue_cycles), t_dma), t_lat)
    mac_pj = np.array([mach.groups[g].mac_pj for g in range(len(mach.groups))])[grp]
    energy = p.macs * mac_pj + traffic * mach.dram_pj_per_byte + mach.static_w * cyc / mach.clock_hz * 1e12
    lb = energy if objective == "energy" else (cyc * energy if objective == "edp" else cyc)
    sec = cyc if objective == "energy" else energy  # bound on the tie-breaking metric
    idx = np.flatnonzero(ok)
    return [(float(lb[i]), _cand(cands[i]), float(sec[i])) for i in idx]


def search_gemm(
    p: GemmProblem,
    mach: Machine,
    *,
    objective: str = "latency",
    digest: str | None = None,
    max_tile_m: int | None = None,
    tile_n_folds: int | None = None,
    tile_k_folds: int | None = None,
    keep: int = 5,
    verify: Callable[[GemmCandidate], int] | None = None,
    verify_top: int = 0,
    verify_max_tiles: int = 64,
    persist: str | None = None,
) -> SearchResult:
    """The best mapping of ``p`` on ``mach`` by ``objective``; raises :class:`MappingError` when no
    mapping fits the SRAM (even a single fold).

    With ``verify`` (simulated cycles of a candidate) and ``verify_top`` > 0, the best
    ``verify_top`` candidates by the cost model are simulated when the winner has at most
    ``verify_max_tiles`` tiles (small ops, where fixed per-tile costs make the closed form least
    accurate and a simulation is cheap); the fastest simulated wins (latency objective) and its
    simulated cycles are recorded in ``SearchResult.verified``.

    With ``persist`` (a digest of everything ``verify`` depends on: the architecture the
    candidates are simulated on), results are also kept on disk across processes
    (:mod:`accelsim.mapping.search_cache`)."""
    keep = max(keep, verify_top)
    key = (p.key(), digest or machine_digest(mach), objective, max_tile_m, tile_n_folds, tile_k_folds, keep,
           verify_top if verify is not None else 0, verify_max_tiles)
    with _lock:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    disk_key = None
    if persist is not None:
        from accelsim.mapping import search_cache  # lazy: it reads SearchResult from here

        disk_key = search_cache.key_for(key, persist)
        hit = search_cache.lookup(disk_key)
        if hit is not None:
            _remember(key, hit)
            return hit
    cands = list(_candidate_tuples(p, mach, max_tile_m=max_tile_m, tile_n_folds=tile_n_folds,
                                   tile_k_folds=tile_k_folds))
    shared: dict[tuple[object, ...], object] = {}  # estimate_gemm's memo tables
    space = len(cands)
    pool = _bounded_pool(p, mach, cands, objective)
    # Branch and bound: evaluate in order of the lower bound; stop once the bound exceeds both
    # the keep-th best objective value found and the tie window above the best (so the winner
    # and the top `keep` are exact).
    pool.sort(key=lambda x: x[0])  # stable: ties keep the deterministic enumeration order
    feasible: list[tuple[tuple[float, ...], GemmCandidate, GemmEstimate]] = []
    evaluated = 0
    best_sec = math.inf  # best tie-breaking metric among candidates in the tie window so far
    for lb, c, lb_sec in pool:
        if len(feasible) >= keep:
            top = feasible[0][0][0] * (1 + TIE_TOLERANCE)
            if lb > max(feasible[keep - 1][0][0], top):
                break
            # inside the tie window only a better tie-break can win; past the keep-th it is out
            if lb > feasible[keep - 1][0][0] and lb_sec >= best_sec:
                continue
        est = estimate_gemm(p, c, mach, shared)
        evaluated += 1
        rk = rank_key(objective, est, c)
        bisect.insort(feasible, (rk, c, est), key=lambda x: x[0])
        if rk[0] <= feasible[0][0][0] * (1 + TIE_TOLERANCE):
            best_sec = min(best_sec, rk[1])
    if feasible:
        # Within TIE_TOLERANCE of the best objective value, the secondary metric decides.
        # Within TIE_TOLERANCE of the best objective value the secondary metric decides, and
        # within TIE_TOLERANCE of the best secondary value, fewer tiles (a faster simulation).
        best = feasible[0][0][0]
        window = [f for f in feasible if f[0][0] <= best * (1 + TIE_TOLERANCE)]
        best2 = min(f[0][1] for f in window)
        inner = [f for f in window if f[0][1] <= best2 * (1 + SECONDARY_TOLERANCE)]
        inner.sort(key=lambda f: (f[0][2], f[0][1], f[0][0], *f[0][3:]))
        outer = [f for f in window if f[0][1] > best2 * (1 + SECONDARY_TOLERANCE)]
        outer.sort(key=lambda f: (f[0][1], *f[0][2:]))
        rest = [f for f in feasible if f[0][0] > best * (1 + TIE_TOLERANCE)]
        feasible = inner + outer + rest
    if not feasible:
        g = mach.groups[0]
        raise MappingError(
            f"a {p.batch}x{p.M}x{p.N}x{p.K} GEMM has no mapping whose tile buffers fit the SRAM "
            f"(even one {g.rows}x{g.cols} fold; tile-buffer bytes per partition: "
            + ", ".join(f"{k} {v}" for k, v in sorted(mach.tile_bytes.items())) + ")"
        )
    ranked = tuple((c, e) for _, c, e in feasible[:keep])
    verified: tuple[tuple[GemmCandidate, int], ...] = ()
    if verify is not None and verify_top > 0:
        # The best `verify_top` distinct candidates (by estimate) of at most `verify_max_tiles`
        # tiles for every array count: a mapping on n arrays costs the same on a machine with
        # more arrays, and fits one with more SRAM, so the set checked there contains the set
        # checked here and more hardware never loses a verified winner. Candidates with more
        # tiles (too slow to simulate) compete with their estimates.
        per_count: dict[tuple[int, int], list[tuple[GemmCandidate, GemmEstimate]]] = {}
        done = {c: est for _, c, est in feasible}
        by_key: dict[tuple[int, int], list[tuple[float, GemmCandidate]]] = {}
        for lb, c, _ in pool:  # pool is sorted by the lower bound
            by_key.setdefault((c.group, c.arrays), []).append((lb, c))
        for key_, lst_ in sorted(by_key.items()):
            best_here: list[tuple[tuple[float, ...], GemmCandidate, GemmEstimate]] = []
            seen: set[tuple[int, int, int]] = set()
            for lb, c in lst_:
                if len(best_here) >= verify_top and lb > best_here[verify_top - 1][0][0]:
                    break
                if p.batch * _cdiv(p.M, c.m) * _cdiv(p.N, c.n) * _cdiv(p.K, c.k) > verify_max_tiles:
                    continue
                est = done.get(c) or estimate_gemm(p, c, mach, shared)
                if est.tiles > verify_max_tiles:
                    continue
                sig = (est.cycles, est.dram_bytes, est.tiles)
                if sig in seen:
                    continue
                seen.add(sig)
                bisect.insort(best_here, (rank_key(objective, est, c), c, est), key=lambda x: x[0])
            per_count[key_] = [(c, est) for _, c, est in best_here[:verify_top]]
        checks = [x for k in sorted(per_count) for x in per_count[k]]
        if ranked[0][1].tiles <= verify_max_tiles and all(c != ranked[0][0] for c, _ in checks):
            checks.insert(0, ranked[0])  # the cost model's own winner is checked when small enough
        sims = [verify(c) for c, _ in checks]
        verified = tuple((c, cyc) for (c, _), cyc in zip(checks, sims))
        if objective == "latency" and checks:
            # the fastest simulated, or an unsimulated (large) candidate by its estimate; within
            # TIE_TOLERANCE of the fastest, the cheapest in energy
            checked = {c for c, _ in checks}
            for c, est in ranked:
                if c not in checked:
                    checks.append((c, est))
                    sims.append(est.cycles)
            best_sim = min(sims)
            tied = [i for i in range(len(checks)) if sims[i] <= best_sim * (1 + TIE_TOLERANCE)]
            best_e = min(checks[i][1].energy_pj for i in tied)
            tied = [i for i in tied if checks[i][1].energy_pj <= best_e * (1 + TIE_TOLERANCE)]
            win = min(tied, key=lambda i: (checks[i][1].tiles, sims[i],
                                           rank_key(objective, checks[i][1], checks[i][0])))
            wc, we = checks[win]
            ranked = ((wc, we),) + tuple(x for x in ranked if x[0] != wc)
    res = SearchResult(ranked[0][0], ranked[0][1], ranked, space, len(pool), evaluated, verified)
    _remember(key, res)
    if disk_key is not None:
        search_cache.store(disk_key, res)
    return res


def _remember(key: tuple[object, ...], res: SearchResult) -> None:
    with _lock:
        _CACHE[key] = res
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)


def simulate_candidate(p: GemmProblem, c: GemmCandidate, mach: Machine, arch: object, banks: object) -> int:
    """Simulated cycles (SimPy) of the GEMM ``p`` mapped as ``c`` on its own, as the mapper would
    emit it (operands in DRAM or on chip as ``p`` says)."""
    from accelsim.mapping.gemm_emit import GemmOperands, emit_gemm_tiles
    from accelsim.mapping.program import MappedOp, Program
    from accelsim.sim.engine import simulate

    tiles = emit_gemm_tiles(p, c, mach, GemmOperands("a", "b", "out", banks), 0, {})  # type: ignore[arg-type]
    op = MappedOp(0, "gemm", "gemm", "matmul", "", "array", (), (0, len(tiles)), p.macs,
                  (p.batch, p.M, p.N, p.K))
    prog = Program(getattr(arch, "name", "arch"), "pipelined", (op,), tuple(tiles))
    return simulate(prog, arch).total_cycles  # type: ignore[arg-type]
