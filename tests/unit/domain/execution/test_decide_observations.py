"""`decide` turns every observation into an outcome: the admission verdict and a refused Job create (table-driven)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from taskops.domain.execution.decide import decide
from taskops.domain.execution.decision import AwaitAdmission, Context, JobRejected
from taskops.domain.execution.versions import Version, content_hash, versioned_content
from taskops.domain.queueing.admission import ADMITTED, Admission, Limit, Wait
from taskops.domain.resources.phases import EndReason, Phase
from taskops.domain.resources.run import Run
from taskops.domain.resources.task import Task
from tests import builders
from tests.builders import T0, job

QUOTA = "exceeded quota: jobs, requested: count/jobs.batch=1, limited: count/jobs.batch=0"
RUNNING: dict[str, Any] = {
    "phase": "RUNNING",
    "attempt": 1,
    "jobName": "r-1",
    "startTime": "2026-03-01T11:59:00Z",
    "version": {"number": 1, "id": "t-v1"},
}


@dataclass(frozen=True)
class Case:
    id: str
    status: dict[str, Any] | None = None
    admission: Admission | None = None
    rejected: JobRejected | None = None
    job: dict[str, Any] | None = None
    stop: bool = False
    task: dict[str, Any] = field(default_factory=dict)
    # Expected: the phase and end reason written (None: no status write), the Job created, the Events.
    phase: Phase | None = None
    end_reason: EndReason | None = None
    creates: str | None = None
    events: tuple[str, ...] = ()
    message: str | None = None
    # Handed to admission without a write (no verdict yet).
    awaits: AwaitAdmission | None = None


KEYED = {"concurrencyKey": "db"}
BLOCKED = Wait("BLOCKED", Limit.CONCURRENCY_KEY, "ns/db", 1, 1, 2)
QUEUED = Wait("QUEUED", Limit.AGENT, "ns/gpu", 2, 2, 1)
FULL = Wait("QUEUE_FULL", Limit.CONCURRENCY_KEY, "ns/db", 1, 1, 4)

CASES = [
    Case("unkeyed-starts", phase=Phase.RUNNING, creates="r-1"),
    # `make fuzz` found (issue 20): a Task with concurrencyKey "" sent its Runs to admission with neither key nor
    # agent, whose every decision then failed an assertion, so no keyed Run in the cluster was admitted any more.
    # An empty key is no key, as everywhere else (the API's queue_full check, admission's limits).
    Case(
        "empty-key-is-no-key-and-starts", task={"concurrencyKey": "", "agent": ""}, phase=Phase.RUNNING, creates="r-1"
    ),
    Case("keyed-no-verdict-yet-no-write", task=KEYED, awaits=AwaitAdmission("db", None, 0)),
    Case(
        "waiting-no-verdict-after-a-restart-keeps-its-status",
        task={"agent": "gpu", "priority": 7},
        status={"phase": "BLOCKED", "message": "agent", "version": {"number": 1, "id": "t-v1"}, "agent": "gpu"},
        awaits=AwaitAdmission(None, "gpu", 7),
    ),
    Case("keyed-admitted", task=KEYED, admission=ADMITTED, phase=Phase.RUNNING, creates="r-1"),
    Case(
        "keyed-blocked",
        task=KEYED,
        admission=BLOCKED,
        phase=Phase.BLOCKED,
        message='concurrency key "db" at 1/1, position 2',
    ),
    Case(
        "agent-queued",
        task={"agent": "gpu"},
        admission=QUEUED,
        phase=Phase.QUEUED,
        message='queued behind higher-priority runs (agent "gpu" at 2/2), position 1',
    ),
    Case(
        "keyed-queue-full",
        task=KEYED,
        admission=FULL,
        phase=Phase.STOPPED,
        end_reason=EndReason.QUEUE_FULL,
        events=("QueueFull",),
        message='queue full: concurrency key "db" at 1/1 and 3 runs already waiting',
    ),
    Case("job-missing-is-created", status=RUNNING, creates="r-1"),
    Case(
        "job-refused-ends-start-failed",
        status=RUNNING,
        rejected=JobRejected("r-1", QUOTA),
        phase=Phase.FAILED,
        end_reason=EndReason.START_FAILED,
        events=("StartFailed",),
        message=f"Job r-1 could not be created: {QUOTA}",
    ),
    Case("refusal-of-another-attempt-is-ignored", status=RUNNING, rejected=JobRejected("r-0", QUOTA), creates="r-1"),
    Case("refusal-once-the-job-exists-is-ignored", status=RUNNING, rejected=JobRejected("r-1", QUOTA), job=job()),
    Case(
        "stop-wins-over-a-refusal",
        status=RUNNING,
        rejected=JobRejected("r-1", QUOTA),
        stop=True,
        phase=Phase.STOPPED,
        end_reason=EndReason.STOPPED,
        events=("Stopped",),
    ),
]


def make(case: Case) -> tuple[Run, Task, Version]:
    raw_task = builders.task("t", maxRetries=0, **case.task)
    raw_task["metadata"].update(namespace="ns", uid="task-uid")
    task = Task.model_validate(raw_task)
    raw_run = builders.run("r", "t", **({"stop": True} if case.stop else {}))
    raw_run["metadata"].update(
        namespace="ns",
        uid="run-uid",
        generation=1,
        resourceVersion="5",
        ownerReferences=[builders.owner("Task", "t", "task-uid")],
    )
    if case.status:
        raw_run["status"] = case.status
    version = Version(1, "t-v1", content_hash(versioned_content(task.spec)), task.spec)
    return Run.model_validate(raw_run), task, version


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_decide(case: Case) -> None:
    run, task, version = make(case)
    ctx = Context(versions=[version], admission=case.admission, job_rejected=case.rejected)
    d = decide(run, task, case.job, [], T0, ctx)
    assert (d.status.phase if d.status else None) == case.phase
    assert (d.status.end_reason if d.status else None) == case.end_reason
    assert (d.create_job["metadata"]["name"] if d.create_job else None) == case.creates
    assert tuple(e.reason for e in d.events) == case.events
    assert d.await_admission == case.awaits
    if case.message is not None:
        assert d.status is not None and d.status.message == case.message
