"""Measure per-kernel GPU times and write an accelsim GPU calibration file.

Run on a machine with a CUDA GPU (by hand; not part of the test suite)::

    OMP_NUM_THREADS=1 python benchmarks/gpu_calibrate.py --profile h100 -o h100-measured.yaml
    accelsim gpu-calibration h100-measured.yaml          # the model's error per point

Each point is one eager PyTorch call (``a @ b``, ``F.gelu``, ``torch.softmax(dim=-1)``,
``F.layer_norm``) on freshly allocated random tensors. Per point: ``--warmup`` untimed calls,
then ``--repeats`` timed batches of ``--iters`` back-to-back calls between two CUDA events
(``torch.cuda.Event(enable_timing=True)``, synchronised after each batch); the recorded time is
the median batch time / iters. Back-to-back eager calls include the launch overhead whenever a
kernel is shorter than the CPU-side launch, which is what the model's launch term stands for.
Clocks are left as the driver sets them (no locking); the file records the device name, driver,
CUDA and torch versions and the date. ``--device cpu`` runs the same code on the CPU (timer
``time.perf_counter``), only to test this script's plumbing: its numbers are not a GPU's.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import statistics
import sys
import time
from pathlib import Path
from typing import Any

#: (op, dims, precision). Shapes span launch-bound, memory-bound and compute-bound kernels.
DEFAULT_POINTS: list[tuple[str, tuple[int, ...], str]] = [
    *[("gemm", (m, n, k), p) for p in ("bf16", "fp16") for (m, n, k) in [
        (8192, 8192, 8192), (4096, 4096, 4096), (2048, 2048, 2048), (1024, 1024, 1024),
        (512, 12288, 12288), (64, 12288, 12288), (16, 4096, 4096), (1, 4096, 4096),
        (1024, 768, 768), (1024, 3072, 768), (1024, 768, 3072), (1024, 50257, 768),
    ]],
    *[("gemm", (m, n, k), "fp32") for (m, n, k) in [(4096, 4096, 4096), (1024, 1024, 1024)]],
    *[("gelu", (n,), p) for p in ("bf16", "fp32") for n in (1 << 12, 1 << 16, 1 << 20, 1 << 24, 1 << 28)],
    *[("softmax", s, "bf16") for s in [(12 * 1024, 1024), (12 * 4096, 4096), (1024, 50257), (64, 1024)]],
    *[("layer_norm", s, p) for p in ("bf16", "fp32") for s in [(1024, 768), (8192, 768), (65536, 4096), (16, 768)]],
]

_SMALL_POINTS: list[tuple[str, tuple[int, ...], str]] = [
    ("gemm", (64, 64, 64), "fp32"), ("gelu", (4096,), "fp32"),
    ("softmax", (16, 64), "fp32"), ("layer_norm", (16, 64), "fp32"),
]


def _make(torch: Any, op: str, dims: tuple[int, ...], prec: str, device: str) -> Any:
    dt = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[prec]
    F = torch.nn.functional
    if op == "gemm":
        m, n, k = dims
        a = torch.randn(m, k, device=device, dtype=dt)
        b = torch.randn(k, n, device=device, dtype=dt)
        return lambda: a @ b
    x = torch.randn(*dims, device=device, dtype=dt)
    if op == "gelu":
        return lambda: F.gelu(x)
    if op == "softmax":
        return lambda: torch.softmax(x, dim=-1)
    w = torch.randn(dims[-1], device=device, dtype=dt)
    b = torch.randn(dims[-1], device=device, dtype=dt)
    return lambda: F.layer_norm(x, (dims[-1],), w, b)


def measure(torch: Any, fn: Any, device: str, warmup: int, iters: int, repeats: int) -> float:
    cuda = device.startswith("cuda")
    for _ in range(warmup):
        fn()
    if cuda:
        torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(iters):
                fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end) * 1e-3 / iters)
        else:
            t0 = time.perf_counter()
            for _ in range(iters):
                fn()
            times.append((time.perf_counter() - t0) / iters)
    return statistics.median(times)


def _driver_version() -> str:
    """The NVIDIA driver version, from nvidia-smi ("unknown" without it)."""
    import subprocess

    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
        return out.strip().splitlines()[0] if out.strip() else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run(args: argparse.Namespace) -> str:
    import torch
    import yaml

    torch.set_num_threads(1)
    device = args.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("gpu_calibrate: no CUDA device (use --device cpu only to test the script)")
    points = _SMALL_POINTS if args.small else DEFAULT_POINTS
    torch.manual_seed(0)
    rows = []
    for op, dims, prec in points:
        t = measure(torch, _make(torch, op, dims, prec, device), device, args.warmup, args.iters, args.repeats)
        row: dict[str, Any] = {"op": op}
        if op == "gemm":
            row.update(M=dims[0], N=dims[1], K=dims[2])
        else:
            row["shape"] = list(dims)
        row.update(precision=prec, time_s=float(f"{t:.6g}"))
        rows.append(row)
        print(f"{op:10s} {'x'.join(map(str, dims)):>18s} {prec:5s} {t * 1e6:12.2f} us", file=sys.stderr)
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    if device.startswith("cuda"):
        name = torch.cuda.get_device_name()
        env = f"torch {torch.__version__}, CUDA {torch.version.cuda}, driver {_driver_version()}"
    else:
        import platform

        name, env = f"CPU ({platform.processor() or platform.machine()}) -- plumbing test, not a GPU", f"torch {torch.__version__}"
    method = (
        f"benchmarks/gpu_calibrate.py on {_dt.date.today().isoformat()}: eager PyTorch, {args.warmup} warm-up "
        f"calls, median of {args.repeats} batches of {args.iters} back-to-back calls timed with "
        f"{'CUDA events' if device.startswith('cuda') else 'time.perf_counter'}; default clocks; {env}"
    )
    doc = {
        "format": "accelsim.gpu-calibration/1",
        "profile": args.profile,
        "device": name,
        "source": "measured with accelsim's benchmarks/gpu_calibrate.py",
        "method": method,
        "points": rows,
    }
    header = "# Written by benchmarks/gpu_calibrate.py; compare with: accelsim gpu-calibration THIS_FILE\n"
    return header + yaml.safe_dump(doc, sort_keys=False, width=120)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", required=True, help="the accelsim GPU profile this device calibrates (h100, a100, ...)")
    ap.add_argument("-o", "--output", required=True, type=Path)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--small", action="store_true", help="a few tiny points (plumbing tests)")
    args = ap.parse_args(argv)
    args.output.write_text(run(args))
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
