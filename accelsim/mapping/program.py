"""The mapped program: what the sequencer issues and the units execute.

A :class:`Program` is the output of mapping: a list of :class:`MappedOp` (one per scheduled
piece of an IR op, in issue order) and a flat list of :class:`Tile` commands. Every duration
in it comes from :mod:`accelsim.model` (pure formulas); the simulator only sequences them and
adds contention. Everything here is plain, immutable data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

TimingMode = Literal["pipelined", "scalesim"]


@dataclass(frozen=True)
class Transfer:
    """One DMA transfer between DRAM and an SRAM partition (``load``: DRAM -> SRAM)."""

    tensor: str
    nbytes: int
    partition: str
    direction: Literal["load", "store"]
    banks: tuple[int, int] = (0, 0)  # the SRAM banks [b0, b1) of the partition it writes / reads; (0, 0): all


@dataclass(frozen=True)
class SramAccess:
    """Bytes read or written in a partition by a compute unit while it computes a tile, on the
    banks ``[b0, b1)`` of the partition the mapper assigned (``(0, 0)``: all of its banks)."""

    partition: str
    nbytes: int
    write: bool
    banks: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class Tile:
    """One command: load operands, compute on one unit, store results."""

    id: int
    op: int  # index into Program.ops
    unit: str  # array instance name (e.g. "sa0.1") or "vector"
    compute_cycles: int  # ideal cycles on the unit (formula), before bank-bandwidth limits
    slot: int  # double-buffer slot on its unit (0/1)
    loads: tuple[Transfer, ...] = ()
    stores: tuple[Transfer, ...] = ()
    sram: tuple[SramAccess, ...] = ()
    macs: int = 0
    dims: tuple[int, ...] = ()  # (m, n, k) for array tiles, (elements,) for vector tiles
    offsets: tuple[int, ...] = ()  # (batch, m, n, k) offsets for array tiles, (element,) for vector
    vector_kind: str = ""  # vector cost kind, for vector tiles
    vector_elems: int = 0
    access: tuple[tuple[str, str, str, int], ...] = ()  # residual (role, partition, read|write, bytes)
    rom_read_bytes: int = 0  # weight bytes read from on-chip ROM (hard-wired modules)
    after: tuple[int, ...] = ()  # tile ids (earlier in issue order) that must finish before this one computes
    role: str = ""  # a fused op's part: "qk" | "softmax" | "pv" (attention), "" otherwise
    fill_cycles: int = 0  # array tiles: leading preload a back-to-back predecessor can hide
    drain_cycles: int = 0  # array tiles: trailing skew that runs off the unit (results leave the array)
    stream_cycles: int = 0  # array tiles: streamed length of the last fold (hides the next tile's fill)
    vector_ops: tuple[tuple[str, int], ...] = ()  # fused vector tiles: (cost kind, element-ops) per part


@dataclass(frozen=True)
class MappedOp:
    """A scheduled piece of an IR op (an SDPA op becomes several: per head QK^T, softmax, AV)."""

    index: int
    name: str  # IR op name (with a suffix for pieces, e.g. "sdpa_3.h0.qk")
    ir_op: str
    kind: str
    module: str
    unit: str  # "array", "vector" or "none" (free layout op)
    deps: tuple[int, ...]
    tiles: tuple[int, int] = (0, 0)  # [start, end) into Program.tiles
    macs: int = 0
    gemm: tuple[int, int, int, int] = (0, 0, 0, 0)  # (batch, M, N, K) for GEMM pieces
    note: str = ""
    operands: tuple[str, ...] = ()  # GEMM pieces: (A, B, out) tensor names (SDPA P is virtual)
    batch_range: tuple[int, int] = (0, 0)  # SDPA pieces: the flattened (batch*head) range covered
    plan: Mapping[str, Any] = field(default_factory=dict)  # what the mapping search chose (JSON-able)


@dataclass(frozen=True)
class Program:
    arch: str
    mode: TimingMode
    ops: tuple[MappedOp, ...]
    tiles: tuple[Tile, ...]
    resident: frozenset[str] = field(default_factory=frozenset)  # tensors kept on chip
    notes: tuple[str, ...] = ()
    rom_bytes: int = 0  # weight bytes hard-wired in ROM
    rom_weights: tuple[str, ...] = ()
    graph: Any = field(default=None, compare=False, repr=False)  # the (lowered) Graph it was mapped from
    kv_cache: str = ""  # a decode step's KV cache: "sram:<partition>" or "dram" ("" when none)

    @property
    def total_macs(self) -> int:
        return sum(o.macs for o in self.ops)

    def verify(self, arch: Any, options: Any = None) -> Any:
        """Check this program against ``arch`` (an ArchSpec; ``options``: the MappingOptions it
        was mapped with): units, bank ranges, tile-buffer capacity, dependencies, MACs and
        coverage. Returns a :class:`accelsim.mapping.verify.VerifyReport`; raises a
        MappingError listing every problem (see :mod:`accelsim.mapping.verify`)."""
        from accelsim.mapping.verify import verify_program

        return verify_program(self, arch, options)
