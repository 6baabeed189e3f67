"""From an API request to the Run object it creates: pure validation and building.

Every trigger shape (seeds 000, 002, 003, 004, run_now, events) is first
normalised to a `Trigger`; `check` validates it against the Task version it
would run (the same rules the operator applies, so a request the API accepts
is one the operator accepts), and `build_run` makes the Run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from taskops import API_VERSION
from taskops.domain.delivery import webhooks
from taskops.domain.execution.jobs import task_owner
from taskops.domain.execution.versions import Version, resolve
from taskops.domain.resources import apinames, names, timefmt
from taskops.domain.resources.overrides import validate_overrides
from taskops.domain.resources.params import FieldError, coerce_strings, validate_inputs, validate_params
from taskops.domain.resources.task import Task


@dataclass
class Trigger:
    task: Task
    triggered_by: str = "api"
    params: dict[str, Any] | None = None
    params_location: str = "body.params"
    # Seed 002's route: param values sent as strings are converted to their declared types (params.coerce_strings).
    coerce_strings: bool = False
    overrides: dict[str, Any] | None = None
    version: str | None = None
    reference: str | None = None
    metadata: dict[str, Any] | None = None
    callback_url: str | None = None
    callback_location: str = "body.callback_url"
    priority: int | None = None
    agent: str | None = None
    scheduled_at: dt.datetime | None = None
    execution_mode: str | None = None
    # A batch (seed 004 `inputs`): each element is one input's params.
    inputs: list[Any] | None = None
    user: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Checked:
    version: Version | None
    params: dict[str, Any]
    errors: list[FieldError]
    inputs: list[Any] | None = None


def check(trigger: Trigger, versions: list[Version], now: dt.datetime) -> Checked:
    """Every problem with the trigger at once: task state, version, params, overrides, scheduled_at."""
    errors: list[FieldError] = []
    task = trigger.task
    if task.spec.state == "canceled":
        errors.append(FieldError("path.task", "the task is canceled: it runs no more", task.metadata.name))
    found = resolve(trigger.version, task, versions)
    if isinstance(found, str):
        errors.append(FieldError("body.version", found, trigger.version))
        found = None
    # None: the newest version is not written yet (the Task just changed); its spec is the Task's spec.
    spec = found.spec if found is not None else task.spec
    if trigger.coerce_strings:
        # The Run stores the converted values: the operator validates them as it does every Run's.
        trigger.params, coerce_errors = coerce_strings(spec.params or [], trigger.params, trigger.params_location)
        errors += coerce_errors
    batch = trigger.inputs is not None
    params, param_errors = validate_params(spec.params or [], trigger.params, trigger.params_location, batch)
    errors += param_errors
    inputs = None
    if trigger.inputs is not None:
        inputs, input_errors = validate_inputs(spec.params or [], trigger.inputs)
        errors += input_errors
    if trigger.overrides:
        _, override_errors = validate_overrides(spec.overrides, trigger.overrides, "body")
        errors += override_errors
    # The URL's shape here; its host is the operator's to check, at connect time, against the DNS answer it uses.
    url_problem = webhooks.url_error(trigger.callback_url) if trigger.callback_url is not None else None
    if url_problem:
        errors.append(FieldError(trigger.callback_location, url_problem, trigger.callback_url))
    if trigger.scheduled_at is not None and trigger.scheduled_at.tzinfo is None:
        errors.append(FieldError("body.scheduled_at", "needs a time zone offset", trigger.scheduled_at.isoformat()))
    return Checked(found, params, errors, inputs)


def listens(task: dict[str, Any], event: str) -> bool:
    """An active event Task whose schedule names `event` (an empty expression names the Task itself)."""
    spec = task.get("spec") or {}
    name = (spec.get("scheduleExpr") or "").strip() or task["metadata"]["name"]
    return spec.get("scheduleKind") == "event" and name == event and (spec.get("state") or "active") == "active"


def request_hash(kind: str, target: str, body: Any) -> str:
    """What an Idempotency-Key replay must match: the route, its target and the body."""
    text = json.dumps([kind, target, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def build_run(trigger: Trigger, now: dt.datetime, name: str | None = None) -> dict[str, Any]:
    """The Run; without a name the API server generates one from the task's name."""
    task = trigger.task
    trigger.annotations.setdefault(apinames.ANNOTATION_CREATED_AT, timefmt.stamp(now))
    meta: dict[str, Any] = {
        "namespace": task.metadata.namespace,
        "labels": {names.LABEL_TASK: task.metadata.name, **trigger.labels},
        "ownerReferences": [task_owner(task)],
    }
    meta["annotations"] = dict(trigger.annotations)
    if name:
        meta["name"] = name
    else:
        meta["generateName"] = apinames.run_name_prefix(task.metadata.name)
    spec: dict[str, Any] = {"taskRef": {"name": task.metadata.name}, "triggeredBy": trigger.triggered_by}
    optional = {
        "params": trigger.params,
        "overrides": trigger.overrides or None,
        "version": trigger.version,
        "reference": trigger.reference,
        "metadata": trigger.metadata,
        "callbackUrl": trigger.callback_url,
        "priority": trigger.priority,
        "agent": trigger.agent,
        "scheduledAt": timefmt.stamp(trigger.scheduled_at) if trigger.scheduled_at else None,
        "executionMode": trigger.execution_mode,
        "user": trigger.user,
    }
    spec.update({k: v for k, v in optional.items() if v is not None})
    return {"apiVersion": API_VERSION, "kind": "Run", "metadata": meta, "spec": spec}


def resume_of(run: dict[str, Any], task: Task, user: str | None, now: dt.datetime) -> dict[str, Any]:
    """A Run that reruns `run` with the same pinned version, params and overrides."""
    spec, status = run.get("spec") or {}, run.get("status") or {}
    pinned = (status.get("version") or {}).get("id") or spec.get("version")
    trigger = Trigger(
        task=task,
        triggered_by="resume",
        params=spec.get("params"),
        overrides=spec.get("overrides"),
        version=pinned,
        reference=spec.get("reference"),
        metadata=spec.get("metadata"),
        callback_url=spec.get("callbackUrl"),
        priority=spec.get("priority"),
        agent=spec.get("agent"),
        execution_mode=spec.get("executionMode"),
        user=user,
        annotations={ANNOTATION_RESUME_OF: run["metadata"]["name"]},
    )
    return build_run(trigger, now, apinames.resume_run_name(run["metadata"]["name"]))


ANNOTATION_RESUME_OF = "taskops.dev/resume-of"
