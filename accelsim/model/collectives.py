"""Collective communication and pipeline formulas for a system of chips (pure; no SimPy).

Notation: ``S`` bytes (the whole tensor: the all-reduce's input on every chip, the all-gather's
output), ``n`` chips in the group, ``B`` the bandwidth of one *channel* (all the links from a chip
to one neighbour, one direction; bytes/s), ``a`` the latency of one hop (s).

* **Ring all-reduce** (Patarasuk and Yuan, "Bandwidth optimal all-reduce algorithms for
  clusters of workstations", JPDC 69(2), 2009): a reduce-scatter then an all-gather, ``n - 1``
  steps each; in every step each chip sends one ``S/n`` chunk to its successor:
  ``2 (n-1)/n * S/B + 2 (n-1) a``. Ring **reduce-scatter** and **all-gather** are one half each:
  ``(n-1)/n * S/B + (n-1) a``.
* **Direct** (fully connected; "two-shot": every chip sends chunk ``j`` of its data straight to
  chip ``j``, then chip ``j`` sends the reduced chunk to everyone): every chip sends its ``n - 1``
  chunks at once, one per peer channel: reduce-scatter ``S/n / B + a``, all-gather the same,
  all-reduce ``2 (S/n / B + a)``.
* **2-D torus** (X x Y chips; dimension-ordered rings, as TPU pods run them: reduce-scatter along
  X over ``S``, along Y over ``S/X``, then all-gather along Y and along X):
  ``2 (n-1)/n * S/B + 2 (X-1 + Y-1) a`` (the bandwidth term of one ring over all ``n`` chips,
  since ``(X-1)/X + (Y-1)/(X Y) = (n-1)/n``; far fewer latency terms).
* **Point-to-point** over ``h`` hops, cut-through: ``S/B + h a``.
* **GPipe** (Huang et al., NeurIPS 2019): ``p`` stages, ``m`` micro-batches, stage times
  ``t_s``: the last micro-batch leaves the last stage at ``sum(t_s) + (m-1) max(t_s)``; with
  balanced stages a fraction ``(p-1)/(m+p-1)`` of every chip's time is bubble.

These are lower bounds for the simulation (:mod:`accelsim.sim.link`), which rounds every step up
to whole cycles, waits for the slowest chip of a group and serialises transfers that share a
channel: it never beats them (``tests/model/test_collectives.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

CollectiveKind = Literal["all_reduce", "all_gather", "reduce_scatter", "p2p"]
Topology = Literal["ring", "fully_connected", "torus2d"]

__all__ = [
    "Interconnect",
    "resolve_interconnect",
    "ring_allreduce_s",
    "ring_allgather_s",
    "ring_reduce_scatter_s",
    "direct_allreduce_s",
    "direct_allgather_s",
    "direct_reduce_scatter_s",
    "torus2d_allreduce_s",
    "p2p_s",
    "collective_s",
    "gpipe_s",
    "pipeline_bubble",
    "torus_dims",
]


def _check(nbytes: float, n: int, bandwidth: float, latency: float) -> None:
    if n < 1:
        raise ValueError(f"a collective over {n} chips")
    if nbytes < 0 or not math.isfinite(nbytes):
        raise ValueError(f"a collective of {nbytes} bytes")
    if bandwidth <= 0 or not math.isfinite(bandwidth):
        raise ValueError(f"channel bandwidth must be > 0 bytes/s, got {bandwidth}")
    if latency < 0 or not math.isfinite(latency):
        raise ValueError(f"hop latency must be >= 0 s, got {latency}")


def ring_allreduce_s(nbytes: float, n: int, bandwidth: float, latency: float) -> float:
    """Ring all-reduce of ``nbytes`` over ``n`` chips (s): ``2 (n-1)/n * S/B + 2 (n-1) a``."""
    _check(nbytes, n, bandwidth, latency)
    if n == 1:
        return 0.0
    return 2 * (n - 1) / n * nbytes / bandwidth + 2 * (n - 1) * latency


def ring_reduce_scatter_s(nbytes: float, n: int, bandwidth: float, latency: float) -> float:
    """Ring reduce-scatter of an ``nbytes`` input (s): ``(n-1)/n * S/B + (n-1) a``."""
    _check(nbytes, n, bandwidth, latency)
    if n == 1:
        return 0.0
    return (n - 1) / n * nbytes / bandwidth + (n - 1) * latency


def ring_allgather_s(nbytes: float, n: int, bandwidth: float, latency: float) -> float:
    """Ring all-gather of an ``nbytes`` result (s): ``(n-1)/n * S/B + (n-1) a``."""
    return ring_reduce_scatter_s(nbytes, n, bandwidth, latency)


def direct_reduce_scatter_s(nbytes: float, n: int, bandwidth: float, latency: float) -> float:
    """Direct (fully connected) reduce-scatter (s): every chip sends its ``n - 1`` chunks of
    ``S/n`` at once, one per peer channel of ``bandwidth``: ``S/n / B + a``."""
    _check(nbytes, n, bandwidth, latency)
    if n == 1:
        return 0.0
    return nbytes / n / bandwidth + latency


def direct_allgather_s(nbytes: float, n: int, bandwidth: float, latency: float) -> float:
    """Direct all-gather of an ``nbytes`` result (s): ``S/n / B + a``."""
    return direct_reduce_scatter_s(nbytes, n, bandwidth, latency)


def direct_allreduce_s(nbytes: float, n: int, bandwidth: float, latency: float) -> float:
    """Direct (two-shot) all-reduce (s): a direct reduce-scatter then a direct all-gather,
    ``2 (S/n / B + a)``."""
    return 2 * direct_reduce_scatter_s(nbytes, n, bandwidth, latency)


def torus2d_allreduce_s(nbytes: float, nx: int, ny: int, bandwidth: float, latency: float,
                        bandwidth_y: float | None = None) -> float:
    """All-reduce on an ``nx`` x ``ny`` torus by dimension-ordered rings (s): ring reduce-scatter
    along X over ``S``, along Y over ``S/nx``, then the two all-gathers:
    ``2 ((nx-1)/nx S/Bx + (nx-1) a + (ny-1)/ny S/(nx By) + (ny-1) a)`` (with ``Bx = By = B``:
    ``2 (n-1)/n S/B + 2 (nx-1 + ny-1) a``). ``bandwidth_y`` defaults to ``bandwidth``."""
    n = nx * ny
    by = bandwidth if bandwidth_y is None else bandwidth_y
    _check(nbytes, n, min(bandwidth, by), latency)
    if nx < 1 or ny < 1:
        raise ValueError(f"a {nx}x{ny} torus")
    if n == 1:
        return 0.0
    rs_x = (nx - 1) / nx * nbytes / bandwidth + (nx - 1) * latency
    rs_y = (ny - 1) / ny * (nbytes / nx) / by + (ny - 1) * latency
    return 2 * (rs_x + rs_y)


def p2p_s(nbytes: float, bandwidth: float, latency: float, hops: int = 1) -> float:
    """A point-to-point send over ``hops`` channels, cut-through (s): ``S/B + hops a``."""
    _check(nbytes, 1, bandwidth, latency)
    if hops < 0:
        raise ValueError(f"a send over {hops} hops")
    if hops == 0:
        return 0.0
    return nbytes / bandwidth + hops * latency


def torus_dims(chips: int) -> tuple[int, int]:
    """(X, Y) of a 2-D torus of ``chips``: X the largest divisor with X <= sqrt(chips)."""
    if chips < 1:
        raise ValueError(f"a torus of {chips} chips")
    x = max(d for d in range(1, math.isqrt(chips) + 1) if chips % d == 0)
    return x, chips // x


@dataclass(frozen=True)
class Interconnect:
    """A system's links as the simulation and the formulas use them (resolved from the spec)."""

    topology: Topology
    chips: int
    links_per_chip: int
    link_bandwidth_gbps: float  # one link, one direction (GB/s)
    latency_ns: float  # one hop
    dims: tuple[int, int] | None = None  # torus2d: (X, Y)

    @property
    def neighbours(self) -> int:
        """Distinct neighbours of a chip (channels per direction)."""
        n = self.chips
        if n == 1:
            return 0
        if self.topology == "fully_connected":
            return n - 1
        if self.topology == "ring":
            return 1 if n == 2 else 2
        assert self.dims is not None
        return sum(1 if d == 2 else 2 for d in self.dims if d > 1)

    def dim_links(self, size: int) -> int:
        """Links in one channel along a ring (or torus dimension) of ``size`` chips: the chip's
        links spread evenly over its ports (2 on a ring, 4 on a torus); when ``size`` is 2 the
        two ports of that ring lead to the same neighbour and form one channel."""
        ports = 4 if self.topology == "torus2d" else 2
        return self.links_per_chip // (ports // 2) if size == 2 else self.links_per_chip // ports

    def channel_links(self, a: int, b: int) -> int:
        """Links in the channel from chip ``a`` to its neighbour ``b``."""
        if self.topology == "fully_connected":
            return self.links_per_chip // (self.chips - 1)
        if self.topology == "ring":
            return self.dim_links(self.chips)
        assert self.dims is not None
        nx, ny = self.dims
        return self.dim_links(nx if a // nx == b // nx else ny)

    def channel_bandwidth_between(self, a: int, b: int) -> float:
        """Bandwidth of the channel ``a -> b``, one direction (bytes/s)."""
        return self.channel_links(a, b) * self.link_bandwidth_gbps * 1e9

    @property
    def links_per_neighbour(self) -> int:
        """Links in the widest channel from a chip to one neighbour."""
        n = self.chips
        if n == 1:
            return 0
        if self.topology == "torus2d":
            assert self.dims is not None
            return max(self.dim_links(d) for d in self.dims if d > 1)
        return self.channel_links(0, 1)

    @property
    def channel_bandwidth(self) -> float:
        """Bandwidth of the widest channel, one direction (bytes/s)."""
        return self.links_per_neighbour * self.link_bandwidth_gbps * 1e9

    @property
    def latency_s(self) -> float:
        return self.latency_ns * 1e-9

    def to_dict(self) -> dict[str, object]:
        return {
            "topology": self.topology,
            "chips": self.chips,
            "dims": list(self.dims) if self.dims is not None else None,
            "links_per_chip": self.links_per_chip,
            "link_bandwidth_gbps": self.link_bandwidth_gbps,
            "latency_ns": self.latency_ns,
            "neighbours": self.neighbours,
            "links_per_neighbour": self.links_per_neighbour,
            "channel_bandwidth_gbps": self.links_per_neighbour * self.link_bandwidth_gbps,
        }


def resolve_interconnect(chips: int, topology: Topology, links_per_chip: int, link_bandwidth_gbps: float,
                         latency_ns: float) -> Interconnect:
    """The interconnect of ``chips`` chips; raises ValueError when the links cannot build it."""
    dims = torus_dims(chips) if topology == "torus2d" else None
    ic = Interconnect(topology, chips, links_per_chip, link_bandwidth_gbps, latency_ns, dims)
    if chips > 1:
        if topology == "torus2d" and (dims is None or dims[0] < 2):
            raise ValueError(f"torus2d needs chips = X x Y with X, Y >= 2 (got {chips})")
        narrowest = min(ic.dim_links(d) for d in dims if d > 1) if dims else ic.links_per_neighbour
        if narrowest < 1:
            raise ValueError(f"{links_per_chip} links per chip cannot join {ic.neighbours} neighbours "
                             f"({topology}, {chips} chips)")
    return ic


def collective_s(kind: CollectiveKind, nbytes: float, group: Sequence[int], ic: Interconnect) -> float:
    """The formula (lower bound) for collective ``kind`` of ``nbytes`` over chips ``group`` on
    ``ic`` (s), with the algorithm the simulation runs there: direct on ``fully_connected``,
    dimension-ordered rings on a ``torus2d`` group that is the whole torus (reduce-scatter and
    all-gather: one half of the all-reduce each), a ring otherwise
    (over the group in its order; its hops between non-neighbours cost at least one hop each,
    so the one-hop ring formula stays a bound). ``p2p``: one hop (group = [src, dst])."""
    n = len(group)
    B, a = ic.channel_bandwidth, ic.latency_s
    if n <= 1 or nbytes == 0 and a == 0:
        return 0.0
    if kind == "p2p":
        return p2p_s(nbytes, B, a, 1)
    if ic.topology == "fully_connected":
        f = {"all_reduce": direct_allreduce_s, "all_gather": direct_allgather_s,
             "reduce_scatter": direct_reduce_scatter_s}[kind]
        return f(nbytes, n, B, a)
    if ic.topology == "torus2d" and n == ic.chips and list(group) == list(range(n)) and ic.dims is not None:
        nx, ny = ic.dims
        gb = ic.link_bandwidth_gbps * 1e9
        t = torus2d_allreduce_s(nbytes, nx, ny, ic.dim_links(nx) * gb, a, ic.dim_links(ny) * gb)
        return t if kind == "all_reduce" else t / 2  # one of its two halves
    f2 = {"all_reduce": ring_allreduce_s, "all_gather": ring_allgather_s,
          "reduce_scatter": ring_reduce_scatter_s}[kind]
    return f2(nbytes, n, B, a)  # B: the widest channel, so a bound on any ring embedding


def gpipe_s(stage_s: Sequence[float], microbatches: int) -> float:
    """GPipe's makespan of ``microbatches`` through stages taking ``stage_s`` each (s):
    ``sum(t) + (m-1) max(t)`` (no communication)."""
    if microbatches < 1 or not stage_s:
        raise ValueError("GPipe needs at least one stage and one micro-batch")
    return math.fsum(stage_s) + (microbatches - 1) * max(stage_s)


def pipeline_bubble(p: int, m: int) -> float:
    """Fraction of each chip's time idle in a GPipe schedule of ``p`` balanced stages and ``m``
    micro-batches: ``(p-1)/(m+p-1)``."""
    if p < 1 or m < 1:
        raise ValueError(f"a pipeline of {p} stages and {m} micro-batches")
    return (p - 1) / (m + p - 1)
