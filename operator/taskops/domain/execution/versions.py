"""Immutable Task versions, stored the Kubernetes way as apps/v1 ControllerRevisions.

Every change of what a Run executes (the template, params, result schema, retry and
timeout rules — everything but the lifecycle fields `state` and `snooze`) makes
version N+1, a ControllerRevision named `<task>-v<N>` owned by the Task, with
the versioned spec in `data.spec` and N in `revision` (what StatefulSets and
DaemonSets use for their history). A Run pins `version: "3"`, a revision name,
or `"current"` (the default: the newest version when the Run is validated).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from taskops.domain.execution.jobs import task_owner
from taskops.domain.resources import names
from taskops.domain.resources.task import Task, TaskSpec

LABEL_VERSION = "taskops.dev/version"
ANNOTATION_HASH = "taskops.dev/spec-hash"
# Changing these is operating the Task, not changing what it runs.
LIFECYCLE_FIELDS = ("state", "snooze")


@dataclass(frozen=True)
class Version:
    number: int
    id: str
    hash: str
    spec: TaskSpec


def versioned_content(spec: TaskSpec) -> dict[str, Any]:
    content = spec.to_k8s()
    for name in LIFECYCLE_FIELDS:
        content.pop(name, None)
    return content


def content_hash(content: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def revision_name(task_name: str, number: int) -> str:
    suffix = f"-v{number}"
    return f"{task_name[: 253 - len(suffix)]}{suffix}"


def from_revision(obj: Mapping[str, Any]) -> Version:
    """`data` as the API server sends it, or as the operator's cache keeps it (its JSON bytes)."""
    meta = obj["metadata"]
    data = obj.get("data") or {}
    if isinstance(data, bytes):
        data = json.loads(data)
    return Version(
        number=int(obj["revision"]),
        id=meta["name"],
        hash=(meta.get("annotations") or {}).get(ANNOTATION_HASH, ""),
        spec=TaskSpec.model_validate(data.get("spec") or {}),
    )


def next_revision(task: Task, versions: list[Version]) -> dict[str, Any] | None:
    """The ControllerRevision to create for the Task's current spec, or None if the newest matches it."""
    content = versioned_content(task.spec)
    digest = content_hash(content)
    newest = max(versions, key=lambda v: v.number, default=None)
    if newest is not None and newest.hash == digest:
        return None
    number = newest.number + 1 if newest else 1
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": revision_name(task.metadata.name, number),
            "namespace": task.metadata.namespace,
            "labels": {names.LABEL_TASK: task.metadata.name, LABEL_VERSION: str(number)},
            "annotations": {ANNOTATION_HASH: digest},
            "ownerReferences": [task_owner(task)],
        },
        "data": {"spec": content},
        "revision": number,
    }


def resolve(pin: str | None, task: Task, versions: list[Version]) -> Version | str | None:
    """The version a Run runs: a Version, an error message (no such version), or None (not written yet)."""
    pin = (pin or "current").strip()
    if pin == "current":
        digest = content_hash(versioned_content(task.spec))
        newest = max(versions, key=lambda v: v.number, default=None)
        return newest if newest is not None and newest.hash == digest else None
    found = next((v for v in versions if str(v.number) == pin or v.id == pin), None)
    if found is not None:
        return found
    latest = max((v.number for v in versions), default=0)
    known = f"versions 1 to {latest}" if latest else "it has no version yet"
    return f'version "{pin}" of task "{task.metadata.name}" does not exist ({known})'
