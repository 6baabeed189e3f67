"""bench.schedule_lag's watcher: which events end the watch."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bench.schedule_lag import Watcher
from taskops.domain.resources import names

START = dt.datetime(2026, 12, 2, 2, 0, tzinfo=dt.UTC)


def job(run: str) -> dict[str, Any]:
    return {"metadata": {"name": f"{run}-1", "labels": {names.LABEL_RUN: run}}}


def pod(job_name: str) -> dict[str, Any]:
    return {"metadata": {"labels": {names.LABEL_JOB_NAME: job_name}}, "status": {"phase": "Running"}}


def test_pods_of_fires_before_the_window_do_not_end_the_watch() -> None:
    watcher = Watcher(START, START + dt.timedelta(minutes=1), expected=2)
    for run in ("t-0-20261202-015900", "t-1-20261202-015900"):  # the fire before the window
        watcher.on_job("ADDED", job(run), 0)
        watcher.on_pod("MODIFIED", pod(f"{run}-1"), 0)
    watcher.on_job("ADDED", job("t-0-20261202-020000"), 0)
    watcher.on_pod("MODIFIED", pod("t-1-20261202-020000-1"), 0)  # a pod's event before its Job's
    watcher.on_job("ADDED", job("t-1-20261202-020000"), 0)
    assert not watcher.done.is_set()  # two Jobs of the window, one of their pods Running
    watcher.on_pod("MODIFIED", pod("t-0-20261202-020000-1"), 0)
    assert watcher.done.is_set()
    assert watcher.lags()["pod_running"]["n"] == 2
