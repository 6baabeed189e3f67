"""The batch branch of `decide` (docs/batch.md): a Run with spec.inputs runs as one Indexed Job per attempt.

Its progress is the Job's index sets mapped to original input indexes; each
input's outcome is recorded in result chunks (batchresults.py); a resume is a
new attempt over the inputs that did not succeed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from taskops.domain.execution import attempts, batch, batchresults
from taskops.domain.execution.decision import (
    Context,
    Decision,
    attempt_start,
    end_status,
    ended_event,
    invalid,
    step,
    wait,
)
from taskops.domain.execution.jobs import BatchPods, build_job
from taskops.domain.resources import timefmt
from taskops.domain.resources.agent import JobDefaults
from taskops.domain.resources.phases import POD_ENDED_PHASES, RESUMABLE_PHASES, EndReason, Phase
from taskops.domain.resources.run import Attempt, BatchStatus, Run, RunStatus
from taskops.domain.resources.task import Task

# How long after its Job ended a run waits for the pods of inputs the Job counted to show up in the
# cache, before recording their outcome without a result (`"missing": true`).
RESULT_GRACE = dt.timedelta(seconds=3)
RESULT_RECHECK_SECONDS = 0.5


def resume_requested(run: Run) -> bool:
    """A batch run that ended unfinished and whose spec.resume is above the resumes done."""
    done = run.status.batch.resumes if run.status.batch else 0
    return (
        run.spec.inputs is not None
        and not run.spec.stop
        and run.status.attempt is not None
        and run.status.phase in RESUMABLE_PHASES
        and run.spec.resume > done
    )


def attempt_indexes(run: Run) -> list[int] | None:
    """The original input indexes the current attempt runs; None: all of them, in order."""
    b = run.status.batch
    if run.spec.inputs is None or b is None or b.attempt_indexes is None:
        return None
    return batch.parse_ranges(b.attempt_indexes)


def attempt_job(
    task: Task, run: Run, attempt: int, defaults: JobDefaults | None, batch_pods: BatchPods | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The attempt's Job and the ConfigMaps it needs first (a resume attempt's index map)."""
    indexes = attempt_indexes(run)
    job = build_job(
        task, run, attempt, run.status.params, run.status.overrides, defaults, indexes=indexes, batch_pods=batch_pods
    )
    if indexes is None:
        return job, []
    cm = batch.config_map(
        batch.index_map_name(run.name, attempt),
        run.namespace,
        run.name,
        run.metadata.uid or "",
        {batch.INDEX_MAP_KEY: batch.index_map_text(indexes)},
    )
    return job, [cm]


def wait_for_chunks(run: Run, validated: Run, now: dt.datetime, decision: Decision, ctx: Context) -> Decision | None:
    """Hold a batch run until all its input ConfigMaps exist; INVALID if they do not in time."""
    inputs = run.spec.inputs
    assert inputs is not None
    needed = -(-inputs.count // inputs.chunk_size)
    if len(inputs.config_maps) != needed:
        message = (
            f"spec.inputs.configMaps names {len(inputs.config_maps)} ConfigMaps; {inputs.count} inputs in chunks "
            f"of {inputs.chunk_size} need {needed}"
        )
        return invalid(run, "InvalidInputs", message, now, decision.owner)
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
        return invalid(run, "InputsMissing", message, now, decision.owner)
    decision.requeue_after = (deadline - now).total_seconds()
    status = validated.status
    phase = Phase.QUEUED if (status.concurrency_key or status.agent) else Phase.CREATED
    return wait(run, validated, phase, f"waiting for {len(missing)} input chunks", None, now, decision)


def prepare_resume(run: Run, now: dt.datetime) -> tuple[Run, int] | RunStatus:
    """The Run ready for its next attempt over the inputs that did not succeed (and that attempt's
    number), or its end status when every input had already succeeded."""
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
        return end_status(
            run.model_copy(update={"status": status}), EndReason.SUCCESS, "all inputs had already succeeded", now
        )
    b.attempt_indexes = batch.format_ranges(remaining)
    b.results = batchresults.forget(b.results, remaining)
    status.end_reason, status.end_time, status.exit_code = None, None, None
    attempt = run.status.attempt + 1
    step(status, now, "resumed", f"resume {run.spec.resume}: attempt {attempt} runs {len(remaining)} inputs")
    return run.model_copy(update={"status": status}), attempt


def resumed_message(run: Run, status: RunStatus) -> None:
    """Say what the resume's attempt runs (`status` is the new attempt's)."""
    remaining = len(batch.parse_ranges(status.batch.attempt_indexes if status.batch else ""))
    status.message = (
        f"resume {run.spec.resume}: attempt {status.attempt} runs the {remaining} inputs that did not succeed "
        f"as Job {status.job_name}"
    )
    status.retry_of = run.status.job_name


def batch_progress(run: Run, job: dict[str, Any]) -> BatchStatus:
    """status.batch from the current attempt's Job, in original input indexes, merged with earlier attempts."""
    inputs = run.spec.inputs
    assert inputs is not None
    old = run.status.batch or BatchStatus(total=inputs.count)
    own = attempt_indexes(run)
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
        results=old.results,
    )


def follow_batch(
    run: Run, job: dict[str, Any], pods: list[dict[str, Any]], now: dt.datetime, decision: Decision
) -> Decision:
    """Mirror the Indexed Job's progress into status.batch and record each input's outcome as it becomes
    final; end the Run when the Job has ended and every outcome is recorded (no Run retries)."""
    attempt = run.status.attempt or 1
    progress = batch_progress(run, job)
    ended = attempts.finished(job)
    stuck = _cannot_start(job, pods) if ended is None else None
    if stuck is not None:
        # Every pod of the attempt waits on something that will not change (a bad image, a missing
        # Secret): end now rather than at the Job's deadline, and remove the Job.
        decision.delete_job = run.status.job_name
        return _end(run, progress, attempt, EndReason.START_FAILED, stuck, now, decision)
    ended_at = timefmt.parse_optional(ended.get("lastTransitionTime")) if ended else None
    give_up = ended is not None and (ended_at is None or now - ended_at >= RESULT_GRACE)
    completed, failed = batch.parse_ranges(progress.completed_indexes), batch.parse_ranges(progress.failed_indexes)
    recorded = set(batch.parse_ranges(progress.results.recorded if progress.results else ""))
    # Reading every pod of a large batch on each reconcile is the costly part: only when there is news.
    news = not (recorded.issuperset(completed) and recorded.issuperset(failed))
    entries = batchresults.pod_entries(pods, attempt_indexes(run), attempt) if news else {}
    recording = batchresults.record(
        batchresults.RunRef(run.name, run.namespace, run.metadata.uid or ""),
        progress.results,
        completed,
        failed,
        entries,
        attempt,
        missing_ok=give_up,
    )
    progress.results = recording.state if recording.state.config_maps else progress.results
    decision.write_results = recording.writes
    summary = f"{progress.succeeded} of {progress.total} inputs succeeded, {progress.failed} failed"
    if ended is None or recording.pending:
        if ended is not None:
            # The Job counted inputs whose pods the cache has not shown ended yet: look again shortly.
            decision.requeue_after = RESULT_RECHECK_SECONDS
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
    return _end(run, progress, attempt, reason, message, now, decision)


def _cannot_start(job: dict[str, Any], pods: list[dict[str, Any]]) -> str | None:
    """Why no pod of the attempt can start, when none has ended and every one waits on a start failure."""
    job_status = job.get("status") or {}
    if job_status.get("completedIndexes") or job_status.get("failedIndexes") or job_status.get("succeeded"):
        return None
    live = [p for p in pods if (p.get("status") or {}).get("phase") not in POD_ENDED_PHASES]
    if not live or len(live) != len(pods):
        return None
    outcomes = [attempts.start_failure([p]) for p in live]
    if any(o is None for o in outcomes):
        return None
    first = outcomes[0]
    assert first is not None
    return f"no input can start: {first.message}"


def _end(
    run: Run, progress: BatchStatus, attempt: int, reason: EndReason, message: str, now: dt.datetime, decision: Decision
) -> Decision:
    progress.running = 0
    status = run.status.model_copy(deep=True)
    status.batch = progress
    record = Attempt(
        number=attempt,
        job_name=run.status.job_name or "",
        start_time=attempt_start(status, attempt),
        end_time=now,
        end_reason=reason,
        message=message,
    )
    status.attempts = [a for a in status.attempts or [] if a.number != attempt] + [record]
    step(status, now, "attempt_ended", f"attempt {attempt}: {reason.value}: {message}")
    ended = run.model_copy(update={"status": status})
    decision.status = end_status(ended, reason, f"attempt {attempt}: {message}", now)
    decision.events.append(ended_event(reason, run.status.job_name, attempt, message))
    return decision
