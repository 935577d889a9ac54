"""Vector-unit timing: element-wise ops and row reductions on a SIMD unit of ``lanes`` lanes.

Units: element counts (unitless), ``cost`` in cycles per element per lane (the op's issue cost,
e.g. 1 for add, 4 for exp; see ``accelsim.arch.spec.DEFAULT_VECTOR_OP_CYCLES``), durations in
integer clock cycles. ``pipeline_latency_cycles`` is the fill latency of the unit, paid once
per op.
"""

from __future__ import annotations


def _check(name: str, v: int, minimum: int) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {v!r}")


def vector_cycles(
    n_elements: int, lanes: int, cost_cycles_per_element: int, pipeline_latency_cycles: int
) -> int:
    """Cycles of an element-wise op over ``n_elements`` elements.

    ``ceil(n_elements / lanes) * cost_cycles_per_element + pipeline_latency_cycles``; an op on
    0 elements is not issued and takes 0 cycles.
    """
    _check("n_elements", n_elements, 0)
    _check("lanes", lanes, 1)
    _check("cost_cycles_per_element", cost_cycles_per_element, 1)
    _check("pipeline_latency_cycles", pipeline_latency_cycles, 0)
    if n_elements == 0:
        return 0
    return -(-n_elements // lanes) * cost_cycles_per_element + pipeline_latency_cycles


def reduction_cycles(
    n_rows: int, row_len: int, lanes: int, cost: int, pipeline_latency_cycles: int
) -> int:
    """Cycles to reduce each of ``n_rows`` rows of ``row_len`` elements to one value.

    Rows are processed one after another, the lanes working in parallel along a row:
    ``ceil(row_len / lanes) * cost`` cycles of lane-wise accumulation, then a tree across the
    ``min(lanes, row_len)`` partial results of depth ``ceil(log2(min(lanes, row_len)))``
    cycles (0 for a single lane or a 1-element row). Total::

        n_rows * (ceil(row_len / lanes) * cost + ceil(log2(min(lanes, row_len))))
          + pipeline_latency_cycles

    0 rows or 0-length rows take 0 cycles.
    """
    _check("n_rows", n_rows, 0)
    _check("row_len", row_len, 0)
    _check("lanes", lanes, 1)
    _check("cost", cost, 1)
    _check("pipeline_latency_cycles", pipeline_latency_cycles, 0)
    if n_rows == 0 or row_len == 0:
        return 0
    depth = (min(lanes, row_len) - 1).bit_length()  # ceil(log2(x)) for x >= 1, exact
    return n_rows * (-(-row_len // lanes) * cost + depth) + pipeline_latency_cycles
