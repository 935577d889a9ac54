"""Links and collectives as SimPy transfers (accelsim/sim/link.py): routes, contention, and no
collective ever finishing before its formula (accelsim/model/collectives.py)."""

from __future__ import annotations

import math

import pytest
import simpy

from accelsim.model.collectives import collective_s, resolve_interconnect
from accelsim.sim.link import Network, make_collective

CLOCK = 1.0  # GHz: 1 cycle = 1 ns


def _net(topology: str, chips: int, links: int = 4, gbps: float = 10.0, lat_ns: float = 100.0) -> Network:
    ic = resolve_interconnect(chips, topology, links, gbps, lat_ns)  # type: ignore[arg-type]
    return Network(simpy.Environment(), ic, CLOCK)


def _run(net: Network, kind: str, group: list[int], nbytes: int, late: dict[int, int] | None = None) -> int:
    c = make_collective(net, kind, group, nbytes)
    env = net.env

    def enter(rank: int, delay: int):  # type: ignore[no-untyped-def]
        if delay:
            yield env.timeout(delay)
        yield from c.run(rank)

    for r in range(len(group)):
        env.process(enter(r, (late or {}).get(r, 0)))
    env.run()
    assert len(c.record.exits) == len(group)
    return c.record.cycles


def test_routes() -> None:
    ring = _net("ring", 6)
    assert ring.route(0, 2) == ((0, 1), (1, 2))
    assert ring.route(0, 5) == ((0, 5),)  # the shorter way round
    assert ring.route(0, 3) == ((0, 1), (1, 2), (2, 3))  # a tie goes clockwise
    assert ring.route(4, 4) == ()
    tor = _net("torus2d", 16)  # 4 x 4, chip = y * 4 + x
    assert tor.route(0, 5) == ((0, 1), (1, 5))  # X first, then Y
    assert tor.route(0, 12) == ((0, 12),)  # wrap-around in Y
    fc = _net("fully_connected", 4, links=3)
    assert fc.route(3, 0) == ((3, 0),)
    assert sorted(fc.neighbours(1)) == [0, 2, 3]


@pytest.mark.parametrize("topology,chips,links", [
    ("ring", 2, 2), ("ring", 4, 4), ("ring", 8, 6), ("fully_connected", 4, 3), ("fully_connected", 8, 14),
    ("torus2d", 4, 4), ("torus2d", 8, 8), ("torus2d", 16, 8),
])
@pytest.mark.parametrize("nbytes", [1 << 20, 12345])
def test_collectives_never_beat_their_formula(topology: str, chips: int, links: int, nbytes: int) -> None:
    for kind in ("all_reduce", "all_gather", "reduce_scatter"):
        net = _net(topology, chips, links)
        cyc = _run(net, kind, list(range(chips)), nbytes)
        f = collective_s(kind, nbytes, list(range(chips)), net.ic) * CLOCK * 1e9  # cycles
        assert cyc >= f - 1e-9, (kind, cyc, f)
        # and only whole-cycle rounding above it on an idle network: <= 2 cycles per step
        steps = {"all_reduce": 2, "all_gather": 1, "reduce_scatter": 1}[kind]
        if topology == "ring":
            steps *= chips - 1
        elif topology == "torus2d":
            nx, ny = net.ic.dims  # type: ignore[misc]
            steps *= (nx - 1) + (ny - 1) if kind == "all_reduce" else chips - 1
        assert cyc <= f + 2 * steps + 1, (kind, cyc, f)


def test_ring_allreduce_cycles_by_hand() -> None:
    # 4 chips, 2 links of 10 GB/s to each neighbour = 20 bytes/cycle; 4000 B: chunks of 1000 B
    # = 50 cycles + 100 cycles latency, 6 steps: 900 cycles
    net = _net("ring", 4, links=4, gbps=10.0, lat_ns=100.0)
    assert _run(net, "all_reduce", [0, 1, 2, 3], 4000) == 6 * (50 + 100)


def test_late_chip_delays_everyone_and_the_bound_still_holds() -> None:
    net = _net("ring", 4)
    cyc = _run(net, "all_reduce", [0, 1, 2, 3], 4000, late={2: 5000})
    assert cyc >= 5000 + 6 * 150 - 1 - 2 * 150  # chip 2's successors wait for its first chunk
    rec_free = _run(_net("ring", 4), "all_reduce", [0, 1, 2, 3], 4000)
    assert cyc > rec_free


def test_contention_serialises_transfers_on_a_shared_channel() -> None:
    net = _net("ring", 4, links=2, gbps=10.0, lat_ns=100.0)  # 10 bytes/cycle per channel
    env = net.env
    done: dict[str, int] = {}

    def send(tag: str, a: int, b: int, n: int):  # type: ignore[no-untyped-def]
        yield from net.transfer(a, b, n)
        done[tag] = int(env.now)

    # 0 -> 2 (via 1) and 1 -> 2 share channel 1 -> 2; 3 -> 0 uses its own
    env.process(send("a", 0, 2, 10000))
    env.process(send("b", 1, 2, 10000))
    env.process(send("c", 3, 0, 10000))
    env.run()
    ser = 10000 // 10
    assert done["c"] == ser + 100  # alone: serialisation + one hop
    assert done["a"] == ser + 2 * 100  # first on the shared channel: 2 hops
    assert done["b"] == 2 * ser + 100  # waited for a's serialisation
    st = net.stats[(1, 2)]
    assert st.busy_cycles == 2 * ser and st.bytes == 20000 and st.transfers == 2


def test_two_collectives_sharing_a_ring_slow_each_other() -> None:
    # TP groups {0, 1, 2, 3} and {4, 5, 6, 7} on a ring of 8: the hop 3 -> 0 and 7 -> 4 go the short
    # way (3 -> 2 -> 1 -> 0), so the two groups never share a channel ...
    net = _net("ring", 8, links=4)
    env = net.env
    c1 = make_collective(net, "all_reduce", [0, 1, 2, 3], 1 << 16)
    c2 = make_collective(net, "all_reduce", [4, 5, 6, 7], 1 << 16)
    for r in range(4):
        env.process(c1.run(r))
        env.process(c2.run(r))
    env.run()
    assert c1.record.cycles == c2.record.cycles
    # ... but the interleaved groups {0, 2, 4, 6} and {1, 3, 5, 7} do: 0 -> 2 and 1 -> 3 share 1 -> 2
    alone = _run(_net("ring", 8, links=4), "all_reduce", [0, 2, 4, 6], 1 << 16)
    net2 = _net("ring", 8, links=4)
    d1 = make_collective(net2, "all_reduce", [0, 2, 4, 6], 1 << 16)
    d2 = make_collective(net2, "all_reduce", [1, 3, 5, 7], 1 << 16)
    for r in range(4):
        net2.env.process(d1.run(r))
        net2.env.process(d2.run(r))
    net2.env.run()
    assert max(d1.record.cycles, d2.record.cycles) > alone
    f = collective_s("all_reduce", 1 << 16, [0, 2, 4, 6], net2.ic) * 1e9
    assert min(d1.record.cycles, d2.record.cycles) >= math.floor(f)


def test_transfer_cycles_on_an_idle_network() -> None:
    net = _net("ring", 8, links=2, gbps=10.0, lat_ns=100.0)
    assert net.transfer_cycles(0, 3, 1000) == 100 + 3 * 100
    assert net.transfer_cycles(2, 2, 1000) == 0
