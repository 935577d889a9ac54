"""Map an op graph onto an architecture: (Graph, ArchSpec, MappingOptions) -> Program.

Pure and deterministic. The rules (also in docs/mapping.md):

* **GEMM-like ops** (``linear``, ``matmul``, ``conv2d`` by im2col, and ``sdpa`` split per
  head into QK^T, softmax and AV pieces) are tiled by :mod:`accelsim.mapping.tiling` and
  spread over all array instances: output tiles are dealt to arrays in contiguous chunks
  (so a weight block stays in the array's buffer across M tiles) and issued interleaved
  across arrays. K tiles of one output tile run back to back on one array, accumulating in
  the accumulator partition; only the last K tile writes the result.
* **Vector ops** run on the vector unit in tiles sized to its input buffer.
* **Layout ops**: reinterpreting ops (view, reshape, (un)squeeze, flatten, expand, slice,
  select, split, alias, detach) are free: they only change the DMA descriptor. Reordering
  ops (permute, transpose, t, contiguous, clone) are free when every consumer reached
  through layout ops is a GEMM (the DMA reads the operand with a strided descriptor);
  otherwise they cost a copy on the vector unit. ``cat``/``stack`` always cost a copy.
* **Residency**: weights and graph inputs start in DRAM; graph outputs end in DRAM. Every
  other activation stays on chip, in the first partition holding ``outputs``, when it fits
  the resident budget (``resident_fraction`` of that partition) at the time it is produced
  (liveness-based: a tensor's space is freed after its last consumer); otherwise it is
  written to DRAM and re-read by each consumer. A weight that later ops read too (an RNN's
  recurrent matrices, shared weights) is kept there from its first full read to its last use
  when it fits (:func:`accelsim.mapping.lowering.retain_weights`): loaded from DRAM once.
* **Convolutions** (``conv2d``, ``conv1d``): :func:`accelsim.mapping.lowering.map_conv`; a
  grouped / depthwise one is costed on the arrays, packed on the arrays (block-diagonal) and
  on the vector unit, and placed where the cost model says it runs fastest.
* ``--compat scalesim``: one tile per GEMM (per batch element) on the first array, SCALE-Sim
  serial-fold timing, ideal memory (no transfers).
"""

from __future__ import annotations

import fnmatch
import hashlib
import math
from dataclasses import replace

from accelsim.arch.spec import PRECISION_BYTES, ArchSpec
from accelsim.errors import MappingError
from accelsim.mapping.banks import bank_plan
from accelsim.mapping.gemm_emit import GemmOperands, emit_gemm_tiles
from accelsim.mapping.machine import build_machine
from accelsim.mapping.program import MappedOp, Program, SramAccess, Tile, Transfer
from accelsim.mapping.search import machine_digest, search_gemm, simulate_candidate
from accelsim.model import systolic
from accelsim.model.gemm_cost import GemmProblem
from accelsim.model.vector import vector_cycles
from accelsim.workload.gemm import gemm_view
from accelsim.workload.ir import DTYPE_BYTES, Graph, Op
from accelsim.workload.opset import OPSET, VIEW_OPS
from accelsim.workload.ports import parse_port

# Derived from the op registry (accelsim/workload/opset.py), kept as names for existing callers.
FREE_VIEWS = frozenset(v for v, how in VIEW_OPS.items() if how == "free")
REORDER_VIEWS = frozenset(v for v, how in VIEW_OPS.items() if how == "reorder")

#: IR kind -> vector-unit cost kind (the opset's cost class of every vector-unit kind).
VECTOR_KINDS: dict[str, str] = {k: d.cost for k, d in OPSET.items() if d.unit == "vector"}
GEMM_KINDS = ("linear", "matmul", "conv2d", "conv1d", "sdpa", "attention")
SUPPORTED = sorted(set(VECTOR_KINDS) | set(GEMM_KINDS) | {"view", "const"})


from accelsim.mapping.options import MappingOptions  # noqa: E402  (re-exported)


class Mapper:
    """Builds a :class:`Program`; use :func:`map_graph`."""

    def __init__(self, graph: Graph, arch: ArchSpec, opts: MappingOptions) -> None:
        self.g = graph
        self.arch = arch
        self.opts = opts
        self.arrays = arch.array_instances()
        a0 = arch.arrays[0]
        self.elem = PRECISION_BYTES[a0.precision]
        self.acc = PRECISION_BYTES[a0.acc_precision]
        sram = arch.sram
        self.p_in = sram.partition_for("inputs")
        self.p_w = sram.partition_for("weights")
        self.p_out = sram.partition_for("outputs")
        self.p_acc = sram.partition_for("accumulators")
        self.banks = bank_plan(arch, opts.resident_fraction)
        self.machine = build_machine(arch, opts, self.banks)
        self.digest = machine_digest(self.machine)
        # what a search's SimPy check depends on beyond the machine (the whole arch, the bank
        # plan): the mapping cache's key (accelsim/mapping/search_cache.py)
        self.sim_digest = hashlib.sha256(
            (arch.model_dump_json() + "|" + self.digest + "|" + repr(opts.resident_fraction)).encode()
        ).hexdigest()
        self.p_res = self.banks.resident_part
        self.resident_budget = self.banks.parts[self.p_res].resident_bytes
        self.searched: dict[str, object] = {}
        self.ops: list[MappedOp] = []
        self.tiles: list[Tile] = []
        self.base: dict[str, str] = {}
        self.producer: dict[str, tuple[int, ...]] = {}
        self.resident: set[str] = set()
        self.live = 0
        self.slot: dict[str, int] = {}
        self.consumers = graph.consumers()
        self.g_producers = graph.producers()
        self.last_use: dict[str, int] = {}
        self.notes: list[str] = []
        self.resident_ever: set[str] = set()
        self._pinned: set[str] = set()
        self.res_loc: dict[str, str] = {}  # residual tensor -> SRAM partition holding it
        self.rom_weights: set[str] = set()
        self.kv_location = ""
        self.out_roots: set[str] = set()
        self.kv_out_roots: set[str] = set()
        # The KV cache of a decode step (graph.meta["kv_cache"], set by the workload): the cache
        # inputs and the rows the step writes. It lives in the resident SRAM area when it fits
        # (opts.kv_cache "auto": at most half the resident area) or is asked to, else in DRAM.
        kv = graph.meta.get("kv_cache") or {}
        self.kv_inputs = set(graph.inputs[1:1 + int(kv.get("inputs", 0) or 0)])
        self.kv_outputs = set(graph.outputs[1:1 + int(kv.get("outputs", 0) or 0)])
        kv_bytes = sum(self.tbytes(t) for t in self.kv_inputs | self.kv_outputs)
        if opts.kv_cache == "sram":
            self.kv_sram = bool(self.kv_inputs or self.kv_outputs)
        elif opts.kv_cache == "dram":
            self.kv_sram = False
        else:
            self.kv_sram = bool(self.kv_inputs or self.kv_outputs) and kv_bytes <= self.resident_budget // 2
        if self.kv_sram and kv_bytes > self.resident_budget:
            raise MappingError(
                f"the KV cache ({kv_bytes} bytes) does not fit the resident SRAM area "
                f"({self.resident_budget} bytes of partition '{self.p_res}'); use kv_cache=dram"
            )

    # ------------------------------------------------------------------ sizes
    def tbytes(self, name: str) -> int:
        t = self.g.tensors[name]
        if t.dtype.startswith(("float", "bfloat")):
            return t.numel * self.elem
        return t.numel * min(DTYPE_BYTES.get(t.dtype, 4), 4)

    def root(self, name: str) -> str:
        while name in self.base:
            name = self.base[name]
        return name

    def _next_slot(self, unit: str) -> int:
        s = self.slot.get(unit, 0)
        self.slot[unit] = s + 1
        return s % 2

    # ------------------------------------------------------------------ liveness
    def _plan_liveness(self) -> None:
        for i, op in enumerate(self.g.ops):
            for t in op.inputs:
                self.last_use[self.root(t)] = i
        for o in self.g.outputs:
            self.last_use[self.root(o)] = len(self.g.ops) + 1

    def _place(self, tensor: str) -> None:
        """Decide whether a freshly produced activation stays on chip (graph outputs go to DRAM,
        except the KV rows of a decode step whose cache is in SRAM)."""
        if tensor in self.out_roots and not (self.kv_sram and tensor in self.kv_out_roots):
            return
        nb = self.tbytes(tensor)
        if self.live + nb <= self.resident_budget:
            self.resident.add(tensor)
            self.resident_ever.add(tensor)
            self.live += nb

    def _free_dead(self, i: int) -> None:
        for t in list(self.resident):
            if self.last_use.get(t, -1) <= i and t not in self._pinned:
                self.resident.discard(t)
                self.live -= self.tbytes(t)

    # ------------------------------------------------------------------ helpers
    def deps_of(self, op: Op) -> tuple[int, ...]:
        d: set[int] = set()
        for t in op.inputs:
            d.update(self.producer.get(self.root(t), ()))
            d.update(self.producer.get(t, ()))
        return tuple(sorted(d))

    def add_op(self, **kw: object) -> int:
        idx = len(self.ops)
        self.ops.append(MappedOp(index=idx, **kw))  # type: ignore[arg-type]
        return idx

    def on_chip(self, t: str) -> bool:
        r = self.root(t)
        tk = self.g.tensors[r].kind
        return r in self.resident or tk == "const" or r in self.res_loc or r in self.rom_weights

    def in_rom(self, op: Op, weight: str) -> bool:
        """Is ``weight`` (read by ``op``) hard-wired in ROM by the arch's ``rom.modules``?"""
        rom = self.arch.rom
        w = self.root(weight)
        if rom is None or self.g.tensors[w].kind != "weight":
            return False
        parts = op.module.split(".")
        prefixes = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if any(fnmatch.fnmatchcase(pre, pat) for pat in rom.modules for pre in prefixes):
            self.rom_weights.add(w)
            return True
        return False

    def _is_gemm_only_consumed(self, t: str, seen: set[str] | None = None) -> bool:
        seen = seen or set()
        if t in seen:
            return True
        seen.add(t)
        cons = self.consumers.get(t, [])
        if not cons or t in self.g.outputs:
            return False
        for c in cons:
            if c.kind in GEMM_KINDS:
                continue
            if c.kind == "view" and str(c.attrs.get("op", "")) in FREE_VIEWS | REORDER_VIEWS:
                if not all(self._is_gemm_only_consumed(o, seen) for o in c.outputs):
                    return False
                continue
            return False
        return True

    # ------------------------------------------------------------------ main
    def run(self) -> Program:
        # Alias pass first (so liveness sees bases).
        self.copy_views: set[str] = set()
        for op in self.g.ops:
            if op.kind == "view":
                vop = str(op.attrs.get("op", "view"))
                kv_in = [t for t in op.inputs if self.root(t) in self.kv_inputs]
                if vop == "cat" and kv_in:
                    # appending this step's rows to the cache: written in place (the rows are
                    # stored as the step's KV outputs), the attention reads the whole cache
                    for o in op.outputs:
                        self.base[o] = self.root(kv_in[0])
                    continue
                if vop in FREE_VIEWS or (
                    vop in REORDER_VIEWS and all(self._is_gemm_only_consumed(o) for o in op.outputs)
                ):
                    for o in op.outputs:
                        if op.inputs:
                            self.base[o] = self.root(op.inputs[0])
                else:
                    self.copy_views.add(op.name)
        self.out_roots = {self.root(o) for o in self.g.outputs}
        self.kv_out_roots = {self.root(o) for o in self.kv_outputs}
        self._plan_liveness()
        if self.kv_sram:  # the cache is on chip for the whole step
            for t in sorted(self.kv_inputs):
                self.resident.add(t)
                self.resident_ever.add(t)
                self._pinned.add(t)
                self.live += self.tbytes(t)
        from accelsim.mapping.lowering import retain_weights

        for i, op in enumerate(self.g.ops):
            self.map_op(op)
            retain_weights(self, op, i)  # weights read by later ops stay on chip when they fit
            self._free_dead(i)
            if self.kv_sram:
                for o in op.outputs:
                    if self.root(o) in self.kv_out_roots and self.root(o) in self.resident:
                        self._pinned.add(self.root(o))
        self._flush_outputs()
        if self.kv_inputs or self.kv_outputs:
            self.kv_location = f"sram:{self.p_res}" if self.kv_sram else "dram"
            self.notes.append(f"KV cache in {self.kv_location}")
        return Program(
            arch=self.arch.name,
            mode=self.opts.mode,
            ops=tuple(self.ops),
            tiles=tuple(self.tiles),
            resident=frozenset(self.resident_ever),
            notes=tuple(self.notes),
            rom_bytes=sum(self.tbytes(w) for w in self.rom_weights),
            rom_weights=tuple(sorted(self.rom_weights)),
            kv_cache=self.kv_location,
        )

    def _flush_outputs(self) -> None:
        """Graph outputs whose data stayed on chip (an output that is a free view of a resident
        activation) are stored to DRAM at the end, one DMA store each; the KV rows of a cache in
        SRAM stay there."""
        for o in self.g.outputs:
            r = self.root(o)
            if r == o or r not in self.resident_ever or r in self.g.inputs:
                continue
            if self.kv_sram and r in self.kv_out_roots:
                continue
            nb = self.tbytes(o)
            deps = tuple(sorted(set(self.producer.get(r, ()))))
            idx = len(self.ops)
            first = len(self.tiles)
            part, rng = self.banks.resident()
            slot = self._next_slot("vector")
            opart, orng = self.banks.vector_slot("outputs", slot)
            self.tiles.append(Tile(id=len(self.tiles), op=idx, unit="vector", compute_cycles=1, slot=slot,
                                   stores=(Transfer(o, nb, opart, "store", orng),),
                                   sram=(SramAccess(part, nb, False, rng),), dims=(0,), offsets=(0,),
                                   vector_kind="copy", vector_elems=0))
            self.add_op(name=f"store_{o}", ir_op=o, kind="store", module="", unit="vector", deps=deps,
                        tiles=(first, len(self.tiles)), note="store an on-chip output to DRAM")

    def map_op(self, op: Op) -> None:
        k = op.kind
        if k == "const":
            idx = self.add_op(name=op.name, ir_op=op.name, kind=k, module=op.module, unit="none",
                              deps=(), note="constant (generated on chip)")
            for o in op.outputs:
                self.producer[o] = (idx,)
            return
        if k == "view" and op.name not in self.copy_views:
            idx = self.add_op(name=op.name, ir_op=op.name, kind=k, module=op.module, unit="none",
                              deps=self.deps_of(op), note=f"free {op.attrs.get('op', 'view')}")
            for o in op.outputs:
                self.producer[o] = (idx,)
            return
        if self.opts.mode == "scalesim" and k not in GEMM_KINDS:
            raise MappingError(
                f"{op.where()}: --compat scalesim models systolic GEMMs only; "
                f"this workload has a {k} op (use the default timing mode)"
            )
        if k == "scatter" and self.opts.sparse_decoder and self._feeds_sparse_decoder(op):
            idx = self.add_op(name=op.name, ir_op=op.name, kind=k, module=op.module, unit="none",
                              deps=self.deps_of(op), note="folded into the sparse decoder")
            for o in op.outputs:
                self.producer[o] = (idx,)
            return
        port = parse_port(op.module) if self.arch.residual is not None else None
        if port is not None:
            self.map_port(op, *port)
            return
        if k in ("conv2d", "conv1d"):  # dense, grouped and depthwise placements: mapping/lowering.py
            from accelsim.mapping.lowering import map_conv

            map_conv(self, op)
        elif k in ("linear", "matmul"):
            self.map_gemm(op)
        elif k in ("sdpa", "attention") and (self.opts.fuse_attention or k == "attention"):
            from accelsim.mapping.attention import map_attention

            map_attention(self, op)
        elif k == "sdpa":
            self.map_sdpa(op)
        elif k in VECTOR_KINDS or k == "view":
            self.map_vector(op)
        else:
            raise MappingError(
                f"{op.where()}: cannot be mapped; supported op kinds: {', '.join(SUPPORTED)}"
            )

    def _feeds_sparse_decoder(self, op: Op) -> bool:
        out = op.outputs[0]
        cons = self.consumers.get(out, [])
        return bool(cons) and all(c.kind == "linear" and c.inputs[0] == out for c in cons) and \
            self.topk_scatter_k(out) is not None

    # ------------------------------------------------------------------ GEMM
    def gemm_dims(self, op: Op) -> tuple[int, int, int, int, str, str]:
        """(batch, M, N, K, A tensor, B tensor) of a GEMM-like op (the shared GEMM view)."""
        v = gemm_view(op, self.g)
        return v.batch, v.M, v.N, v.K, v.a, v.b

    def topk_scatter_k(self, t: str) -> tuple[int, Op] | None:
        """If ``t`` is a dense latent built by scattering top-k values (a TopK SAE's code),
        return (k, the scatter op)."""
        prod = self.g_producers.get(self.root(t))
        if prod is None or prod.kind != "scatter" or len(prod.inputs) < 3:
            return None
        idx = self.g_producers.get(self.root(prod.inputs[1]))
        while idx is not None and idx.kind == "view":
            idx = self.g_producers.get(self.root(idx.inputs[0])) if idx.inputs else None
        if idx is None or idx.kind != "topk":
            return None
        return int(idx.attrs.get("k", self.g.tensors[prod.inputs[1]].shape[-1])), prod

    def map_sparse_decoder(self, op: Op, k: int) -> None:
        """TopK SAE decoder, sparse mapping: per token the DMA gathers the k active decoder
        rows and the vector unit accumulates value x row (an embedding-bag). Cost and
        traffic scale with k, not with the dictionary size."""
        T = self.g.tensors
        x, w = op.inputs[0], op.inputs[1]
        N = T[w].shape[0]
        M = math.prod(T[x].shape[:-1])
        e = self.elem
        out = op.outputs[0]
        self._place(out)
        w_in_rom = self.in_rom(op, w)
        ins = [(w, M * k * N * e, w_in_rom), (x, M * k * (e + 4), self.on_chip(x))]
        if len(op.inputs) > 2:
            ins.append((op.inputs[2], N * e, self.on_chip(op.inputs[2])))
        idx = self.emit_vector(
            name=op.name, ir_op=op.name, kind="linear.sparse", module=op.module,
            deps=self.deps_of(op), vkind="gather_mac", elems=M * k * N, in_bytes=ins,
            out_tensor=out, out_bytes=self.tbytes(out), out_res=self.root(out) in self.resident,
        )
        self.ops[idx] = replace(self.ops[idx], note=f"sparse decoder: gather {k} of "
                                f"{T[w].shape[1]} rows per token on the vector unit", macs=0)
        for o in op.outputs:
            self.producer[o] = (idx,)

    def map_gemm(self, op: Op) -> None:
        if self.opts.sparse_decoder and op.kind == "linear":
            hit = self.topk_scatter_k(op.inputs[0])
            if hit is not None:
                self.map_sparse_decoder(op, hit[0])
                return
        batch, M, N, K, a, b = self.gemm_dims(op)
        out = op.outputs[0]
        self._place(out)
        deps = self.deps_of(op)
        idx = self.emit_gemm(
            name=op.name, ir_op=op.name, kind=op.kind, module=op.module, deps=deps,
            batch=batch, M=M, N=N, K=K, a=a, b=b, out=out,
            a_bytes=self.tbytes(a) if op.kind == "conv2d" else None,
            b_rom=self.in_rom(op, b),
        )
        for o in op.outputs:
            self.producer[o] = (idx,)

    def emit_gemm(
        self, *, name: str, ir_op: str, kind: str, module: str, deps: tuple[int, ...],
        batch: int, M: int, N: int, K: int, a: str, b: str, out: str,
        a_bytes: int | None = None, note: str = "",
        a_on_chip: bool | None = None, b_on_chip: bool | None = None, out_on_chip: bool | None = None,
        batch_range: tuple[int, int] = (0, 0), b_rom: bool = False,
    ) -> int:
        e, acc = self.elem, self.acc
        a_res = self.on_chip(a) if a_on_chip is None else a_on_chip
        b_res = self.on_chip(b) if b_on_chip is None else b_on_chip
        o_res = (self.root(out) in self.resident) if out_on_chip is None else out_on_chip
        first = len(self.tiles)
        idx = len(self.ops)
        macs = batch * M * N * K
        if self.opts.mode == "scalesim":
            inst, spec = self.arrays[0]
            for bi in range(batch):
                cyc = systolic.scalesim_serial_cycles(spec.dataflow, M, N, K, spec.rows, spec.cols)
                self.tiles.append(Tile(id=len(self.tiles), op=idx, unit=inst, compute_cycles=cyc,
                                       slot=0, macs=M * N * K, dims=(M, N, K), offsets=(bi, 0, 0, 0)))
            self.add_op(name=name, ir_op=ir_op, kind=kind, module=module, unit="array", deps=deps,
                        tiles=(first, len(self.tiles)), macs=macs, gemm=(batch, M, N, K),
                        note=note or "scalesim compat: one serial tile", operands=(a, b, out),
                        batch_range=batch_range)
            return idx
        prob = GemmProblem(
            batch=batch, M=M, N=N, K=K, elem=e, acc=acc,
            a_dram_bytes=a_bytes if a_bytes is not None else batch * M * K * e,
            a_on_chip=a_res, b_on_chip=b_res and not b_rom, out_on_chip=o_res, b_rom=b_rom,
        )
        o = self.opts
        res = search_gemm(prob, self.machine, objective=o.objective, digest=self.digest,
                          max_tile_m=o.max_tile_m, tile_n_folds=o.tile_n_folds, tile_k_folds=o.tile_k_folds,
                          verify=lambda c: simulate_candidate(prob, c, self.machine, self.arch, self.banks),
                          verify_top=o.verify_top, verify_max_tiles=o.verify_max_tiles,
                          persist=self.sim_digest)
        cand, est = res.best, res.estimate
        operands = GemmOperands(a=a, b=b, out=out, banks=self.banks)
        self.tiles.extend(emit_gemm_tiles(prob, cand, self.machine, operands, idx, self.slot, len(self.tiles)))
        grp = self.machine.groups[cand.group]
        plan = {
            "tile": [cand.m, cand.n, cand.k],
            "order": cand.order,
            "panel_rows": cand.mp if cand.order == "M" else None,
            "arrays": list(grp.instances[:cand.arrays]),
            "residency": {"a": "sram" if a_res else "dram", "b": "rom" if b_rom else ("sram" if b_res else "dram"),
                          "out": "sram" if o_res else "dram"},
            "predicted_cycles": est.cycles,
            "predicted_dram_bytes": est.dram_bytes,
            "compulsory_dram_bytes": est.compulsory,
            "bound": est.bound,
            "footprint_bytes": dict(sorted(est.footprint.items())),
            "candidates": res.space,
            "feasible": res.feasible,
            "evaluated": res.evaluated,
            "simulated_candidates": [{"mapping": c.label(), "cycles": cyc} for c, cyc in res.verified],
        }
        self.add_op(name=name, ir_op=ir_op, kind=kind, module=module, unit="array", deps=deps,
                    tiles=(first, len(self.tiles)), macs=macs, gemm=(batch, M, N, K),
                    note=note or f"tile {cand.m}x{cand.n}x{cand.k} {cand.order}", operands=(a, b, out),
                    batch_range=batch_range, plan=plan)
        return idx

    # ------------------------------------------------------------------ SDPA
    def map_sdpa(self, op: Op) -> None:
        T = self.g.tensors
        q, k, v = (T[n] for n in op.inputs[:3])
        *bq, L, D = q.shape
        S = k.shape[-2]
        Dv = v.shape[-1]
        BH = math.prod(bq) if bq else 1
        groups = min(BH, 64)
        per = -(-BH // groups)
        out = op.outputs[0]
        self._place(out)
        deps = self.deps_of(op)
        finals: list[int] = []
        o_res = self.root(out) in self.resident
        q_res = self.on_chip(op.inputs[0])
        k_res = self.on_chip(op.inputs[1])
        v_res = self.on_chip(op.inputs[2])
        p_bytes = per * L * S * self.elem
        for gi in range(groups):
            hb = min(per, BH - gi * per)
            if hb <= 0:
                break
            p_res = self.live + p_bytes <= self.resident_budget
            pname = f"{op.name}.g{gi}.p"
            i_qk = self.emit_gemm(
                name=f"{op.name}.g{gi}.qk", ir_op=op.name, kind="sdpa.qk", module=op.module,
                deps=deps, batch=hb, M=L, N=S, K=D, a=op.inputs[0], b=op.inputs[1], out=pname,
                a_on_chip=q_res, b_on_chip=k_res, out_on_chip=p_res, note="QK^T",
                batch_range=(gi * per, gi * per + hb),
            )
            i_sm = self.emit_vector(
                name=f"{op.name}.g{gi}.softmax", ir_op=op.name, kind="sdpa.softmax",
                module=op.module, deps=(i_qk,), vkind="softmax", elems=hb * L * S,
                in_bytes=[(pname, hb * L * S * self.elem, p_res)],
                out_tensor=pname, out_bytes=hb * L * S * self.elem, out_res=p_res,
            )
            i_av = self.emit_gemm(
                name=f"{op.name}.g{gi}.av", ir_op=op.name, kind="sdpa.av", module=op.module,
                deps=(i_sm,), batch=hb, M=L, N=Dv, K=S, a=pname, b=op.inputs[2], out=out,
                a_on_chip=p_res, b_on_chip=v_res, out_on_chip=o_res, note="P.V",
                batch_range=(gi * per, gi * per + hb),
            )
            finals.append(i_av)
        for o in op.outputs:
            self.producer[o] = tuple(finals)

    # ------------------------------------------------------------------ vector
    def map_vector(self, op: Op) -> None:
        """A vector-unit op: its element-ops per cost class from the op registry
        (:func:`accelsim.workload.opset.vector_work`; a fused chain sums its sub-ops)."""
        from accelsim.workload.opset import vector_work

        T = self.g.tensors
        outs = [o for o in op.outputs]
        for o in outs:
            self._place(o)
        ins: list[tuple[str, int, bool]] = []
        if op.kind in ("embedding", "embedding_bag", "index_select", "gather", "index"):
            # the DMA gathers only the rows the op reads, not the whole table
            src = op.inputs[0]
            rows_bytes = min(self.tbytes(src), sum(self.tbytes(o) for o in outs))
            ins.append((src, rows_bytes, self.on_chip(src) or self.in_rom(op, src)))
            for t in op.inputs[1:]:
                ins.append((t, self.tbytes(t), self.on_chip(t)))
        else:
            for t in op.inputs:
                ins.append((t, self.tbytes(t), self.on_chip(t) or self.in_rom(op, t)))
        if op.kind == "view":
            work = {"copy": sum(T[o].numel for o in outs)}
        else:
            work = vector_work(op, self.g)
        # tiles split the op's outputs (elementwise) or its first input (reductions)
        elems = max([T[o].numel for o in outs] + ([T[op.inputs[0]].numel] if op.inputs else []) or [1])
        vkind = max(work, key=lambda k: (work[k] * self.arch.vector.cost(k), k)) if work else "copy"
        out_b = sum(self.tbytes(o) for o in outs)
        out_res = all(self.root(o) in self.resident for o in outs)
        idx = self.emit_vector(name=op.name, ir_op=op.name, kind=op.kind, module=op.module,
                               deps=self.deps_of(op), vkind=vkind, elems=elems, in_bytes=ins,
                               out_tensor=outs[0], out_bytes=out_b, out_res=out_res,
                               work=work if len(work) > 1 or sum(work.values()) != elems else None)
        for o in outs:
            self.producer[o] = (idx,)

    # ------------------------------------------------------------------ residual ports
    def map_port(self, op: Op, role: str, access: str, partition: str) -> None:
        """A read/write of a residual partition: a vector-unit move on the partition's banks,
        tagged with (role, partition, access) so the controller can check the policy."""
        res = self.arch.residual
        assert res is not None
        if partition not in res.partitions:
            raise MappingError(
                f"{op.where()}: residual partition '{partition}' is not bound in the architecture "
                f"(residual.partitions: {', '.join(res.partitions)})"
            )
        sp = res.partitions[partition].sram
        T = self.g.tensors
        out = op.outputs[0]
        deps = self.deps_of(op)
        if access == "read":
            src = op.inputs[0]
            nb = self.tbytes(src)
            self.res_loc.setdefault(self.root(src), sp)
            self._place(out)
            idx = self.emit_vector(
                name=op.name, ir_op=op.name, kind="residual.read", module=op.module, deps=deps,
                vkind="copy", elems=T[src].numel, in_bytes=[(src, nb, True)], out_tensor=out,
                out_bytes=self.tbytes(out), out_res=self.root(out) in self.resident,
                access=((role, partition, "read", nb),), src_partition=sp,
            )
        else:
            old, delta = op.inputs[0], op.inputs[1] if len(op.inputs) > 1 else op.inputs[0]
            self.res_loc.setdefault(self.root(old), sp)
            self.res_loc[out] = sp
            nb = self.tbytes(delta)
            idx = self.emit_vector(
                name=op.name, ir_op=op.name, kind="residual.write", module=op.module, deps=deps,
                vkind="add", elems=T[out].numel,
                in_bytes=[(old, self.tbytes(old), True), (delta, nb, self.on_chip(delta))],
                out_tensor=out, out_bytes=self.tbytes(out), out_res=True,
                access=((role, partition, "write", nb),), src_partition=sp, dst_partition=sp,
            )
        for o in op.outputs:
            self.producer[o] = (idx,)

    def emit_vector(
        self, *, name: str, ir_op: str, kind: str, module: str, deps: tuple[int, ...],
        vkind: str, elems: int, in_bytes: list[tuple[str, int, bool]],
        out_tensor: str, out_bytes: int, out_res: bool,
        access: tuple[tuple[str, str, str, int], ...] = (),
        src_partition: str | None = None, dst_partition: str | None = None,
        work: dict[str, int] | None = None,
    ) -> int:
        idx = len(self.ops)
        first = len(self.tiles)
        vs = self.arch.vector
        if self.opts.mode == "scalesim":
            raise MappingError(f"op '{name}' in module '{module or '<top>'}': "
                               "--compat scalesim models systolic GEMMs only")
        total_in = sum(b for _, b, res in in_bytes if not res)
        vb = self.banks.vector_bytes
        cap = max(1, min(vb.get(self.p_in, 0), vb.get(self.p_out, 0)) // 2)
        n_tiles = max(1, -(-max(total_in, out_bytes) // cap), -(-elems // self.opts.max_vector_tile_elems))
        n_tiles = min(n_tiles, max(1, elems))
        for ti in range(n_tiles):
            lo = elems * ti // n_tiles
            hi = elems * (ti + 1) // n_tiles
            ne = hi - lo
            frac_num, frac_den = ne, max(1, elems)
            slot = self._next_slot("vector")
            in_part, in_rng = self.banks.vector_slot("inputs", slot)
            out_part, out_rng = self.banks.vector_slot("outputs", slot)
            res_part, res_rng = self.banks.resident()
            loads: list[Transfer] = []
            sram: list[SramAccess] = []
            for t, b, res in in_bytes:
                tb = b * frac_num // frac_den
                if tb <= 0:
                    continue
                if res:
                    loc = self.res_loc.get(self.root(t), src_partition if access else None)
                    if loc is None:
                        sram.append(SramAccess(res_part, tb, False, res_rng))
                    else:  # a residual-stream partition: its own bank group
                        sram.append(SramAccess(loc, tb, False, (0, 0)))
                else:
                    loads.append(Transfer(t, tb, in_part, "load", in_rng))
                    sram.append(SramAccess(in_part, tb, False, in_rng))
            ob = out_bytes * frac_num // frac_den
            stores: list[Transfer] = []
            if ob > 0:
                if out_res:
                    if dst_partition:
                        sram.append(SramAccess(dst_partition, ob, True, (0, 0)))
                    else:
                        sram.append(SramAccess(res_part, ob, True, res_rng))
                else:
                    sram.append(SramAccess(out_part, ob, True, out_rng))
                    stores.append(Transfer(out_tensor, ob, out_part, "store", out_rng))
            if work:
                # a tile's share of every cost class's element-ops, each at its own cost
                parts = tuple((k, n * frac_num // frac_den) for k, n in sorted(work.items()))
                cyc = sum(-(-n // vs.lanes) * vs.cost(k) for k, n in parts if n) + vs.pipeline_latency_cycles
                velems = sum(n for _, n in parts)
            else:
                parts = ()
                cyc = vector_cycles(ne, vs.lanes, vs.cost(vkind), vs.pipeline_latency_cycles)
                velems = ne
            acc_t = tuple((r, p, a, b * frac_num // frac_den) for r, p, a, b in access)
            self.tiles.append(Tile(id=len(self.tiles), op=idx, unit="vector", compute_cycles=cyc,
                                   access=acc_t,
                                   slot=slot, loads=tuple(loads), stores=tuple(stores),
                                   sram=tuple(sram), dims=(ne,), offsets=(lo,), vector_kind=vkind,
                                   vector_elems=velems, vector_ops=parts))
        self.add_op(name=name, ir_op=ir_op, kind=kind, module=module, unit="vector", deps=deps,
                    tiles=(first, len(self.tiles)), note=f"{n_tiles} vector tiles ({vkind})")
        return idx


def map_graph(graph: Graph, arch: ArchSpec, opts: MappingOptions | None = None) -> Program:
    """Map ``graph`` onto ``arch``: the lowering passes (:mod:`accelsim.passes`: fused attention,
    fused element-wise chains), then the residency plan, the per-op mapping search and the tiles.
    The program keeps the lowered graph it was mapped from (``Program.graph``). Raises
    :class:`MappingError` naming any unmappable op."""
    from accelsim.passes import lower

    opts = opts or MappingOptions()
    if opts.mode != "scalesim":
        graph = lower(graph, attention=opts.fuse_attention, elementwise=opts.fuse_elementwise)
    m = Mapper(graph, arch, opts)
    prog = m.run()
    return replace(prog, graph=graph)
