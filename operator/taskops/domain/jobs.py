"""Build the Kubernetes Job of one attempt of a Run (a pure function; the operator sends it)."""

from __future__ import annotations

import copy
from typing import Any

from taskops import API_VERSION
from taskops.domain import names
from taskops.domain.models import Run, Task


def owner_reference(api_version: str, kind: str, name: str, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _env(run: Run, attempt: int) -> list[dict[str, str]]:
    return [
        {"name": "TASKOPS_TASK", "value": run.spec.task_ref.name},
        {"name": "TASKOPS_RUN", "value": run.name},
        {"name": "TASKOPS_ATTEMPT", "value": str(attempt)},
    ]


def build_job(task: Task, run: Run, attempt: int) -> dict[str, Any]:
    """The Job for `attempt` of `run`: the Task's template, owned by the Run, retries left to taskops."""
    template = task.spec.payload
    spec: dict[str, Any] = copy.deepcopy(template.spec)
    meta: dict[str, Any] = copy.deepcopy(template.metadata or {})
    labels = {
        **(meta.get("labels") or {}),
        names.LABEL_TASK: task.metadata.name,
        names.LABEL_RUN: run.name,
        names.LABEL_ATTEMPT: str(attempt),
        names.LABEL_MANAGED_BY: names.MANAGED_BY,
    }
    # taskops decides about retries itself, with its own backoff: the Job must never retry a pod.
    spec["backoffLimit"] = 0
    pod_template = spec.setdefault("template", {})
    pod_meta = pod_template.setdefault("metadata", {})
    pod_meta["labels"] = {
        **(pod_meta.get("labels") or {}),
        **{k: labels[k] for k in (names.LABEL_TASK, names.LABEL_RUN, names.LABEL_ATTEMPT)},
    }
    pod_spec = pod_template.setdefault("spec", {})
    pod_spec.setdefault("restartPolicy", "Never")
    for container in pod_spec.get("containers") or []:
        container["env"] = [*(container.get("env") or []), *_env(run, attempt)]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": names.job_name(run.name, attempt),
            "namespace": run.namespace,
            "labels": labels,
            "annotations": meta.get("annotations") or {},
            "ownerReferences": [owner_reference(API_VERSION, "Run", run.name, run.metadata.uid or "")],
        },
        "spec": spec,
    }
