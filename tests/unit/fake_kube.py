"""An in-memory Kubernetes API for driving controllers in unit tests (the verbs `RunClient` names).

It keeps objects by (resource, namespace, name), bumps resourceVersion on every
write, answers a stale resourceVersion with 409 Conflict as the API server does,
and records every write in order in `writes`, so a test can assert the order a
controller writes in. `refuse` makes a verb on a resource fail with an API error
(a quota, a rejected template); `crash_before` raises `Crash` once, before the write, the way a
SIGKILL stops a process between two writes.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from taskops.clients import errors
from taskops.clients.resources import Resource

Obj = dict[str, Any]


class Crash(BaseException):
    """The process died here (a BaseException: no `except Exception` in a controller can swallow it)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class FakeKube:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Obj] = {}
        # Every write in order: (verb, what, name), e.g. ("patch", "runs/status", "r"), ("event", "Started", "r").
        self.writes: list[tuple[str, str, str]] = []
        # (verb, what) → the error it fails with, every time; the attempts are recorded in `refused`.
        self.refuse: dict[tuple[str, str], errors.ApiError] = {}
        self.refused: list[tuple[str, str, str]] = []
        # (verb, what): the next such write raises Crash instead (once).
        self.crash_before: tuple[str, str] | None = None
        self._version = 100

    # -- test set-up and inspection ----------------------------------------------

    def put(self, res: Resource, obj: Obj) -> Obj:
        """Store `obj` as if created by someone else (no write recorded)."""
        stored = self._stamp(copy.deepcopy(obj), res)
        self.objects[(res.plural, stored["metadata"].get("namespace") or "", stored["metadata"]["name"])] = stored
        return copy.deepcopy(stored)

    def stored(self, res: Resource, namespace: str, name: str) -> Obj | None:
        found = self.objects.get((res.plural, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def all(self, res: Resource) -> list[Obj]:
        return [copy.deepcopy(o) for (plural, _, _), o in self.objects.items() if plural == res.plural]

    # -- the verbs ------------------------------------------------------------------

    async def get(self, res: Resource, namespace: str | None, name: str) -> Obj:
        found = self.stored(res, namespace or "", name)
        if found is None:
            raise errors.NotFound(404, {"reason": "NotFound", "message": f'{res.plural} "{name}" not found'})
        return found

    async def list(self, res: Resource, namespace: str | None = None, label_selector: str | None = None) -> list[Obj]:
        key, _, value = (label_selector or "").partition("=")
        return [
            o
            for o in self.all(res)
            if (namespace is None or o["metadata"].get("namespace") == namespace)
            and (not key or (o["metadata"].get("labels") or {}).get(key) == value)
        ]

    async def create(self, res: Resource, namespace: str | None, body: Obj) -> Obj:
        name = body["metadata"]["name"]
        self._write("create", res.plural, name)
        if (res.plural, namespace or "", name) in self.objects:
            raise errors.AlreadyExists(409, {"reason": "AlreadyExists", "message": f'{res.plural} "{name}" exists'})
        obj = copy.deepcopy(body)
        obj["metadata"]["namespace"] = namespace
        return self.put(res, obj)

    async def create_or_get(self, res: Resource, namespace: str, body: Obj) -> tuple[Obj, bool]:
        try:
            return await self.create(res, namespace, body), True
        except errors.AlreadyExists:
            return await self.get(res, namespace, body["metadata"]["name"]), False

    async def patch(
        self, res: Resource, namespace: str | None, name: str, patch: Obj, subresource: str | None = None
    ) -> Obj:
        self._write("patch", f"{res.plural}/{subresource}" if subresource else res.plural, name)
        current = await self.get(res, namespace, name)
        expected = (patch.get("metadata") or {}).get("resourceVersion")
        if expected is not None and expected != current["metadata"]["resourceVersion"]:
            raise errors.Conflict(409, {"reason": "Conflict", "message": "the object has been modified"})
        if subresource == "status":
            patch = {"status": patch.get("status")}
        return self.put(res, merge_patch(current, patch))

    async def delete(self, res: Resource, namespace: str | None, name: str, propagation: str = "Background") -> Obj:
        self._write("delete", res.plural, name)
        found = self.objects.pop((res.plural, namespace or "", name), None)
        if found is None:
            raise errors.NotFound(404, {"reason": "NotFound", "message": f'{res.plural} "{name}" not found'})
        return {"kind": "Status", "status": "Success"}

    async def post_event(
        self, involved: Obj, type_: str, reason: str, message: str, component: str, now: dt.datetime
    ) -> Obj:
        self._write("event", reason, involved["metadata"]["name"])
        return {"reason": reason, "message": message, "type": type_}

    # -- internals ----------------------------------------------------------------------

    def _write(self, verb: str, what: str, name: str) -> None:
        if self.crash_before == (verb, what):
            self.crash_before = None
            raise Crash(f"killed before {verb} {what} {name}")
        refused = self.refuse.get((verb, what))
        if refused is not None:
            self.refused.append((verb, what, name))
            raise refused
        self.writes.append((verb, what, name))

    def _stamp(self, obj: Obj, res: Resource) -> Obj:
        self._version += 1
        obj.setdefault("apiVersion", res.api_version)
        obj["metadata"]["resourceVersion"] = str(self._version)
        obj["metadata"].setdefault("uid", f"uid-{obj['metadata']['name']}")
        obj["metadata"].setdefault("generation", 1)
        obj["metadata"].setdefault("creationTimestamp", "2026-03-01T11:59:00Z")
        return obj
