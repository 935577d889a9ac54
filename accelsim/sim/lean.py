"""Lean SimPy primitives for the engine's hot paths: the same events in the same order as
SimPy's own, with less Python per event.

The engine's results depend on the order in which SimPy processes same-cycle events: who gets a
DMA engine, a DRAM channel or a unit first. The classes here reproduce SimPy 4's scheduling
exactly (the hottest paths push onto SimPy's queue themselves, as ``Environment.schedule``
does): every event that has an effect is scheduled at the same point, with the same time and
priority, so it gets the same place in SimPy's queue (time, priority, insertion order) as the
stock primitive's event would. Only *dead* events — ones whose processing runs no callback —
are left out; leaving one out shifts later insertion numbers by one but changes no relative
order, so no timing can change (``tests/sim/test_engine_pinned.py`` pins the cycles and every
counter of several programs to values recorded with the stock primitives).

* :class:`LeanEnvironment` — ``simpy.Environment`` with SimPy's step inlined in ``run()``.
* :class:`LeanResource` — ``simpy.Resource`` semantics: ``request()`` (an event, and a context
  manager that releases on exit), ``release(req)``; FIFO; a request is granted when it is
  created if a slot is free and it heads the queue, else when a release is *processed*
  (SimPy grants at most one queued request per trigger, and so does this).
  It skips SimPy's no-op ``_trigger_get`` callback on every request.
* :class:`Task` — runs a process generator like ``simpy.Process`` (started by an urgent
  initialisation event, as SimPy does, or at once where the caller knows nothing would run
  before that event), but schedules no completion event: for processes nobody waits for (one
  per tile), that event is dead.
* :func:`fire` — ``event.succeed()``, or, when no callback waits on the event, mark it
  triggered and processed without scheduling it (a dead event). Only for events whose waiters
  check ``triggered`` before yielding (a later ``yield`` of a fired event continues at once).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from functools import partial
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any

import simpy
from simpy.core import StopSimulation
from simpy.events import NORMAL, PENDING, URGENT, Event, EventPriority

if TYPE_CHECKING:
    class CycleEnvironment(simpy.Environment):
        """The engine's view of a SimPy environment, for the type checker only: it starts at cycle
        0 and every delay is a whole number of cycles, so ``now`` is an ``int`` (SimPy types it
        ``int | float``). At run time this name is ``simpy.Environment`` itself."""

        @property
        def now(self) -> int: ...
else:
    CycleEnvironment = simpy.Environment


class LeanEnvironment(CycleEnvironment):
    """``simpy.Environment`` whose ``run()`` (without ``until``) steps through the event queue
    in one loop instead of a ``step()`` call per event; each step is SimPy's own: pop the
    earliest (time, priority, insertion) entry, run its callbacks, raise a failure nobody
    defused."""

    def __init__(self, initial_time: int = 0) -> None:
        super().__init__(initial_time)
        #: queue entry ``(time, priority, id, event)`` being processed by ``run()``; None outside
        self.key: tuple[Any, ...] | None = None
        #: release events a :class:`LeanResource` found dead and never scheduled (their ids taken)
        self.elided = 0

    def run(self, until: Any = None) -> Any:
        if until is not None:
            return super().run(until)
        queue = self._queue
        pop = heappop
        try:
            while queue:
                self.key = entry = pop(queue)
                self._now = entry[0]
                event = entry[3]
                # SimPy types callbacks as a list but marks a processed event with None (as its step does)
                callbacks, event.callbacks = event.callbacks, None  # type: ignore[assignment]
                try:
                    for callback in callbacks:
                        callback(event)
                except StopSimulation:  # as Environment.step: keep the callbacks not yet run
                    event.callbacks = callbacks[callbacks.index(callback) + 1:]
                    self.schedule(event, EventPriority(-1))
                    raise
                if not event._ok and not hasattr(event, "_defused"):
                    exc = type(event._value)(*event._value.args)
                    exc.__cause__ = event._value
                    raise exc
        except StopSimulation as exc:
            return exc.args[0]
        finally:
            self.key = None
        return None


class LeanRequest(Event):
    """A usage request of a :class:`LeanResource` (yield it; leave its ``with`` to release)."""

    def __init__(self, resource: LeanResource) -> None:
        # Event.__init__ inlined, as SimPy's own hot events do.
        self.env = env = resource.env
        self.callbacks = []
        self.resource = resource
        q = resource.queue
        # SimPy's _trigger_put: append, then grant the head of the queue if a slot is free.
        if len(resource.users) < resource.capacity:
            if q:  # an older request heads the queue: it is granted, this one waits
                q.append(self)
                head = q.pop(0)
            else:
                head = self
            resource.users.append(head)
            head._ok = True
            head._value = None
            heappush(env._queue, (env._now, NORMAL, next(env._eid), head))  # env.schedule(head), inlined
        else:
            if resource._elided:  # the queue was empty: releases left out may be live now
                resource._restore()
            q.append(self)

    def __enter__(self) -> LeanRequest:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        res = self.resource
        if self._value is PENDING:  # cancel a request never granted
            res.queue.remove(self)
        if exc_type is not GeneratorExit:
            res.release(self)


_new_event = Event.__new__


class LeanResource:
    """``simpy.Resource(env, capacity)`` with the same events and grant order, cheaper."""

    def __init__(self, env: simpy.Environment, capacity: int = 1) -> None:
        if capacity <= 0:
            raise ValueError('"capacity" must be > 0.')
        self.env = env
        self.capacity = capacity
        self.users: list[LeanRequest] = []
        self.queue: list[LeanRequest] = []
        self._on_release = self._grant  # one bound method for every release event
        # release events left out as dead, still ahead of the event being processed (see
        # release()): their queue keys (time, priority, id)
        self._elided: list[tuple[Any, ...]] = []
        self._lean = isinstance(env, LeanEnvironment)
        #: ``request()``: a new :class:`LeanRequest` (granted now if a slot is free and it heads
        #: the queue); a partial, one Python call less than a method
        self.request: Callable[[], LeanRequest] = partial(LeanRequest, self)

    @property
    def count(self) -> int:
        """Number of users holding a slot now."""
        return len(self.users)

    def release(self, request: LeanRequest) -> Event | None:
        """Free ``request``'s slot now; the head of the queue is granted when the release
        event (SimPy's ``Release``, returned) is processed.

        On a :class:`LeanEnvironment`, a release made while nobody queues is not scheduled
        (None is returned) unless a request queues before its turn would have come. It takes
        its place in SimPy's order all the same (its queue key is reserved), and is scheduled
        at that key by the first request that queues while the key is still ahead of the event
        being processed. A release never scheduled would have found the queue empty when its
        turn came (else the request that filled the queue scheduled it), so it would have done
        nothing: leaving it out changes no other event's time or order."""
        try:
            self.users.remove(request)
        except ValueError:
            pass
        env = self.env
        if self._lean and not self.queue:
            cur = env.key  # type: ignore[attr-defined]
            if cur is not None:
                el = self._elided
                if el and el[0] < cur:  # their turn has passed: dead for good
                    el[:] = [k for k in el if k > cur]
                el.append((env._now, NORMAL, next(env._eid)))
                env.elided += 1  # type: ignore[attr-defined]
                return None
        ev = _new_event(Event)  # Event.__init__ inlined
        ev.env = env
        ev.callbacks = [self._on_release]
        ev._ok = True
        ev._value = None
        heappush(env._queue, (env._now, NORMAL, next(env._eid), ev))  # env.schedule(ev), inlined
        return ev

    def _restore(self) -> None:
        """A request is about to queue: schedule the left-out releases whose turn is still to
        come, at their reserved keys (each may grant it)."""
        env = self.env
        cur = env.key  # type: ignore[attr-defined]
        for key in self._elided:
            if cur is None or key > cur:
                ev = _new_event(Event)
                ev.env = env
                ev.callbacks = [self._on_release]
                ev._ok = True
                ev._value = None
                heappush(env._queue, (*key, ev))
                env.elided -= 1  # type: ignore[attr-defined]
        self._elided.clear()

    def _grant(self, _event: Event) -> None:
        q = self.queue
        if q and len(self.users) < self.capacity:
            head = q.pop(0)
            self.users.append(head)
            head._ok = True
            head._value = None
            self.env.schedule(head)


class Task:
    """Drive a process generator as ``simpy.Process`` does, without a completion event
    (nothing can wait for a Task). Exceptions propagate out of ``env.run``."""

    __slots__ = ("_send", "_throw")

    def __init__(self, env: simpy.Environment, generator: Generator[Any, Any, Any], now: bool = False) -> None:
        """Start ``generator`` from an urgent event at the current cycle (SimPy's
        ``Initialize``), or with ``now`` run its first step at once — for a caller that knows
        no other event would run before that urgent one."""
        # (no bound method kept on self: that would be a reference cycle, garbage for the GC)
        self._send = generator.send
        self._throw = generator.throw
        if now:
            self._resume(_STARTED)
            return
        init = Event(env)
        init.callbacks.append(self._resume)
        init._ok = True
        init._value = None
        env.schedule(init, URGENT)

    def _resume(self, event: Event) -> None:
        send = self._send
        while True:
            try:
                if event._ok:
                    event = send(event._value)
                else:
                    event._defused = True  # type: ignore[attr-defined]
                    event = self._throw(event._value)
            except StopIteration:
                return
            cbs = event.callbacks
            if cbs is not None:  # not processed yet: wait for it
                cbs.append(self._resume)
                return


class _Started:
    """What a generator is sent to start it (an event that succeeded with ``None``)."""

    _ok = True
    _value = None


_STARTED: Any = _Started()


def fire(event: Event) -> None:
    """Trigger ``event``; schedule it only when a callback waits on it (else it is dead)."""
    if event.callbacks:
        event.succeed()
    else:
        if event._value is not PENDING:
            raise RuntimeError(f"{event} has already been triggered")
        event._ok = True
        event._value = None
        event.callbacks = None  # type: ignore[assignment]  # processed (SimPy types callbacks as a list)


__all__ = ["CycleEnvironment", "LeanEnvironment", "LeanRequest", "LeanResource", "Task", "fire", "NORMAL", "URGENT"]
