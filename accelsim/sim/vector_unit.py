"""The vector/SIMD unit for non-GEMM ops. Tile durations come from
:func:`accelsim.model.vector.vector_cycles` (computed at mapping time)."""

from __future__ import annotations

from accelsim.arch.spec import VectorSpec
from accelsim.mapping.program import Tile
from accelsim.sim.lean import CycleEnvironment
from accelsim.sim.sram import Sram
from accelsim.sim.stats import Stats
from accelsim.sim.unit import ComputeUnit


class VectorUnit(ComputeUnit):
    kind = "vector"

    def __init__(self, env: CycleEnvironment, name: str, index: int, spec: VectorSpec, sram: Sram,
                 stats: Stats) -> None:
        super().__init__(env, name, index, sram, stats)
        self.spec = spec
        self.ops_by_kind: dict[str, int] = {}
        self.elements = 0

    def account(self, tile: Tile) -> None:
        self.elements += tile.vector_elems
        parts = tile.vector_ops or ((tile.vector_kind or "default", tile.vector_elems),)
        for k, n in parts:
            self.ops_by_kind[k] = self.ops_by_kind.get(k, 0) + n
