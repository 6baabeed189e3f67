"""Triggering runs in every seed's shape, and the Runs API (seed 004): list, get, cancel, resume, logs, events."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from taskops.api import schemas, views
from taskops.api.context import (
    Services,
    body,
    caller,
    namespace,
    not_found,
    query_bool,
    query_int,
    reply,
    services,
)
from taskops.api.problems import Problem, invalid
from taskops.api.tasks import find_task
from taskops.api.triggering import fire, respond, wait_options
from taskops.api.triggers import Trigger, build_run, check, resume_of
from taskops.clients.errors import AlreadyExists, NotFound
from taskops.clients.resources import PODS, REVISIONS, RUNS
from taskops.clients.reviews import Access
from taskops.domain import apinames
from taskops.domain.models import Task
from taskops.domain.params import FieldError
from taskops.domain.phases import Phase, is_terminal

routes = web.RouteTableDef()
RESUMABLE = {Phase.STOPPED.value, Phase.FAILED.value, Phase.PARTIAL_SUCCEEDED.value}


def _task(obj: dict[str, Any]) -> Task:
    return Task.model_validate(obj)


async def _start(request: web.Request, ns: str, ident: str) -> tuple[Services, Task, str, str]:
    svc = services(request)
    user = await caller(request, "create", "runs", ns)
    raw = await find_task(svc, ns, ident)
    api_name = apinames.task_api_name(raw["metadata"]["name"], raw["metadata"].get("annotations"))
    return svc, _task(raw), user.name, api_name


# --- triggering ------------------------------------------------------------------------------------


@routes.post("/api/v1/tasks/{id}/run_now")
async def run_now(request: web.Request) -> web.Response:
    """Seed 001: one run now, outside the schedule."""
    ns = namespace(request)
    _, task, user, api_name = await _start(request, ns, request.match_info["id"])
    data, raw = await body(request, schemas.RunNowRequest, optional=True)
    wait, timeout = wait_options(request)
    trigger = Trigger(task, "api", params=data.params, reference=data.reference, user=user)
    return await fire(request, trigger, user, "run_now", raw, views.run_out, wait, timeout, api_name)


@routes.post("/api/v1/tasks/{id}/run")
async def run_002(request: web.Request) -> web.Response:
    """Seed 002: trigger, optionally wait."""
    ns = namespace(request)
    _, task, user, api_name = await _start(request, ns, request.match_info["id"])
    data, raw = await body(request, schemas.TaskRunRequest, optional=True)
    wait, timeout = wait_options(request)
    trigger = Trigger(task, "api", params=data.params, user=user)
    return await fire(request, trigger, user, "run", raw, views.run002, wait, timeout, api_name)


@routes.post("/api/v1/tasks/{id}/runs")
async def run_003(request: web.Request) -> web.Response:
    """Seed 003: per-run overrides; `wait_for_completion` in the body."""
    ns = namespace(request)
    _, task, user, api_name = await _start(request, ns, request.match_info["id"])
    data, raw = await body(request, schemas.TaskRunsRequest, optional=True)
    wait, timeout = wait_options(request, wait_default=data.wait_for_completion)
    overrides = data.model_dump(exclude_none=True, exclude={"wait_for_completion", "webhook_url", "params"})
    trigger = Trigger(task, "api", params=data.params, overrides=overrides, callback_url=data.webhook_url, user=user)
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
        owner = (revision["metadata"].get("labels") or {}).get("taskops.dev/task")
        if not owner or (ident and ident != owner):
            raise invalid([FieldError("body.task_version_id", "not a version of this task", data.task_version_id)])
        ident, version = owner, data.task_version_id
    if not ident:
        raise invalid([FieldError("body.task_id", "task_id or task_version_id is required", None)])
    _, task, user, api_name = await _start(request, ns, ident)
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
    if mode not in ("LIVE", "ASYNC", "SCHEDULE"):
        raise invalid([FieldError("path.mode", "must be live, async or schedule", request.match_info["mode"])])
    _, task, user, api_name = await _start(request, ns, request.match_info["name"])
    data, raw = await body(request, schemas.ActionRunRequest, optional=True)
    errors = []
    if data.input is not None and data.inputs is not None:
        errors.append(FieldError("body.inputs", "send input or inputs, not both", None))
    if data.inputs is not None and len(data.inputs) > 1:
        errors.append(
            FieldError(
                "body.inputs", "several inputs make a batch run (Indexed Job), not supported yet", len(data.inputs)
            )
        )
    if mode == "SCHEDULE" and data.scheduled_at is None:
        errors.append(FieldError("body.scheduled_at", "schedule mode needs scheduled_at", None))
    if errors:
        raise invalid(errors)
    params = data.input if data.input is not None else (data.inputs[0] if data.inputs else None)
    wait, timeout = wait_options(request, wait_default=mode == "LIVE")
    trigger = Trigger(
        task,
        "api",
        params=params,
        params_location="body.input",
        callback_url=data.callback_url,
        scheduled_at=data.scheduled_at,
        execution_mode=mode,
        user=user,
    )
    return await fire(request, trigger, user, f"action-{mode}", raw, views.run_out, wait, timeout, api_name)


@routes.post("/api/v1/events/{name}")
async def post_event(request: web.Request) -> web.Response:
    """Fire every event Task listening to `name`, once per event id."""
    svc, ns = services(request), namespace(request)
    user = await caller(request, "create", "runs", ns)
    event = request.match_info["name"]
    data, _ = await body(request, schemas.EventRequest, optional=True)
    event_id = data.id or uuid.uuid4().hex
    listening = [
        _task(obj)
        for obj in svc.cache.tasks_in(ns)
        if (obj.get("spec") or {}).get("scheduleKind") == "event"
        and ((obj["spec"].get("scheduleExpr") or "").strip() or obj["metadata"]["name"]) == event
        and (obj["spec"].get("state") or "active") == "active"
    ]
    triggers = [Trigger(t, "event", params=data.params, user=user.name) for t in listening]
    errors = [e for t in triggers for e in check(t, [], svc.now()).errors]
    if errors:
        raise invalid(errors)
    runs = []
    for trigger in triggers:
        trigger.annotations[apinames.ANNOTATION_EVENT_ID] = event_id[:253]
        trigger.labels[apinames.LABEL_EVENT] = apinames.task_object_name(event)
        run = build_run(trigger, svc.now(), apinames.event_run_name(trigger.task.metadata.name, event, event_id))
        try:
            run = await svc.client.create(RUNS, ns, run)
        except AlreadyExists:
            run = await svc.client.get(RUNS, ns, run["metadata"]["name"])
        svc.cache.runs.upsert(run)
        runs.append(views.run_out(run, svc.cache.task_name(ns, trigger.task.metadata.name)))
    return reply(schemas.EventResult(event=event, id=event_id, runs=runs), 202)


# --- the Runs API ----------------------------------------------------------------------------------

_SORT_KEYS = {"created_at", "status", "updated_at"}
_FILTERS = ("status", "action_name", "task_name", "execution_mode", "uid", "user_uid", "workspace_uid")


@routes.get("/api/v1/runs")
async def list_runs(request: web.Request) -> web.Response:
    svc, ns = services(request), namespace(request)
    await caller(request, "list", "runs", ns)
    limit = query_int(request, "limit", 10, 1, 100)
    offset = query_int(request, "offset", 0, 0, 10**9)
    sort = request.query.get("sort") or "-created_at"
    if sort.lstrip("-") not in _SORT_KEYS:
        raise invalid([FieldError("query.sort", "sort by created_at, status or updated_at (- for descending)", sort)])
    wanted = {k: request.query[k] for k in _FILTERS if request.query.get(k)}
    if "status" in wanted and wanted["status"].upper() not in Phase.__members__:
        raise invalid([FieldError("query.status", f"must be one of {', '.join(Phase)}", wanted["status"])])
    if "execution_mode" in wanted and wanted["execution_mode"].upper() not in ("LIVE", "ASYNC", "SCHEDULE"):
        raise invalid([FieldError("query.execution_mode", "must be LIVE, ASYNC or SCHEDULE", wanted["execution_mode"])])
    out = [views.run_out(r, svc.cache.task_name(ns, r["spec"]["taskRef"]["name"])) for r in svc.cache.runs_in(ns)]
    out = [r for r in out if all(_matches(r, k, v) for k, v in wanted.items())]
    field = sort.lstrip("-")
    out.sort(key=lambda r: (getattr(r, field) is not None, getattr(r, field) or "", r.id), reverse=sort.startswith("-"))
    return reply(schemas.RunList(items=out[offset : offset + limit], total=len(out), limit=limit, offset=offset))


def _matches(run: schemas.RunOut, name: str, value: str) -> bool:
    if name in ("status", "execution_mode"):
        return str(getattr(run, name)).upper() == value.upper()
    return str(getattr(run, name) or "") == value


async def _find_run(svc: Services, ns: str, ident: str) -> dict[str, Any]:
    found = svc.cache.run(ns, ident)
    if found is None and apinames.is_object_name(ident, 253):
        try:
            found = await svc.client.get(RUNS, ns, ident)
        except NotFound:
            found = None
    if found is None:
        raise not_found("run", ident, ns)
    return found


@routes.get("/api/v1/runs/{id}")
async def get_run(request: web.Request) -> web.Response:
    svc, ns = services(request), namespace(request)
    await caller(request, "get", "runs", ns)
    run = await _find_run(svc, ns, request.match_info["id"])
    wait, timeout = wait_options(request)
    task_name = svc.cache.task_name(ns, run["spec"]["taskRef"]["name"])
    return (
        await respond(svc, run, views.run_out, task_name, None, wait, timeout)
        if wait
        else reply(views.run_out(run, task_name))
    )


@routes.get("/api/v1/integrations/executions/{id}")
async def get_execution(request: web.Request) -> web.Response:
    svc, ns = services(request), namespace(request)
    await caller(request, "get", "runs", ns)
    run = await _find_run(svc, ns, request.match_info["id"])
    return reply(views.execution(run, svc.cache.task_name(ns, run["spec"]["taskRef"]["name"])))


async def _cancel(request: web.Request) -> dict[str, Any]:
    svc, ns = services(request), namespace(request)
    await caller(request, "patch", "runs", ns)
    run = await _find_run(svc, ns, request.match_info["id"])
    phase = (run.get("status") or {}).get("phase") or Phase.CREATED.value
    if is_terminal(phase):
        raise Problem(409, "Conflict", f'run "{run["metadata"]["name"]}" already ended ({phase}); nothing to cancel')
    patched = await svc.client.patch(RUNS, ns, run["metadata"]["name"], {"spec": {"stop": True}})
    svc.cache.runs.upsert(patched)
    return patched


@routes.post("/api/v1/runs/{id}/cancel")
async def cancel_run(request: web.Request) -> web.Response:
    run = await _cancel(request)
    svc = services(request)
    return reply(views.run_out(run, svc.cache.task_name(run["metadata"]["namespace"], run["spec"]["taskRef"]["name"])))


@routes.post("/api/v1/integrations/executions/{id}/cancel")
async def cancel_execution(request: web.Request) -> web.Response:
    run = await _cancel(request)
    svc = services(request)
    return reply(
        views.execution(run, svc.cache.task_name(run["metadata"]["namespace"], run["spec"]["taskRef"]["name"]))
    )


@routes.post("/api/v1/runs/{id}/resume")
async def resume_run(request: web.Request) -> web.Response:
    """Rerun a stopped or failed run with its pinned version and params (one resume per run: idempotent)."""
    svc, ns = services(request), namespace(request)
    user = await caller(request, "create", "runs", ns)
    run = await _find_run(svc, ns, request.match_info["id"])
    phase = (run.get("status") or {}).get("phase") or Phase.CREATED.value
    if phase not in RESUMABLE:
        raise Problem(409, "Conflict", f"only a STOPPED, FAILED or PARTIAL_SUCCEEDED run can be resumed; it is {phase}")
    task = _task(await find_task(svc, ns, run["spec"]["taskRef"]["name"]))
    body_ = resume_of(run, task, user.name, svc.now())
    replay = False
    try:
        created = await svc.client.create(RUNS, ns, body_)
    except AlreadyExists:
        created, replay = await svc.client.get(RUNS, ns, body_["metadata"]["name"]), True
    svc.cache.runs.upsert(created)
    task_name = svc.cache.task_name(ns, task.metadata.name)
    return reply(views.run_out(created, task_name, replay), 200 if replay else 201)


@routes.get("/api/v1/runs/{id}/logs")
async def run_logs(request: web.Request) -> web.StreamResponse:
    """The current attempt's pod log as text/plain; `follow=true` streams it until the container ends."""
    svc, ns = services(request), namespace(request)
    user = await caller(request, "get", "runs", ns)
    await svc.auth.authorize(user, Access("get", "pods", ns, group="", subresource="log"))
    run = await _find_run(svc, ns, request.match_info["id"])
    job = (run.get("status") or {}).get("jobName")
    pods = await svc.client.list(PODS, ns, label_selector=f"batch.kubernetes.io/job-name={job}") if job else []
    if not pods:
        raise Problem(409, "Conflict", f'run "{run["metadata"]["name"]}" has no pod (phase {_phase(run)})')
    pod = max(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "")
    params = {"follow": "true" if query_bool(request, "follow") else "false"}
    if request.query.get("container"):
        params["container"] = request.query["container"]
    chunks = svc.client.stream(PODS.path(ns, pod["metadata"]["name"], "log"), params)
    first = await anext(chunks, b"")  # an error (no such container, kubelet unreachable) still becomes a problem
    response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
    await response.prepare(request)
    try:
        await response.write(first)
        async for chunk in chunks:
            await response.write(chunk)
        await response.write_eof()
    except ConnectionResetError:
        pass  # the caller stopped following
    finally:
        await chunks.aclose()
    return response


def _phase(run: dict[str, Any]) -> str:
    return str((run.get("status") or {}).get("phase") or Phase.CREATED.value)
