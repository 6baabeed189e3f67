"""A Run's log: every attempt's pods in order, one stream; followed until the Run ends (docs/api.md).

The pods are found by their `taskops.dev/run` label (a batch run's by attempt and completion index), read one
after the other through the kubelet, and a line naming the attempt and pod separates two pods' logs. Every log
read is a stream: it holds one of the caller's stream slots and ends at the maximum stream duration at the
latest (api/limits.py, docs/security.md §4).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import aiohttp
from aiohttp import web

from taskops.api.context import Services, caller, namespace, query_bool, query_int, services
from taskops.api.limits import HOLDS, LIMITS, STREAM_MAX_HEADER, hold
from taskops.api.lookups import find_run
from taskops.api.problems import Problem, invalid
from taskops.clients.errors import ApiError, NotFound
from taskops.clients.resources import CONFIGMAPS, PODS, RUNS
from taskops.clients.reviews import Access
from taskops.domain.execution import batch, podlogs
from taskops.domain.execution.batchresults import COMPLETION_INDEX
from taskops.domain.resources.params import FieldError
from taskops.domain.resources.phases import POD_ENDED_PHASES, is_terminal, raw_phase

routes = web.RouteTableDef()
# How long ending a stream may wait for a slow reader.
EOF_SECONDS = 5.0
# A followed log looks for the next pod as soon as the Run's status changes (a new attempt), and otherwise after
# FIRST_RELIST_SECONDS, doubling up to RELIST_SECONDS while none has started: a pod starts a moment after its
# Run turns RUNNING without changing the Run, and its first lines should stream, not arrive as history.
# The Run is read from the API's cache every POLL_SECONDS meanwhile.
FIRST_RELIST_SECONDS = 0.5
RELIST_SECONDS = 5.0
POLL_SECONDS = 0.25
# A followed pod's log that brings nothing for this long is checked: once its pod ended, the next one is read.
IDLE_SECONDS = 2.0


class _RunPods:
    """The pods of one Run's log: all of them, or those of one batch input across attempts."""

    def __init__(self, svc: Services, ns: str, name: str, index: int | None) -> None:
        self.svc, self.ns, self.name, self.index = svc, ns, name, index
        # A resume attempt's index map never changes: read once per stream.
        self._maps: dict[int, list[int] | None] = {}

    async def listed(self, run: Mapping[str, Any]) -> list[dict[str, Any]]:
        if self.index is None:
            return await self.svc.client.list(PODS, self.ns, label_selector=podlogs.run_selector(self.name))
        status = run.get("status") or {}
        numbers = {int(a.get("number") or 0) for a in status.get("attempts") or []}
        numbers |= {int(status["attempt"])} if status.get("attempt") else set()
        pods: list[dict[str, Any]] = []
        for attempt in sorted(n for n in numbers if n > 0):
            at = podlogs.completion_index(await self._index_map(attempt), self.index)
            if at is not None:
                selector = podlogs.run_selector(self.name, attempt, at)
                pods += await self.svc.client.list(PODS, self.ns, label_selector=selector)
        return pods

    async def _index_map(self, attempt: int) -> list[int] | None:
        if attempt not in self._maps:
            try:
                cm = await self.svc.client.get(CONFIGMAPS, self.ns, batch.index_map_name(self.name, attempt))
                self._maps[attempt] = batch.parse_index_map((cm.get("data") or {}).get(batch.INDEX_MAP_KEY) or "")
            except NotFound:
                self._maps[attempt] = None  # an attempt over every input (the first) has no map
        return self._maps[attempt]


def _index(request: web.Request, run: Mapping[str, Any]) -> int | None:
    inputs = (run.get("spec") or {}).get("inputs")
    given = request.query.get("index")
    if not inputs:
        if given not in (None, ""):
            raise invalid([FieldError("query.index", "only a batch run has inputs to choose from", given)])
        return None
    count = int(inputs.get("count") or 0)
    if given in (None, ""):
        detail = f"a batch run's log is that of one input: give index (0 to {count - 1})"
        raise invalid([FieldError("query.index", detail, None)])
    return query_int(request, "index", 0, 0, max(count - 1, 0))


async def _current(svc: Services, ns: str, name: str) -> dict[str, Any] | None:
    found = svc.cache.run(ns, name)
    if found is None:
        try:
            found = await svc.client.get(RUNS, ns, name)
        except NotFound:
            return None
    return found


async def _changed(svc: Services, ns: str, name: str, version: str, seconds: float) -> None:
    """Returns once the Run's resourceVersion is no longer `version` (or it is gone), or after `seconds`."""
    until = svc.clock.monotonic() + seconds
    while svc.clock.monotonic() < until:
        await svc.clock.sleep(POLL_SECONDS)
        found = svc.cache.run(ns, name)
        if found is None or (found["metadata"].get("resourceVersion") or "") != version:
            return


class _Stream:
    """One answer: the pods of `pods` copied into `response` in order, a marker line between two."""

    def __init__(self, svc: Services, ns: str, pods: _RunPods, follow: bool, container: str | None) -> None:
        self.svc, self.ns, self.pods, self.follow, self.container = svc, ns, pods, follow, container
        self.read: set[str] = set()

    def open(self, pod: Mapping[str, Any]) -> AsyncGenerator[bytes, None]:
        return self.svc.client.pod_logs(self.ns, pod["metadata"]["name"], self.follow, self.container)

    async def copy(
        self, response: web.StreamResponse, pod: Mapping[str, Any], chunks: AsyncGenerator[bytes, None], head: bytes
    ) -> None:
        if self.read:
            await response.write(podlogs.marker(pod, self.pods.index))
        self.read.add(pod["metadata"]["name"])
        pending: asyncio.Future[bytes | None] | None = None
        try:
            await response.write(head)
            while True:
                pending = pending or asyncio.ensure_future(anext(chunks, None))
                done, _ = await asyncio.wait({pending}, timeout=IDLE_SECONDS)
                if not done:
                    # Quiet for a while: a kubelet ends a followed log when the container ends, but not every one
                    # does (kwok's never does), so a pod that ended is not waited on any longer.
                    if self.follow and await self._ended(pod):
                        break
                    continue
                chunk, pending = pending.result(), None
                if chunk is None:
                    break
                await response.write(chunk)
        except ApiError as exc:
            await response.write(podlogs.unreadable(pod, exc.message))
        except aiohttp.ClientError as exc:
            await response.write(podlogs.unreadable(pod, str(exc) or type(exc).__name__))
        finally:
            if pending is not None:
                pending.cancel()
                await asyncio.wait({pending})  # its end (the cancellation), without raising it here
            await chunks.aclose()

    async def _ended(self, pod: Mapping[str, Any]) -> bool:
        """The pod ended or is gone (read by its labels: the API may list the Run's pods, not get one)."""
        labels = pod["metadata"].get("labels") or {}
        index = labels.get(COMPLETION_INDEX)
        selector = podlogs.run_selector(self.pods.name, podlogs.attempt_of(pod), int(index) if index else None)
        name = pod["metadata"]["name"]
        now = next((p for p in await self.svc.client.list(PODS, self.ns, label_selector=selector)
                    if p["metadata"]["name"] == name), None)  # fmt: skip
        return now is None or (now.get("status") or {}).get("phase") in POD_ENDED_PHASES

    async def rest(self, response: web.StreamResponse) -> None:
        """Every pod not read yet; following, the next ones as they start, until the Run ends (or is deleted)."""
        name = self.pods.name
        relist = FIRST_RELIST_SECONDS
        while True:
            current = await _current(self.svc, self.ns, name)
            if current is None:
                return
            ended = not self.follow or is_terminal(raw_phase(current))
            step = podlogs.next_pod(await self.pods.listed(current), self.read, ended)
            if step.done:
                return
            if step.pod is None:
                await _changed(self.svc, self.ns, name, current["metadata"].get("resourceVersion") or "", relist)
                relist = min(relist * 2, RELIST_SECONDS)
                continue
            relist = FIRST_RELIST_SECONDS
            await self.copy(response, step.pod, self.open(step.pod), b"")


@routes.get("/api/v1/runs/{id}/logs")
async def run_logs(request: web.Request) -> web.StreamResponse:
    """The Run's log as text/plain: its pods oldest attempt first; with `follow=true`, each followed until its
    container ends and the next attempt's pod after it, until the Run ends. A batch run's: that of `index`."""
    svc, ns = services(request), namespace(request)
    user = await caller(request, "get", "runs", ns)
    await svc.auth.authorize(user, Access("get", "pods", ns, group="", subresource="log"))
    follow = bool(query_bool(request, "follow"))
    hold(request, request.app[HOLDS].streams)
    run = await find_run(svc, ns, request.match_info["id"])
    name = run["metadata"]["name"]
    stream = _Stream(svc, ns, _RunPods(svc, ns, name, _index(request, run)), follow, request.query.get("container"))
    max_seconds = request.app[LIMITS].max_stream_seconds
    deadline = asyncio.get_running_loop().time() + max_seconds

    # The first pod's log is opened before the answer starts, so that an error there (no such container, the
    # kubelet unreachable) is still answered as a problem.
    step = podlogs.next_pod(await stream.pods.listed(run), set(), not follow or is_terminal(raw_phase(run)))
    if step.pod is None and step.done:
        raise Problem(409, "Conflict", f'run "{name}" has no pod with a log (phase {raw_phase(run)})')
    first: tuple[Mapping[str, Any], AsyncGenerator[bytes, None], bytes] | None = None
    if step.pod is not None:
        chunks = stream.open(step.pod)
        try:
            async with asyncio.timeout_at(deadline):
                first = (step.pod, chunks, await anext(chunks, b""))
        finally:
            if first is None:
                await chunks.aclose()
    response = web.StreamResponse(
        headers={"Content-Type": "text/plain; charset=utf-8", STREAM_MAX_HEADER: str(int(max_seconds))}
    )
    await response.prepare(request)
    try:
        # The deadline bounds writes and waits too: a caller that stops reading cannot hold the stream open.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                if first is not None:
                    pod, chunks, head = first
                    first = None
                    await stream.copy(response, pod, chunks, head)
                await stream.rest(response)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(EOF_SECONDS):
                await response.write_eof()
    except ConnectionResetError:
        pass  # the caller stopped following
    except (ApiError, aiohttp.ClientError) as exc:
        # Listing the next pods failed (the Kubernetes API unavailable): the answer has begun, so say so in it.
        with contextlib.suppress(ConnectionResetError, TimeoutError):
            async with asyncio.timeout(EOF_SECONDS):
                await response.write(f"{podlogs.MARKER_PREFIX}the log stream stopped: {exc} ---\n".encode())
                await response.write_eof()
    finally:
        if first is not None:
            await first[1].aclose()
    return response
