"""The lean SimPy primitives (accelsim/sim/lean.py) and the callback-driven DMA moves
(accelsim/sim/dma.py) against stock SimPy, on random scenarios crowded with same-cycle events.

Each scenario runs twice, once on SimPy's own ``Environment`` / ``Resource`` / ``Process`` /
``all_of`` and once on the lean versions, and logs every step a process takes, with its cycle;
the logs must be identical (same steps, same cycles, same order), which is what the engine's
timing depends on. The lean runs leave dead release events out (``LeanEnvironment.elided``) and
schedule some of them back when a request queues: both paths are exercised here.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from typing import Any

import pytest
import simpy

from accelsim.mapping.program import Transfer
from accelsim.sim.dma import DmaEngines
from accelsim.sim.dram import Dram
from accelsim.sim.lean import LeanEnvironment, LeanResource, Task, fire
from accelsim.sim.sram import Sram
from accelsim.sim.stats import Stats
from builders import make_arch

Log = list[tuple[int, int, str]]


def _delay(rng: random.Random) -> int:
    return rng.choice((0, 0, 0, 1, 2, 3))  # mostly 0: many events in one cycle


def _resource_scenario(seed: int, lean: bool) -> Log:
    """Processes that take and release slots of a few small resources (``with`` and explicit
    releases, zero-length holds, waits), spawning short-lived helper processes."""
    rng = random.Random(seed)
    env = LeanEnvironment() if lean else simpy.Environment()
    make: Callable[..., Any] = LeanResource if lean else simpy.Resource
    res = [make(env, capacity=rng.randint(1, 3)) for _ in range(3)]
    log: Log = []

    def helper(pid: int, r: Any, hold: int) -> Generator[Any, Any, None]:
        with r.request() as req:
            yield req
            log.append((int(env.now), pid, "helper got"))
            if hold:
                yield env.timeout(hold)
        log.append((int(env.now), pid, "helper done"))

    def proc(pid: int, steps: list[tuple[int, int, int, int, bool]]) -> Generator[Any, Any, None]:
        for k, (wait, a, b, hold, spawn) in enumerate(steps):
            if wait:
                yield env.timeout(wait)
            req = res[a].request()
            yield req
            log.append((int(env.now), pid, f"{k} got {a}"))
            with res[b].request() as inner:
                yield inner
                log.append((int(env.now), pid, f"{k} got {b}"))
                if hold:
                    yield env.timeout(hold)
            res[a].release(req)
            log.append((int(env.now), pid, f"{k} released"))
            if spawn:
                h = helper(100 * pid + k, res[rng.randrange(3)], _delay(rng))
                if lean:
                    Task(env, h)
                else:
                    env.process(h)

    for pid in range(rng.randint(2, 6)):
        steps = [(_delay(rng), rng.randrange(3), rng.randrange(3), _delay(rng), rng.random() < 0.3)
                 for _ in range(rng.randint(1, 6))]
        env.process(proc(pid, steps))
    env.run()
    return log


def test_lean_resource_and_task_schedule_like_simpy(monkeypatch: pytest.MonkeyPatch) -> None:
    restored = []
    real = LeanResource._restore
    monkeypatch.setattr(LeanResource, "_restore", lambda self: (restored.append(len(self._elided)), real(self)))
    for seed in range(300):
        stock = _resource_scenario(seed, lean=False)
        assert stock, seed
        assert _resource_scenario(seed, lean=True) == stock, f"scenario {seed}"
    assert sum(restored) > 20  # left-out releases were scheduled back, and the logs still agree


def _restore_scenario(lean: bool) -> Log:
    """A release that finds nobody queueing (left out), then a request that queues before its
    turn (it is scheduled back) and a second release before that turn: the left-out release is
    the one that grants the queued request, ahead of an event another process scheduled."""
    env = LeanEnvironment() if lean else simpy.Environment()
    res: Any = LeanResource(env, capacity=2) if lean else simpy.Resource(env, capacity=2)
    log: Log = []

    def holder(name: str) -> Generator[Any, Any, None]:
        req = res.request()  # granted at once (a free slot)
        yield env.timeout(5)
        res.release(req)
        log.append((int(env.now), 0, f"{name} released"))

    def late(name: str, then_zero: bool) -> Generator[Any, Any, None]:
        yield env.timeout(5)
        with res.request() as req:
            yield req
            log.append((int(env.now), 1, f"{name} got"))
            if then_zero:
                yield env.timeout(0)
                log.append((int(env.now), 1, f"{name} after 0"))

    env.process(holder("A"))  # its release at 5 comes first, with nobody queueing
    env.process(late("C", True))  # takes A's slot at once
    env.process(late("D", False))  # queues (B still holds the other slot)
    env.process(holder("B"))  # releases before A's release event's turn
    env.run()
    return log


def test_a_left_out_release_is_scheduled_back_when_a_request_queues() -> None:
    stock = _restore_scenario(lean=False)
    assert [m for _, _, m in stock] == ["A released", "B released", "C got", "D got", "C after 0"]
    assert _restore_scenario(lean=True) == stock


def test_dead_releases_are_left_out() -> None:
    env = LeanEnvironment()
    res = LeanResource(env, capacity=1)
    log: list[int] = []

    def user(wait: int) -> Generator[Any, Any, None]:
        yield env.timeout(wait)
        with res.request() as req:
            yield req
            yield env.timeout(2)
        log.append(int(env.now))

    for w in (0, 5, 10):  # never overlapping: nobody ever queues
        env.process(user(w))
    env.run()
    assert log == [2, 7, 12] and env.elided == 3


def _fire_scenario(seed: int, lean: bool) -> Log:
    """Events fired at random cycles; waiters check ``triggered`` before yielding (as the
    engine's do) and sometimes arrive before, sometimes after the event fires."""
    rng = random.Random(seed)
    env = LeanEnvironment() if lean else simpy.Environment()
    evs = [env.event() for _ in range(4)]
    log: Log = []

    def firer(i: int, wait: int) -> Generator[Any, Any, None]:
        yield env.timeout(wait)
        log.append((int(env.now), i, "fire"))
        if lean:
            fire(evs[i])
        else:
            evs[i].succeed()

    def waiter(pid: int, i: int, wait: int) -> Generator[Any, Any, None]:
        if wait:
            yield env.timeout(wait)
        if not evs[i].triggered:
            yield evs[i]
        log.append((int(env.now), pid, f"saw {i}"))

    for i in range(4):
        env.process(firer(i, _delay(rng)))
    for pid in range(rng.randint(0, 6)):
        env.process(waiter(10 + pid, rng.randrange(4), _delay(rng)))
    env.run()
    assert all(e.triggered for e in evs)
    return log


def test_fire_matches_succeed() -> None:
    for seed in range(200):
        assert _fire_scenario(seed, lean=True) == _fire_scenario(seed, lean=False), f"scenario {seed}"


def _dma_scenario(seed: int, lean: bool) -> tuple[Log, Any, Any, Any]:
    """Tiles that each move 1-3 transfers at random cycles through a small DMA pool over few
    DRAM channels and SRAM banks (queueing everywhere); stock: one process per transfer joined
    by ``all_of`` (the engine before), lean: :meth:`DmaEngines.move`."""
    rng = random.Random(seed)
    arch = make_arch(**{"controller.dma.engines": rng.randint(1, 3), "dram.channels": rng.randint(1, 3),
                        "controller.dma.max_burst_bytes": rng.choice((256, 1024, 4096)),
                        "controller.dma.setup_cycles": rng.choice((0, 4, 16))})
    env = LeanEnvironment() if lean else simpy.Environment()
    stats = Stats()
    dram, sram = Dram(arch), Sram(arch)
    dma = DmaEngines(env, arch, dram, sram, stats)
    log: Log = []
    parts = ("inputs", "weights", "outputs")

    def tile(pid: int, wait: int, trs: list[Transfer]) -> Generator[Any, Any, None]:
        if wait:
            yield env.timeout(wait)
        if lean:
            yield dma.move(trs)
        else:
            procs = [env.process(dma.transfer(t, t.banks)) for t in trs]
            yield procs[0] if len(procs) == 1 else env.all_of(procs)
        log.append((int(env.now), pid, "moved"))

    for pid in range(rng.randint(1, 8)):
        trs = [Transfer(f"t{pid}.{k}", rng.choice((64, 1000, 4096, 10000)), rng.choice(parts),
                        rng.choice(("load", "store")), rng.choice(((0, 0), (0, 1), (1, 2))))
               for k in range(rng.randint(1, 3))]
        env.process(tile(pid, _delay(rng), trs))
    env.run()
    return log, dma.intervals, dram.intervals, (stats, dram.busy_cycles, [p.free_at for p in sram.parts.values()])


def test_dma_move_matches_one_process_per_transfer() -> None:
    for seed in range(200):
        assert _dma_scenario(seed, lean=True) == _dma_scenario(seed, lean=False), f"scenario {seed}"
