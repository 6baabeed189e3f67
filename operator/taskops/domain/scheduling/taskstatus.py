"""A Task's status, computed from its spec, its schedule's plan and its Runs."""

from __future__ import annotations

import datetime as dt

from taskops.domain.resources.conditions import set_condition
from taskops.domain.resources.task import Task, TaskStatus
from taskops.domain.scheduling.firing import FirePlan
from taskops.domain.scheduling.recurrence import ScheduleError


def task_status(
    task: Task,
    plan: FirePlan | None,
    error: ScheduleError | None,
    now: dt.datetime,
    schema_problem: str | None = None,
) -> TaskStatus:
    """The status; `schema_problem` says why the resultSchema is not acceptable (results.schema_error)."""
    status = task.status.model_copy(deep=True)
    gen = task.metadata.generation
    status.observed_generation = gen
    if task.spec.result_schema is None:
        status.conditions = [c for c in status.conditions or [] if c.type != "ResultSchemaValid"] or None
    elif schema_problem is not None:
        message = f"spec.resultSchema: {schema_problem}; Runs that succeed are marked failed until it is fixed"
        status.conditions = set_condition(
            status.conditions, "ResultSchemaValid", "False", "InvalidResultSchema", message, now, gen
        )
    else:
        status.conditions = set_condition(
            status.conditions, "ResultSchemaValid", "True", "Valid", "resultSchema is a valid JSON Schema", now, gen
        )
    if error is not None:
        status.conditions = set_condition(
            status.conditions,
            "ScheduleValid",
            "False",
            "InvalidSchedule",
            f"spec.{error.field}: {error.message}",
            now,
            gen,
        )
        status.next_run_at = None
        return status
    if task.spec.schedule_kind is None:
        message = "no schedule: runs only when triggered"
    elif task.spec.schedule_kind == "event":
        message = f"fires on event {task.spec.schedule_expr or task.metadata.name!r}"
    else:
        message = f"{task.spec.schedule_kind} {task.spec.schedule_expr!r} in {task.spec.timezone}"
    status.conditions = set_condition(status.conditions, "ScheduleValid", "True", "Valid", message, now, gen)
    if plan is not None:
        if plan.last_schedule_time is not None:
            status.last_schedule_time = plan.last_schedule_time
        status.next_run_at = plan.next_fire
    snooze = task.spec.snooze
    if snooze is not None and snooze.until > now and task.spec.state == "active":
        status.snoozed_until, status.snooze_reason = snooze.until, snooze.reason
    else:
        status.snoozed_until, status.snooze_reason = None, None
    return status
