"""Triggering runs in each seed's shape: run_now, run (002), runs (003), executions (000), actions (004), events."""

from __future__ import annotations

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
    reply,
    seed_of,
    services,
)
from taskops.api.lookups import find_task
from taskops.api.problems import invalid
from taskops.api.trigger_build import Trigger, build_run, check, listens
from taskops.api.trigger_create import fire, wait_options
from taskops.clients.errors import NotFound
from taskops.clients.resources import REVISIONS, RUNS
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


@routes.post("/api/v1/integrations/executions")
async def create_execution(request: web.Request) -> web.Response:
    """Seed 000: queue an execution for an agent."""
    svc, ns = services(request), namespace(request)
    await caller(request, "create", "runs", ns)
    data, raw = await body(request, schemas.ExecutionRequest)
    ident, version = data.task_id, data.version
    if data.task_version_id:
        try:
            revision = await svc.client.get(REVISIONS, ns, data.task_version_id)
        except NotFound:
            raise invalid([FieldError("body.task_version_id", "no such task version", data.task_version_id)]) from None
        owner = (revision["metadata"].get("labels") or {}).get(names.LABEL_TASK)
        if not owner or (ident and ident != owner):
            raise invalid([FieldError("body.task_version_id", "not a version of this task", data.task_version_id)])
        ident, version = owner, data.task_version_id
    if not ident:
        raise invalid([FieldError("body.task_id", "task_id or task_version_id is required", None)])
    task, user, api_name = await _start(request, ns, ident)
    wait, timeout = wait_options(request)
    trigger = Trigger(
        task,
        "api",
        params=data.params,
        version=version,
        reference=data.reference,
        metadata=data.metadata,
        callback_url=data.callback_url,
        priority=data.priority,
        agent=data.agent_id,
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
    if mode == "SCHEDULE" and data.scheduled_at is None:
        errors.append(FieldError("body.scheduled_at", "schedule mode needs scheduled_at", None))
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
        user=user,
    )
    kind = f"action-{mode}"
    return await fire(request, trigger, user, kind, raw, views.run_out, wait, timeout, api_name, data.inputs)


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
