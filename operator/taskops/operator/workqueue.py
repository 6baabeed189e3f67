"""A work queue of Run keys with client-go semantics.

A key is queued at most once; a key being processed is never handed to a
second worker, and a key added meanwhile is processed again afterwards.
Delayed adds replace sleeping coroutines: nothing waits in a handler. Timers run
on the clock the queue is given (domain/resources/clock.py), so a test steps them with a
fake clock.

Bounded: a key is held at most once, queued or on a timer (never both for long:
a timer that fires adds the key, which dedupes), so the queue never holds more
entries than there are keys, that is objects in the caches.

Instrumented as client-go's queues are (`taskops_workqueue_*`, docs/operating.md): depth, keys being
processed, the time from a key's add to a worker taking it, and the time a worker holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Hashable

from taskops.domain.resources.clock import SYSTEM, Clock, Timer
from taskops.operator import metrics


class WorkQueue:
    def __init__(self, clock: Clock = SYSTEM, name: str = "") -> None:
        """`name`: the `queue` label of its metrics."""
        self.clock = clock
        self.name = name
        self._depth = metrics.WORKQUEUE_DEPTH.labels(name)
        self._busy = metrics.WORKQUEUE_ACTIVE.labels(name)
        self._wait = metrics.WORKQUEUE_WAIT.labels(name)
        self._work = metrics.WORKQUEUE_WORK.labels(name)
        # When each queued key was added, and when each active key was taken (monotonic): the metrics' durations.
        self._since: dict[Hashable, float] = {}
        self._queue: asyncio.Queue[Hashable] = asyncio.Queue()
        self._queued: set[Hashable] = set()
        self._active: set[Hashable] = set()
        self._again: set[Hashable] = set()
        # A key's pending timer and when it fires (the clock's monotonic time).
        self._timers: dict[Hashable, tuple[float, Timer]] = {}

    def add(self, key: Hashable) -> None:
        if key in self._active:
            self._again.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._since[key] = self.clock.monotonic()
            self._queue.put_nowait(key)
            self._depth.set(len(self._queued))

    def add_after(self, key: Hashable, delay: float) -> None:
        """Queue `key` after `delay` seconds; an earlier pending timer for it wins."""
        if delay <= 0:
            self.add(key)
            return
        existing = self._timers.get(key)
        due = self.clock.monotonic() + delay
        if existing is not None and existing[0] <= due:
            return
        if existing is not None:
            existing[1].cancel()
        self._timers[key] = (due, self.clock.call_later(delay, lambda: self._fire(key)))

    def _fire(self, key: Hashable) -> None:
        self._timers.pop(key, None)
        self.add(key)

    async def get(self) -> Hashable:
        key = await self._queue.get()
        self._queued.discard(key)
        self._active.add(key)
        now = self.clock.monotonic()
        self._wait.observe(now - self._since.pop(key, now))
        self._since[key] = now
        self._depth.set(len(self._queued))
        self._busy.set(len(self._active))
        return key

    def done(self, key: Hashable) -> None:
        self._active.discard(key)
        now = self.clock.monotonic()
        self._work.observe(now - self._since.pop(key, now))
        self._busy.set(len(self._active))
        if key in self._again:
            self._again.discard(key)
            self.add(key)

    def __len__(self) -> int:
        return len(self._queued)

    def waiting(self) -> int:
        """Keys on a timer (a delayed add not yet due)."""
        return len(self._timers)


class Gate:
    """Open while nobody holds it: `with gate:` holds it, `await gate.wait_open()` waits until released, or for
    `at_most` seconds: a gate held without a pause (fires every second of the minute) must not starve the
    waiters. That bound is timed by the event loop, not the Clock: it only limits a wait, it decides nothing."""

    def __init__(self, at_most: float | None = None) -> None:
        self.at_most = at_most
        self._holders = 0
        self._open = asyncio.Event()
        self._open.set()

    def __enter__(self) -> Gate:
        self._holders += 1
        self._open.clear()
        return self

    def __exit__(self, *exc: object) -> None:
        self._holders -= 1
        if self._holders == 0:
            self._open.set()

    async def wait_open(self) -> None:
        if self.at_most is None:
            await self._open.wait()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._open.wait(), self.at_most)
