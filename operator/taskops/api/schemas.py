"""Request and response bodies of the REST API, in the seeds' snake_case names.

Pure pydantic: the OpenAPI document is generated from these models, and every
handler validates its body with one of them. Unknown fields are refused (422
naming the field) so a typo never silently does nothing.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any, Literal, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    SerializerFunctionWrapHandler,
    create_model,
    model_serializer,
)
from pydantic.fields import FieldInfo
from pydantic.json_schema import SkipJsonSchema

from taskops.domain.execution.batchresults import InputStatus
from taskops.domain.resources.apinames import API_NAME_MAX, API_NAME_PATTERN
from taskops.domain.resources.names import DNS_SUBDOMAIN
from taskops.domain.resources.overrides import Provider, ResponseFormat
from taskops.domain.resources.run import Seed002Trigger
from taskops.domain.resources.task import TaskSpec, TaskState
from taskops.domain.views.run import Attempt, RunOut, Step

__all__ = ["Attempt", "RunOut", "Step"]

WAIT_TIMEOUT_DEFAULT = 300
WAIT_TIMEOUT_MAX = 3600
SNOOZE_MAX_SECONDS = 7 * 24 * 3600


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _plain(info: FieldInfo, optional: bool) -> FieldInfo:
    """The field without its camelCase alias (the API speaks the seeds' snake_case); optional for updates."""
    info = copy.copy(info)
    info.alias = info.validation_alias = info.serialization_alias = None
    info.alias_priority = None
    if optional:
        info.default, info.default_factory = None, None
    return info


# Lifecycle fields have their own actions; priority speaks seed 001's 1-9 scale on the Tasks API.
_NOT_IN_BODY = ("state", "snooze", "priority")


def _spec_fields(optional: bool) -> dict[str, Any]:
    return {
        name: (cast(Any, info.annotation) | None if optional else info.annotation, _plain(info, optional))
        for name, info in TaskSpec.model_fields.items()
        if name not in _NOT_IN_BODY
    }


class _Priorities(ApiModel):
    priority: int | None = Field(
        default=None, ge=1, le=9, description="Seed 001 scale, 1 highest, default 5; stored as (5 - p) * 250."
    )
    queue_priority: int | None = Field(
        default=None, ge=-1000, le=1000, description="The native priority (higher first); wins over `priority`."
    )


TaskUpdate = create_model(
    "TaskUpdate",
    __base__=_Priorities,
    __doc__="PUT /tasks/{id} (seed 001): only the fields given change; a changed spec is a new version.",
    **_spec_fields(optional=True),
)
TaskCreate = create_model(
    "TaskCreate",
    __base__=_Priorities,
    __doc__="POST /tasks (seed 001), plus every other field of a Task's spec.",
    name=(
        str | None,
        Field(
            default=None,
            min_length=1,
            max_length=API_NAME_MAX,
            pattern=API_NAME_PATTERN,
            description="The task's name (seed 002 rule); default: made from the title.",
        ),
    ),
    **_spec_fields(optional=False),
)


class SnoozeRequest(ApiModel):
    delay_seconds: int = Field(ge=1, le=SNOOZE_MAX_SECONDS, description="Delay of the next fire (max one week).")
    reason: str | None = Field(default=None, max_length=500, description="Why the task is snoozed.")


class RunNowRequest(ApiModel):
    params: dict[str, Any] | None = Field(default=None, description="Params of the run (seed 002 null rules).")
    reference: str | None = Field(default=None, max_length=253, description="Your own reference for the run.")


class ExecutionRequest(ApiModel):
    """POST /integrations/executions (seed 000)."""

    agent_id: str | None = Field(default=None, max_length=253, description="The Agent to queue for.")
    task_id: str | None = Field(default=None, description="The task: its name or its uid.")
    # An object name or uid: anything else could never name a version, and is refused before the API server sees it.
    task_version_id: str | None = Field(
        default=None, max_length=253, pattern=DNS_SUBDOMAIN, description="A version id (pins task and version)."
    )
    version: str | None = Field(default=None, max_length=253, description='"current", a number, or a version id.')
    params: dict[str, Any] | None = Field(default=None, description="Params, validated by the task's schema.")
    reference: str | None = Field(default=None, max_length=253, description="Your own reference.")
    metadata: dict[str, Any] | None = Field(default=None, description="Free-form data kept on the run.")
    callback_url: str | None = Field(default=None, max_length=2048, description="Webhook called when it ends.")
    priority: int | None = Field(default=None, ge=-1000, le=1000, description="Higher goes first; default 0.")
    scheduled_at: dt.datetime | None = Field(default=None, description="Stay pending until then (ISO 8601).")
    triggered_by: Literal["api", "manual"] = Field(
        default="api", description='"manual" for a run started by a person (the web page sends it); else "api".'
    )


class TaskRunRequest(ApiModel):
    """POST /tasks/{taskName}/run (seed 002)."""

    schema_: str | None = Field(default=None, alias="$schema", description="Ignored (seed 002 `$schema`).")
    params: dict[str, Any] | None = Field(
        default=None,
        description='null omits a param, "" passes an empty value, an absent key takes the default.',
    )


class TaskRunsRequest(ApiModel):
    """POST /tasks/{task_id}/runs (seed 003): per-run overrides of the task's inputs."""

    prompt: str | None = Field(default=None, min_length=3, description="Override task prompt.")
    model: str | None = Field(default=None, description="Override model.")
    provider: Provider | None = Field(default=None, description="Override provider.")
    wait_for_completion: bool | None = Field(default=None, description="Hold the request until the run ends.")
    webhook_url: str | None = Field(default=None, max_length=2048, description="Webhook called when it ends.")
    response_format: ResponseFormat | None = Field(
        default=None, description="The result as the raw termination message (text) or its parsed JSON (json)."
    )
    json_schema: Any = Field(
        default=None,
        description="A JSON Schema (an object, or its JSON text) replacing the task's result schema for this run.",
    )
    use_cached_workflow: bool | None = Field(default=None, description="Override use of a cached workflow.")
    params: dict[str, Any] | None = Field(default=None, description="Params, validated by the task's schema.")


class ActionRunRequest(ApiModel):
    """POST /actions/{action_name}/{live|async|schedule} (seed 004)."""

    input: dict[str, Any] | None = Field(default=None, description="One input: the run's params (live mode).")
    inputs: list[Any] | None = Field(
        default=None,
        min_length=1,
        max_length=100000,
        description="A batch: up to 100,000 JSON values, one Indexed Job over all of them (async and schedule).",
    )
    scheduled_at: dt.datetime | None = Field(default=None, description="schedule mode: when the one run starts.")
    cron: str | None = Field(
        default=None,
        max_length=4000,
        description="schedule mode: a CRON expression (5 fields, 6 with seconds, or @daily...): a schedule whose "
        "every fire runs the input or inputs (GET /api/v1/schedules). Instead of scheduled_at.",
    )
    timezone: str | None = Field(
        default=None, max_length=64, description="schedule mode with cron: the IANA time zone it is read in (UTC)."
    )
    callback_url: str | None = Field(default=None, max_length=2048, description="Webhook called when it ends.")


class EventRequest(ApiModel):
    id: str | None = Field(
        default=None, max_length=253, description="Event id: the same id fires each listening task once."
    )
    params: dict[str, Any] | None = Field(default=None, description="Params of the runs it fires.")


# --- responses ------------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    location: str = Field(description="Where, e.g. body.params.limit or query.wait_timeout.")
    message: str = Field(description="What is wrong.")
    value: Any = Field(default=None, description="The value found there.")


class Problem(BaseModel):
    """RFC 9457 problem details (seed 002 ErrorModel)."""

    type: str = Field(default="about:blank", description="A URI naming the problem type.")
    title: str = Field(description="Short summary of the problem type.")
    status: int = Field(description="HTTP status code.")
    detail: str | None = Field(default=None, description="What went wrong this time.")
    instance: str | None = Field(default=None, description="The request path.")
    errors: list[ErrorDetail] | None = Field(default=None, description="Each problem with its location.")


class TaskOut(BaseModel):
    id: str = Field(description="The Task's uid.")
    numeric_id: int | None = Field(default=None, description="The Task's integer id (seed 003's task_id).")
    name: str = Field(description="The task's API name.")
    object_name: str = Field(description="The Task object's name (kubectl get task <object_name>).")
    namespace: str
    status: TaskState
    title: str | None = None
    description: str | None = None
    created_by: str | None = None
    schedule_kind: str | None = None
    schedule_expr: str | None = None
    timezone: str = "UTC"
    priority: int = Field(description="Seed 001 scale (1 highest).")
    queue_priority: int = Field(description="Native priority, -1000..1000.")
    spec: dict[str, Any] = Field(description="The whole spec, snake_case.")
    version: int | None = Field(default=None, description="The newest version number.")
    version_id: str | None = Field(default=None, description="The newest version's id.")
    next_run_at: dt.datetime | None = None
    last_schedule_time: dt.datetime | None = None
    snoozed_until: dt.datetime | None = None
    snooze_reason: str | None = None
    created_at: dt.datetime | None = None
    conditions: list[dict[str, Any]] = Field(default_factory=list)


class TaskList(BaseModel):
    items: list[TaskOut]
    total: int
    limit: int
    offset: int


class RunList(BaseModel):
    items: list[RunOut]
    total: int
    limit: int
    offset: int


class InputResult(BaseModel):
    """One input's recorded outcome in a batch run (docs/batch.md)."""

    index: int = Field(description="The input's index in the run's inputs (the same across resumes).")
    status: InputStatus
    attempt: int = Field(description="The run attempt whose pod decided it (a resume is a later attempt).")
    exit_code: int | None = None
    result: Any = Field(default=None, description="The pod's termination message: JSON when it parses, else text.")
    reason: str | None = Field(default=None, description="Why the pod failed (Error, OOMKilled, ...).")
    missing: bool = Field(default=False, description="The pod was gone before its result could be read.")


class InputResultList(BaseModel):
    """A page of a batch run's per-input results, by ascending index."""

    items: list[InputResult]
    total: int = Field(description="Recorded results matching the filter.")
    inputs: int = Field(description="Inputs in the run.")
    limit: int
    offset: int


ExecutionStatus = Literal["pending", "queued", "running", "succeeded", "failed", "aborted"]


class Execution(BaseModel):
    """Seed 000's execution (the fields after `idempotent_replay` are taskops' own, for the web page)."""

    id: str
    uid: str
    agent_id: str | None = None
    task_id: str | None = None
    task_version_id: str | None = None
    version: str | None = None
    status: ExecutionStatus
    params: dict[str, Any] | None = None
    reference: str | None = None
    metadata: dict[str, Any] | None = None
    callback_url: str | None = None
    priority: int = 0
    scheduled_at: dt.datetime | None = None
    created_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    exit_code: int | None = None
    result: Any = None
    idempotent_replay: bool | None = None
    task_name: str | None = Field(default=None, description="The task's API name (task_id is its uid).")
    triggered_by: str | None = Field(default=None, description="manual (the web page), api, cron, retry, ...")
    end_reason: str | None = Field(default=None, description="Why it ended (success, failed, stopped, ...).")
    message: str | None = Field(default=None, description="What it is doing or why it ended, in words.")
    attempt: int = Field(default=1, description="The current attempt, from 1.")
    batch_inputs: int | None = Field(default=None, description="A batch run's number of inputs (logs are per input).")
    batch: dict[str, Any] | None = Field(
        default=None, description="A batch run's progress: total, succeeded, failed, running, failedIndexes, ..."
    )
    is_done: bool = Field(default=False, description="It ended: nothing will change any more.")
    history: list[Step] = Field(default_factory=list, description="Its steps, oldest first.")


class ExecutionList(BaseModel):
    items: list[Execution]
    total: int
    limit: int
    offset: int


class AgentOut(BaseModel):
    """An Agent (seed 000's agent_id names one): what it may run at once and what it runs now."""

    name: str = Field(description="The Agent object's name: what agent_id takes (or its uid).")
    uid: str = Field(description="The Agent's uid.")
    description: str | None = None
    capacity: int = Field(description="Runs of this agent running at once.")
    max_queued: int | None = Field(default=None, description="Runs waiting for it at most (none: unbounded).")
    running: int = Field(description="Its runs admitted and not ended (in a retry's backoff too).")
    queued: int = Field(description="Its runs waiting for capacity (QUEUED or BLOCKED; seed 000 queued).")
    created_at: dt.datetime | None = None


class AgentList(BaseModel):
    items: list[AgentOut] = Field(description="By name.")
    total: int
    limit: int
    offset: int


def _absent(description: str) -> Any:
    """A field seed 002 types without null: absent from the answer while it has no value (see Run002)."""

    def no_default(schema: dict[str, Any]) -> None:
        schema.pop("default", None)

    return Field(default=None, description=description, json_schema_extra=no_default)


class Run002(BaseModel):
    """Seed 002's Run. Seed 002 types its optional fields without null (`end_at: string`), so a field without a
    value is left out of the answer rather than sent as null: a strict client of the seed accepts it."""

    id: str = Field(description="The run's id (the Run object's name).")
    task_name: str
    status: Literal["pending", "running", "ended"]
    end_reason: str | SkipJsonSchema[None] = _absent("Why the run ended; set when status=ended.")
    exit_code: int | SkipJsonSchema[None] = _absent(
        "The container's exit code; absent until the run ends with one (as in seed 002's own example)."
    )
    created_at: dt.datetime
    start_at: dt.datetime | SkipJsonSchema[None] = _absent("When the run started.")
    end_at: dt.datetime | SkipJsonSchema[None] = _absent("When the run ended.")
    params: dict[str, str] | SkipJsonSchema[None] = _absent("The params, each as a string (JSON text if not one).")
    retry_attempt: int
    retry_of_run_id: str | SkipJsonSchema[None] = _absent(
        "The run this one retries: its own id from its second attempt on (retry_attempt counts them), "
        "or the run a resume reruns."
    )
    instance_index: int = Field(
        default=0, description="0: seed 002's routes answer only the run they made, never a batch run (docs/api.md)."
    )
    external_execution_id: str | SkipJsonSchema[None] = _absent("The Run's uid.")
    triggered_by: Seed002Trigger = Field(description="How the run was triggered, in seed 002's words.")
    idempotent_replay: bool | SkipJsonSchema[None] = _absent("True: an Idempotency-Key replay (taskops).")

    @model_serializer(mode="wrap")
    def _without_nulls(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        return {k: v for k, v in out.items() if v is not None}


class HistoryAction(BaseModel):
    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    is_done: bool = True
    success: bool | None = None
    extracted_content: str | None = None
    error: str | None = None
    include_in_memory: bool = True


class HistoryItem(BaseModel):
    description: str
    actions: list[HistoryAction]


class TaskRun003(BaseModel):
    """Seed 003's response."""

    task_id: int | None = Field(default=None, description='The Task\'s integer id (docs/api.md, "Names and ids").')
    task_run_id: int | None = Field(default=None, description="The Run's integer id (GET /api/v1/runs/{id} takes it).")
    run_name: str | None = Field(default=None, description="The Run object's name (taskops; kubectl get run <name>).")
    history: list[HistoryItem] | None = None
    result: Any = None
    is_done: bool | None = None
    is_successful: bool | None = None
    status: Literal["success", "failure", "in_progress"] = "in_progress"
    idempotent_replay: bool | None = None


class ValidateResult(BaseModel):
    would_create: bool = Field(description="True: a real request with this body would create the run.")
    task_name: str
    version: int | None = None
    params: dict[str, Any] | None = Field(default=None, description="The params the run would get.")


class ScheduleOut(BaseModel):
    """A CRON schedule of an action (seed 004): a Task of its own, each fire a Run with execution_mode SCHEDULE."""

    id: str = Field(description="The schedule's name (its Task object's name).")
    uid: str
    action_name: str = Field(description="The action (task) it runs.")
    cron: str
    timezone: str
    status: str = Field(description="active or paused.")
    input: dict[str, Any] | None = Field(default=None, description="The params each fire runs with.")
    inputs_count: int | None = Field(default=None, description="The batch each fire runs: how many inputs.")
    next_run_at: dt.datetime | None = None
    last_schedule_time: dt.datetime | None = None
    created_by: str | None = None
    created_at: dt.datetime | None = None


class ActionRunResult(RootModel[RunOut | ScheduleOut]):
    """What `POST /actions/{name}/{mode}` answers: the run, or with `cron` (schedule mode) the schedule."""


class ScheduleList(BaseModel):
    items: list[ScheduleOut]
    total: int
    limit: int
    offset: int


class EventResult(BaseModel):
    event: str
    id: str
    runs: list[RunOut] = Field(description="One run per task listening to the event.")
