"""Typed views of raw objects as the API server sends them: the bodies the caches hold and the hot paths read.

The pydantic models (agent.py, run.py, task.py) validate and cost a parse; the informers, the
admission pass and the webhook worker read thousands of raw objects per second
and must not pay it. These TypedDicts (kopf's way: kopf/_cogs/structs/bodies.py)
cost nothing at run time and let mypy check each key the hot paths read: a
misspelt field is a type error, not a silent None. They describe only what the
operator reads (total=False: every field may be absent, as in a merge-patched
or summarized object); the CRD schemas stay generated from the models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Required, TypedDict


class RawOwnerReference(TypedDict, total=False):
    apiVersion: str
    kind: str
    name: str
    uid: str
    controller: bool
    blockOwnerDeletion: bool


class RawMeta(TypedDict, total=False):
    name: Required[str]
    namespace: str
    uid: str
    resourceVersion: str
    generation: int
    creationTimestamp: str
    deletionTimestamp: str
    labels: dict[str, str]
    annotations: dict[str, str]
    ownerReferences: list[RawOwnerReference]
    managedFields: list[dict[str, Any]]


class RawBody(TypedDict, total=False):
    """Any object: what the store's generic code (keys, indexes, resourceVersions) reads."""

    apiVersion: str
    kind: str
    metadata: Required[RawMeta]


class RawRevision(RawBody, total=False):
    """A Task version: a ControllerRevision."""

    revision: int
    # bytes: as the operator's cache keeps it (store.packed_revision).
    data: dict[str, Any] | bytes


class RawTaskRef(TypedDict, total=False):
    name: str


class RawRunSpec(TypedDict, total=False):
    taskRef: RawTaskRef
    dedupeKey: str
    callbackUrl: str
    stop: bool
    agent: str
    priority: int
    scheduledTime: str
    scheduledAt: str
    version: str
    inputs: dict[str, Any]
    resume: dict[str, Any]
    params: dict[str, Any]


class RawWebhookState(TypedDict, total=False):
    state: str
    url: str
    deliveryId: str
    attempts: int
    statusCode: int
    lastError: str
    nextAttemptAt: str
    deliveredAt: str


class RawRunStatus(TypedDict, total=False):
    phase: str
    endReason: str
    message: str
    startTime: str
    endTime: str
    jobName: str
    attempt: int
    version: int
    concurrencyKey: str
    agent: str
    priority: int
    admittedAt: str
    webhook: RawWebhookState
    batch: dict[str, Any]


class RawRun(RawBody, total=False):
    spec: RawRunSpec
    status: RawRunStatus


class RawTaskSpec(TypedDict, total=False):
    concurrencyKey: str
    concurrencyLimit: int
    maxQueued: int
    dedupeKey: str
    webhookSecret: str
    state: str


class RawTask(RawBody, total=False):
    spec: RawTaskSpec
    status: dict[str, Any]


class RawAgentSpec(TypedDict, total=False):
    capacity: int
    maxQueued: int


class RawAgent(RawBody, total=False):
    spec: RawAgentSpec


class RawCondition(TypedDict, total=False):
    type: str
    status: str
    reason: str
    message: str


class RawJobStatus(TypedDict, total=False):
    active: int
    succeeded: int
    failed: int
    ready: int
    conditions: list[RawCondition]
    startTime: str
    completionTime: str


class RawJob(RawBody, total=False):
    spec: dict[str, Any]
    status: RawJobStatus


class RawPodStatus(TypedDict, total=False):
    phase: str
    reason: str
    message: str
    containerStatuses: list[dict[str, Any]]


class RawPod(RawBody, total=False):
    spec: dict[str, Any]
    status: RawPodStatus


class RawConfigMap(RawBody, total=False):
    data: dict[str, str]
    binaryData: dict[str, str] | None


# -- reads of raw bodies that more than one group needs ----------------------------------------------------------


def resumes_done(run: Mapping[str, Any]) -> int:
    """How many resumes a raw batch Run has had (status.batch.resumes; spec.resume above it asks for one more)."""
    return int(((run.get("status") or {}).get("batch") or {}).get("resumes") or 0)
