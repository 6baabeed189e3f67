"""A fake clock and an in-memory fake Kubernetes client, for driving controllers in unit tests.

The fake client is minimal but real where controllers depend on it: objects by
(resource, namespace, name), a resourceVersion bumped on every write, a merge
patch refused with 409 Conflict when it names a stale resourceVersion, 404 and
409 AlreadyExists as the API server answers them, a status subresource that
writes only status, and Events kept in a list.

What a test can inspect: `calls` (every request, reads included), `writes`
(every write in order, so a test can assert the order a controller writes in),
`events`. What a test can inject: `fail_next` makes the next calls of one verb
raise (an API server error); `refuse` makes one verb on one resource fail every
time (a quota, a rejected template), the attempts kept in `refused`;
`crash_before` raises `Crash` once, before a write, the way a SIGKILL stops a
process between two writes; while `stall` is set every request hangs for the
client's own timeout (30 s of real time: an etcd or API-server stall).

The fake clock's timers fire only when a test calls `advance`.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import heapq
import itertools
from collections.abc import Callable
from typing import Any

from taskops.clients import errors
from taskops.clients.resources import EVENTS, Resource

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class FakeTimer:
    def __init__(self, due: float, callback: Callable[[], None]) -> None:
        self.due = due
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """Wall and monotonic time that move only on `advance`, which fires the timers then due, in order.

    The wall time is the start plus the monotonic time (to the microsecond), so the two never drift apart."""

    def __init__(self, now: dt.datetime = START) -> None:
        self.start = now
        self.mono = 0.0
        self._timers: list[tuple[float, int, FakeTimer]] = []
        self._seq = itertools.count()

    def __call__(self) -> dt.datetime:
        return self.start + dt.timedelta(microseconds=round(self.mono * 1e6))

    def monotonic(self) -> float:
        return self.mono

    def call_later(self, delay: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(self.mono + max(delay, 0.0), callback)
        heapq.heappush(self._timers, (timer.due, next(self._seq), timer))
        return timer

    async def sleep(self, seconds: float) -> None:
        done = asyncio.get_running_loop().create_future()
        self.call_later(seconds, lambda: done.done() or done.set_result(None))
        await done

    def advance(self, seconds: float) -> None:
        end = self.mono + seconds
        while self._timers and self._timers[0][0] <= end:
            due, _, timer = heapq.heappop(self._timers)
            self.mono = max(self.mono, due)
            if not timer.cancelled:
                timer.callback()
        self.mono = end

    def timers(self) -> list[float]:
        """The seconds until each live timer fires, soonest first."""
        return sorted(due - self.mono for due, _, timer in self._timers if not timer.cancelled)


class Crash(BaseException):
    """The process died here (a BaseException: no `except Exception` in a controller can swallow it)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: what a merge patch makes of `target` (null removes a field)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _error(cls: type[errors.ApiError], status: int, reason: str, message: str) -> errors.ApiError:
    return cls(status, {"reason": reason, "message": message})


class FakeKube:
    """An in-memory API server for the verbs controllers use (the KubeClient's signatures)."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock()
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str, str]] = []  # (verb, plural, name), reads included
        # Every write in order: (verb, what, name), e.g. ("patch", "runs/status", "r"), ("event", "Started", "r").
        self.writes: list[tuple[str, str, str]] = []
        # (verb, what) -> the error it fails with, every time; the attempts are recorded in `refused`.
        self.refuse: dict[tuple[str, str], errors.ApiError] = {}
        self.refused: list[tuple[str, str, str]] = []
        # (verb, what): the next such write raises Crash instead (once).
        self.crash_before: tuple[str, str] | None = None
        self.stall = asyncio.Event()
        self._version = itertools.count(1)
        self._failures: dict[str, list[Exception]] = {}

    # -- test controls --------------------------------------------------------------

    def fail_next(self, verb: str, error: Exception, times: int = 1) -> None:
        """The next `times` calls of `verb` raise `error` (an API error, or a transport one such as TimeoutError)."""
        self._failures.setdefault(verb, []).extend([error] * times)

    def put(self, res: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        """Store `obj` as the API server would have (a fresh resourceVersion, the fields it sets on create), as if
        written by someone else (no call recorded); a copy of what is stored."""
        stored = self._stamp(res, obj)
        meta = stored["metadata"]
        meta["resourceVersion"] = str(next(self._version))
        self.objects[(res.plural, meta.get("namespace") or "", meta["name"])] = stored
        return copy.deepcopy(stored)

    def _stamp(self, res: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        """A copy of `obj` with the fields the API server sets on create (those it lacks)."""
        stamped = copy.deepcopy(obj)
        stamped.setdefault("apiVersion", res.api_version)
        meta = stamped["metadata"]
        meta.setdefault("uid", f"uid-{res.plural}-{meta['name']}")
        meta.setdefault("generation", 1)
        meta.setdefault("creationTimestamp", self.clock().strftime("%Y-%m-%dT%H:%M:%SZ"))
        return stamped

    def stored(self, res: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored object, or None (no call recorded)."""
        found = self.objects.get((res.plural, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def of(self, res: Resource, namespace: str | None = None) -> list[dict[str, Any]]:
        """The stored objects of `res` (in `namespace`, or in all)."""
        return [
            copy.deepcopy(o)
            for (plural, ns, _), o in self.objects.items()
            if plural == res.plural and namespace in (None, ns)
        ]

    async def _check(self, verb: str, res: Resource, name: str, write: tuple[str, str] | None = None) -> None:
        """Record the call; raise what the test injected for it. `write` is (verb, what) for a write."""
        self.calls.append((verb, res.plural, name))
        if self.stall.is_set():
            await asyncio.sleep(30)
        if write is not None and self.crash_before == write:
            self.crash_before = None
            raise Crash(f"killed before {write[0]} {write[1]} {name}")
        queued = self._failures.get(verb)
        if queued:
            raise queued.pop(0)
        if write is None:
            return
        refused = self.refuse.get(write)
        if refused is not None:
            self.refused.append((*write, name))
            raise refused
        self.writes.append((*write, name))

    # -- the verbs --------------------------------------------------------------------

    async def get(self, res: Resource, namespace: str | None, name: str) -> dict[str, Any]:
        await self._check("get", res, name)
        found = self.objects.get((res.plural, namespace or "", name))
        if found is None:
            raise _error(errors.NotFound, 404, "NotFound", f'{res.plural} "{name}" not found')
        return copy.deepcopy(found)

    async def list(
        self, res: Resource, namespace: str | None = None, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        await self._check("list", res, "")
        wanted = dict(part.split("=", 1) for part in label_selector.split(",")) if label_selector else {}
        return [
            copy.deepcopy(o)
            for (plural, ns, _), o in self.objects.items()
            if plural == res.plural
            and namespace in (None, ns)
            and all((o["metadata"].get("labels") or {}).get(k) == v for k, v in wanted.items())
        ]

    async def create(
        self, res: Resource, namespace: str | None, body: dict[str, Any], dry_run: bool = False, **_: Any
    ) -> dict[str, Any]:
        name = body["metadata"]["name"]
        await self._check("create", res, name, None if dry_run else ("create", res.plural))
        key = (res.plural, namespace or "", name)
        if key in self.objects:
            raise _error(errors.AlreadyExists, 409, "AlreadyExists", f'{res.plural} "{name}" already exists')
        obj = copy.deepcopy(body)
        obj["metadata"].setdefault("namespace", namespace)
        return self._stamp(res, obj) if dry_run else self.put(res, obj)

    async def create_or_get(
        self, res: Resource, namespace: str, body: dict[str, Any], **_: Any
    ) -> tuple[dict[str, Any], bool]:
        try:
            return await self.create(res, namespace, body), True
        except errors.AlreadyExists:
            return await self.get(res, namespace, body["metadata"]["name"]), False

    async def patch(
        self, res: Resource, namespace: str | None, name: str, patch: dict[str, Any], subresource: str | None = None
    ) -> dict[str, Any]:
        await self._check("patch", res, name, ("patch", f"{res.plural}/{subresource}" if subresource else res.plural))
        current = self.objects.get((res.plural, namespace or "", name))
        if current is None:
            raise _error(errors.NotFound, 404, "NotFound", f'{res.plural} "{name}" not found')
        wanted = (patch.get("metadata") or {}).get("resourceVersion")
        if wanted is not None and wanted != current["metadata"]["resourceVersion"]:
            raise _error(errors.Conflict, 409, "Conflict", "the object has been modified")
        # The status subresource writes only status; the main resource never writes status.
        allowed = {"status"} if subresource == "status" else set(patch) - {"status"}
        merged = merge_patch(current, {k: v for k, v in patch.items() if k in allowed})
        if subresource != "status" and "spec" in patch:
            merged["metadata"]["generation"] = int(current["metadata"].get("generation") or 1) + 1
        return self.put(res, merged)

    async def replace(self, res: Resource, namespace: str | None, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT: the whole object, refused with 409 Conflict when its resourceVersion is stale."""
        await self._check("replace", res, name, ("replace", res.plural))
        current = self.objects.get((res.plural, namespace or "", name))
        if current is None:
            raise _error(errors.NotFound, 404, "NotFound", f'{res.plural} "{name}" not found')
        if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise _error(errors.Conflict, 409, "Conflict", "the object has been modified")
        return self.put(res, body)

    async def delete(
        self, res: Resource, namespace: str | None, name: str, propagation: str = "Background"
    ) -> dict[str, Any]:
        await self._check("delete", res, name, ("delete", res.plural))
        found = self.objects.pop((res.plural, namespace or "", name), None)
        if found is None:
            raise _error(errors.NotFound, 404, "NotFound", f'{res.plural} "{name}" not found')
        return found

    async def post_event(
        self, involved: dict[str, Any], type_: str, reason: str, message: str, component: str, now: dt.datetime
    ) -> dict[str, Any]:
        await self._check("create", EVENTS, involved["metadata"]["name"], ("event", reason))
        event = {
            "involved": involved["metadata"]["name"],
            "type": type_,
            "reason": reason,
            "message": message,
            "time": now,
        }
        self.events.append(event)
        return event

    def reasons(self) -> list[str]:
        return [e["reason"] for e in self.events]
