"""Mapping options: the third input of a run, apart from the architecture and the workload.

A frozen, validated pydantic model (unknown keys, wrong types and out-of-range values are
errors that name the field). Sweeps and suites validate their ``options.mapping`` blocks with
:meth:`MappingOptions.from_dict`, so a bad value is refused up front, never turned into a
0-cycle point.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from accelsim.errors import Problem, SpecError

TimingMode = Literal["pipelined", "scalesim"]
Objective = Literal["latency", "energy", "edp"]

__all__ = ["MappingOptions", "Objective", "TimingMode"]


class MappingOptions(BaseModel):
    """Knobs of the mapper. Every field has a default; the search needs none of them set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: TimingMode = Field(
        "pipelined",
        description="timing model: pipelined (default) or scalesim (SCALE-Sim v3 compatible: "
        "ideal memory, strictly serial folds)",
    )
    objective: Objective = Field(
        "latency",
        description="what the mapping search minimises per op: latency (energy breaks ties), "
        "energy (latency breaks ties) or edp (energy x delay)",
    )
    resident_fraction: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        0.5,
        description="fraction of the activation partition(s) that may hold resident tensors "
        "(activations kept on chip between ops, weights reused across ops); the rest is tile buffers",
    )
    max_tile_m: Annotated[int, Field(ge=1)] | None = Field(
        None, description="upper bound on a GEMM tile's rows (M); None: no bound"
    )
    tile_n_folds: Annotated[int, Field(ge=1)] | None = Field(
        None, description="upper bound on a GEMM tile's N, in array-column folds; None: no bound"
    )
    tile_k_folds: Annotated[int, Field(ge=1)] | None = Field(
        None, description="upper bound on a GEMM tile's K, in array-row folds; None: no bound"
    )
    max_vector_tile_elems: Annotated[int, Field(ge=1)] = Field(
        1 << 20, description="largest vector-unit tile (elements)"
    )
    fuse_attention: bool = Field(
        True, description="map attention (SDPA, or matmul-softmax-matmul) as one fused op"
    )
    fuse_elementwise: bool = Field(
        True, description="fuse chains of element-wise ops into one vector-unit pass"
    )
    verify_top: Annotated[int, Field(ge=0, le=16)] = Field(
        3,
        description="simulate the best N candidates (by the cost model) of each distinct small GEMM "
        "in SimPy and keep the fastest simulated (0: trust the cost model)",
    )
    verify_max_tiles: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        64,
        description="verify only GEMMs whose best candidate has at most this many tiles (small ops: "
        "cheap to simulate, and where per-tile overheads make the cost model least accurate)",
    )
    kv_cache: Literal["auto", "sram", "dram"] = Field(
        "auto",
        description="where a decode step's KV cache lives: sram (the resident area), dram (streamed), "
        "or auto (SRAM when the cache takes at most half of the resident area)",
    )
    sparse_decoder: bool = Field(
        False, description="TopK SAE decoder gathers only the active rows (see workloads)"
    )

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, *, file: str = "", path: str = "options.mapping") -> MappingOptions:
        """Validate ``d``; raises :class:`SpecError` listing every problem with its path."""
        if d is None:
            return cls()
        if not isinstance(d, Mapping):
            raise SpecError([Problem(file, path, f"must be a mapping, got {type(d).__name__}")])
        try:
            return cls.model_validate(dict(d))
        except ValidationError as e:
            probs = []
            for err in e.errors():
                loc = ".".join(str(x) for x in err["loc"])
                probs.append(Problem(file, f"{path}.{loc}" if loc else path, err["msg"]))
            raise SpecError(probs) from None
