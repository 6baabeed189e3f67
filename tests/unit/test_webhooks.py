"""Completion webhooks, the pure part: when to send, retry or give up; signatures; the host policy."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from taskops.domain import webhooks
from taskops.domain.webhooks import Policy

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
POLICY = Policy(backoff_seconds=1, backoff_max_seconds=8, deadline_seconds=60)


def run(
    phase: str = "SUCCEEDED", webhook: dict[str, Any] | None = None, url: str | None = "https://h/x"
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "endTime": "2026-11-25T12:00:00Z"}
    if webhook:
        status["webhook"] = webhook
    spec: dict[str, Any] = {"taskRef": {"name": "t"}}
    if url:
        spec["callbackUrl"] = url
    return {"metadata": {"name": "r", "namespace": "ns", "uid": "u-1"}, "spec": spec, "status": status}


def test_plan_sends_once_a_run_with_a_url_has_ended() -> None:
    assert webhooks.plan(run("RUNNING"), NOW).done
    assert webhooks.plan(run(url=None), NOW).done
    assert webhooks.plan(run(), NOW).send
    later = {
        "state": "pending",
        "url": "u",
        "deliveryId": "u-1",
        "attempts": 1,
        "nextAttemptAt": "2026-11-25T12:00:05Z",
    }
    assert webhooks.plan(run(webhook=later), NOW).seconds == 5
    assert webhooks.plan(run(webhook=later), NOW + dt.timedelta(seconds=5)).send
    assert webhooks.plan(run(webhook={**later, "state": "delivered"}), NOW).done
    assert webhooks.plan(run(webhook={**later, "state": "failed"}), NOW).done


@pytest.mark.parametrize(
    ("code", "error", "state"),
    [(200, None, "delivered"), (204, None, "delivered"), (503, None, "pending"), (429, None, "pending"),
     (408, None, "pending"), (400, None, "failed"), (404, None, "failed"), (None, "timed out", "pending")],
)  # fmt: skip
def test_outcome_of_one_attempt(code: int | None, error: str | None, state: str) -> None:
    after = webhooks.after_attempt(run(), NOW, POLICY, code, error)
    assert (after.state, after.attempts, after.delivery_id) == (state, 1, "u-1")
    assert (after.next_attempt_at is not None) == (state == "pending")
    if state == "failed":
        assert "not retried" in (after.last_error or "")


def test_backoff_grows_and_the_deadline_ends_it() -> None:
    current: dict[str, Any] | None = None
    gaps = []
    at = NOW
    for _ in range(30):
        state = webhooks.after_attempt(run(webhook=current), at, POLICY, 503)
        if state.state == "failed":
            break
        assert state.next_attempt_at is not None
        gaps.append((state.next_attempt_at - at).total_seconds())
        at = state.next_attempt_at
        current = state.model_dump(by_alias=True, mode="json")
    assert state.state == "failed" and "deadline" in (state.last_error or "")
    assert gaps[0] <= 1 and gaps[2] >= 2 and max(gaps) <= 8
    assert (at - NOW).total_seconds() <= POLICY.deadline_seconds


def test_signature_verifies_and_rejects_tampering_and_replays() -> None:
    body = b'{"id": "r"}'
    signature = webhooks.sign(b"k", 1000, body)
    assert signature.startswith("v1=")
    assert webhooks.verify(b"k", "1000", body, signature, now=1100)
    assert not webhooks.verify(b"k", "1000", body + b" ", signature, now=1100)
    assert not webhooks.verify(b"other", "1000", body, signature, now=1100)
    assert not webhooks.verify(b"k", "1000", body, signature, now=1000 + 301)


@pytest.mark.parametrize(
    ("allow", "deny", "host", "addresses", "ok"),
    [
        ((), webhooks.DEFAULT_DENY, "hooks.example.com", ["93.184.216.34"], True),
        ((), webhooks.DEFAULT_DENY, "10.0.0.7", ["10.0.0.7"], True),
        ((), webhooks.DEFAULT_DENY, "metadata", ["169.254.169.254"], False),
        ((), webhooks.DEFAULT_DENY, "localhost", ["127.0.0.1"], False),
        ((), webhooks.DEFAULT_DENY, "x", ["::1"], False),
        (("10.0.0.0/8",), (), "svc", ["10.1.2.3"], True),
        (("10.0.0.0/8",), (), "svc", ["10.1.2.3", "8.8.8.8"], False),
        ((".cluster.local",), (), "a.ns.svc.cluster.local", ["10.1.2.3"], True),
        ((".cluster.local",), ("10.1.0.0/16",), "a.ns.svc.cluster.local", ["10.1.2.3"], False),
        ((), ("evil.example",), "evil.example", ["1.2.3.4"], False),
    ],
)
def test_host_policy(allow: tuple[str, ...], deny: tuple[str, ...], host: str, addresses: list[str], ok: bool) -> None:
    assert (Policy(allow=allow, deny=deny).check(host, addresses) is None) == ok


@pytest.mark.parametrize(
    ("url", "ok"), [("https://h/x", True), ("http://h:81", True), ("ftp://h/x", False), ("/relative", False)]
)
def test_only_http_urls(url: str, ok: bool) -> None:
    assert (webhooks.url_error(url) is None) == ok


def test_a_resumed_batch_ends_news_of_its_own() -> None:
    first = run()
    assert webhooks.delivery_id(first) == "u-1"
    resumed = run()
    resumed["status"]["batch"] = {"total": 10, "resumes": 2}
    assert webhooks.delivery_id(resumed) == "u-1.2"
    assert webhooks.after_attempt(resumed, NOW, POLICY, 200).delivery_id == "u-1.2"
