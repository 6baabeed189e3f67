"""Completion webhooks, the pure part: when to send, retry or give up; signatures; the host policy.

Mainly domain/delivery/webhooks.py; also covers domain/access/egress.py (the host policy).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from taskops.domain.access import egress
from taskops.domain.delivery import webhooks
from taskops.domain.delivery.webhooks import Policy
from tests import builders

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
POLICY = Policy(backoff_seconds=1, backoff_max_seconds=8, deadline_seconds=60)


def run(
    phase: str = "SUCCEEDED", webhook: dict[str, Any] | None = None, url: str | None = "https://h/x"
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "endTime": "2026-11-25T12:00:00Z"}
    if webhook:
        status["webhook"] = webhook
    spec = {"callbackUrl": url} if url else {}
    return builders.run("r", "t", metadata={"namespace": "ns", "uid": "u-1"}, status=status, **spec)


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
        ((), (), "hooks.example.com", ["93.184.216.34"], True),
        ((), (), "10.0.0.7", ["10.0.0.7"], False),
        ((), (), "metadata", ["169.254.169.254"], False),
        ((), (), "localhost", ["127.0.0.1"], False),
        ((), (), "x", ["::1"], False),
        ((), (), "x", ["93.184.216.34", "10.0.0.7"], False),
        (("10.0.0.0/8",), (), "svc", ["10.1.2.3"], True),
        (("10.0.0.0/8",), (), "svc", ["10.1.2.3", "192.168.1.1"], False),
        ((".cluster.local",), (), "a.ns.svc.cluster.local", ["10.1.2.3"], True),
        ((".cluster.local",), (), "a.ns.svc.cluster.local", ["169.254.169.254"], False),
        ((".cluster.local",), (), "a.ns.svc.cluster.local", ["::ffff:127.0.0.1"], False),
        (("127.0.0.0/8",), (), "localhost", ["127.0.0.1"], True),
        (("10.0.0.0/8",), ("10.1.0.0/16",), "a", ["10.1.2.3"], True),
        ((), ("evil.example",), "evil.example", ["1.2.3.4"], False),
        ((), ("34.0.0.0/8",), "pods.example", ["34.1.2.3"], False),
    ],
)
def test_host_policy(allow: tuple[str, ...], deny: tuple[str, ...], host: str, addresses: list[str], ok: bool) -> None:
    assert (Policy(allow=allow, deny=deny).check(host, 443, addresses) is None) == ok


# Every spelling of a loopback, link-local, private or metadata address a URL or a DNS answer can carry.
FORBIDDEN = [
    "127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1", "::ffff:7f00:2", "::ffff:169.254.169.254",
    "::ffff:10.0.0.1", "::127.0.0.2", "64:ff9b::7f00:2", "64:ff9b::a9fe:a9fe", "64:ff9b:1::a00:1",
    "2002:7f00:2::", "2002:a9fe:a9fe::1", "2001:0:4136:e378:8000:63bf:80ff:fffd", "0.0.0.0", "::",
    "169.254.169.254", "fe80::1", "fe80::1%eth0", "fd00:ec2::254", "fc00::1", "100.100.100.200", "100.64.0.1",
    "172.16.0.1", "192.168.0.1", "10.255.255.255", "224.0.0.1", "255.255.255.255", "ff02::1",
]  # fmt: skip


@pytest.mark.parametrize("address", FORBIDDEN)
def test_every_form_of_a_denied_address_is_denied(address: str) -> None:
    assert Policy().check("h.example", 80, [address]) is not None
    assert Policy().check("h.example", 80, ["93.184.216.34", address]) is not None


@pytest.mark.parametrize(
    ("host", "address"),
    [("2130706434", "127.0.0.2"), ("0x7f000002", "127.0.0.2"), ("0177.0.0.2", "127.0.0.2"), ("127.1", "127.0.0.1"),
     ("0x7f.1", "127.0.0.1"), ("017700000002", "127.0.0.2"), ("[::ffff:127.0.0.2]", "::ffff:7f00:2"),
     ("[::ffff:7f00:2]", "::ffff:7f00:2"), ("0", "0.0.0.0"), ("169.254.43518", "169.254.169.254")],
)  # fmt: skip
def test_ipv4_literals_in_every_form_inet_aton_reads(host: str, address: str) -> None:
    assert str(egress.literal(host)) == address
    assert Policy().hosts.check_literal(host, 80) is not None


@pytest.mark.parametrize("host", ["example.com", "1.2.3.4.5", "256.1", "1e100.net", "08.1.1.1", "a.1"])
def test_names_are_not_literals(host: str) -> None:
    assert egress.literal(host) is None


def test_public_addresses_in_any_form_are_allowed() -> None:
    for address in ("93.184.216.34", "::ffff:93.184.216.34", "2606:2800:220:1::1", "64:ff9b::5db8:d822"):
        assert Policy().check("h.example", 443, [address]) is None, address


def test_naming_a_receiver_allows_it_and_nothing_else() -> None:
    policy = Policy(allow=("127.0.0.1:8080", "hooks.ns.svc.cluster.local", "[::1]:9000"))
    assert policy.check("127.0.0.1", 8080, ["127.0.0.1"]) is None
    assert policy.check("localhost", 8080, ["127.0.0.1"]) is None  # the same address and port
    assert policy.check("127.0.0.1", 8081, ["127.0.0.1"]) is not None
    assert policy.check("localhost", 8080, ["127.0.0.1", "127.0.0.2"]) is not None
    assert policy.check("::1", 9000, ["::1"]) is None and policy.check("::1", 9001, ["::1"]) is not None
    assert policy.check("hooks.ns.svc.cluster.local", 80, ["10.96.0.7"]) is None
    assert policy.check("other.ns.svc.cluster.local", 80, ["10.96.0.7"]) is not None
    only = Policy(allow=("hooks.example.com",), allow_only=True)
    assert only.check("hooks.example.com", 443, ["93.184.216.34"]) is None
    assert only.check("other.example.com", 443, ["93.184.216.34"]) is not None


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "a b", "host:0", "host:x", "[::1]:99999", "-"])
def test_a_malformed_entry_is_an_error(entry: str) -> None:
    with pytest.raises(ValueError, match=r"port|not|neither"):
        egress.parse_entry(entry)


def test_receiver_is_host_and_port() -> None:
    assert webhooks.receiver("https://Hooks.Example.com./x") == ("hooks.example.com", 443)
    assert webhooks.receiver("http://[::1]:81/") == ("::1", 81)
    assert webhooks.receiver("http://h/") == ("h", 80)


def test_each_namespace_has_its_own_default_key() -> None:
    a, b = webhooks.namespace_key(b"release", "team-a"), webhooks.namespace_key(b"release", "team-b")
    assert a != b and len(a) == 64 and a == webhooks.namespace_key(b"release", "team-a")
    assert a != webhooks.namespace_key(b"other-release", "team-a")
    assert a == webhooks.namespace_key(b"release\n", "team-a")


@pytest.mark.parametrize(
    ("name", "ok"), [("orders-webhook", True), ("a.b", True), ("../../kube-system/secrets/x", False), ("A", False)]
)
def test_a_webhook_secret_is_a_name(name: str, ok: bool) -> None:
    assert bool(webhooks.SECRET_NAME.match(name)) == ok


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://h/x", True),
        ("http://h:81", True),
        ("ftp://h/x", False),
        ("/relative", False),
        ("http://h:99999/", False),
        ("http://127.0.0.1\\@h/", False),
        ("http://h/a b", False),
    ],
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
