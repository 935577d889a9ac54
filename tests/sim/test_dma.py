"""DMA engines (accelsim/sim/dma.py): a pool of engines; more transfers than engines wait.

The test arch: 2 engines, 16 setup cycles, bursts of at most 4 KiB; DRAM 32 GB/s at 1 GHz over
2 channels (16 B/cycle each), latency 100 ns = 100 cycles; "inputs" is 2 banks x 64 B/cycle.
A transfer: take an engine, pay the setup, stream (DRAM channels and SRAM banks reserved
together: the slower side sets the rate), then the DRAM latency. The log asserted on is every
engine's ``intervals`` [(start, end, what)] and the transfers' completion cycles.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from accelsim.mapping.program import SramAccess, Transfer
from accelsim.sim.dma import DmaEngines
from accelsim.sim.dram import Dram
from accelsim.sim.engine import simulate
from accelsim.sim.sram import Sram
from accelsim.sim.stats import Stats
from builders import hand_program, make_arch


def _run(arch: Any, transfers: list[tuple[Transfer, tuple[int, int]]]
         ) -> tuple[DmaEngines, Stats, list[tuple[str, int]]]:
    env = simpy.Environment()
    stats = Stats()
    dma = DmaEngines(env, arch, Dram(arch), Sram(arch), stats)
    done: list[tuple[str, int]] = []

    def go(tr: Transfer, banks: tuple[int, int]) -> Generator[Any, Any, None]:
        yield from dma.transfer(tr, banks)
        done.append((tr.tensor, int(env.now)))

    for tr, banks in transfers:
        env.process(go(tr, banks))
    env.run()
    return dma, stats, done


def test_more_transfers_than_engines_wait() -> None:
    dma, st, done = _run(make_arch(), [(Transfer(n, 4096, "inputs", "load"), (0, 0)) for n in "abc"])
    # a: engine 0 at 0; setup to 16; 4096 B = 1 burst -> channel 0 at 16 B/cycle: [16, 272);
    #    SRAM 4096 / 128 = 32 cycles [16, 48); ends max(272, 48) + 100 = 372
    # b: engine 1 at 0; channel 1 [16, 272); SRAM waits for a's banks: [48, 80); ends 372
    # c: no engine until 372 (engine 0 frees first); setup to 388; channel 0 [388, 644); ends 744
    assert done == [("a", 372), ("b", 372), ("c", 744)]
    assert [[iv[:2] for iv in e] for e in dma.intervals] == [[(0, 372), (372, 744)], [(0, 372)]]
    assert st.dma_wait_cycles == 372 and st.bank_conflict_cycles == 32 and st.dram_queue_cycles == 0
    assert st.dma_transfers == 3 and st.dma_bytes == 3 * 4096 and dma.busy_cycles == 3 * 372


def test_one_engine_serializes() -> None:
    arch = make_arch(**{"controller.dma.engines": 1})
    dma, st, done = _run(arch, [(Transfer(n, 4096, "inputs", "load"), (0, 0)) for n in "ab"])
    # each transfer holds the engine 16 + 256 + 100 = 372 cycles
    assert done == [("a", 372), ("b", 744)] and st.dma_wait_cycles == 372


def test_the_slower_side_sets_the_rate() -> None:
    # 8192 B = 2 bursts -> both channels, 4096 B each: 256 cycles; one bank (64 B/cycle): 128 cycles
    _, _, fast_sram = _run(make_arch(), [(Transfer("a", 8192, "inputs", "load"), (0, 1))])
    assert fast_sram == [("a", 16 + 256 + 100)]
    # banks 8 B wide: one bank takes 8192 / 8 = 1024 cycles, longer than the DRAM's 256
    narrow = make_arch(**{"sram.bank_width_bytes": 8})
    _, _, slow_sram = _run(narrow, [(Transfer("a", 8192, "inputs", "load"), (0, 1))])
    assert slow_sram == [("a", 16 + 1024 + 100)]


def test_a_store_writes_dram() -> None:
    dma, _, done = _run(make_arch(), [(Transfer("y", 1024, "outputs", "store"), (0, 0))])
    # 1024 B on one channel: 64 cycles
    assert done == [("y", 16 + 64 + 100)] and dma.dram.write_bytes == 1024 and dma.dram.read_bytes == 0
    assert dma.intervals[0][0][2] == "store y (1024 B)"


def test_a_tile_computes_once_all_its_loads_are_in() -> None:
    """Engine level: one array tile with two 4 KiB loads (issued at 2, after the sequencer's 2
    issue cycles): both stream concurrently on the two engines and channels, so compute starts at
    2 + 372 = 374 and holds the array for its 50 cycles."""
    prog = hand_program(("array", [dict(
        unit="sa0", compute_cycles=50,
        loads=(Transfer("a", 4096, "inputs", "load", (0, 1)), Transfer("b", 4096, "weights", "load", (0, 1))),
        sram=(SramAccess("inputs", 64, False, (0, 1)),))]))
    out = simulate(prog, make_arch())
    assert out.arrays[0].intervals == [(374, 424, 0)]
    assert [[iv[:2] for iv in e] for e in out.dma.intervals] == [[(2, 374)], [(2, 374)]]
    assert out.op_timing[0].dram_bytes == 8192 and out.total_cycles == 424
