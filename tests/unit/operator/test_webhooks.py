"""The webhook controller (operator/webhooks.py) driven with a fake clock, a fake API server and a fake sender."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from typing import Any, cast

from taskops.clients import errors
from taskops.clients.kube import KubeClient
from taskops.clients.resources import RUNS, SECRETS
from taskops.clients.webhook import Outcome, WebhookSender
from taskops.domain.delivery import webhooks
from taskops.domain.delivery.webhooks import Policy
from taskops.operator.store import Store
from taskops.operator.webhooks import WebhookController
from tests import builders
from tests.unit.fakes import START, FakeClock, FakeKube

KEY = ("ns", "r1")
URL = "https://hooks.example.com/done"


class FakeSender:
    """Answers each POST with the next outcome, recording what was sent."""

    def __init__(self, outcomes: list[Outcome]) -> None:
        self.policy = Policy(backoff_seconds=2.0, backoff_max_seconds=60.0)
        self.outcomes = outcomes
        self.sent: list[tuple[str, dict[str, str]]] = []

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        self.sent.append((url, headers))
        return self.outcomes.pop(0)

    async def close(self) -> None:
        return None


async def _setup(outcomes: list[Outcome]) -> tuple[WebhookController, FakeKube, FakeSender, FakeClock, Store]:
    clock = FakeClock()
    kube = FakeKube(clock)
    secret = {
        "metadata": {"name": "release", "namespace": "taskops-system"},
        "data": {"secret": base64.b64encode(b"k").decode()},
    }
    kube.put(SECRETS, secret)
    run: dict[str, Any] = builders.run(KEY[1], "t", callbackUrl=URL)
    run["metadata"]["namespace"] = KEY[0]
    created = await kube.create(RUNS, KEY[0], run)
    ended = await kube.patch(
        RUNS, *KEY, {"status": {"phase": "SUCCEEDED", "endTime": "2026-01-01T00:00:00Z"}}, subresource="status"
    )
    assert created["metadata"]["uid"] == ended["metadata"]["uid"]
    store = Store()
    store.runs.put(ended)
    sender = FakeSender(outcomes)
    hooks = WebhookController(
        store, cast(KubeClient, kube), cast(WebhookSender, sender), ("taskops-system", "release"), clock
    )
    return hooks, kube, sender, clock, store


def test_a_delivery_is_signed_with_the_injected_time_recorded_and_announced() -> None:
    async def scenario() -> None:
        hooks, kube, sender, clock, store = await _setup([Outcome(status_code=204)])
        clock.advance(7)
        assert await hooks.deliver(KEY) is None
        ((url, headers),) = sender.sent
        assert url == URL
        assert headers[webhooks.HEADER_TIMESTAMP] == str(int((START + dt.timedelta(seconds=7)).timestamp()))
        hook = kube.of(RUNS)[0]["status"]["webhook"]
        assert (hook["state"], hook["attempts"], hook["statusCode"]) == ("delivered", 1, 204)
        assert kube.reasons() == ["WebhookDelivered"]
        # Done: another look sends nothing.
        assert await hooks.deliver(KEY) is None and len(sender.sent) == 1
        assert store.runs.get(KEY) == kube.of(RUNS)[0]

    asyncio.run(scenario())


def test_a_failed_delivery_is_retried_after_its_backoff_on_the_injected_clock() -> None:
    async def scenario() -> None:
        hooks, kube, sender, clock, _ = await _setup([Outcome(status_code=503), Outcome(status_code=200)])
        # Through the worker shell: the key is requeued on the clock for the delivery's next attempt.
        hooks.queue.add(KEY)
        key = await hooks.queue.get()
        await hooks.controller.process(key)  # type: ignore[arg-type]
        hook = kube.of(RUNS)[0]["status"]["webhook"]
        assert (hook["state"], hook["attempts"], hook["lastError"]) == ("pending", 1, "http: the receiver answered 503")
        due = dt.datetime.fromisoformat(hook["nextAttemptAt"])
        (delay,) = clock.timers()
        assert delay > 0 and abs(delay - (due - clock()).total_seconds()) < 1e-3
        assert kube.reasons() == []
        # Before it is due, a look sends nothing and says how long is left.
        clock.advance(delay / 2)
        assert await hooks.deliver(KEY) == (due - clock()).total_seconds()
        assert len(sender.sent) == 1
        clock.advance(delay / 2)
        assert len(hooks.queue) == 1
        key = await hooks.queue.get()
        await hooks.controller.process(key)  # type: ignore[arg-type]
        assert len(sender.sent) == 2
        hook = kube.of(RUNS)[0]["status"]["webhook"]
        assert (hook["state"], hook["attempts"]) == ("delivered", 2)
        assert clock.timers() == [] and kube.reasons() == ["WebhookDelivered"]

    asyncio.run(scenario())


def test_a_refused_status_write_is_retried_with_the_shell_backoff() -> None:
    async def scenario() -> None:
        hooks, kube, _, clock, _ = await _setup([Outcome(status_code=204)])
        kube.fail_next("patch", errors.ApiError(500, {"reason": "InternalError", "message": "etcd"}))
        hooks.queue.add(KEY)
        key = await hooks.queue.get()
        await hooks.controller.process(key)  # type: ignore[arg-type]
        assert hooks.controller.failures(KEY) == 1 and clock.timers() == [hooks.controller.backoff.delay(1)]

    asyncio.run(scenario())
