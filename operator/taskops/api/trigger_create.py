"""The one path every trigger shape takes: validate, (dry-)create the Run, replay or wait, answer.

Idempotency: with an `Idempotency-Key`, the Run's name is a function of
(namespace, caller, key), so the API server's own uniqueness decides a race
between two requests; the loser reads the winner's Run and compares the
request hash stored on it (same → replay, different → 422).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from taskops.api import authorization, schemas
from taskops.api.bodies import BODY_COST
from taskops.api.context import Services, query_bool, query_int, reply, services
from taskops.api.limits import HOLDS, hold
from taskops.api.problems import Problem, invalid
from taskops.api.trigger_build import Trigger, build_run, check, request_hash
from taskops.clients import batchinputs
from taskops.clients.errors import ApiError, NotFound
from taskops.clients.resources import AGENTS, REVISIONS, RUNS
from taskops.domain.access import authorship
from taskops.domain.execution import batch
from taskops.domain.execution.versions import Version, from_revision
from taskops.domain.resources import apinames, names
from taskops.domain.resources.params import FieldError

IDEMPOTENCY_HEADER = "Idempotency-Key"
Shape = Callable[[dict[str, Any], str | None, bool | None], BaseModel]


async def _versions(svc: Services, trigger: Trigger) -> list[Version]:
    if (trigger.version or "current").strip() == "current":
        # "current" is the Task's spec as it is now; no need to read the history.
        return []
    task = trigger.task.metadata
    items = await svc.client.list(REVISIONS, task.namespace, label_selector=f"{names.LABEL_TASK}={task.name}")
    return [from_revision(obj) for obj in items]


async def _check_agent(svc: Services, trigger: Trigger, ns: str) -> list[FieldError]:
    agent = trigger.agent or trigger.task.spec.agent
    if not agent:
        return []
    try:
        await svc.client.get(AGENTS, ns, agent)
    except NotFound:
        return [FieldError("body.agent_id", f'agent "{agent}" not found in namespace "{ns}"', agent)]
    return []


def wait_options(request: web.Request, wait_default: bool | None = False) -> tuple[bool, int]:
    """`wait` and `wait_timeout`; a waiting request takes one of the caller's waiter slots (429/503 when full),
    before anything is created, until it is answered."""
    wait = bool(query_bool(request, "wait", wait_default))
    timeout = query_int(request, "wait_timeout", schemas.WAIT_TIMEOUT_DEFAULT, 1, schemas.WAIT_TIMEOUT_MAX)
    if wait:
        holds = request.app[HOLDS]
        cost = request.get(BODY_COST, 0)
        if cost > holds.bodies.per_caller:
            # Held for up to an hour, a body may not take more than a caller's share of the body budget.
            detail = f"a body this costly to hold (~{cost // 2**20} MiB parsed) is not waited on; poll the run instead"
            raise invalid([FieldError("query.wait", detail, True)])
        hold(request, holds.waiters)
    return wait, timeout


async def fire(
    request: web.Request,
    trigger: Trigger,
    user: str,
    kind: str,
    raw: Any,
    shape: Shape,
    wait: bool,
    wait_timeout: int,
    task_name: str,
    inputs: list[Any] | None = None,
) -> web.Response:
    """Validate, create the Run (and, for a batch, its input chunks), then answer or wait."""
    svc = services(request)
    ns = trigger.task.metadata.namespace or ""
    checked = check(trigger, await _versions(svc, trigger), svc.now())
    errors = checked.errors + await _check_agent(svc, trigger, ns)
    chunks: list[str] = []
    chunk_size = 0
    if inputs is not None:
        try:
            chunk_size, chunks = batch.plan_chunks(inputs)
        except ValueError as exc:
            errors.append(FieldError("body.inputs", str(exc), len(inputs)))
    if errors:
        raise invalid(errors)
    if trigger.agent:
        # A Run that names an Agent gets its jobDefaults (a Task's own agent was judged when the Task was written).
        caller_ = await svc.auth.authenticate(request)
        await authorization.require(request, caller_, ns, authorship.agent_need(trigger.agent, "body.agent_id"))
    key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    name = None
    if key:
        if len(key) > 255:
            raise invalid([FieldError("header.Idempotency-Key", "at most 255 characters", key[:40] + "...")])
        name = apinames.idempotent_run_name(ns, user, key)
        digest = request_hash(kind, trigger.task.metadata.name, raw)
        trigger.annotations[apinames.ANNOTATION_REQUEST_HASH] = digest
        trigger.annotations[apinames.ANNOTATION_IDEMPOTENCY_KEY] = key[:253]
    if chunks and name is None:
        # The chunks' names derive from the Run's, so a batch Run is named here rather than by generateName.
        name = apinames.run_name_prefix(trigger.task.metadata.name) + secrets.token_hex(3)[:5]
    run = build_run(trigger, svc.now(), name)
    if chunks:
        assert name is not None
        run["spec"]["inputs"] = {
            "count": len(inputs or []),
            "chunkSize": chunk_size,
            "configMaps": batch.chunk_names(name, len(chunks)),
        }
    if query_bool(request, "validate_only"):
        await svc.client.create(RUNS, ns, run, dry_run=True)
        version = checked.version.number if checked.version else trigger.task.status.active_version
        result = schemas.ValidateResult(would_create=True, task_name=task_name, version=version, params=checked.params)
        return reply(result)
    replay = False
    if key:
        # The Run's name is the key's: a Run of that name is this request made before (a replay), or another
        # request under the same key. Without a key, a taken name is the API server's 409.
        created, made = await svc.client.create_or_get(RUNS, ns, run)
        replay = not made
        stored = (created["metadata"].get("annotations") or {}).get(apinames.ANNOTATION_REQUEST_HASH)
        if replay and stored != trigger.annotations[apinames.ANNOTATION_REQUEST_HASH]:
            raise Problem(
                422,
                "Unprocessable Entity",
                f'Idempotency-Key "{key}" was used before with a different request (run "{name}")',
                [FieldError("header.Idempotency-Key", "reused with a different request body", key)],
                "https://taskops.dev/problems/idempotency-mismatch",
            )
    else:
        created = await svc.client.create(RUNS, ns, run)
    if chunks:
        await _write_chunks(svc, created, chunks)
    svc.cache.runs.upsert(created)
    return await respond(svc, created, shape, task_name, replay, wait, wait_timeout)


async def _write_chunks(svc: Services, run: dict[str, Any], chunks: list[str]) -> None:
    """Write a batch Run's input chunks; on failure the Run is deleted (and so what was written)."""
    try:
        await batchinputs.write_chunks(svc.client, run, chunks)
    except ApiError as exc:
        raise Problem(
            502,
            "Bad Gateway",
            f"writing the inputs failed ({exc.status}: {exc.message}); the run was deleted, nothing was queued",
        ) from exc


async def respond(
    svc: Services,
    run: dict[str, Any],
    shape: Shape,
    task_name: str | None,
    replay: bool | None,
    wait: bool,
    wait_timeout: int,
) -> web.Response:
    """The Run in the route's shape: 201 when just created, 200 for a replay or after waiting."""
    if wait:
        meta = run["metadata"]
        run = await svc.cache.wait(meta["namespace"], meta["name"], wait_timeout) or run
        return _shared_reply(run, shape, task_name, replay)
    return reply(shape(run, task_name, replay), 200 if replay else 201)


_RENDERED: dict[tuple[str, str, Shape, str | None, bool | None], bytes] = {}


def _shared_reply(run: dict[str, Any], shape: Shape, task_name: str | None, replay: bool | None) -> web.Response:
    """One rendering per (Run version, shape): when a Run ends, its thousand waiters share one body."""
    meta = run["metadata"]
    key = (meta.get("uid") or meta["name"], meta.get("resourceVersion") or "", shape, task_name, replay)
    text = _RENDERED.get(key)
    if text is None:
        if len(_RENDERED) > 1000:
            _RENDERED.clear()
        text = _RENDERED[key] = shape(run, task_name, replay).model_dump_json().encode()
    return web.Response(body=text, content_type="application/json")
