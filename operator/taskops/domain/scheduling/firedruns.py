"""Build the Run objects taskops creates itself (scheduled fires and their records)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from taskops import API_VERSION
from taskops.domain.execution.jobs import task_owner
from taskops.domain.resources import names, timefmt
from taskops.domain.resources.apinames import ANNOTATION_SCHEDULE_OF
from taskops.domain.resources.phases import EndReason
from taskops.domain.resources.task import Task


def stop_patch(message: str | None = None) -> dict[str, Any]:
    """The merge patch that asks a Run to stop (spec.stop); `message` becomes the message it ends with."""
    patch: dict[str, Any] = {"spec": {"stop": True}}
    if message:
        patch["metadata"] = {"annotations": {names.ANNOTATION_STOP_MESSAGE: message}}
    return patch


def build_scheduled_run(
    task: Task, at: dt.datetime, disposition: EndReason | None = None, message: str = ""
) -> dict[str, Any]:
    """The Run for one fire of `task` at `at`; with a disposition, a record that ends at once."""
    annotations: dict[str, str] = {}
    if disposition is not None:
        annotations[names.ANNOTATION_DISPOSITION] = disposition.value
        annotations[names.ANNOTATION_DISPOSITION_MESSAGE] = message
    elif message:
        annotations[names.ANNOTATION_DISPOSITION_MESSAGE] = message
    spec: dict[str, Any] = {
        "taskRef": {"name": task.metadata.name},
        "triggeredBy": task.spec.schedule_kind or "manual",
        "scheduledTime": timefmt.stamp(at),
    }
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
