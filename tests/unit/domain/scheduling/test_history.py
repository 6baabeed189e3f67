"""History pruning: which ended Runs a Task's limits and TTL delete, read from raw Runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from taskops.domain.resources.task import Task
from taskops.domain.scheduling.history import Finished, finished, prune
from tests import builders
from tests.builders import T0


def raw_run(name: str, phase: str, end: str | None = "2026-03-01T12:00:00Z", **extra: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, **extra.pop("status", {})}
    if end:
        status["endTime"] = end
    return builders.run(name, "t", status=status, **extra)


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        (raw_run("a", "SUCCEEDED"), Finished("a", "SUCCEEDED", T0)),
        (raw_run("b", "PARTIAL_SUCCEEDED"), Finished("b", "PARTIAL_SUCCEEDED", T0)),
        (raw_run("c", "RUNNING"), None),
        (raw_run("d", "FAILED", end=None), None),
        # A webhook still due keeps the Run; delivered or given up, it may go.
        (raw_run("e", "FAILED", callbackUrl="https://h/x"), None),
        (raw_run("f", "FAILED", callbackUrl="https://h/x", status={"webhook": {"state": "pending"}}), None),
        (
            raw_run("g", "FAILED", callbackUrl="https://h/x", status={"webhook": {"state": "delivered"}}),
            Finished("g", "FAILED", T0),
        ),
    ],
)
def test_finished_reads_raw_runs(run: dict[str, Any], expected: Finished | None) -> None:
    assert finished(run) == expected


def test_limits_keep_the_newest_of_each_kind_and_the_ttl_says_when_to_look_again() -> None:
    spec = Task.model_validate(
        builders.task("t", successfulRunsHistoryLimit=1, failedRunsHistoryLimit=2, ttlSecondsAfterFinished=60)
    ).spec
    runs = [
        Finished("ok-old", "SUCCEEDED", T0),
        Finished("ok-new", "SUCCEEDED", T0 + dt.timedelta(seconds=30)),
        Finished("bad-1", "FAILED", T0 + dt.timedelta(seconds=10)),
        Finished("bad-2", "PARTIAL_SUCCEEDED", T0 + dt.timedelta(seconds=20)),
        Finished("bad-3", "STOPPED", T0 + dt.timedelta(seconds=40)),
    ]
    delete, next_due = prune(spec, runs, T0 + dt.timedelta(seconds=85))
    # ok-old and bad-1 over the limits; bad-2 past its TTL (20 + 60 <= 85).
    assert delete == ["bad-1", "bad-2", "ok-old"]
    assert next_due == T0 + dt.timedelta(seconds=90)
