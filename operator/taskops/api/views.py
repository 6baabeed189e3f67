"""Run and Task objects as each API shape shows them: pure functions of the custom resource.

One Run status, several vocabularies: seed 004's lifecycle (`status` of RunOut),
seed 000's execution status, seed 002's pending/running/ended with end_reason,
seed 003's success/failure/in_progress with `history`.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from taskops.api import schemas
from taskops.api.trigger_build import ANNOTATION_RESUME_OF
from taskops.domain.resources import priority, timefmt
from taskops.domain.resources.apinames import task_api_name
from taskops.domain.resources.phases import Phase, seed000_status, seed002_status, seed003_status
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
        task_id=out.task_id,
        task_run_id=out.id,
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


def _matches(run: schemas.RunOut, name: str, value: str) -> bool:
    if name in ("status", "execution_mode"):
        return str(getattr(run, name)).upper() == value.upper()
    return str(getattr(run, name) or "") == value


def select_runs(runs: list[schemas.RunOut], wanted: dict[str, str], sort: str) -> list[schemas.RunOut]:
    """The runs matching every filter, sorted by `sort` (`-` for descending); unset values sort first."""
    field = sort.lstrip("-")
    out = [r for r in runs if all(_matches(r, k, v) for k, v in wanted.items())]
    out.sort(key=lambda r: (getattr(r, field) is not None, getattr(r, field) or "", r.id), reverse=sort.startswith("-"))
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
