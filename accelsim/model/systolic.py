"""Closed-form timing and access counts of one GEMM on one R x C systolic array.

The GEMM is ``C[M x N] = A[M x K] . B[K x N]`` (``M*N*K`` MACs). A convolution is lowered to a
GEMM by im2col (:func:`conv2d_gemm_dims`). All durations are integer clock cycles; access counts
are in words (operand elements; SCALE-Sim uses 1-byte words); utilisations are fractions in
[0, 1] (SCALE-Sim prints percentages: multiply by 100).

Two timing models live here:

* **SCALE-Sim compatible** (:func:`scalesim_cycles`, :func:`scalesim_serial_cycles`): the
  "stall-free" compute-cycle model of SCALE-Sim v3.0.0 (Samajdar et al., "SCALE-Sim: Systolic
  CNN Accelerator Simulator", and scalesim-project/SCALE-Sim). The operand matrix mapped onto
  the array is split into ``fr x fc`` folds that run strictly one after another, each paying
  full fill and drain; a partial fold costs as much as a full one. It reproduces SCALE-Sim's
  reported cycle counts, utilisations and SRAM access counts exactly (checked against every
  row of ``tests/data/scalesim_cases.csv``).
* **Pipelined** (:func:`pipelined_cycles`, accelsim's default): double-buffered stationary
  registers hide the next fold's preload under the current fold's streaming, and the
  fill/drain skew is paid once per tile. See its docstring for the derivation.

Mapping of the GEMM dimensions onto the array (SCALE-Sim's convention):

========  ==========  ==================  ==================  ====================
dataflow  stationary  array rows hold     array cols hold     streamed length T
========  ==========  ==================  ==================  ====================
``os``    outputs     M (output rows)     N (filters)         K
``ws``    weights     K (reduction)       N (filters)         M
``is``    inputs      K (reduction)       M (output rows)     N
========  ==========  ==================  ==================  ====================
"""

from __future__ import annotations

from typing import Literal

Dataflow = Literal["os", "ws", "is"]
TimingMode = Literal["scalesim", "pipelined"]

_DATAFLOWS: tuple[str, ...] = ("os", "ws", "is")


def _ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` for non-negative ``a`` and positive ``b`` (exact integer arithmetic)."""
    return -(-a // b)


def _check_dims(**dims: int) -> None:
    """Raise ``ValueError`` unless every named dimension is a positive int."""
    for name, v in dims.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


def _geometry(dataflow: Dataflow, M: int, N: int, K: int) -> tuple[int, int, int]:
    """``(dim on array rows, dim on array cols, streamed length T)`` for ``dataflow``."""
    _check_dims(M=M, N=N, K=K)
    if dataflow == "os":
        return M, N, K
    if dataflow == "ws":
        return K, N, M
    if dataflow == "is":
        return K, M, N
    raise ValueError(f"unknown dataflow {dataflow!r} (one of {', '.join(_DATAFLOWS)})")


def fold_counts(dataflow: Dataflow, M: int, N: int, K: int, R: int, C: int) -> tuple[int, int]:
    """Number of folds ``(row_folds, col_folds)`` of the stationary mapping (counts, unitless).

    SCALE-Sim v3.0.0: os ``(ceil(M/R), ceil(N/C))``; ws ``(ceil(K/R), ceil(N/C))``;
    is ``(ceil(K/R), ceil(M/C))``.
    """
    _check_dims(R=R, C=C)
    rows, cols, _ = _geometry(dataflow, M, N, K)
    return _ceil_div(rows, R), _ceil_div(cols, C)


def streamed_length(dataflow: Dataflow, M: int, N: int, K: int) -> int:
    """Streamed length ``T`` in cycles per fold (operand vectors pushed through the array).

    ``K`` for os, ``M`` for ws, ``N`` for is.
    """
    return _geometry(dataflow, M, N, K)[2]


def scalesim_fold_cycles(dataflow: Dataflow, M: int, N: int, K: int, R: int, C: int) -> int:
    """Cycles of one fold in SCALE-Sim v3.0.0 (partial folds cost the same as full ones).

    os ``K + R + C - 2``; ws ``2R + C + M - 2``; is ``2R + C + N - 2`` (the ws/is ``R`` extra
    is the preload of the stationary operand, which SCALE-Sim never overlaps).
    """
    _check_dims(R=R, C=C)
    T = streamed_length(dataflow, M, N, K)
    if dataflow == "os":
        return T + R + C - 2
    return 2 * R + C + T - 2


def scalesim_serial_cycles(dataflow: Dataflow, M: int, N: int, K: int, R: int, C: int) -> int:
    """Cycles (a duration) of SCALE-Sim's strictly serial folds: ``fr * fc * fold_cycles``.

    This is the count *without* SCALE-Sim's trailing ``- 1``, so that tiles can be summed; a
    caller reproducing SCALE-Sim subtracts 1 once from the total (see :func:`scalesim_cycles`).
    """
    fr, fc = fold_counts(dataflow, M, N, K, R, C)
    return fr * fc * scalesim_fold_cycles(dataflow, M, N, K, R, C)


def scalesim_cycles(dataflow: Dataflow, M: int, N: int, K: int, R: int, C: int) -> int:
    """The stall-free compute cycles SCALE-Sim v3.0.0 reports: ``fr * fc * fold_cycles - 1``.

    SCALE-Sim reports the last 0-based cycle index rather than a duration, hence the ``- 1``
    (its GitHub issue #125 discusses this off-by-one). Example (scalesim.md): 128x768x768 on a
    32x32 os array: fr=4, fc=24, 830 cycles per fold, 4*24*830 - 1 = 79,679.
    """
    return scalesim_serial_cycles(dataflow, M, N, K, R, C) - 1


def pipelined_cycles(dataflow: Dataflow, M: int, N: int, K: int, R: int, C: int) -> int:
    """accelsim's default duration in cycles of one GEMM tile, with double-buffered folds.

    Let ``n = fr * fc`` folds and ``T`` the streamed length (M for ws, N for is).

    **ws / is.** A fold costs SCALE-Sim ``R`` (preload the stationary operand, one array row per
    cycle) + ``T`` (stream) + ``R + C - 2`` (skew: the last operand enters row ``R-1`` ``R-1``
    cycles late and its result leaves column ``C-1`` after ``C-1`` more). With a shadow copy of
    the stationary registers, fold ``i+1``'s preload runs while fold ``i`` streams, so a new
    fold can start streaming every ``max(T, R)`` cycles (streaming for ``T``, or waiting for the
    preload if ``R > T``). The skew is a pipeline depth, so it is paid once, after the last
    fold, and only the first preload is exposed. Fold ``i`` starts streaming at
    ``R + i * max(T, R)``; the last fold (``i = n - 1``) has no successor to preload and ends
    ``T`` cycles later; its results drain after ``R + C - 2`` more::

        ws/is:  R + (n - 1) * max(T, R) + T + (R + C - 2)

    **os.** The stationary operand is the output accumulator. A fold streams ``K`` cycles, then
    its ``R`` rows of results shift out; with double-buffered accumulators the drain of fold
    ``i`` overlaps the streaming of fold ``i+1``, so folds start every ``max(K, R)`` cycles and
    nothing is preloaded::

        os:     (n - 1) * max(K, R) + K + (R + C - 2)

    For a single fold (``n = 1``) both equal :func:`scalesim_serial_cycles` exactly, and for
    any ``n`` they are <= it (strictly less for ``n >= 2`` unless ``C = 1`` and
    ``min(T, R) = 1`` on os). This is the brief's ``R + n*max(T, R) + (R + C - 2)`` (ws/is) and
    ``n*max(K, R) + (R + C - 2)`` (os) less ``max(0, R - T)``: the last fold is charged ``T``,
    not ``max(T, R)``, since no preload follows it (otherwise a single fold with ``T < R``,
    e.g. a GEMV on ws, would take longer than with no double buffering at all).
    """
    fr, fc = fold_counts(dataflow, M, N, K, R, C)
    n = fr * fc
    T = streamed_length(dataflow, M, N, K)
    skew = R + C - 2
    if dataflow == "os":
        return (n - 1) * max(T, R) + T + skew
    return R + (n - 1) * max(T, R) + T + skew


def gemm_cycles(
    dataflow: Dataflow, M: int, N: int, K: int, R: int, C: int, mode: TimingMode
) -> int:
    """Duration in cycles of one GEMM tile under timing ``mode``.

    ``"scalesim"`` -> :func:`scalesim_serial_cycles` (no ``- 1``; subtract 1 once from a sum
    of tiles to reproduce SCALE-Sim's report); ``"pipelined"`` -> :func:`pipelined_cycles`.
    """
    if mode == "scalesim":
        return scalesim_serial_cycles(dataflow, M, N, K, R, C)
    if mode == "pipelined":
        return pipelined_cycles(dataflow, M, N, K, R, C)
    raise ValueError(f"unknown timing mode {mode!r} (one of scalesim, pipelined)")


def mapping_efficiency(dataflow: Dataflow, M: int, N: int, K: int, R: int, C: int) -> float:
    """SCALE-Sim's mapping efficiency (fraction in [0, 1]).

    Mean over folds of ``rows_used * cols_used / (R * C)``: the stationary footprint only, so a
    1x768x768 GEMV on ws shows 100 % mapping at 0.26 % utilisation. Row fold ``i`` uses ``R``
    rows except the last, which uses the remainder; likewise for columns. The sum over the
    ``fr x fc`` grid factorises, ``sum_i sum_j rows_i * cols_j = (sum_i rows_i)(sum_j cols_j)
    = row_dim * col_dim``, so the mean is ``row_dim * col_dim / (fr * fc * R * C)`` in O(1).
    """
    fr, fc = fold_counts(dataflow, M, N, K, R, C)
    rows, cols, _ = _geometry(dataflow, M, N, K)
    return (rows * cols) / (fr * fc * R * C)


def compute_utilization(dataflow: Dataflow, M: int, N: int, K: int, R: int, C: int) -> float:
    """SCALE-Sim's compute utilisation (fraction in [0, 1]).

    Mean over folds of ``rows_used * cols_used * T / (R * C * L)`` with ``T`` the streamed length
    and ``L = K + R + C - 2`` for os but ``L = 2R + 2C + T - 3`` for ws/is. The ws/is ``L`` is
    ``C - 1`` cycles longer than the fold really takes (:func:`scalesim_fold_cycles`), so
    SCALE-Sim understates ws/is compute utilisation: a documented quirk of v3.0.0, reproduced
    here on purpose. ``L`` and ``T`` do not depend on the fold, so the mean is
    ``mapping_efficiency * T / L`` (O(1), see :func:`mapping_efficiency`).
    """
    fr, fc = fold_counts(dataflow, M, N, K, R, C)
    rows, cols, T = _geometry(dataflow, M, N, K)
    L = T + R + C - 2 if dataflow == "os" else 2 * R + 2 * C + T - 3
    return (rows * cols * T) / (fr * fc * R * C * L)


def mac_utilization(M: int, N: int, K: int, R: int, C: int, cycles: int) -> float:
    """Fraction of the array's MAC slots used: ``M*N*K / (R * C * cycles)`` (``cycles`` > 0).

    With ``cycles = scalesim_cycles(...)`` (the reported count, *including* its ``- 1``) this is
    exactly SCALE-Sim's "overall utilisation" in stall-free mode.
    """
    _check_dims(M=M, N=N, K=K, R=R, C=C, cycles=cycles)
    return (M * N * K) / (R * C * cycles)


def scalesim_sram_accesses(
    dataflow: Dataflow, M: int, N: int, K: int, R: int, C: int
) -> dict[str, int]:
    """SCALE-Sim v3.0.0 stall-free SRAM access counts in words.

    Keys ``ifmap_reads`` (A), ``filter_reads`` (B), ``ofmap_writes`` (C):

    * os: ``fc*M*K``, ``fr*K*N``, ``M*N + fr*fc*(R + C)`` (the last term is spurious);
    * ws: ``fc*M*K``, ``K*N``, ``fr*M*N`` (partial sums written once per K fold);
    * is: ``M*K``, ``fc*K*N``, ``fr*M*N``.
    """
    fr, fc = fold_counts(dataflow, M, N, K, R, C)
    if dataflow == "os":
        return {
            "ifmap_reads": fc * M * K,
            "filter_reads": fr * K * N,
            "ofmap_writes": M * N + fr * fc * (R + C),
        }
    if dataflow == "ws":
        return {"ifmap_reads": fc * M * K, "filter_reads": K * N, "ofmap_writes": fr * M * N}
    return {"ifmap_reads": M * K, "filter_reads": fc * K * N, "ofmap_writes": fr * M * N}


def sram_operand_words(
    dataflow: Dataflow, M: int, N: int, K: int, R: int, C: int
) -> dict[str, int]:
    """accelsim's physical SRAM traffic of one GEMM tile in words, by operand role.

    Keys ``inputs`` (words of A read), ``weights`` (words of B read) and ``outputs`` (words of C
    written). The same as :func:`scalesim_sram_accesses` except that os ``outputs`` is ``M*N``:
    each output is written once when it drains, without SCALE-Sim's spurious ``fr*fc*(R + C)``.
    Operands that are not stationary are re-read once per fold of the other dimension (os: A
    once per column fold, B once per row fold; ws: A once per column fold; is: B once per
    column fold). For ws/is, ``outputs`` is ``fr*M*N``: each output's partial sum is written
    once per K fold. Re-reading partial sums to accumulate them is not counted here.
    """
    acc = scalesim_sram_accesses(dataflow, M, N, K, R, C)
    outputs = M * N if dataflow == "os" else acc["ofmap_writes"]
    return {"inputs": acc["ifmap_reads"], "weights": acc["filter_reads"], "outputs": outputs}


def conv2d_gemm_dims(
    H: int,
    W: int,
    C: int,
    R: int,
    S: int,
    F: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    batch: int = 1,
) -> tuple[int, int, int]:
    """GEMM dimensions ``(M, N, K)`` of a 2-D convolution lowered by im2col.

    Input ``batch x C x H x W`` (elements), ``F`` filters of ``R x S`` (rows x cols) over all
    ``C`` channels, ``stride``/``padding``/``dilation`` in elements, applied to both spatial
    dims. ``Ho = floor((H + 2*padding - dilation*(R - 1) - 1) / stride) + 1`` (likewise ``Wo``);
    returns ``M = batch*Ho*Wo`` (output pixels), ``N = F``, ``K = R*S*C``. SCALE-Sim uses
    ``padding = 0`` and ``batch = 1`` (scalesim.md).
    """
    _check_dims(H=H, W=W, C=C, R=R, S=S, F=F, stride=stride, dilation=dilation, batch=batch)
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be a non-negative integer, got {padding!r}")
    ho = (H + 2 * padding - dilation * (R - 1) - 1) // stride + 1
    wo = (W + 2 * padding - dilation * (S - 1) - 1) // stride + 1
    if ho < 1 or wo < 1:
        raise ValueError(
            f"a {R}x{S} filter (dilation {dilation}) does not fit a {H}x{W} input "
            f"with padding {padding}"
        )
    return batch * ho * wo, F, R * S * C


def chained_tile_cycles(
    dataflow: Dataflow, m: int, n: int, ks: list[int] | tuple[int, ...], R: int, C: int
) -> list[int]:
    """Cycles of each of the K tiles ``ks`` (in order) of one ``m x n`` output tile that run back
    to back on one array, accumulating into the same partial sums.

    **ws / is**: consecutive K tiles continue one pipeline: the next K tile's first fold preloads
    its stationary operand while the current tile's last fold streams (double-buffered PE
    registers, as within a tile), and only the last K tile drains. With ``f_j`` folds in tile
    ``j`` (of ``J``), ``X = max(T, R)`` and ``T`` the streamed length::

        tile 1:      R + f_1 X            (J > 1)
        tile j:      f_j X                (1 < j < J)
        tile J:      (f_J - 1) X + T + (R + C - 2)

    which sum to :func:`pipelined_cycles` of the whole output tile when every ``k_j`` is a
    multiple of ``R`` (then ``sum f_j`` equals the whole tile's folds). ``J = 1`` is exactly
    :func:`pipelined_cycles`.

    **os**: the partial sums live in the PEs of one output fold; a tile with several output
    folds drains each before the next, so K tiles do not chain: each costs
    :func:`pipelined_cycles` of its own shape.
    """
    if not ks:
        return []
    if dataflow == "os" or len(ks) == 1:
        return [pipelined_cycles(dataflow, m, n, k, R, C) for k in ks]
    # ws: K on rows, N on cols, M streamed; is: K on rows, M on cols, N streamed
    T, cols = (m, n) if dataflow == "ws" else (n, m)
    fc = -(-cols // C)
    X = max(T, R)
    skew = R + C - 2
    J = len(ks)
    out = [0] * J
    for j, k in enumerate(ks):
        f = -(-k // R) * fc
        if j == 0:
            out[j] = R + f * X
        elif j == J - 1:
            out[j] = (f - 1) * X + T + skew
        else:
            out[j] = f * X
    return out


def operand_words_fast(dataflow: str, M: int, N: int, K: int, R: int, C: int) -> tuple[int, int, int]:
    """:func:`sram_operand_words` as a tuple ``(inputs, weights, outputs)``, without argument
    checks (for cost models evaluating many candidates; arguments must be positive ints)."""
    if dataflow == "os":
        fr, fc = -(-M // R), -(-N // C)
        return fc * M * K, fr * K * N, M * N
    fr = -(-K // R)
    if dataflow == "ws":
        fc = -(-N // C)
        return fc * M * K, K * N, fr * M * N
    fc = -(-M // C)
    return M * K, fc * K * N, fr * M * N


def tile_phases(dataflow: Dataflow, M: int, N: int, K: int, R: int, C: int) -> tuple[int, int, int, int]:
    """``(fill, body, drain, stream)`` of one tile under the pipelined model, with
    ``fill + body + drain == pipelined_cycles(...)``:

    * ``fill``: the first fold's preload of the stationary operand (ws/is ``R``; os 0);
    * ``body``: ``(n - 1) * max(T, R) + T`` (os: ``max(K, R)`` per fold switch);
    * ``drain``: the skew ``R + C - 2`` until the last results leave the array;
    * ``stream``: ``T``, the streamed length of the last fold.

    When tiles run back to back on one array (the next one starts the cycle the previous one's
    last fold has streamed in), the next tile's preload runs under the previous tile's last
    fold (hiding ``min(fill, stream)`` cycles of it, double-buffered PE registers) and the
    previous tile's drain runs under the next tile's folds: a stream of tiles pays the fill and
    the drain once. The simulator's arrays apply this (:class:`accelsim.sim.systolic_array.SystolicArray`).
    """
    fr, fc = fold_counts(dataflow, M, N, K, R, C)
    n = fr * fc
    T = streamed_length(dataflow, M, N, K)
    drain = R + C - 2
    if dataflow == "os":
        return 0, (n - 1) * max(T, R) + T, drain, T
    return R, (n - 1) * max(T, R) + T, drain, T


def tile_phases_fast(dataflow: str, M: int, N: int, K: int, R: int, C: int) -> tuple[int, int, int, int]:
    """:func:`tile_phases` without argument checks (for cost models evaluating many candidates;
    arguments must be positive ints and ``dataflow`` one of os / ws / is)."""
    if dataflow == "os":
        n = -(-M // R) * -(-N // C)
        return 0, (n - 1) * max(K, R) + K, R + C - 2, K
    if dataflow == "ws":
        n = -(-K // R) * -(-N // C)
        T = M
    else:
        n = -(-K // R) * -(-M // C)
        T = N
    return R, (n - 1) * max(T, R) + T, R + C - 2, T
