"""A batch run's progress: the bar a terminal shows, the line a pipe gets."""

from __future__ import annotations

import datetime as dt
from typing import Any

from taskops.kubectl import progress
from tests import builders

NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


def batch_run(succeeded: int, failed: int, running: int, total: int = 1000, started: int = 10) -> dict[str, Any]:
    start = (NOW - dt.timedelta(seconds=started)).strftime("%Y-%m-%dT%H:%M:%SZ")
    batch = {"total": total, "succeeded": succeeded, "failed": failed, "running": running}
    return builders.run("b-1", status={"phase": "RUNNING", "startTime": start, "batch": batch})


def test_rate_and_eta_count_the_inputs_finished_since_the_run_started() -> None:
    p = progress.of_run(batch_run(90, 10, 20), NOW)
    assert p is not None
    assert (p.total, p.done, p.running) == (1000, 100, 20)
    assert p.rate == 10.0 and p.eta == 90.0


def test_nothing_finished_yet_has_no_rate() -> None:
    p = progress.of_run(batch_run(0, 0, 5), NOW)
    assert p is not None and p.rate is None and p.eta is None
    assert progress.bar(p).endswith("-/s  ETA -")


def test_a_run_that_is_not_a_batch_has_no_progress() -> None:
    assert progress.of_run(builders.run("r", status={"phase": "RUNNING"}), NOW) is None
    assert progress.line(builders.run("r", status={"phase": "QUEUED"}), None) == "r: QUEUED"


def test_the_bar_fills_with_successes_and_failures() -> None:
    p = progress.of_run(batch_run(500, 100, 30), NOW)
    assert p is not None
    text = progress.bar(p, width=10)
    assert text.startswith("[#####x....] 600/1000  ok 500  failed 100  running 30  60.0/s  ETA 7s"), text
    full = progress.of_run(batch_run(1000, 0, 0), NOW)
    assert full is not None and progress.bar(full, width=10).startswith("[##########] 1000/1000")


def test_the_plain_line_says_everything_the_bar_does() -> None:
    run = batch_run(500, 100, 30, started=3600)
    line = progress.line(run, progress.of_run(run, NOW))
    assert line == "b-1: RUNNING 500 succeeded, 100 failed, 30 running of 1000 (0.2/s  ETA 40m00s)"


def test_durations_are_short() -> None:
    assert [progress.duration(s) for s in (4.4, 59, 61, 3599, 3600, 7384)] == [
        "4s",
        "59s",
        "1m01s",
        "59m59s",
        "1h00m",
        "2h03m",
    ]
