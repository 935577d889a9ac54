"""Pure cycle, byte and access-count formulas (no SimPy, no state).

* :mod:`accelsim.model.systolic` — systolic-array GEMM timing: the SCALE-Sim v3.0.0 compatible
  closed forms (cycles, utilisation, SRAM access counts) and accelsim's pipelined default.
* :mod:`accelsim.model.memory` — DRAM/SRAM/DMA transfer times and access counts.
* :mod:`accelsim.model.vector` — vector-unit element-wise and reduction times.

Every duration is an integer number of clock cycles; every size is in bytes or words as the
function name says. The SimPy processes in :mod:`accelsim.sim` ask these functions how long a
step takes, so each simulated number has an analytical cross-check here.
"""
