"""GPU profiles: datasheet peaks plus the efficiency knobs of the per-op roofline model.

A :class:`GpuProfile` is a frozen pydantic model built from a YAML file. Shipped profiles live
in ``accelsim/gpu/profiles/*.yaml`` (package data) and are found by name or alias
(``load_profile("h100")``); any other YAML file can be loaded by path. Building a profile from a
mapping (:func:`profile_from_dict`) never touches disk. Every problem in a file is reported in
one :class:`~accelsim.errors.SpecError`, each naming the file and the YAML path, e.g.
``h100.yaml: peak_tflops.bf16: must be > 0``.

Units are in field names: ``_tflops`` (1e12 FLOP/s or OP/s, dense, no sparsity), ``_gb``
(1e9 bytes), ``_gbps`` (1e9 bytes/s), ``_mb`` (1e6 bytes), ``_mhz``, ``_w``, ``_us``.
Efficiencies (``*_efficiency``) are fractions in (0, 1].

Precisions. A GPU profile knows the GPU precisions ``fp32`` (CUDA-core FP32), ``tf32``,
``fp16``, ``bf16``, ``int8``, ``fp8`` (tensor cores). :func:`gpu_precision` maps an ASIC
precision onto one of them: int8 -> int8, fp16 -> fp16, bf16 -> bf16, and fp32 -> fp32 by
default (the honest comparison: the same arithmetic, not TF32's 10-bit mantissa), or tf32 when
asked. int16 and int32 have no GPU tensor-core path, so they run at the FP32 CUDA-core rate.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from accelsim.errors import Problem, SpecError

#: Directory of the shipped profiles (package data).
PROFILE_DIR = Path(__file__).parent / "profiles"

#: The GPU used when none is named.
DEFAULT_GPU = "h100"

#: Short names -> shipped profile names (lower-case).
ALIASES: dict[str, str] = {
    "h100": "h100-sxm",
    "h100-sxm5": "h100-sxm",
    "h100-sxm-80gb": "h100-sxm",
    "a100": "a100-sxm-80gb",
    "a100-80gb": "a100-sxm-80gb",
    "a100-sxm": "a100-sxm-80gb",
    "h200-sxm": "h200",
    "l4-24gb": "l4",
    "v100": "v100-sxm2",
    "v100-sxm": "v100-sxm2",
}

GpuPrecision = Literal["fp32", "tf32", "fp16", "bf16", "int8", "fp8"]
GPU_PRECISIONS: tuple[str, ...] = ("fp32", "tf32", "fp16", "bf16", "int8", "fp8")

#: Bytes per element of a floating tensor held at each GPU precision (TF32 is stored as FP32).
GPU_PRECISION_BYTES: dict[str, int] = {
    "fp32": 4,
    "tf32": 4,
    "fp16": 2,
    "bf16": 2,
    "int8": 1,
    "fp8": 1,
}

#: ASIC (architecture) precision -> GPU precision, for fp32 run as real FP32.
_ASIC_TO_GPU: dict[str, str] = {
    "int8": "int8",
    "int16": "fp32",
    "int32": "fp32",
    "fp16": "fp16",
    "bf16": "bf16",
    "fp32": "fp32",
}


def gpu_precision(precision: str, fp32_as: Literal["fp32", "tf32"] = "fp32") -> str:
    """The GPU precision that stands in for ``precision`` (an ASIC or a GPU precision name).

    int8 -> int8, fp16 -> fp16, bf16 -> bf16, fp32 -> ``fp32_as`` (FP32 by default; pass
    ``"tf32"`` to compare against TF32 tensor cores), int16/int32 -> fp32 (no tensor-core
    path). GPU names (tf32, fp8, ...) map to themselves.

    >>> gpu_precision("int8"), gpu_precision("fp32"), gpu_precision("fp32", fp32_as="tf32")
    ('int8', 'fp32', 'tf32')
    """
    p = precision.lower()
    if p == "fp32":
        return fp32_as
    if p in _ASIC_TO_GPU:
        return _ASIC_TO_GPU[p]
    if p in GPU_PRECISIONS:
        return p
    valid = ", ".join(sorted(set(_ASIC_TO_GPU) | set(GPU_PRECISIONS)))
    raise SpecError(f"unknown precision '{precision}' (one of {valid})")


_Pos = Annotated[float, Field(gt=0)]
_Frac = Annotated[float, Field(gt=0, le=1)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PeakTflops(_Frozen):
    """Dense datasheet peaks (TFLOPS, or TOPS for int8), one per supported precision.

    ``fp32`` is the CUDA-core (non-tensor) rate and is also the compute roof of non-GEMM
    (vector) kernels, which PyTorch evaluates in FP32 whatever the storage type. A precision the
    GPU has no fast path for is left out (e.g. V100 has no bf16 and no int8 tensor cores).
    """

    fp32: _Pos = Field(description="FP32 CUDA-core peak (TFLOPS)")
    tf32: _Pos | None = Field(None, description="TF32 tensor-core peak, dense (TFLOPS)")
    fp16: _Pos | None = Field(None, description="FP16 tensor-core peak, dense (TFLOPS)")
    bf16: _Pos | None = Field(None, description="BF16 tensor-core peak, dense (TFLOPS)")
    int8: _Pos | None = Field(None, description="INT8 tensor-core peak, dense (TOPS)")
    fp8: _Pos | None = Field(None, description="FP8 tensor-core peak, dense (TFLOPS)")


#: Kernel classes of non-GEMM kernels, each with its own achieved fraction of peak bandwidth
#: (:attr:`GpuProfile.class_memory_efficiency`); see :func:`accelsim.gpu.model.kernel_class`.
KernelClass = Literal["elementwise", "softmax", "norm", "reduce", "gather", "copy", "attention"]
KERNEL_CLASSES: tuple[str, ...] = ("elementwise", "softmax", "norm", "reduce", "gather", "copy", "attention")


class Interconnect(_Frozen):
    """GPU-to-GPU links, for multi-GPU (tensor-parallel) costs.

    ``links * link_bandwidth_gbps`` is what one GPU can send per direction at once (e.g. H100
    NVLink 4: 18 x 25 GB/s = 450 GB/s per direction). ``latency_us`` is the per-hop latency of one
    step of a collective (used as ``a`` in :func:`accelsim.gpu.model.ring_allreduce_s`).
    """

    kind: Literal["nvlink", "pcie"] = Field(description="link technology")
    generation: str = Field(min_length=1, description='e.g. "NVLink 4", "PCIe Gen4 x16"')
    links: Annotated[int, Field(gt=0)] = Field(description="links per GPU")
    link_bandwidth_gbps: _Pos = Field(description="bandwidth of one link, per direction (GB/s, 1e9)")
    latency_us: Annotated[float, Field(ge=0)] = Field(
        description="per-hop latency of one collective step (us)"
    )
    source: str = Field(min_length=1, description="where the link figures come from")

    @property
    def bandwidth_per_direction_gbps(self) -> float:
        """Aggregate bandwidth one GPU sends (or receives) at once (GB/s)."""
        return self.links * self.link_bandwidth_gbps

    @property
    def bandwidth_bytes_per_s(self) -> float:
        """:attr:`bandwidth_per_direction_gbps` in bytes/s."""
        return self.bandwidth_per_direction_gbps * 1e9


class GpuProfile(_Frozen):
    """One GPU: datasheet figures and the knobs of the kernel model in :mod:`accelsim.gpu.model`.

    Example::

        p = load_profile("h100")
        p.peak_flops("bf16")          # 989.4e12 FLOP/s
        p.bandwidth_bytes_per_s       # 3.35e12 B/s
    """

    version: Literal[1] = 1
    name: str = Field(min_length=1, description="profile name, e.g. h100-sxm")
    vendor: str = Field("NVIDIA", description="vendor")
    source: str = Field(min_length=1, description="citation of the datasheet the figures come from")
    notes: str = Field("", description="free text: estimates, caveats")

    peak_tflops: PeakTflops = Field(description="dense peaks per precision (TFLOPS / TOPS)")
    memory_gb: _Pos = Field(description="device memory capacity (GB, 1e9 bytes)")
    memory_bandwidth_gbps: _Pos = Field(description="peak device-memory bandwidth (GB/s, 1e9)")
    l2_mb: _Pos = Field(description="L2 cache size (MB)")
    l2_bandwidth_gbps: _Pos = Field(
        description="L2 -> SM bandwidth, all SMs together (GB/s); bounds small GEMM tiles"
    )
    sm_count: Annotated[int, Field(gt=0)] = Field(description="streaming multiprocessors")
    boost_clock_mhz: _Pos = Field(description="boost clock (MHz)")
    tdp_w: _Pos = Field(description="board power limit / TDP (W)")
    idle_power_w: Annotated[float, Field(ge=0)] = Field(
        description="power when no kernel runs (W); must be < tdp_w"
    )
    interconnect: Interconnect | None = Field(
        None, description="GPU-to-GPU links (NVLink or PCIe), for multi-GPU costs"
    )

    # -- host side: launch and framework overheads ------------------------------------------
    launch_overhead_us: Annotated[float, Field(ge=0)] = Field(
        5.0, description="host time to launch one kernel from eager PyTorch (us)"
    )
    framework_overhead_us: Annotated[float, Field(ge=0)] = Field(
        5.0, description="host time of the framework per eager op besides the launch (us)"
    )
    graph_launch_overhead_us: Annotated[float, Field(ge=0)] = Field(
        1.3, description="GPU-side gap per kernel inside a CUDA-graph replay (us)"
    )
    kernel_latency_us: Annotated[float, Field(ge=0)] = Field(
        2.0, description="fixed device time of any kernel: ramp-up and tail of its grid (us)"
    )

    # -- kernel efficiencies ----------------------------------------------------------------
    gemm_max_efficiency: _Frac = Field(
        description="achieved fraction of the per-SM tensor-core peak inside one GEMM tile"
    )
    gemm_memory_efficiency: _Frac = Field(
        description="achieved fraction of peak bandwidth by a GEMM that streams its operands"
    )
    attention_max_efficiency: _Frac = Field(
        description="achieved fraction of the per-SM tensor-core peak inside one "
        "FlashAttention-2 tile"
    )
    memory_efficiency: _Frac = Field(
        description="achieved fraction of peak bandwidth by a streaming copy kernel; the "
        "default of every kernel class not in class_memory_efficiency"
    )
    class_memory_efficiency: dict[KernelClass, _Frac] = Field(
        default_factory=dict,
        description="achieved fraction of peak bandwidth per kernel class "
        "(elementwise, softmax, norm, reduce, gather, copy, attention)",
    )
    kind_memory_efficiency: dict[str, _Frac] = Field(
        default_factory=dict,
        description="per op kind override of the class efficiency (e.g. gelu: 0.77)",
    )

    # -- derived ---------------------------------------------------------------------
    @property
    def precisions(self) -> tuple[str, ...]:
        """GPU precisions this profile has a peak for, in canonical order."""
        return tuple(p for p in GPU_PRECISIONS if getattr(self.peak_tflops, p) is not None)

    def peak_flops(self, precision: str) -> float:
        """Dense peak of ``precision`` (FLOP/s); :class:`SpecError` if the GPU lacks it."""
        v = getattr(self.peak_tflops, precision, None) if precision in GPU_PRECISIONS else None
        if v is None:
            raise SpecError(
                f"GPU profile '{self.name}' has no {precision} peak "
                f"(it has {', '.join(self.precisions)})"
            )
        return float(v) * 1e12

    @property
    def vector_flops(self) -> float:
        """Compute roof of non-GEMM kernels (FLOP/s): the FP32 CUDA-core peak."""
        return self.peak_tflops.fp32 * 1e12

    @property
    def bandwidth_bytes_per_s(self) -> float:
        """Peak device-memory bandwidth (bytes/s)."""
        return self.memory_bandwidth_gbps * 1e9

    @property
    def l2_bandwidth_bytes_per_s(self) -> float:
        """L2 -> SM bandwidth, all SMs (bytes/s)."""
        return self.l2_bandwidth_gbps * 1e9

    def class_efficiency(self, cls: str) -> float:
        """Achieved fraction of peak bandwidth of a kernel class (``memory_efficiency`` when the
        profile gives none for it)."""
        return float(self.class_memory_efficiency.get(cls, self.memory_efficiency))  # type: ignore[call-overload]

    def memory_efficiency_for(self, kind: str, cls: str | None = None) -> float:
        """Achieved fraction of peak bandwidth for a kernel of op ``kind`` (class ``cls``; by
        default the class :func:`accelsim.gpu.model.kernel_class` gives the kind)."""
        if kind in self.kind_memory_efficiency:
            return self.kind_memory_efficiency[kind]
        if cls is None:
            from accelsim.gpu.model import kernel_class

            cls = kernel_class(kind)
        return self.class_efficiency(cls)

    def launch_s(self, cuda_graphs: bool = False) -> float:
        """Per-kernel launch overhead (s): eager host launch, or the gap inside a CUDA graph."""
        return (self.graph_launch_overhead_us if cuda_graphs else self.launch_overhead_us) * 1e-6


# -- loading ---------------------------------------------------------------------------


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """Valid keys of the model that holds ``loc`` (for 'unknown key' messages)."""
    model: type[BaseModel] = GpuProfile
    for part in loc[:-1]:
        f = model.model_fields.get(str(part))
        ann = f.annotation if f else None
        cands = [ann, *typing.get_args(ann)]  # Optional[Model] -> Model
        sub = [a for a in cands if isinstance(a, type) and issubclass(a, BaseModel)]
        if not sub:
            return []
        model = sub[0]
    return list(model.model_fields)


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _num(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _message(err: Mapping[str, Any]) -> str:
    t = err.get("type", "")
    ctx = err.get("ctx") or {}
    if t == "extra_forbidden":
        valid = _fields_at(tuple(err["loc"]))
        return "unknown key" + (f" (valid: {', '.join(valid)})" if valid else "")
    if t == "missing":
        return "required key is missing"
    if t == "greater_than":
        return f"must be > {_num(ctx.get('gt'))}"
    if t == "greater_than_equal":
        return f"must be >= {_num(ctx.get('ge'))}"
    if t == "less_than":
        return f"must be < {_num(ctx.get('lt'))}"
    if t == "less_than_equal":
        return f"must be <= {_num(ctx.get('le'))}"
    return str(err.get("msg", "invalid value"))


def _semantic_problems(p: GpuProfile) -> list[tuple[str, str]]:
    probs: list[tuple[str, str]] = []
    if p.idle_power_w >= p.tdp_w:
        probs.append(("idle_power_w", f"{_num(p.idle_power_w)} must be < tdp_w {_num(p.tdp_w)}"))
    return probs


def profile_from_dict(data: Any, file: str = "") -> GpuProfile:
    """Validate a mapping into a :class:`GpuProfile`; every problem in one :class:`SpecError`."""
    if not isinstance(data, Mapping):
        raise SpecError([Problem(file, "", "a GPU profile must be a YAML mapping")])
    try:
        prof = GpuProfile.model_validate(dict(data))
    except ValidationError as e:
        probs = []
        for err in e.errors():
            probs.append(Problem(file, _path(tuple(err["loc"])), _message(err)))
        uniq = list(dict.fromkeys(probs))
        raise SpecError(uniq) from None
    sem = _semantic_problems(prof)
    if sem:
        raise SpecError([Problem(file, path, msg) for path, msg in sem])
    return prof


def _shipped() -> dict[str, Path]:
    return {p.stem.lower(): p for p in sorted(PROFILE_DIR.glob("*.yaml"))}


def list_profiles() -> list[str]:
    """Names of the shipped profiles, sorted."""
    return sorted(_shipped())


def resolve_name(name: str) -> str:
    """A shipped profile name for ``name`` or an alias of it (case-insensitive)."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in _shipped():
        names = ", ".join(list_profiles())
        aliases = ", ".join(sorted(ALIASES))
        raise SpecError(f"unknown GPU profile '{name}' (profiles: {names}; aliases: {aliases})")
    return key


def is_path_spec(name_or_path: str | Path) -> bool:
    """Whether a GPU profile / calibration argument is a path (a ``Path``, a ``.yaml``/``.yml``
    name, or one with a path separator) rather than a shipped name."""
    s = str(name_or_path)
    return isinstance(name_or_path, Path) or s.endswith((".yaml", ".yml")) or "/" in s or "\\" in s


def read_yaml(path: Path, label: str, what: str) -> Any:
    """Parse one YAML file with :func:`accelsim.specio.read_yaml` (regular files only, size
    and nesting bounded, duplicate keys refused); every problem is a :class:`SpecError`
    naming ``label`` (``what`` says what kind of file it is)."""
    from accelsim.specio import read_yaml as _read_yaml

    return _read_yaml(path, label, what)


def load_profile(name_or_path: str | Path = DEFAULT_GPU) -> GpuProfile:
    """Load a shipped profile by name/alias (``"h100"``), or any profile YAML by path.

    A string is read as a path when it ends in ``.yaml``/``.yml`` or contains a path
    separator; otherwise as a name.
    """
    if is_path_spec(name_or_path):
        path, label = Path(name_or_path), str(name_or_path)
        return profile_from_dict(read_yaml(path, label, "GPU profile"), file=label)
    return _load_shipped(resolve_name(str(name_or_path)))


@functools.cache
def _load_shipped(name: str) -> GpuProfile:
    """A shipped profile, parsed once per process (profiles are frozen; package data does not
    change while accelsim runs)."""
    path = _shipped()[name]
    return profile_from_dict(read_yaml(path, path.name, "GPU profile"), file=path.name)
