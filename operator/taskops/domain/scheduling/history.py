"""Which finished Runs of a Task to delete: history limits and a TTL, like CronJob and Job."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from taskops.domain.delivery.webhooks import undelivered
from taskops.domain.resources import timefmt
from taskops.domain.resources.phases import Phase, is_terminal
from taskops.domain.resources.task import TaskSpec


@dataclass(frozen=True)
class Finished:
    name: str
    phase: str
    end_time: dt.datetime


def finished(run: Mapping[str, Any]) -> Finished | None:
    """A raw Run as pruning sees it, or None while it may not be pruned (not ended, or a webhook due).

    Raw, not validated: a Task's sync reads all its Runs on every Run end, and pydantic made that
    the operator's hottest path with many Runs per Task.
    """
    status = run.get("status") or {}
    phase, end = status.get("phase"), status.get("endTime")
    if not is_terminal(phase) or not end or undelivered(run):
        return None
    return Finished(run["metadata"]["name"], str(phase), timefmt.parse(str(end)))


def prune(spec: TaskSpec, finished: list[Finished], now: dt.datetime) -> tuple[list[str], dt.datetime | None]:
    """Names to delete now, and when the next TTL expiry is due (None: nothing waits)."""
    delete: set[str] = set()
    ok = sorted((f for f in finished if f.phase == Phase.SUCCEEDED), key=lambda f: f.end_time, reverse=True)
    bad = sorted((f for f in finished if f.phase != Phase.SUCCEEDED), key=lambda f: f.end_time, reverse=True)
    delete.update(f.name for f in ok[spec.successful_runs_history_limit :])
    delete.update(f.name for f in bad[spec.failed_runs_history_limit :])
    next_due: dt.datetime | None = None
    if spec.ttl_seconds_after_finished is not None:
        ttl = dt.timedelta(seconds=spec.ttl_seconds_after_finished)
        for f in finished:
            if f.name in delete:
                continue
            expiry = f.end_time + ttl
            if expiry <= now:
                delete.add(f.name)
            elif next_due is None or expiry < next_due:
                next_due = expiry
    return sorted(delete), next_due
