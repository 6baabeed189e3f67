"""The manual-runs web page (issue 11): static files, a task's versions, and a live stream of Run changes.

The page itself is static and served without authentication; every piece of
data it shows comes from the authenticated JSON API with the caller's own
bearer token. `GET /api/v1/runs/events` is a server-sent event stream fed by
the API's shared Runs informer: one informer listener fans each change out to
one bounded queue per open connection. The page reads it with fetch() (so the
token travels in the Authorization header, never in a URL).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import BaseModel

from taskops.api import views
from taskops.api.context import SERVICES, caller, namespace, reply, services
from taskops.api.limits import HOLDS, LIMITS, STREAM_MAX_HEADER, hold
from taskops.api.lookups import find_task
from taskops.api.problems import Problem, invalid
from taskops.clients.errors import ApiError
from taskops.clients.resources import REVISIONS
from taskops.domain.resources import names
from taskops.domain.resources.params import FieldError

routes = web.RouteTableDef()
UI_DIR = Path(__file__).resolve().parent / "ui"
_FILE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
CONTENT_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
}
# No inline script or style, nothing from elsewhere: the page needs its own origin only.
STATIC_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
}
HEARTBEAT_SECONDS = 15.0
# How often an open stream checks its caller's access again (the review caches decide when that costs a review).
RECHECK_SECONDS = 5.0
QUEUE_MAX = 1000
_CLOSE: tuple[str, dict[str, Any]] = ("CLOSE", {})


# --- static files ----------------------------------------------------------------------------------


def _static(name: str) -> web.Response:
    path = (UI_DIR / name).resolve()
    content_type = CONTENT_TYPES.get(path.suffix)
    if not _FILE.match(name) or path.parent != UI_DIR or content_type is None or not path.is_file():
        raise web.HTTPNotFound(text="no such file", content_type="text/plain")
    charset = "utf-8" if content_type.startswith("text/") or content_type.endswith(("+xml", "json")) else None
    return web.Response(body=path.read_bytes(), content_type=content_type, charset=charset, headers=STATIC_HEADERS)


@routes.get("/ui")
@routes.get("/ui/")
async def index(_: web.Request) -> web.Response:
    return _static("index.html")


@routes.get("/ui/{file}")
async def static_file(request: web.Request) -> web.Response:
    return _static(request.match_info["file"])


# --- a task's versions -----------------------------------------------------------------------------


@routes.get("/api/v1/tasks/{id}/versions")
async def task_versions(request: web.Request) -> web.Response:
    """The task's ControllerRevisions, newest first."""
    svc, ns = services(request), namespace(request)
    await caller(request, "get", "tasks", ns)
    task = await find_task(svc, ns, request.match_info["id"])
    name = task["metadata"]["name"]
    revisions = await svc.client.list(REVISIONS, ns, label_selector=f"{names.LABEL_TASK}={name}")
    items = [
        {
            "number": int(r.get("revision") or 0),
            "id": r["metadata"]["name"],
            "created_at": r["metadata"].get("creationTimestamp"),
        }
        for r in revisions
    ]
    items.sort(key=lambda v: v["number"], reverse=True)
    return reply({"items": items, "total": len(items)})


# --- server-sent events ----------------------------------------------------------------------------


class RunFanOut:
    """One listener on the Runs informer; one bounded queue per open event stream, by namespace."""

    def __init__(self) -> None:
        self.queues: dict[str, set[asyncio.Queue[tuple[str, dict[str, Any]]]]] = defaultdict(set)

    def publish(self, type_: str, obj: dict[str, Any]) -> None:
        ns = obj["metadata"].get("namespace") or ""
        for queue in list(self.queues.get(ns, ())):
            try:
                queue.put_nowait((type_, obj))
            except asyncio.QueueFull:
                # A reader this far behind is dropped; the page reconnects.
                self.remove(ns, queue)
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait(_CLOSE)

    def add(self, ns: str) -> asyncio.Queue[tuple[str, dict[str, Any]]]:
        queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(QUEUE_MAX)
        self.queues[ns].add(queue)
        return queue

    def remove(self, ns: str, queue: asyncio.Queue[tuple[str, dict[str, Any]]]) -> None:
        waiting = self.queues.get(ns)
        if waiting is not None:
            waiting.discard(queue)
            if not waiting:
                del self.queues[ns]

    def close_all(self) -> None:
        for ns, waiting in list(self.queues.items()):
            for queue in list(waiting):
                self.remove(ns, queue)
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(_CLOSE)

    @property
    def streams(self) -> int:
        return sum(len(q) for q in self.queues.values())


FANOUT = web.AppKey("run_fanout", RunFanOut)
# What an event's data is: a RunOut (seed 004's lifecycle words), or seed 000's Execution (the page's executions).
_VIEWS: dict[str, Callable[[dict[str, Any], str | None], BaseModel]] = {
    "run": views.run_out,
    "execution": views.execution,
}


def _end(status: int, detail: str) -> bytes:
    """The last event of a stream: why it ends (401/403: the access is gone; 503/408: reconnect)."""
    return f"event: end\ndata: {json.dumps({'status': status, 'detail': detail})}\n\n".encode()


@routes.get("/api/v1/runs/events")
async def run_events(request: web.Request) -> web.StreamResponse:
    """Every ADDED/MODIFIED/DELETED Run in the namespace as `event: run` with the RunOut JSON (`view=execution`:
    seed 000's Execution); a heartbeat every 15s.

    The token comes from the Authorization header only (a URL's query string ends up in proxy and browser
    logs). The stream re-checks the caller's access as the review caches expire and ends, with an `end`
    event, once the token is refused or `watch runs` is denied, and after the maximum stream duration.
    """
    ns = namespace(request)
    if "access_token" in request.query:
        raise Problem(
            400,
            "Bad Request",
            "a token in the URL is refused (URLs are logged): send it as Authorization: Bearer <token>",
            [FieldError("query.access_token", "not accepted; use the Authorization header", None)],
        )
    view = request.query.get("view") or "run"
    if view not in _VIEWS:
        raise invalid([FieldError("query.view", "run (seed 004's words) or execution (seed 000's)", view)])
    await caller(request, "watch", "runs", ns)
    hold(request, request.app[HOLDS].streams)
    max_seconds = request.app[LIMITS].max_stream_seconds
    # The event loop's clock, not the Clock: the deadline bounds how long this stream's socket is held open
    # (the I/O deadline domain/resources/clock.py leaves to asyncio), whatever time a test pretends it is.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_seconds
    fanout = request.app[FANOUT]
    queue = fanout.add(ns)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            STREAM_MAX_HEADER: str(int(max_seconds)),
        }
    )
    try:
        # The deadline bounds writes too (a reader that stops reading), with a moment to send the end event.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline + 5):
                await response.prepare(request)
                await _send_events(request, response, ns, queue, deadline, max_seconds, _VIEWS[view])
    except ConnectionResetError:
        pass  # the page went away
    finally:
        fanout.remove(ns, queue)
    return response


async def _send_events(
    request: web.Request,
    response: web.StreamResponse,
    ns: str,
    queue: asyncio.Queue[tuple[str, dict[str, Any]]],
    deadline: float,
    max_seconds: float,
    shape: Callable[[dict[str, Any], str | None], BaseModel],
) -> None:
    svc, loop = services(request), asyncio.get_running_loop()
    await response.write(b"retry: 3000\n: connected\n\n")
    opened = loop.time()
    next_check, next_beat = opened + RECHECK_SECONDS, opened + HEARTBEAT_SECONDS
    while True:
        now = loop.time()
        if now >= deadline:
            await response.write(_end(408, f"the stream reached its maximum of {int(max_seconds)} seconds"))
            return
        if now >= next_check:
            next_check = now + RECHECK_SECONDS
            ended = await _still_allowed(request, ns)
            if ended is not None:
                await response.write(ended)
                return
        if now >= next_beat:
            next_beat = now + HEARTBEAT_SECONDS
            await response.write(b": heartbeat\n\n")
        try:
            type_, obj = await asyncio.wait_for(queue.get(), max(0.0, min(deadline, next_check, next_beat) - now))
        except TimeoutError:
            continue
        if type_ == _CLOSE[0]:
            return
        task = ((obj.get("spec") or {}).get("taskRef") or {}).get("name") or ""
        out = shape(obj, svc.cache.task_name(ns, task))
        data = out.model_dump(mode="json", by_alias=True)
        data["event_type"] = type_
        await response.write(f"event: run\ndata: {json.dumps(data)}\n\n".encode())


async def _still_allowed(request: web.Request, ns: str) -> bytes | None:
    """None while the caller's token and `watch runs` still hold (from the caches, reviewed again as they
    expire); otherwise the `end` event to send."""
    try:
        await caller(request, "watch", "runs", ns)
    except Problem as exc:
        return _end(exc.status, exc.detail or exc.title)
    except (ApiError, aiohttp.ClientError, TimeoutError):
        # Access cannot be checked now: end the stream; the page reconnects and is checked afresh.
        return _end(503, "the Kubernetes API could not confirm access; reconnect")
    return None


def setup(app: web.Application) -> None:
    """The UI's routes (registered before the Runs API so /runs/events is not taken for a run id) and fan-out."""
    fanout = RunFanOut()
    app[FANOUT] = fanout
    app.router.add_routes(routes)
    app[SERVICES].cache.runs.listen(fanout.publish)

    async def close_streams(_: web.Application) -> None:
        fanout.close_all()

    app.on_shutdown.append(close_streams)
