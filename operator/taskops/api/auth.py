"""Kubernetes authentication (TokenReview) and authorisation (SubjectAccessReview), with short caches.

A caller's token is reviewed once a minute at most, and each (user, verb,
resource, namespace) decision once every 10 seconds, so a busy client costs
the API server a review now and then rather than two per request.

Tokens the API server accepted and tokens it refused live in separate caches,
each dropping its least recently used entry when full: a flood of made-up
tokens churns only the refused ones and never evicts a real caller. Reviews of
tokens neither cache knows are rate-bounded (a token bucket); past it such a
request gets 429 without a review, while known tokens keep being served.
"""

from __future__ import annotations

import asyncio
import hashlib

from aiohttp import web
from prometheus_client import Counter

from taskops.api.limits import USER_KEY, Limits, TokenBucket, busy
from taskops.api.problems import Problem
from taskops.api.ttlcache import TtlLru
from taskops.clients.kube import KubeClient
from taskops.clients.reviews import Access, User, review_access, review_token
from taskops.domain.resources.clock import SYSTEM, Clock

TOKEN_TTL = 60.0
DENIED_TOKEN_TTL = 5.0
DECISION_TTL = 10.0
CACHE_MAX = 10_000
# How long a token once accepted counts as known (re-reviewed every TOKEN_TTL, but outside the bucket).
KNOWN_TOKEN_MEMORY = 3600.0
REVIEWS = Counter("taskops_api_token_reviews_total", "TokenReviews by outcome (throttled: not sent)", ["result"])


class Authorizer:
    def __init__(self, client: KubeClient, limits: Limits | None = None, clock: Clock = SYSTEM) -> None:
        limits = limits or Limits()
        self.client = client
        self.clock = clock
        # digest -> (user, reviewed until): remembered past the review's TTL, to re-review outside the bucket.
        self._users: TtlLru[str, tuple[User, float]] = TtlLru(CACHE_MAX, clock.monotonic)
        self._denied: TtlLru[str, None] = TtlLru(CACHE_MAX, clock.monotonic)
        self._unknown_reviews = TokenBucket(limits.token_reviews_per_second, limits.token_review_burst, clock.monotonic)
        self._decisions: TtlLru[tuple[str, tuple[str, ...], Access], tuple[bool, str]] = TtlLru(
            CACHE_MAX, clock.monotonic
        )
        self._pending: dict[str, asyncio.Future[User | None]] = {}

    async def authenticate(self, request: web.Request) -> User:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("send a Kubernetes bearer token: Authorization: Bearer <token>")
        # The token itself is never kept or logged, only its digest.
        digest = hashlib.sha256(token.strip().encode()).hexdigest()
        known, entry = self._users.get(digest)
        if entry is not None and entry[1] >= self.clock.monotonic():
            user = entry[0]
        else:
            if not known and self._denied.get(digest)[0]:
                raise _refused()
            user = await self._review(digest, token.strip(), known)
        request[USER_KEY] = user.name
        return user

    async def _review(self, digest: str, token: str, known: bool) -> User:
        """One TokenReview per token at a time, however many requests carry it; unknown tokens through the bucket.

        A token accepted before is re-reviewed at its TTL outside the bucket: a flood never locks it out.
        """
        pending = self._pending.get(digest)
        if pending is None:
            if not known and not self._unknown_reviews.take():
                REVIEWS.labels("throttled").inc()
                raise busy(429, "too many requests with tokens this API has not seen recently; retry shortly")
            # A task of its own: a caller that goes away does not cancel the review the others wait for.
            pending = asyncio.ensure_future(self._review_and_remember(digest, token))
            self._pending[digest] = pending
            pending.add_done_callback(lambda _: self._pending.pop(digest, None))
        reviewed = await asyncio.shield(pending)
        if reviewed is None:
            raise _refused()
        return reviewed

    async def _review_and_remember(self, digest: str, token: str) -> User | None:
        reviewed = await review_token(self.client, token)
        REVIEWS.labels("accepted" if reviewed else "refused").inc()
        if reviewed is None:
            self._users.pop(digest)
            self._denied.put(digest, None, DENIED_TOKEN_TTL)
        else:
            self._users.put(digest, (reviewed, self.clock.monotonic() + TOKEN_TTL), KNOWN_TOKEN_MEMORY)
        return reviewed

    async def authorize(self, user: User, access: Access) -> None:
        key = (user.name, user.groups, access)
        hit, decision = self._decisions.get(key)
        if not hit or decision is None:
            decision = await review_access(self.client, user, access)
            self._decisions.put(key, decision, DECISION_TTL)
        allowed, reason = decision
        if not allowed:
            target = f"{access.resource}/{access.subresource}" if access.subresource else access.resource
            group = access.group or "core"
            detail = f'user "{user.name}" cannot {access.verb} {target} ({group}) in namespace "{access.namespace}"' + (
                f": {reason}" if reason else ""
            )
            raise Problem(403, "Forbidden", detail, type_="https://taskops.dev/problems/forbidden")


def _refused() -> Problem:
    return _unauthorized("the token was not accepted by the Kubernetes API (TokenReview)")


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401,
        "Unauthorized",
        detail,
        type_="https://taskops.dev/problems/unauthorized",
        headers={"WWW-Authenticate": 'Bearer realm="taskops"'},
    )
