"""The one place that reads the time: what a component is given as its clock, and the system's clock.

Every controller, the leader elector, the work queue and the API take a `Clock`
as a constructor parameter, so that a test drives them with a fake one (the way
the Kubernetes CronJob controller's tests inject `now`): nothing else in the
package calls `datetime.now`, `time.time` or `time.monotonic`. What stays on the
event loop's own clock are asyncio's deadlines on real I/O (`asyncio.timeout`
around a lease renewal, the UI stream's `timeout_at`): they bound how long a
socket is held, whatever time a test pretends it is.
Two readings, as client-go's clock has: wall time (what is written to objects
and compared with schedules) and a monotonic time (durations, timers, TTLs) that
a wall-clock step never moves.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from typing import Protocol


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def __call__(self) -> dt.datetime:
        """Wall time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back: for durations, deadlines and timers."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Call `callback` (on the event loop) once `delay` monotonic seconds have passed."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: the event loop's timers run on `time.monotonic`, the same reading as `monotonic()`."""

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(max(delay, 0.0), callback)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM: Clock = SystemClock()


def thread_cpu() -> float:
    """CPU seconds the calling thread has used: the cost of a computation, whatever else the machine runs.

    Not part of `Clock`: it measures work, not time, and a fake clock has nothing to say about it."""
    return time.thread_time()
