"""The operator's Prometheus metrics, and the one place that updates them from Run transitions."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from taskops.domain.resources import timefmt
from taskops.domain.resources.phases import is_terminal

_DURATIONS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 3 * 3600, 12 * 3600)

RUNS_ENDED = Counter("taskops_runs_ended_total", "Runs that ended, by phase and end reason", ["phase", "end_reason"])
RUNS_STARTED = Counter("taskops_runs_started_total", "Runs whose first attempt started")
RUN_DURATION = Histogram("taskops_run_duration_seconds", "From a Run's start to its end", buckets=_DURATIONS)
QUEUE_WAIT = Histogram(
    "taskops_run_queue_wait_seconds", "From a Run's creation (or scheduledAt) to its first attempt", buckets=_DURATIONS
)
QUEUE_DEPTH = Gauge("taskops_queue_depth", "Runs waiting, per concurrency key or agent", ["kind", "namespace", "name"])
SCHEDULE_LAG = Histogram(
    "taskops_schedule_lag_seconds",
    "From a fire time to its Run's creation, or to its Job's for a Run created ahead",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
RECONCILE_ERRORS = Counter("taskops_reconcile_errors_total", "Failed reconciles (retried)", ["controller"])
WEBHOOKS = Counter("taskops_webhook_deliveries_total", "Webhook attempts by outcome", ["outcome"])
LEADER = Gauge("taskops_leader", "1 while this replica holds the leader Lease")
# The work queues (operator/workqueue.py), client-go's workqueue metrics: how many keys wait, for how long, and how
# long a worker holds one. A queue whose depth only grows, or whose wait keeps rising, is starved.
_QUEUE_SECONDS = (0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
WORKQUEUE_DEPTH = Gauge("taskops_workqueue_depth", "Keys queued and not yet taken by a worker", ["queue"])
WORKQUEUE_ACTIVE = Gauge("taskops_workqueue_active", "Keys a worker is processing", ["queue"])
WORKQUEUE_WAIT = Histogram(
    "taskops_workqueue_queue_duration_seconds",
    "From a key's add to a worker taking it",
    ["queue"],
    buckets=_QUEUE_SECONDS,
)
WORKQUEUE_WORK = Histogram(
    "taskops_workqueue_work_duration_seconds",
    "From a worker taking a key to its done",
    ["queue"],
    buckets=_QUEUE_SECONDS,
)


def observe_status(run: dict[str, Any], old: dict[str, Any], new: dict[str, Any]) -> None:
    """Count what a status write changed: a first start, an end."""
    if old.get("startTime") is None and new.get("startTime") is not None:
        RUNS_STARTED.inc()
        started = timefmt.parse_optional(new["startTime"])
        queued = timefmt.parse_optional(
            (run.get("spec") or {}).get("scheduledAt") or run["metadata"].get("creationTimestamp")
        )
        if started and queued:
            QUEUE_WAIT.observe(max(0.0, (started - queued).total_seconds()))
    if not is_terminal(old.get("phase")) and is_terminal(new.get("phase")):
        RUNS_ENDED.labels(new.get("phase") or "", new.get("endReason") or "").inc()
        start, end = timefmt.parse_optional(new.get("startTime")), timefmt.parse_optional(new.get("endTime"))
        if start and end:
            RUN_DURATION.observe(max(0.0, (end - start).total_seconds()))
