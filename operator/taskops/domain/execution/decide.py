"""Decide what to do for one Run: a pure function of (Run, Task, Job, pods, now).

The operator snapshots its caches, calls `decide`, and applies the Decision's
writes in the fixed order decision.py lists (status at most once). Status is
written before a Job is created, and the Job's name is a function of (Run,
attempt), so a crash at any point neither loses the attempt nor makes a second
Job for it. A Job the API server refused comes back as `ctx.job_rejected`.

A Run's life: CREATED → validated (or INVALID) → RUNNING attempt 1 → the
attempt ends → a retryable end with retries left: SCHEDULED until
`nextAttemptAt` (stored as a time, so it survives restarts) → RUNNING attempt
2 … → the last attempt's end is the Run's end.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from taskops.domain.execution import attempts
from taskops.domain.execution.decide_batch import (
    attempt_job,
    follow_batch,
    prepare_resume,
    resume_requested,
    resumed_message,
    wait_for_chunks,
)
from taskops.domain.execution.decision import (
    AwaitAdmission,
    Context,
    Decision,
    EventSpec,
    attempt_start,
    camel,
    end_status,
    ended_event,
    invalid,
    step,
    wait,
)
from taskops.domain.execution.jobs import task_owner
from taskops.domain.execution.versions import Version, resolve
from taskops.domain.queueing.admission import Admitted, Wait
from taskops.domain.resources import backoff, names, timefmt
from taskops.domain.resources.agent import JobDefaults
from taskops.domain.resources.base import ObjectMeta
from taskops.domain.resources.conditions import set_condition
from taskops.domain.resources.overrides import result_rules, validate_overrides
from taskops.domain.resources.params import validate_params
from taskops.domain.resources.phases import EndReason, Phase, is_terminal
from taskops.domain.resources.results import check_result
from taskops.domain.resources.run import Attempt, BatchStatus, PinnedVersion, Run
from taskops.domain.resources.task import Task

# How long to wait for a failed attempt's pod to show up in the cache before ending without an exit code.
POD_GRACE = dt.timedelta(seconds=3)
POD_RECHECK_SECONDS = 0.5
VERSION_WAIT_SECONDS = 0.5
NO_BATCH_INIT_IMAGE = (
    "the operator has no --batch-init-image: this batch run's pods get the Run's own params, not their input's; "
    "they can read their input from the mounted chunks (docs/batch.md)"
)


def _owned_by(run: Run, task: Task) -> bool:
    return any(ref.get("uid") == task.metadata.uid for ref in run.metadata.owner_references or [])


def decide(
    run: Run,
    task: Task | None,
    job: dict[str, Any] | None,
    pods: list[dict[str, Any]],
    now: dt.datetime,
    ctx: Context,
) -> Decision:
    resuming = resume_requested(run)
    if (is_terminal(run.status.phase) and not resuming) or run.metadata.deletion_timestamp:
        return Decision()
    decision = Decision()
    if task is None:
        if resuming:
            return Decision()
        # The Task was deleted with its Runs orphaned (`kubectl delete task --cascade=orphan`): a Run with an
        # attempt started has a Job that counts against its limits until the Run ends, so it goes on at its
        # pinned version (the revisions are orphaned too) and ends as it would have.
        task = _task_at_pinned_version(run, ctx.versions)
        if task is None:
            message = f'Task "{run.spec.task_ref.name}" not found in namespace "{run.namespace}"'
            return invalid(run, "TaskNotFound", message, now)
    elif not _owned_by(run, task) and task.metadata.deletion_timestamp is None:
        # Never while the Task is being deleted: an orphaning delete has just removed this reference, and one
        # added back would point at a Task about to be gone, so the garbage collector would delete the Run.
        decision.owner = task_owner(task)

    annotations = run.metadata.annotations or {}
    disposition = annotations.get(names.ANNOTATION_DISPOSITION)
    if disposition and run.status.attempt is None:
        # A record made by the Task controller (missed, dst_skipped, skipped...): it ends without running.
        reason = EndReason(disposition)
        message = annotations.get(names.ANNOTATION_DISPOSITION_MESSAGE) or reason.value
        decision.status = end_status(run, reason, message, now)
        decision.events.append(EventSpec("Normal", camel(reason), message))
        return decision
    if run.spec.stop:
        message = annotations.get(names.ANNOTATION_STOP_MESSAGE) or "stopped on request (spec.stop)"
        decision.delete_job = run.status.job_name if run.status.phase == Phase.RUNNING else None
        if ctx.released and run.status.attempt is None:
            # Its fire created the Job before this Run's status could say so.
            decision.delete_job = names.job_name(run.name, 1)
        decision.status = end_status(run, EndReason.STOPPED, message, now)
        decision.events.append(EventSpec("Normal", "Stopped", message))
        return decision

    versions = ctx.versions
    if run.status.attempt is None:
        resolved = resolve(run.spec.version, task, versions)
        if resolved is None or not versions:
            # The Task controller writes the version of a new spec at once; wait for it (a Run pinning version 1
            # of a Task applied with it too).
            decision.requeue_after = VERSION_WAIT_SECONDS
            return decision
        if isinstance(resolved, str):
            return invalid(run, "VersionNotFound", resolved, now, decision.owner)
        return _admit(run, _at_version(task, resolved), resolved, now, decision, ctx)
    pinned = run.status.version
    if pinned is not None:
        version = next((v for v in versions if v.id == pinned.id), None)
        if version is None:
            if not versions:
                decision.requeue_after = VERSION_WAIT_SECONDS
                return decision
            # Without its version the attempt cannot be followed: its Job goes with the Run's end, or it would
            # run on outside every limit.
            decision.delete_job = run.status.job_name if run.status.phase == Phase.RUNNING else None
            decision.status = end_status(
                run, EndReason.START_FAILED, f"version {pinned.number} ({pinned.id}) of the task no longer exists", now
            )
            return decision
        task = _at_version(task, version)
    if resuming:
        prepared = prepare_resume(run, now)
        if not isinstance(prepared, tuple):
            decision.status = prepared
            return decision
        resumed, attempt = prepared
        decision = _start_attempt(resumed, task, attempt, now, decision, ctx)
        assert decision.status is not None
        resumed_message(run, decision.status)
        return decision
    if run.status.phase == Phase.SCHEDULED:
        if run.status.next_attempt_at is not None and now < run.status.next_attempt_at:
            decision.requeue_after = (run.status.next_attempt_at - now).total_seconds()
            return decision
        return _start_attempt(run, task, run.status.attempt + 1, now, decision, ctx)
    return _follow_attempt(run, task, job, pods, now, decision, ctx)


def _task_at_pinned_version(run: Run, versions: list[Version]) -> Task | None:
    """A stand-in for the deleted Task of a Run that has started an attempt: its pinned version's spec."""
    pinned = run.status.version
    if run.status.attempt is None or pinned is None:
        return None
    version = next((v for v in versions if v.id == pinned.id), None)
    if version is None:
        return None
    meta = ObjectMeta(name=run.spec.task_ref.name, namespace=run.namespace)
    return Task(metadata=meta, spec=version.spec)


def _at_version(task: Task, version: Version) -> Task:
    return task.model_copy(update={"spec": version.spec})


def _admit(run: Run, task: Task, version: Version, now: dt.datetime, decision: Decision, ctx: Context) -> Decision:
    """Validate a new Run, then let it wait (scheduledAt, the queue) or start its first attempt."""
    # An empty key or agent is none (as admission's limits and the API's queue_full check read them): a Run
    # sent to admission with neither would wait on nothing.
    agent = run.spec.agent or task.spec.agent or None
    if agent and ctx.agent_missing:
        return invalid(
            run, "AgentNotFound", f'agent "{agent}" not found in namespace "{run.namespace}"', now, decision.owner
        )
    batch_run = run.spec.inputs is not None
    params, errors = validate_params(task.spec.params or [], run.spec.params, "spec.params", partial=batch_run)
    overrides, override_errors = validate_overrides(task.spec.overrides, run.spec.overrides, "spec.overrides")
    errors += override_errors
    if errors:
        return invalid(run, "InvalidParams", "; ".join(e.render() for e in errors), now, decision.owner)
    status = run.status.model_copy(deep=True)
    first_look = status.version is None
    status.params, status.overrides = params, overrides
    status.version = PinnedVersion(number=version.number, id=version.id)
    status.concurrency_key = task.spec.concurrency_key or None
    status.agent = agent
    status.priority = run.spec.priority if run.spec.priority is not None else task.spec.priority
    if first_look:
        step(status, now, "validated", f"version {version.number}")
    validated = run.model_copy(update={"status": status})

    if ctx.duplicate_of is not None:
        key = run.spec.dedupe_key or task.spec.dedupe_key
        message = f"duplicate of run {ctx.duplicate_of}: dedupe key {key!r} within {task.spec.dedupe_window_seconds}s"
        decision.status = end_status(validated, EndReason.SKIPPED, message, now)
        decision.events.append(EventSpec("Normal", "Deduplicated", message))
        return decision
    if run.spec.inputs is not None:
        waiting = wait_for_chunks(run, validated, now, decision, ctx)
        if waiting is not None:
            return waiting
    if names.ANNOTATION_AHEAD in (run.metadata.annotations or {}) and not ctx.released:
        # Created ahead of its fire: only the fire starts it (the Task controller creates its Job, after the
        # overlap and missed-fire policies), and the Job's watch event brings it back here. Valid, it gets no
        # status until then (a SCHEDULED write would be one write more per fire, 83 a second with 5,000 Tasks
        # spread over the minute): the RUNNING write records the validation; an invalid one ends now.
        return decision
    if run.spec.scheduled_at is not None and now < run.spec.scheduled_at:
        decision.requeue_after = (run.spec.scheduled_at - now).total_seconds()
        until = f"waiting until {timefmt.stamp(run.spec.scheduled_at)}"
        return wait(run, validated, Phase.SCHEDULED, until, None, now, decision)
    if (status.concurrency_key is None and status.agent is None) or ctx.released:
        # Released: its Job exists already (a Task given a key after the fire); recorded as admitted, it counts.
        return _start_attempt(validated, task, 1, now, decision, ctx, admitted=True)
    match ctx.admission:
        case None:
            # No verdict yet: no status write that would only say so; the verdict's write records the validation.
            decision.await_admission = AwaitAdmission(status.concurrency_key, status.agent, status.priority or 0)
            return decision
        case Admitted():
            return _start_attempt(validated, task, 1, now, decision, ctx, admitted=True)
        case Wait(phase="QUEUE_FULL") as full:
            decision.status = end_status(validated, EndReason.QUEUE_FULL, full.reason, now)
            decision.events.append(EventSpec("Warning", "QueueFull", full.reason))
            return decision
        case Wait() as held:
            return wait(run, validated, Phase(held.phase), held.reason, held.position, now, decision)


def _job_defaults(run: Run, ctx: Context) -> JobDefaults | str | None:
    """The Agent's job defaults for the Run's attempts: those recorded when the first attempt started, so a
    retry gets the same pod settings after the Agent is changed or deleted. A string: why there are none."""
    if not run.status.agent:
        return None
    if run.status.agent_job_defaults is not None:
        return run.status.agent_job_defaults
    if ctx.agent is not None:
        return ctx.agent.job_defaults or JobDefaults()
    # Only a Run that started before the defaults were recorded (an older operator) can get here.
    return f'agent "{run.status.agent}" was deleted and this run has no record of its jobDefaults'


def _agent_lost(run: Run, message: str, now: dt.datetime, decision: Decision) -> Decision:
    """Never start an attempt silently without the Agent's pod settings (service account, node selector)."""
    decision.status = end_status(run, EndReason.START_FAILED, message, now)
    decision.status.conditions = set_condition(
        decision.status.conditions, "Valid", "False", "AgentNotFound", message, now, run.metadata.generation
    )
    decision.events.append(EventSpec("Warning", "AgentNotFound", message))
    return decision


def _start_attempt(
    run: Run,
    task: Task,
    attempt: int,
    now: dt.datetime,
    decision: Decision,
    ctx: Context,
    admitted: bool = False,
) -> Decision:
    defaults = _job_defaults(run, ctx)
    if isinstance(defaults, str):
        return _agent_lost(run, defaults, now, decision)
    job, config_maps = attempt_job(task, run, attempt, defaults, ctx.batch_pods)
    status = run.status.model_copy(deep=True)
    if status.agent:
        status.agent_job_defaults = defaults
    if run.spec.inputs is not None and status.batch is None:
        status.batch = BatchStatus(total=run.spec.inputs.count)
    gen = run.metadata.generation
    previous = status.job_name
    status.phase = Phase.RUNNING
    status.attempt = attempt
    status.job_name = job["metadata"]["name"]
    status.retry_of = previous if attempt > 1 else None
    status.next_attempt_at = None
    status.queue_position = None
    if admitted:
        status.admitted_at = now
        if status.concurrency_key or status.agent:
            step(status, now, "admitted")
    status.start_time = status.start_time or now
    status.message = f"attempt {attempt} running as Job {status.job_name}"
    status.observed_generation = gen
    status.attempts = [*(status.attempts or []), Attempt(number=attempt, job_name=status.job_name, start_time=now)]
    status.conditions = set_condition(status.conditions, "Valid", "True", "Valid", "", now, gen)
    status.conditions = set_condition(status.conditions, "Ended", "False", "Running", status.message, now, gen)
    status.conditions = set_condition(status.conditions, "Succeeded", "Unknown", "Running", status.message, now, gen)
    step(status, now, "job_created", f"attempt {attempt}: Job {status.job_name}")
    decision.status = status
    decision.create_job = job
    decision.create_config_maps = config_maps
    if run.spec.inputs is not None and ctx.batch_pods is None:
        decision.events.append(EventSpec("Warning", "NoBatchInitImage", NO_BATCH_INIT_IMAGE))
    if attempt > 1:
        # A retry's or a resume's start; the first attempt's is told by the Event that ends the Run (ended_event).
        decision.events.append(EventSpec("Normal", "Started", f"Created Job {status.job_name} (attempt {attempt})"))
    return decision


def _job_missing(run: Run, task: Task, attempt: int, now: dt.datetime, decision: Decision, ctx: Context) -> Decision:
    """The attempt is recorded in status but its Job is not in the cache."""
    rejected = ctx.job_rejected
    if rejected is not None and rejected.job_name == run.status.job_name:
        # The API server refused the Job (an invalid template, a quota, RBAC): the attempt cannot start, and
        # the same Job would be refused the same way.
        message = f"Job {rejected.job_name} could not be created: {rejected.message}"
        decision.status = end_status(run, EndReason.START_FAILED, message, now)
        decision.events.append(EventSpec("Warning", "StartFailed", message))
        return decision
    # Not created yet (a crash after the status write) or not seen yet: create it; AlreadyExists means it is there.
    defaults = _job_defaults(run, ctx)
    if isinstance(defaults, str):
        return _agent_lost(run, defaults, now, decision)
    decision.create_job, decision.create_config_maps = attempt_job(task, run, attempt, defaults, ctx.batch_pods)
    return decision


def _follow_attempt(
    run: Run,
    task: Task,
    job: dict[str, Any] | None,
    pods: list[dict[str, Any]],
    now: dt.datetime,
    decision: Decision,
    ctx: Context,
) -> Decision:
    attempt = run.status.attempt or 1
    if job is None:
        return _job_missing(run, task, attempt, now, decision, ctx)
    if run.spec.inputs is not None:
        return follow_batch(run, job, pods, now, decision)
    outcome = attempts.observe(job, pods)
    if outcome is None:
        stuck = attempts.start_failure(pods)
        if stuck is None:
            return decision
        # The pod can never start (bad image, bad config): end the attempt and remove its Job.
        decision.delete_job = run.status.job_name
        outcome = stuck
    elif (
        outcome.exit_code is None
        and outcome.reason == EndReason.FAILED
        and outcome.finished_at
        and now - outcome.finished_at < POD_GRACE
    ):
        decision.requeue_after = POD_RECHECK_SECONDS
        return decision

    status = run.status.model_copy(deep=True)
    reason, message = outcome.reason, outcome.message
    gen = run.metadata.generation
    schema, as_text = result_rules(task.spec.result_schema, run.status.overrides)
    result, result_error = check_result(outcome.termination_message, schema, as_text)
    if result is not None or schema is not None:
        status.result = result
    retryable = reason.value in task.spec.retry_on
    if schema is not None and reason == EndReason.SUCCESS:
        valid = result_error is None
        status.conditions = set_condition(
            status.conditions,
            "ResultValid",
            "True" if valid else "False",
            "Valid" if valid else "InvalidResult",
            result_error or "",
            now,
            gen,
        )
        if not valid:
            # The container did its work; another attempt would write the same result.
            reason, message, retryable = EndReason.FAILED, result_error or "", False

    started = attempts.pod_started(pods)
    if started is not None:
        step(status, started, "pod_running", f"attempt {attempt}")
    record = Attempt(
        number=attempt,
        job_name=run.status.job_name or "",
        start_time=attempt_start(status, attempt),
        end_time=now,
        exit_code=outcome.exit_code,
        end_reason=reason,
        message=message,
    )
    status.attempts = [a for a in status.attempts or [] if a.number != attempt] + [record]
    status.exit_code = outcome.exit_code
    step(status, now, "attempt_ended", f"attempt {attempt}: {reason.value}: {message}")
    job_name = run.status.job_name

    if reason != EndReason.SUCCESS and retryable and attempt <= task.spec.max_retries:
        wait = backoff.delay(
            task.spec.backoff_strategy,
            attempt,
            task.spec.backoff_seconds,
            task.spec.backoff_max_seconds,
            seed=run.metadata.uid or run.name,
        )
        status.phase = Phase.SCHEDULED
        status.next_attempt_at = now + dt.timedelta(seconds=wait)
        status.message = (
            f"attempt {attempt} {reason.value}: {message}; attempt {attempt + 1} at "
            f"{timefmt.stamp(status.next_attempt_at)}"
        )
        step(status, now, "retry_scheduled", f"attempt {attempt + 1} in {wait:.1f}s")
        decision.status = status
        decision.requeue_after = wait
        decision.events.append(
            EventSpec(
                "Warning",
                "RetryScheduled",
                f"Job {job_name}: {message}; retrying in "
                f"{wait:.1f}s (attempt {attempt + 1} of {task.spec.max_retries + 1})",
            )
        )
        return decision

    final = end_status(
        run.model_copy(update={"status": status}), reason, f"attempt {attempt}: {message}", now, outcome.exit_code
    )
    decision.status = final
    decision.events.append(ended_event(reason, job_name, attempt, message))
    return decision
