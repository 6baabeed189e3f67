"""When the client sends a request again: a 503 or 429 with Retry-After, or a broken connection, bounded.

taskops answers 503 when its process is full or the Kubernetes API is unreachable, and 429 when the caller
holds its share (docs/api.md, "Errors"), both with `Retry-After`. A request is sent again only if doing so
cannot make a second Run or a second change: a read, an action that is idempotent by its nature (cancel,
pause, resume, snooze, delete), a trigger carrying an `Idempotency-Key`, or any request the API refused
before writing anything (problem types `busy` and `too-many-requests`).
"""

from __future__ import annotations

import datetime as dt
import email.utils
from dataclasses import dataclass

from taskops.api.schemas import Problem
from taskops.domain.resources.clock import SYSTEM

PROBLEMS = "https://taskops.dev/problems/"
# Refusals decided before any write (api/limits.py `busy`): always safe to send again.
REFUSED_BEFORE_WRITING = frozenset({PROBLEMS + "busy", PROBLEMS + "too-many-requests"})
RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    """`retries`: sends after the first, at most; each wait is Retry-After capped at `max_delay` seconds
    (`connection_delay` after a broken connection, when there is no header to go by)."""

    retries: int = 5
    max_delay: float = 30.0
    connection_delay: float = 1.0

    def after_answer(
        self, attempt: int, status: int, retry_after: str | None, problem: Problem | None, safe: bool
    ) -> float | None:
        """Seconds to wait before sending attempt `attempt + 1`, or None: raise the answer's problem."""
        if attempt > self.retries or status not in RETRY_STATUSES or retry_after is None:
            return None
        if not safe and (problem is None or problem.type not in REFUSED_BEFORE_WRITING):
            return None
        delay = parse_retry_after(retry_after)
        return None if delay is None else min(delay, self.max_delay)

    def after_broken_connection(self, attempt: int, safe: bool) -> float | None:
        return self.connection_delay if safe and attempt <= self.retries else None


def parse_retry_after(value: str, now: dt.datetime | None = None) -> float | None:
    """RFC 9110 Retry-After: delay-seconds or an HTTP date; None when it is neither."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - (now or SYSTEM())).total_seconds())
