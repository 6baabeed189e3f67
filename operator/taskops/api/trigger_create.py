"""The one path every trigger shape takes: validate, (dry-)create the Run, replay or wait, answer.

Idempotency: with an `Idempotency-Key`, the Run's name is a function of
(namespace, caller, key), so the API server's own uniqueness decides a race
between two requests; the loser reads the winner's Run and compares the
request hash stored on it (same → replay, different → 422).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from taskops.api import authorization, schemas, views
from taskops.api.bodies import BODY_COST
from taskops.api.context import Services, caller, query_bool, query_int, reply, services
from taskops.api.limits import HOLDS, hold
from taskops.api.problems import DOCS, Problem, invalid
from taskops.api.trigger_build import Trigger, build_run, check, request_hash
from taskops.clients import batchinputs
from taskops.clients.errors import ApiError, NotFound
from taskops.clients.resources import AGENTS, REVISIONS, RUNS, TASKS
from taskops.domain.access import authorship
from taskops.domain.execution import batch
from taskops.domain.execution.jobs import task_owner
from taskops.domain.execution.versions import Version, from_revision
from taskops.domain.queueing import fullness
from taskops.domain.resources import apinames, names
from taskops.domain.resources.params import FieldError
from taskops.domain.resources.run import RunInputs
from taskops.domain.resources.task import FireWith
from taskops.domain.scheduling import recurrence

IDEMPOTENCY_HEADER = "Idempotency-Key"
QUEUE_FULL_PROBLEM = DOCS + "queue-full"
Shape = Callable[[dict[str, Any], str | None, bool | None], BaseModel]


async def _versions(svc: Services, trigger: Trigger) -> list[Version]:
    if (trigger.version or "current").strip() == "current":
        # "current" is the Task's spec as it is now; no need to read the history.
        return []
    task = trigger.task.metadata
    items = await svc.client.list(REVISIONS, task.namespace, label_selector=f"{names.LABEL_TASK}={task.name}")
    return [from_revision(obj) for obj in items]


async def _check_agent(svc: Services, trigger: Trigger, ns: str) -> tuple[dict[str, Any] | None, list[FieldError]]:
    """The Agent the Run would queue for (None: no agent), or why it cannot."""
    agent = trigger.agent or trigger.task.spec.agent
    if not agent:
        return None, []
    missing = [FieldError("body.agent_id", f'agent "{agent}" not found in namespace "{ns}"', agent)]
    if not apinames.is_object_name(agent, 253):
        return None, missing  # no object has that name: asking the API server would be its 400, our 502
    try:
        return await svc.client.get(AGENTS, ns, agent), []
    except NotFound:
        return None, missing


def _queues(svc: Services, trigger: Trigger, ns: str, agent: dict[str, Any] | None) -> list[fullness.Queue]:
    """The bounded queues the Run would wait in: its Task's concurrency key and its Agent."""
    queues = []
    key = trigger.task.spec.concurrency_key
    if key:
        limit, bound = fullness.key_bounds((t.get("spec") or {} for t in svc.cache.tasks_in(ns)), key)
        queues.append(fullness.Queue("concurrency key", key, "concurrencyKey", limit, bound))
    if agent is not None:
        spec = agent.get("spec") or {}
        bound = spec.get("maxQueued")
        queues.append(
            fullness.Queue(
                "agent", agent["metadata"]["name"], "agent", int(spec.get("capacity") or 1), bound and int(bound)
            )
        )
    return queues


async def _refuse_when_full(
    svc: Services, trigger: Trigger, ns: str, agent: dict[str, Any] | None, replay_name: str | None
) -> None:
    """409 `queue-full` when the Run would certainly end queue_full (docs/queueing.md); the operator's check stays
    for the races this cannot see. A replay of an Idempotency-Key returns its Run, full queue or not."""
    queues = _queues(svc, trigger, ns, agent)
    priority = trigger.priority if trigger.priority is not None else trigger.task.spec.priority
    found = fullness.full_reason(svc.cache.runs_in(ns), queues, priority)
    if found is None:
        return
    if replay_name is not None:
        with contextlib.suppress(NotFound):
            await svc.client.get(RUNS, ns, replay_name)
            return
    queue, reason = found
    location = "body.agent_id" if queue.field == "agent" else "task.concurrency_key"
    raise Problem(
        409,
        "Conflict",
        f"queue_full: {reason}; retry when runs have ended",
        [FieldError(location, f"queue_full: {reason}", queue.name)],
        QUEUE_FULL_PROBLEM,
    )


def _plan(inputs: list[Any], errors: list[FieldError]) -> tuple[int, list[str]]:
    """A batch's chunks (docs/batch.md), or (0, []) with the reason added to `errors`."""
    try:
        return batch.plan_chunks(inputs)
    except ValueError as exc:
        errors.append(FieldError("body.inputs", str(exc), len(inputs)))
        return 0, []


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
) -> web.Response:
    """Validate, create the Run (and, for a batch, its input chunks), then answer or wait."""
    svc = services(request)
    ns = trigger.task.metadata.namespace or ""
    checked = check(trigger, await _versions(svc, trigger), svc.now())
    agent, agent_errors = await _check_agent(svc, trigger, ns)
    errors = checked.errors + agent_errors
    inputs = checked.inputs
    chunk_size, chunks = _plan(inputs, errors) if inputs is not None and not checked.errors else (0, [])
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
    await _refuse_when_full(svc, trigger, ns, agent, name)
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
            raise _reused(key, f'run "{name}"')
    else:
        created = await svc.client.create(RUNS, ns, run)
    if chunks:
        await write_chunks(svc, created, chunks)
    svc.cache.runs.upsert(created)
    return await respond(svc, created, shape, task_name, replay, wait, wait_timeout)


def _reused(key: str, what: str) -> Problem:
    return Problem(
        422,
        "Unprocessable Entity",
        f'Idempotency-Key "{key}" was used before with a different request ({what})',
        [FieldError("header.Idempotency-Key", "reused with a different request body", key)],
        "https://taskops.dev/problems/idempotency-mismatch",
    )


async def write_chunks(svc: Services, owner: dict[str, Any], chunks: list[str]) -> None:
    """Write a batch Run's input chunks, owned by it (a schedule's: by its Task); on failure the owner is deleted
    (and so what was written) and the caller gets a 502 problem."""
    kind = owner["kind"]
    try:
        await batchinputs.write_chunks(svc.client, owner, chunks)
    except ApiError as exc:
        raise Problem(
            502,
            "Bad Gateway",
            f"writing the inputs failed ({exc.status}: {exc.message}); the {kind} was deleted, nothing was queued",
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


# --- seed 004 schedules: a Task of their own ----------------------------------------------------------------

# A Task's name is a label value on its Runs and Jobs (63 characters): room for "-schedule-" and 10 hex digits.
SCHEDULE_BASE_MAX = 63 - len("-schedule-") - 10


def _schedule_errors(cron: str, timezone: str, now: dt.datetime) -> list[FieldError]:
    try:
        recurrence.zone(timezone)
        recurrence.parse("cron", cron, timezone, None, now=now)
    except recurrence.ScheduleError as exc:
        field = "body.timezone" if exc.field == "timezone" else "body.cron"
        return [FieldError(field, exc.message, timezone if field == "body.timezone" else cron)]
    return []


async def create_schedule(
    request: web.Request, trigger: Trigger, cron: str, timezone: str, action_name: str, raw: Any
) -> web.Response:
    """A CRON schedule of an action (seed 004 `schedule` mode): a Task copied from the action's current spec that
    fires on `cron` in `timezone`, each fire a Run of `executionMode: SCHEDULE` with the request's input (or its
    batch of inputs, in chunks owned by the schedule's Task). Owned by the action's Task: deleted with it."""
    svc = services(request)
    ns = trigger.task.metadata.namespace or ""
    user = await caller(request, "create", "tasks", ns)
    checked = check(trigger, [], svc.now())
    errors = checked.errors + await asyncio.to_thread(_schedule_errors, cron, timezone, svc.now())
    inputs = checked.inputs
    chunk_size, chunks = _plan(inputs, errors) if inputs is not None and not checked.errors else (0, [])
    if errors:
        raise invalid(errors)
    action = trigger.task.metadata.name
    # An Idempotency-Key names the schedule, as it names a Run: a replay finds it (below).
    key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()[:255]
    suffix = apinames.idempotent_run_name(ns, user.name, key)[-10:] if key else secrets.token_hex(5)
    name = f"{action[:SCHEDULE_BASE_MAX].rstrip('-.')}-schedule-{suffix}"
    digest = request_hash("schedule", action, raw)
    fire_with = FireWith(params=trigger.params, execution_mode="SCHEDULE")
    if chunks:
        fire_with.inputs = RunInputs(
            count=len(inputs or []), chunk_size=chunk_size, config_maps=batch.chunk_names(name, len(chunks))
        )
    spec = trigger.task.spec.model_copy(
        update={
            "schedule_kind": "cron",
            "schedule_expr": cron,
            "timezone": timezone,
            "state": "active",
            "snooze": None,
            "created_by": user.name,
            "fire_with": fire_with,
        }
    ).to_k8s()
    await authorization.require(request, user, ns, authorship.task_needs(spec, None, "body"))
    meta: dict[str, Any] = {
        "name": name,
        "namespace": ns,
        "labels": {apinames.LABEL_SCHEDULE: "true"},
        "annotations": {apinames.ANNOTATION_SCHEDULE_OF: action_name, apinames.ANNOTATION_REQUEST_HASH: digest},
        "ownerReferences": [task_owner(trigger.task)],
    }
    task = {"apiVersion": TASKS.api_version, "kind": "Task", "metadata": meta, "spec": spec}
    if query_bool(request, "validate_only"):
        await svc.client.create(TASKS, ns, task, dry_run=True)
        return reply(schemas.ValidateResult(would_create=True, task_name=action_name, params=checked.params))
    if key:
        created, made = await svc.client.create_or_get(TASKS, ns, task)
    else:
        created, made = await svc.client.create(TASKS, ns, task), True
    if not made and (created["metadata"].get("annotations") or {}).get(apinames.ANNOTATION_REQUEST_HASH) != digest:
        raise _reused(key, f'schedule "{name}"')
    if chunks:
        await write_chunks(svc, created, chunks)
    svc.cache.tasks.upsert(created)
    return reply(views.schedule_out(created), 201 if made else 200)
