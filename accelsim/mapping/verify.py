"""Static checks of a mapped :class:`~accelsim.mapping.program.Program` against its architecture
(pure: no SimPy, nothing simulated).

:func:`verify_program` (also ``Program.verify(arch)``) checks that the program is one the
hardware can run and that it computes what the graph asks for:

* **units**: every tile runs on an array instance of the architecture or on ``"vector"``; a GEMM
  op's tiles run on the arrays its plan names;
* **SRAM**: every transfer and every SRAM access names a partition of the architecture and a
  bank range ``[b0, b1)`` inside it (``(0, 0)``: the whole partition); no transfer moves more
  bytes than its partition holds; a residual access tag names a bound residual partition;
* **capacity**: per op, the tile buffers of the plan (``plan["footprint_bytes"]``) fit the
  mapper's tile-buffer budget, :func:`accelsim.mapping.banks.bank_plan` ``(arch,
  resident_fraction).tile_bytes``;
* **dependencies**: op deps point to earlier ops (so the op graph is acyclic); a tile's
  ``after`` deps point to earlier tiles of the same op; each op's tiles are one contiguous run of
  ``Program.tiles``, in op order (the sequencer issues tiles in that order, so a tile listed
  before the ops it depends on would deadlock it);
* **work**: a GEMM op's tiles hold ``batch x M x N x K`` MACs in total and cover every output
  element's K range exactly once; a vector op's tiles partition its element range (and, for a
  plain vector op of the graph, cover its largest tensor); a fused attention op has one QK^T,
  softmax and P.V tile per (head, query block), chained by ``after``, the query blocks of each
  head partition its queries, each block sees every key it may attend to, and the executed MACs
  add up to the op's;
* **phases**: an array tile's fill and drain fit inside its compute cycles.

What is not an error but worth knowing goes to :attr:`VerifyReport.notes`: an op whose tiles move
a different number of DRAM bytes than its plan predicted (the cost model and the emitter
disagree), and a transfer larger than the bank range it writes (a reused panel the cost model
counts against the whole tile-buffer area, loaded through one slot's banks).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from accelsim.arch.spec import ArchSpec
from accelsim.errors import MappingError

if TYPE_CHECKING:
    from accelsim.mapping.options import MappingOptions
    from accelsim.mapping.program import MappedOp, Program, Tile

__all__ = ["VerifyError", "VerifyReport", "verify_program"]

#: Largest number of grid cells the GEMM coverage check builds per op (beyond it, the check
#: falls back to a volume count plus a pairwise-disjointness sweep).
_MAX_GRID_CELLS = 4_000_000


class VerifyError(MappingError):
    """A program that fails :func:`verify_program`; ``problems`` lists every failure."""

    def __init__(self, arch: str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        super().__init__(
            f"the program mapped onto '{arch}' fails verification ({n} problem{'s' if n != 1 else ''}):\n  "
            + "\n  ".join(self.problems)
        )


@dataclass(frozen=True)
class VerifyReport:
    """What :func:`verify_program` checked (counts) and its non-fatal findings (``notes``)."""

    ops: int
    tiles: int
    gemm_ops: int
    vector_ops: int
    attention_ops: int
    notes: tuple[str, ...] = ()
    #: per op index with a predicted figure: (DRAM bytes the tiles move, bytes the plan predicted)
    dram_bytes: dict[int, tuple[int, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"ops": self.ops, "tiles": self.tiles, "gemm_ops": self.gemm_ops,
                "vector_ops": self.vector_ops, "attention_ops": self.attention_ops,
                "notes": list(self.notes)}


def _where(op: MappedOp) -> str:
    return f"op {op.index} '{op.name}' (module '{op.module or '<top>'}')"


class _Checker:
    def __init__(self, program: Program, arch: ArchSpec, options: MappingOptions | None) -> None:
        from accelsim.mapping.banks import bank_plan
        from accelsim.mapping.options import MappingOptions

        self.p = program
        self.arch = arch
        self.opts = options or MappingOptions()
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.units = {name for name, _ in arch.array_instances()} | {"vector"}
        sram = arch.sram
        self.part_banks = {n: len(p.banks) for n, p in sram.partitions.items()}
        self.bank_bytes = sram.bank_size_bytes
        self.budget = bank_plan(arch, self.opts.resident_fraction).tile_bytes
        self.residual = set(arch.residual.partitions) if arch.residual is not None else set()
        self.graph_ops = {o.name: o for o in program.graph.ops} if program.graph is not None else {}
        self.dram: dict[int, tuple[int, int]] = {}
        self.counts = {"gemm": 0, "vector": 0, "attention": 0}

    def bad(self, msg: str) -> None:
        self.problems.append(msg)

    # ------------------------------------------------------------------ structure
    def structure(self) -> None:
        p = self.p
        n_ops, n_tiles = len(p.ops), len(p.tiles)
        owner = [-1] * n_tiles
        cursor = 0
        for i, op in enumerate(p.ops):
            if op.index != i:
                self.bad(f"{_where(op)}: index {op.index} at position {i} of Program.ops")
            for d in op.deps:
                if not 0 <= d < n_ops:
                    self.bad(f"{_where(op)}: depends on op {d}, which does not exist")
                elif d >= i:
                    self.bad(f"{_where(op)}: depends on op {d} '{p.ops[d].name}', which is not earlier "
                             "(a dependency cycle, or an op issued before what it needs)")
            s, e = op.tiles
            if e < s or s < 0 or e > n_tiles:
                self.bad(f"{_where(op)}: tile range [{s}, {e}) is not inside the program's {n_tiles} tiles")
                continue
            if e == s:
                if op.unit != "none" and op.macs:
                    self.bad(f"{_where(op)}: {op.macs} MACs but no tiles")
                continue
            if op.unit == "none":
                self.bad(f"{_where(op)}: a free (layout) op with {e - s} tiles")
            if s != cursor:
                self.bad(f"{_where(op)}: tiles [{s}, {e}) do not follow the previous op's (expected to start "
                         f"at tile {cursor}): tiles must be listed in op order, one contiguous run per op")
            cursor = max(cursor, e)
            for ti in range(s, e):
                if owner[ti] >= 0:
                    self.bad(f"{_where(op)}: tile {ti} also belongs to op {owner[ti]}")
                owner[ti] = i
        if cursor != n_tiles:
            self.bad(f"tiles [{cursor}, {n_tiles}) belong to no op")
        for j, t in enumerate(p.tiles):
            if t.id != j:
                self.bad(f"tile at position {j} has id {t.id}")
            if not 0 <= t.op < n_ops:
                self.bad(f"tile {t.id}: op {t.op} does not exist")
                continue
            if owner[j] >= 0 and owner[j] != t.op:
                self.bad(f"tile {t.id}: says op {t.op} but lies in the tile range of op {owner[j]} "
                         f"'{p.ops[owner[j]].name}'")
            for d in t.after:
                if not 0 <= d < n_tiles:
                    self.bad(f"tile {t.id} ({_where(p.ops[t.op])}): waits for tile {d}, which does not exist")
                elif d >= t.id:
                    self.bad(f"tile {t.id} ({_where(p.ops[t.op])}): waits for tile {d}, which is not earlier "
                             "in issue order (the sequencer would never issue it)")
                elif p.tiles[d].op != t.op:
                    self.bad(f"tile {t.id} ({_where(p.ops[t.op])}): waits for tile {d} of another op "
                             f"({p.tiles[d].op}); across ops, dependencies are op deps")

    # ------------------------------------------------------------------ per tile
    def banks_ok(self, what: str, part: str, banks: tuple[int, int]) -> bool:
        nb = self.part_banks.get(part)
        if nb is None:
            self.bad(f"{what}: partition '{part}' is not in the architecture "
                     f"(partitions: {', '.join(sorted(self.part_banks))})")
            return False
        b0, b1 = banks
        if (b0, b1) != (0, 0) and not 0 <= b0 < b1 <= nb:
            self.bad(f"{what}: banks [{b0}, {b1}) are not a range inside partition '{part}' ({nb} banks)")
            return False
        return True

    def tile(self, t: Tile) -> None:
        op = self.p.ops[t.op] if 0 <= t.op < len(self.p.ops) else None
        where = f"tile {t.id}" + (f" of {_where(op)}" if op is not None else "")
        if t.unit not in self.units:
            self.bad(f"{where}: unit '{t.unit}' does not exist (units: {', '.join(sorted(self.units))})")
        if t.compute_cycles < 0 or t.fill_cycles < 0 or t.drain_cycles < 0 or t.stream_cycles < 0:
            self.bad(f"{where}: negative cycles")
        if t.fill_cycles + t.drain_cycles > t.compute_cycles:
            self.bad(f"{where}: fill {t.fill_cycles} + drain {t.drain_cycles} cycles exceed its "
                     f"{t.compute_cycles} compute cycles")
        if t.slot not in (0, 1):
            self.bad(f"{where}: buffer slot {t.slot} (units are double-buffered: 0 or 1)")
        for kind, trs in (("load", t.loads), ("store", t.stores)):
            for tr in trs:
                w = f"{where}: {kind} of '{tr.tensor}'"
                if tr.direction != kind:
                    self.bad(f"{w}: direction '{tr.direction}' in its {kind}s")
                if tr.nbytes <= 0:
                    self.bad(f"{w}: {tr.nbytes} bytes (a transfer moves at least one byte)")
                if not self.banks_ok(w, tr.partition, tr.banks):
                    continue
                nb = self.part_banks[tr.partition]
                b0, b1 = tr.banks if tr.banks != (0, 0) else (0, nb)
                if tr.nbytes > nb * self.bank_bytes:
                    self.bad(f"{w}: {tr.nbytes} bytes exceed partition '{tr.partition}' "
                             f"({nb * self.bank_bytes} bytes)")
                elif tr.nbytes > (b1 - b0) * self.bank_bytes:
                    self.notes.append(f"{w}: {tr.nbytes} bytes through banks [{b0}, {b1}) of "
                                      f"'{tr.partition}', which hold {(b1 - b0) * self.bank_bytes}")
        for a in t.sram:
            if a.nbytes < 0:
                self.bad(f"{where}: SRAM access of {a.nbytes} bytes")
            self.banks_ok(f"{where}: SRAM {'write' if a.write else 'read'}", a.partition, a.banks)
        for role, part, acc, nbytes in t.access:
            if part not in self.residual:
                self.bad(f"{where}: residual {acc} by '{role}' of partition '{part}', which the architecture "
                         "does not bind (residual.partitions)")
            if acc not in ("read", "write") or nbytes < 0:
                self.bad(f"{where}: residual access ({role}, {part}, {acc}, {nbytes}) is malformed")

    # ------------------------------------------------------------------ per op
    def op(self, op: MappedOp) -> None:
        s, e = op.tiles
        if e <= s or e > len(self.p.tiles):
            return
        tiles = self.p.tiles[s:e]
        plan = op.plan or {}
        if plan.get("fused") == "attention":
            self.counts["attention"] += 1
            self.attention(op, tiles, plan)
        elif op.unit == "array" and any(op.gemm):
            self.counts["gemm"] += 1
            self.gemm(op, tiles, plan)
        elif op.unit == "vector":
            self.counts["vector"] += 1
            self.vector(op, tiles)
        elif op.unit == "array":
            self.bad(f"{_where(op)}: an array op with no GEMM shape")
        fp = plan.get("footprint_bytes")
        if fp:
            for part, need in sorted(fp.items()):
                have = self.budget.get(part)
                if have is None:
                    self.bad(f"{_where(op)}: its tile buffers use partition '{part}', which is not in the "
                             "architecture")
                elif need > have:
                    self.bad(f"{_where(op)}: its tile buffers need {need} bytes of partition '{part}', more "
                             f"than the {have}-byte tile-buffer budget (resident_fraction "
                             f"{self.opts.resident_fraction:g})")
        pred = plan.get("predicted_dram_bytes")
        if pred is not None:
            moved = sum(tr.nbytes for t in tiles for tr in (*t.loads, *t.stores))
            self.dram[op.index] = (moved, int(pred))
            if moved != pred:
                self.notes.append(f"{_where(op)}: its tiles move {moved} DRAM bytes, the plan predicted "
                                  f"{int(pred)} ({(moved - pred) / max(1, pred):+.2%})")

    def gemm(self, op: MappedOp, tiles: Sequence[Tile], plan: Mapping[str, Any]) -> None:
        batch, M, N, K = op.gemm
        # P groups of a grouped convolution packed into one block-diagonal GEMM
        # (accelsim/mapping/lowering.py): the tiles cover the whole block-diagonal product, their
        # MACs count the P diagonal blocks only, 1/P of it
        packed = int(plan.get("packed_groups") or 1)
        want = batch * M * N * K // packed
        if op.macs != want:
            self.bad(f"{_where(op)}: {op.macs} MACs, its GEMM {batch}x{M}x{N}x{K}"
                     + (f" ({packed} groups packed)" if packed > 1 else "") + f" has {want}")
        arrays = set(plan.get("arrays") or ())
        macs = 0
        boxes: list[tuple[int, ...]] = []
        for t in tiles:
            if len(t.dims) != 3 or len(t.offsets) != 4:
                self.bad(f"tile {t.id} of {_where(op)}: a GEMM tile needs dims (m, n, k) and offsets "
                         f"(batch, m, n, k), has {t.dims} and {t.offsets}")
                return
            m, n, k = t.dims
            b, mo, no, ko = t.offsets
            if (t.macs != m * n * k) if packed == 1 else not 0 <= t.macs <= m * n * k:
                self.bad(f"tile {t.id} of {_where(op)}: {t.macs} MACs for a {m}x{n}x{k} tile")
            if arrays and t.unit not in arrays:
                self.bad(f"tile {t.id} of {_where(op)}: runs on '{t.unit}', not on the plan's arrays "
                         f"({', '.join(sorted(arrays))})")
            macs += t.macs
            if min(m, n, k) < 1 or not (0 <= b < batch and 0 <= mo and mo + m <= M and 0 <= no
                                        and no + n <= N and 0 <= ko and ko + k <= K):
                self.bad(f"tile {t.id} of {_where(op)}: batch {b}, rows [{mo}, {mo + m}), cols [{no}, {no + n}), "
                         f"K [{ko}, {ko + k}) is outside the {batch}x{M}x{N}x{K} GEMM")
                return
            boxes.append((b, mo, mo + m, no, no + n, ko, ko + k))
        if macs != want:
            self.bad(f"{_where(op)}: its tiles hold {macs} MACs, the GEMM {batch}x{M}x{N}x{K} has {want}")
        self._cover(op, boxes, (batch, M, N, K))

    def _cover(self, op: MappedOp, boxes: list[tuple[int, ...]], shape: tuple[int, int, int, int]) -> None:
        """Every (batch, row, col) output element's K range covered exactly once: count the tiles
        over each cell of the grid the tiles' edges draw."""
        batch, M, N, K = shape
        if not boxes:
            self.bad(f"{_where(op)}: no tiles")
            return
        arr = np.array(boxes, dtype=np.int64)
        cuts = [np.unique(np.concatenate([[0, hi], arr[:, i], arr[:, i + 1]]))
                for i, hi in ((1, M), (3, N), (5, K))]
        cells = batch * math.prod(len(c) - 1 for c in cuts)
        if cells > _MAX_GRID_CELLS:
            self._cover_sweep(op, boxes, shape)
            return
        grid = np.zeros((batch, *(len(c) - 1 for c in cuts)), dtype=np.int32)
        idx = [np.searchsorted(c, arr[:, i]) for c, i in
               ((cuts[0], 1), (cuts[0], 2), (cuts[1], 3), (cuts[1], 4), (cuts[2], 5), (cuts[2], 6))]
        for j in range(len(boxes)):
            grid[arr[j, 0], idx[0][j]:idx[1][j], idx[2][j]:idx[3][j], idx[4][j]:idx[5][j]] += 1
        for label, mask in (("not covered", grid == 0), ("covered more than once", grid > 1)):
            if mask.any():
                where = np.argwhere(mask)
                b, i, j, k = (int(x) for x in where[0])
                mc, nc, kc = cuts
                self.bad(f"{_where(op)}: K range [{kc[k]}, {kc[k + 1]}) of output rows "
                         f"[{mc[i]}, {mc[i + 1]}) x cols [{nc[j]}, {nc[j + 1]}) of batch {b} is {label}"
                         + (f" (and {len(where) - 1} more cells)" if len(where) > 1 else ""))

    def _cover_sweep(self, op: MappedOp, boxes: list[tuple[int, ...]], shape: tuple[int, int, int, int]) -> None:
        """Exact cover without a grid: the boxes' volume is the GEMM's and no two boxes overlap
        (sorted by their first row, a box can only overlap boxes starting before it ends)."""
        batch, M, N, K = shape
        vol = sum((b[2] - b[1]) * (b[4] - b[3]) * (b[6] - b[5]) for b in boxes)
        if vol != batch * M * N * K:
            self.bad(f"{_where(op)}: its tiles cover {vol} (row, col, k) points, the GEMM has {batch * M * N * K}")
            return
        srt = sorted(boxes)
        for a_i, a in enumerate(srt):
            for c in srt[a_i + 1:]:
                if c[0] != a[0] or c[1] >= a[2]:
                    break
                if c[3] < a[4] and a[3] < c[4] and c[5] < a[6] and a[5] < c[6]:
                    self.bad(f"{_where(op)}: two tiles overlap at batch {a[0]}, rows [{c[1]}, {min(a[2], c[2])})")
                    return

    def vector(self, op: MappedOp, tiles: Sequence[Tile]) -> None:
        spans = []
        for t in tiles:
            if t.unit != "vector":
                self.bad(f"tile {t.id} of {_where(op)}: a vector op's tile on '{t.unit}'")
            if len(t.dims) != 1 or len(t.offsets) != 1:
                self.bad(f"tile {t.id} of {_where(op)}: a vector tile needs dims (elements,) and offsets "
                         f"(first element,), has {t.dims} and {t.offsets}")
                return
            spans.append((t.offsets[0], t.offsets[0] + t.dims[0], t.id))
        spans.sort()
        pos = 0
        for lo, hi, tid in spans:
            if hi < lo:
                self.bad(f"tile {tid} of {_where(op)}: a negative element count")
            if lo != pos:
                what = "gap" if lo > pos else "overlap"
                self.bad(f"{_where(op)}: its tiles' element ranges have a {what} at element "
                         f"{min(lo, pos)} (tile {tid} starts at {lo}, the previous tiles end at {pos})")
            pos = max(pos, hi)
        gop = self.graph_ops.get(op.ir_op)
        if gop is None or gop.kind != op.kind or gop.name != op.name or self.p.graph is None:
            return
        from accelsim.mapping.mapper import VECTOR_KINDS

        T = self.p.graph.tensors
        if gop.kind in VECTOR_KINDS or gop.kind == "view":
            # the mapper tiles a plain vector op over its largest tensor: the outputs (element-wise)
            # or its first input (reductions)
            want = max([T[o].numel for o in gop.outputs] + ([T[gop.inputs[0]].numel] if gop.inputs else []) or [1])
            what = "its largest tensor"
        elif gop.kind in ("conv2d", "conv1d"):  # a grouped convolution on the vector unit
            want, what = T[gop.outputs[0]].numel, "its output"
        else:
            return
        if pos != want:
            self.bad(f"{_where(op)}: its tiles cover {pos} elements, {what} has {want}")

    def attention(self, op: MappedOp, tiles: Sequence[Tile], plan: Mapping[str, Any]) -> None:
        gop = self.graph_ops.get(op.ir_op)
        if gop is None or self.p.graph is None:
            return
        from accelsim.mapping.attention import attention_view

        av = attention_view(gop, self.p.graph)
        units: dict[tuple[int, int], dict[str, Tile]] = {}
        for t in tiles:
            if t.role not in ("qk", "softmax", "pv"):
                self.bad(f"tile {t.id} of {_where(op)}: role '{t.role}' (a fused attention tile is qk, "
                         "softmax or pv)")
                return
            key = (int(t.offsets[0]), int(t.offsets[1])) if len(t.offsets) >= 2 else (-1, -1)
            u = units.setdefault(key, {})
            if t.role in u:
                self.bad(f"{_where(op)}: head {key[0]}, query block at {key[1]} has two {t.role} tiles "
                         f"({u[t.role].id}, {t.id})")
            u[t.role] = t
        macs = 0
        blocks: dict[int, list[tuple[int, int]]] = {}
        for (b, q0), u in sorted(units.items()):
            if set(u) != {"qk", "softmax", "pv"}:
                self.bad(f"{_where(op)}: head {b}, query block at {q0} has tiles {sorted(u)}, needs qk, "
                         "softmax and pv")
                continue
            qk, sm, pv = u["qk"], u["softmax"], u["pv"]
            if qk.id not in sm.after or sm.id not in pv.after:
                self.bad(f"{_where(op)}: head {b}, query block at {q0}: softmax tile {sm.id} must wait for "
                         f"QK^T tile {qk.id} and P.V tile {pv.id} for the softmax")
            mm, se, d = qk.dims[:3]
            if not 0 <= b < av.BH:
                self.bad(f"{_where(op)}: head {b} of {av.BH}")
            if d != av.D or pv.dims[:3] != (mm, av.Dv, se) or sm.dims[:2] != (mm, se):
                self.bad(f"{_where(op)}: head {b}, query block at {q0}: QK^T {qk.dims}, softmax {sm.dims} and "
                         f"P.V {pv.dims} do not chain (D {av.D}, Dv {av.Dv})")
            need = min(av.S, q0 + mm) if av.causal else av.S
            if not need <= se <= av.S:
                self.bad(f"{_where(op)}: head {b}, query block [{q0}, {q0 + mm}) attends to {se} keys; it needs "
                         f"{need} of {av.S}" + (" (causal)" if av.causal else ""))
            blocks.setdefault(b, []).append((q0, mm))
            macs += mm * se * (av.D + av.Dv)
        for b in range(av.BH):
            pos = 0
            for q0, mm in sorted(blocks.get(b, [])):
                if q0 != pos:
                    self.bad(f"{_where(op)}: head {b}: query blocks leave a gap or overlap at row {min(q0, pos)}")
                    break
                pos = q0 + mm
            else:
                if pos != av.L:
                    self.bad(f"{_where(op)}: head {b}: query blocks cover {pos} of {av.L} rows")
        if macs != op.macs:
            self.bad(f"{_where(op)}: its tiles execute {macs} MACs, the op reports {op.macs}")
        for t in tiles:
            if t.role in ("qk", "pv") and t.unit != "vector" and t.macs != math.prod(t.dims[:3]):
                self.bad(f"tile {t.id} of {_where(op)}: {t.macs} MACs for a {t.dims} tile")

    def run(self) -> VerifyReport:
        self.structure()
        for t in self.p.tiles:
            self.tile(t)
        for op in self.p.ops:
            self.op(op)
        if self.problems:
            raise VerifyError(self.p.arch, self.problems)
        return VerifyReport(len(self.p.ops), len(self.p.tiles), self.counts["gemm"], self.counts["vector"],
                            self.counts["attention"], tuple(self.notes), dict(self.dram))


def verify_program(program: Program, arch: ArchSpec, options: MappingOptions | None = None) -> VerifyReport:
    """Check ``program`` against ``arch`` (see the module docstring). ``options``: the mapping
    options it was mapped with (their ``resident_fraction`` sets the tile-buffer budget; default
    :class:`~accelsim.mapping.options.MappingOptions`). Returns a :class:`VerifyReport`; raises
    :class:`VerifyError` (a :class:`~accelsim.errors.MappingError`, exit 2) listing every
    problem."""
    return _Checker(program, arch, options).run()
