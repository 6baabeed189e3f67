"""The manual-runs web page (issue 11): static files, a task's versions, and a live stream of Run changes.

The page itself is static and served without authentication; every piece of
data it shows comes from the authenticated JSON API with the caller's own
bearer token. `GET /api/v1/runs/events` is a server-sent event stream fed by
the API's shared Runs informer: one informer listener fans each change out to
one bounded queue per open connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from aiohttp import web

from taskops.api import views
from taskops.api.context import SERVICES, caller, namespace, reply, services
from taskops.api.tasks import find_task
from taskops.clients.resources import REVISIONS

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
    revisions = await svc.client.list(REVISIONS, ns, label_selector=f"taskops.dev/task={name}")
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
                # A reader this far behind is dropped; EventSource reconnects and the page reloads its list.
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


async def _stream_caller(request: web.Request, ns: str) -> None:
    """`watch runs`, with the token from the Authorization header or (EventSource sends no headers) `access_token`."""
    token = request.query.get("access_token", "")
    if token and "Authorization" not in request.headers:
        # The token is only handed on to the TokenReview (which keeps its digest), never logged or stored.
        request = request.clone(headers={**request.headers, "Authorization": f"Bearer {token}"})
    await caller(request, "watch", "runs", ns)


@routes.get("/api/v1/runs/events")
async def run_events(request: web.Request) -> web.StreamResponse:
    """Every ADDED/MODIFIED/DELETED Run in the namespace as `event: run` with the RunOut JSON; a heartbeat every 15s."""
    svc, ns = services(request), namespace(request)
    await _stream_caller(request, ns)
    fanout = request.app[FANOUT]
    queue = fanout.add(ns)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    try:
        await response.prepare(request)
        await response.write(b"retry: 3000\n: connected\n\n")
        while True:
            try:
                type_, obj = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                await response.write(b": heartbeat\n\n")
                continue
            if type_ == _CLOSE[0]:
                break
            task = ((obj.get("spec") or {}).get("taskRef") or {}).get("name") or ""
            out = views.run_out(obj, svc.cache.task_name(ns, task))
            data = out.model_dump(mode="json", by_alias=True)
            data["event_type"] = type_
            await response.write(f"event: run\ndata: {json.dumps(data)}\n\n".encode())
    except ConnectionResetError:
        pass  # the page went away
    finally:
        fanout.remove(ns, queue)
    return response


def setup(app: web.Application) -> None:
    """The UI's routes (registered before the Runs API so /runs/events is not taken for a run id) and fan-out."""
    fanout = RunFanOut()
    app[FANOUT] = fanout
    app.router.add_routes(routes)
    app[SERVICES].cache.runs.listen(fanout.publish)

    async def close_streams(_: web.Application) -> None:
        fanout.close_all()

    app.on_shutdown.append(close_streams)
