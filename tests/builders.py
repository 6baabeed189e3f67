"""Builders of the objects tests hand to the operator, its API and its pure logic: one place per kind.

Each builder returns a raw dict shaped as the API server serves (or is sent) the object: apiVersion, kind,
metadata, spec and, where the object has one, status. Defaults make the smallest valid object; keyword arguments
override. `metadata=` is merged into the default metadata (namespace, uid, resourceVersion, ownerReferences: what a
served object carries and a created one does not), `status=` replaces the status.

Times are RFC 3339 strings as the API server writes them, to the second (see `stamp`); `T0` is the instant the
pure-logic tests call "now".
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from taskops.domain.execution.versions import LABEL_VERSION, revision_name
from taskops.domain.resources.names import LABEL_TASK

API = "taskops.dev/v1alpha1"
T0 = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
# What the Job controller puts on the pods of an Indexed Job (annotation and label of the same name).
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


def stamp(t: dt.datetime) -> str:
    """A time as the API server writes it."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def owner(kind: str, name: str, uid: str, api_version: str = API) -> dict[str, Any]:
    """An owner reference (the operator's are never `controller: true`: the Run's Job is the Job controller's)."""
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid}


def _object(
    api_version: str,
    kind: str,
    name: str,
    metadata: dict[str, Any] | None,
    spec: dict[str, Any],
    status: dict[str, Any] | None,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, **(metadata or {})},
        "spec": spec,
    }
    if status is not None:
        obj["status"] = status
    return obj


def pod_behaviour(
    duration: str | None = None,
    exit_code: int | None = None,
    reason: str | None = None,
    message: str | None = None,
    hang: bool = False,
) -> dict[str, str]:
    """kwok annotations that decide what the fake pod does (see devcluster/stages.yaml)."""
    ann: dict[str, str] = {}
    if duration:
        ann["kwok.taskops.dev/duration"] = duration
    if exit_code is not None:
        ann["kwok.taskops.dev/exit-code"] = str(exit_code)
    if reason:
        ann["kwok.taskops.dev/reason"] = reason
    if message is not None:
        ann["kwok.taskops.dev/message"] = message
    if hang:
        ann["kwok.taskops.dev/hang"] = "true"
    return ann


def task(
    name: str = "t",
    image: str = "busybox:1.36",
    command: list[str] | None = None,
    pod_annotations: dict[str, str] | None = None,
    *,
    metadata: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A Task whose pods run one container `main`; `spec` fields (camelCase) are added or override."""
    container: dict[str, Any] = {"name": "main", "image": image}
    if command:
        container["command"] = command
    body = {
        "title": f"test task {name}",
        "payload": {
            "spec": {
                "template": {
                    "metadata": {"annotations": pod_annotations or {}},
                    "spec": {"containers": [container]},
                }
            }
        },
        **spec,
    }
    return _object(API, "Task", name, metadata, body, status)


def run(
    name: str = "r",
    task_name: str = "t",
    *,
    metadata: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A Run of `task_name`; `spec` fields (camelCase) are added."""
    return _object(API, "Run", name, metadata, {"taskRef": {"name": task_name}, **spec}, status)


def agent(
    name: str = "agent-1",
    capacity: int = 1,
    *,
    metadata: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """An Agent with `capacity`; `spec` fields (camelCase, e.g. jobDefaults=..., maxQueued=...) are added."""
    return _object(API, "Agent", name, metadata, {"capacity": capacity, **spec}, status)


def _job_condition(condition: str, reason: str, message: str, at: dt.datetime) -> dict[str, Any]:
    return {
        "type": condition,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastTransitionTime": stamp(at),
    }


def job(
    name: str = "r-1",
    condition: str | None = None,
    reason: str | None = None,
    at: dt.datetime = T0,
    message: str | None = None,
    *,
    namespace: str = "ns",
    metadata: dict[str, Any] | None = None,
    spec: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Job as served; `condition` ("Complete", "Failed", ...) ended it at `at`. `status=` is merged in."""
    conds = [_job_condition(condition, reason or "", message or "", at)] if condition else []
    meta = {"namespace": namespace, "uid": f"{name}-uid", "resourceVersion": "1", **(metadata or {})}
    return _object(
        "batch/v1", "Job", name, meta, {"backoffLimit": 0, **(spec or {})}, {"conditions": conds, **(status or {})}
    )


def indexed_job(
    name: str = "r-1",
    completed: str = "",
    failed: str = "",
    active: int = 0,
    ended: str | None = None,
    at: dt.datetime = T0,
    *,
    completions: int = 25,
    namespace: str = "ns",
) -> dict[str, Any]:
    """An Indexed Job as served, with its index ranges; `ended` ("Complete"/"Failed") ended it at `at`."""
    reason = "FailedIndexes" if ended == "Failed" else "Completed"
    return job(
        name,
        ended,
        reason if ended else None,
        at,
        namespace=namespace,
        spec={"completionMode": "Indexed", "completions": completions},
        status={"completedIndexes": completed, "failedIndexes": failed, "active": active},
    )


def pod(
    exit_code: int | None = None,
    reason: str | None = None,
    message: str | None = None,
    created: dt.datetime = T0,
    containers: int = 1,
    *,
    name: str | None = None,
    namespace: str = "ns",
    job_name: str = "r-1",
    index: int | None = None,
    phase: str | None = None,
    finished: dt.datetime | None = None,
    waiting: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A pod of Job `job_name` as served.

    Its containers run; with `exit_code` they terminated (the first with that code, the others with 0), with
    `waiting` (a reason such as "ErrImagePull") they wait. `index` makes it the pod of that completion index of an
    Indexed Job. The phase follows from the states unless given.
    """
    statuses = []
    for i in range(containers):
        state: dict[str, Any] = {"running": {"startedAt": stamp(created)}}
        if waiting is not None:
            state = {"waiting": {"reason": waiting, "message": message or ""}}
        elif exit_code is not None:
            code = exit_code if i == 0 else 0
            term: dict[str, Any] = {"exitCode": code, "reason": reason or ("Completed" if code == 0 else "Error")}
            if message is not None:
                term["message"] = message
            term["startedAt"] = stamp(created)
            term["finishedAt"] = stamp(finished or created)
            state = {"terminated": term}
        statuses.append({"name": "main" if i == 0 else f"c{i}", "state": state})
    if phase is None and waiting is None and exit_code is not None:
        phase = "Succeeded" if exit_code == 0 else "Failed"
    labels = {JOB_NAME_LABEL: job_name}
    annotations: dict[str, str] = {}
    if index is not None:
        labels[COMPLETION_INDEX] = annotations[COMPLETION_INDEX] = str(index)
    if name is None:
        name = f"{job_name}-{index}" if index is not None else "p"
    meta = {
        "namespace": namespace,
        "uid": f"{name}-uid",
        "creationTimestamp": stamp(created),
        "labels": labels,
        "annotations": annotations,
        **(metadata or {}),
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, **meta},
        "spec": {"restartPolicy": "Never", "containers": [{"name": s["name"]} for s in statuses]},
        "status": {"phase": phase or ("Pending" if waiting else "Running"), "containerStatuses": statuses},
    }


def revision(
    task_name: str = "t",
    number: int = 1,
    spec: dict[str, Any] | None = None,
    *,
    namespace: str = "ns",
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Version `number` of Task `task_name`: the ControllerRevision the Task controller writes, its spec in `data`."""
    meta = {
        "namespace": namespace,
        "labels": {LABEL_TASK: task_name, LABEL_VERSION: str(number)},
        **(metadata or {}),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {"name": revision_name(task_name, number), **meta},
        "data": {"spec": spec or {}},
        "revision": number,
    }


def config_map(
    name: str = "cm",
    data: dict[str, str] | None = None,
    *,
    namespace: str = "ns",
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ConfigMap (a batch Run's input chunk, index map or result chunk: `metadata` says whose)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, **(metadata or {})},
        "data": data or {},
    }
