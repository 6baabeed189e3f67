"""Seed 001's Tasks API: create, list, get, update, delete, and the lifecycle actions.

Each handler: authorise, validate, one write of the Task custom resource.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import secrets
from typing import Any, get_args

from aiohttp import web
from pydantic.alias_generators import to_camel, to_snake

from taskops.api import authorization, schemas, views
from taskops.api.context import (
    Services,
    body,
    caller,
    namespace,
    query_int,
    reply,
    services,
)
from taskops.api.lookups import find_task
from taskops.api.problems import Problem, invalid
from taskops.clients.errors import AlreadyExists, NotFound
from taskops.clients.resources import TASKS
from taskops.domain.access import authorship
from taskops.domain.resources import apinames, mergepatch, priority, results, timefmt
from taskops.domain.resources.params import FieldError
from taskops.domain.resources.task import ScheduleKind, TaskSpec, TaskState
from taskops.domain.scheduling import recurrence

routes = web.RouteTableDef()
PREFIX = "/api/v1/tasks"


def _spec_patch(fields: dict[str, Any]) -> dict[str, Any]:
    """API (snake_case) fields → the Task spec's camelCase, with seed 001's priority scale mapped."""
    fields = dict(fields)
    native = fields.pop("queue_priority", None)
    scale = fields.pop("priority", None)
    if native is not None:
        fields["priority"] = native
    elif scale is not None:
        fields["priority"] = priority.from_seed001(scale)
    return {to_camel(k): v for k, v in fields.items()}


def _spec_errors(spec: TaskSpec, now: dt.datetime) -> list[FieldError]:
    """What the operator would refuse in `spec`: its schedule (a bounded search) and its resultSchema."""
    errors = []
    try:
        recurrence.zone(spec.timezone)
        recurrence.parse(
            spec.schedule_kind,
            spec.schedule_expr,
            spec.timezone,
            spec.dst_policy,
            now=now,
        )
    except recurrence.ScheduleError as exc:
        where = to_snake(exc.field)
        errors.append(FieldError(f"body.{where}", exc.message, getattr(spec, where, None)))
    if spec.result_schema is not None and (problem := results.schema_error(spec.result_schema)) is not None:
        errors.append(FieldError("body.result_schema", problem, None))
    return errors


async def _check_spec(spec: TaskSpec, svc: Services) -> None:
    # A schedule search takes up to its bound (domain/scheduling/recurrence.py): never on the event loop.
    errors = await asyncio.to_thread(_spec_errors, spec, svc.now())
    if errors:
        raise invalid(errors)


def _default_name(title: str | None) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", (title or "task").lower()).strip("-")[:40].strip("-") or "task"
    return f"{slug}-{secrets.token_hex(3)}"


@routes.post(PREFIX)
async def create_task(request: web.Request) -> web.Response:
    svc, ns = services(request), namespace(request)
    user = await caller(request, "create", "tasks", ns)
    data, _ = await body(request, schemas.TaskCreate)
    fields = data.model_dump(exclude_unset=True, mode="json")
    api_name = fields.pop("name", None) or _default_name(fields.get("title"))
    fields.setdefault("created_by", user.name)
    spec = TaskSpec.model_validate(_spec_patch(fields))
    await _check_spec(spec, svc)
    body_spec = spec.to_k8s()
    await authorization.require(request, user, ns, authorship.task_needs(body_spec, None, "body"))
    object_name = apinames.task_object_name(api_name)
    meta: dict[str, Any] = {"name": object_name, "namespace": ns}
    if object_name != api_name:
        meta["annotations"] = {apinames.ANNOTATION_API_NAME: api_name}
    task = {"apiVersion": TASKS.api_version, "kind": "Task", "metadata": meta, "spec": body_spec}
    try:
        created = await svc.client.create(TASKS, ns, task)
    except AlreadyExists:
        raise Problem(409, "Conflict", f'task "{api_name}" already exists in namespace "{ns}"') from None
    svc.cache.tasks.upsert(created)
    return reply(views.task_out(created), 201)


@routes.get(PREFIX)
async def list_tasks(request: web.Request) -> web.Response:
    svc, ns = services(request), namespace(request)
    await caller(request, "list", "tasks", ns)
    limit = query_int(request, "limit", 50, 1, 1000)
    offset = query_int(request, "offset", 0, 0, 10**9)
    wanted = {k: request.query[k] for k in ("status", "created_by", "schedule_kind") if request.query.get(k)}
    if wanted.get("status") not in (None, *get_args(TaskState)):
        raise invalid([FieldError("query.status", "must be active, paused or canceled", wanted["status"])])
    if wanted.get("schedule_kind") not in (None, *get_args(ScheduleKind)):
        kind = wanted["schedule_kind"]
        raise invalid([FieldError("query.schedule_kind", "must be cron, rrule, once or event", kind)])
    out = views.select_tasks([views.task_out(t) for t in svc.cache.tasks_in(ns)], wanted)
    page = out[offset : offset + limit]
    return reply(schemas.TaskList(items=page, total=len(out), limit=limit, offset=offset))


@routes.get(PREFIX + "/{id}")
async def get_task(request: web.Request) -> web.Response:
    svc, ns = services(request), namespace(request)
    await caller(request, "get", "tasks", ns)
    return reply(views.task_out(await find_task(svc, ns, request.match_info["id"])))


async def _patch_spec(request: web.Request, ns: str, task: dict[str, Any], spec: dict[str, Any]) -> web.Response:
    svc = services(request)
    patched = await svc.client.patch(TASKS, ns, task["metadata"]["name"], {"spec": spec})
    svc.cache.tasks.upsert(patched)
    return reply(views.task_out(patched))


@routes.put(PREFIX + "/{id}")
async def update_task(request: web.Request) -> web.Response:
    svc, ns = services(request), namespace(request)
    user = await caller(request, "patch", "tasks", ns)
    task = await find_task(svc, ns, request.match_info["id"])
    data, _ = await body(request, schemas.TaskUpdate)
    patch = _spec_patch(data.model_dump(exclude_unset=True, mode="json"))
    stored = task.get("spec") or {}
    # What the API server will store (a merge patch): nested fields the body leaves out are kept.
    result = mergepatch.merged(stored, patch)
    merged = TaskSpec.model_validate(result)
    await _check_spec(merged, svc)
    await authorization.require(request, user, ns, authorship.task_needs(result, stored, "body"))
    return await _patch_spec(request, ns, task, patch)


@routes.delete(PREFIX + "/{id}")
async def delete_task(request: web.Request) -> web.Response:
    svc, ns = services(request), namespace(request)
    await caller(request, "delete", "tasks", ns)
    task = await find_task(svc, ns, request.match_info["id"])
    deleted = task
    with contextlib.suppress(NotFound):
        deleted = await svc.client.delete(TASKS, ns, task["metadata"]["name"])
    if deleted.get("kind") == "Task" and not deleted["metadata"].get("finalizers"):
        svc.cache.tasks.forget(task, deleted)  # a GET right after the 204 answers 404
    return web.Response(status=204)


async def _set_state(request: web.Request, state: str) -> web.Response:
    svc, ns = services(request), namespace(request)
    await caller(request, "patch", "tasks", ns)
    task = await find_task(svc, ns, request.match_info["id"])
    current = (task.get("spec") or {}).get("state") or "active"
    if current == "canceled" and state != "canceled":
        raise Problem(409, "Conflict", "the task is canceled; a canceled task cannot be paused or resumed")
    spec: dict[str, Any] = {"state": state}
    if state == "active":
        spec["snooze"] = None
    return await _patch_spec(request, ns, task, spec)


@routes.post(PREFIX + "/{id}/pause")
async def pause_task(request: web.Request) -> web.Response:
    return await _set_state(request, "paused")


@routes.post(PREFIX + "/{id}/resume")
async def resume_task(request: web.Request) -> web.Response:
    return await _set_state(request, "active")


@routes.post(PREFIX + "/{id}/cancel")
async def cancel_task(request: web.Request) -> web.Response:
    return await _set_state(request, "canceled")


@routes.post(PREFIX + "/{id}/snooze")
async def snooze_task(request: web.Request) -> web.Response:
    svc, ns = services(request), namespace(request)
    await caller(request, "patch", "tasks", ns)
    task = await find_task(svc, ns, request.match_info["id"])
    data, _ = await body(request, schemas.SnoozeRequest)
    until = recurrence.snooze_until(svc.now(), data.delay_seconds)
    snooze = {"until": timefmt.stamp(until), "reason": data.reason}
    return await _patch_spec(request, ns, task, {"snooze": snooze})
