"""Completion webhooks: when to send, how to sign and with which key, what a response means.

Which hosts may be called is domain/access/egress.py (`Policy.hosts`); what is
sent is the Run as the API shows it (domain/views/run.py); the operator's
worker (operator/webhooks.py) makes the attempts.

Delivery is at-least-once. Each Run has one delivery id (its uid; after a batch
resume `<uid>.<resumes>`), the same on every attempt, so a receiver
deduplicates by it. The state lives in the Run's `status.webhook`: the operator
writes the outcome of each attempt and the time of the next, so a restart
resumes the schedule instead of starting it over.

Key: a Task's own Secret (spec.webhookSecret), else one key per namespace
derived from the release key (`namespace_key`), so no two namespaces share one.

Signature (like Stripe's): `X-Taskops-Signature: v1=<hex HMAC-SHA256(secret,
"<timestamp>.<body>")>` with `X-Taskops-Timestamp: <unix seconds>`. A receiver
recomputes it over the raw body, compares in constant time, and rejects
timestamps more than 5 minutes old (replays).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from taskops.domain.access.egress import HostPolicy
from taskops.domain.resources import backoff, names, raw, timefmt
from taskops.domain.resources.phases import is_terminal
from taskops.domain.resources.run import WebhookStatus

HEADER_DELIVERY = "X-Taskops-Delivery"
HEADER_TIMESTAMP = "X-Taskops-Timestamp"
HEADER_SIGNATURE = "X-Taskops-Signature"
HEADER_EVENT = "X-Taskops-Event"
EVENT = "run.ended"
# What spec.webhookSecret may be: a Secret's name (DNS subdomain), read in the Task's own namespace only.
SECRET_NAME = re.compile(names.DNS_SUBDOMAIN)


@dataclass(frozen=True)
class Policy:
    backoff_seconds: float = 2.0
    backoff_max_seconds: float = 300.0
    # Counted from the Run's end; past it, a pending delivery fails.
    deadline_seconds: float = 24 * 3600.0
    # Receivers named by the operator (exceptions to the deny list), extra denied hosts/CIDRs (domain/access/egress.py).
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    allow_only: bool = False
    # Attempts in flight to one receiver (host:port); more wait their turn without holding a worker.
    per_host: int = 4
    hosts: HostPolicy = field(init=False, repr=False, default_factory=HostPolicy)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hosts", HostPolicy(self.allow, self.deny, self.allow_only))

    def check(self, host: str, port: int, addresses: list[str]) -> str | None:
        return self.hosts.check(host, port, addresses)


# What status.webhook.lastError says: a coarse category and a fixed sentence, never a connector's own text
# (which would tell a tenant what listens where inside the cluster).
ERRORS = {
    "invalid-url": "the callbackUrl is not an absolute http(s) URL",
    "denied": "the operator's webhook policy does not allow this host",
    "no-secret": "no signing key: the Task's spec.webhookSecret Secret has no `secret` key, or the operator has no "
    "--webhook-secret",
    "dns": "the host name did not resolve",
    "refused": "the connection was refused",
    "timeout": "no answer in time",
    "tls": "the TLS handshake or certificate check failed",
    "connection": "the connection failed or was closed",
    "redirect": "the receiver redirected; redirects are not followed",
}


def error(category: str, extra: str = "") -> str:
    return f"{category}: {ERRORS[category]}{extra}"


def receiver(url: str) -> tuple[str, int]:
    """The (host, port) a URL's attempts go to: the unit of the per-host limit and of allow entries."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return (parts.hostname or "").lower().rstrip("."), port or (443 if parts.scheme == "https" else 80)


def url_error(url: str) -> str | None:
    """Only absolute http(s) URLs with a host: nothing URL parsers read differently (a backslash, whitespace)."""
    if any(c in url for c in "\\ \t\r\n"):
        return "the URL contains a backslash or whitespace"
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"invalid URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return f"only http and https URLs are called, not {parts.scheme or 'a relative URL'}"
    if not parts.hostname:
        return "the URL has no host"
    try:
        port = parts.port  # it raises for a port out of range
    except ValueError:
        port = 0
    if port == 0:
        return "the URL's port is not a number from 1 to 65535"
    return None


def delivery_id(run: Mapping[str, Any]) -> str:
    """The Run's uid; after a batch resume `<uid>.<resumes>`, as the resumed run's end is news of its own."""
    meta = run["metadata"]
    base = str(meta.get("uid") or meta["name"])
    resumes = raw.resumes_done(run)
    return f"{base}.{resumes}" if resumes else base


def current(status: dict[str, Any]) -> WebhookStatus | None:
    raw = status.get("webhook")
    return WebhookStatus.model_validate(raw) if raw else None


@dataclass(frozen=True)
class Step:
    """What to do now: send, wait `seconds`, or nothing (`done`)."""

    send: bool = False
    seconds: float | None = None
    done: bool = False


def plan(run: Mapping[str, Any], now: dt.datetime) -> Step:
    spec, status = run.get("spec") or {}, run.get("status") or {}
    if not spec.get("callbackUrl") or not is_terminal(status.get("phase")):
        return Step(done=True)
    state = current(status)
    if state is None:
        return Step(send=True)
    if state.state != "pending":
        return Step(done=True)
    if state.next_attempt_at is not None and state.next_attempt_at > now:
        return Step(seconds=(state.next_attempt_at - now).total_seconds())
    return Step(send=True)


def undelivered(run: Mapping[str, Any]) -> bool:
    """The raw Run has a webhook still to deliver (history pruning must keep it)."""
    hook = (run.get("status") or {}).get("webhook")
    return bool((run.get("spec") or {}).get("callbackUrl")) and (hook is None or hook.get("state") == "pending")


def retryable(status_code: int) -> bool:
    return status_code >= 500 or status_code in (408, 429)


def after_attempt(
    run: Mapping[str, Any],
    now: dt.datetime,
    policy: Policy,
    status_code: int | None = None,
    error: str | None = None,
    final: bool = False,
) -> WebhookStatus:
    """The state after one attempt that got `status_code` (or failed with `error`; `final`: never retry it)."""
    spec, status = run.get("spec") or {}, run.get("status") or {}
    before = current(status)
    attempts = (before.attempts if before else 0) + 1
    state = WebhookStatus(
        state="pending",
        url=spec["callbackUrl"],
        delivery_id=delivery_id(run),
        attempts=attempts,
        status_code=status_code,
        last_error=error,
    )
    if status_code is not None and 200 <= status_code < 300:
        return state.model_copy(update={"state": "delivered", "delivered_at": now, "last_error": None})
    if status_code is not None and not retryable(status_code):
        final = True
        state.last_error = error or f"http: the receiver answered {status_code}; 4xx but 408/429 is not retried"
    elif status_code is not None and error is None:
        state.last_error = f"http: the receiver answered {status_code}"
    ended = timefmt.parse_optional(status.get("endTime")) or now
    due = now + dt.timedelta(seconds=_delay(policy, attempts, state.delivery_id))
    if final or due > ended + dt.timedelta(seconds=policy.deadline_seconds):
        if not final:
            state.last_error = f"{state.last_error or 'not delivered'}; gave up after {attempts} attempts (deadline)"
        return state.model_copy(update={"state": "failed"})
    return state.model_copy(update={"next_attempt_at": due})


def _delay(policy: Policy, attempts: int, seed: str) -> float:
    return backoff.delay("exponential_jitter", attempts, policy.backoff_seconds, policy.backoff_max_seconds, seed)


# The default key of a namespace's webhooks: HMAC(release key, KEY_CONTEXT + namespace), as 64 hex characters.
KEY_CONTEXT = b"taskops.dev/webhook-key/v1/"


def namespace_key(release_key: bytes, namespace: str) -> bytes:
    """The key a Task without spec.webhookSecret signs with: one per namespace, so a receiver of one tenant
    holds nothing that verifies (or forges) another tenant's webhooks. Hex, so it is typed like any secret."""
    # Surrounding whitespace is no part of it: a key file's newline must not make two different keys.
    return hmac.new(release_key.strip(), KEY_CONTEXT + namespace.encode(), hashlib.sha256).hexdigest().encode()


def sign(secret: bytes, stamp: int, body: bytes) -> str:
    mac = hmac.new(secret, str(stamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(secret: bytes, stamp: str, body: bytes, signature: str, now: float, tolerance: float = 300.0) -> bool:
    """What a receiver does (a reference implementation; the tests use it too)."""
    try:
        when = int(stamp)
    except ValueError:
        return False
    if abs(now - when) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, when, body), signature)
