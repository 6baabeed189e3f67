"""A small asyncio Kubernetes API client on aiohttp: the few verbs taskops needs, JSON in and out."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp
import orjson

from taskops.clients.credentials import Credentials
from taskops.clients.errors import AlreadyExists, api_error
from taskops.clients.resources import EVENTS, PODS, Resource
from taskops.domain.resources import jsonbounds, timefmt

Objects = list[dict[str, Any]]
MERGE_PATCH = "application/merge-patch+json"


def _ssl_context(creds: Credentials) -> ssl.SSLContext | bool:
    if creds.insecure:
        return False
    ctx = ssl.create_default_context(cafile=creds.ca_path)
    if creds.cert_path and creds.key_path:
        ctx.load_cert_chain(creds.cert_path, creds.key_path)
    return ctx


def _dumps(body: Any) -> bytes:
    try:
        return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        # orjson stops at 64-bit integers; JSON (and a user's params) has no such bound.
        return json.dumps(body).encode()


def _loads(raw: bytes) -> Any:
    """orjson's decode; a document with a value nested deeper than orjson reads (a tenant's params, say) is
    read with that value cut (jsonbounds.cut_deep), so one object never makes a page or a watch unreadable."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        cut = jsonbounds.cut_deep(raw)
        if cut == raw:
            raise
        return orjson.loads(cut)


class KubeClient:
    def __init__(
        self, creds: Credentials, user_agent: str, timeout: float = 30.0, stream_connections: int = 100
    ) -> None:
        self.creds = creds
        self.user_agent = user_agent
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        # Long streams (pod logs) get a pool of their own: however many are open, requests (token and access
        # reviews, writes) never wait behind them for a connection.
        self._stream_connections = stream_connections
        self._streams: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for session in (self._session, self._streams):
            if session:
                await session.close()
        self._session = self._streams = None

    def _new_session(self, connections: int) -> aiohttp.ClientSession:
        # Keep connections across quiet minutes: a TLS handshake per request would cost a minutely burst dearly.
        connector = aiohttp.TCPConnector(ssl=_ssl_context(self.creds), limit=connections, keepalive_timeout=300)
        return aiohttp.ClientSession(
            base_url=self.creds.server,
            connector=connector,
            timeout=self._timeout,
            headers={"User-Agent": self.user_agent},
        )

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = self._new_session(64)
        return self._session

    def _stream_http(self) -> aiohttp.ClientSession:
        if self._streams is None or self._streams.closed:
            self._streams = self._new_session(self._stream_connections)
        return self._streams

    def _headers(self, want_json: bool) -> dict[str, str]:
        """The bearer token as it is now (a projected token rotates), and that JSON is wanted back."""
        headers = {"Accept": "application/json"} if want_json else {}
        token = self.creds.bearer()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
        encode: Callable[[Any], bytes] = _dumps,
    ) -> dict[str, Any]:
        headers = self._headers(want_json=True)
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = encode(body)
        async with self._http().request(method, path, data=data, params=params, headers=headers) as resp:
            raw = await resp.read()
            try:
                payload = _loads(raw) if raw else {}
            except orjson.JSONDecodeError:
                payload = raw.decode("utf-8", errors="replace")
            if resp.status >= 400:
                raise api_error(resp.status, payload)
            return payload if isinstance(payload, dict) else {}

    # -- verbs -------------------------------------------------------------------

    async def get(self, res: Resource, namespace: str | None, name: str) -> dict[str, Any]:
        return await self._request("GET", res.path(namespace, name))

    async def list(
        self,
        res: Resource,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        selectors = {"labelSelector": label_selector, "fieldSelector": field_selector}
        params = {k: v for k, v in selectors.items() if v} or None
        return list((await self._request("GET", res.path(namespace), params=params)).get("items") or [])

    async def list_all(
        self,
        res: Resource,
        namespace: str | None = None,
        page: int = 500,
        label_selector: str | None = None,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        keep: Callable[[dict[str, Any]], bool] | None = None,
    ) -> tuple[Objects, str]:
        """Every object, fetched in pages, and the list's resourceVersion (where a watch starts).

        `transform` is applied to each object as its page arrives: what a cache drops (managedFields,
        data) is never held for the whole list at once, which sets a restarting operator's peak memory.
        So is `keep`: an object it refuses (another shard's) is dropped with its page.
        """
        items: Objects = []
        selector = {"labelSelector": label_selector} if label_selector else {}
        params = {"limit": str(page), **selector}
        while True:
            body = await self._request("GET", res.path(namespace), params=params)
            kind = body.get("kind", "").removesuffix("List")
            for obj in body.get("items") or []:
                # LIST items carry no kind; watch events do. Make them alike for the caches.
                obj.setdefault("kind", kind)
                obj.setdefault("apiVersion", res.api_version)
                if keep is None or keep(obj):
                    items.append(transform(obj) if transform else obj)
            meta = body.get("metadata") or {}
            if not meta.get("continue"):
                return items, str(meta.get("resourceVersion") or "")
            params = {"limit": str(page), "continue": meta["continue"], **selector}

    async def create(
        self,
        res: Resource,
        namespace: str | None,
        body: dict[str, Any],
        dry_run: bool = False,
        encode: Callable[[Any], bytes] = _dumps,
    ) -> dict[str, Any]:
        """`encode`: how the body is written (an object whose bytes the API server keeps as sent needs its form)."""
        params = {"dryRun": "All"} if dry_run else None
        return await self._request("POST", res.path(namespace), body, params=params, encode=encode)

    async def create_or_get(
        self, res: Resource, namespace: str, body: dict[str, Any], encode: Callable[[Any], bytes] = _dumps
    ) -> tuple[dict[str, Any], bool]:
        """Create `body`; if its (deterministic) name exists, return the existing object. → (object, created)."""
        try:
            return await self.create(res, namespace, body, encode=encode), True
        except AlreadyExists:
            return await self.get(res, namespace, body["metadata"]["name"]), False

    async def patch(
        self, res: Resource, namespace: str | None, name: str, patch: dict[str, Any], subresource: str | None = None
    ) -> dict[str, Any]:
        return await self._request("PATCH", res.path(namespace, name, subresource), patch, content_type=MERGE_PATCH)

    async def replace(self, res: Resource, namespace: str | None, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT the whole object as read and changed: its resourceVersion makes a stale write fail with Conflict."""
        return await self._request("PUT", res.path(namespace, name), body)

    async def delete(
        self, res: Resource, namespace: str | None, name: str, propagation: str = "Background"
    ) -> dict[str, Any]:
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        return await self._request("DELETE", res.path(namespace, name), body)

    async def watch(
        self,
        res: Resource,
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: str | None = None,
        timeout_seconds: int = 300,
        field_selector: str | None = None,
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Yield (type, object) watch events until the server closes the stream (`metadata.name=X`: one object)."""
        params = {"watch": "true", "allowWatchBookmarks": "true", "timeoutSeconds": str(timeout_seconds)}
        if resource_version:
            params["resourceVersion"] = resource_version
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        headers = self._headers(want_json=True)
        timeout = aiohttp.ClientTimeout(total=None, sock_read=timeout_seconds + 30)
        async with self._http().get(res.path(namespace), params=params, headers=headers, timeout=timeout) as resp:
            if resp.status >= 400:
                raise api_error(resp.status, await resp.text())
            # Split lines ourselves: aiohttp's line reader caps line length, and objects can be large.
            buffer = b""
            async for chunk in resp.content.iter_any():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        event = _loads(line)
                        yield event["type"], event["object"]

    def pod_logs(
        self, namespace: str, pod: str, follow: bool, container: str | None = None
    ) -> AsyncGenerator[bytes, None]:
        """A pod's log, chunk by chunk; with `follow`, until its container ends (the caller bounds the time)."""
        params = {"follow": "true" if follow else "false"}
        if container:
            params["container"] = container
        return self._stream(PODS.path(namespace, pod, "log"), params)

    async def _stream(self, path: str, params: dict[str, str]) -> AsyncGenerator[bytes, None]:
        """The raw body of a GET, chunk by chunk, over the streams' own connection pool."""
        headers = self._headers(want_json=False)
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with self._stream_http().get(path, params=params, headers=headers, timeout=timeout) as resp:
            if resp.status >= 400:
                text = await resp.text()
                try:
                    payload: dict[str, Any] | str = json.loads(text)
                except json.JSONDecodeError:
                    payload = text
                raise api_error(resp.status, payload)
            async for chunk in resp.content.iter_any():
                yield chunk

    async def post_event(
        self, involved: Mapping[str, Any], type_: str, reason: str, message: str, component: str, now: dt.datetime
    ) -> dict[str, Any]:
        meta = involved["metadata"]
        stamp = timefmt.stamp_seconds(now)
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": involved.get("apiVersion"),
                "kind": involved.get("kind"),
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": component},
            "reportingComponent": component,
            "reportingInstance": component,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        return await self.create(EVENTS, meta["namespace"], body)
