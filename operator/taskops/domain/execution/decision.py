"""The shape of a reconcile's outcome, and the status edits every kind of Run shares.

`decide` (decide.py) and the batch branch (decide_batch.py) both build a
Decision from these: every write one reconcile makes, chosen by pure code from
what was observed (the Context included). The operator (reconciler.py) applies
a Decision's writes in this order, and writes the Run's status at most once:

1. `owner`: the Task's owner reference on the Run (a metadata patch);
2. `delete_job`: a stopped or stuck attempt's Job;
3. `write_results`: a batch run's result chunks, before the status that records them;
4. `status`: the one status write, with the resourceVersion the decision was made on;
5. `create_config_maps`: a resume attempt's index map, which its Job reads;
6. `create_job`: the attempt's Job, named `<run>-<attempt>` (not sent when the Job of attempt 1 of a Run made
   ahead is in the cache, owned by it: its fire created it, `Context.released`);
7. `events`: posted only when every write above succeeded.

State is written before the side effects it leads to, so a crash between any
two writes is repaired by the next reconcile doing the rest under the same
deterministic names. A Job the API server refuses (an invalid template, a quota,
RBAC) is an observation, not a decision: the operator keeps it as a
`JobRejected` and the next reconcile's `decide` ends the Run `start_failed`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from taskops.domain.execution.jobs import BatchPods
from taskops.domain.execution.versions import Version
from taskops.domain.queueing.admission import Admission
from taskops.domain.resources.agent import AgentSpec
from taskops.domain.resources.conditions import set_condition
from taskops.domain.resources.phases import EndReason, Phase, phase_of
from taskops.domain.resources.run import Run, RunStatus, Step

HISTORY_LIMIT = 50


@dataclass(frozen=True)
class EventSpec:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class JobRejected:
    """The API server refused to create an attempt's Job, with a non-transient error."""

    job_name: str
    message: str  # the API server's own


@dataclass(frozen=True)
class AwaitAdmission:
    """A validated Run that waits on a key or agent and has no verdict yet: what admission must know of it.
    The operator hands it to the admission loop instead of writing a status that would say only "waiting for
    admission" (one API write per keyed Run, and a watch event, saved); the verdict's own write follows."""

    concurrency_key: str | None
    agent: str | None
    priority: int


@dataclass
class Context:
    """What the operator knows beyond the Run, its Task, Job and pods."""

    versions: list[Version] = field(default_factory=list)
    # The Agent the Run names, if any; `agent_missing` when it names one that does not exist.
    agent: AgentSpec | None = None
    agent_missing: bool = False
    # An earlier Run with the same dedupe key inside the window.
    duplicate_of: str | None = None
    # The admission verdict for a Run that waits on a key or agent: ADMITTED, a Wait, or None (none yet).
    admission: Admission | None = None
    # A batch run's input ConfigMaps that exist (with their `inputs.jsonl` key).
    chunks: frozenset[str] = frozenset()
    # The previous reconcile's Job create was refused (kept by the operator until this reconcile).
    job_rejected: JobRejected | None = None
    # A Run created ahead of its fire: its fire has come and created the Job of attempt 1 (names.job_name).
    released: bool = False
    # How batch pods get their own input as params (the operator's --batch-init-image); None: they read it
    # from the chunks themselves (docs/batch.md).
    batch_pods: BatchPods | None = None


@dataclass
class Decision:
    status: RunStatus | None = None
    # Deleted before the status write: a Run ended STOPPED is never looked at again.
    delete_job: str | None = None
    create_job: dict[str, Any] | None = None
    # Created (create-or-get) after the status write and before the Job: a resume attempt's index map.
    create_config_maps: list[dict[str, Any]] = field(default_factory=list)
    # Written before the status write that records them: a batch run's result chunks, as
    # (ConfigMap, new): a new one is created, an existing one gets the data merged in.
    write_results: list[tuple[dict[str, Any], bool]] = field(default_factory=list)
    owner: dict[str, Any] | None = None
    events: list[EventSpec] = field(default_factory=list)
    requeue_after: float | None = None
    # No write: the Run is handed to admission, which queues it again once it has a verdict.
    await_admission: AwaitAdmission | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.status
            or self.await_admission
            or self.delete_job
            or self.create_job
            or self.create_config_maps
            or self.write_results
            or self.owner
            or self.events
            or self.requeue_after
        )


def camel(reason: EndReason) -> str:
    return "".join(part.capitalize() for part in reason.value.split("_"))


def step(status: RunStatus, now: dt.datetime, name: str, message: str | None = None) -> None:
    history = [*(status.history or []), Step(time=now, step=name, message=message)]
    status.history = history[-HISTORY_LIMIT:]


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
    status.conditions = set_condition(status.conditions, "Ended", "True", camel(reason), message, now, gen)
    status.conditions = set_condition(
        status.conditions, "Succeeded", "True" if succeeded else "False", camel(reason), message, now, gen
    )
    step(status, now, "ended", f"{reason.value}: {message}")
    return status


def invalid(run: Run, reason: str, message: str, now: dt.datetime, owner: dict[str, Any] | None = None) -> Decision:
    status = end_status(run, EndReason.INVALID, message, now)
    status.conditions = set_condition(
        status.conditions, "Valid", "False", reason, message, now, run.metadata.generation
    )
    return Decision(status=status, events=[EventSpec("Warning", reason, message)], owner=owner)


def wait(
    run: Run, validated: Run, phase: Phase, message: str, position: int | None, now: dt.datetime, decision: Decision
) -> Decision:
    """Show why the Run waits; write only when the phase or the reason changed (not on every position move)."""
    old = run.status
    if old.phase == phase and old.message == message and old.version is not None:
        return decision
    status = validated.status.model_copy(deep=True)
    if old.phase != phase:
        step(status, now, phase.value.lower(), message)
    status.phase, status.message, status.queue_position = phase, message, position
    status.observed_generation = run.metadata.generation
    decision.status = status
    return decision


def ended_event(reason: EndReason, job_name: str | None, attempt: int, message: str) -> EventSpec:
    """The Event of the attempt that ends the Run. The first attempt's start posts no Event of its own (the status
    shows it: RUNNING, the Job's name, the `job_created` step), so this one names the Job and the attempt: a
    single-pod Run that succeeds first time costs one Event, not two."""
    text = f"Job {job_name} (attempt {attempt}): {message}"
    if reason == EndReason.SUCCESS:
        return EventSpec("Normal", "Succeeded", text)
    return EventSpec("Warning", camel(reason), text)


def attempt_start(status: RunStatus, number: int) -> dt.datetime | None:
    return next((a.start_time for a in status.attempts or [] if a.number == number), None)
