"""Decide what to do for one Run: a pure function of (Run, Task, Job, pods, now).

The operator snapshots its caches, calls `decide`, and applies the Decision in
a fixed order: owner reference, status (one write), Job, Events. Status is
written before the Job is created, and the Job's name is a function of (Run,
attempt), so a crash at any point neither loses the attempt nor makes a
second Job for it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from taskops import API_VERSION
from taskops.domain import attempts, names
from taskops.domain.conditions import set_condition
from taskops.domain.jobs import build_job, owner_reference
from taskops.domain.models import Run, RunStatus, Task
from taskops.domain.phases import EndReason, Phase, is_terminal, phase_of

# How long to wait for a failed attempt's pod to show up in the cache before ending without an exit code.
POD_GRACE = dt.timedelta(seconds=3)
POD_RECHECK_SECONDS = 0.5


@dataclass(frozen=True)
class EventSpec:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass
class Decision:
    status: RunStatus | None = None
    # Deleted before the status write: a Run ended STOPPED is never looked at again.
    delete_job: str | None = None
    create_job: dict[str, Any] | None = None
    owner: dict[str, Any] | None = None
    events: list[EventSpec] = field(default_factory=list)
    requeue_after: float | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.status or self.delete_job or self.create_job or self.owner or self.events or self.requeue_after
        )


def _owned_by(run: Run, task: Task) -> bool:
    return any(ref.get("uid") == task.metadata.uid for ref in run.metadata.owner_references or [])


def end_status(run: Run, reason: EndReason, message: str, now: dt.datetime, exit_code: int | None = None) -> RunStatus:
    status = run.status.model_copy(deep=True)
    gen = run.metadata.generation
    status.phase = phase_of(reason)
    status.end_reason = reason
    status.message = message
    status.exit_code = exit_code
    status.end_time = now
    status.observed_generation = gen
    succeeded = reason == EndReason.SUCCESS
    status.conditions = set_condition(status.conditions, "Ended", "True", _camel(reason), message, now, gen)
    status.conditions = set_condition(
        status.conditions, "Succeeded", "True" if succeeded else "False", _camel(reason), message, now, gen
    )
    return status


def _camel(reason: EndReason) -> str:
    return "".join(part.capitalize() for part in reason.value.split("_"))


def decide(
    run: Run, task: Task | None, job: dict[str, Any] | None, pods: list[dict[str, Any]], now: dt.datetime
) -> Decision:
    if is_terminal(run.status.phase) or run.metadata.deletion_timestamp:
        return Decision()
    if task is None:
        message = f'Task "{run.spec.task_ref.name}" not found in namespace "{run.namespace}"'
        status = end_status(run, EndReason.INVALID, message, now)
        status.conditions = set_condition(
            status.conditions, "Valid", "False", "TaskNotFound", message, now, run.metadata.generation
        )
        return Decision(status=status, events=[EventSpec("Warning", "TaskNotFound", message)])

    decision = Decision()
    if not _owned_by(run, task):
        decision.owner = owner_reference(API_VERSION, "Task", task.metadata.name, task.metadata.uid or "")

    annotations = run.metadata.annotations or {}
    disposition = annotations.get(names.ANNOTATION_DISPOSITION)
    if disposition and run.status.attempt is None:
        # A record made by the scheduler (missed, dst_skipped, skipped...): it ends without running.
        reason = EndReason(disposition)
        message = annotations.get(names.ANNOTATION_DISPOSITION_MESSAGE) or reason.value
        decision.status = end_status(run, reason, message, now)
        decision.events.append(EventSpec("Normal", _camel(reason), message))
        return decision
    if run.spec.stop:
        message = annotations.get(names.ANNOTATION_STOP_MESSAGE) or "stopped on request (spec.stop)"
        decision.delete_job = run.status.job_name
        decision.status = end_status(run, EndReason.STOPPED, message, now)
        decision.events.append(EventSpec("Normal", "Stopped", message))
        return decision

    if run.status.phase != Phase.RUNNING or run.status.attempt is None:
        return _start_attempt(run, task, 1, now, decision)

    attempt = run.status.attempt
    if job is None:
        # Written to status but not (yet) seen in the cache: recreate; AlreadyExists means it is there.
        decision.create_job = build_job(task, run, attempt)
        return decision
    outcome = attempts.observe(job, pods)
    if outcome is None:
        return decision
    if (
        outcome.exit_code is None
        and outcome.reason == EndReason.FAILED
        and outcome.finished_at
        and now - outcome.finished_at < POD_GRACE
    ):
        decision.requeue_after = POD_RECHECK_SECONDS
        return decision
    message = f"attempt {attempt}: {outcome.message}"
    decision.status = end_status(run, outcome.reason, message, now, outcome.exit_code)
    job_name = names.job_name(run.name, attempt)
    if outcome.reason == EndReason.SUCCESS:
        decision.events.append(EventSpec("Normal", "Succeeded", f"Job {job_name}: {outcome.message}"))
    else:
        decision.events.append(EventSpec("Warning", _camel(outcome.reason), f"Job {job_name}: {outcome.message}"))
    return decision


def _start_attempt(run: Run, task: Task, attempt: int, now: dt.datetime, decision: Decision) -> Decision:
    job = build_job(task, run, attempt)
    status = run.status.model_copy(deep=True)
    gen = run.metadata.generation
    status.phase = Phase.RUNNING
    status.attempt = attempt
    status.job_name = job["metadata"]["name"]
    status.start_time = status.start_time or now
    status.message = f"attempt {attempt} running as Job {status.job_name}"
    status.observed_generation = gen
    status.conditions = set_condition(status.conditions, "Valid", "True", "Valid", "", now, gen)
    status.conditions = set_condition(status.conditions, "Ended", "False", "Running", status.message, now, gen)
    status.conditions = set_condition(status.conditions, "Succeeded", "Unknown", "Running", status.message, now, gen)
    decision.status = status
    decision.create_job = job
    decision.events.append(EventSpec("Normal", "Started", f"Created Job {status.job_name} (attempt {attempt})"))
    return decision
