"""Decide what to do for one Run: a pure function of (Run, Task, Job, pods, now).

The operator snapshots its caches, calls `decide`, and applies the Decision in
a fixed order: owner reference, Job deletion, status (one write), Job
creation, Events. Status is written before a Job is created, and the Job's
name is a function of (Run, attempt), so a crash at any point neither loses
the attempt nor makes a second Job for it.

A Run's life: CREATED → validated (or INVALID) → RUNNING attempt 1 → the
attempt ends → a retryable end with retries left: SCHEDULED until
`nextAttemptAt` (stored as a time, so it survives restarts) → RUNNING attempt
2 … → the last attempt's end is the Run's end.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from taskops import API_VERSION
from taskops.domain import attempts, backoff, batch, names
from taskops.domain.admission import Wait
from taskops.domain.conditions import set_condition
from taskops.domain.jobs import build_job, owner_reference
from taskops.domain.models import Run, RunStatus, Task
from taskops.domain.models.agent import AgentSpec
from taskops.domain.models.run import Attempt, BatchStatus, PinnedVersion, Step
from taskops.domain.params import validate_params
from taskops.domain.phases import EndReason, Phase, is_terminal, phase_of
from taskops.domain.results import check_result
from taskops.domain.versions import Version, resolve

# How long to wait for a failed attempt's pod to show up in the cache before ending without an exit code.
POD_GRACE = dt.timedelta(seconds=3)
POD_RECHECK_SECONDS = 0.5
HISTORY_LIMIT = 50
VERSION_WAIT_SECONDS = 0.5


@dataclass(frozen=True)
class EventSpec:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass
class Context:
    """What the operator knows beyond the Run, its Task, Job and pods."""

    versions: list[Version] = field(default_factory=list)
    # The Agent the Run names, if any; `agent_missing` when it names one that does not exist.
    agent: AgentSpec | None = None
    agent_missing: bool = False
    # An earlier Run with the same dedupe key inside the window.
    duplicate_of: str | None = None
    # The admission verdict for a Run that waits on a key or agent: "admit", a Wait, or None (none yet).
    admission: Literal["admit"] | Wait | None = None
    # A batch run's input ConfigMaps that exist (with their `inputs.jsonl` key).
    chunks: frozenset[str] = frozenset()


@dataclass
class Decision:
    status: RunStatus | None = None
    # Deleted before the status write: a Run ended STOPPED is never looked at again.
    delete_job: str | None = None
    create_job: dict[str, Any] | None = None
    # Created (create-or-get) after the status write and before the Job: a resume attempt's index map.
    create_config_maps: list[dict[str, Any]] = field(default_factory=list)
    owner: dict[str, Any] | None = None
    events: list[EventSpec] = field(default_factory=list)
    requeue_after: float | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.status
            or self.delete_job
            or self.create_job
            or self.create_config_maps
            or self.owner
            or self.events
            or self.requeue_after
        )


def _camel(reason: EndReason) -> str:
    return "".join(part.capitalize() for part in reason.value.split("_"))


def _step(status: RunStatus, now: dt.datetime, step: str, message: str | None = None) -> None:
    history = [*(status.history or []), Step(time=now, step=step, message=message)]
    status.history = history[-HISTORY_LIMIT:]


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
    status.next_attempt_at = None
    status.observed_generation = gen
    succeeded = reason == EndReason.SUCCESS
    status.conditions = set_condition(status.conditions, "Ended", "True", _camel(reason), message, now, gen)
    status.conditions = set_condition(
        status.conditions, "Succeeded", "True" if succeeded else "False", _camel(reason), message, now, gen
    )
    _step(status, now, "ended", f"{reason.value}: {message}")
    return status


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
    if task is None:
        if resuming:
            return Decision()
        message = f'Task "{run.spec.task_ref.name}" not found in namespace "{run.namespace}"'
        return _invalid(run, "TaskNotFound", message, now)

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
        decision.delete_job = run.status.job_name if run.status.phase == Phase.RUNNING else None
        decision.status = end_status(run, EndReason.STOPPED, message, now)
        decision.events.append(EventSpec("Normal", "Stopped", message))
        return decision

    versions = ctx.versions
    if run.status.attempt is None:
        resolved = resolve(run.spec.version, task, versions)
        if resolved is None:
            # The Task controller writes the version of a new spec at once; wait for it.
            decision.requeue_after = VERSION_WAIT_SECONDS
            return decision
        if isinstance(resolved, str):
            return _invalid(run, "VersionNotFound", resolved, now, decision.owner)
        return _admit(run, _at_version(task, resolved), resolved, now, decision, ctx)
    pinned = run.status.version
    if pinned is not None:
        version = next((v for v in versions if v.id == pinned.id), None)
        if version is None:
            if not versions:
                decision.requeue_after = VERSION_WAIT_SECONDS
                return decision
            decision.status = end_status(
                run, EndReason.START_FAILED, f"version {pinned.number} ({pinned.id}) of the task no longer exists", now
            )
            return decision
        task = _at_version(task, version)
    if resuming:
        return _resume(run, task, now, decision, ctx.agent)
    if run.status.phase == Phase.SCHEDULED:
        if run.status.next_attempt_at is not None and now < run.status.next_attempt_at:
            decision.requeue_after = (run.status.next_attempt_at - now).total_seconds()
            return decision
        return _start_attempt(run, task, run.status.attempt + 1, now, decision, ctx.agent)
    return _follow_attempt(run, task, job, pods, now, decision, ctx.agent)


def _invalid(run: Run, reason: str, message: str, now: dt.datetime, owner: dict[str, Any] | None = None) -> Decision:
    status = end_status(run, EndReason.INVALID, message, now)
    status.conditions = set_condition(
        status.conditions, "Valid", "False", reason, message, now, run.metadata.generation
    )
    return Decision(status=status, events=[EventSpec("Warning", reason, message)], owner=owner)


def _at_version(task: Task, version: Version) -> Task:
    return task.model_copy(update={"spec": version.spec})


def _admit(run: Run, task: Task, version: Version, now: dt.datetime, decision: Decision, ctx: Context) -> Decision:
    """Validate a new Run, then let it wait (scheduledAt, the queue) or start its first attempt."""
    agent = run.spec.agent or task.spec.agent
    if agent and ctx.agent_missing:
        return _invalid(
            run, "AgentNotFound", f'agent "{agent}" not found in namespace "{run.namespace}"', now, decision.owner
        )
    params, errors = validate_params(task.spec.params or [], run.spec.params, "spec.params")
    overrides, override_errors = validate_params(task.spec.overrides or [], run.spec.overrides, "spec.overrides")
    errors += override_errors
    if errors:
        return _invalid(run, "InvalidParams", "; ".join(e.render() for e in errors), now, decision.owner)
    status = run.status.model_copy(deep=True)
    first_look = status.version is None
    status.params, status.overrides = params, overrides
    status.version = PinnedVersion(number=version.number, id=version.id)
    status.concurrency_key = task.spec.concurrency_key
    status.agent = agent
    status.priority = run.spec.priority if run.spec.priority is not None else task.spec.priority
    if first_look:
        _step(status, now, "validated", f"version {version.number}")
    validated = run.model_copy(update={"status": status})

    if ctx.duplicate_of is not None:
        key = run.spec.dedupe_key or task.spec.dedupe_key
        message = f"duplicate of run {ctx.duplicate_of}: dedupe key {key!r} within {task.spec.dedupe_window_seconds}s"
        decision.status = end_status(validated, EndReason.SKIPPED, message, now)
        decision.events.append(EventSpec("Normal", "Deduplicated", message))
        return decision
    if run.spec.inputs is not None:
        waiting = _wait_for_chunks(run, validated, now, decision, ctx)
        if waiting is not None:
            return waiting
    if run.spec.scheduled_at is not None and now < run.spec.scheduled_at:
        decision.requeue_after = (run.spec.scheduled_at - now).total_seconds()
        return _wait(
            run, validated, Phase.SCHEDULED, f"waiting until {run.spec.scheduled_at.isoformat()}", None, now, decision
        )
    if status.concurrency_key is None and status.agent is None:
        return _start_attempt(validated, task, 1, now, decision, ctx.agent, admitted=True)
    verdict = ctx.admission
    if verdict == "admit":
        return _start_attempt(validated, task, 1, now, decision, ctx.agent, admitted=True)
    if verdict is None:
        return _wait(run, validated, Phase.QUEUED, "waiting for admission", None, now, decision)
    assert not isinstance(verdict, str)
    if verdict.phase == "QUEUE_FULL":
        decision.status = end_status(validated, EndReason.QUEUE_FULL, verdict.reason, now)
        decision.events.append(EventSpec("Warning", "QueueFull", verdict.reason))
        return decision
    return _wait(run, validated, Phase(verdict.phase), verdict.reason, verdict.position, now, decision)


def _wait(
    run: Run, validated: Run, phase: Phase, message: str, position: int | None, now: dt.datetime, decision: Decision
) -> Decision:
    """Show why the Run waits; write only when the phase or the reason changed (not on every position move)."""
    old = run.status
    if old.phase == phase and old.message == message and old.version is not None:
        return decision
    status = validated.status.model_copy(deep=True)
    if old.phase != phase:
        _step(status, now, phase.value.lower(), message)
    status.phase, status.message, status.queue_position = phase, message, position
    status.observed_generation = run.metadata.generation
    decision.status = status
    return decision


def _start_attempt(
    run: Run,
    task: Task,
    attempt: int,
    now: dt.datetime,
    decision: Decision,
    agent: AgentSpec | None,
    admitted: bool = False,
) -> Decision:
    job, config_maps = _attempt_job(task, run, attempt, agent)
    status = run.status.model_copy(deep=True)
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
            _step(status, now, "admitted")
    status.start_time = status.start_time or now
    status.message = f"attempt {attempt} running as Job {status.job_name}"
    status.observed_generation = gen
    status.attempts = [*(status.attempts or []), Attempt(number=attempt, job_name=status.job_name, start_time=now)]
    status.conditions = set_condition(status.conditions, "Valid", "True", "Valid", "", now, gen)
    status.conditions = set_condition(status.conditions, "Ended", "False", "Running", status.message, now, gen)
    status.conditions = set_condition(status.conditions, "Succeeded", "Unknown", "Running", status.message, now, gen)
    _step(status, now, "job_created", f"attempt {attempt}: Job {status.job_name}")
    decision.status = status
    decision.create_job = job
    decision.create_config_maps = config_maps
    decision.events.append(EventSpec("Normal", "Started", f"Created Job {status.job_name} (attempt {attempt})"))
    return decision


def _follow_attempt(
    run: Run,
    task: Task,
    job: dict[str, Any] | None,
    pods: list[dict[str, Any]],
    now: dt.datetime,
    decision: Decision,
    agent: AgentSpec | None,
) -> Decision:
    attempt = run.status.attempt or 1
    if job is None:
        # Written to status but not (yet) seen in the cache: recreate; AlreadyExists means it is there.
        decision.create_job, decision.create_config_maps = _attempt_job(task, run, attempt, agent)
        return decision
    if run.spec.inputs is not None:
        return _follow_batch(run, job, now, decision)
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
    result, result_error = check_result(outcome.termination_message, task.spec.result_schema)
    if result is not None or task.spec.result_schema is not None:
        status.result = result
    retryable = reason.value in task.spec.retry_on
    if task.spec.result_schema is not None and reason == EndReason.SUCCESS:
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
        _step(status, started, "pod_running", f"attempt {attempt}")
    record = Attempt(
        number=attempt,
        job_name=run.status.job_name or "",
        start_time=_attempt_start(status, attempt),
        end_time=now,
        exit_code=outcome.exit_code,
        end_reason=reason,
        message=message,
    )
    status.attempts = [a for a in status.attempts or [] if a.number != attempt] + [record]
    status.exit_code = outcome.exit_code
    _step(status, now, "attempt_ended", f"attempt {attempt}: {reason.value}: {message}")
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
            f"{status.next_attempt_at.isoformat()}"
        )
        _step(status, now, "retry_scheduled", f"attempt {attempt + 1} in {wait:.1f}s")
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
    if reason == EndReason.SUCCESS:
        decision.events.append(EventSpec("Normal", "Succeeded", f"Job {job_name}: {message}"))
    else:
        decision.events.append(EventSpec("Warning", _camel(reason), f"Job {job_name}: {message}"))
    return decision


def _attempt_start(status: RunStatus, number: int) -> dt.datetime | None:
    return next((a.start_time for a in status.attempts or [] if a.number == number), None)


# --- batch runs (spec.inputs; docs/batch.md) ---------------------------------------

RESUMABLE = frozenset({Phase.PARTIAL_SUCCEEDED, Phase.FAILED, Phase.STOPPED})


def resume_requested(run: Run) -> bool:
    """A batch run that ended unfinished and whose spec.resume is above the resumes done."""
    done = run.status.batch.resumes if run.status.batch else 0
    return (
        run.spec.inputs is not None
        and not run.spec.stop
        and run.status.attempt is not None
        and run.status.phase in RESUMABLE
        and run.spec.resume > done
    )


def _attempt_indexes(run: Run) -> list[int] | None:
    """The original input indexes the current attempt runs; None: all of them, in order."""
    b = run.status.batch
    if run.spec.inputs is None or b is None or b.attempt_indexes is None:
        return None
    return batch.parse_ranges(b.attempt_indexes)


def _attempt_job(
    task: Task, run: Run, attempt: int, agent: AgentSpec | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The attempt's Job and the ConfigMaps it needs first (a resume attempt's index map)."""
    indexes = _attempt_indexes(run)
    job = build_job(task, run, attempt, run.status.params, run.status.overrides, agent, indexes=indexes)
    if indexes is None:
        return job, []
    cm = batch.config_map(
        batch.index_map_name(run.name, attempt),
        run.namespace,
        run.name,
        run.metadata.uid or "",
        batch.INDEX_MAP_KEY,
        batch.index_map_text(indexes),
    )
    return job, [cm]


def _wait_for_chunks(run: Run, validated: Run, now: dt.datetime, decision: Decision, ctx: Context) -> Decision | None:
    """Hold a batch run until all its input ConfigMaps exist; INVALID if they do not in time."""
    inputs = run.spec.inputs
    assert inputs is not None
    needed = -(-inputs.count // inputs.chunk_size)
    if len(inputs.config_maps) != needed:
        message = (
            f"spec.inputs.configMaps names {len(inputs.config_maps)} ConfigMaps; {inputs.count} inputs in chunks "
            f"of {inputs.chunk_size} need {needed}"
        )
        return _invalid(run, "InvalidInputs", message, now, decision.owner)
    missing = [name for name in inputs.config_maps if name not in ctx.chunks]
    if not missing:
        return None
    created = run.metadata.creation_timestamp or now
    deadline = created + dt.timedelta(seconds=batch.CHUNK_TIMEOUT_SECONDS)
    if now >= deadline:
        shown = ", ".join(missing[:20]) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
        message = (
            f"{len(missing)} of {len(inputs.config_maps)} input chunks still missing "
            f"{batch.CHUNK_TIMEOUT_SECONDS}s after the run was created: {shown}"
        )
        return _invalid(run, "InputsMissing", message, now, decision.owner)
    decision.requeue_after = (deadline - now).total_seconds()
    status = validated.status
    phase = Phase.QUEUED if (status.concurrency_key or status.agent) else Phase.CREATED
    return _wait(run, validated, phase, f"waiting for {len(missing)} input chunks", None, now, decision)


def _resume(run: Run, task: Task, now: dt.datetime, decision: Decision, agent: AgentSpec | None) -> Decision:
    """A new attempt over the inputs that did not succeed, its outcomes merged into status.batch."""
    inputs = run.spec.inputs
    assert inputs is not None and run.status.attempt is not None
    status = run.status.model_copy(deep=True)
    # The run will end again: its webhook is due again, under a new delivery id (webhooks.delivery_id).
    status.webhook = None
    b = status.batch or BatchStatus(total=inputs.count)
    done = set(batch.parse_ranges(b.completed_indexes))
    remaining = [i for i in range(inputs.count) if i not in done]
    b.resumes = run.spec.resume
    b.running = 0
    status.batch = b
    if not remaining:
        decision.status = end_status(
            run.model_copy(update={"status": status}), EndReason.SUCCESS, "all inputs had already succeeded", now
        )
        return decision
    b.attempt_indexes = batch.format_ranges(remaining)
    status.end_reason, status.end_time, status.exit_code = None, None, None
    attempt = run.status.attempt + 1
    _step(status, now, "resumed", f"resume {run.spec.resume}: attempt {attempt} runs {len(remaining)} inputs")
    decision = _start_attempt(run.model_copy(update={"status": status}), task, attempt, now, decision, agent)
    assert decision.status is not None
    decision.status.message = (
        f"resume {run.spec.resume}: attempt {attempt} runs the {len(remaining)} inputs that did not succeed "
        f"as Job {decision.status.job_name}"
    )
    decision.status.retry_of = run.status.job_name
    return decision


def batch_progress(run: Run, job: dict[str, Any]) -> BatchStatus:
    """status.batch from the current attempt's Job, in original input indexes, merged with earlier attempts."""
    inputs = run.spec.inputs
    assert inputs is not None
    old = run.status.batch or BatchStatus(total=inputs.count)
    own = _attempt_indexes(run)
    job_status = job.get("status") or {}

    def original(text: str | None) -> set[int]:
        found = batch.parse_ranges(text)
        if own is None:
            return {i for i in found if i < inputs.count}
        return {own[i] for i in found if i < len(own)}

    scope = set(own) if own is not None else set(range(inputs.count))
    completed = set(batch.parse_ranges(old.completed_indexes)) | original(job_status.get("completedIndexes"))
    failed = (set(batch.parse_ranges(old.failed_indexes)) - scope) | original(job_status.get("failedIndexes"))
    failed -= completed
    return BatchStatus(
        total=inputs.count,
        succeeded=len(completed),
        failed=len(failed),
        running=int(job_status.get("active") or 0),
        completed_indexes=batch.format_ranges(completed),
        failed_indexes=batch.format_ranges(failed),
        attempt_indexes=old.attempt_indexes,
        resumes=old.resumes,
    )


def _follow_batch(run: Run, job: dict[str, Any], now: dt.datetime, decision: Decision) -> Decision:
    """Mirror the Indexed Job's progress into status.batch; end the Run when the Job ends (no Run retries)."""
    attempt = run.status.attempt or 1
    progress = batch_progress(run, job)
    ended = attempts.finished(job)
    summary = f"{progress.succeeded} of {progress.total} inputs succeeded, {progress.failed} failed"
    if ended is None:
        if progress == run.status.batch:
            return decision
        status = run.status.model_copy(deep=True)
        status.batch = progress
        status.message = f"attempt {attempt}: {summary}, {progress.running} running"
        status.observed_generation = run.metadata.generation
        decision.status = status
        return decision
    progress.running = 0
    if progress.succeeded == progress.total:
        reason, message = EndReason.SUCCESS, f"all {progress.total} inputs succeeded"
    elif progress.succeeded > 0:
        reason, message = EndReason.PARTIAL_SUCCESS, f"{summary}; failed: {progress.failed_indexes or 'none'}"
    elif ended.get("reason") == "DeadlineExceeded":
        reason, message = EndReason.TIMEOUT, f"no input succeeded: {ended.get('message') or 'the attempt timed out'}"
    else:
        reason, message = EndReason.FAILED, f"no input succeeded ({progress.failed} failed)"
    if ended.get("type") == "Failed" and ended.get("reason") not in (None, "", "FailedIndexes"):
        message += f" (Job: {ended.get('reason')}: {ended.get('message') or ''})".replace(": )", ")")
    status = run.status.model_copy(deep=True)
    status.batch = progress
    record = Attempt(
        number=attempt,
        job_name=run.status.job_name or "",
        start_time=_attempt_start(status, attempt),
        end_time=now,
        end_reason=reason,
        message=message,
    )
    status.attempts = [a for a in status.attempts or [] if a.number != attempt] + [record]
    _step(status, now, "attempt_ended", f"attempt {attempt}: {reason.value}: {message}")
    decision.status = end_status(
        run.model_copy(update={"status": status}), reason, f"attempt {attempt}: {message}", now
    )
    job_name = run.status.job_name
    if reason == EndReason.SUCCESS:
        decision.events.append(EventSpec("Normal", "Succeeded", f"Job {job_name}: {message}"))
    else:
        decision.events.append(EventSpec("Warning", _camel(reason), f"Job {job_name}: {message}"))
    return decision
