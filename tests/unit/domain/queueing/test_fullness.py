"""The API's synchronous queue_full answer (domain/queueing/fullness.py)."""

from __future__ import annotations

from typing import Any

from taskops.domain.queueing.fullness import Queue, full_reason, key_bounds


def _run(phase: str, key: str = "db", priority: int = 0, admitted: bool = False) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "version": {"number": 1}, "concurrencyKey": key, "priority": priority}
    if admitted:
        status["admittedAt"] = "2026-01-01T00:00:00Z"
    return {"status": status}


def test_full_only_when_the_limit_is_held_and_enough_wait_ahead() -> None:
    queue = Queue("concurrency key", "db", "concurrencyKey", limit=1, max_queued=1)
    held = [_run("RUNNING", admitted=True)]
    assert full_reason(held, [queue], 0) is None, "nobody waits yet"
    found = full_reason([*held, _run("QUEUED")], [queue], 0)
    assert found is not None and found[0] is queue and "maxQueued 1" in found[1]
    # A higher priority would overtake the waiting run: the operator decides who ends queue_full.
    assert full_reason([*held, _run("QUEUED")], [queue], 5) is None
    # Not held by an admitted run (it just ended), other keys, ended runs and unvalidated ones do not count.
    others = [_run("SUCCEEDED", admitted=True), _run("QUEUED", key="other"), {"status": {"phase": "QUEUED"}}]
    assert full_reason([_run("QUEUED"), *others], [queue], 0) is None
    unbounded = Queue("agent", "a", "agent", limit=1, max_queued=None)
    assert full_reason([*held, _run("QUEUED")], [unbounded], 0) is None


def test_key_bounds_are_the_smallest_declared() -> None:
    specs = [
        {"concurrencyKey": "db", "concurrencyLimit": 3, "maxQueued": 9},
        {"concurrencyKey": "db", "concurrencyLimit": 2},
        {"concurrencyKey": "db", "maxQueued": 4},
        {"concurrencyKey": "other", "concurrencyLimit": 1, "maxQueued": 0},
    ]
    assert key_bounds(specs, "db") == (1, 4)
    assert key_bounds([], "db") == (1, None)
