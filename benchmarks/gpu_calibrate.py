"""Measure per-kernel GPU times and write an accelsim GPU calibration file.

Run on a machine with a CUDA GPU (by hand; not part of the test suite)::

    OMP_NUM_THREADS=1 python benchmarks/gpu_calibrate.py --profile h100 -o h100-kernels.yaml
    OMP_NUM_THREADS=1 python benchmarks/gpu_calibrate.py --profile h100 --mode eager -o h100-eager.yaml
    accelsim gpu-calibration h100-kernels.yaml          # the model's error per point

Each point is one eager PyTorch call (``a @ b``, ``F.gelu``, ``torch.softmax(dim=-1)``,
``F.layer_norm``, ``F.scaled_dot_product_attention`` for prefill and decode shapes) on freshly
allocated random tensors, after ``--warmup`` untimed calls.

* ``--mode kernel`` (default; the file says ``includes_launch: false``): device time of the
  kernels only. ``--repeats`` batches of ``--iters`` calls run under ``torch.profiler`` (CUDA
  activity); a batch's time is the sum of the device time of every kernel it launched, / iters;
  the recorded time is the median batch.
* ``--mode eager`` (``includes_launch: true``): ``--repeats`` batches of ``--iters`` back-to-back
  eager calls between two CUDA events (``torch.cuda.Event(enable_timing=True)``, synchronised after
  each batch); median batch time / iters. A call then costs ``max(kernel, host time per call)``,
  which ``accelsim gpu-calibration`` compares with the model's kernel time against the profile's
  eager host overhead (no ``harness`` in the file).

Clocks are left as the driver sets them (no locking); the file records the device name, driver,
CUDA and torch versions and the date. Every point is marked ``split: held_out`` (nothing was
fitted to it). ``--device cpu`` runs the same code on the CPU (timer ``time.perf_counter``), only
to test this script's plumbing: its numbers are not a GPU's.
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
    # sdpa (batch, heads, kv_heads, q_len, kv_len, head_dim, causal): prefill, then decode steps
    *[("sdpa", s, "bf16") for s in [
        (1, 32, 32, 2048, 2048, 128, 1), (8, 12, 12, 1024, 1024, 64, 1), (1, 32, 32, 8192, 8192, 128, 1),
        (1, 32, 8, 1, 4096, 128, 0), (16, 32, 8, 1, 2048, 128, 0), (64, 32, 8, 1, 1024, 128, 0),
        (8, 32, 32, 1, 4096, 128, 0),
    ]],
]

_SMALL_POINTS: list[tuple[str, tuple[int, ...], str]] = [
    ("gemm", (64, 64, 64), "fp32"), ("gelu", (4096,), "fp32"),
    ("softmax", (16, 64), "fp32"), ("layer_norm", (16, 64), "fp32"), ("sdpa", (1, 4, 2, 1, 64, 16, 0), "fp32"),
]


def _make(torch: Any, op: str, dims: tuple[int, ...], prec: str, device: str) -> Any:
    dt = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[prec]
    F = torch.nn.functional
    if op == "gemm":
        m, n, k = dims
        a = torch.randn(m, k, device=device, dtype=dt)
        b = torch.randn(k, n, device=device, dtype=dt)
        return lambda: a @ b
    if op == "sdpa":
        b, h, hkv, lq, lk, d, causal = dims
        q = torch.randn(b, h, lq, d, device=device, dtype=dt)
        k = torch.randn(b, hkv, lk, d, device=device, dtype=dt)
        v = torch.randn(b, hkv, lk, d, device=device, dtype=dt)
        return lambda: F.scaled_dot_product_attention(q, k, v, is_causal=bool(causal), enable_gqa=hkv != h)
    x = torch.randn(*dims, device=device, dtype=dt)
    if op == "gelu":
        return lambda: F.gelu(x)
    if op == "softmax":
        return lambda: torch.softmax(x, dim=-1)
    w = torch.randn(dims[-1], device=device, dtype=dt)
    b = torch.randn(dims[-1], device=device, dtype=dt)
    return lambda: F.layer_norm(x, (dims[-1],), w, b)


def _kernel_time(torch: Any, fn: Any, iters: int) -> float:
    """Device time of the kernels ``iters`` calls launch, per call (torch.profiler, CUDA activity)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(iters):
            fn()
        torch.cuda.synchronize()
    total_us = 0.0
    for ev in prof.key_averages():
        total_us += float(getattr(ev, "self_device_time_total", getattr(ev, "self_cuda_time_total", 0.0)))
    return total_us * 1e-6 / iters


def measure(torch: Any, fn: Any, device: str, warmup: int, iters: int, repeats: int, mode: str = "eager") -> float:
    cuda = device.startswith("cuda")
    for _ in range(warmup):
        fn()
    if cuda:
        torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        if cuda and mode == "kernel":
            times.append(_kernel_time(torch, fn, iters))
        elif cuda:
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
        t = measure(torch, _make(torch, op, dims, prec, device), device, args.warmup, args.iters, args.repeats,
                    args.mode)
        row: dict[str, Any] = {"op": op}
        if op == "gemm":
            row.update(M=dims[0], N=dims[1], K=dims[2])
        elif op == "sdpa":
            row.update(batch=dims[0], heads=dims[1], kv_heads=dims[2], q_len=dims[3], kv_len=dims[4],
                       head_dim=dims[5], causal=bool(dims[6]))
        else:
            row["shape"] = list(dims)
        row.update(precision=prec, time_s=float(f"{t:.6g}"), split="held_out")
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
    cuda = device.startswith("cuda")
    if args.mode == "kernel":
        how = ("device time of the kernels launched (torch.profiler, CUDA activity)" if cuda
               else "time.perf_counter around the calls")
        timed = f"median of {args.repeats} batches of {args.iters} calls, each batch timed as the {how}, / iters"
    else:
        timed = (f"median of {args.repeats} batches of {args.iters} back-to-back calls timed with "
                 f"{'CUDA events' if cuda else 'time.perf_counter'}, / iters (includes launch and framework overhead)")
    method = (f"benchmarks/gpu_calibrate.py --mode {args.mode} on {_dt.date.today().isoformat()}: eager PyTorch, "
              f"{args.warmup} warm-up calls, {timed}; default clocks; {env}")
    doc = {
        "format": "accelsim.gpu-calibration/1",
        "profile": args.profile,
        "device": name,
        "source": "measured with accelsim's benchmarks/gpu_calibrate.py",
        "method": method,
        "includes_launch": args.mode == "eager",
        "points": rows,
    }
    header = "# Written by benchmarks/gpu_calibrate.py; compare with: accelsim gpu-calibration THIS_FILE\n"
    return header + yaml.safe_dump(doc, sort_keys=False, width=120)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", required=True, help="the accelsim GPU profile this device calibrates (h100, a100, ...)")
    ap.add_argument("-o", "--output", required=True, type=Path)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--mode", choices=("kernel", "eager"), default="kernel",
                    help="kernel: device time of the kernels (includes_launch: false); eager: back-to-back "
                         "eager calls (includes_launch: true)")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--small", action="store_true", help="a few tiny points (plumbing tests)")
    args = ap.parse_args(argv)
    args.output.write_text(run(args))
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
