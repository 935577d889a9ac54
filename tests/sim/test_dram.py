"""DRAM (accelsim/sim/dram.py): striping over channels and queueing, on hand-built scenarios.

The arch: 32 GB/s at 1 GHz = 32 B/cycle over 4 channels = 8 B/cycle per channel; bursts of at
most 1 KiB, so a transfer of ``n`` bytes is striped over ``min(4, ceil(n / 1024))`` channels.
The log asserted on is every channel's reservations, ``Dram.intervals[c]`` = [(start, end)].
"""

from __future__ import annotations

import simpy

from accelsim.mapping.program import Transfer
from accelsim.sim.dma import DmaEngines
from accelsim.sim.dram import Dram
from accelsim.sim.sram import Sram
from accelsim.sim.stats import Stats
from builders import make_arch

ARCH = make_arch(**{"dram.channels": 4, "dram.bandwidth_gbps": 32, "controller.dma.max_burst_bytes": 1024,
                    "controller.dma.engines": 8})


def test_a_large_transfer_stripes_over_every_channel() -> None:
    d = Dram(ARCH)
    assert d.channel_bpc == 8
    # 4096 B = 4 bursts -> 4 channels x 1024 B at 8 B/cycle = 128 cycles (= 4096 B / 32 B/cycle)
    assert d.reserve(0, 4096, write=False) == (0, 128)
    assert d.intervals == [[(0, 128)]] * 4
    assert d.busy_cycles == [128] * 4 and d.read_bytes == 4096 and d.write_bytes == 0


def test_small_transfers_use_one_channel_each_and_run_side_by_side() -> None:
    d = Dram(ARCH)
    # 1024 B = 1 burst -> 1 channel: 1024 / 8 = 128 cycles; the next goes to the first free channel
    for _ in range(4):
        assert d.reserve(0, 1024, write=True) == (0, 128)
    assert d.intervals == [[(0, 128)]] * 4
    # a fifth queues behind the first (channel 0 frees at 128): waits 128, ends 256
    assert d.reserve(0, 1024, write=True) == (128, 256)
    assert d.intervals[0] == [(0, 128), (128, 256)] and d.write_bytes == 5 * 1024


def test_partial_striping_rounds_the_share_up() -> None:
    d = Dram(ARCH)
    # 2048 B = 2 bursts -> channels 0 and 1, 1024 B each: 128 cycles; channels 2, 3 stay idle
    assert d.reserve(0, 2048, write=False) == (0, 128)
    assert d.intervals == [[(0, 128)], [(0, 128)], [], []]
    # 3000 B = 3 bursts -> the three channels free first (2, 3, then 0 at 128):
    # ceil(3000 / 3) = 1000 B each, ceil(1000 / 8) = 125 cycles; the last starts at 128 -> ends 253
    assert d.reserve(0, 3000, write=False) == (128, 253)
    assert d.intervals[2] == [(0, 125)] and d.intervals[3] == [(0, 125)] and d.intervals[0][-1] == (128, 253)


def test_queueing_behind_a_striped_transfer() -> None:
    d = Dram(ARCH)
    assert d.reserve(0, 4096, write=False) == (0, 128)
    # the second starts when every channel it needs is free: at 128 (waited 128), ends 256
    assert d.reserve(0, 4096, write=False) == (128, 256)
    # one that arrives later than the channels free waits for nothing
    assert d.reserve(300, 4096, write=False) == (0, 428)
    assert d.busy_cycles == [384] * 4


def test_dma_streams_queue_on_the_channels_in_simpy() -> None:
    """Three 4 KiB loads issued together through the DMA (8 engines, 16 setup cycles, DRAM latency
    100 ns = 100 cycles): each needs all four channels for 128 cycles, so they stream one after
    another, then pay the latency. SRAM (2 banks x 64 B/cycle = 128 B/cycle: 32 cycles per 4 KiB,
    each waiting for the previous) is never the slower side here."""
    env = simpy.Environment()
    stats = Stats()
    dram = Dram(ARCH)
    dma = DmaEngines(env, ARCH, dram, Sram(ARCH), stats)
    done: list[tuple[str, int]] = []

    def load(name: str) -> object:
        yield from dma.transfer(Transfer(name, 4096, "inputs", "load"), (0, 0))
        done.append((name, int(env.now)))

    for n in ("a", "b", "c"):
        env.process(load(n))
    env.run()
    # streams: [16, 144), [144, 272), [272, 400); + 100 latency
    assert done == [("a", 244), ("b", 372), ("c", 500)]
    assert dram.intervals[0] == [(16, 144), (144, 272), (272, 400)]
    assert stats.dram_queue_cycles == 128 + 256 and stats.dma_wait_cycles == 0
