"""A Run as the API and the webhooks show it: one flat, snake_case view of the custom resource.

`status` is seed 004's lifecycle (the Run's phase); the other seeds' vocabularies
are derived from the same fields by the API's views.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field
from pydantic.alias_generators import to_snake

from taskops.domain.resources import numericids, timefmt
from taskops.domain.resources.apinames import ANNOTATION_CREATED_AT, ANNOTATION_SCHEDULE_OF
from taskops.domain.resources.phases import EndReason, Phase, is_terminal, raw_phase

UPDATED_AT = "taskops.dev/updated-at"


class Attempt(BaseModel):
    number: int
    job_name: str
    start_at: dt.datetime | None = None
    end_at: dt.datetime | None = None
    exit_code: int | None = None
    end_reason: str | None = None
    message: str | None = None


class Step(BaseModel):
    time: dt.datetime
    step: str
    message: str | None = None


class RunOut(BaseModel):
    """A run in taskops' own terms; `status` is seed 004's lifecycle."""

    uid: str = Field(description="The Run's uid (seed 004 run_uid).")
    id: str = Field(description="The Run object's name.")
    numeric_id: int | None = Field(default=None, description="The Run's integer id (seed 003's task_run_id).")
    namespace: str = Field(description="The Run's namespace (seed 004 workspace).")
    workspace_uid: str
    task_name: str
    action_name: str = Field(description="Seed 004's name for the task (for a schedule's fire: its action).")
    task_id: str | None = Field(default=None, description="The Task's uid.")
    status: str = Field(description="CREATED, INVALID, QUEUED, SCHEDULED, BLOCKED, STOPPED, RUNNING, FAILED, ...")
    end_reason: str | None = None
    message: str | None = None
    exit_code: int | None = None
    execution_mode: str = Field(description="LIVE, ASYNC or SCHEDULE.")
    triggered_by: str
    user_uid: str | None = Field(default=None, description="Who triggered the run.")
    reference: str | None = None
    metadata: dict[str, Any] | None = None
    callback_url: str | None = None
    params: dict[str, Any] | None = None
    overrides: dict[str, Any] | None = None
    result: Any = None
    error: str | None = None
    priority: int | None = None
    agent_id: str | None = None
    concurrency_key: str | None = None
    queue_position: int | None = None
    version: int | None = None
    task_version_id: str | None = None
    retry_attempt: int = Field(description="Retries so far (0 on the first attempt).")
    retry_of_run_id: str | None = None
    batch: dict[str, Any] | None = Field(
        default=None, description="A batch run's progress: total, succeeded, failed, running, failedIndexes, ..."
    )
    attempts: list[Attempt] = Field(default_factory=list)
    history: list[Step] = Field(default_factory=list)
    scheduled_at: dt.datetime | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    start_at: dt.datetime | None = None
    end_at: dt.datetime | None = None
    is_done: bool
    is_successful: bool | None = None
    idempotent_replay: bool | None = None


def _owner_uid(obj: Mapping[str, Any], kind: str) -> str | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("kind") == kind:
            return str(ref.get("uid"))
    return None


def _annotated_time(meta: Mapping[str, Any], annotation: str) -> dt.datetime | None:
    """The time an annotation holds, else the creation time: whoever may annotate a Run (`kubectl annotate`)
    must not make it unreadable to the API (a ValueError there failed every list of its namespace)."""
    try:
        return timefmt.parse_optional((meta.get("annotations") or {}).get(annotation))
    except ValueError:
        pass
    return timefmt.parse_optional(meta.get("creationTimestamp"))


def _snake_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {to_snake(k): _snake_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_snake_keys(v) for v in value]
    return value


def phase_and_reason(run: Mapping[str, Any]) -> tuple[Phase, EndReason | None]:
    status = run.get("status") or {}
    phase = Phase(raw_phase(run))
    reason = status.get("endReason")
    return phase, EndReason(reason) if reason else None


def run_out(run: Mapping[str, Any], task_name: str | None = None, replay: bool | None = None) -> RunOut:
    """`task_name`: the task's API name when it differs from the Task object's name (see apinames)."""
    meta, spec, status = run["metadata"], run.get("spec") or {}, run.get("status") or {}
    phase, reason = phase_and_reason(run)
    version = status.get("version") or {}
    attempt = int(status.get("attempt") or 1)
    ended = is_terminal(phase)
    task_name = task_name or spec["taskRef"]["name"]
    message = status.get("message")
    return RunOut(
        uid=meta.get("uid") or "",
        id=meta["name"],
        numeric_id=numericids.of_uid(meta.get("uid")),
        namespace=meta.get("namespace") or "",
        workspace_uid=meta.get("namespace") or "",
        task_name=task_name,
        # A schedule's fire is a run of its action (seed 004): listed under the action's name.
        action_name=(meta.get("annotations") or {}).get(ANNOTATION_SCHEDULE_OF) or task_name,
        task_id=_owner_uid(run, "Task"),
        status=phase.value,
        end_reason=reason.value if reason else None,
        message=message,
        exit_code=status.get("exitCode"),
        execution_mode=spec.get("executionMode") or ("SCHEDULE" if spec.get("scheduledTime") else "ASYNC"),
        triggered_by=spec.get("triggeredBy") or "manual",
        user_uid=spec.get("user"),
        reference=spec.get("reference"),
        metadata=spec.get("metadata"),
        callback_url=spec.get("callbackUrl"),
        params=status.get("params") if status.get("params") is not None else spec.get("params"),
        overrides=status.get("overrides") if status.get("overrides") is not None else spec.get("overrides"),
        result=status.get("result"),
        error=message if ended and phase != Phase.SUCCEEDED else None,
        priority=status.get("priority", spec.get("priority")),
        agent_id=status.get("agent") or spec.get("agent"),
        concurrency_key=status.get("concurrencyKey"),
        queue_position=status.get("queuePosition"),
        version=version.get("number"),
        task_version_id=version.get("id"),
        retry_attempt=attempt - 1,
        retry_of_run_id=status.get("retryOf"),
        attempts=[Attempt.model_validate(_attempt(a)) for a in status.get("attempts") or []],
        batch=status.get("batch"),
        history=[Step.model_validate(s) for s in status.get("history") or []],
        scheduled_at=timefmt.parse_optional(spec.get("scheduledAt") or spec.get("scheduledTime")),
        created_at=_annotated_time(meta, ANNOTATION_CREATED_AT),
        updated_at=_annotated_time(meta, UPDATED_AT),
        start_at=timefmt.parse_optional(status.get("startTime")),
        end_at=timefmt.parse_optional(status.get("endTime")),
        is_done=ended,
        is_successful=(phase == Phase.SUCCEEDED) if ended else None,
        idempotent_replay=replay,
    )


def _attempt(raw: dict[str, Any]) -> dict[str, Any]:
    snake: dict[str, Any] = _snake_keys(raw)
    snake["start_at"] = snake.pop("start_time", None)
    snake["end_at"] = snake.pop("end_time", None)
    return snake
