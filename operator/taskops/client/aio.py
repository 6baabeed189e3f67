"""The asynchronous client (aiohttp): one method per operation of the REST API, typed with the API's models.

Every answer is parsed into the model the API itself serves (`taskops.api.schemas`); every error is a
`ProblemError` subclass carrying the problem and its `errors` list (taskops.client.errors).
"""

from __future__ import annotations

import asyncio
import codecs
import datetime as dt
import json
import math
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypedDict, TypeVar, Unpack
from urllib.parse import quote

import aiohttp
from pydantic import BaseModel, ValidationError

from taskops.api import schemas
from taskops.api.openapi import TaskVersionList
from taskops.client import endpoints as ep
from taskops.client.auth import REREAD_SECONDS, TokenSource, pod_namespace
from taskops.client.endpoints import Endpoint, uses
from taskops.client.errors import TransportError, error_for, invalid_request
from taskops.client.retry import RetryPolicy
from taskops.domain.resources.params import validation_errors

R = TypeVar("R", bound=BaseModel)
# The API Service the chart installs (`helm install taskops charts/taskops -n taskops-system`).
DEFAULT_URL = "http://taskops-api.taskops-system.svc"
URL_ENV = "TASKOPS_API_URL"
# The most one request may wait for a run (the API's wait_timeout bound); longer waits are several requests.
WAIT_STEP_MAX = 3600
CONNECT_SECONDS = 10.0
NOT_EXPOSED_VALIDATE = "validate with validate_run (the native trigger); this shape's own check is the same"
Mode = Literal["live", "async", "schedule"]


def _body(endpoint: Endpoint[Any], fields: Mapping[str, Any] | BaseModel) -> BaseModel:
    """The request body as the API's own model: a field it does not know or a bad value is refused here,
    with the locations the API would name (`body.params`), before anything is sent."""
    assert endpoint.request is not None, endpoint.path
    data = fields.model_dump(exclude_unset=True, by_alias=True) if isinstance(fields, BaseModel) else dict(fields)
    try:
        return endpoint.request.model_validate(data)
    except ValidationError as exc:
        raise invalid_request(validation_errors(exc, "body")) from None


def _given(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _query_value(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


class Options(TypedDict, total=False):
    """The arguments of AsyncClient and Client besides `base_url` (docs/client.md, "Creating a client")."""

    token: str | None
    token_file: str | Path | None
    namespace: str | None
    timeout: float
    retry: RetryPolicy | None
    token_reread_seconds: float


class AsyncClient:
    """A client of the taskops REST API (docs/client.md). Use as `async with AsyncClient() as client:`.

    base_url: default $TASKOPS_API_URL, else the chart's Service (http://taskops-api.taskops-system.svc).
    token: a fixed bearer token; otherwise `token_file` (default: the pod's service-account token) is read,
    and read again every `token_reread_seconds` and after a 401, since it rotates.
    namespace: default for every call; default: the pod's namespace, else the API's default namespace.
    timeout: seconds to wait for an answer (a waiting request: its wait plus this).
    """

    def __init__(self, base_url: str | None = None, **options: Unpack[Options]) -> None:
        self.base_url = (base_url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")
        self.tokens = TokenSource(
            options.get("token"), options.get("token_file"), options.get("token_reread_seconds", REREAD_SECONDS)
        )
        self.namespace = options.get("namespace") or pod_namespace()
        self.timeout = options.get("timeout", 30.0)
        self.retry = options.get("retry") or RetryPolicy()
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- tasks -----------------------------------------------------------------------------------

    @uses(ep.CREATE_TASK)
    async def create_task(
        self, body: Mapping[str, Any] | BaseModel, *, namespace: str | None = None
    ) -> schemas.TaskOut:
        """Create a task: `body` has the fields of `TaskCreate` (seed 001's, plus every field of a Task's spec)."""
        return await self._call(ep.CREATE_TASK, (), namespace, body=_body(ep.CREATE_TASK, body))

    @uses(ep.LIST_TASKS)
    async def list_tasks(
        self,
        *,
        status: str | None = None,
        created_by: str | None = None,
        schedule_kind: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        namespace: str | None = None,
    ) -> schemas.TaskList:
        query = _given(status=status, created_by=created_by, schedule_kind=schedule_kind, limit=limit, offset=offset)
        return await self._call(ep.LIST_TASKS, (), namespace, query)

    @uses(ep.GET_TASK)
    async def get_task(self, task: str, *, namespace: str | None = None) -> schemas.TaskOut:
        return await self._call(ep.GET_TASK, (task,), namespace)

    @uses(ep.UPDATE_TASK)
    async def update_task(
        self, task: str, body: Mapping[str, Any] | BaseModel, *, namespace: str | None = None
    ) -> schemas.TaskOut:
        """Change the given fields only (`TaskUpdate`); a changed spec is a new version."""
        return await self._call(ep.UPDATE_TASK, (task,), namespace, body=_body(ep.UPDATE_TASK, body))

    @uses(ep.DELETE_TASK)
    async def delete_task(self, task: str, *, namespace: str | None = None) -> None:
        await self._send(ep.DELETE_TASK, (task,), namespace)

    @uses(ep.PAUSE_TASK)
    async def pause_task(self, task: str, *, namespace: str | None = None) -> schemas.TaskOut:
        return await self._call(ep.PAUSE_TASK, (task,), namespace)

    @uses(ep.RESUME_TASK)
    async def resume_task(self, task: str, *, namespace: str | None = None) -> schemas.TaskOut:
        return await self._call(ep.RESUME_TASK, (task,), namespace)

    @uses(ep.CANCEL_TASK)
    async def cancel_task(self, task: str, *, namespace: str | None = None) -> schemas.TaskOut:
        return await self._call(ep.CANCEL_TASK, (task,), namespace)

    @uses(ep.SNOOZE_TASK)
    async def snooze_task(
        self, task: str, delay_seconds: int, *, reason: str | None = None, namespace: str | None = None
    ) -> schemas.TaskOut:
        body = _body(ep.SNOOZE_TASK, _given(delay_seconds=delay_seconds, reason=reason))
        return await self._call(ep.SNOOZE_TASK, (task,), namespace, body=body)

    @uses(ep.TASK_VERSIONS)
    async def task_versions(self, task: str, *, namespace: str | None = None) -> TaskVersionList:
        return await self._call(ep.TASK_VERSIONS, (task,), namespace)

    # --- triggering runs -------------------------------------------------------------------------

    @uses(ep.RUN_NOW, omitted={"validate_only": "validate_run sends it"})
    async def run(
        self,
        task: str,
        params: Mapping[str, Any] | None = None,
        *,
        reference: str | None = None,
        wait: bool = False,
        wait_timeout: float | None = None,
        idempotency_key: str | None = None,
        namespace: str | None = None,
    ) -> schemas.RunOut:
        """Run `task` once now. With `wait`, return once the run ended, or after `wait_timeout` seconds (None:
        however long it takes) with the run as it is then; `idempotency_key`: the same key returns the same run."""
        body = _body(ep.RUN_NOW, _given(params=params, reference=reference))
        deadline = _deadline(wait_timeout)
        query = {"wait": True, "wait_timeout": _step(deadline)} if wait else {}
        out = await self._call(ep.RUN_NOW, (task,), namespace, query, body, idempotency_key)
        if wait and not out.is_done and _left(deadline) > 0:
            out = await self.wait_run(out.id, wait_timeout=_left(deadline), namespace=out.namespace or namespace)
        return out

    @uses(
        ep.VALIDATE_RUN_NOW,
        fixed=("validate_only",),
        omitted={"wait": "nothing is created to wait for", "wait_timeout": "as wait", "Idempotency-Key": "as wait"},
    )
    async def validate_run(
        self,
        task: str,
        params: Mapping[str, Any] | None = None,
        *,
        reference: str | None = None,
        namespace: str | None = None,
    ) -> schemas.ValidateResult:
        """Check what `run` would create (params against the task's schema, the API server's own admission);
        writes nothing. A bad request raises `Invalid` with the same errors `run` would."""
        body = _body(ep.VALIDATE_RUN_NOW, _given(params=params, reference=reference))
        return await self._call(ep.VALIDATE_RUN_NOW, (task,), namespace, {"validate_only": True}, body)

    @uses(ep.RUN_002, omitted={"$schema": "ignored by the API", "validate_only": NOT_EXPOSED_VALIDATE})
    async def trigger(
        self,
        task: str,
        params: Mapping[str, Any] | None = None,
        *,
        wait: bool = False,
        wait_timeout: int | None = None,
        idempotency_key: str | None = None,
        namespace: str | None = None,
    ) -> schemas.Run002:
        """Seed 002's trigger: the run in seed 002's shape (`wait_timeout`: 1-3600 s, the API's default 300)."""
        fields = {"params": params}
        return await self._trigger(ep.RUN_002, (task,), namespace, fields, wait, wait_timeout, idempotency_key)

    @uses(
        ep.RUN_003,
        omitted={"wait_for_completion": "the `wait` argument does the same", "validate_only": NOT_EXPOSED_VALIDATE},
    )
    async def run_with_overrides(
        self,
        task: str,
        *,
        prompt: str | None = None,
        model: str | None = None,
        provider: schemas.Provider | None = None,
        response_format: str | None = None,
        json_schema: Any = None,
        use_cached_workflow: bool | None = None,
        webhook_url: str | None = None,
        params: Mapping[str, Any] | None = None,
        wait: bool = False,
        wait_timeout: int | None = None,
        idempotency_key: str | None = None,
        namespace: str | None = None,
    ) -> schemas.TaskRun003:
        """Seed 003's run with per-run overrides (those the task declares in `spec.overrides`)."""
        fields = {
            "prompt": prompt,
            "model": model,
            "provider": provider,
            "response_format": response_format,
            "json_schema": json_schema,
            "use_cached_workflow": use_cached_workflow,
            "webhook_url": webhook_url,
            "params": params,
        }
        return await self._trigger(ep.RUN_003, (task,), namespace, fields, wait, wait_timeout, idempotency_key)

    @uses(ep.CREATE_EXECUTION, omitted={"validate_only": NOT_EXPOSED_VALIDATE})
    async def create_execution(
        self,
        *,
        task_id: str | None = None,
        task_version_id: str | None = None,
        agent_id: str | None = None,
        version: str | None = None,
        params: Mapping[str, Any] | None = None,
        reference: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        callback_url: str | None = None,
        priority: int | None = None,
        scheduled_at: dt.datetime | None = None,
        wait: bool = False,
        wait_timeout: int | None = None,
        idempotency_key: str | None = None,
        namespace: str | None = None,
    ) -> schemas.Execution:
        """Seed 000's execution: queue a run for an agent, pin a version, set priority, metadata, a callback."""
        fields = {
            "task_id": task_id,
            "task_version_id": task_version_id,
            "agent_id": agent_id,
            "version": version,
            "params": params,
            "reference": reference,
            "metadata": metadata,
            "callback_url": callback_url,
            "priority": priority,
            "scheduled_at": scheduled_at,
        }
        return await self._trigger(ep.CREATE_EXECUTION, (), namespace, fields, wait, wait_timeout, idempotency_key)

    @uses(ep.GET_EXECUTION)
    async def get_execution(self, execution: str, *, namespace: str | None = None) -> schemas.Execution:
        return await self._call(ep.GET_EXECUTION, (execution,), namespace)

    @uses(ep.CANCEL_EXECUTION)
    async def cancel_execution(self, execution: str, *, namespace: str | None = None) -> schemas.Execution:
        return await self._call(ep.CANCEL_EXECUTION, (execution,), namespace)

    @uses(ep.RUN_ACTION, omitted={"validate_only": NOT_EXPOSED_VALIDATE})
    async def run_action(
        self,
        name: str,
        mode: Mode,
        *,
        input: Mapping[str, Any] | None = None,
        inputs: list[Any] | None = None,
        scheduled_at: dt.datetime | None = None,
        callback_url: str | None = None,
        wait: bool | None = None,
        wait_timeout: int | None = None,
        idempotency_key: str | None = None,
        namespace: str | None = None,
    ) -> schemas.RunOut:
        """Seed 004's action: `live` (waits by default), `async` or `schedule`; `inputs` makes a batch run."""
        fields = {"input": input, "inputs": inputs, "scheduled_at": scheduled_at, "callback_url": callback_url}
        return await self._trigger(ep.RUN_ACTION, (name, mode), namespace, fields, wait, wait_timeout, idempotency_key)

    @uses(ep.POST_EVENT)
    async def post_event(
        self,
        name: str,
        *,
        id: str | None = None,
        params: Mapping[str, Any] | None = None,
        namespace: str | None = None,
    ) -> schemas.EventResult:
        """Fire every task listening to event `name`; the same `id` fires each task once (so it is retried)."""
        body = _body(ep.POST_EVENT, _given(id=id, params=params))
        return await self._call(ep.POST_EVENT, (name,), namespace, body=body, safe=id is not None)

    # --- runs ------------------------------------------------------------------------------------

    @uses(ep.LIST_RUNS)
    async def list_runs(
        self,
        *,
        status: str | None = None,
        action_name: str | None = None,
        task_name: str | None = None,
        execution_mode: str | None = None,
        uid: str | None = None,
        user_uid: str | None = None,
        workspace_uid: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        namespace: str | None = None,
    ) -> schemas.RunList:
        query = _given(
            status=status,
            action_name=action_name,
            task_name=task_name,
            execution_mode=execution_mode,
            uid=uid,
            user_uid=user_uid,
            workspace_uid=workspace_uid,
            sort=sort,
            limit=limit,
            offset=offset,
        )
        return await self._call(ep.LIST_RUNS, (), namespace, query)

    @uses(ep.GET_RUN)
    async def get_run(
        self, run: str, *, wait: bool = False, wait_timeout: int | None = None, namespace: str | None = None
    ) -> schemas.RunOut:
        """The run by name or uid; with `wait`, one request held until it ends or `wait_timeout` (≤ 3600 s)."""
        query = _given(wait=wait or None, wait_timeout=wait_timeout)
        return await self._call(ep.GET_RUN, (run,), namespace, query)

    @uses(ep.GET_RUN, fixed=("wait",))
    async def wait_run(
        self, run: str, *, wait_timeout: float | None = None, namespace: str | None = None
    ) -> schemas.RunOut:
        """The run once it ended, or after `wait_timeout` seconds (None: however long it takes) as it is then;
        a wait longer than the API holds one request (3600 s) is several requests."""
        deadline = _deadline(wait_timeout)
        while True:
            out = await self._call(ep.GET_RUN, (run,), namespace, {"wait": True, "wait_timeout": _step(deadline)})
            if out.is_done or _left(deadline) <= 0:
                return out

    @uses(ep.CANCEL_RUN)
    async def cancel_run(self, run: str, *, namespace: str | None = None) -> schemas.RunOut:
        return await self._call(ep.CANCEL_RUN, (run,), namespace)

    @uses(ep.RESUME_RUN)
    async def resume_run(self, run: str, *, namespace: str | None = None) -> schemas.RunOut:
        """Rerun a STOPPED, FAILED or PARTIAL_SUCCEEDED run (a batch run: only what did not succeed)."""
        return await self._call(ep.RESUME_RUN, (run,), namespace)

    @uses(ep.RUN_LOGS, fixed=("follow",))
    async def logs(self, run: str, *, container: str | None = None, namespace: str | None = None) -> str:
        """The log of the run's current attempt, as it is now."""
        query = _given(container=container)
        async with await self._send(ep.RUN_LOGS, (run,), namespace, query) as resp:
            return await resp.text(errors="replace")

    @uses(ep.RUN_LOGS, fixed=("follow",))
    async def follow_logs(
        self, run: str, *, container: str | None = None, namespace: str | None = None
    ) -> AsyncIterator[str]:
        """The log of the run's current attempt, streamed until its container ends (or the API's stream limit)."""
        query = {"follow": True, **_given(container=container)}
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        async with await self._send(ep.RUN_LOGS, (run,), namespace, query, read_timeout=None) as resp:
            async for chunk in resp.content.iter_any():
                if text := decoder.decode(chunk):
                    yield text
            if rest := decoder.decode(b"", final=True):
                yield rest

    @uses(ep.RUN_RESULTS)
    async def results(
        self,
        run: str,
        *,
        status: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        namespace: str | None = None,
    ) -> schemas.InputResultList:
        """A batch run's per-input results, by ascending index, a page at a time."""
        query = _given(status=status, limit=limit, offset=offset)
        return await self._call(ep.RUN_RESULTS, (run,), namespace, query)

    # --- the exchange ----------------------------------------------------------------------------

    async def _trigger(
        self,
        endpoint: Endpoint[R],
        path: tuple[str, ...],
        namespace: str | None,
        fields: Mapping[str, Any],
        wait: bool | None,
        wait_timeout: int | None,
        idempotency_key: str | None,
    ) -> R:
        """A trigger of one of the seeds' shapes: the fields given, `wait` and `wait_timeout` as the API has them."""
        body = _body(endpoint, _given(**fields))
        query = _given(wait=wait, wait_timeout=wait_timeout)
        return await self._call(endpoint, path, namespace, query, body, idempotency_key)

    async def _call(
        self,
        endpoint: Endpoint[R],
        path: tuple[str, ...],
        namespace: str | None,
        query: Mapping[str, Any] | None = None,
        body: BaseModel | None = None,
        idempotency_key: str | None = None,
        safe: bool | None = None,
    ) -> R:
        """Send, and parse the answer into the endpoint's model."""
        assert endpoint.response is not None  # the table's JSON endpoints all name one
        async with await self._send(endpoint, path, namespace, query, body, idempotency_key, safe) as resp:
            return endpoint.response.model_validate_json(await resp.read())

    async def _send(
        self,
        endpoint: Endpoint[Any],
        path: tuple[str, ...],
        namespace: str | None,
        query: Mapping[str, Any] | None = None,
        body: BaseModel | None = None,
        idempotency_key: str | None = None,
        safe: bool | None = None,
        read_timeout: float | Literal["default"] | None = "default",
    ) -> aiohttp.ClientResponse:
        """A 2xx answer (open: the caller reads and releases it), after the retries the policy allows.

        A waiting request's read timeout is its wait plus `timeout`; `read_timeout=None` waits forever (a log
        followed). A 401 makes the token be read again once (it may just have rotated).
        """
        names = endpoint.path.count("{")
        assert len(path) == names, endpoint.path
        url = self.base_url + _fill(endpoint.path, path)
        params = {k: _query_value(v) for k, v in (query or {}).items()}
        ns = namespace or self.namespace
        if ns:
            params["namespace"] = ns
        data = None if body is None else json.dumps(body.model_dump(mode="json", by_alias=True, exclude_unset=True))
        if read_timeout == "default":
            read_timeout = self.timeout + _held_for(endpoint, query or {})
        timeout = aiohttp.ClientTimeout(total=None, connect=CONNECT_SECONDS, sock_read=read_timeout)
        may_resend = endpoint.safe if safe is None else safe
        may_resend = may_resend or idempotency_key is not None
        attempt, token_reread = 0, False
        while True:
            attempt += 1
            headers = {"Authorization": f"Bearer {self.tokens.get()}", "Accept": "application/json, text/plain"}
            if idempotency_key is not None:
                headers["Idempotency-Key"] = idempotency_key
            if data is not None:
                headers["Content-Type"] = "application/json"
            try:
                resp = await self._client().request(
                    endpoint.method.upper(), url, params=params, data=data, headers=headers, timeout=timeout
                )
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                delay = self.retry.after_broken_connection(attempt, may_resend)
                if delay is None:
                    raise TransportError(f"{endpoint.method.upper()} {url}: {exc!r}") from exc
                await asyncio.sleep(delay)
                continue
            if resp.status < 400:
                return resp
            async with resp:
                text = await resp.text(errors="replace")
            if resp.status == 401 and not token_reread and self.tokens.refused():
                token_reread = True
                continue
            error = error_for(resp.status, resp.reason or "", text)
            retry_after = resp.headers.get("Retry-After")
            delay = self.retry.after_answer(attempt, resp.status, retry_after, error.problem, may_resend)
            if delay is None:
                raise error
            await asyncio.sleep(delay)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(raise_for_status=False)
        return self._session


def _held_for(endpoint: Endpoint[Any], query: Mapping[str, Any]) -> float:
    """How long the API may hold this request before answering: its wait (a live action waits unless told not to)."""
    waits = query.get("wait") is True or (endpoint is ep.RUN_ACTION and query.get("wait") is None)
    return float(query.get("wait_timeout") or schemas.WAIT_TIMEOUT_DEFAULT) if waits else 0.0


def _fill(template: str, values: tuple[str, ...]) -> str:
    """The path with each `{name}` replaced, in order, by the value quoted as one segment."""
    out, rest = "", template
    for value in values:
        head, _, rest = rest.partition("{")
        _, _, rest = rest.partition("}")
        out += head + quote(value, safe="")
    return out + rest


def _deadline(seconds: float | None) -> float | None:
    return None if seconds is None else asyncio.get_running_loop().time() + max(0.0, seconds)


def _left(deadline: float | None) -> float:
    return math.inf if deadline is None else deadline - asyncio.get_running_loop().time()


def _step(deadline: float | None) -> int:
    """The wait_timeout of the next waiting request: what is left, in whole seconds, within the API's bounds."""
    left = _left(deadline)
    return WAIT_STEP_MAX if left >= WAIT_STEP_MAX else max(1, math.ceil(left))
