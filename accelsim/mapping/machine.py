"""The architecture as the mapper's cost model sees it: array groups, SRAM bank budgets
(:mod:`accelsim.mapping.banks`), rates and per-action prices."""

from __future__ import annotations

from accelsim.arch.spec import PRECISION_BYTES, ArchSpec
from accelsim.energy.model import prices
from accelsim.mapping.banks import BankPlan, bank_plan
from accelsim.mapping.options import MappingOptions
from accelsim.model.gemm_cost import ArrayGroup, Machine
from accelsim.model.memory import dram_latency_cycles


def build_machine(arch: ArchSpec, opts: MappingOptions, banks: BankPlan | None = None) -> Machine:
    banks = banks or bank_plan(arch, opts.resident_fraction)
    pr = prices(arch)
    groups = []
    unit = 0
    for gi, a in enumerate(arch.arrays):
        base = a.name or f"sa{gi}"
        insts = (base,) if a.count == 1 else tuple(f"{base}.{i}" for i in range(a.count))
        groups.append(ArrayGroup(gi, a.rows, a.cols, a.dataflow, a.count, insts,
                                 tuple(range(unit, unit + a.count)), pr.mac_pj[gi]))
        unit += a.count
    d = arch.dram
    c = arch.controller
    return Machine(
        groups=tuple(groups),
        dram_bpc=d.bandwidth_gbps / arch.clock_ghz,
        dram_latency=dram_latency_cycles(d.latency_ns, arch.clock_ghz),
        dram_channels=d.channels,
        max_burst=c.dma.max_burst_bytes,
        dma_setup=c.dma.setup_cycles,
        dma_engines=c.dma.engines,
        issue_cycles=0 if opts.mode == "scalesim" else c.sequencer.issue_cycles,
        queue_depth=c.sequencer.queue_depth,
        tile_bytes=banks.tile_bytes,
        role_part=dict(banks.role_part),
        part_banks={n: (pb.array_banks, pb.resident_banks) for n, pb in banks.parts.items()},
        bank_bpc=arch.sram.bank_width_bytes * arch.sram.ports_per_bank,
        resident_part=banks.resident_part,
        sram_width=arch.sram.bank_width_bytes,
        sram_read_pj=dict(pr.sram_read_pj),
        sram_write_pj=dict(pr.sram_write_pj),
        dram_pj_per_byte=pr.dram_pj_per_byte,
        dma_transfer_pj=pr.dma_transfer_pj,
        dma_byte_pj=pr.dma_byte_pj,
        command_pj=pr.command_pj,
        static_w=pr.static_w,
        clock_hz=arch.clock_hz,
    )


def elem_bytes(arch: ArchSpec) -> tuple[int, int]:
    a0 = arch.arrays[0]
    return PRECISION_BYTES[a0.precision], PRECISION_BYTES[a0.acc_precision]
