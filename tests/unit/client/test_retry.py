"""Which answers the client sends again, after how long, and how often (taskops/client/retry.py)."""

from __future__ import annotations

import datetime as dt

from taskops.api import limits
from taskops.api.schemas import Problem
from taskops.client.retry import REFUSED_BEFORE_WRITING, RetryPolicy, parse_retry_after

POLICY = RetryPolicy(retries=2, max_delay=5.0)
KUBE_DOWN = Problem(type="https://taskops.dev/problems/kubernetes-unavailable", title="x", status=503)
BUSY = Problem(type="https://taskops.dev/problems/busy", title="x", status=503)


def test_a_503_or_429_with_retry_after_is_sent_again_within_the_bounds() -> None:
    assert POLICY.after_answer(1, 503, "1", KUBE_DOWN, safe=True) == 1.0
    assert POLICY.after_answer(2, 429, "2", None, safe=True) == 2.0
    assert POLICY.after_answer(1, 503, "3600", KUBE_DOWN, safe=True) == 5.0, "capped at max_delay"
    assert POLICY.after_answer(3, 503, "1", KUBE_DOWN, safe=True) is None, "retries exhausted"
    assert POLICY.after_answer(1, 503, None, KUBE_DOWN, safe=True) is None, "no Retry-After"
    assert POLICY.after_answer(1, 500, "1", None, safe=True) is None
    assert POLICY.after_answer(1, 503, "soon", KUBE_DOWN, safe=True) is None


def test_a_write_that_may_have_happened_is_not_sent_again() -> None:
    assert POLICY.after_answer(1, 503, "1", KUBE_DOWN, safe=False) is None
    assert POLICY.after_answer(1, 503, "1", BUSY, safe=False) == 1.0, "refused before anything was written"
    assert POLICY.after_broken_connection(1, safe=False) is None
    assert POLICY.after_broken_connection(1, safe=True) == 1.0
    assert POLICY.after_broken_connection(3, safe=True) is None


def test_the_refusals_before_writing_are_the_apis() -> None:
    assert {limits.busy(503, "x").type, limits.busy(429, "x").type} == REFUSED_BEFORE_WRITING


def test_retry_after_as_seconds_or_an_http_date() -> None:
    now = dt.datetime(2026, 12, 1, 10, 0, 0, tzinfo=dt.UTC)
    assert parse_retry_after(" 7 ") == 7.0
    assert parse_retry_after("Tue, 01 Dec 2026 10:00:30 GMT", now) == 30.0
    assert parse_retry_after("Tue, 01 Dec 2026 09:00:00 GMT", now) == 0.0
    assert parse_retry_after("-1") is None and parse_retry_after("later") is None
