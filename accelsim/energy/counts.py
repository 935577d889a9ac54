"""Action counts: the contract between the simulator and the energy model.

The simulator counts what the hardware *did* (MACs, bytes moved per SRAM partition, DRAM bytes,
vector element-operations, DMA transfers, sequencer commands); :mod:`accelsim.energy.model`
multiplies the counts by per-action energies. Counts are plain integers, so a run's counts can
be saved as JSON and re-priced under another technology table without re-simulating::

    c = ActionCounts(macs={"int8/int32": 1_000_000}, sram_reads={"ub": 4096})
    c.to_dict()["macs"]          # {'int8/int32': 1000000}
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class ActionCounts:
    """Everything the energy model prices. Units are in the comments; all values are >= 0."""

    #: "<precision>/<acc_precision>" (e.g. "int8/int32", "bf16/fp32") -> MACs performed.
    macs: dict[str, int] = field(default_factory=dict)
    #: array instance name (``ArchSpec.array_instances()``) -> busy cycles.
    array_cycles: dict[str, int] = field(default_factory=dict)
    #: SRAM partition name -> bytes read.
    sram_reads: dict[str, int] = field(default_factory=dict)
    #: SRAM partition name -> bytes written.
    sram_writes: dict[str, int] = field(default_factory=dict)
    #: bytes read from DRAM.
    dram_read_bytes: int = 0
    #: bytes written to DRAM.
    dram_write_bytes: int = 0
    #: vector op kind ("add", "gelu", "softmax", ...) -> element-operations.
    vector_ops: dict[str, int] = field(default_factory=dict)
    #: DMA transfers issued (descriptors processed).
    dma_transfers: int = 0
    #: bytes moved by DMA engines (on-chip transport between DRAM interface and SRAM).
    dma_bytes: int = 0
    #: commands issued by the sequencer.
    sequencer_commands: int = 0
    #: bytes read from on-chip ROM (weights hard-wired in ROM).
    rom_read_bytes: int = 0
    #: ROM capacity in use (bytes); only for area.
    rom_bytes: int = 0

    @property
    def total_macs(self) -> int:
        """Sum of MACs over all precision pairs."""
        return sum(self.macs.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict with sorted keys at every level."""
        out: dict[str, Any] = {}
        for f in sorted(fields(self), key=lambda f: f.name):
            v = getattr(self, f.name)
            out[f.name] = {k: int(v[k]) for k in sorted(v)} if isinstance(v, dict) else int(v)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ActionCounts:
        """Inverse of :meth:`to_dict` (missing keys default to zero / empty)."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown ActionCounts fields: {', '.join(unknown)}")
        kw: dict[str, Any] = {}
        for k, v in d.items():
            kw[k] = {str(kk): int(vv) for kk, vv in v.items()} if isinstance(v, dict) else int(v)
        return cls(**kw)

    def problems(self) -> list[str]:
        """Negative counts, as ``field[key]: value`` strings (empty when valid)."""
        out: list[str] = []
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, dict):
                out.extend(f"{f.name}[{k}] = {n} < 0" for k, n in v.items() if n < 0)
            elif v < 0:
                out.append(f"{f.name} = {v} < 0")
        return out
