"""kopf handlers: a thin adapter from watch events of Agents to the store and admission, plus the login and
settings kopf runs with (Tasks, versions, Runs, Jobs, pods and ConfigMaps are followed by lean informers:
watches.py).

The event handlers are coroutines on purpose: kopf runs plain functions in a
thread pool, and the store and queues belong to the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kopf

from taskops import GROUP, VERSION
from taskops.clients.credentials import Credentials
from taskops.operator.store import Kind, Store, without_managed_fields


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
    creds: Credentials,
    queue_changed: Callable[[], None] = lambda: None,
    owns: Callable[[str], bool] = lambda namespace: True,
) -> kopf.OperatorRegistry:
    """`owns`: whether this process acts on a namespace (a shard's own, domain/leadership/shards.py)."""
    registry = kopf.OperatorRegistry()
    _register_framework(registry, creds)

    def mine(event: kopf.RawEvent) -> bool:
        # kopf watches every namespace; another shard's objects never reach the store (so no controller sees them).
        return owns(event["object"].get("metadata", {}).get("namespace") or "")

    def apply(event: kopf.RawEvent, kind_store: Kind[Any]) -> dict[str, Any] | None:
        # A copy: kopf still holds the event's object.
        obj = without_managed_fields(dict(event["object"]))
        return obj if kind_store.apply(str(event.get("type")), obj) else None

    @kopf.on.event(GROUP, VERSION, "agents", registry=registry)
    async def on_agent(event: kopf.RawEvent, **_: Any) -> None:
        if not mine(event):
            return
        apply(event, store.agents)
        queue_changed()

    return registry
