"""kopf handlers: thin adapters from watch events to the store and the work queues.

The event handlers are coroutines on purpose: kopf runs plain functions in a
thread pool, and the store and queues belong to the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kopf

from taskops import GROUP, VERSION
from taskops.clients.credentials import Credentials
from taskops.domain import names
from taskops.domain.batch import resume_wanted
from taskops.domain.phases import is_terminal
from taskops.operator.store import Kind, Store, key_of, run_owner, without_data
from taskops.operator.workqueue import WorkQueue


class _NoDiffBase(kopf.DiffBaseStorage):
    """taskops uses only event handlers, which need no diff base; kopf would deep-copy every object for one."""

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()


def _phase(obj: dict[str, Any]) -> str | None:
    return (obj.get("status") or {}).get("phase")


def _register_framework(registry: kopf.OperatorRegistry, creds: Credentials) -> None:
    """Login with our credentials; kopf settings that keep API writes and CPU down."""

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        token = creds.bearer()
        return kopf.ConnectionInfo(
            server=creds.server,
            ca_path=creds.ca_path,
            insecure=creds.insecure,
            certificate_path=creds.cert_path,
            private_key_path=creds.key_path,
            scheme="Bearer" if token else None,
            token=token,
            default_namespace=creds.default_namespace,
        )

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # taskops posts its own Events; kopf would turn every log line into one (an API write each).
        settings.posting.enabled = False
        settings.persistence.diffbase_storage = _NoDiffBase()
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.networking.request_timeout = 30


def build_registry(
    store: Store,
    queue: WorkQueue,
    task_queue: WorkQueue,
    sync_queue: WorkQueue,
    creds: Credentials,
    queue_changed: Callable[[], None] = lambda: None,
    webhook_queue: WorkQueue | None = None,
) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    _register_framework(registry, creds)

    def apply(event: kopf.RawEvent, kind_store: Kind) -> dict[str, Any] | None:
        obj: dict[str, Any] = dict(event["object"])
        if event.get("type") == "DELETED":
            kind_store.remove(obj)
            return None
        kind_store.put(obj)
        return obj

    @kopf.on.event(GROUP, VERSION, "tasks", registry=registry)
    async def on_task(event: kopf.RawEvent, **_: Any) -> None:
        obj = dict(event["object"])
        if apply(event, store.tasks) is not None:
            task_queue.add(key_of(obj))
        queue_changed()
        namespace, name = key_of(obj)
        for run in store.runs_of_task(namespace, name):
            if not is_terminal(_phase(run)):
                queue.add(key_of(run))

    @kopf.on.event(GROUP, VERSION, "runs", registry=registry)
    async def on_run(event: kopf.RawEvent, **_: Any) -> None:
        obj = apply(event, store.runs)
        status: dict[str, Any] = dict(event["object"]).get("status") or {}  # type: ignore[assignment]
        if status.get("concurrencyKey") or status.get("agent"):
            queue_changed()
        if obj is None:
            return
        if not is_terminal(_phase(obj)) or resume_wanted(obj):
            queue.add(key_of(obj))
        if is_terminal(_phase(obj)):
            # An ended Run may push its Task over a history limit.
            task = ((obj.get("spec") or {}).get("taskRef") or {}).get("name")
            if task:
                sync_queue.add((key_of(obj)[0], task))
            if webhook_queue is not None and (obj.get("spec") or {}).get("callbackUrl"):
                webhook_queue.add(key_of(obj))

    @kopf.on.event(GROUP, VERSION, "agents", registry=registry)
    async def on_agent(event: kopf.RawEvent, **_: Any) -> None:
        apply(event, store.agents)
        queue_changed()

    @kopf.on.event("apps", "v1", "controllerrevisions", labels={names.LABEL_TASK: kopf.PRESENT}, registry=registry)
    async def on_revision(event: kopf.RawEvent, **_: Any) -> None:
        obj: dict[str, Any] = dict(event["object"])
        apply(event, store.revisions)
        namespace = key_of(obj)[0]
        for run in store.runs_of_task(namespace, obj["metadata"]["labels"][names.LABEL_TASK]):
            if not is_terminal(_phase(run)):
                queue.add(key_of(run))

    @kopf.on.event("batch", "v1", "jobs", labels={names.LABEL_RUN: kopf.PRESENT}, registry=registry)
    async def on_job(event: kopf.RawEvent, **_: Any) -> None:
        obj: dict[str, Any] = dict(event["object"])
        apply(event, store.jobs)
        queue.add((key_of(obj)[0], obj["metadata"]["labels"][names.LABEL_RUN]))

    @kopf.on.event("", "v1", "pods", labels={names.LABEL_RUN: kopf.PRESENT}, registry=registry)
    async def on_pod(event: kopf.RawEvent, **_: Any) -> None:
        obj: dict[str, Any] = dict(event["object"])
        apply(event, store.pods)
        queue.add((key_of(obj)[0], obj["metadata"]["labels"][names.LABEL_RUN]))

    _register_batch(registry, store, queue)
    return registry


def _register_batch(registry: kopf.OperatorRegistry, store: Store, queue: WorkQueue) -> None:
    """ConfigMaps owned by a Run (batch input chunks, index maps): a new one may let its Run start."""

    @kopf.on.event("", "v1", "configmaps", registry=registry)
    async def on_configmap(event: kopf.RawEvent, **_: Any) -> None:
        obj: dict[str, Any] = dict(event["object"])
        owner = run_owner(obj)
        if owner is None:
            return
        if event.get("type") == "DELETED":
            store.configmaps.remove(obj)
        else:
            store.configmaps.put(without_data(obj))
        queue.add((key_of(obj)[0], owner))
