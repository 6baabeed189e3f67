"""A fire skipped by DST, end to end in pure code: planned, created, ended, shown by the API, counted.

Issue 23: the seed 002 end reason `dst_skipped` must be visible on the REST API for such a record,
and the metrics must count it.

Mainly domain/scheduling/firing.py; also covers firedruns.py, domain/execution/decide.py and api/views.py.
"""

from __future__ import annotations

import datetime as dt

from prometheus_client import REGISTRY

from taskops.api import views
from taskops.domain.execution.decide import decide
from taskops.domain.execution.decision import Context
from taskops.domain.resources.phases import EndReason, Phase
from taskops.domain.resources.run import Run
from taskops.domain.resources.task import Task
from taskops.domain.scheduling.firedruns import build_scheduled_run
from taskops.domain.scheduling.firing import plan
from taskops.domain.scheduling.recurrence import parse
from taskops.operator import metrics
from tests import builders

UTC = dt.UTC
# America/New_York springs forward 2027-03-14 02:00 -> 03:00 EDT (07:00Z): 02:30 does not exist.
GAP_END = dt.datetime(2027, 3, 14, 7, 0, tzinfo=UTC)


def test_a_dst_skipped_fire_ends_dst_skipped_on_the_api_and_in_the_metrics() -> None:
    obj = builders.task("nightly", scheduleKind="cron", scheduleExpr="30 2 * * *", timezone="America/New_York")
    obj["metadata"].update(namespace="ns", uid="task-uid", creationTimestamp="2027-03-01T00:00:00Z")
    task = Task.model_validate(obj)
    schedule = parse("cron", "30 2 * * *", "America/New_York")
    fire_plan = plan(
        task.spec, schedule, dt.datetime(2027, 3, 13, 12, tzinfo=UTC), GAP_END + dt.timedelta(seconds=1), []
    )
    (planned,) = fire_plan.runs
    assert (planned.scheduled_time, planned.disposition) == (GAP_END, EndReason.DST_SKIPPED)

    body = build_scheduled_run(task, planned.scheduled_time, planned.disposition, planned.message)
    body["metadata"].update(uid="run-uid", generation=1, resourceVersion="1", creationTimestamp="2027-03-14T07:00:01Z")
    run = Run.model_validate(body)
    decision = decide(run, task, None, [], GAP_END + dt.timedelta(seconds=2), Context(versions=[]))
    assert decision.status is not None and decision.create_job is None
    assert (decision.status.phase, decision.status.end_reason) == (Phase.STOPPED, EndReason.DST_SKIPPED)

    ended = {**body, "status": decision.status.model_dump(mode="json", by_alias=True, exclude_none=True)}
    seed002 = views.run002(ended, now=GAP_END)
    assert (seed002.status, seed002.end_reason) == ("ended", "dst_skipped")
    assert views.run_out(ended).status == "STOPPED"

    def counted() -> float:
        labels = {"phase": "STOPPED", "end_reason": "dst_skipped"}
        return REGISTRY.get_sample_value("taskops_runs_ended_total", labels) or 0.0

    before = counted()
    metrics.observe_status(ended, {}, ended["status"])
    assert counted() == before + 1


def test_a_schedules_fires_carry_its_input_and_execution_mode() -> None:
    fire_with = {"params": {"n": 1}, "executionMode": "SCHEDULE"}
    task = Task.model_validate(
        builders.task("act-schedule-x", scheduleKind="cron", scheduleExpr="@daily", fireWith=fire_with)
    )
    meta = {"annotations": {"taskops.dev/schedule-of": "act"}}
    task = task.model_copy(update={"metadata": task.metadata.model_copy(update=meta)})
    fired = build_scheduled_run(task, GAP_END)
    spec = fired["spec"]
    assert (spec["params"], spec["executionMode"], spec["triggeredBy"]) == ({"n": 1}, "SCHEDULE", "cron")
    assert views.run_out(fired).action_name == "act" and views.run_out(fired).task_name == "act-schedule-x"
    inputs = {"count": 3, "chunkSize": 3, "configMaps": ["act-schedule-x-inputs-0"]}
    task = Task.model_validate(
        builders.task("b", scheduleKind="cron", scheduleExpr="@daily", fireWith={"inputs": inputs})
    )
    assert build_scheduled_run(task, GAP_END)["spec"]["inputs"] == inputs
    # A record of a fire that did not run carries nothing to run.
    assert "inputs" not in build_scheduled_run(task, GAP_END, EndReason.MISSED, "missed")["spec"]
