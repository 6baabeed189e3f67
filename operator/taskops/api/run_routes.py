"""The Runs API (seed 004 and 000): list, get, cancel, resume, logs, a batch run's per-input results."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, get_args

from aiohttp import web

from taskops.api import authorization, schemas, views
from taskops.api.context import (
    Services,
    caller,
    namespace,
    query_int,
    reply,
    services,
)
from taskops.api.lookups import find_agent, find_run, find_task, find_version
from taskops.api.problems import Problem, invalid
from taskops.api.trigger_build import resume_of
from taskops.api.trigger_create import respond, wait_options
from taskops.clients.errors import NotFound
from taskops.clients.resources import CONFIGMAPS, RUNS
from taskops.domain.access import authorship
from taskops.domain.execution import batchresults
from taskops.domain.execution.batchresults import InputStatus
from taskops.domain.resources import raw
from taskops.domain.resources.params import FieldError
from taskops.domain.resources.phases import RESUMABLE_PHASES, Phase, is_terminal, raw_phase
from taskops.domain.resources.run import ExecutionMode
from taskops.domain.resources.task import Task
from taskops.domain.scheduling import firedruns

routes = web.RouteTableDef()


_SORT_KEYS = ("created_at", "status", "updated_at")
_FILTERS = ("status", "action_name", "task_name", "execution_mode", "uid", "user_uid", "workspace_uid")


def _list_query(
    request: web.Request, sort_keys: tuple[str, ...], filters: tuple[str, ...]
) -> tuple[int, int, str, dict[str, str]]:
    """A runs list's `limit` (default 10, max 100), `offset`, `sort` (default -created_at) and the filters given."""
    limit = query_int(request, "limit", 10, 1, 100)
    offset = query_int(request, "offset", 0, 0, 10**9)
    sort = request.query.get("sort") or "-created_at"
    if sort.lstrip("-") not in sort_keys:
        keys = ", ".join(sort_keys[:-1]) + f" or {sort_keys[-1]}"
        raise invalid([FieldError("query.sort", f"sort by {keys} (- for descending)", sort)])
    return limit, offset, sort, {k: request.query[k] for k in filters if request.query.get(k)}


def _selected(
    svc: Services, ns: str, shape: Callable[[dict[str, Any], str | None], views.R], wanted: dict[str, str], sort: str
) -> list[views.R]:
    """Every Run of the namespace in a list's shape (seed 004's runs, seed 000's executions), filtered and sorted."""
    out = [shape(r, svc.cache.task_name(ns, r["spec"]["taskRef"]["name"])) for r in svc.cache.runs_in(ns)]
    return views.select_runs(out, wanted, sort)


@routes.get("/api/v1/runs")
async def list_runs(request: web.Request) -> web.Response:
    svc, ns = services(request), namespace(request)
    await caller(request, "list", "runs", ns)
    limit, offset, sort, wanted = _list_query(request, _SORT_KEYS, _FILTERS)
    if "status" in wanted and wanted["status"].upper() not in Phase.__members__:
        raise invalid([FieldError("query.status", f"must be one of {', '.join(Phase)}", wanted["status"])])
    if "execution_mode" in wanted and wanted["execution_mode"].upper() not in get_args(ExecutionMode):
        raise invalid([FieldError("query.execution_mode", "must be LIVE, ASYNC or SCHEDULE", wanted["execution_mode"])])
    out = _selected(svc, ns, views.run_out, wanted, sort)
    return reply(schemas.RunList(items=out[offset : offset + limit], total=len(out), limit=limit, offset=offset))


@routes.get("/api/v1/runs/{id}")
async def get_run(request: web.Request) -> web.Response:
    svc, ns = services(request), namespace(request)
    await caller(request, "get", "runs", ns)
    run = await find_run(svc, ns, request.match_info["id"])
    wait, timeout = wait_options(request)
    task_name = svc.cache.task_name(ns, run["spec"]["taskRef"]["name"])
    return (
        await respond(svc, run, views.run_out, task_name, None, wait, timeout)
        if wait
        else reply(views.run_out(run, task_name))
    )


_EXECUTION_SORT_KEYS = ("created_at", "status", "priority")
_EXECUTION_FILTERS = ("status", "reference", "triggered_by")


@routes.get("/api/v1/integrations/executions")
async def list_executions(request: web.Request) -> web.Response:
    """Seed 000's executions, newest first, filtered by status (seed 000's words), agent, task, version and more."""
    svc, ns = services(request), namespace(request)
    await caller(request, "list", "runs", ns)
    limit, offset, sort, wanted = _list_query(request, _EXECUTION_SORT_KEYS, _EXECUTION_FILTERS)
    if "status" in wanted and wanted["status"] not in get_args(schemas.ExecutionStatus):
        statuses = ", ".join(get_args(schemas.ExecutionStatus))
        raise invalid([FieldError("query.status", f"must be one of {statuses}", wanted["status"])])
    # Agent, task and version by name or uid, as a trigger takes them; one that does not exist matches nothing.
    if agent := request.query.get("agent_id"):
        found = await find_agent(svc, ns, agent)
        wanted["agent_id"] = found["metadata"]["name"] if found else agent
    if task := request.query.get("task_id"):
        try:
            wanted["task_name"] = views.task_out(await find_task(svc, ns, task)).name
        except Problem:
            wanted["task_name"] = task
    if version := request.query.get("task_version_id"):
        found = await find_version(svc, ns, version)
        wanted["task_version_id"] = found["metadata"]["name"] if found else version
    out = _selected(svc, ns, views.execution, wanted, sort)
    return reply(schemas.ExecutionList(items=out[offset : offset + limit], total=len(out), limit=limit, offset=offset))


@routes.get("/api/v1/integrations/executions/{id}")
async def get_execution(request: web.Request) -> web.Response:
    svc, ns = services(request), namespace(request)
    await caller(request, "get", "runs", ns)
    run = await find_run(svc, ns, request.match_info["id"])
    return reply(views.execution(run, svc.cache.task_name(ns, run["spec"]["taskRef"]["name"])))


async def _cancel(request: web.Request) -> dict[str, Any]:
    svc, ns = services(request), namespace(request)
    await caller(request, "patch", "runs", ns)
    run = await find_run(svc, ns, request.match_info["id"])
    phase = raw_phase(run)
    if is_terminal(phase):
        raise Problem(409, "Conflict", f'run "{run["metadata"]["name"]}" already ended ({phase}); nothing to cancel')
    patched = await svc.client.patch(RUNS, ns, run["metadata"]["name"], firedruns.stop_patch())
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
    """Rerun a stopped or failed run with its pinned version and params (one resume per run: idempotent).

    Resuming reads the run and acts on it (a batch run is patched in place), so it needs `get` and `patch` on
    that run besides `create runs`: `create runs` alone must not let a caller rerun someone else's run.
    """
    svc, ns = services(request), namespace(request)
    user = await caller(request, "create", "runs", ns)
    run = await find_run(svc, ns, request.match_info["id"])
    await authorization.require_on_run(request, user, ns, run["metadata"]["name"], ("get", "patch"))
    await authorization.require(request, user, ns, authorship.agent_need(run["spec"].get("agent"), "run.spec.agent"))
    phase = raw_phase(run)
    batch = bool(run["spec"].get("inputs"))
    # A batch run whose resume the operator has already taken up is not terminal: asked once, not twice.
    under_way = batch and not is_terminal(phase) and int(run["spec"].get("resume") or 0) > 0
    if phase not in RESUMABLE_PHASES and not under_way:
        raise Problem(409, "Conflict", f"only a STOPPED, FAILED or PARTIAL_SUCCEEDED run can be resumed; it is {phase}")
    if batch:
        return await _resume_batch(svc, ns, run)
    task = Task.model_validate(await find_task(svc, ns, run["spec"]["taskRef"]["name"]))
    body_ = resume_of(run, task, user.name, svc.now())
    created, made = await svc.client.create_or_get(RUNS, ns, body_)
    replay = not made
    svc.cache.runs.upsert(created)
    task_name = svc.cache.task_name(ns, task.metadata.name)
    return reply(views.run_out(created, task_name, replay), 200 if replay else 201)


async def _resume_batch(svc: Services, ns: str, run: dict[str, Any]) -> web.Response:
    """A batch Run resumes in place: a new attempt over only the indexes that did not succeed (docs/batch.md)."""
    done = raw.resumes_done(run)
    patched = run
    asked = int(run["spec"].get("resume") or 0) > done
    if is_terminal(raw_phase(run)) and not asked:  # else a resume is asked for or under way: idempotent
        patched = await svc.client.patch(RUNS, ns, run["metadata"]["name"], {"spec": {"resume": done + 1}})
        svc.cache.runs.upsert(patched)
    task_name = svc.cache.task_name(ns, run["spec"]["taskRef"]["name"])
    return reply(views.run_out(patched, task_name), 202)


@routes.get("/api/v1/runs/{id}/results")
async def run_results(request: web.Request) -> web.Response:
    """A batch run's per-input results, a page at a time, read from its result chunks (docs/batch.md)."""
    svc, ns = services(request), namespace(request)
    await caller(request, "get", "runs", ns)
    status = request.query.get("status") or None
    if status not in (None, *get_args(InputStatus)):
        raise invalid([FieldError("query.status", "must be succeeded or failed", status)])
    limit = query_int(request, "limit", 100, 1, 1000)
    offset = query_int(request, "offset", 0, 0, 10**9)
    run = await find_run(svc, ns, request.match_info["id"])
    name, inputs = run["metadata"]["name"], run["spec"].get("inputs")
    if not inputs:
        raise Problem(409, "Conflict", f'run "{name}" is not a batch run: its result is the run\'s own "result"')
    results = ((run.get("status") or {}).get("batch") or {}).get("results") or {}
    chunks = []
    for k in range(int(results.get("configMaps") or 0)):
        try:
            chunks.append((await svc.client.get(CONFIGMAPS, ns, batchresults.results_name(name, k))).get("data") or {})
        except NotFound:
            continue  # the run is being deleted with its chunks
    items, total = views.input_results(batchresults.merge(chunks), status, offset, limit)
    return reply(schemas.InputResultList(items=items, total=total, inputs=inputs["count"], limit=limit, offset=offset))
