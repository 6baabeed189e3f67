"""Build the Run objects taskops creates itself (scheduled fires and their records).

A fire's Run may be created *ahead* of its fire (`AHEAD` before it, or by the pass of the previous fire when
that one is at most `AHEAD_AT_FIRE` before it), so that the fire itself is only its Job's create. Such a Run
carries `spec.scheduledAt`, `spec.version` (the version current when it was made) and the annotation
`taskops.dev/ahead-of-fire` with the Task generation it was made for; it has no status until its fire. Nothing
but the fire starts it: at the fire, the Task controller applies the overlap and missed-fire policies as for
any fire and then either creates its Job (the Run reconciler adopts it), marks it with a disposition (skipped,
missed…) or, made for an older generation of the Task or for a fire the schedule no longer has, deletes it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from taskops import API_VERSION
from taskops.domain.execution.jobs import task_owner
from taskops.domain.resources import names, timefmt
from taskops.domain.resources.apinames import ANNOTATION_SCHEDULE_OF
from taskops.domain.resources.phases import EndReason
from taskops.domain.resources.task import Task, TaskSpec

# How long before its fire a Run is created ahead: time enough for it to be validated and shown SCHEDULED
# off the fire's instant, and short enough that a Task changed meanwhile seldom has one to replace.
AHEAD = dt.timedelta(seconds=30)
# A fire nearer than this is not created ahead: the Run could not be validated before it anyway.
AHEAD_MIN = dt.timedelta(seconds=3)
# How far ahead the pass that fires a Task also makes the Run of its next fire. Made at `AHEAD` it would take a
# pass of its own, 30 s before the fire: two passes of the fire queue per fire, where one does (with 5,000 Tasks
# spread over the minute the fire workers fell minutes behind the 170 passes a second). Bounded so that a Task
# firing seldom does not show its next Run for hours; those make it at `AHEAD`, in a pass of its own.
AHEAD_AT_FIRE = dt.timedelta(minutes=5)


def stop_patch(message: str | None = None) -> dict[str, Any]:
    """The merge patch that asks a Run to stop (spec.stop); `message` becomes the message it ends with."""
    patch: dict[str, Any] = {"spec": {"stop": True}}
    if message:
        patch["metadata"] = {"annotations": {names.ANNOTATION_STOP_MESSAGE: message}}
    return patch


def can_create_ahead(spec: TaskSpec, now: dt.datetime) -> bool:
    """Whether this Task's fires may be created ahead. Not when a Run of it counts against a limit (only
    admission may start it: its Job cannot be the fire), nor with a dedupe key (decided at creation), nor for a
    schedule that fires a batch (its inputs and Indexed Job take the batch path), nor while a snooze moves its
    next fire."""
    snoozed = spec.snooze is not None and spec.snooze.until is not None and spec.snooze.until > now
    return (
        spec.state == "active"
        and spec.schedule_kind in {"cron", "rrule", "once"}
        and spec.concurrency_key is None
        and spec.agent is None
        and spec.dedupe_key is None
        and (spec.fire_with is None or spec.fire_with.inputs is None)
        and not snoozed
    )


def ahead_generation(run: Mapping[str, Any]) -> int | None:
    """The Task generation a Run created ahead was made for; None for any other Run."""
    value = ((run.get("metadata") or {}).get("annotations") or {}).get(names.ANNOTATION_AHEAD)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return -1  # not ours to read: never released, deleted at its fire as made for another generation


def waiting_for_fire(run: Mapping[str, Any], job_exists: bool) -> bool:
    """A Run created ahead whose fire has not started it (no Job, no attempt) nor ended it."""
    status = run.get("status") or {}
    spec = run.get("spec") or {}
    return (
        ahead_generation(run) is not None
        and not job_exists
        and status.get("attempt") is None
        and not status.get("endReason")
        and not spec.get("stop")
        and names.ANNOTATION_DISPOSITION not in ((run.get("metadata") or {}).get("annotations") or {})
    )


def disposition_patch(disposition: EndReason, message: str) -> dict[str, Any]:
    """The patch that turns a Run created ahead into the record its fire makes (skipped, missed, stopped…)."""
    annotations = {names.ANNOTATION_DISPOSITION: disposition.value, names.ANNOTATION_DISPOSITION_MESSAGE: message}
    return {"metadata": {"annotations": annotations}}


def build_scheduled_run(
    task: Task,
    at: dt.datetime,
    disposition: EndReason | None = None,
    message: str = "",
    ahead: bool = False,
    version: str | None = None,
) -> dict[str, Any]:
    """The Run for one fire of `task` at `at`; with a disposition, a record that ends at once; `ahead`: created
    before its fire, which alone starts it. `version`: the id of the version it runs (`spec.version`), for a Run
    made ahead: it has no status until its fire, and its Job is built for that version before the Task can change
    again (a Task changed before the fire deletes the Run; after it, the Run keeps the version its Job runs)."""
    annotations: dict[str, str] = {}
    spec: dict[str, Any] = {
        "taskRef": {"name": task.metadata.name},
        "triggeredBy": task.spec.schedule_kind or "manual",
        "scheduledTime": timefmt.stamp(at),
    }
    if ahead:
        annotations[names.ANNOTATION_AHEAD] = str(task.metadata.generation or 0)
        spec["scheduledAt"] = timefmt.stamp(at)
        if version is not None:
            spec["version"] = version
    if disposition is not None:
        annotations[names.ANNOTATION_DISPOSITION] = disposition.value
        annotations[names.ANNOTATION_DISPOSITION_MESSAGE] = message
    elif message:
        annotations[names.ANNOTATION_DISPOSITION_MESSAGE] = message
    fire_with = task.spec.fire_with
    if fire_with is not None and disposition is None:
        spec.update({k: v for k, v in fire_with.to_k8s().items() if k != "params" or v})
    action = (task.metadata.annotations or {}).get(ANNOTATION_SCHEDULE_OF)
    if action:
        annotations[ANNOTATION_SCHEDULE_OF] = action
    return {
        "apiVersion": API_VERSION,
        "kind": "Run",
        "metadata": {
            "name": names.scheduled_run_name(task.metadata.name, at),
            "namespace": task.metadata.namespace,
            "labels": {names.LABEL_TASK: task.metadata.name, names.LABEL_SCHEDULED: "true"},
            "annotations": annotations,
            "ownerReferences": [task_owner(task)],
        },
        "spec": spec,
    }
