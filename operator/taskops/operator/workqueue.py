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
from collections import deque
from collections.abc import Hashable

from taskops.domain.resources.clock import SYSTEM, Clock, Timer
from taskops.operator import metrics


class Urgent(float):
    """A requeue delay (what a controller's sync returns) whose key goes to the front lane when it is due: a
    schedule's fire, which must not wait behind work that has time (a Run made ahead 30 s before its fire)."""


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
        # Two lanes, urgent first, each in order of adds. A key queued in both (promoted) is taken once: an entry
        # counts only when `_queued` says the key waits in that lane (stale entries are skipped).
        self._urgent: deque[Hashable] = deque()
        self._normal: deque[Hashable] = deque()
        self._ready = asyncio.Event()
        # Queued keys, and whether each waits in the urgent lane.
        self._queued: dict[Hashable, bool] = {}
        self._active: set[Hashable] = set()
        # Keys added while being processed, queued again (urgent or not) at their done().
        self._again: dict[Hashable, bool] = {}
        # A key's pending timer, when it fires (the clock's monotonic time), and whether it is urgent.
        self._timers: dict[Hashable, tuple[float, Timer, bool]] = {}

    def add(self, key: Hashable, urgent: bool = False) -> None:
        if key in self._active:
            self._again[key] = self._again.get(key, False) or urgent
            return
        queued = self._queued.get(key)
        if queued is None:
            self._since[key] = self.clock.monotonic()
        elif queued or not urgent:
            return
        self._queued[key] = urgent
        (self._urgent if urgent else self._normal).append(key)
        self._ready.set()
        self._depth.set(len(self._queued))

    def add_after(self, key: Hashable, delay: float, urgent: bool = False) -> None:
        """Queue `key` after `delay` seconds; an earlier pending timer for it wins."""
        if delay <= 0:
            self.add(key, urgent)
            return
        existing = self._timers.get(key)
        due = self.clock.monotonic() + delay
        if existing is not None and existing[0] <= due:
            if urgent and existing[0] == due:
                self._timers[key] = (due, existing[1], True)
            return
        if existing is not None:
            existing[1].cancel()
        self._timers[key] = (due, self.clock.call_later(delay, lambda: self._fire(key)), urgent)

    def _fire(self, key: Hashable) -> None:
        timer = self._timers.pop(key, None)
        self.add(key, urgent=timer is not None and timer[2])

    def _take(self) -> Hashable | None:
        for lane, urgent in ((self._urgent, True), (self._normal, False)):
            while lane:
                key = lane.popleft()
                if self._queued.get(key) is urgent:
                    del self._queued[key]
                    return key
        return None

    async def get(self) -> Hashable:
        while (key := self._take()) is None:
            self._ready.clear()
            await self._ready.wait()
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
            self.add(key, self._again.pop(key))

    def __len__(self) -> int:
        return len(self._queued)

    def waiting(self) -> int:
        """Keys on a timer (a delayed add not yet due)."""
        return len(self._timers)

    def urgent_within(self, seconds: float) -> bool:
        """Whether an urgent key (a due fire) waits, or one is due within `seconds` (O(keys on a timer))."""
        if any(self._queued.get(key) is True for key in self._urgent):
            return True
        until = self.clock.monotonic() + seconds
        return any(urgent and due <= until for due, _, urgent in self._timers.values())


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

    @property
    def held(self) -> bool:
        return self._holders > 0

    async def wait_open(self) -> None:
        await self._pass.wait()
