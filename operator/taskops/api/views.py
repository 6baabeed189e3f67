"""Run and Task objects as each API shape shows them: pure functions of the custom resource.

One Run status, several vocabularies: seed 004's lifecycle (`status` of RunOut),
seed 000's execution status, seed 002's pending/running/ended with end_reason,
seed 003's success/failure/in_progress with `history`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from taskops.api import schemas
from taskops.api.trigger_build import ANNOTATION_RESUME_OF
from taskops.domain.resources import numericids, priority, timefmt
from taskops.domain.resources.apinames import ANNOTATION_SCHEDULE_OF, LABEL_SCHEDULE, task_api_name
from taskops.domain.resources.phases import (
    WAITING_PHASES,
    Phase,
    is_terminal,
    seed000_status,
    seed002_status,
    seed003_status,
)
from taskops.domain.resources.run import seed002_trigger
from taskops.domain.resources.task import TaskSpec
from taskops.domain.views.run import UPDATED_AT, phase_and_reason, run_out

__all__ = ["phase_and_reason", "run_out"]


def slim(obj: dict[str, Any]) -> dict[str, Any]:
    """What the API's caches keep: managedFields (often half an object) reduced to the last update time."""
    meta = obj.get("metadata") or {}
    fields = meta.pop("managedFields", None) or []
    times = [f["time"] for f in fields if f.get("time")]
    if times:
        meta.setdefault("annotations", {})
        meta["annotations"] = {**(meta["annotations"] or {}), UPDATED_AT: max(times)}
    return obj


def execution(run: dict[str, Any], task_name: str | None = None, replay: bool | None = None) -> schemas.Execution:
    out = run_out(run, task_name)
    phase, reason = phase_and_reason(run)
    spec = run.get("spec") or {}
    return schemas.Execution(
        id=out.id,
        uid=out.uid,
        agent_id=out.agent_id,
        task_id=out.task_id,
        task_version_id=out.task_version_id,
        version=str(out.version) if out.version is not None else spec.get("version"),
        status=seed000_status(phase, reason),
        params=out.params,
        reference=out.reference,
        metadata=out.metadata,
        callback_url=out.callback_url,
        priority=out.priority or 0,
        scheduled_at=timefmt.parse_optional(spec.get("scheduledAt")),
        created_at=out.created_at,
        started_at=out.start_at,
        finished_at=out.end_at,
        exit_code=out.exit_code,
        result=out.result,
        idempotent_replay=replay,
        task_name=out.task_name,
        triggered_by=out.triggered_by,
        end_reason=out.end_reason,
        message=out.message,
        attempt=out.retry_attempt + 1,
        batch_inputs=int((spec.get("inputs") or {}).get("count") or 0) or None,
        batch=out.batch,
        is_done=out.is_done,
        history=out.history,
    )


def agent_load(runs: Iterable[Mapping[str, Any]]) -> dict[str, tuple[int, int]]:
    """Agent name -> (running, queued) over one namespace's Runs, counted as the operator's admission counts
    them (operator/admission.py): admitted and not ended is running, waiting in QUEUED/BLOCKED is queued."""
    load: dict[str, tuple[int, int]] = {}
    for run in runs:
        status = run.get("status") or {}
        agent, phase = status.get("agent"), status.get("phase")
        if not agent or is_terminal(phase):
            continue
        running, queued = load.get(agent, (0, 0))
        if status.get("admittedAt"):
            running += 1
        elif phase in WAITING_PHASES:
            queued += 1
        load[agent] = (running, queued)
    return load


def agent_out(agent: Mapping[str, Any], load: tuple[int, int]) -> schemas.AgentOut:
    meta, spec = agent["metadata"], agent.get("spec") or {}
    return schemas.AgentOut(
        name=meta["name"],
        uid=meta.get("uid") or "",
        description=spec.get("description"),
        capacity=int(spec.get("capacity") or 1),
        max_queued=spec.get("maxQueued"),
        running=load[0],
        queued=load[1],
        created_at=timefmt.parse_optional(meta.get("creationTimestamp")),
    )


def run002(
    run: dict[str, Any], task_name: str | None = None, replay: bool | None = None, *, now: dt.datetime
) -> schemas.Run002:
    """Seed 002's Run; `now` stands for the creation time of a Run the API server has not stored yet."""
    out = run_out(run, task_name)
    phase, reason = phase_and_reason(run)
    status, end_reason = seed002_status(phase, reason)
    annotations = run["metadata"].get("annotations") or {}
    return schemas.Run002(
        id=out.id,
        task_name=out.task_name,
        status=status,
        end_reason=end_reason,
        exit_code=out.exit_code if out.is_done else None,
        created_at=out.created_at or now,
        start_at=out.start_at,
        end_at=out.end_at,
        params={k: v if isinstance(v, str) else json.dumps(v) for k, v in (out.params or {}).items()},
        retry_attempt=out.retry_attempt,
        retry_of_run_id=out.id if out.retry_attempt > 0 else annotations.get(ANNOTATION_RESUME_OF),
        external_execution_id=out.uid,
        triggered_by=seed002_trigger(out.triggered_by),
        idempotent_replay=replay,
    )


def task_run003(run: dict[str, Any], task_name: str | None = None, replay: bool | None = None) -> schemas.TaskRun003:
    out = run_out(run, task_name)
    phase, _ = phase_and_reason(run)
    history = [
        schemas.HistoryItem(
            description=step.message or step.step,
            actions=[
                schemas.HistoryAction(
                    name=step.step,
                    success=None if step.step not in ("attempt_ended", "ended") else phase == Phase.SUCCEEDED,
                    extracted_content=step.message,
                )
            ],
        )
        for step in out.history
    ]
    return schemas.TaskRun003(
        task_id=numericids.of_uid(out.task_id),
        task_run_id=out.numeric_id,
        run_name=out.id,
        history=history,
        result=out.result,
        is_done=out.is_done,
        is_successful=out.is_successful,
        status=seed003_status(phase),
        idempotent_replay=replay,
    )


def task_out(task: dict[str, Any]) -> schemas.TaskOut:
    meta, spec, status = task["metadata"], task.get("spec") or {}, task.get("status") or {}
    queue_priority = int(spec.get("priority") or 0)
    return schemas.TaskOut(
        id=meta.get("uid") or "",
        numeric_id=numericids.of(task),
        name=task_api_name(meta["name"], meta.get("annotations")),
        object_name=meta["name"],
        namespace=meta.get("namespace") or "",
        status=spec.get("state") or "active",
        title=spec.get("title"),
        description=spec.get("description"),
        created_by=spec.get("createdBy"),
        schedule_kind=spec.get("scheduleKind"),
        schedule_expr=spec.get("scheduleExpr"),
        timezone=spec.get("timezone") or "UTC",
        priority=priority.to_seed001(queue_priority),
        queue_priority=queue_priority,
        spec=TaskSpec.model_validate(spec).model_dump(mode="json", exclude_none=True),
        version=status.get("activeVersion"),
        version_id=status.get("activeVersionId"),
        next_run_at=timefmt.parse_optional(status.get("nextRunAt")),
        last_schedule_time=timefmt.parse_optional(status.get("lastScheduleTime")),
        snoozed_until=timefmt.parse_optional(status.get("snoozedUntil")),
        snooze_reason=status.get("snoozeReason"),
        created_at=timefmt.parse_optional(meta.get("creationTimestamp")),
        conditions=status.get("conditions") or [],
    )


def schedule_out(task: dict[str, Any]) -> schemas.ScheduleOut:
    meta, spec, status = task["metadata"], task.get("spec") or {}, task.get("status") or {}
    fire_with = spec.get("fireWith") or {}
    return schemas.ScheduleOut(
        id=meta["name"],
        uid=meta.get("uid") or "",
        action_name=(meta.get("annotations") or {}).get(ANNOTATION_SCHEDULE_OF) or "",
        cron=spec.get("scheduleExpr") or "",
        timezone=spec.get("timezone") or "UTC",
        status=spec.get("state") or "active",
        input=fire_with.get("params"),
        inputs_count=(fire_with.get("inputs") or {}).get("count"),
        next_run_at=timefmt.parse_optional(status.get("nextRunAt")),
        last_schedule_time=timefmt.parse_optional(status.get("lastScheduleTime")),
        created_by=spec.get("createdBy"),
        created_at=timefmt.parse_optional(meta.get("creationTimestamp")),
    )


def is_schedule(task: dict[str, Any]) -> bool:
    return (task["metadata"].get("labels") or {}).get(LABEL_SCHEDULE) == "true"


def _matches(run: BaseModel, name: str, value: str) -> bool:
    if name in ("status", "execution_mode"):
        return str(getattr(run, name)).upper() == value.upper()
    return str(getattr(run, name) or "") == value


R = TypeVar("R", schemas.RunOut, schemas.Execution)


def select_runs(runs: list[R], wanted: dict[str, str], sort: str) -> list[R]:
    """The runs (or executions) matching every filter, sorted by `sort` (`-` for descending); unset values sort
    first."""
    field = sort.lstrip("-")

    def key(r: R) -> tuple[bool, Any, str]:
        value = getattr(r, field)
        return (value is not None, value if value is not None else "", r.id)

    out = [r for r in runs if all(_matches(r, k, v) for k, v in wanted.items())]
    out.sort(key=key, reverse=sort.startswith("-"))
    return out


def select_tasks(tasks: list[schemas.TaskOut], wanted: dict[str, str]) -> list[schemas.TaskOut]:
    """The tasks matching every filter, oldest first."""
    out = [t for t in tasks if all(str(getattr(t, k) or "") == v for k, v in wanted.items())]
    out.sort(key=lambda t: (t.created_at is None, t.created_at, t.name))
    return out


def input_results(
    entries: dict[int, dict[str, Any]], status: str | None, offset: int, limit: int
) -> tuple[list[schemas.InputResult], int]:
    """(a page of the entries by ascending index, the number matching `status`); unreadable entries skipped."""
    chosen = [i for i in sorted(entries) if status is None or entries[i].get("status") == status]
    page: list[schemas.InputResult] = []
    for i in chosen[offset : offset + limit]:
        e = entries[i]
        try:
            page.append(
                schemas.InputResult(
                    index=i,
                    status=e.get("status"),
                    attempt=e.get("attempt") or 0,
                    exit_code=e.get("exitCode"),
                    result=e.get("result"),
                    reason=e.get("reason"),
                    missing=bool(e.get("missing")),
                )
            )
        except ValueError:
            continue
    return page, len(chosen)
