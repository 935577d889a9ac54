"""Chip-to-chip links and collectives as SimPy transfers (see docs/multichip.md).

* :class:`Network`: one SimPy resource per directed **channel** (the links from a chip to one
  neighbour, one direction; :class:`~accelsim.model.collectives.Interconnect`). A transfer of
  ``S`` bytes from chip ``a`` to chip ``b`` follows a fixed shortest route (ring: the shorter way
  round, ties clockwise; torus: X first, then Y; fully connected: direct), holds every channel on
  it for ``ceil(S / bytes_per_cycle)`` cycles (cut-through at the narrowest channel's rate) and
  arrives ``hops x latency`` cycles later. Two transfers that share a channel are serialised in
  request order (**contention**); channels are requested in one fixed global order, so routes
  never deadlock.
* Collectives, one object per instance shared by the chips of its group; each chip runs
  ``run(rank)`` when its operand is ready (its collective tile starts), so a chip that arrives
  late delays the others exactly where the data dependency says:

  - :class:`RingCollective`: all-reduce (2(n-1) steps), reduce-scatter or all-gather (n-1): in
    step ``k`` rank ``i`` sends one chunk to rank ``i+1`` once it has received step ``k-1``'s
    chunk (Patarasuk and Yuan, JPDC 2009);
  - :class:`DirectCollective`: every rank sends its chunks to all peers at once (reduce-scatter
    and/or all-gather in one step each; fully connected systems);
  - :class:`TorusCollective`: dimension-ordered rings (reduce-scatter along X, then Y, all-gather
    along Y, then X), on a group that is the whole torus;
  - :class:`PointToPoint`: one transfer.

Each step rounds up to whole cycles, so no collective finishes before its formula in
:mod:`accelsim.model.collectives` (tested). The arithmetic of a reduction (adding the received
chunk) is not charged: it is assumed to keep up with the link (a chunk of a decode all-reduce is a
few KiB).
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import simpy

from accelsim.model.collectives import Interconnect

Channel = tuple[int, int]


@dataclass
class ChannelStats:
    busy_cycles: int = 0
    bytes: int = 0
    transfers: int = 0


class Network:
    """The directed channels of an interconnect in one SimPy environment."""

    def __init__(self, env: simpy.Environment, ic: Interconnect, clock_ghz: float) -> None:
        self.env = env
        self.ic = ic
        self.clock_ghz = clock_ghz
        #: cycles of one hop's latency (rounded up)
        self.latency_cycles = math.ceil(ic.latency_ns * clock_ghz - 1e-9) if ic.latency_ns > 0 else 0
        self.channels: dict[Channel, simpy.Resource] = {}
        self.stats: dict[Channel, ChannelStats] = {}
        self._bpc: dict[Channel, float] = {}
        for a in range(ic.chips):
            for b in self.neighbours(a):
                self.channels[(a, b)] = simpy.Resource(env, capacity=1)
                self.stats[(a, b)] = ChannelStats()
                # GB/s / GHz = bytes per cycle
                self._bpc[(a, b)] = ic.channel_links(a, b) * ic.link_bandwidth_gbps / clock_ghz
        self._routes: dict[Channel, tuple[Channel, ...]] = {}

    # ---------------------------------------------------------------- topology
    def neighbours(self, a: int) -> list[int]:
        ic = self.ic
        n = ic.chips
        if n == 1:
            return []
        if ic.topology == "fully_connected":
            return [b for b in range(n) if b != a]
        if ic.topology == "ring":
            return sorted({(a + 1) % n, (a - 1) % n})
        assert ic.dims is not None
        nx, ny = ic.dims
        x, y = a % nx, a // nx
        out: set[int] = set()
        if nx > 1:
            out |= {y * nx + (x + 1) % nx, y * nx + (x - 1) % nx}
        if ny > 1:
            out |= {((y + 1) % ny) * nx + x, ((y - 1) % ny) * nx + x}
        return sorted(out)

    @staticmethod
    def _ring_steps(src: int, dst: int, n: int) -> list[int]:
        """Positions from src to dst the shorter way round a ring of n (ties: increasing)."""
        fwd = (dst - src) % n
        step = 1 if fwd <= n - fwd else -1
        return [(src + step * i) % n for i in range(1, (fwd if step == 1 else n - fwd) + 1)]

    def route(self, src: int, dst: int) -> tuple[Channel, ...]:
        """The channels a transfer src -> dst crosses (shortest path, deterministic)."""
        key = (src, dst)
        r = self._routes.get(key)
        if r is not None:
            return r
        ic = self.ic
        path: list[int] = [src]
        if src != dst:
            if ic.topology == "fully_connected":
                path.append(dst)
            elif ic.topology == "ring":
                path += self._ring_steps(src, dst, ic.chips)
            else:
                assert ic.dims is not None
                nx, ny = ic.dims
                sx, sy, dx, dy = src % nx, src // nx, dst % nx, dst // nx
                path += [sy * nx + x for x in self._ring_steps(sx, dx, nx)] if sx != dx else []
                path += [y * nx + dx for y in self._ring_steps(sy, dy, ny)] if sy != dy else []
        r = tuple(zip(path[:-1], path[1:]))
        self._routes[key] = r
        return r

    # ---------------------------------------------------------------- transfers
    def transfer_cycles(self, src: int, dst: int, nbytes: int) -> int:
        """Cycles a transfer takes on an idle network."""
        route = self.route(src, dst)
        if not route:
            return 0
        bpc = min(self._bpc[c] for c in route)
        return math.ceil(nbytes / bpc) + len(route) * self.latency_cycles

    def transfer(self, src: int, dst: int, nbytes: int) -> Generator[Any, Any, None]:
        """Move ``nbytes`` from chip ``src`` to chip ``dst``; returns when they have arrived."""
        route = self.route(src, dst)
        if not route:
            return
        env = self.env
        bpc = min(self._bpc[c] for c in route)
        ser = math.ceil(nbytes / bpc) if nbytes > 0 else 0
        reqs = [(c, self.channels[c].request()) for c in sorted(route)]
        for _, rq in reqs:
            yield rq
        if ser:
            yield env.timeout(ser)
        for c, rq in reqs:
            self.channels[c].release(rq)
            st = self.stats[c]
            st.busy_cycles += ser
            st.bytes += nbytes
            st.transfers += 1
        hop_delay = len(route) * self.latency_cycles
        if hop_delay:
            yield env.timeout(hop_delay)


# ------------------------------------------------------------------------------------ collectives


@dataclass
class CollectiveRecord:
    """What one collective instance did (cycles are absolute simulation times)."""

    kind: str
    algorithm: str
    nbytes: int
    group: tuple[int, ...]
    name: str = ""
    entries: dict[int, int] = field(default_factory=dict)  # rank -> cycle it entered
    exits: dict[int, int] = field(default_factory=dict)  # rank -> cycle it left

    @property
    def start(self) -> int:
        return min(self.entries.values()) if self.entries else 0

    @property
    def end(self) -> int:
        return max(self.exits.values()) if self.exits else 0

    @property
    def cycles(self) -> int:
        """First entry to last exit."""
        return self.end - self.start

    @property
    def skew_cycles(self) -> int:
        """How long the first chip waited for the last to arrive."""
        return max(self.entries.values()) - self.start if self.entries else 0


class Collective:
    """Base: a collective instance over ``group`` (chip ids in rank order)."""

    algorithm = ""

    def __init__(self, net: Network, kind: str, group: Sequence[int], nbytes: int, name: str = "") -> None:
        self.net = net
        self.env = net.env
        self.kind = kind
        self.group = tuple(group)
        self.nbytes = int(nbytes)
        self.record = CollectiveRecord(kind, self.algorithm, self.nbytes, self.group, name)

    def run(self, rank: int) -> Generator[Any, Any, None]:
        self.record.entries[rank] = int(self.env.now)
        yield from self._run(rank)
        self.record.exits[rank] = int(self.env.now)

    def _run(self, rank: int) -> Generator[Any, Any, None]:  # pragma: no cover - abstract
        raise NotImplementedError
        yield


def _steps(kind: str, n: int) -> int:
    return 2 * (n - 1) if kind == "all_reduce" else n - 1


class RingCollective(Collective):
    """Ring all-reduce / reduce-scatter / all-gather over the group in rank order."""

    algorithm = "ring"

    def __init__(self, net: Network, kind: str, group: Sequence[int], nbytes: int, name: str = "") -> None:
        super().__init__(net, kind, group, nbytes, name)
        n = len(self.group)
        self.chunk = -(-self.nbytes // n) if n else 0
        self.nsteps = _steps(kind, n)
        self.recv = [[self.env.event() for _ in range(self.nsteps)] for _ in range(n)]

    def _run(self, rank: int) -> Generator[Any, Any, None]:
        n = len(self.group)
        if n <= 1:
            return
        nxt = (rank + 1) % n
        me, to = self.group[rank], self.group[nxt]
        for k in range(self.nsteps):
            if k:
                ev = self.recv[rank][k - 1]
                if not ev.triggered:
                    yield ev
            yield from self.net.transfer(me, to, self.chunk)
            self.recv[nxt][k].succeed()
        last = self.recv[rank][self.nsteps - 1]
        if not last.triggered:
            yield last


class DirectCollective(Collective):
    """Direct (fully connected): each phase sends a chunk to every peer at once."""

    algorithm = "direct"

    def __init__(self, net: Network, kind: str, group: Sequence[int], nbytes: int, name: str = "") -> None:
        super().__init__(net, kind, group, nbytes, name)
        n = len(self.group)
        self.chunk = -(-self.nbytes // n) if n else 0
        self.phases = 2 if kind == "all_reduce" else 1
        # got[phase][rank]: chunks received so far, and an event when all n-1 are in
        self.got = [[0] * n for _ in range(self.phases)]
        self.full = [[self.env.event() for _ in range(n)] for _ in range(self.phases)]

    def _send(self, phase: int, src: int, dst: int) -> Generator[Any, Any, None]:
        yield from self.net.transfer(self.group[src], self.group[dst], self.chunk)
        self.got[phase][dst] += 1
        if self.got[phase][dst] == len(self.group) - 1:
            self.full[phase][dst].succeed()

    def _run(self, rank: int) -> Generator[Any, Any, None]:
        n = len(self.group)
        if n <= 1:
            return
        env = self.env
        for ph in range(self.phases):
            sends = [env.process(self._send(ph, rank, p)) for p in range(n) if p != rank]
            yield env.all_of(sends)
            ev = self.full[ph][rank]
            if not ev.triggered:
                yield ev


class TorusCollective(Collective):
    """All-reduce, reduce-scatter or all-gather over a whole X x Y torus by dimension-ordered
    rings: reduce-scatter along X (over S) then along Y (over S/X); all-gather along Y then X;
    an all-reduce does both."""

    algorithm = "torus2d"

    def __init__(self, net: Network, kind: str, group: Sequence[int], nbytes: int, name: str = "") -> None:
        super().__init__(net, kind, group, nbytes, name)
        assert net.ic.dims is not None
        nx, ny = net.ic.dims
        self.nx, self.ny = nx, ny
        g = self.group
        rows = [[g[y * nx + x] for x in range(nx)] for y in range(ny)]
        cols = [[g[y * nx + x] for y in range(ny)] for x in range(nx)]
        sx = self.nbytes
        sy = -(-self.nbytes // nx)
        rs = [("x", [RingCollective(net, "reduce_scatter", r, sx) for r in rows]),
              ("y", [RingCollective(net, "reduce_scatter", c, sy) for c in cols])]
        ag = [("y", [RingCollective(net, "all_gather", c, sy) for c in cols]),
              ("x", [RingCollective(net, "all_gather", r, sx) for r in rows])]
        self.phases = {"all_reduce": rs + ag, "reduce_scatter": rs, "all_gather": ag}[kind]

    def _run(self, rank: int) -> Generator[Any, Any, None]:
        x, y = rank % self.nx, rank // self.nx
        for dim, rings in self.phases:
            if dim == "x":
                yield from rings[y].run(x)
            else:
                yield from rings[x].run(y)


class PointToPoint(Collective):
    """One send from rank 0 of the group to rank 1."""

    algorithm = "p2p"

    def __init__(self, net: Network, kind: str, group: Sequence[int], nbytes: int, name: str = "") -> None:
        super().__init__(net, kind, group, nbytes, name)
        self.arrived = self.env.event()

    def _run(self, rank: int) -> Generator[Any, Any, None]:
        if rank == 0:
            yield from self.net.transfer(self.group[0], self.group[1], self.nbytes)
            self.arrived.succeed()
        elif not self.arrived.triggered:
            yield self.arrived


def make_collective(net: Network, kind: str, group: Sequence[int], nbytes: int, name: str = "") -> Collective:
    """The collective the simulation runs for ``kind`` over ``group`` on ``net``'s topology
    (the same choice :func:`accelsim.model.collectives.collective_s` bounds)."""
    if kind == "p2p":
        return PointToPoint(net, kind, group, nbytes, name)
    ic = net.ic
    if ic.topology == "fully_connected":
        return DirectCollective(net, kind, group, nbytes, name)
    if ic.topology == "torus2d" and len(group) == ic.chips and list(group) == list(range(ic.chips)):
        return TorusCollective(net, kind, group, nbytes, name)
    return RingCollective(net, kind, group, nbytes, name)


class MirrorCollective(Collective):
    """One chip's view of a collective whose every chip does the same at the same time (a TP group
    that is the whole ring, torus or fully connected system, every chip running the same program):
    only this chip's transfers are simulated; what it receives in a step arrives when its own send
    of that step does, by symmetry (``simulate_system``'s ``symmetric`` mode)."""

    def __init__(self, net: Network, kind: str, group: Sequence[int], nbytes: int, name: str = "") -> None:
        super().__init__(net, kind, group, nbytes, name)
        ic = net.ic
        n = len(self.group)
        self.chunk = -(-self.nbytes // n) if n else 0
        if ic.topology == "fully_connected":
            self.algorithm = "direct"
        elif ic.topology == "torus2d" and n == ic.chips:
            self.algorithm = "torus2d"
        else:
            self.algorithm = "ring"
        self.record.algorithm = self.algorithm

    def _ring(self, members: Sequence[int], rank: int, steps: int, chunk: int) -> Generator[Any, Any, None]:
        me, to = members[rank], members[(rank + 1) % len(members)]
        for _ in range(steps):
            yield from self.net.transfer(me, to, chunk)

    def _run(self, rank: int) -> Generator[Any, Any, None]:
        n = len(self.group)
        if n <= 1:
            return
        env = self.env
        kind = self.kind
        if self.algorithm == "direct":
            for _ in range(2 if kind == "all_reduce" else 1):
                sends = [env.process(self.net.transfer(self.group[rank], self.group[p], self.chunk))
                         for p in range(n) if p != rank]
                yield env.all_of(sends)
        elif self.algorithm == "torus2d":
            assert self.net.ic.dims is not None
            nx, ny = self.net.ic.dims
            g = self.group
            x, y = rank % nx, rank // nx
            row = [g[y * nx + i] for i in range(nx)]
            col = [g[j * nx + x] for j in range(ny)]
            sx, sy = self.nbytes, -(-self.nbytes // nx)
            rs = [(row, x, nx - 1, -(-sx // nx)), (col, y, ny - 1, -(-sy // ny))]
            phases = {"all_reduce": rs + rs[::-1], "reduce_scatter": rs, "all_gather": rs[::-1]}[kind]
            for members, r, steps, chunk in phases:
                if steps:
                    yield from self._ring(members, r, steps, chunk)
        else:
            yield from self._ring(self.group, rank, _steps(kind, n), self.chunk)


def symmetric_group(ic: Interconnect, group: Sequence[int]) -> bool:
    """Does every chip of ``group`` see the same collective timing on ``ic``? (The whole system
    as a ring or torus in chip order, or any group of a fully connected system.)"""
    g = list(group)
    if ic.topology == "fully_connected":
        return True
    return g == list(range(ic.chips))
