"""Tasks, Runs and Contexts for driving the pure reconcile decision (shared by the decision's unit tests)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from taskops.domain.execution.decide import decide as decide_at
from taskops.domain.execution.decide_batch import RESULT_GRACE
from taskops.domain.execution.decision import Context, Decision
from taskops.domain.execution.jobs import BatchPods
from taskops.domain.execution.versions import Version, content_hash, versioned_content
from taskops.domain.resources.run import Run
from taskops.domain.resources.task import Task
from tests import builders
from tests.builders import T0, stamp

TASK_META = {"namespace": "ns", "uid": "task-uid"}
RUN_META = {"namespace": "ns", "uid": "run-uid", "generation": 1, "resourceVersion": "5"}
OWNED = {"ownerReferences": [builders.owner("Task", "t", "task-uid")]}


def make_task(**spec: Any) -> Task:
    """Task `t` in `ns`, not retried unless `maxRetries` says so."""
    spec.setdefault("maxRetries", 0)
    return Task.model_validate(builders.task("t", metadata=TASK_META, **spec))


def make_run(status: dict[str, Any] | None = None, owned: bool = True) -> Run:
    """Run `r` of Task `t`, owned by it unless `owned` is false."""
    meta = {**RUN_META, **(OWNED if owned else {})}
    return Run.model_validate(builders.run("r", "t", metadata=meta, status=status))


def version_of(task: Task, number: int = 1) -> Version:
    return Version(number, f"t-v{number}", content_hash(versioned_content(task.spec)), task.spec)


def decide(
    run: Run, task: Task | None, job: dict[str, Any] | None, pods: list[dict[str, Any]], now: dt.datetime
) -> Decision:
    """Every Task here is at version 1; the version tests call the domain's decide themselves."""
    return decide_at(run, task, job, pods, now, Context(versions=[version_of(task)] if task else []))


# A Run whose first attempt (Job r-1) started a minute before T0.
RUNNING = {
    "phase": "RUNNING",
    "attempt": 1,
    "jobName": "r-1",
    "startTime": "2026-03-01T11:59:00Z",
    "version": {"number": 1, "id": "t-v1"},
}

# --- batch Runs (spec.inputs) -----------------------------------------------------------------------------

CHUNKS = ["r-inputs-0", "r-inputs-1", "r-inputs-2"]

# Past the time a run waits for the pods of inputs its ended Job counted (their results are then "missing").
LATER = T0 + RESULT_GRACE


def batch_task(**spec: Any) -> Task:
    """Task `t` in `ns` with three retries (which a batch Run never uses)."""
    return Task.model_validate(builders.task("t", metadata=TASK_META, maxRetries=3, **spec))


def batch_run(status: dict[str, Any] | None = None, resume: int = 0, count: int = 25, **spec: Any) -> Run:
    """Run `r` of `count` inputs in CHUNKS of 10, created at T0."""
    inputs = {"count": count, "chunkSize": 10, "configMaps": CHUNKS}
    meta = {**RUN_META, **OWNED, "creationTimestamp": stamp(T0)}
    return Run.model_validate(
        builders.run("r", "t", metadata=meta, status=status, inputs=inputs, resume=resume, **spec)
    )


def decide_batch(
    run: Run,
    task: Task,
    job: dict[str, Any] | None = None,
    now: dt.datetime = T0,
    chunks: list[str] | None = None,
    pods: list[dict[str, Any]] | None = None,
    batch_pods: BatchPods | None = None,
) -> Decision:
    """The decision with every chunk ConfigMap present unless `chunks` names those that are."""
    ctx = Context(
        versions=[version_of(task)], chunks=frozenset(CHUNKS if chunks is None else chunks), batch_pods=batch_pods
    )
    return decide_at(run, task, job, pods or [], now, ctx)


# A batch Run of 25 inputs whose first attempt (Indexed Job r-1) started at T0.
BATCH_RUNNING = {
    "phase": "RUNNING",
    "attempt": 1,
    "jobName": "r-1",
    "startTime": stamp(T0),
    "version": {"number": 1, "id": "t-v1"},
    "attempts": [{"number": 1, "jobName": "r-1", "startTime": stamp(T0)}],
    "batch": {"total": 25},
}


def partial_status() -> dict[str, Any]:
    """The status of a batch Run that ended PARTIAL_SUCCEEDED: inputs 3 and 17-20 failed."""
    job = builders.indexed_job(completed="0-2,4-16,21-24", failed="3,17-20", ended="Failed")
    d = decide_batch(batch_run(BATCH_RUNNING), batch_task(), job, now=LATER)
    assert d.status is not None and d.status.phase.value == "PARTIAL_SUCCEEDED"
    return d.status.to_k8s()
