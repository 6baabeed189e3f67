"""The Run resource: one execution of a Task; each attempt is one Job."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field

from taskops import API_VERSION
from taskops.domain.resources.agent import JobDefaults
from taskops.domain.resources.base import INT32_MAX, CamelModel, Condition, ObjectMeta
from taskops.domain.resources.phases import EndReason, Phase

ExecutionMode = Literal["LIVE", "ASYNC", "SCHEDULE"]
TRIGGERS = ("manual", "api", "cron", "rrule", "once", "event", "retry", "resume", "startup")
# Seed 002's `triggered_by` enum, and the word of it each taskops trigger is shown as on 002's routes: a schedule
# fire is `cron` whatever its kind, a request (or a person, or a rerun of one) is `api`, an event another service
# posted is `service`. Seed 002's `cloud` has no counterpart here.
Seed002Trigger = Literal["cron", "api", "cloud", "service", "startup"]
_SEED002_TRIGGERS: dict[str, Seed002Trigger] = {
    "cron": "cron",
    "rrule": "cron",
    "once": "cron",
    "event": "service",
    "startup": "startup",
}


def seed002_trigger(triggered_by: str) -> Seed002Trigger:
    """`triggered_by` in seed 002's enum (manual, api, retry, resume and anything unknown: `api`)."""
    return _SEED002_TRIGGERS.get(triggered_by, "api")


class TaskRef(CamelModel):
    """Which Task a Run executes."""

    name: str = Field(min_length=1, max_length=253, description="The Task's name, in the Run's namespace.")


class RunInputs(CamelModel):
    """A batch run's inputs: `count` JSON values in ConfigMaps of `chunkSize` lines each (docs/batch.md)."""

    count: int = Field(ge=1, le=100000, description="How many inputs: the Indexed Job's completions.")
    chunk_size: int = Field(
        ge=1, le=100000, description="Lines per chunk: input i is line i % chunkSize + 1 of chunk i // chunkSize."
    )
    config_maps: list[str] = Field(
        min_length=1,
        max_length=1000,
        description=(
            "The chunks, in order: ConfigMap k (in the Run's namespace, owned by the Run, written after it) "
            "holds inputs k*chunkSize ... in its `inputs.jsonl` key, one JSON value per line."
        ),
        json_schema_extra={"items": {"type": "string", "maxLength": 253}},
    )


class RunSpec(CamelModel):
    """The desired state of a Run."""

    task_ref: TaskRef = Field(description="The Task this Run executes.")
    triggered_by: str = Field(
        default="manual",
        description=("How the run was triggered: manual (kubectl), api, cron, rrule, once, event, retry, resume."),
        json_schema_extra={"enum": list(TRIGGERS)},
    )
    reference: str | None = Field(
        default=None, max_length=253, description="A caller's own reference for this run (seed 000 `reference`)."
    )
    scheduled_time: dt.datetime | None = Field(
        default=None, description="The fire time a scheduled Run was created for (its name is derived from it)."
    )
    version: str = Field(
        default="current",
        max_length=253,
        description='The task version to run: "current" (the newest when the run is validated), a number '
        '("3"), or a version id (the ControllerRevision name).',
    )
    params: dict[str, Any] | None = Field(
        default=None,
        description=(
            'Values for the task\'s declared params: null omits a param (overriding its default), "" passes '
            "an empty value, an absent key takes the default (seed 002)."
        ),
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    overrides: dict[str, Any] | None = Field(
        default=None,
        description="Per-run overrides of inputs the task allows (seed 003), validated like params.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    timeout_seconds: int | None = Field(
        default=None, ge=1, le=INT32_MAX, description="Per-attempt deadline; overrides the task's."
    )
    priority: int | None = Field(
        default=None, ge=-1000, le=1000, description="Queue order, higher first (seed 000); default: the task's."
    )
    agent: str | None = Field(default=None, max_length=253, description="The Agent to queue for; default: the task's.")
    scheduled_at: dt.datetime | None = Field(
        default=None, description="The run stays SCHEDULED until this time, then enters the queue (seed 000)."
    )
    dedupe_key: str | None = Field(
        default=None, max_length=253, description="Overrides the task's dedupe key for this run."
    )
    metadata: dict[str, Any] | None = Field(
        default=None,
        description="Free-form data the caller keeps on the run (seed 000 `metadata`).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    callback_url: str | None = Field(
        default=None,
        max_length=2048,
        description="URL called with the run when it ends (seed 000 callback_url, seed 003 webhook_url).",
    )
    execution_mode: ExecutionMode | None = Field(
        default=None, description="Seed 004's execution mode the run was started in (set by the API)."
    )
    user: str | None = Field(
        default=None,
        max_length=253,
        description="Who triggered the run: the authenticated user of the API request (seed 004 user_uid).",
    )
    inputs: RunInputs | None = Field(
        default=None,
        description="Makes this a batch run: one Indexed Job per attempt, one index per input (docs/batch.md).",
    )
    resume: int = Field(
        default=0,
        ge=0,
        le=INT32_MAX,
        description="Bump by 1 to resume a PARTIAL_SUCCEEDED, FAILED or STOPPED batch run: a new attempt runs "
        "only the inputs that did not succeed.",
    )
    stop: bool = Field(
        default=False,
        description="Set to true to stop the run (seed 000 abort, seed 002 stopped): its Job is deleted and it "
        "ends STOPPED with end reason stopped.",
    )


class PinnedVersion(CamelModel):
    """The task version a Run executes."""

    number: int = Field(description="Version number (1, 2, 3...).")
    id: str = Field(description="Version id: the ControllerRevision holding it.")


class Attempt(CamelModel):
    """One attempt of a Run: one Job."""

    number: int = Field(description="Attempt number, from 1.")
    job_name: str = Field(description="The attempt's Job.")
    start_time: dt.datetime | None = Field(default=None, description="When the Job was created.")
    end_time: dt.datetime | None = Field(default=None, description="When the attempt ended.")
    exit_code: int | None = Field(default=None, description="Exit code of the deciding container.")
    end_reason: EndReason | None = Field(default=None, description="How the attempt ended.")
    message: str | None = Field(default=None, description="What happened.")


class Step(CamelModel):
    """One step of a Run's history (seed 003 `history`)."""

    time: dt.datetime = Field(description="When it happened.")
    step: str = Field(
        description="created, validated, invalid, admitted, job_created, pod_running, attempt_ended, "
        "retry_scheduled, stopped, ended."
    )
    message: str | None = Field(default=None, description="Details.")


class WebhookStatus(CamelModel):
    """Delivery state of a Run's completion webhook."""

    state: Literal["pending", "delivered", "failed"] = Field(
        description="pending (not yet delivered; retrying), delivered, or failed (given up)."
    )
    url: str = Field(description="Where it is sent (the Run's callbackUrl).")
    delivery_id: str = Field(description="The same on every attempt: receivers deduplicate by it.")
    attempts: int = Field(default=0, description="Attempts made so far.")
    next_attempt_at: dt.datetime | None = Field(default=None, description="When the next attempt is due.")
    status_code: int | None = Field(default=None, description="HTTP status of the last response.")
    last_error: str | None = Field(default=None, description="Why the last attempt did not deliver.")
    delivered_at: dt.datetime | None = Field(default=None, description="When a 2xx answer came.")


class BatchResults(CamelModel):
    """Where a batch run's per-input results are (docs/batch.md): ConfigMaps `<run>-results-<k>`."""

    config_maps: int = Field(default=0, description="Result chunks written: <run>-results-0 … -<configMaps-1>.")
    open_bytes: int = Field(default=0, description="Bytes used in the last chunk (new entries go there until full).")
    recorded: str = Field(default="", description="Indexes of the inputs whose outcome is recorded, as ranges.")


class BatchStatus(CamelModel):
    """Progress of a batch run's inputs, by original input index (ranges like "3,17-20")."""

    total: int = Field(description="Inputs in the run.")
    succeeded: int = Field(default=0, description="Inputs that succeeded (in any attempt).")
    failed: int = Field(default=0, description="Inputs whose last try failed.")
    running: int = Field(default=0, description="Pods of the current attempt running now.")
    completed_indexes: str = Field(default="", description="Indexes of the inputs that succeeded, as ranges.")
    failed_indexes: str = Field(default="", description="Indexes of the inputs whose last try failed, as ranges.")
    attempt_indexes: str | None = Field(
        default=None,
        description="The indexes the current attempt's Job runs, as ranges (unset: all); Job index i runs the "
        "i-th of them.",
    )
    resumes: int = Field(default=0, description="Resumes done: spec.resume above this starts another.")
    results: BatchResults | None = Field(default=None, description="Where the per-input results are recorded.")


class RunStatus(CamelModel):
    """The observed state of a Run, written only by the operator."""

    phase: Phase = Field(
        default=Phase.CREATED,
        description=(
            "Lifecycle phase: CREATED, SCHEDULED, QUEUED, BLOCKED, RUNNING, then one of SUCCEEDED, "
            "PARTIAL_SUCCEEDED, FAILED, STOPPED, INVALID."
        ),
    )
    end_reason: EndReason | None = Field(
        default=None, description="Why the run ended (set once the phase is terminal), e.g. success, failed."
    )
    message: str | None = Field(default=None, description="A human-readable summary of the current state.")
    exit_code: int | None = Field(
        default=None, description="Exit code of the last attempt's container (the first non-zero one)."
    )
    attempt: int | None = Field(default=None, ge=1, description="The current attempt number, from 1.")
    job_name: str | None = Field(default=None, description="The Job of the current attempt.")
    start_time: dt.datetime | None = Field(default=None, description="When the first attempt started.")
    end_time: dt.datetime | None = Field(default=None, description="When the run ended.")
    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation this status was computed from."
    )
    version: PinnedVersion | None = Field(default=None, description="The task version every attempt runs.")
    params: dict[str, Any] | None = Field(
        default=None,
        description="The params every attempt runs with: the Run's values after defaults and nulls.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    overrides: dict[str, Any] | None = Field(
        default=None,
        description="The validated per-run overrides.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    concurrency_key: str | None = Field(default=None, description="The concurrency key this run counts against.")
    agent: str | None = Field(default=None, description="The agent this run counts against.")
    agent_job_defaults: JobDefaults | None = Field(
        default=None,
        description=(
            "The agent's jobDefaults when the first attempt started ({} if it had none): every attempt's Job gets "
            "them, also after the Agent is changed or deleted."
        ),
    )
    priority: int | None = Field(default=None, description="The effective queue priority.")
    admitted_at: dt.datetime | None = Field(
        default=None, description="When admission let the run start (written before its first Job)."
    )
    queue_position: int | None = Field(default=None, description="Position among the runs waiting for the same key.")
    attempts: list[Attempt] | None = Field(default=None, description="Every attempt so far, oldest first.")
    retry_of: str | None = Field(default=None, description="The Job of the attempt the current one retries.")
    next_attempt_at: dt.datetime | None = Field(
        default=None, description="When the next attempt starts (during a retry backoff)."
    )
    batch: BatchStatus | None = Field(default=None, description="A batch run's progress (spec.inputs).")
    result: Any = Field(
        default=None,
        description="The JSON the container wrote to /dev/termination-log (seed 003 `result`).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    history: list[Step] | None = Field(default=None, description="What happened, in order (at most 50 steps).")
    webhook: WebhookStatus | None = Field(
        default=None, description="Delivery state of the completion webhook (set when spec.callbackUrl is)."
    )
    conditions: list[Condition] | None = Field(
        default=None,
        description="Standard conditions: Valid, Ended, Succeeded.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )


class Run(CamelModel):
    """A run: one execution of a Task."""

    api_version: str = Field(default=API_VERSION, description="API version.")
    kind: str = Field(default="Run", description="Kind.")
    metadata: ObjectMeta = Field(description="Standard object metadata.")
    spec: RunSpec = Field(description="The desired state of the run.")
    status: RunStatus = Field(default_factory=RunStatus, description="The observed state of the run.")

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or "default"

    @property
    def name(self) -> str:
        return self.metadata.name
