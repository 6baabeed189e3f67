"""What one API process lets callers hold at once: waiters, streams, the memory of bodies, unknown-token reviews.

Each held thing is counted per process and per caller (the authenticated user
name). A caller over its own share gets 429, a full process 503, both
problem+json with Retry-After, so one caller can never take what the others
need. What a request holds is given back when the request ends, whatever the
handler did: `on_finish` registers the release and `release_middleware` runs it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import Counter as Total
from prometheus_client import Gauge

from taskops.api.problems import DOCS, Handler, Problem
from taskops.domain.resources.clock import SYSTEM

RETRY_AFTER_SECONDS = 1
HELD = Gauge("taskops_api_held", "What requests hold now: body_bytes (parse-cost bound), waiters, streams", ["pool"])
REFUSED = Total(
    "taskops_api_refused_total", "Requests refused as a pool was full (429: the caller's share)", ["pool", "status"]
)
# On every log and event stream: the seconds after which the API ends it (the client reconnects or re-reads).
STREAM_MAX_HEADER = "Taskops-Stream-Max-Seconds"
_RELEASES = web.RequestKey("taskops_releases", list[Callable[[], None]])


@dataclass(frozen=True)
class Limits:
    """The knobs (docs/security.md §4, `taskops api --help`)."""

    # Bytes of a request body; the batch route (`inputs`) has its own, larger limit.
    max_body_bytes: int = 1024 * 1024
    max_batch_body_bytes: int = 16 * 1024 * 1024
    # What the bodies in flight may cost once parsed (see bodies.parse_cost), all callers together.
    body_memory_bytes: int = 128 * 1024 * 1024
    # wait=true requests parked on the Runs cache (~14 KB each).
    max_waiters: int = 10_000
    max_waiters_per_caller: int = 1_000
    # Log reads and event streams (each holds a response and, for logs, a connection to the Kubernetes API).
    max_streams: int = 200
    max_streams_per_caller: int = 10
    max_stream_seconds: float = 3600.0
    # TokenReviews of tokens the cache does not know, a token bucket: so many a second, this many at once.
    token_reviews_per_second: float = 20.0
    token_review_burst: int = 40


class Pool:
    """A count of held things, per process and per caller; `take` raises 429 / 503 when a share is full."""

    def __init__(self, name: str, what: str, total: int, per_caller: int) -> None:
        self.name = name
        self.what = what
        self.total = total
        self.per_caller = per_caller
        self.held = 0
        self._by_caller: Counter[str] = Counter()

    def take(self, caller: str, amount: int = 1, alone_may_exceed_share: bool = False) -> Callable[[], None]:
        """Hold `amount` for `caller`; returns the release (call it once).

        With `alone_may_exceed_share`, a caller holding nothing else may take more than its share (one large
        batch body), but never more than the process's total.
        """
        mine = self._by_caller[caller]
        if amount > self.total:
            raise Problem(
                413,
                "Content Too Large",
                f"{self.what}: {amount} is more than this API process allows at all ({self.total})",
                type_=DOCS + "too-large",
            )
        if mine + amount > self.per_caller and not (alone_may_exceed_share and mine == 0):
            REFUSED.labels(self.name, "429").inc()
            raise busy(429, f"{self.what}: caller {caller!r} holds {mine} of its {self.per_caller}; retry later")
        if self.held + amount > self.total:
            REFUSED.labels(self.name, "503").inc()
            raise busy(503, f"{self.what}: this API process holds {self.held} of {self.total}; retry later")
        self.held += amount
        HELD.labels(self.name).set(self.held)
        self._by_caller[caller] = mine + amount
        return _Release(self, caller, amount)

    def give_back(self, caller: str, amount: int) -> None:
        """What `take` returned does this (once): prefer calling that."""
        self.held -= amount
        HELD.labels(self.name).set(self.held)
        left = self._by_caller[caller] - amount
        if left > 0:
            self._by_caller[caller] = left
        else:
            del self._by_caller[caller]

    def of(self, caller: str) -> int:
        return self._by_caller.get(caller, 0)


class _Release:
    """Gives one hold back, once: a slotted object rather than a closure and its cells (each parked waiter keeps
    one; 10,000 of them are ~3 MB less)."""

    __slots__ = ("_amount", "_caller", "_pool")

    def __init__(self, pool: Pool, caller: str, amount: int) -> None:
        self._pool: Pool | None = pool
        self._caller = caller
        self._amount = amount

    def __call__(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.give_back(self._caller, self._amount)


@dataclass
class Holds:
    """The pools of one API process."""

    bodies: Pool
    waiters: Pool
    streams: Pool

    @classmethod
    def of(cls, limits: Limits) -> Holds:
        return cls(
            # Half the body budget per caller: one caller's bodies (held through a wait) never take it all.
            bodies=Pool("body_bytes", "body memory in bytes", limits.body_memory_bytes, limits.body_memory_bytes // 2),
            waiters=Pool("waiters", "wait=true requests", limits.max_waiters, limits.max_waiters_per_caller),
            streams=Pool("streams", "log and event streams", limits.max_streams, limits.max_streams_per_caller),
        )


LIMITS = web.AppKey("limits", Limits)
HOLDS = web.AppKey("holds", Holds)
# The authenticated caller's user name, set on the request by the authenticator: whose share a hold takes.
USER_KEY = web.RequestKey("taskops_user", str)


def caller_of(request: web.Request) -> str:
    return str(request.get(USER_KEY, ""))


def hold(request: web.Request, pool: Pool) -> None:
    """Take one of `pool` for the request's caller until the request ends (429/503 when full)."""
    on_finish(request, pool.take(caller_of(request)))


def busy(status: int, detail: str) -> Problem:
    title = "Too Many Requests" if status == 429 else "Service Unavailable"
    return Problem(
        status,
        title,
        detail,
        type_=DOCS + ("too-many-requests" if status == 429 else "busy"),
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


class TokenBucket:
    """`rate` tokens a second up to `burst`: a bound on how fast something may happen, with bursts."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = SYSTEM.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


def on_finish(request: web.Request, release: Callable[[], None]) -> None:
    """Run `release` when the request ends (answered, failed or cancelled)."""
    if _RELEASES not in request:
        request[_RELEASES] = []
    request[_RELEASES].append(release)


@web.middleware
async def release_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    finally:
        for release in reversed(request.get(_RELEASES, ())):
            release()
