"""kopf handlers: thin adapters from watch events of Tasks, Agents and Task versions to the store and the
work queues (Runs, Jobs, pods and ConfigMaps are followed by lean informers: watches.py).

The event handlers are coroutines on purpose: kopf runs plain functions in a
thread pool, and the store and queues belong to the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kopf

from taskops import GROUP, VERSION
from taskops.clients.credentials import Credentials
from taskops.clients.informer import key_of
from taskops.domain.resources import names
from taskops.domain.resources.phases import is_terminal, raw_phase
from taskops.operator.store import Kind, Store, without_managed_fields
from taskops.operator.workqueue import WorkQueue


class _NoDiffBase(kopf.DiffBaseStorage):
    """taskops uses only event handlers, which need no diff base; kopf would deep-copy every object for one."""

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()


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
    creds: Credentials,
    queue_changed: Callable[[], None] = lambda: None,
    owns: Callable[[str], bool] = lambda namespace: True,
    own_write: Callable[[tuple[str, str], str | None], bool] = lambda key, resource_version: False,
) -> kopf.OperatorRegistry:
    """`owns`: whether this process acts on a namespace (a shard's own, domain/leadership/shards.py);
    `own_write`: whether a Task event is the echo of the Task controller's own status write (nothing to fire)."""
    registry = kopf.OperatorRegistry()
    _register_framework(registry, creds)

    def mine(event: kopf.RawEvent) -> bool:
        # kopf watches every namespace; another shard's objects never reach the store (so no controller sees them).
        return owns(event["object"].get("metadata", {}).get("namespace") or "")

    def apply(event: kopf.RawEvent, kind_store: Kind[Any]) -> dict[str, Any] | None:
        # A copy: kopf still holds the event's object.
        obj = without_managed_fields(dict(event["object"]))
        return obj if kind_store.apply(str(event.get("type")), obj) else None

    generations: dict[tuple[str, str], int | None] = {}

    @kopf.on.event(GROUP, VERSION, "tasks", registry=registry)
    async def on_task(event: kopf.RawEvent, **_: Any) -> None:
        if not mine(event):
            return
        obj: dict[str, Any] = dict(event["object"])
        key = key_of(obj)
        if apply(event, store.tasks) is not None:
            if not own_write(key, obj["metadata"].get("resourceVersion")):
                task_queue.add(key)
            generation = obj["metadata"].get("generation")
            # Admission and Runs read the spec: a status write (each fire makes one) changes neither.
            if generations.get(key, -1) == generation:
                return
            generations[key] = generation
        else:
            generations.pop(key, None)
        queue_changed()
        for run in store.runs_of_task(*key):
            if not is_terminal(raw_phase(run)):
                queue.add(key_of(run))

    @kopf.on.event(GROUP, VERSION, "agents", registry=registry)
    async def on_agent(event: kopf.RawEvent, **_: Any) -> None:
        if not mine(event):
            return
        apply(event, store.agents)
        queue_changed()

    @kopf.on.event("apps", "v1", "controllerrevisions", labels={names.LABEL_TASK: kopf.PRESENT}, registry=registry)
    async def on_revision(event: kopf.RawEvent, **_: Any) -> None:
        if not mine(event):
            return
        obj: dict[str, Any] = dict(event["object"])
        apply(event, store.revisions)
        namespace = key_of(obj)[0]
        for run in store.runs_of_task(namespace, obj["metadata"]["labels"][names.LABEL_TASK]):
            if not is_terminal(raw_phase(run)):
                queue.add(key_of(run))

    return registry
