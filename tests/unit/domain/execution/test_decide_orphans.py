"""The Run decision when its Task or its Agent is deleted under it (issue 18 §5)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from taskops.domain.execution.decide import decide
from taskops.domain.execution.decision import Context
from taskops.domain.queueing.admission import ADMITTED
from taskops.domain.resources.agent import AgentSpec
from taskops.domain.resources.phases import EndReason, Phase
from tests.builders import T0, job, pod
from tests.unit.decisions import RUNNING, make_run, make_task, version_of

TOLERATION = {"key": "pool", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}
GPU = AgentSpec.model_validate({"capacity": 1, "jobDefaults": {"tolerations": [TOLERATION]}})


def tolerations(job_obj: dict[str, Any] | None) -> list[dict[str, Any]]:
    assert job_obj is not None
    return list(job_obj["spec"]["template"]["spec"].get("tolerations") or [])


# -- the Task deleted with --cascade=orphan ---------------------------------------------------------------


def test_a_running_run_of_a_deleted_task_follows_its_attempt_at_its_pinned_version() -> None:
    task = make_task(maxRetries=1, backoffStrategy="fixed", backoffSeconds=5)
    ctx = Context(versions=[version_of(task)])
    running = decide(make_run(RUNNING, owned=False), None, job(), [pod()], T0, ctx)
    assert running.empty, "a running attempt of a deleted Task is left running, not ended INVALID"
    failed = decide(make_run(RUNNING, owned=False), None, job(condition="Failed"), [pod(1)], T0, ctx)
    assert failed.status is not None and failed.status.phase == Phase.SCHEDULED, "the pinned version's retries hold"
    assert failed.owner is None, "no owner reference to a Task that is gone"
    retry = decide(make_run(failed.status.to_k8s(), owned=False), None, None, [], T0 + dt.timedelta(seconds=5), ctx)
    assert retry.create_job is not None and retry.create_job["metadata"]["name"] == "r-2"
    assert retry.create_job["metadata"]["labels"]["taskops.dev/task"] == "t"
    done = decide(make_run(RUNNING, owned=False), None, job(condition="Complete"), [pod(0)], T0, ctx)
    assert done.status is not None and done.status.phase == Phase.SUCCEEDED


def test_a_run_of_a_deleted_task_that_never_started_is_invalid() -> None:
    task = make_task()
    waiting = {"phase": "QUEUED", "version": {"number": 1, "id": "t-v1"}, "concurrencyKey": "db"}
    d = decide(make_run(waiting), None, None, [], T0, Context(versions=[version_of(task)]))
    assert d.status is not None and d.status.phase == Phase.INVALID
    assert "not found" in (d.status.message or "")


def test_a_running_run_whose_version_is_gone_ends_and_its_job_is_deleted() -> None:
    task = make_task()
    other = version_of(task, 2)
    d = decide(make_run(RUNNING), task, job(), [pod()], T0, Context(versions=[other]))
    assert d.status is not None and d.status.end_reason == EndReason.START_FAILED
    assert d.delete_job == "r-1", "a Job left running after its Run ended counts against no limit"


def test_no_owner_reference_is_added_to_a_task_being_deleted() -> None:
    task = make_task()
    deleting = task.model_copy(update={"metadata": task.metadata.model_copy(update={"deletion_timestamp": T0})})
    d = decide(make_run(owned=False), deleting, None, [], T0, Context(versions=[version_of(task)]))
    assert d.owner is None
    assert decide(make_run(owned=False), task, None, [], T0, Context(versions=[version_of(task)])).owner is not None


# -- the Agent deleted mid-run ---------------------------------------------------------------------------


def with_agent(status: dict[str, Any]) -> dict[str, Any]:
    return {**status, "agent": "gpu"}


def test_the_first_attempt_records_the_agents_job_defaults() -> None:
    task = make_task(agent="gpu")
    d = decide(make_run(), task, None, [], T0, Context(versions=[version_of(task)], agent=GPU, admission=ADMITTED))
    assert d.status is not None and d.status.agent_job_defaults is not None
    assert d.status.to_k8s()["agentJobDefaults"] == {"tolerations": [TOLERATION]}
    assert tolerations(d.create_job) == [TOLERATION]


def test_an_agent_without_job_defaults_is_recorded_as_empty() -> None:
    task = make_task(agent="gpu")
    ctx = Context(versions=[version_of(task)], agent=AgentSpec(), admission=ADMITTED)
    d = decide(make_run(), task, None, [], T0, ctx)
    assert d.status is not None and d.status.to_k8s()["agentJobDefaults"] == {}


def test_a_retry_after_the_agent_is_deleted_keeps_the_recorded_defaults() -> None:
    task = make_task(agent="gpu", maxRetries=1, backoffStrategy="fixed", backoffSeconds=1)
    scheduled = with_agent({**RUNNING, "phase": "SCHEDULED", "nextAttemptAt": "2026-03-01T12:00:00Z",
                            "agentJobDefaults": {"tolerations": [TOLERATION]}})  # fmt: skip
    ctx = Context(versions=[version_of(task)], agent=None, agent_missing=True)
    d = decide(make_run(scheduled), task, None, [], T0 + dt.timedelta(seconds=1), ctx)
    assert d.create_job is not None and tolerations(d.create_job) == [TOLERATION]
    # ... and when the Agent is changed instead: the retry keeps what the Run was admitted with.
    changed = AgentSpec.model_validate({"jobDefaults": {"nodeSelector": {"x": "y"}}})
    d = decide(make_run(scheduled), task, None, [], T0 + dt.timedelta(seconds=1), Context(versions=ctx.versions,
                                                                                         agent=changed))  # fmt: skip
    assert d.create_job is not None and tolerations(d.create_job) == [TOLERATION]
    assert "nodeSelector" not in d.create_job["spec"]["template"]["spec"]


def test_a_run_with_no_record_fails_clearly_when_its_agent_is_gone() -> None:
    # A Run started by an operator that did not record the defaults yet.
    task = make_task(agent="gpu", maxRetries=1, backoffStrategy="fixed", backoffSeconds=1)
    scheduled = with_agent({**RUNNING, "phase": "SCHEDULED", "nextAttemptAt": "2026-03-01T12:00:00Z"})
    ctx = Context(versions=[version_of(task)], agent=None, agent_missing=True)
    d = decide(make_run(scheduled), task, None, [], T0 + dt.timedelta(seconds=1), ctx)
    assert d.create_job is None
    assert d.status is not None and d.status.end_reason == EndReason.START_FAILED
    assert 'agent "gpu" was deleted' in (d.status.message or "")
    assert [e.reason for e in d.events] == ["AgentNotFound"]
    # With the Agent still there, such a Run takes its defaults now and records them.
    d = decide(make_run(scheduled), task, None, [], T0 + dt.timedelta(seconds=1), Context(versions=ctx.versions,
                                                                                         agent=GPU))  # fmt: skip
    assert d.status is not None and d.status.agent_job_defaults is not None
    assert tolerations(d.create_job) == [TOLERATION]
