"""POST a webhook under the operator's host policy: checked after DNS, no redirects, bounded time and bytes."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from taskops.domain.delivery import webhooks
from taskops.domain.delivery.webhooks import Policy

# What is read of a response: its status is the answer; the body is drained only this far (so a small
# answer leaves the connection reusable) and never decompressed (a gzip bomb stays the bytes it is).
BODY_LIMIT = 4096


class Denied(Exception):
    pass


class _PolicyResolver(AbstractResolver):
    """Checks the addresses a name resolves to, at connect time, and hands aiohttp exactly those:
    the connection goes to a checked address, with no window for a second DNS answer (rebinding)."""

    def __init__(self, policy: Policy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner or aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[Any]:
        found: list[ResolveResult] = await self._inner.resolve(host, port, family)
        error = self._policy.check(host, port, [r["host"] for r in found])
        if error:
            raise Denied(error)
        return found

    async def close(self) -> None:
        await self._inner.close()


@dataclass(frozen=True)
class Outcome:
    status_code: int | None = None
    # What status.webhook.lastError says (domain/delivery/webhooks.py ERRORS): a category, never connector text.
    error: str | None = None
    # Never worth retrying (a denied host, a redirect, a bad URL).
    final: bool = False
    # For the operator's own log only: why a host was denied (names addresses a tenant must not learn).
    detail: str | None = None


def classify(exc: BaseException) -> str:
    """The coarse category of a failed attempt."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return "tls"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "dns"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return "refused"
        if isinstance(exc.os_error, socket.gaierror):
            return "dns"
        if isinstance(exc.os_error, TimeoutError):
            return "timeout"
    return "connection"


class WebhookSender:
    def __init__(self, policy: Policy, connect_timeout: float = 5.0, read_timeout: float = 15.0) -> None:
        self.policy = policy
        # `total` bounds a receiver that trickles bytes; `sock_read` one that sends nothing.
        self._timeout = aiohttp.ClientTimeout(
            total=connect_timeout + read_timeout, sock_connect=connect_timeout, sock_read=read_timeout
        )
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=_PolicyResolver(self.policy), limit=64, limit_per_host=self.policy.per_host
            )
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, auto_decompress=False, read_bufsize=BODY_LIMIT
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        # The URL as aiohttp itself parses it, so the host checked here is the host it connects to.
        try:
            target = URL(url)
        except ValueError:
            return Outcome(error=webhooks.error("invalid-url"), final=True)
        # aiohttp does not resolve IP literals (the resolver never sees them); other IPv4 forms
        # (2130706433, 127.1) it would hand to getaddrinfo, which reads them as addresses: refuse both here.
        denied = self.policy.hosts.check_literal(target.raw_host or "", target.port or 0)
        if denied:
            return Outcome(error=webhooks.error("denied"), final=True, detail=denied)
        sent = {"Content-Type": "application/json", "Accept-Encoding": "identity", **headers}
        try:
            async with self._http().post(target, data=body, headers=sent, allow_redirects=False) as resp:
                await resp.content.read(BODY_LIMIT)
                if not resp.content.at_eof():
                    resp.close()  # more than we read: drop the connection rather than drain it
                if 300 <= resp.status < 400:
                    return Outcome(resp.status, webhooks.error("redirect", f" ({resp.status})"), True)
                return Outcome(resp.status)
        except Denied as exc:
            return Outcome(error=webhooks.error("denied"), final=True, detail=str(exc))
        except (TimeoutError, aiohttp.ClientError, ssl.SSLError, OSError) as exc:
            return Outcome(error=webhooks.error(classify(exc)), detail=f"{type(exc).__name__}: {exc}"[:300])
