"""The Task resource: a Job template plus its params and result schemas, a schedule, and rules for retries,
queueing (priority, concurrency, dedupe), history and webhooks."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, get_args

from pydantic import ConfigDict, Field

from taskops import API_VERSION
from taskops.domain.resources.backoff import Strategy
from taskops.domain.resources.base import INT32_MAX, CamelModel, Condition, ObjectMeta
from taskops.domain.resources.names import DNS_SUBDOMAIN
from taskops.domain.resources.paramspec import ParamSpec
from taskops.domain.resources.phases import RetryReason
from taskops.domain.resources.run import ExecutionMode, RunInputs

ScheduleKind = Literal["cron", "rrule", "once", "event"]
TaskState = Literal["active", "paused", "canceled"]


def _default_retry_on() -> list[RetryReason]:
    return list(get_args(RetryReason))


class JobTemplate(CamelModel):
    """What each attempt runs: the same shape as a CronJob's `jobTemplate`."""

    metadata: dict[str, Any] | None = Field(
        default=None,
        description="Labels and annotations copied onto every Job made from this template.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    spec: dict[str, Any] = Field(
        description=(
            "A batch/v1 JobSpec (`kubectl explain job.spec`). taskops sets `backoffLimit: 0` "
            "(it owns retries) and `restartPolicy: Never` when unset; `template.spec.containers` is required."
        ),
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )


class DstPolicy(CamelModel):
    """What a schedule does at a daylight-saving change in its time zone (scheduling/recurrence.py applies it)."""

    # Frozen: a parsed Schedule holds it and is hashed.
    model_config = ConfigDict(frozen=True)

    nonexistent: Literal["skip", "shift"] = Field(
        default="skip",
        description=(
            "A local fire time that does not exist (clocks spring forward over it): skip (a Run that ends "
            "dst_skipped records it) or shift (fire at the first valid instant after it)."
        ),
    )
    repeated: Literal["first", "last", "both"] = Field(
        default="first",
        description="A local fire time that occurs twice (clocks fall back over it): fire at the first, the last, "
        "or both instants.",
    )


class Snooze(CamelModel):
    """A snooze: no fire before `until`; fires it held back become one fire at `until`."""

    until: dt.datetime = Field(description="No scheduled fire happens before this time (at most one week ahead).")
    reason: str | None = Field(default=None, max_length=500, description="Why the task is snoozed (seed 001).")


class BatchSpec(CamelModel):
    """How a batch run's Indexed Job runs its inputs (a Run with spec.inputs; docs/batch.md)."""

    parallelism: int = Field(default=10, ge=1, le=1000, description="Inputs processed at once (pods running).")
    backoff_limit_per_index: int = Field(
        default=0, ge=0, le=100, description="Retries of one input's pod before that input counts as failed."
    )
    max_failed_indexes: int | None = Field(
        default=None,
        ge=0,
        le=100_000,
        description="The attempt stops early once more inputs than this failed (unset: every input runs).",
    )


class FireWith(CamelModel):
    """What each fire of a schedule runs (a schedule made by `POST /actions/{name}/schedule`, seed 004)."""

    params: dict[str, Any] | None = Field(
        default=None,
        description="The params of every fired Run (seed 004 `input`), validated when the schedule was made.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    inputs: RunInputs | None = Field(
        default=None,
        description="A batch every fire runs (seed 004 `inputs`): chunk ConfigMaps owned by this Task, shared by "
        "its fired Runs (docs/batch.md).",
    )
    execution_mode: ExecutionMode | None = Field(default=None, description="The fired Runs' executionMode.")


class TaskSpec(CamelModel):
    """The desired state of a Task."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.scheduleKind) || self.scheduleKind == 'event' || has(self.scheduleExpr)",
                    "message": "scheduleExpr is required when scheduleKind is cron, rrule or once",
                    "fieldPath": ".scheduleExpr",
                }
            ]
        }
    )

    title: str | None = Field(
        default=None, max_length=200, description="A human-readable title for the task (seed 001 `title`)."
    )
    description: str | None = Field(
        default=None, max_length=4000, description="What the task does (seed 001 `description`)."
    )
    created_by: str | None = Field(
        default=None,
        max_length=253,
        description="Who created the task: a user, service account or agent id (seed 001 `created_by`).",
    )
    payload: JobTemplate = Field(description="The Job template each Run of this task executes (seed 001 `payload`).")
    schedule_kind: ScheduleKind | None = Field(
        default=None,
        description=(
            "How fires are computed: cron, rrule (RFC 5545), once (one datetime) or event (fired by a named "
            "event). Unset: the task runs only when triggered (kubectl, run_now, the API)."
        ),
    )
    schedule_expr: str | None = Field(
        default=None,
        max_length=4000,
        description=(
            "cron: 5 fields, or 6 with seconds first, or @hourly/@daily/...; rrule: DTSTART/RRULE/RDATE/EXDATE "
            "lines in local time (no EXRULE); once: an RFC 3339 datetime; event: the event name (default: the "
            "task's name). A schedule whose next fire is not found within a bounded search never fires."
        ),
    )
    timezone: str = Field(default="UTC", max_length=64, description="IANA time zone the schedule is read in.")
    dst_policy: DstPolicy | None = Field(
        default=None, description="Daylight-saving behaviour; default: skip nonexistent times, fire repeated once."
    )
    jitter_seconds: int = Field(
        default=0,
        ge=0,
        le=3600,
        description="Spread fires by a stable per-task offset in [0, jitterSeconds] (same task, same offset).",
    )
    missed_policy: Literal["skip", "run_once", "run_all"] = Field(
        default="run_once",
        description=(
            "Fire times missed while the operator was down: skip (record each as a Run ended missed), run_once "
            "(run the latest, record the rest), run_all (run each, up to maxCatchUp)."
        ),
    )
    starting_deadline_seconds: int | None = Field(
        default=None,
        ge=1,
        le=INT32_MAX,
        description="A missed fire older than this is recorded missed and never run (like CronJob's field).",
    )
    max_catch_up: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="At most this many missed fires are run or recorded; older ones are dropped (an Event says so).",
    )
    overlap_policy: Literal["allow", "skip", "replace"] = Field(
        default="allow",
        description=(
            "A fire while a Run of this task is still going: allow it, skip it (the new Run ends skipped), or "
            "replace (the going Run is stopped, then the new one starts)."
        ),
    )
    state: TaskState = Field(
        default="active",
        description="active; paused (no fires until resumed); canceled (permanent: no fires, pending Runs aborted).",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "oldSelf != 'canceled' || self == 'canceled'",
                    "message": "a canceled task cannot be reactivated",
                }
            ]
        },
    )
    snooze: Snooze | None = Field(default=None, description="Delay the next scheduled fire (seed 001 snooze).")
    params: list[ParamSpec] | None = Field(
        default=None,
        description="The params schema (seed 000): each Run's params are validated against it.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    overrides: list[ParamSpec] | None = Field(
        default=None,
        description=(
            "Per-run overrides a Run may set besides the built-in ones every task accepts (seed 003: prompt, model, "
            "provider, response_format, json_schema, use_cached_workflow); an entry named like a built-in replaces "
            "it (a narrower type or enum; enum [] forbids it). Validated like params; passed to the pods as "
            "TASKOPS_OVERRIDE_<NAME> and in the params file."
        ),
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    fire_with: FireWith | None = Field(
        default=None, description="What each scheduled fire runs: params, a batch of inputs, an execution mode."
    )
    batch: BatchSpec | None = Field(
        default=None,
        description="Settings for batch runs of this task (Runs with spec.inputs); unset: parallelism 10, "
        "no per-input retries.",
    )
    result_schema: dict[str, Any] | None = Field(
        default=None,
        description=(
            "JSON Schema (2020-12) for the result: the JSON the container writes to /dev/termination-log "
            "(at most 4096 bytes). A result that is not JSON or does not match fails the Run. Not accepted: "
            "pattern and patternProperties, $ref outside the schema, more than 64 KiB or 64 levels."
        ),
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    max_retries: int = Field(default=3, ge=0, le=100, description="Attempts after the first (seed 001).")
    backoff_strategy: Strategy = Field(
        default="exponential_jitter",
        description=(
            "Delay between attempts: exponential_jitter (base*2^(n-1), capped, then a value in [d/2, d]), "
            "linear (base*n) or fixed (base), all capped at backoffMaxSeconds."
        ),
    )
    backoff_seconds: float = Field(default=10.0, gt=0, le=86400, description="Backoff base in seconds.")
    backoff_max_seconds: float = Field(default=600.0, gt=0, le=86400, description="Backoff cap in seconds.")
    retry_on: list[RetryReason] = Field(
        default_factory=_default_retry_on,
        description="End reasons of an attempt that are retried; others (invalid, stopped, ...) never are.",
    )
    timeout_seconds: int | None = Field(
        default=None,
        ge=1,
        le=INT32_MAX,
        description="Per-attempt deadline (the Job's activeDeadlineSeconds); the attempt ends timeout.",
    )
    priority: int = Field(
        default=0, ge=-1000, le=1000, description="Queue order of this task's Runs: higher first (seed 000 scale)."
    )
    concurrency_key: str | None = Field(
        default=None,
        max_length=253,
        description="Runs of all Tasks in the namespace sharing this key share one limit (seed 001).",
    )
    concurrency_limit: int = Field(
        default=1,
        ge=1,
        le=100000,
        description="Runs of the key running at once. Tasks declaring different limits for one key: the smallest wins.",
    )
    max_queued: int | None = Field(
        default=None,
        ge=0,
        le=INT32_MAX,
        description="Runs waiting on the key at most; beyond it a Run ends queue_full (the smallest bound wins).",
    )
    agent: str | None = Field(
        default=None, max_length=253, description="The Agent this task's Runs are queued for (seed 000 agent_id)."
    )
    dedupe_key: str | None = Field(
        default=None,
        max_length=253,
        description="Runs with this key inside dedupeWindowSeconds run once: later ones end skipped (seed 001).",
    )
    dedupe_window_seconds: int = Field(
        default=3600, ge=1, le=31536000, description="How long a dedupe key holds (seed 001)."
    )
    webhook_secret: str | None = Field(
        default=None,
        max_length=253,
        # A Secret's name, nothing more: "../" would walk the operator's GET into another namespace.
        pattern=DNS_SUBDOMAIN,
        description=(
            "The name of a Secret in the task's namespace whose `secret` key signs the completion webhooks of "
            "this task's Runs (HMAC-SHA256); default: a key for the namespace derived from the operator's "
            "--webhook-secret (docs/webhooks.md)."
        ),
    )
    successful_runs_history_limit: int = Field(
        default=50, ge=0, le=INT32_MAX, description="Finished successful Runs kept per task; older ones are deleted."
    )
    failed_runs_history_limit: int = Field(
        default=50, ge=0, le=INT32_MAX, description="Finished unsuccessful Runs kept per task; older ones are deleted."
    )
    ttl_seconds_after_finished: int | None = Field(
        default=None, ge=0, le=INT32_MAX, description="Delete a finished Run this many seconds after it ended."
    )


class TaskStatus(CamelModel):
    """The observed state of a Task, written only by the operator."""

    observed_generation: int | None = Field(default=None, description="The generation this status describes.")
    conditions: list[Condition] | None = Field(
        default=None,
        description="Standard conditions: ScheduleValid, and ResultSchemaValid when a resultSchema is set.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    last_schedule_time: dt.datetime | None = Field(
        default=None, description="The latest fire time the schedule handled (run or recorded)."
    )
    next_run_at: dt.datetime | None = Field(default=None, description="The next fire time (unset when none).")
    snoozed_until: dt.datetime | None = Field(default=None, description="Set while a snooze holds fires back.")
    snooze_reason: str | None = Field(default=None, description="The reason given for the snooze.")
    active_version: int | None = Field(default=None, description="The newest version number (what Runs get).")
    active_version_id: str | None = Field(default=None, description="The newest version's id (ControllerRevision).")


class Task(CamelModel):
    """A task: a template every Run of it executes."""

    api_version: str = Field(default=API_VERSION, description="API version.")
    kind: str = Field(default="Task", description="Kind.")
    metadata: ObjectMeta = Field(description="Standard object metadata.")
    spec: TaskSpec = Field(description="The desired state of the task.")
    status: TaskStatus = Field(default_factory=TaskStatus, description="The observed state of the task.")
