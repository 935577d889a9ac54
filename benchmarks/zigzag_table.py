"""Regenerate tests/data/zigzag_cases.json: accelsim's GEMM energy against ZigZag 3.9.1.

Twelve int8 GEMMs from real layers (GPT-2 small, BERT-base, ResNet-50 im2col, a GPT-2 SAE) on
16x16 to 128x128 weight- and output-stationary arrays. Each case is one hardware description
written twice with the same per-action energies: a ZigZag accelerator (per-PE register,
accumulators, input / weight / output buffers, DRAM) and its accelsim twin, whose SRAM
partitions give the GEMM's tiles exactly the capacities ZigZag is given (accelsim's bank plan
decides what the mapper may use; ZigZag gets those bytes). Recorded per case:

* ZigZag's LOMA search (Mei et al., IEEE TC 2021; ``zigzag-dse``) at lpf 6, minimising energy
  and, separately, latency: energy, latency, loop order, per-level accesses and energies;
* ZigZag's evaluation of accelsim's own mappings (the one it runs per objective and the next few
  of its search) written as ZigZag temporal orderings, where they are exact factorisations: the
  same loop order costed by both models. LOMA's lpf 6 merges prime factors into at most six
  loops, so some of these beat LOMA's best in ZigZag's own cost model. An ordering ZigZag's
  memory allocator cannot place (it fills each level bottom-up with as many loops as fit, so a
  32-bit accumulator level can take more outputs than the output buffer above it holds) is
  recorded with ``zigzag: null`` and the allocator's message in ``zigzag_error``;
* ``zigzag_best_energy_pj``: the cheapest of all of these, the test's reference.

The test (tests/energy/test_zigzag_table.py) simulates the GEMMs in accelsim and compares; no
ZigZag needed there. Nothing in accelsim was fitted to these numbers: they are held-out checks.

How to run (ZigZag lives in its own venv so the project's stays clean; this script runs in the
project's venv and calls ZigZag's interpreter for the ZigZag part)::

    python3 -m venv /tmp/zigzag-venv
    /tmp/zigzag-venv/bin/pip install zigzag-dse==3.9.1 six
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/zigzag_table.py --zigzag-python /tmp/zigzag-venv/bin/python

That rewrites tests/data/zigzag_cases.json (a few minutes of CPU on a fresh cache: 24 LOMA runs
and ~80 fixed orderings; ZigZag results are cached by job in ``--cache``, so a rerun only runs
what changed). The output is deterministic: the same inputs, accelsim version and ``--date``
give a byte-identical file (which accelsim mappings get evaluated depends on its mapper, so
regenerate after mapper changes). ``--compare`` prints the accelsim-vs-ZigZag table of
docs/validation.md from the recorded file (no ZigZag needed).

Per-action energies (the same numbers on both sides; sources in energy.md of the reference set):

* MAC (int8 x int8 + int32 add): 0.3 pJ (Horowitz, ISSCC 2014, 45 nm: int8 mult 0.2 + int32
  add 0.1).
* per-PE register: 0.009 pJ/bit (Timeloop/Accelergy 45 nm 16-bit register, 0.144 pJ per access).
* SRAM buffer of ``S`` bytes: ``12.5 * sqrt(S / 1 MiB)`` pJ per byte, read or write (Horowitz's
  1 MB SRAM, 100 pJ per 64-bit read = 12.5 pJ/B, scaled with the square root of capacity as
  energy.md states); ZigZag is given the energy of one port-width access. ws accumulators are
  per-column SRAMs (``acc`` KiB / columns each).
* DRAM: 8 pJ/bit (LPDDR4, Accelergy's DRAM table).

accelsim has no per-PE register action; the register's accesses ride on the accelsim action
that performs them, one for one (:func:`check_register_folding` checks the counts on ZigZag's):

* ws: one weights-partition read delivers one weight into one PE register (a register write),
  which ZigZag then reads once: the weights partition's read energy is the buffer's plus two
  register accesses.
* os: every MAC reads and writes its PE's 32-bit output register (ZigZag: reads = writes =
  MACs): the MAC energy is 0.3 pJ plus two register accesses; an output's last read, into the
  output buffer, rides on the output-partition write. ZigZag's os hierarchy has no accumulator
  SRAM: a partial sum spilled across K tiles goes through the output buffer at 32 bits, so
  accelsim's accumulator partition (used only for such spills) is priced as the output buffer
  plus a quarter of a 32-bit register access per byte, and ZigZag's output buffer gets the
  accumulator partition's bytes on top of the output partition's.

accelsim prices SRAM per bank-width access; the bank width is the array side in bytes (one
operand vector), equal to ZigZag's buffer port width. Energies ZigZag does not model are zero on
the accelsim side (static power, DMA transfers, sequencer commands), except the DMA's on-chip
byte transport, which an architecture file cannot override: the comparison leaves that line
(``controllers``) out and the test checks it holds nothing else.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accelsim.mapping.options import Objective

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "zigzag_cases.json"
ZIGZAG_VERSION = "3.9.1"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "accelsim" / f"zigzag-{ZIGZAG_VERSION}.jsonl"
#: accelsim candidates (its search's best few, per objective) that ZigZag also evaluates
EVALUATE_PER_OBJECTIVE = 3
LPF_LIMIT = 6  # LOMA's loop-prime-factor limit (ZigZag's default): ~5 s per layer and objective

MAC_PJ = 0.3  # Horowitz ISSCC 2014, 45 nm: int8 mult 0.2 + int32 add 0.1
REG_PJ_PER_BIT = 0.144 / 16  # Timeloop/Accelergy 45 nm, 16-bit register: 0.144 pJ per access
SRAM_PJ_PER_BYTE_1MIB = 100.0 / 8  # Horowitz: 1 MB SRAM, 64-bit read 100 pJ
DRAM_PJ_PER_BIT = 8.0  # LPDDR4 (Accelergy's DRAM table)
CLOCK_GHZ = 1.0
DRAM_BYTES_PER_CYCLE = 64

PRECISION = {"I": 8, "W": 8, "O": 32, "O_final": 8}  # bits: int8 operands, int32 partial sums


@dataclass(frozen=True)
class Case:
    """One GEMM ``C[M x N] = A[M x K] . B[K x N]`` on one ``side x side`` array.

    Buffer capacities are the physical accelsim partitions in KiB, made of ``bank_kib`` banks
    of ``side`` bytes per cycle; ZigZag gets the bytes accelsim's mapper may use for the GEMM's
    tiles (its bank plan). ``acc_kib`` is the accumulator partition: ws -- per-column
    accumulators, with at least 8 banks so they sustain a read and a write of a 32-bit partial
    sum per column per cycle as ZigZag's per-column ports do; os -- only partial sums spilled
    across K tiles (ZigZag's os PEs hold all of K, or spill through the output buffer).
    Sizes follow the array: 16x16 arrays get 64 KiB buffers, 128x128 arrays 2 MiB; some cases
    are tight on purpose (neither operand fits), so the loop order decides the DRAM traffic.
    """

    name: str
    layer: str
    M: int
    N: int
    K: int
    dataflow: str
    side: int
    in_kib: int
    w_kib: int
    out_kib: int
    acc_kib: int
    bank_kib: int


CASES: tuple[Case, ...] = (
    Case("bert-ffn1-ws32", "BERT-base FFN intermediate (seq 512, 768 -> 3072)",
         512, 3072, 768, "ws", 32, 1024, 256, 128, 128, 16),
    Case("gpt2-attn-proj-ws64", "GPT-2 small attn.c_proj (seq 1024, 768 -> 768)",
         1024, 768, 768, "ws", 64, 512, 512, 128, 256, 32),
    Case("gpt2-mlp-fc-os128", "GPT-2 small mlp.c_fc (seq 1024, 768 -> 3072)",
         1024, 3072, 768, "os", 128, 2048, 2048, 512, 1024, 64),
    Case("gpt2-mlp-proj-ws128", "GPT-2 small mlp.c_proj (seq 1024, 3072 -> 768)",
         1024, 768, 3072, "ws", 128, 2048, 2048, 512, 1024, 64),
    Case("gpt2-attn-qkv-os64", "GPT-2 small attn.c_attn (seq 1024, 768 -> 2304)",
         1024, 2304, 768, "os", 64, 1024, 1024, 256, 256, 32),
    Case("bert-attn-out-os32", "BERT-base attention output dense (seq 128, 768 -> 768)",
         128, 768, 768, "os", 32, 256, 256, 64, 64, 16),
    Case("resnet50-conv2-ws16", "ResNet-50 conv2_x 3x3, 64 -> 64 at 56x56 (im2col, pad 1)",
         3136, 64, 576, "ws", 16, 64, 64, 32, 16, 2),
    Case("resnet50-conv3-os16", "ResNet-50 conv3_x 1x1, 128 -> 512 at 28x28 (im2col)",
         784, 512, 128, "os", 16, 64, 64, 32, 16, 4),
    Case("resnet50-conv4-ws32", "ResNet-50 conv4_x 3x3, 256 -> 256 at 14x14 (im2col, pad 1)",
         196, 256, 2304, "ws", 32, 256, 256, 64, 128, 16),
    Case("resnet50-conv5-ws64", "ResNet-50 conv5_x 1x1, 2048 -> 512 at 7x7 (im2col)",
         49, 512, 2048, "ws", 64, 256, 1024, 64, 256, 32),
    Case("sae-enc-ws128", "GPT-2 small residual SAE encoder (512 tokens, 768 -> 24576 latents)",
         512, 24576, 768, "ws", 128, 2048, 2048, 512, 1024, 64),
    Case("sae-dec-os64", "GPT-2 small residual SAE decoder (512 tokens, 24576 latents -> 768)",
         512, 768, 24576, "os", 64, 1024, 1024, 256, 256, 32),
)


# --- per-action energies -----------------------------------------------------------------------


def sram_pj_per_byte(size_bytes: float) -> float:
    """Energy of one byte read or written in an SRAM of ``size_bytes`` (pJ/B)."""
    return SRAM_PJ_PER_BYTE_1MIB * math.sqrt(size_bytes / (1 << 20))


def reg_pj(bits: int) -> float:
    """Energy of one access of a ``bits``-wide per-PE register (pJ)."""
    return REG_PJ_PER_BIT * bits


# --- the accelsim architecture -------------------------------------------------------------------


def accelsim_arch(c: Case) -> dict[str, Any]:
    """The accelsim architecture of case ``c`` (a dict for ``ArchSpec.model_validate``)."""
    w = c.side  # bank width = one operand vector of int8 = ZigZag's buffer port width
    e_in = sram_pj_per_byte(c.in_kib * 1024)
    e_w = sram_pj_per_byte(c.w_kib * 1024)
    e_out = sram_pj_per_byte(c.out_kib * 1024)
    r8, r32 = reg_pj(PRECISION["W"]), reg_pj(PRECISION["O"])
    if c.dataflow == "ws":
        w_read = (e_w + 2 * r8) * w  # buffer read + PE register write + the MAC's register read
        out_write = e_out * w
        acc = sram_pj_per_byte(c.acc_kib * 1024 / c.side) * w  # per-column accumulators
        mac = MAC_PJ
    else:
        w_read = e_w * w
        # one output (1 byte) leaves its PE register (a 32-bit read) into the output buffer
        out_write = (e_out + r32) * w
        # a partial sum spilled across K tiles: ZigZag keeps it in the output buffer (32 bits)
        # and moves it through the PE register; accelsim's accumulator partition stands in
        acc = (e_out + r32 / 4) * w
        mac = MAC_PJ + 2 * r32  # the MAC reads and writes its PE's output register
    parts: dict[str, Any] = {}
    nxt = 0
    for name, kib, role, rd, wr in (
        ("in_buf", c.in_kib, "inputs", e_in * w, e_in * w),
        ("w_buf", c.w_kib, "weights", w_read, e_w * w),
        ("out_buf", c.out_kib, "outputs", e_out * w, out_write),
        ("acc", c.acc_kib, "accumulators", acc, acc),
    ):
        if kib % c.bank_kib:
            raise ValueError(f"{c.name}: {name} {kib} KiB is not a whole number of {c.bank_kib} KiB banks")
        nb = kib // c.bank_kib
        if name == "acc" and c.dataflow == "ws" and nb < 8:
            raise ValueError(f"{c.name}: ws accumulators need 8 banks of {w} B/cycle (a 32-bit read and "
                             f"write per column per cycle), got {nb}")
        parts[name] = {"banks": list(range(nxt, nxt + nb)), "holds": [role],
                       "read_energy_pj": round(rd, 9), "write_energy_pj": round(wr, 9)}
        nxt += nb
    return {
        "name": f"zigzag-{c.name}",
        "description": f"accelsim twin of the ZigZag hierarchy of case {c.name} (benchmarks/zigzag_table.py)",
        "clock_ghz": CLOCK_GHZ,
        "technology": "45nm",
        "static_power_w": 0.0,
        "arrays": [{"rows": c.side, "cols": c.side, "dataflow": c.dataflow, "precision": "int8",
                    "acc_precision": "int32", "mac_energy_pj": round(mac, 9)}],
        "sram": {"banks": nxt, "bank_size_kib": c.bank_kib, "bank_width_bytes": w, "partitions": parts},
        "dram": {"kind": "lpddr4", "bandwidth_gbps": DRAM_BYTES_PER_CYCLE * CLOCK_GHZ, "channels": 2,
                 "energy_pj_per_bit": DRAM_PJ_PER_BIT},
        "controller": {"dma": {"engines": 2, "transfer_energy_pj": 0.0},
                       "sequencer": {"command_energy_pj": 0.0}},
    }


def tile_bytes(arch: dict[str, Any]) -> dict[str, int]:
    """Bytes of each partition accelsim's mapper may use for a GEMM's tile buffers under the default
    mapping options (its bank plan: the resident area of the output partition and, in the
    partitions holding inputs or outputs, the vector unit's share of the banks excluded; the
    weights and accumulator partitions are whole)."""
    from accelsim.arch.spec import ArchSpec
    from accelsim.mapping.banks import bank_plan
    from accelsim.mapping.options import MappingOptions

    return dict(bank_plan(ArchSpec.model_validate(arch), MappingOptions().resident_fraction).tile_bytes)


# --- the ZigZag accelerator ----------------------------------------------------------------------


def _port(name: str, kind: str, bits: int, alloc: list[str]) -> dict[str, Any]:
    return {"name": name, "type": kind, "bandwidth_min": bits, "bandwidth_max": bits, "allocation": alloc}


def _mem(size_bits: int, pj: float, operands: list[str], ports: list[dict[str, Any]],
         served: list[str], double_buffered: bool) -> dict[str, Any]:
    return {"size": size_bits, "r_cost": round(pj, 9), "w_cost": round(pj, 9), "area": 0.0, "latency": 1,
            "operands": operands, "ports": ports, "served_dimensions": served,
            "force_double_buffering": double_buffered}


def _reg(bits: int, op: str) -> dict[str, Any]:
    if op == "O":
        ports = [_port("r_port_1", "read", bits, ["O, tl"]), _port("r_port_2", "read", bits, ["O, th"]),
                 _port("w_port_1", "write", bits, ["O, fh"]), _port("w_port_2", "write", bits, ["O, fl"])]
    else:
        ports = [_port("r_port_1", "read", bits, [f"{op}, tl"]), _port("w_port_1", "write", bits, [f"{op}, fh"])]
    return _mem(bits, reg_pj(bits), [op], ports, [], False)


def zigzag_inputs(c: Case, tiles: dict[str, int]) -> dict[str, Any]:
    """ZigZag's accelerator, mapping and workload (as the dicts its YAML files hold).

    D1 = array columns (N), D2 = array rows (ws: K, reduced down the columns; os: M). Levels,
    bottom up: ws -- per-PE weight register, per-column accumulators (served along D2: one
    partial sum per column per cycle), buffers; os -- per-PE 32-bit output register, buffers.
    Every buffer serves the whole array (broadcast) through one port of ``side`` bytes per
    direction, and reserves room for double buffering as accelsim's tiles do
    (``force_double_buffering``)."""
    port_bits = 8 * c.side
    mems: dict[str, Any] = {}
    if c.dataflow == "ws":
        mems["w_reg"] = _reg(PRECISION["W"], "I2")
        per_col = tiles["acc"] // c.side
        acc_pj = sram_pj_per_byte(c.acc_kib * 1024 / c.side) * 4  # one 32-bit access
        b = PRECISION["O"]
        mems["acc"] = _mem(per_col * 8, acc_pj, ["O"], [
            _port("r_port_1", "read", b, ["O, tl"]), _port("r_port_2", "read", b, ["O, th"]),
            _port("w_port_1", "write", b, ["O, fh"]), _port("w_port_2", "write", b, ["O, fl"])], ["D2"], True)
    else:
        mems["o_reg"] = _reg(PRECISION["O"], "O")
    for name, kib, op in (("in_buf", c.in_kib, "I1"), ("w_buf", c.w_kib, "I2")):
        mems[name] = _mem(tiles[name] * 8, sram_pj_per_byte(kib * 1024) * c.side, [op], [
            _port("r_port_1", "read", port_bits, [f"{op}, tl"]),
            _port("w_port_1", "write", port_bits, [f"{op}, fh"])], ["D1", "D2"], True)
    # os: partial sums spilled across K tiles live in the output buffer (ZigZag has no
    # accumulator level there); accelsim keeps them in its accumulator partition, whose bytes
    # are added here so both sides have the same room for them
    out_bytes = tiles["out_buf"] + (tiles["acc"] if c.dataflow == "os" else 0)
    mems["out_buf"] = _mem(out_bytes * 8, sram_pj_per_byte(c.out_kib * 1024) * c.side, ["O"], [
        _port("r_port_1", "read", port_bits, ["O, tl", "O, th"]),
        _port("w_port_1", "write", port_bits, ["O, fh", "O, fl"])], ["D1", "D2"], True)
    dram_bits = 8 * DRAM_BYTES_PER_CYCLE
    mems["dram"] = _mem(10**12, DRAM_PJ_PER_BIT * dram_bits, ["I1", "I2", "O"], [
        _port("rw_port_1", "read_write", dram_bits,
              ["I1, fh", "I1, tl", "I2, fh", "I2, tl", "O, fh", "O, tl", "O, fl", "O, th"])],
        ["D1", "D2"], False)
    hardware = {"name": c.name, "memories": mems,
                "operational_array": {"unit_energy": MAC_PJ, "unit_area": 1.0, "dimensions": ["D1", "D2"],
                                      "sizes": [c.side, c.side]}}
    rows = "K" if c.dataflow == "ws" else "M"
    mapping = [{"name": "default", "spatial_mapping": {"D1": [f"N, {c.side}"], "D2": [f"{rows}, {c.side}"]},
                "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"}}]
    workload = [{"id": 0, "name": c.name, "operator_type": "Gemm", "equation": "O[m][n]+=I[m][k]*W[k][n]",
                 "loop_dims": ["M", "N", "K"], "loop_sizes": [c.M, c.N, c.K],
                 "operand_precision": dict(PRECISION), "operand_source": {"I": 0, "W": 0}}]
    return {"hardware": hardware, "mapping": mapping, "workload": workload}


# --- running ZigZag (in its own interpreter) -----------------------------------------------------


def _worker(job_file: str, out_file: str) -> None:
    """Run ZigZag on every job of ``job_file``; write the results to ``out_file`` (runs in the
    ZigZag venv: imports nothing from accelsim)."""
    import logging

    import yaml  # type: ignore[import-untyped]
    from zigzag import api as zz  # type: ignore[import-not-found]
    from zigzag.opt.loma.memory_allocator import (  # type: ignore[import-not-found]
        MemoryHierarchyTooSmallException,
        MemoryTooSmallException,
    )

    logging.disable(logging.WARNING)
    jobs = json.loads(Path(job_file).read_text())
    for job in jobs:
        row: dict[str, Any] = {"key": job["key"]}
        with tempfile.TemporaryDirectory() as d:
            p = Path(d)
            for key in ("hardware", "mapping", "workload"):
                (p / f"{key}.yaml").write_text(yaml.safe_dump(job[key], sort_keys=False))
            try:
                _, _, cmes = zz.get_hardware_performance_zigzag(
                    str(p / "workload.yaml"), str(p / "hardware.yaml"), str(p / "mapping.yaml"),
                    opt=job["opt"], dump_folder=str(p / "out"), lpf_limit=job["lpf"],
                    loma_show_progress_bar=False)
                row["result"] = _summarise(cmes[0][1][0][0])
            except (MemoryTooSmallException, MemoryHierarchyTooSmallException) as e:
                # A fixed ordering (one of accelsim's mappings) that ZigZag's allocator cannot place:
                # it fills each level bottom-up with as many loops as fit (ties go to more loops), so
                # a level can take more than the level above it holds. Recorded, not fatal; LOMA
                # skips such orderings itself, so a LOMA job never gets here.
                if "temporal_ordering" not in job["mapping"][0]:
                    raise
                row["error"] = f"{type(e).__name__}: {' '.join(str(e).split())}"
        with open(out_file, "a") as f:  # one line per job as it finishes: progress survives a crash
            f.write(json.dumps(row) + "\n")


def _summarise(cme: Any) -> dict[str, Any]:
    """The numbers kept from one ZigZag cost-model evaluation (energies pJ, latencies cycles)."""
    layer = cme.layer
    hier = cme.accelerator.memory_hierarchy
    levels: dict[str, Any] = {}
    for layer_op, accesses in cme.memory_word_access.items():
        mem_op = layer.memory_operand_links.layer_to_mem_op(layer_op)
        mems = hier.get_memory_levels(mem_op)
        energies = cme.mem_energy_breakdown[layer_op]
        levels[str(layer_op)] = [
            {"memory": m.memory_instance.name, "energy_pj": float(en),
             "word_accesses": {str(k): int(v) for k, v in sorted(a.data.items(), key=lambda kv: str(kv[0]))}}
            for m, a, en in zip(mems, accesses, energies)
        ]
    tm = {str(op): [[[str(d), int(s)] for d, s in lvl] for lvl in lvls]
          for op, lvls in cme.temporal_mapping.mapping_dic_stationary.items()}
    order = [lp for lvl in tm["O"] for lp in lvl]  # innermost first (every operand sees the same loops)
    return {
        "energy_pj": float(cme.energy_total),
        "mac_energy_pj": float(cme.mac_energy),
        "latency_cycles": float(cme.latency_total2),
        "ideal_cycles": float(cme.ideal_cycle),
        "loop_order": " ".join(f"{d}{s}" for d, s in reversed(order)),  # outermost first
        "temporal_mapping": tm,
        "levels": levels,
    }


def _job_key(job: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(job, sort_keys=True).encode()).hexdigest()[:20]


def run_zigzag(python: str, jobs: list[dict[str, Any]], cache: Path) -> list[dict[str, Any]]:
    """Run ``jobs`` in ZigZag's interpreter ``python``; one summary per job, in order. Results
    are kept in ``cache`` (JSON lines keyed by a hash of the job), so a rerun only runs what
    changed."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    keyed = [{**j, "key": _job_key(j)} for j in jobs]

    def load() -> dict[str, dict[str, Any]]:
        if not cache.exists():
            return {}
        rows = [json.loads(line) for line in cache.read_text().splitlines() if line.strip()]
        return {r["key"]: r["result"] if "result" in r else {"error": r["error"]} for r in rows}

    done = load()
    todo = [j for j in keyed if j["key"] not in done]
    if todo:
        print(f"running ZigZag on {len(todo)} of {len(keyed)} jobs (cache {cache})", file=sys.stderr)
        with tempfile.TemporaryDirectory() as d:
            jf = Path(d) / "jobs.json"
            jf.write_text(json.dumps(todo))
            subprocess.run([python, str(Path(__file__).resolve()), "--worker", str(jf), str(cache)], check=True,
                           env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL)
        done = load()
    return [done[j["key"]] for j in keyed]


def zigzag_version(python: str) -> str:
    r = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.version('zigzag-dse'))"],
                       check=True, capture_output=True, text=True)
    return r.stdout.strip()


def check_register_folding(c: Case, best: dict[str, Any]) -> None:
    """The count correspondences the accelsim-side register folding relies on (module docstring),
    checked on ZigZag's own access counts; raises ``AssertionError`` if one does not hold."""
    lv = best["levels"]
    if c.dataflow == "ws":
        reg, buf = lv["W"][0]["word_accesses"], lv["W"][1]["word_accesses"]
        fills = buf["rd_out_to_low"] * c.side  # port-width words of side bytes -> weights
        assert reg["wr_in_by_high"] == reg["rd_out_to_low"] == fills, (c.name, reg, buf)
    else:
        reg = lv["O"][0]["word_accesses"]
        macs = c.M * c.N * c.K
        assert reg["rd_out_to_low"] == reg["wr_in_by_low"] == macs, (c.name, reg)
        assert reg["rd_out_to_high"] >= c.M * c.N, (c.name, reg)


def zigzag_ordering(c: Case, plan: dict[str, Any]) -> list[list[Any]] | None:
    """accelsim's chosen mapping (the mapper's ``plan``: tile ``m x n x k``, loop order, panel
    rows) as a complete ZigZag temporal ordering, innermost loop first; ``None`` when a tile
    size does not divide its dimension (ZigZag's orderings are exact factorisations).

    Inside a tile the array runs its folds with the streamed dimension innermost (ws: ``m`` rows
    stream past each of the ``k/R x n/C`` weight folds; os: ``k`` streams into each of the
    ``m/R x n/C`` output folds); an output tile's K tiles run back to back; then the unit loops:
    order N or S -- M tiles inside N blocks; order M -- M tiles inside N blocks inside A panels
    of ``mp`` rows. Which operand stays in which buffer is left to ZigZag's allocator."""
    m, n, k = plan["tile"]
    R = C = c.side
    mp = plan["panel_rows"] or c.M
    if c.dataflow == "ws":
        loops = [("M", m), ("K", k // R), ("N", n // C)]
        ok = k % R == 0 and n % C == 0
    else:
        loops = [("K", k), ("M", m // R), ("N", n // C)]
        ok = m % R == 0 and n % C == 0
    ok = ok and c.K % k == 0 and c.N % n == 0 and c.M % m == 0
    loops.append(("K", c.K // k))
    if plan["order"] == "M":
        ok = ok and mp % m == 0 and c.M % mp == 0
        loops += [("M", mp // m), ("N", c.N // n), ("M", c.M // mp)]
    else:
        loops += [("M", c.M // m), ("N", c.N // n)]
    if not ok:
        return None
    merged: list[list[Any]] = []
    for d, s in loops:
        if s == 1:
            continue
        if merged and merged[-1][0] == d:
            merged[-1][1] *= s
        else:
            merged.append([d, s])
    return merged


def _plan_key(plan: dict[str, Any]) -> dict[str, Any]:
    return {"tile": list(plan["tile"]), "order": plan["order"], "panel_rows": plan["panel_rows"]}


def accelsim_ranked(c: Case, arch: dict[str, Any], objective: Objective, keep: int = 12) -> list[dict[str, Any]]:
    """The best ``keep`` candidates of accelsim's mapping search for the case (best first), as
    plans (tile, order, panel rows)."""
    from accelsim.arch.spec import ArchSpec
    from accelsim.mapping.machine import build_machine
    from accelsim.mapping.options import MappingOptions
    from accelsim.mapping.search import search_gemm
    from accelsim.model.gemm_cost import GemmProblem

    mach = build_machine(ArchSpec.model_validate(arch), MappingOptions(objective=objective))
    prob = GemmProblem(batch=1, M=c.M, N=c.N, K=c.K, elem=1, acc=4, a_dram_bytes=c.M * c.K)
    res = search_gemm(prob, mach, objective=objective, keep=keep)
    return [{"tile": [q.m, q.n, q.k], "order": q.order, "panel_rows": q.mp if q.order == "M" else None}
            for q, _ in res.ranked]


def regenerate(python: str, date: str, out: Path, cache: Path) -> dict[str, Any]:
    version = zigzag_version(python)
    if version != ZIGZAG_VERSION:
        raise SystemExit(f"error: {python} has zigzag-dse {version}; this table is for {ZIGZAG_VERSION}")
    cases = []
    jobs: list[dict[str, Any]] = []
    for c in CASES:
        arch = accelsim_arch(c)
        tiles = tile_bytes(arch)
        zin = zigzag_inputs(c, tiles)
        first = len(jobs)
        for opt in ("energy", "latency"):
            jobs.append({**zin, "opt": opt, "lpf": LPF_LIMIT})
        # accelsim's own choices, evaluated by ZigZag's cost model (the same loop order on both
        # sides): ZigZag's best known mapping is the cheaper of these and LOMA's.
        # Rank 0 is the mapping accelsim runs (the simulated choice); then its search's next best.
        evaluated: list[tuple[dict[str, Any], int]] = []
        job_of: dict[str, int] = {}
        objective: Objective
        for objective in ("energy", "latency"):
            chosen = accelsim_energy({"M": c.M, "N": c.N, "K": c.K, "accelsim_arch": arch}, objective)["plan"]
            plans = [_plan_key(chosen)] + [q for q in accelsim_ranked(c, arch, objective) if q != _plan_key(chosen)]
            picked = 0
            for rank, plan in enumerate(plans):
                order = zigzag_ordering(c, plan)
                key = json.dumps(order)
                if rank and (order is None or key in job_of or picked >= EVALUATE_PER_OBJECTIVE):
                    continue
                info = {"accelsim_objective": objective, "rank": rank, **plan, "temporal_ordering": order}
                if order is None:  # accelsim's choice, not expressible as a ZigZag ordering
                    evaluated.append((info, -1))
                    continue
                if key not in job_of:
                    mp = [{**zin["mapping"][0], "temporal_ordering": order}]
                    jobs.append({**zin, "mapping": mp, "opt": "energy", "lpf": LPF_LIMIT})
                    job_of[key] = len(jobs) - 1
                    picked += rank > 0
                evaluated.append((info, job_of[key]))
        cases.append((c, arch, tiles, zin, first, evaluated))
    results = run_zigzag(python, jobs, cache)
    records = []
    for c, arch, tiles, zin, first, evaluated in cases:
        best_e, best_l = results[first], results[first + 1]
        check_register_folding(c, best_e)
        same = []
        for info, j in evaluated:  # (the loop allocation is left out: temporal_ordering says it)
            res = results[j] if j >= 0 else {}
            z = {k: v for k, v in res.items() if k != "temporal_mapping"} if "energy_pj" in res else None
            same.append({**info, "zigzag": z, "zigzag_error": res.get("error")})
        known = [best_e] + [s["zigzag"] for s in same if s["zigzag"] is not None]
        best = min(known, key=lambda r: float(r["energy_pj"]))
        records.append({
            "name": c.name,
            "layer": c.layer,
            "M": c.M, "N": c.N, "K": c.K,
            "dtype": "int8",
            "dataflow": c.dataflow,
            "array": [c.side, c.side],
            "macs": c.M * c.N * c.K,
            "buffers_kib": {"in_buf": c.in_kib, "w_buf": c.w_kib, "out_buf": c.out_kib, "acc": c.acc_kib},
            "tile_bytes": tiles,
            "zigzag_inputs": zin,
            "accelsim_arch": arch,
            "zigzag_min_energy": best_e,
            "zigzag_min_latency": best_l,
            "zigzag_on_accelsim_mappings": same,
            "zigzag_best_energy_pj": best["energy_pj"],
            "zigzag_best_from": "loma" if best is best_e else "accelsim mapping",
        })
    doc = {
        "what": "int8 GEMM energy of accelsim vs ZigZag's best mapping on the same hierarchy "
                "(held-out: nothing in accelsim was fitted to these numbers)",
        "tool": "zigzag-dse",
        "zigzag_version": version,
        "date": date,
        "command": "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/zigzag_table.py "
                   "--zigzag-python /tmp/zigzag-venv/bin/python",
        "zigzag_settings": {"api": "zigzag.api.get_hardware_performance_zigzag",
                            "temporal_mapping_search_engine": "loma", "lpf_limit": LPF_LIMIT,
                            "temporal_mapping_type": "uneven",
                            "access_same_data_considered_as_no_access": True},
        "units": "energy pJ, latency cycles, sizes bytes (tile_bytes) or KiB (buffers_kib), "
                 "ZigZag word_accesses in port-width words",
        "energy_rules": {
            "mac_pj": MAC_PJ,
            "register_pj_per_bit": REG_PJ_PER_BIT,
            "sram_pj_per_byte": "12.5 * sqrt(bytes / 1 MiB) (Horowitz 1 MB 64-bit read 100 pJ)",
            "dram_pj_per_bit": DRAM_PJ_PER_BIT,
            "register_folding": "ws: weights-partition read += 2 register accesses per weight; os: MAC += 2 "
                                "accesses of the 32-bit output register, output-partition write += 1, "
                                "accumulator partition (spills only) = output buffer + 1/4 access per byte",
        },
        "cases": records,
    }
    text = json.dumps(doc, indent=1, sort_keys=True) + "\n"
    out.write_text(text)
    return doc


# --- accelsim side (no ZigZag needed) --------------------------------------------------------------


def accelsim_energy(case: dict[str, Any], objective: Objective) -> dict[str, Any]:
    """Simulate the case's GEMM in accelsim with mapping ``objective``; the energy ZigZag also
    models (arrays + SRAM + DRAM, J) and the run's figures."""
    from accelsim import api
    from accelsim.arch.spec import ArchSpec
    from accelsim.mapping.options import MappingOptions
    from accelsim.workload.ir import Graph, Op, TensorInfo

    M, N, K = case["M"], case["N"], case["K"]
    t = {"a": TensorInfo("a", (M, K), "int8", "input", "a"),
         "b": TensorInfo("b", (K, N), "int8", "weight", "b"),
         "c": TensorInfo("c", (M, N), "int8")}
    graph = Graph(f"gemm_{M}x{N}x{K}", t, (Op("mm", "matmul", ("a", "b"), ("c",), module="gemm"),), ("a",), ("c",))
    arch = ArchSpec.model_validate(case["accelsim_arch"])
    r = api.simulate(arch, graph, api.RunOptions(gpu=None, mapping=MappingOptions(objective=objective)))
    b = r["energy"]["breakdown_j"]
    compared = math.fsum(v for k, v in b.items() if k not in ("controllers", "static"))
    plan = r.program.ops[0].plan if r.program is not None else None
    return {"energy_j": compared, "breakdown_j": b, "cycles": r["total_cycles"],
            "dram_read": r["dram_read_bytes"], "dram_write": r["dram_write_bytes"],
            "plan": plan, "result": r}


def _known(case: dict[str, Any]) -> list[dict[str, Any]]:
    """Every mapping ZigZag evaluated for the case: LOMA's best, then accelsim's."""
    return [case["zigzag_min_energy"]] + [m["zigzag"] for m in case["zigzag_on_accelsim_mappings"] if m["zigzag"]]


def _same(case: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any] | None:
    for m in case["zigzag_on_accelsim_mappings"]:
        if m["zigzag"] and _plan_key(m) == _plan_key(plan):
            return m["zigzag"]  # type: ignore[no-any-return]
    return None


def compare(path: Path) -> str:
    """The Markdown table of docs/validation.md: accelsim now against the recorded ZigZag numbers."""
    doc = json.loads(path.read_text())
    lines = ["| case | array | M x N x K | ZigZag LOMA | ZigZag best | accelsim (energy obj.) | vs best | "
             "same mapping | accelsim (latency obj.) | vs best | DRAM MB: ZigZag best / accelsim |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    second = ["| case | ZigZag LOMA loop order (min energy; outer -> inner) | ZigZag cycles (min energy) | "
              "ZigZag cycles (min latency) | accelsim cycles (energy obj.) | accelsim cycles (latency obj.) | "
              "ideal cycles |", "|---|---|---|---|---|---|---|"]
    for case in doc["cases"]:
        best = min(_known(case), key=lambda r: r["energy_pj"])
        zb = best["energy_pj"] * 1e-6
        cells = [case["name"], f"{case['dataflow']} {case['array'][0]}x{case['array'][1]}",
                 f"{case['M']}x{case['N']}x{case['K']}", f"{case['zigzag_min_energy']['energy_pj'] * 1e-6:.1f}",
                 f"{zb:.1f}"]
        dram = ""
        cycles: dict[str, int] = {}
        objective: Objective
        for objective in ("energy", "latency"):
            a = accelsim_energy(case, objective)
            cycles[objective] = a["cycles"]
            e = a["energy_j"] * 1e6
            cells += [f"{e:.1f}", f"{(e / zb - 1) * 100:+.1f} %"]
            if objective == "energy":
                same = _same(case, a["plan"])
                cells.append(f"{(e / (same['energy_pj'] * 1e-6) - 1) * 100:+.2f} %" if same else "n/a")
                dram = f"{_zigzag_dram_bytes(best) / 1e6:.2f} / {(a['dram_read'] + a['dram_write']) / 1e6:.2f}"
        cells.append(dram)
        lines.append("| " + " | ".join(cells) + " |")
        z, zl = case["zigzag_min_energy"], case["zigzag_min_latency"]
        second.append(f"| {case['name']} | {z['loop_order']} | {z['latency_cycles']:.0f} | "
                      f"{zl['latency_cycles']:.0f} | {cycles['energy']} | {cycles['latency']} | "
                      f"{z['ideal_cycles']:.0f} |")
    return "\n".join(lines + [""] + second)


def _zigzag_dram_bytes(zz: dict[str, Any]) -> float:
    """DRAM bytes moved in a ZigZag mapping (its DRAM word accesses x the port width)."""
    total = 0
    for levels in zz["levels"].values():
        total += sum(levels[-1]["word_accesses"].values())
    return float(total * DRAM_BYTES_PER_CYCLE)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zigzag-python", help="interpreter of a venv with zigzag-dse==3.9.1 and six")
    ap.add_argument("--date", default=_dt.date.today().isoformat(), help="date recorded in the file (YYYY-MM-DD)")
    ap.add_argument("-o", "--out", type=Path, default=OUT, help="output JSON (default: tests/data/zigzag_cases.json)")
    ap.add_argument("--cache", type=Path, default=CACHE,
                    help="ZigZag results kept between runs (default: ~/.cache/accelsim/zigzag-3.9.1.jsonl)")
    ap.add_argument("--compare", action="store_true", help="print the accelsim-vs-ZigZag table (no ZigZag needed)")
    ap.add_argument("--worker", nargs=2, metavar=("JOBS", "OUT"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        _worker(*a.worker)
        return 0
    if a.compare:
        print(compare(a.out))
        return 0
    if not a.zigzag_python:
        ap.error("--zigzag-python is required to regenerate the table (or pass --compare)")
    doc = regenerate(a.zigzag_python, a.date, a.out, a.cache)
    for case in doc["cases"]:
        z = case["zigzag_min_energy"]
        print(f"{case['name']:24s} {z['energy_pj'] * 1e-6:12.1f} uJ {z['latency_cycles']:12.0f} cyc  {z['loop_order']}")
    print(f"wrote {a.out.relative_to(ROOT) if a.out.is_relative_to(ROOT) else a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
