"""Kubernetes authentication (TokenReview) and authorisation (SubjectAccessReview), with short caches.

A caller's token is reviewed once a minute at most, and each (user, verb,
resource, namespace) decision once every 10 seconds, so a busy client costs
the API server a review now and then rather than two per request.
"""

from __future__ import annotations

import hashlib
import time
from typing import Generic, TypeVar

from aiohttp import web

from taskops.api.problems import Problem
from taskops.clients.kube import KubeClient
from taskops.clients.reviews import Access, User, review_access, review_token

TOKEN_TTL = 60.0
DENIED_TOKEN_TTL = 5.0
DECISION_TTL = 10.0
CACHE_MAX = 10_000


K = TypeVar("K")
V = TypeVar("V")


class _TtlCache(Generic[K, V]):
    def __init__(self) -> None:
        self._items: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> tuple[bool, V | None]:
        hit = self._items.get(key)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def put(self, key: K, value: V, ttl: float) -> None:
        if len(self._items) >= CACHE_MAX:
            now = time.monotonic()
            self._items = {k: v for k, v in self._items.items() if v[0] >= now}
            if len(self._items) >= CACHE_MAX:
                self._items.clear()
        self._items[key] = (time.monotonic() + ttl, value)


class Authorizer:
    def __init__(self, client: KubeClient) -> None:
        self.client = client
        self._users: _TtlCache[str, User | None] = _TtlCache()
        self._decisions: _TtlCache[tuple[str, tuple[str, ...], Access], tuple[bool, str]] = _TtlCache()

    async def authenticate(self, request: web.Request) -> User:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("send a Kubernetes bearer token: Authorization: Bearer <token>")
        # The token itself is never kept or logged, only its digest.
        digest = hashlib.sha256(token.strip().encode()).hexdigest()
        hit, user = self._users.get(digest)
        if not hit:
            user = await review_token(self.client, token.strip())
            self._users.put(digest, user, TOKEN_TTL if user else DENIED_TOKEN_TTL)
        if user is None:
            raise _unauthorized("the token was not accepted by the Kubernetes API (TokenReview)")
        return user

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


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401,
        "Unauthorized",
        detail,
        type_="https://taskops.dev/problems/unauthorized",
        headers={"WWW-Authenticate": 'Bearer realm="taskops"'},
    )
