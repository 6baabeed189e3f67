"""POST a webhook under the operator's host policy: checked after DNS, no redirects, bounded time."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from taskops.domain.webhooks import Policy


class Denied(Exception):
    pass


class _PolicyResolver(AbstractResolver):
    """Checks the addresses a name resolves to, at connect time: no window for a DNS answer to change."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[Any]:
        found: list[ResolveResult] = await self._inner.resolve(host, port, family)
        error = self._policy.check(host, [r["host"] for r in found])
        if error:
            raise Denied(error)
        return found

    async def close(self) -> None:
        await self._inner.close()


@dataclass(frozen=True)
class Outcome:
    status_code: int | None = None
    error: str | None = None
    # Never worth retrying (a denied host, a redirect, a bad URL).
    final: bool = False


class WebhookSender:
    def __init__(self, policy: Policy, connect_timeout: float = 5.0, read_timeout: float = 15.0) -> None:
        self.policy = policy
        self._timeout = aiohttp.ClientTimeout(total=connect_timeout + read_timeout, sock_connect=connect_timeout)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(resolver=_PolicyResolver(self.policy), limit=64)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        host = urlsplit(url).hostname or ""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            # aiohttp does not resolve IP literals, so the resolver never sees them.
            error = self.policy.check(host, [host])
            if error:
                return Outcome(error=error, final=True)
        try:
            async with self._http().post(
                url, data=body, headers={"Content-Type": "application/json", **headers}, allow_redirects=False
            ) as resp:
                await resp.read()
                if 300 <= resp.status < 400:
                    return Outcome(
                        resp.status, f"the receiver redirected ({resp.status}); redirects are not followed", True
                    )
                return Outcome(resp.status)
        except Denied as exc:
            return Outcome(error=str(exc), final=True)
        except TimeoutError:
            return Outcome(error="timed out")
        except aiohttp.ClientError as exc:
            return Outcome(error=f"{type(exc).__name__}: {exc}"[:300])
