"""An informer: one LIST then one WATCH of a resource, kept as an in-memory cache.

The API serves reads and `wait=true` from it, so a thousand waiting callers cost
one watch on the API server, not a thousand polls; the operator follows its
high-volume kinds (Runs, Jobs, pods) with it, at a fraction of kopf's cost per event. A watch that expires (410
Gone) is followed by a fresh LIST; a broken connection resumes from the last
resourceVersion seen (bookmarks keep it recent).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from taskops.clients.errors import ApiError
from taskops.clients.kube import KubeClient
from taskops.clients.resources import Resource

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name)
Listener = Callable[[str, dict[str, Any]], None]
Transform = Callable[[dict[str, Any]], dict[str, Any]]
# Which namespaces' objects an informer keeps (a sharded operator's own): the others are dropped on arrival.
NamespaceFilter = Callable[[str], bool]
RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)


def key_of(obj: Mapping[str, Any]) -> Key:
    meta = obj["metadata"]
    return meta.get("namespace") or "", meta["name"]


def _rv(obj: dict[str, Any]) -> int:
    try:
        return int(obj["metadata"].get("resourceVersion") or 0)
    except ValueError:
        return 0


class _Expired(Exception):
    pass


class Informer:
    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        namespace: str | None = None,
        transform: Transform | None = None,
        label_selector: str | None = None,
        accept: NamespaceFilter | None = None,
    ) -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.items: dict[Key, dict[str, Any]] = {}
        self.synced = asyncio.Event()
        self._listeners: list[Listener] = []
        self._transform = transform or (lambda obj: obj)
        self._accept = accept
        # Objects this process deleted before the watch said so: key -> the newest resourceVersion it had.
        # Events no newer than that are from before the delete and must not bring the object back.
        self._deleted: dict[Key, int] = {}

    def listen(self, listener: Listener) -> None:
        """Call `listener(type, object)` on every change: ADDED, MODIFIED or DELETED."""
        self._listeners.append(listener)

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.items.get((namespace, name))

    def upsert(self, obj: dict[str, Any]) -> None:
        """Put an object this process just wrote, unless the watch already brought a newer one."""
        self._apply("MODIFIED", obj)

    def _accepts(self, obj: dict[str, Any]) -> bool:
        return self._accept is None or self._accept(obj["metadata"].get("namespace") or "")

    def forget(self, *versions: dict[str, Any]) -> None:
        """Drop an object this process just deleted (read your own deletes); pass every copy known."""
        key = key_of(versions[0])
        if key not in self.items:
            return  # the watch already delivered the delete; nothing older can follow it
        self._deleted.pop(key, None)
        self._apply("DELETED", self.items[key], transformed=True)
        self._deleted[key] = max(_rv(v) for v in versions)  # cleared by the watch's DELETED or the next LIST

    def _apply(self, type_: str, raw: dict[str, Any], transformed: bool = False) -> None:
        if not self._accepts(raw):
            return
        obj = raw if transformed else self._transform(raw)
        key = key_of(obj)
        old = self.items.get(key)
        gone = self._deleted.get(key)
        if gone is not None:
            if type_ != "DELETED" and _rv(obj) <= gone:
                return  # from before our own delete
            del self._deleted[key]  # the watch caught up: the delete, or a newer object of that name
        if type_ == "DELETED":
            if self.items.pop(key, None) is None:
                return
        elif old is not None and _rv(old) >= _rv(obj) > 0:
            return
        else:
            self.items[key] = obj
        for listener in self._listeners:
            listener(type_, obj)

    async def run(self) -> None:
        """LIST and WATCH until cancelled, retrying the API server's failures."""
        failures = 0
        while True:
            try:
                version = await self._relist()
                failures = 0
                while True:
                    version = await self._watch(version)
            except _Expired:
                continue
            except (ApiError, aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.warning("%s informer: %s; retrying in %.1fs", self.resource.plural, exc, delay)
                await asyncio.sleep(delay)

    async def _relist(self) -> str:
        items, version = await self.client.list_all(
            self.resource,
            self.namespace,
            label_selector=self.label_selector,
            transform=self._transform,
            keep=self._accepts if self._accept is not None else None,
        )
        fresh = {key_of(obj): obj for obj in items}
        self._deleted.clear()  # a LIST is newer than every delete made before it
        for key in [k for k in self.items if k not in fresh]:
            self._apply("DELETED", self.items[key], transformed=True)
        for obj in fresh.values():
            self._apply("ADDED", obj, transformed=True)
        self.synced.set()
        return version

    async def _watch(self, version: str) -> str:
        async for type_, obj in self.client.watch(
            self.resource, self.namespace, resource_version=version, label_selector=self.label_selector
        ):
            if type_ == "ERROR":
                if obj.get("code") == 410:
                    raise _Expired
                raise ApiError(int(obj.get("code") or 500), obj)
            version = obj["metadata"].get("resourceVersion") or version
            if type_ != "BOOKMARK":
                self._apply(type_, obj)
        return version
