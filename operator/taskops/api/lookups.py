"""Finding the Task, Run, Agent or Task version a request names: by name or uid (Tasks: API name too; Tasks and
Runs: integer id too, from the cache's index of them).

Every route module resolves the Task or Run in its path the same way, so the lookup lives here,
below the route handlers, which then need not import each other.
"""

from __future__ import annotations

from typing import Any

from taskops.api.context import Services
from taskops.api.problems import Problem
from taskops.clients.errors import NotFound
from taskops.clients.resources import AGENTS, REVISIONS, RUNS, TASKS
from taskops.domain.resources import apinames, names, numericids


def _not_found(kind: str, ident: str, ns: str) -> Problem:
    return Problem(404, "Not Found", f'{kind} "{ident}" not found in namespace "{ns}"')


def _one(kind: str, ident: str, ns: str, candidates: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """The one object `ident` names among those found by integer id and by name; 409 naming them when several.

    Several: an all-digit name (a DNS name may be one) that is another object's integer id, or two objects whose
    ids collide (domain/resources/numericids.py). Neither is resolved by a rule a caller could not see coming.
    """
    found = {obj["metadata"].get("uid"): obj for obj in candidates if obj is not None}
    if len(found) > 1:
        both = " and ".join(f'"{obj["metadata"]["name"]}"' for obj in found.values())
        raise Problem(
            409,
            "Conflict",
            f'"{ident}" is the name or integer id of more than one {kind} in namespace "{ns}": {both}; '
            f"address the {kind} by its uid",
        )
    return next(iter(found.values()), None)


async def find_task(svc: Services, ns: str, ident: str) -> dict[str, Any]:
    """A Task by API name, object name, uid or integer id; 404 when none, 409 when a name maps onto another task
    or `ident` names two tasks (an all-digit name that is another task's integer id)."""
    number = numericids.parse(ident)
    numbered = svc.cache.tasks_numbered(ns, number) if number is not None else []
    if numbered:
        found = _one("task", ident, ns, [*numbered, svc.cache.task(ns, ident)])
        if found is not None:
            return found
    object_name = apinames.task_object_name(ident)
    found = svc.cache.task(ns, object_name) or svc.cache.task(ns, ident)
    if found is None and apinames.is_object_name(object_name):
        # The cache may not have seen a Task created a moment ago.
        try:
            found = await svc.client.get(TASKS, ns, object_name)
        except NotFound:
            found = None
        if found is not None:
            svc.cache.tasks.upsert(found)
    if found is None:
        raise _not_found("task", ident, ns)
    meta = found["metadata"]
    api_name = apinames.task_api_name(meta["name"], meta.get("annotations"))
    if ident not in (api_name, meta["name"], meta.get("uid")):
        raise Problem(409, "Conflict", f'"{ident}" maps to task object "{meta["name"]}", which is "{api_name}"')
    return found


async def find_run(svc: Services, ns: str, ident: str) -> dict[str, Any]:
    """A Run by name, uid or integer id; 404 when none, 409 when `ident` names two runs."""
    number = numericids.parse(ident)
    numbered = svc.cache.runs_numbered(ns, number) if number is not None else []
    found = _one("run", ident, ns, [*numbered, svc.cache.run(ns, ident)])
    if found is None and apinames.is_object_name(ident, 253):
        try:
            found = await svc.client.get(RUNS, ns, ident)
        except NotFound:
            found = None
    if found is None:
        raise _not_found("run", ident, ns)
    return found


async def find_agent(svc: Services, ns: str, ident: str) -> dict[str, Any] | None:
    """An Agent by name or uid (seed 000 sends `agent_id` as a UUID); None when there is none.

    Agents are few and not cached by the API: a name is one GET, a uid that is no name one LIST.
    """
    if apinames.is_object_name(ident, 253):
        try:
            return await svc.client.get(AGENTS, ns, ident)
        except NotFound:
            pass
    return next((a for a in await svc.client.list(AGENTS, ns) if a["metadata"].get("uid") == ident), None)


async def find_version(svc: Services, ns: str, ident: str, task: str | None = None) -> dict[str, Any] | None:
    """A Task version (a ControllerRevision) by its name — the version id — or its uid; None when there is none.

    A uid is looked for among the versions of `task` (its object name) when given, else among every Task's.
    """
    if apinames.is_object_name(ident, 253):
        try:
            return await svc.client.get(REVISIONS, ns, ident)
        except NotFound:
            pass
    selector = f"{names.LABEL_TASK}={task}" if task else names.LABEL_TASK
    revisions = await svc.client.list(REVISIONS, ns, label_selector=selector)
    return next((r for r in revisions if r["metadata"].get("uid") == ident), None)
