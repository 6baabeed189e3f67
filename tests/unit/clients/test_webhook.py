"""The webhook sender against receivers on loopback: DNS answers checked, bodies bounded, errors coarse."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from taskops.clients import webhook
from taskops.clients.webhook import WebhookSender
from taskops.domain.delivery.webhooks import Policy

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FixedResolver(AbstractResolver):
    """A DNS that answers every name with `answers` (an AAAA of the mapped form, for instance)."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[Any]:
        family_of = {True: socket.AF_INET6, False: socket.AF_INET}
        return [
            ResolveResult(hostname=host, host=a, port=port, family=family_of[":" in a], proto=0, flags=0)
            for a in self.answers
        ]

    async def close(self) -> None:
        pass


async def _serve(handler: Handler) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, port


def test_a_dns_answer_in_mapped_form_is_denied() -> None:
    async def main() -> None:
        resolver = webhook._PolicyResolver(Policy(), FixedResolver(["::ffff:127.0.0.1"]))
        try:
            await resolver.resolve("hooks.example.com", 80, socket.AF_UNSPEC)
        except webhook.Denied as exc:
            assert "127.0.0.1" in str(exc)
        else:
            raise AssertionError("a mapped loopback answer was accepted")
        allowed = webhook._PolicyResolver(Policy(allow=("hooks.example.com",)), FixedResolver(["::ffff:10.0.0.1"]))
        assert len(await allowed.resolve("hooks.example.com", 80, socket.AF_UNSPEC)) == 1

    asyncio.run(main())


def test_a_gzip_bomb_is_not_inflated_and_a_big_body_not_read() -> None:
    bomb = gzip.compress(b"\0" * (64 << 20))

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        return web.Response(status=200, body=bomb, headers={"Content-Encoding": "gzip"})

    async def main() -> None:
        runner, port = await _serve(handler)
        sender = WebhookSender(Policy(allow=(f"127.0.0.1:{port}",)))
        read: list[int] = []
        real_read = aiohttp.StreamReader.read

        async def counting(self: aiohttp.StreamReader, n: int = -1) -> bytes:
            data = await real_read(self, n)
            read.append(len(data))
            return data

        aiohttp.StreamReader.read = counting  # type: ignore[method-assign]
        try:
            outcome = await sender.post(f"http://127.0.0.1:{port}/", b"{}", {})
        finally:
            aiohttp.StreamReader.read = real_read  # type: ignore[method-assign]
            await sender.close()
            await runner.cleanup()
        assert outcome.status_code == 200 and outcome.error is None
        assert sum(read) <= webhook.BODY_LIMIT, read

    asyncio.run(main())


def test_errors_are_categories_not_connector_text() -> None:
    async def main() -> None:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nobody listens: refused
        sender = WebhookSender(Policy(allow=("127.0.0.1",)))
        try:
            refused = await sender.post(f"http://127.0.0.1:{port}/", b"{}", {})
            denied = await sender.post(f"http://[::ffff:127.0.0.2]:{port}/", b"{}", {})
            legacy = await sender.post(f"http://2130706434:{port}/", b"{}", {})
            # Where URL parsers disagree (a backslash before "@"), aiohttp's parser decides, and it refuses.
            split = await sender.post(f"http://127.0.0.2:{port}\\@hooks.example.com/", b"{}", {})
        finally:
            await sender.close()
        assert refused.error is not None and refused.error.startswith("refused: ") and str(port) not in refused.error
        assert not refused.final
        for outcome in (denied, legacy):
            assert outcome.error is not None and outcome.error.startswith("denied: ") and outcome.final
            assert "127.0.0.2" not in outcome.error and "127.0.0.2" in (outcome.detail or "")
        assert split.error is not None and split.error.startswith("invalid-url: ") and split.final

    asyncio.run(main())


def test_a_hanging_receiver_times_out() -> None:
    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: asyncio.sleep(30), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        sender = WebhookSender(Policy(allow=("127.0.0.1",)), connect_timeout=0.5, read_timeout=0.5)
        try:
            outcome = await sender.post(f"http://127.0.0.1:{port}/", b"{}", {})
        finally:
            await sender.close()
            server.close()
        assert outcome.error is not None and outcome.error.startswith("timeout: ")

    asyncio.run(main())
