"""The pure reconcile decision for every situation a Run can be in."""

from __future__ import annotations

import datetime as dt
from typing import Any

from taskops.domain.models import Run, Task
from taskops.domain.phases import EndReason, Phase
from taskops.domain.reconcile import POD_GRACE, decide
from tests import builders
from tests.unit.k8s_builders import T0, job, pod


def make_task(**spec: Any) -> Task:
    obj = builders.task("t", **spec)
    obj["metadata"].update(namespace="ns", uid="task-uid")
    return Task.model_validate(obj)


def make_run(status: dict[str, Any] | None = None, owned: bool = True) -> Run:
    obj = builders.run("r", "t")
    obj["metadata"].update(namespace="ns", uid="run-uid", generation=1, resourceVersion="5")
    if owned:
        obj["metadata"]["ownerReferences"] = [{"kind": "Task", "name": "t", "uid": "task-uid"}]
    if status:
        obj["status"] = status
    return Run.model_validate(obj)


RUNNING = {"phase": "RUNNING", "attempt": 1, "jobName": "r-1", "startTime": "2026-03-01T11:59:00Z"}


def test_new_run_writes_status_then_creates_attempt_one() -> None:
    d = decide(make_run(), make_task(), None, [], T0)
    assert d.status is not None and d.create_job is not None
    assert d.status.phase == Phase.RUNNING
    assert d.status.attempt == 1
    assert d.status.job_name == d.create_job["metadata"]["name"] == "r-1"
    assert d.status.start_time == T0
    assert d.owner is None
    assert [e.reason for e in d.events] == ["Started"]
    job_obj = d.create_job
    assert job_obj["spec"]["backoffLimit"] == 0
    assert job_obj["metadata"]["ownerReferences"][0]["uid"] == "run-uid"
    pod_spec = job_obj["spec"]["template"]["spec"]
    assert pod_spec["restartPolicy"] == "Never"
    env = {e["name"]: e["value"] for e in pod_spec["containers"][0]["env"]}
    assert env == {"TASKOPS_TASK": "t", "TASKOPS_RUN": "r", "TASKOPS_ATTEMPT": "1"}


def test_unowned_run_gets_its_task_as_owner() -> None:
    d = decide(make_run(owned=False), make_task(), None, [], T0)
    assert d.owner is not None and d.owner["uid"] == "task-uid" and d.owner["kind"] == "Task"


def test_missing_task_makes_the_run_invalid() -> None:
    d = decide(make_run(), None, None, [], T0)
    assert d.status is not None and d.create_job is None
    assert d.status.phase == Phase.INVALID
    assert d.status.end_reason == EndReason.INVALID
    conds = {c.type: c for c in d.status.conditions or []}
    assert conds["Valid"].status == "False" and conds["Valid"].reason == "TaskNotFound"
    assert conds["Ended"].status == "True"
    assert d.events[0].type == "Warning"


def test_running_run_with_job_missing_from_cache_recreates_the_same_name() -> None:
    d = decide(make_run(RUNNING), make_task(), None, [], T0)
    assert d.status is None
    assert d.create_job is not None and d.create_job["metadata"]["name"] == "r-1"


def test_running_job_changes_nothing() -> None:
    assert decide(make_run(RUNNING), make_task(), job(), [pod(None)], T0).empty


def test_completed_job_ends_the_run_successfully() -> None:
    d = decide(make_run(RUNNING), make_task(), job(condition="Complete"), [pod(0)], T0)
    assert d.status is not None
    assert (d.status.phase, d.status.end_reason, d.status.exit_code) == (Phase.SUCCEEDED, EndReason.SUCCESS, 0)
    assert d.status.end_time == T0
    assert d.status.start_time == dt.datetime(2026, 3, 1, 11, 59, tzinfo=dt.UTC)
    assert [e.reason for e in d.events] == ["Succeeded"]


def test_failed_job_ends_the_run_failed_with_exit_code() -> None:
    d = decide(make_run(RUNNING), make_task(), job(condition="Failed"), [pod(3, "Error")], T0)
    assert d.status is not None
    assert (d.status.phase, d.status.end_reason, d.status.exit_code) == (Phase.FAILED, EndReason.FAILED, 3)
    assert d.events[0].type == "Warning" and "exited with code 3" in d.events[0].message


def test_failed_job_waits_briefly_for_its_pod() -> None:
    d = decide(make_run(RUNNING), make_task(), job(condition="Failed", at=T0), [], T0 + POD_GRACE / 2)
    assert d.status is None and d.requeue_after
    late = decide(make_run(RUNNING), make_task(), job(condition="Failed", at=T0), [], T0 + POD_GRACE * 2)
    assert late.status is not None and late.status.phase == Phase.FAILED and late.status.exit_code is None


def test_terminal_runs_are_left_alone() -> None:
    done = {**RUNNING, "phase": "SUCCEEDED", "endReason": "success"}
    assert decide(make_run(done), make_task(), None, [], T0).empty
    assert decide(make_run(done), None, None, [], T0).empty


def test_condition_transition_time_moves_only_on_change() -> None:
    first = decide(make_run(), make_task(), None, [], T0)
    assert first.status is not None
    status = first.status.to_k8s()
    later = T0 + dt.timedelta(seconds=30)
    d = decide(make_run(status), make_task(), job(condition="Complete", at=later), [pod(0)], later)
    assert d.status is not None
    conds = {c.type: c for c in d.status.conditions or []}
    assert conds["Valid"].last_transition_time == T0
    assert conds["Succeeded"].last_transition_time == later
