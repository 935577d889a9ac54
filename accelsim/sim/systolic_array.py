"""A systolic array (one instance). Its tile durations come from
:func:`accelsim.model.systolic.gemm_cycles` (computed at mapping time); here it only counts."""

from __future__ import annotations

from accelsim.arch.spec import ArraySpec
from accelsim.mapping.program import Tile
from accelsim.model import systolic
from accelsim.sim.lean import CycleEnvironment
from accelsim.sim.sram import Sram
from accelsim.sim.stats import Stats
from accelsim.sim.unit import ComputeUnit


class SystolicArray(ComputeUnit):
    kind = "array"

    def __init__(self, env: CycleEnvironment, name: str, index: int, spec: ArraySpec, sram: Sram,
                 stats: Stats) -> None:
        super().__init__(env, name, index, sram, stats)
        self.spec = spec
        self.macs = 0
        self.precision = f"{spec.precision}/{spec.acc_precision}"
        # SCALE-Sim-style utilisation, weighted by each tile's ideal cycles.
        self._su_weighted = 0.0
        self._me_weighted = 0.0
        self._su_weight = 0  # sum of the weights (each tile's standalone cycles)
        self._stream_end = -1  # cycle the previous tile's last fold finished streaming in
        self._last_stream = 0  # that fold's streamed length
        self.hidden_fill_cycles = 0
        # (compute utilization, mapping efficiency) per tile shape (m, n, k): pure functions of
        # the shape and this array's spec, so computed once per shape
        self._util: dict[tuple[int, ...], tuple[float, float]] = {}

    def hold_cycles(self, tile: Tile, now: int) -> int:
        """Pipeline continuation: a tile that starts the cycle the previous one's last fold has
        streamed in preloads under that fold (hiding ``min(fill, stream)`` cycles); the drain
        always runs off the unit (:func:`accelsim.model.systolic.tile_phases`)."""
        hold = tile.compute_cycles - tile.drain_cycles
        if tile.fill_cycles and now == self._stream_end:
            hidden = min(tile.fill_cycles, self._last_stream)
            self.hidden_fill_cycles += hidden
            hold -= hidden
        return hold

    def after_execute(self, tile: Tile, end: int) -> None:
        self._stream_end = end
        self._last_stream = tile.stream_cycles

    @property
    def pes(self) -> int:
        return self.spec.rows * self.spec.cols

    def account(self, tile: Tile) -> None:
        self.macs += tile.macs
        cc = tile.compute_cycles
        dims = tile.dims
        if cc and len(dims) == 3:
            u = self._util.get(dims)
            if u is None:  # a tile shape seen for the first time (a program has a few dozen)
                m, n, k = dims
                s = self.spec
                u = self._util[dims] = (systolic.compute_utilization(s.dataflow, m, n, k, s.rows, s.cols),
                                        systolic.mapping_efficiency(s.dataflow, m, n, k, s.rows, s.cols))
            self._su_weighted += cc * u[0]
            self._me_weighted += cc * u[1]
            self._su_weight += cc

    @property
    def scalesim_compute_utilization(self) -> float:
        return self._su_weighted / self._su_weight if self._su_weight else 0.0

    @property
    def mapping_efficiency(self) -> float:
        return self._me_weighted / self._su_weight if self._su_weight else 0.0
