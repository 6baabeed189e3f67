"""The API's views of raw Runs (api/views.py): each seed's vocabulary, the priority scale, selection and order."""

from __future__ import annotations

import datetime as dt
from typing import Any

from taskops.api import views
from tests import builders

NOW = dt.datetime(2026, 11, 25, 12, 0, 10, tzinfo=dt.UTC)


def _run(phase: str = "SUCCEEDED", reason: str | None = "success", **status: Any) -> dict[str, Any]:
    meta = {
        "namespace": "ns",
        "uid": "run-uid",
        "creationTimestamp": "2026-11-25T12:00:00Z",
        "ownerReferences": [builders.owner("Task", "orders", "task-uid")],
        "managedFields": [{"time": "2026-11-25T12:00:05Z"}, {"time": "2026-11-25T12:00:09Z"}],
    }
    status = {"phase": phase, "endReason": reason, "exitCode": 0, "attempt": 2, "params": {"n": 1}, **status}
    run = builders.run("r1", "orders", metadata=meta, status=status, params={"n": 1}, triggeredBy="api", user="alice")
    return views.slim(run)


def test_one_status_in_each_seed_vocabulary() -> None:
    run = _run(history=[{"time": "2026-11-25T12:00:01Z", "step": "ended", "message": "done"}], result={"x": 1})
    out = views.run_out(run)
    assert (out.status, out.is_done, out.is_successful, out.retry_attempt, out.task_id) == (
        "SUCCEEDED",
        True,
        True,
        1,
        "task-uid",
    )
    assert out.updated_at == dt.datetime(2026, 11, 25, 12, 0, 9, tzinfo=dt.UTC)
    assert views.execution(run).status == "succeeded"
    seed2 = views.run002(run, now=NOW)
    assert (seed2.status, seed2.end_reason, seed2.params) == (
        "ended",
        "success",
        {"n": "1"},
    )
    seed3 = views.task_run003(run)
    assert (seed3.status, seed3.result, seed3.history[0].actions[0].success) == ("success", {"x": 1}, True)  # type: ignore[index]
    stopped = _run("STOPPED", "stopped")
    assert views.execution(stopped).status == "aborted"
    assert views.run_out(stopped).error is None or views.run_out(stopped).is_successful is False
    queued = _run("BLOCKED", None)
    assert (views.execution(queued).status, views.run002(queued, now=NOW).status) == ("queued", "pending")
    assert views.task_run003(queued).status == "in_progress"


def test_a_run_annotated_with_a_time_that_is_not_one_still_reads_with_its_creation_time() -> None:
    # Anyone who may annotate a Run could make every list of its namespace fail with a ValueError.
    run = _run()
    run["metadata"]["annotations"] = {"taskops.dev/created-at": "garbage", "taskops.dev/updated-at": "9" * 300}
    out = views.run_out(run)
    created = dt.datetime(2026, 11, 25, 12, 0, 0, tzinfo=dt.UTC)
    assert (out.created_at, out.updated_at) == (created, created)
    run["metadata"]["annotations"] = {"taskops.dev/created-at": "2026-11-25T11:59:59Z"}
    assert views.run_out(run).created_at == dt.datetime(2026, 11, 25, 11, 59, 59, tzinfo=dt.UTC)


def test_select_runs_filters_and_sorts() -> None:
    a = views.run_out(_run("SUCCEEDED", "success"))
    b = views.run_out(_run("RUNNING", None)).model_copy(update={"id": "r2", "execution_mode": "LIVE"})
    assert [r.id for r in views.select_runs([a, b], {"status": "running"}, "-created_at")] == ["r2"]
    assert [r.id for r in views.select_runs([a, b], {"execution_mode": "live"}, "status")] == ["r2"]
    assert [r.id for r in views.select_runs([b, a], {}, "status")] == ["r2", "r1"]
    assert [r.id for r in views.select_runs([a, b], {}, "-status")] == ["r1", "r2"]


def test_agents_load_counts_admitted_runs_as_running_and_waiting_ones_as_queued() -> None:
    runs = [
        _run("RUNNING", None, agent="gpu", admittedAt="2026-11-25T12:00:01Z"),
        _run("SCHEDULED", None, agent="gpu", admittedAt="2026-11-25T12:00:01Z"),  # a retry's backoff keeps it
        _run("BLOCKED", None, agent="gpu"),
        _run("QUEUED", None, agent="cpu"),
        _run("CREATED", None, agent="cpu"),  # not waiting yet
        _run("SUCCEEDED", "success", agent="gpu", admittedAt="2026-11-25T12:00:01Z"),
        _run("RUNNING", None),
    ]
    load = views.agent_load(runs)
    assert load == {"gpu": (2, 1), "cpu": (0, 1)}
    out = views.agent_out(builders.agent("gpu", 4, maxQueued=9, metadata={"uid": "u1"}), load["gpu"])
    assert (out.name, out.uid, out.capacity, out.max_queued, out.running, out.queued) == ("gpu", "u1", 4, 9, 2, 1)


def test_an_execution_speaks_seed_000_and_carries_what_the_page_shows() -> None:
    run = _run("STOPPED", "stopped", history=[{"time": "2026-11-25T12:00:01Z", "step": "ended", "message": "x"}])
    out = views.execution(run)
    assert (out.status, out.task_name, out.end_reason, out.attempt, out.is_done) == (
        "aborted",
        "orders",
        "stopped",
        2,
        True,
    )
    assert out.triggered_by == "api" and [s.step for s in out.history] == ["ended"] and out.batch_inputs is None
    listed = views.select_runs([out, views.execution(_run("RUNNING", None))], {"status": "aborted"}, "-priority")
    assert [e.status for e in listed] == ["aborted"]


def test_seed_002_run_object() -> None:
    """Issue 20: exit_code absent until the run ends, retry_of_run_id a run id, triggered_by in 002's enum."""
    running = views.run002(_run("RUNNING", None, attempt=1), now=NOW).model_dump(mode="json")
    # Seed 002 types its optional fields without null: a field without a value is absent.
    assert not {"exit_code", "retry_of_run_id", "end_at", "end_reason"} & running.keys()
    assert None not in running.values()
    assert (running["retry_attempt"], running["instance_index"]) == (0, 0)
    ended = views.run002(_run(retryOf="r1-a1"), now=NOW).model_dump(mode="json")
    # The second attempt retries this run (not the Job of its first attempt); the attempt is counted apart.
    assert (ended["exit_code"], ended["retry_of_run_id"], ended["retry_attempt"]) == (0, "r1", 1)
    resumed = _run("RUNNING", None, attempt=1)
    resumed["metadata"].setdefault("annotations", {})["taskops.dev/resume-of"] = "r0"
    assert views.run002(resumed, now=NOW).retry_of_run_id == "r0"
    for taskops_trigger, seed_trigger in [
        ("api", "api"),
        ("manual", "api"),
        ("retry", "api"),
        ("resume", "api"),
        ("cron", "cron"),
        ("rrule", "cron"),
        ("once", "cron"),
        ("event", "service"),
        ("startup", "startup"),
    ]:
        run = _run()
        run["spec"]["triggeredBy"] = taskops_trigger
        assert views.run002(run, now=NOW).triggered_by == seed_trigger
        assert views.run_out(run).triggered_by == taskops_trigger  # the full value everywhere else
