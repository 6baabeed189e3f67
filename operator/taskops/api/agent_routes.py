"""The Agents API: the executors a run can be queued for (seed 000's agent_id), with their load."""

from __future__ import annotations

import asyncio

from aiohttp import web

from taskops.api import authorization, schemas, views
from taskops.api.context import caller, namespace, query_bool, query_int, reply, services
from taskops.clients.resources import AGENTS
from taskops.domain.access import authorship

routes = web.RouteTableDef()
# SubjectAccessReviews in flight at once for one `usable=true` list (each answer is cached 10 s).
REVIEWS_AT_ONCE = 8
# A `usable=true` list reviews at most this many Agents (the first by name): a bound on one request's reviews.
USABLE_MAX = 1000


@routes.get("/api/v1/agents")
async def list_agents(request: web.Request) -> web.Response:
    """The namespace's Agents by name, with running and queued counts from the API's Runs cache.

    Like every list, it needs `list agents` in the namespace. `usable=true` keeps only the Agents the caller may
    queue runs for (`use` on each: what a trigger naming it asks), which is what the web page's picker shows.
    """
    svc, ns = services(request), namespace(request)
    user = await caller(request, "list", "agents", ns)
    limit = query_int(request, "limit", 100, 1, 1000)
    offset = query_int(request, "offset", 0, 0, 10**9)
    usable = bool(query_bool(request, "usable"))
    agents = sorted(await svc.client.list(AGENTS, ns), key=lambda a: str(a["metadata"]["name"]))
    if usable:
        gate = asyncio.Semaphore(REVIEWS_AT_ONCE)

        async def may_use(name: str) -> bool:
            async with gate:
                need = authorship.agent_need(name, "query.usable")[0]
                return await authorization.allowed(request, user, ns, need.rights[0])

        agents = agents[:USABLE_MAX]
        verdicts = await asyncio.gather(*(may_use(a["metadata"]["name"]) for a in agents))
        agents = [a for a, ok in zip(agents, verdicts, strict=True) if ok]
    load = views.agent_load(svc.cache.runs_in(ns))
    items = [views.agent_out(a, load.get(a["metadata"]["name"], (0, 0))) for a in agents[offset : offset + limit]]
    return reply(schemas.AgentList(items=items, total=len(agents), limit=limit, offset=offset))
