"""Triggering runs in each seed's shape: run_now, run (002), runs (003), executions (000), actions (004), events."""

from __future__ import annotations

import contextlib
import functools
import uuid
from typing import Any, TypeVar, get_args

from aiohttp import web
from pydantic import BaseModel

from taskops.api import schemas, views
from taskops.api.context import (
    body,
    caller,
    namespace,
    query_int,
    reply,
    seed_of,
    services,
)
from taskops.api.lookups import find_agent, find_task, find_version
from taskops.api.problems import Problem, invalid
from taskops.api.trigger_build import Trigger, build_run, check, listens
from taskops.api.trigger_create import create_schedule, fire, wait_options
from taskops.clients.errors import NotFound
from taskops.clients.resources import RUNS, TASKS
from taskops.domain.resources import apinames, names
from taskops.domain.resources.params import FieldError
from taskops.domain.resources.run import ExecutionMode
from taskops.domain.resources.task import Task

routes = web.RouteTableDef()
B = TypeVar("B", bound=BaseModel)


async def _start(request: web.Request, ns: str, ident: str) -> tuple[Task, str, str]:
    """The Task a trigger names, once the caller may create Runs: (Task, caller's name, Task's API name)."""
    user = await caller(request, "create", "runs", ns)
    raw = await find_task(services(request), ns, ident)
    api_name = apinames.task_api_name(raw["metadata"]["name"], raw["metadata"].get("annotations"))
    return Task.model_validate(raw), user.name, api_name


async def _start_on_path(request: web.Request, model: type[B]) -> tuple[Task, str, str, B, Any]:
    """The head the /tasks/{id}/run* shapes share: `_start` on the Task in the path, then the optional body."""
    task, user, api_name = await _start(request, namespace(request), request.match_info["id"])
    data, raw = await body(request, model, optional=True)
    return task, user, api_name, data, raw


# --- triggering ------------------------------------------------------------------------------------


@routes.post("/api/v1/tasks/{id}/run_now")
async def run_now(request: web.Request) -> web.Response:
    """Seed 001: one run now, outside the schedule."""
    task, user, api_name, data, raw = await _start_on_path(request, schemas.RunNowRequest)
    wait, timeout = wait_options(request)
    trigger = Trigger(task, "api", params=data.params, reference=data.reference, user=user)
    return await fire(request, trigger, user, "run_now", raw, views.run_out, wait, timeout, api_name)


@routes.post("/api/v1/tasks/{id}/run")
async def run_002(request: web.Request) -> web.Response:
    """Seed 002: trigger, optionally wait. At seed 002's own path, string param values take their declared types."""
    task, user, api_name, data, raw = await _start_on_path(request, schemas.TaskRunRequest)
    wait, timeout = wait_options(request)
    trigger = Trigger(task, "api", params=data.params, user=user, coerce_strings=seed_of(request) == "002")
    shape = functools.partial(views.run002, now=services(request).now())
    return await fire(request, trigger, user, "run", raw, shape, wait, timeout, api_name)


@routes.post("/api/v1/tasks/{id}/runs")
async def run_003(request: web.Request) -> web.Response:
    """Seed 003: per-run overrides; `wait_for_completion` in the body."""
    task, user, api_name, data, raw = await _start_on_path(request, schemas.TaskRunsRequest)
    wait, timeout = wait_options(request, wait_default=data.wait_for_completion)
    overrides = data.model_dump(exclude_none=True, exclude={"wait_for_completion", "webhook_url", "params"})
    trigger = Trigger(
        task,
        "api",
        params=data.params,
        overrides=overrides,
        callback_url=data.webhook_url,
        callback_location="body.webhook_url",
        user=user,
    )
    return await fire(request, trigger, user, "runs", raw, views.task_run003, wait, timeout, api_name)


def _task_uid(revision: dict[str, Any]) -> str | None:
    """The uid of the Task owning a version (its ControllerRevision's owner)."""
    owners = revision["metadata"].get("ownerReferences") or []
    return next((r.get("uid") for r in owners if r.get("kind") == "Task"), None)


@routes.post("/api/v1/integrations/executions")
async def create_execution(request: web.Request) -> web.Response:
    """Seed 000: queue an execution for an agent."""
    svc, ns = services(request), namespace(request)
    await caller(request, "create", "runs", ns)
    data, raw = await body(request, schemas.ExecutionRequest)
    ident, version, agent = data.task_id, data.version, data.agent_id
    if data.task_version_id:
        # The version's id is its ControllerRevision's name; seed 000 sends its uid, which is accepted too.
        revision = await find_version(svc, ns, data.task_version_id)
        if revision is None:
            raise invalid([FieldError("body.task_version_id", "no such task version", data.task_version_id)])
        owner = (revision["metadata"].get("labels") or {}).get(names.LABEL_TASK)
        if not owner or (ident and ident != owner and ident != _task_uid(revision)):
            raise invalid([FieldError("body.task_version_id", "not a version of this task", data.task_version_id)])
        ident, version = owner, revision["metadata"]["name"]
    if not ident:
        raise invalid([FieldError("body.task_id", "task_id or task_version_id is required", None)])
    if agent:
        # By name or uid; the Run names the Agent object. An unknown one is refused with the other errors, later.
        found = await find_agent(svc, ns, agent)
        agent = found["metadata"]["name"] if found is not None else agent
    task, user, api_name = await _start(request, ns, ident)
    wait, timeout = wait_options(request)
    trigger = Trigger(
        task,
        data.triggered_by,
        params=data.params,
        version=version,
        reference=data.reference,
        metadata=data.metadata,
        callback_url=data.callback_url,
        priority=data.priority,
        agent=agent,
        scheduled_at=data.scheduled_at,
        user=user,
    )
    return await fire(request, trigger, user, "execution", raw, views.execution, wait, timeout, api_name)


@routes.post("/api/v1/actions/{name}/{mode}")
async def run_action(request: web.Request) -> web.Response:
    """Seed 004: live (wait), async, or schedule (at `scheduled_at`)."""
    ns = namespace(request)
    mode = request.match_info["mode"].upper()
    if mode not in get_args(ExecutionMode):
        raise invalid([FieldError("path.mode", "must be live, async or schedule", request.match_info["mode"])])
    task, user, api_name = await _start(request, ns, request.match_info["name"])
    data, raw = await body(request, schemas.ActionRunRequest, optional=True)
    errors = []
    if data.input is not None and data.inputs is not None:
        errors.append(FieldError("body.inputs", "send input or inputs, not both", None))
    if mode == "LIVE" and data.inputs is not None:
        errors.append(FieldError("body.inputs", "live mode runs one input: send input", len(data.inputs)))
    if mode == "SCHEDULE" and (data.scheduled_at is None) == (data.cron is None):
        errors.append(FieldError("body.scheduled_at", "schedule mode needs scheduled_at (one run) or cron", None))
    if mode != "SCHEDULE" and (data.cron or data.timezone) is not None:
        errors.append(FieldError("body.cron", "cron and timezone are for schedule mode", data.cron))
    wait, timeout = wait_options(request, wait_default=mode == "LIVE")
    if wait and data.inputs is not None and mode != "LIVE":
        # A batch body is the largest there is: it is not held through a wait (docs/security.md §4).
        errors.append(FieldError("query.wait", "a batch run is not waited on: GET /api/v1/runs/{id}?wait=true", True))
    if errors:
        raise invalid(errors)
    # `inputs` is a batch run: one Indexed Job over all of them (docs/batch.md); `input` is the params of one run.
    trigger = Trigger(
        task,
        "api",
        params=data.input,
        params_location="body.input",
        callback_url=data.callback_url,
        scheduled_at=data.scheduled_at,
        execution_mode=mode,
        inputs=data.inputs,
        user=user,
    )
    if data.cron is not None:
        return await create_schedule(request, trigger, data.cron, data.timezone or "UTC", api_name, raw)
    kind = f"action-{mode}"
    return await fire(request, trigger, user, kind, raw, views.run_out, wait, timeout, api_name)


@routes.post("/api/v1/events/{name}")
async def post_event(request: web.Request) -> web.Response:
    """Fire every event Task listening to `name`, once per event id."""
    svc, ns = services(request), namespace(request)
    user = await caller(request, "create", "runs", ns)
    event = request.match_info["name"]
    data, _ = await body(request, schemas.EventRequest, optional=True)
    event_id = data.id or uuid.uuid4().hex
    listening = [Task.model_validate(obj) for obj in svc.cache.tasks_in(ns) if listens(obj, event)]
    triggers = [Trigger(t, "event", params=data.params, user=user.name) for t in listening]
    errors = [e for t in triggers for e in check(t, [], svc.now()).errors]
    if errors:
        raise invalid(errors)
    runs = []
    for trigger in triggers:
        trigger.annotations[apinames.ANNOTATION_EVENT_ID] = event_id[:253]
        trigger.labels[apinames.LABEL_EVENT] = apinames.task_object_name(event)
        run = build_run(trigger, svc.now(), apinames.event_run_name(trigger.task.metadata.name, event, event_id))
        run, _ = await svc.client.create_or_get(RUNS, ns, run)
        svc.cache.runs.upsert(run)
        runs.append(views.run_out(run, svc.cache.task_name(ns, trigger.task.metadata.name)))
    return reply(schemas.EventResult(event=event, id=event_id, runs=runs), 202)


# --- seed 004 schedules ------------------------------------------------------------------------------------


async def _schedule(request: web.Request, verb: str) -> dict[str, Any]:
    """The schedule in the path, once RBAC allows `verb` on tasks; 404 for a Task that is not a schedule."""
    svc, ns = services(request), namespace(request)
    await caller(request, verb, "tasks", ns)
    ident = request.match_info["id"]
    found = svc.cache.task(ns, ident)
    if found is None or not views.is_schedule(found):
        raise Problem(404, "Not Found", f'no schedule "{ident}" in namespace "{ns}"')
    return found


@routes.get("/api/v1/schedules")
async def list_schedules(request: web.Request) -> web.Response:
    """Seed 004: the schedules list (`action_name` filters by action), newest first."""
    svc, ns = services(request), namespace(request)
    await caller(request, "list", "tasks", ns)
    limit = query_int(request, "limit", 10, 1, 100)
    offset = query_int(request, "offset", 0, 0, 10**9)
    action = request.query.get("action_name")
    items = [views.schedule_out(t) for t in svc.cache.tasks_in(ns) if views.is_schedule(t)]
    items = [s for s in items if action is None or s.action_name == action]
    items.sort(key=lambda s: (s.created_at is not None, s.created_at or "", s.id), reverse=True)
    page = schemas.ScheduleList(items=items[offset : offset + limit], total=len(items), limit=limit, offset=offset)
    return reply(page)


@routes.get("/api/v1/schedules/{id}")
async def get_schedule(request: web.Request) -> web.Response:
    return reply(views.schedule_out(await _schedule(request, "get")))


async def _set_state(request: web.Request, state: str) -> web.Response:
    svc, found = services(request), await _schedule(request, "patch")
    meta = found["metadata"]
    patched = await svc.client.patch(TASKS, meta["namespace"], meta["name"], {"spec": {"state": state}})
    svc.cache.tasks.upsert(patched)
    return reply(views.schedule_out(patched))


@routes.post("/api/v1/schedules/{id}/pause")
async def pause_schedule(request: web.Request) -> web.Response:
    """No fires until resumed (runs already going are left alone)."""
    return await _set_state(request, "paused")


@routes.post("/api/v1/schedules/{id}/resume")
async def resume_schedule(request: web.Request) -> web.Response:
    return await _set_state(request, "active")


@routes.delete("/api/v1/schedules/{id}")
async def delete_schedule(request: web.Request) -> web.Response:
    """Delete the schedule (its Task), and with it the Runs it fired and its input chunks."""
    svc, found = services(request), await _schedule(request, "delete")
    meta = found["metadata"]
    with contextlib.suppress(NotFound):
        await svc.client.delete(TASKS, meta["namespace"], meta["name"])
    return web.Response(status=204)
