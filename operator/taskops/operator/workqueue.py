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
    """Open while nobody holds it: `with gate:` holds it, `await gate.wait_open()` waits until it is released.

    With `at_most`, it holds its waiters only through the first `at_most` seconds of a busy period: a period starts
    when the gate is taken after it has been free for `at_most` seconds, and a shorter pause continues it. So a
    burst that follows a quiet time (a thousand fires due at :00) goes first, and a stream of fires every second
    of the minute, which holds the gate nearly all the time with short pauses, does not starve the waiters: past
    its first `at_most` seconds they pass as if it were open. (Bounding each wait instead left every waiter
    `at_most` seconds per pass: the Run reconciler did 16 reconciles every 2 s against 83 fires a second.)
    Timed on the `clock` it is given; it decides nothing but when a waiter may go on."""

    def __init__(self, at_most: float | None = None, clock: Clock = SYSTEM) -> None:
        self.at_most = at_most
        self.clock = clock
        self._holders = 0
        # Set while a waiter may pass: the gate is free, or its busy period is past `at_most`.
        self._pass = asyncio.Event()
        self._pass.set()
        self._busy_since: float | None = None
        self._freed_at: float | None = None
        self._timer: Timer | None = None

    def __enter__(self) -> Gate:
        self._holders += 1
        if self._holders == 1:
            self._taken()
        return self

    def _taken(self) -> None:
        if self.at_most is None:
            self._pass.clear()
            return
        now = self.clock.monotonic()
        if self._busy_since is None or self._freed_at is None or now - self._freed_at >= self.at_most:
            self._busy_since = now  # after a quiet time: a new busy period, whose first at_most seconds are fires'
        left = self._busy_since + self.at_most - now
        if left > 0:
            self._pass.clear()
            self._timer = self.clock.call_later(left, self._pass.set)

    def __exit__(self, *exc: object) -> None:
        self._holders -= 1
        if self._holders == 0:
            self._freed_at = self.clock.monotonic()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._pass.set()

    async def wait_open(self) -> None:
        await self._pass.wait()
