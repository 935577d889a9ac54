"""The typed description of ``result.json``: what ``accelsim run --out`` writes and ``--json`` prints.

:class:`ResultModel` (pydantic) names every key of a run's result with its type and unit; nested
models describe the sections. ``accelsim/schemas/result.schema.json`` is the JSON Schema
generated from it and ships in the package (:func:`schema_path`)::

    from accelsim.result_schema import ResultModel, load_result
    r = load_result("results/gpt2-tiny")     # or ResultModel.model_validate(json.loads(text))
    r.total_cycles, r.latency_s, r.units["sa0"].utilization, r.gpu.latency_s if r.gpu else None

    python -m accelsim.result_schema --write   # regenerate the schema file after changing a model
    python -m accelsim.result_schema --check   # exit 1 when the shipped file is stale

Validation is strict: an integer key refuses a float or a string, a number refuses a bool; a
float key takes an integer. Sections that only some runs have (``energy``, ``gpu``, ``check``,
``system``, ``inference``, ...) are optional: the key is absent when it does not apply. Keys the
models do not name are accepted (a newer accelsim may add some) and kept in ``model_extra``;
``tests/test_result_schema.py`` checks that real results have none, so the models name every key.

**schema_version** (top-level key, an integer; :data:`SCHEMA_VERSION`). Bump it, and say what
changed in docs/reports.md, whenever a change can break a reader of the previous version: a key
removed or renamed, a key's type, unit or meaning changed, a key that was always present made
optional, an optional section's structure changed. Adding a key or an optional section needs no
bump (readers must ignore keys they do not know) but does need the model and the schema file
updated. A result without ``schema_version`` was written before the schema existed.

The result stays a plain dict (``RunResult.data``) written with ``json.dumps``, so result.json is
byte-for-byte what it was; these models read and check it (:meth:`RunResult.typed`).
"""

import argparse
import json
import sys
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from accelsim import RESULT_SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "ResultModel", "describes", "generate_schema", "load_result", "schema_path", "schema_text",
           "validate_result"]

#: The version of the layout :class:`ResultModel` describes (the ``schema_version`` key; defined
#: in ``accelsim/__init__.py`` so that writing a result does not import these models).
SCHEMA_VERSION = RESULT_SCHEMA_VERSION


class _Section(BaseModel):
    """Strict types; unknown keys accepted and kept (``model_extra``)."""

    model_config = ConfigDict(extra="allow", strict=True, defer_build=True)


# -- run description -----------------------------------------------------------------------------


class ParallelOptions(_Section):
    """How a multi-chip run was split (``--tp``, ``--pp``, ``--microbatches``)."""

    tp: int
    pp: int
    microbatches: int


class RunOptionsRecord(_Section):
    """``RunOptions.to_dict()``: the options that affect the numbers."""

    mode: str = Field(description="timing mode: 'pipelined' or 'scalesim' (--compat scalesim)")
    mapping: dict[str, Any] = Field(description="the mapping options (MappingOptions, docs/mapping.md)")
    gpu: str | None = Field(description="GPU profile compared against; null with --no-gpu")
    gpu_launch: str | None = Field(None, description="GPU launch model; absent for the default 'eager'")
    parallel: ParallelOptions | None = Field(None, description="multi-chip runs only")


class ArchSummary(_Section):
    """The architecture's headline figures."""

    peak_macs_per_cycle: int = Field(description="MACs per cycle over all arrays")
    clock_ghz: float = Field(description="GHz")
    dram_bandwidth_gbps: float = Field(description="GB/s")
    vector_ops_per_cycle: int = Field(description="vector lanes (element-ops per cycle)")
    arrays: int = Field(description="systolic-array instances")
    sram_bytes: int = Field(description="on-chip SRAM, bytes")
    technology: str = Field(description="technology node of the energy and area tables")


# -- units, memories, timeline -------------------------------------------------------------------


class ArrayUnitStats(_Section):
    """A systolic-array instance."""

    kind: Literal["systolic_array"]
    shape: str = Field(description="rows x cols, e.g. '128x128'")
    dataflow: str = Field(description="'ws', 'os' or 'is'")
    busy_cycles: int = Field(description="cycles held by a tile")
    utilization: float = Field(description="busy_cycles / total cycles (fraction)")
    mac_utilization: float = Field(description="MACs / (PEs x total cycles) (fraction)")
    tiles: int
    macs: int


class VectorUnitStats(_Section):
    """The vector unit."""

    kind: Literal["vector"]
    busy_cycles: int
    utilization: float = Field(description="fraction")
    tiles: int
    elements: int = Field(description="element-operations")


class DmaUnitStats(_Section):
    """The DMA engine pool."""

    kind: Literal["dma"]
    engines: int
    busy_cycles: int = Field(description="summed over the engines")
    utilization: float = Field(description="busy_cycles / (engines x total cycles) (fraction)")
    transfers: int


class DramChannelStats(_Section):
    """One DRAM channel (units ``dram.ch<i>``)."""

    kind: Literal["dram_channel"]
    busy_cycles: int
    utilization: float = Field(description="fraction")


class SequencerStats(_Section):
    """The sequencer."""

    kind: Literal["sequencer"]
    commands: int = Field(description="tile commands issued")
    busy_cycles: int = Field(description="commands x issue cycles")
    utilization: float = Field(description="fraction")


UnitStats = Annotated[ArrayUnitStats | VectorUnitStats | DmaUnitStats | DramChannelStats | SequencerStats,
                      Field(discriminator="kind")]


class ArrayUtilization(_Section):
    """Utilization of the arrays as a whole (fractions)."""

    mac_utilization: float = Field(description="MACs / (peak MACs per cycle x total cycles)")
    scalesim_compute_utilization: float = Field(description="SCALE-Sim's compute utilization, weighted by tile cycles")
    scalesim_mapping_efficiency: float = Field(description="SCALE-Sim's mapping efficiency, weighted by tile cycles")
    busy_fraction: float = Field(description="mean busy cycles of the arrays / total cycles")


class SramPartitionStats(_Section):
    """One SRAM partition's traffic (bytes)."""

    read_bytes: int
    write_bytes: int
    banks: int


class TimelineCycles(_Section):
    """Where the time went (cycles; they sum to the simulated cycles)."""

    compute: int = Field(description="some unit computes")
    sram_stall: int = Field(description="no unit computes, some waits for SRAM")
    memory_stall: int = Field(description="no unit computes, DMA moves data")
    control_idle: int = Field(description="the rest")


class UtilizationTimeline(_Section):
    """Busy fraction per unit in equal time bins."""

    bins: int
    bin_cycles: float = Field(description="cycles per bin")
    units: dict[str, list[float]] = Field(description="unit -> busy fraction of each bin")


class OpRow(_Section):
    """One scheduled op (a row of ops.csv; an IR op may be scheduled as several pieces)."""

    name: str
    ir_op: str = Field(description="the IR op it comes from")
    kind: str
    module: str = Field(description="module path ('' for the top module)")
    unit: str = Field(description="'array', 'vector', 'link' or 'none' (free layout op)")
    start_cycle: int
    end_cycle: int
    cycles: int = Field(description="end_cycle - start_cycle")
    macs: int
    elements: int = Field(description="vector element-operations")
    dram_bytes: int = Field(description="bytes read + written")
    utilization: float = Field(description="of the units it used over its cycles (fraction)")
    tiles: int
    note: str
    mapping: str = Field(description="what the mapping chose (accelsim explain)")
    residency: str = Field(description="where each operand lives")
    predicted_cycles: int | None = Field(description="the cost model's estimate; null without a plan")
    simulated_cycles: int = Field(description="the op's simulated span (cycles)")
    bound: str | None = Field(description="what bounds it in the cost model; null without a plan")


class LayerRow(_Section):
    """The per-layer rollup by module prefix (a row of layers.csv; docs/reports.md)."""

    layer: str
    ops: int
    start_cycle: int | None = Field(description="null for a layer only the GPU has")
    end_cycle: int | None
    cycles: int
    busy_cycles: int
    share: float = Field(description="cycles / the sum over layers (fraction)")
    macs: int
    elements: int
    dram_bytes: int
    energy_j: float | None = Field(description="J; null without an energy estimate")
    mac_utilization: float = Field(description="fraction")
    gpu_time_s: float | None = Field(description="s; null without a GPU comparison")


# -- residual access policy, ROM -----------------------------------------------------------------


class AccessBytes(_Section):
    read: int = Field(description="bytes")
    write: int = Field(description="bytes")


class PolicyViolation(_Section):
    op: str
    module: str
    role: str
    partition: str
    access: str = Field(description="'read' or 'write'")
    cycle: int
    rule: str = Field(description="the matching rule's role glob, or '<default>'")


class RomUse(_Section):
    """Weights hard-wired in on-chip ROM."""

    bytes: int = Field(description="ROM capacity in use")
    read_bytes: int
    weights: list[str]


class RomSide(_Section):
    total_cycles: int
    latency_s: float = Field(description="s")
    energy_j: float = Field(description="J")
    area_mm2: float = Field(description="mm^2")
    dram_read_bytes: int


class RomComparison(_Section):
    """The same run without ``rom:`` (cost and benefit of hard-wiring)."""

    with_rom: RomSide
    without_rom: RomSide
    speedup: float | None = Field(description="latency without / with ROM")
    energy_saving_j: float = Field(description="J")
    area_cost_mm2: float = Field(description="mm^2")


# -- energy and area -----------------------------------------------------------------------------


class EnergySection(_Section):
    """The energy estimate (docs/energy.md)."""

    total_j: float = Field(description="J")
    dynamic_j: float = Field(description="J")
    static_j: float = Field(description="J")
    power_w: float = Field(description="average power, W")
    static_power_w: float = Field(description="W")
    pj_per_mac: float = Field(description="total energy / MACs, pJ")
    technology: str
    breakdown_j: dict[str, float] = Field(description="component ('arrays', 'sram.<partition>', 'dram', ...) -> J")
    per_action_pj: dict[str, float] = Field(description="action ('mac.bf16/fp32', 'dram.bit', ...) -> pJ")
    per_inference_j: float = Field(description="J per batch element")
    per_token_j: float | None = Field(description="J per token; null when the workload has no tokens")
    chips: int | None = Field(None, description="multi-chip runs: chips priced")


class AreaSection(_Section):
    """The area estimate (one chip)."""

    total_mm2: float = Field(description="mm^2")
    technology: str
    breakdown_mm2: dict[str, float] = Field(description="component -> mm^2")
    per_unit_mm2: dict[str, float] = Field(description="unit area used (per PE, per SRAM KiB, ...) -> mm^2")
    chips: int | None = Field(None, description="multi-chip runs: chips used")
    system_mm2: float | None = Field(None, description="multi-chip runs: chips x total_mm2")


class ActionCountsRecord(_Section):
    """What the hardware did, as the energy model prices it (accelsim.energy.counts)."""

    array_cycles: dict[str, int] = Field(description="array instance -> busy cycles")
    dma_bytes: int
    dma_transfers: int
    dram_read_bytes: int
    dram_write_bytes: int
    macs: dict[str, int] = Field(description="'<precision>/<acc precision>' -> MACs")
    rom_bytes: int
    rom_read_bytes: int
    sequencer_commands: int
    sram_reads: dict[str, int] = Field(description="partition -> bytes read")
    sram_writes: dict[str, int] = Field(description="partition -> bytes written")
    vector_ops: dict[str, int] = Field(description="vector op kind -> element-operations")


# -- generation ----------------------------------------------------------------------------------


class InferenceParallel(_Section):
    tp: int
    pp: int
    microbatches: int
    chips: int


class InferenceSummary(_Section):
    """A generation's metrics (``--prompt P --generate G``; docs/inference.md)."""

    prompt_tokens: int
    generated_tokens: int = Field(description="per sequence")
    batch: int
    ttft_s: float = Field(description="time to the first token (the prefill), s")
    tpot_s: float | None = Field(description="mean decode step, s; null when G = 1")
    tpot_curve_s: list[float] = Field(description="each decode step, s")
    e2e_s: float = Field(description="s")
    tokens_per_s: float | None = Field(description="generated tokens per second")
    energy_j: float = Field(description="J")
    energy_per_token_j: float = Field(description="J per generated token")
    prefill_energy_j: float = Field(description="J")
    kv_cache_bytes: int
    kv_bytes_per_token: int
    kv_cache_location: str = Field(description="'sram:<partition>', 'dram' or 'hbm'")
    weight_bytes: int
    memory_need_bytes: int = Field(description="per chip")
    memory_capacity_bytes: int = Field(description="per chip")
    max_batch_at_context: int | None
    layers: int
    method: str = Field(description="how the numbers were obtained (folding, sampling)")
    parallel: InferenceParallel | None = Field(None, description="multi-chip generations only")
    weight_bytes_per_chip: int | None = Field(None, description="multi-chip generations only")
    kv_cache_bytes_per_chip: int | None = Field(None, description="multi-chip generations only")


class GpuInferenceSummary(InferenceSummary):
    launch_mode: str


class GpuInferenceError(_Section):
    """The generation does not fit the GPU's memory."""

    error: str


# -- GPU comparison ------------------------------------------------------------------------------


class GpuOp(_Section):
    """One IR op on the GPU model (docs/gpu.md)."""

    op: str
    kind: str
    module: str
    kernel: str
    kernels: int
    flops: int
    bytes: int
    time_s: float = Field(description="s")
    kernel_s: float = Field(description="s")
    compute_s: float = Field(description="s")
    memory_s: float = Field(description="s")
    launch_s: float = Field(description="s")
    framework_s: float = Field(description="s")
    bound: str = Field(description="'compute', 'memory', 'launch' or 'network'")
    energy_j: float = Field(description="J")
    achieved_tflops: float
    detail: str


class GpuTopOp(_Section):
    name: str
    kind: str
    module: str
    time_s: float = Field(description="s")
    bound: str


class GpuSystem(_Section):
    """The same split on tp x pp GPUs."""

    gpus: int
    tp: int
    pp: int
    microbatches: int
    stage_s: list[float] = Field(description="s per stage")
    collective_s: float = Field(description="s")
    send_s: float = Field(description="s")
    algorithm: str
    bandwidth_per_direction_gbps: float = Field(description="GB/s")
    latency_us: float = Field(description="us")


class GpuSection(_Section):
    """The GPU model's run of the same graph."""

    profile: str
    precision: str
    launch_mode: str = Field(description="'eager' or 'graph'")
    latency_s: float = Field(description="kernels + exposed launch + framework overhead, s")
    kernel_s: float = Field(description="s")
    launch_s: float = Field(description="s")
    framework_s: float = Field(description="s")
    energy_j: float = Field(description="J")
    kernels: int
    flops: int
    bytes: int
    bound_counts: dict[str, int] = Field(description="bound -> ops")
    ops: list[GpuOp]
    free_ops: list[str] = Field(description="ops the GPU runs for free (views)")
    power_w: float = Field(description="W")
    top_ops: list[GpuTopOp]
    system: GpuSystem | None = Field(None, description="multi-chip runs only")
    inference: GpuInferenceSummary | GpuInferenceError | None = Field(None, description="generations only")


# -- functional check ----------------------------------------------------------------------------


class TensorCheckRow(_Section):
    tensor: str
    op: str
    module: str
    max_abs_err: float
    max_rel_err: float
    bound: float | None = Field(description="the error bound; 0: exact")
    passed: bool
    note: str
    chip: int | None = Field(None, description="multi-chip first_failure: the chip")


class SystemCheckChip(_Section):
    chip: int
    stage: int
    tp_rank: int
    passed: bool
    pieces: int
    first_failure: TensorCheckRow | None


class SystemCheckCombined(_Section):
    passed: bool
    rtol: float
    outputs: int


class SystemCheck(_Section):
    chips: list[SystemCheckChip]
    combined: SystemCheckCombined
    approach: str


class CheckSection(_Section):
    """``--check``: the mapped program emulated at the arch's precision vs PyTorch (docs/numerics.md)."""

    passed: bool
    scheme: str = Field(description="e.g. 'int8-exact', 'bf16-fp32acc', 'fp32'")
    level: str = Field(description="'outputs' or 'all'")
    tensors: list[TensorCheckRow]
    first_failure: TensorCheckRow | None
    vs_fp32: dict[str, Any] | None
    vs_model: dict[str, Any] | None = Field(description="vs the eager PyTorch module; null without eager outputs")
    system: SystemCheck | None = Field(None, description="multi-chip runs only")


# -- multi-chip system ---------------------------------------------------------------------------


class InterconnectRecord(_Section):
    topology: str
    chips: int
    dims: list[int] | None
    links_per_chip: int
    link_bandwidth_gbps: float = Field(description="GB/s")
    latency_ns: float = Field(description="ns")
    neighbours: int
    links_per_neighbour: int
    channel_bandwidth_gbps: float = Field(description="GB/s")


class TpPlanRecord(_Section):
    tp: int
    column_parallel: list[str]
    row_parallel: list[str]
    vocab_parallel: list[str]
    replicated: list[str]
    split_attention: list[str]
    all_reduces: int
    all_gathers: int
    sharded_inputs: list[str]
    sharded_outputs: list[str]
    notes: list[str]


class StageRecv(_Section):
    tensor: str
    from_stage: int


class StageSend(_Section):
    tensor: str
    to_stage: int


class StageRecord(_Section):
    stage: int
    layers: list[int] = Field(description="[first, last] layer group")
    chips: list[int]
    ops: int
    balance_cost_cycles: float
    recv: list[StageRecv]
    send: list[StageSend]


class CollectiveRecord(_Section):
    kind: str = Field(description="'all_reduce', 'all_gather', ... or 'p2p'")
    name: str
    bytes: int
    chips: list[int]
    algorithm: str
    stage: int
    microbatch: int
    start_cycle: int
    cycles: int
    formula_cycles: float = Field(description="the closed-form cost, cycles")
    skew_cycles: int


class CollectiveTotals(_Section):
    count: int
    bytes: int
    cycles: int


class LinkStats(_Section):
    busy_cycles: int
    bytes: int
    transfers: int
    utilization: float = Field(description="fraction")


class ChipStats(_Section):
    chip: int
    stage: int
    tp_rank: int
    busy_cycles: int
    utilization: float
    compute_cycles: int
    compute_utilization: float
    macs: int
    mac_utilization: float
    communication_cycles: int
    dram_read_bytes: int
    dram_write_bytes: int


class OneChipBaseline(_Section):
    total_cycles: int
    latency_s: float = Field(description="s")
    note: str


class SystemSection(_Section):
    """A multi-chip run (``--tp``, ``--pp``; docs/multichip.md)."""

    chips: int = Field(description="chips in the system")
    chips_used: int
    tp: int
    pp: int
    microbatches: int
    symmetric: bool = Field(description="one chip per symmetric group was simulated")
    interconnect: InterconnectRecord
    tp_plan: TpPlanRecord
    stages: list[StageRecord]
    collectives: list[CollectiveRecord]
    collective_summary: dict[str, CollectiveTotals] = Field(description="kind -> totals")
    link_utilization: dict[str, LinkStats] = Field(description="'<chip>-><chip>' -> stats")
    per_chip: list[ChipStats]
    communication_cycles: int = Field(description="the busiest chip's")
    communication_fraction: float
    pipeline_bubble: float = Field(description="fraction of chip-cycles idle")
    pipeline_bubble_formula: float = Field(description="(pp - 1) / (microbatches + pp - 1)")
    one_chip: OneChipBaseline | None = Field(None, description="the unsplit graph on one chip")
    speedup_vs_one_chip: float | None = None
    scaling_efficiency: float | None = None


# -- the result ----------------------------------------------------------------------------------


class ResultModel(_Section):
    """result.json of one ``accelsim run`` (one chip, or a multi-chip system; a generation's
    prefill with ``inference``). Cycles are at the arch's clock; bytes, J, s, W, mm^2 as named."""

    model_config = ConfigDict(title="accelsim result.json", json_schema_extra={
        "$schema": "https://json-schema.org/draft/2020-12/schema"})

    schema_version: Literal[1] = Field(description="the layout version (accelsim.result_schema.SCHEMA_VERSION)")
    accelsim_version: str
    arch: str = Field(description="the architecture's name")
    workload: str
    workload_meta: dict[str, Any] = Field(description="what the workload reports about itself (seq, batch, ...)")
    options: RunOptionsRecord
    clock_ghz: float = Field(description="GHz")
    arch_summary: ArchSummary
    total_cycles: int = Field(description="end-to-end latency, cycles")
    latency_s: float = Field(description="total_cycles / clock, s")
    macs: int = Field(description="multiply-accumulates performed")
    peak_macs_per_cycle: int
    units: dict[str, UnitStats] = Field(description="unit name -> its counters (one chip: rank 0 of stage 0)")
    array_utilization: ArrayUtilization
    dram_read_bytes: int = Field(description="bytes")
    dram_write_bytes: int = Field(description="bytes")
    sram: dict[str, SramPartitionStats] = Field(description="partition -> traffic")
    bank_conflict_stall_cycles: int = Field(description="cycles waiting for an SRAM region")
    sram_bandwidth_stall_cycles: int = Field(description="cycles an access outlasted the ideal compute")
    dma_stall_cycles: int = Field(description="dma_engine_wait_cycles + dram_queue_cycles")
    dma_engine_wait_cycles: int
    dram_queue_cycles: int
    timeline_cycles: TimelineCycles
    utilization_timeline: UtilizationTimeline
    events: int = Field(description="SimPy events processed")
    tiles: int = Field(description="tile commands simulated")
    ops: list[OpRow]
    # residual access policy (an arch with `residual:`), ROM (an arch with `rom:`)
    access_matrix: dict[str, dict[str, AccessBytes]] | None = Field(None, description="role -> partition -> bytes")
    policy_checks: int | None = Field(None, description="tile accesses checked")
    policy_violations: list[PolicyViolation] | None = None
    rom: RomUse | None = None
    system: SystemSection | None = Field(None, description="multi-chip runs only")
    # energy (unless disabled)
    energy_j: float | None = Field(None, description="J")
    power_w: float | None = Field(None, description="average power, W")
    area_mm2: float | None = Field(None, description="one chip, mm^2")
    energy: EnergySection | None = None
    area: AreaSection | None = None
    action_counts: ActionCountsRecord | None = None
    # GPU comparison (unless --no-gpu)
    gpu: GpuSection | None = None
    speedup_vs_gpu: float | None = Field(None, description="GPU latency / ASIC latency")
    energy_ratio_vs_gpu: float | None = Field(None, description="GPU energy / ASIC energy")
    perf_per_watt_vs_gpu: float | None = Field(None, description="ASIC perf/W / GPU perf/W")
    rom_comparison: RomComparison | None = None
    layers: list[LayerRow] | None = Field(None, description="the per-layer rollup (absent in old results)")
    check: CheckSection | None = Field(None, description="--check only")
    inference: InferenceSummary | None = Field(None, description="generations (--prompt/--generate) only")


def _members(tp: Any) -> list[Any]:
    """The alternatives of a (possibly optional, annotated, union) type."""
    if typing.get_origin(tp) is Annotated:
        return _members(typing.get_args(tp)[0])
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(tp) for m in _members(a)]
    return [tp]


def _step(tp: Any, key: str) -> list[Any]:
    """The types ``key`` may hold below a value of type ``tp`` (empty: ``key`` cannot be there)."""
    out: list[Any] = []
    for m in _members(tp):
        if isinstance(m, type) and issubclass(m, BaseModel):
            if key in m.model_fields:
                out.append(m.model_fields[key].annotation)
        elif typing.get_origin(m) is dict:
            out.append(typing.get_args(m)[1] if typing.get_args(m) else Any)
        elif m is Any:
            out.append(Any)
    return out


def describes(path: str) -> bool:
    """Whether the dotted ``path`` (``units.sa0.utilization``, ``inference.tpot_s``) can name a
    value in result.json: every segment a key the models name, or any key of a mapping keyed by
    names (units, partitions, ...) or of a free-form section. List items cannot be named."""
    tps: list[Any] = [ResultModel]
    for key in path.split("."):
        tps = [t for tp in tps for t in _step(tp, key)]
        if not tps:
            return False
    return True


def validate_result(data: Any) -> ResultModel:
    """``data`` (a parsed result.json) as a :class:`ResultModel`; raises pydantic's
    ``ValidationError`` naming every missing key and wrong type."""
    return ResultModel.model_validate(data)


def load_result(path: str | Path) -> ResultModel:
    """Read and validate ``result.json`` (a result folder or the file itself)."""
    p = Path(path)
    f = p / "result.json" if p.is_dir() else p
    return validate_result(json.loads(f.read_text(encoding="utf-8")))


def generate_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`ResultModel` (what the shipped file holds)."""
    return ResultModel.model_json_schema()


def schema_text() -> str:
    """The shipped file's text: the schema as indented JSON, one trailing newline."""
    return json.dumps(generate_schema(), indent=2) + "\n"


def schema_path() -> Path:
    """The JSON Schema file shipped in the package."""
    return Path(__file__).resolve().parent / "schemas" / "result.schema.json"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m accelsim.result_schema",
                                 description="Print, write or check the JSON Schema of result.json.")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--write", action="store_true", help="write the shipped accelsim/schemas/result.schema.json")
    g.add_argument("--check", action="store_true", help="exit 1 when the shipped file differs from the models")
    args = ap.parse_args(argv)
    text = schema_text()
    path = schema_path()
    if args.write:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
        return 0
    if args.check:
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            print(f"{path} is stale: run `python -m accelsim.result_schema --write`", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
