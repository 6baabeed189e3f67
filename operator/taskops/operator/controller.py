"""The one worker-loop shell every controller runs in: a keyed work queue, and workers calling `sync(key)`.

A controller is a sync function plus this shell. `sync(key)` looks at one
object as the caches hold it, acts, and returns the seconds after which to look
at the key again (a schedule's next fire, a webhook's next attempt) or None when
nothing is due until an event queues the key. One retry policy for all: a sync
that raises is retried after a per-key exponential backoff with a cap, forgotten
at the key's next success (client-go's rate-limited queue,
ItemExponentialFailureRateLimiter). A key whose object or namespace is gone
(404, 410) is dropped instead: the watch event of a new one queues it again.
The clock (timers, backoff) is a constructor parameter, and so is each
controller's client: a unit test drives the shell with fakes (tests/unit/fakes.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from taskops import logs
from taskops.clients import errors
from taskops.domain.resources.clock import SYSTEM, Clock
from taskops.operator import metrics
from taskops.operator.workqueue import Urgent, WorkQueue

log = logging.getLogger("taskops.controller")

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Backoff:
    """The delay before the n-th retry of a failing key: base * 2^(n-1), at most `cap`."""

    base: float = 0.25
    cap: float = 60.0

    def delay(self, failures: int) -> float:
        # The exponent is bounded too: a key failing for days must not overflow the float.
        return min(self.base * 2.0 ** min(max(failures - 1, 0), 64), self.cap)


class Controller(Generic[K]):
    """`workers` coroutines taking keys from `queue` and calling `sync`.

    `kind` names the controller in logs and in taskops_reconcile_errors_total; `subject` is the log field that
    carries the name of a (namespace, name) key's object (the kind by default)."""

    def __init__(
        self,
        kind: str,
        sync: Callable[[K], Awaitable[float | None]],
        *,
        clock: Clock = SYSTEM,
        workers: int = 1,
        backoff: Backoff | None = None,
        queue: WorkQueue | None = None,
        subject: str | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"a controller needs at least one worker, not {workers}")
        self.kind = kind
        self.subject = subject or kind
        self.sync = sync
        self.clock = clock
        self.workers = workers
        self.backoff = backoff or Backoff()
        self.queue = queue if queue is not None else WorkQueue(clock, kind)
        # Consecutive failures per key; bounded by the keys, as the queue is: a success or a gone object forgets it.
        self._failures: dict[K, int] = {}

    async def run(self) -> None:
        await asyncio.gather(*(self._worker() for _ in range(self.workers)))

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            await self.process(key)  # type: ignore[arg-type]  # the queue holds only what add() was given: K

    def failures(self, key: K) -> int:
        return self._failures.get(key, 0)

    async def process(self, key: K) -> None:
        """Sync one key taken from the queue (`queue.get()`), then requeue it as the outcome says."""
        fields = {"namespace": key[0], self.subject: key[1]} if isinstance(key, tuple) and len(key) == 2 else {}
        context = logs.bind(**fields, trace_id=logs.new_trace_id())
        try:
            requeue = await self.sync(key)
        except errors.ApiError as exc:
            if exc.gone:
                log.debug("%s %s is gone: %s", self.kind, _name(key), exc)
                self._failures.pop(key, None)
            else:
                self._retry(key, exc)
        except Exception as exc:
            self._retry(key, exc)
        else:
            self._failures.pop(key, None)
            if requeue is not None:
                self.queue.add_after(key, requeue, urgent=isinstance(requeue, Urgent))
        finally:
            logs.CONTEXT.reset(context)
            self.queue.done(key)

    def _retry(self, key: K, exc: Exception) -> None:
        n = self._failures.get(key, 0) + 1
        self._failures[key] = n
        delay = self.backoff.delay(n)
        # A conflict means our cache was behind: expected under load, and the retry reads the newer copy.
        conflict = isinstance(exc, errors.Conflict)
        if not conflict:
            metrics.RECONCILE_ERRORS.labels(self.kind).inc()
        level = logging.DEBUG if conflict else logging.WARNING
        log.log(
            level,
            "sync of %s %s failed (%s); retry %d in %.2fs",
            self.kind,
            _name(key),
            exc,
            n,
            delay,
            exc_info=not isinstance(exc, errors.ApiError | OSError),
        )
        self.queue.add_after(key, delay)


def _name(key: Hashable) -> str:
    return "/".join(map(str, key)) if isinstance(key, tuple) else str(key)
