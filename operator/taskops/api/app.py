"""The aiohttp application: routes, the problem+json middleware, health, metrics, the OpenAPI document."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from taskops import logs
from taskops.api import agent_routes, log_routes, openapi, run_routes, seed_routes, task_routes, trigger_routes, ui
from taskops.api.context import SEED, SERVICES, Services, services
from taskops.api.limits import HOLDS, LIMITS, Holds, Limits, release_middleware
from taskops.api.problems import MAX_BODY, Handler, Problem, problem_middleware

REQUESTS = Counter("taskops_api_requests_total", "API requests", ["route", "method", "status"])
LATENCY = Histogram(
    "taskops_api_request_seconds",
    "API request latency",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 300, 3600),
)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Latency and status per route; a trace id (the caller's X-Request-Id, or a new one) on every log line."""
    # A duration for the latency metric only (nothing decides on it): perf_counter, not the Clock.
    started = time.perf_counter()
    status = 500
    given = request.headers.get("X-Request-Id", "")
    trace_id = given if _REQUEST_ID.match(given) else logs.new_trace_id()
    context = logs.bind(trace_id=trace_id)
    try:
        response = await handler(request)
        status = response.status
        if not response.prepared:
            response.headers["X-Request-Id"] = trace_id
        return response
    finally:
        logs.CONTEXT.reset(context)
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        REQUESTS.labels(route, request.method, str(status)).inc()
        LATENCY.labels(route, request.method).observe(time.perf_counter() - started)


async def healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok")


async def readyz(request: web.Request) -> web.Response:
    if not services(request).cache.synced:
        return web.Response(status=503, text="caches not synced")
    return web.Response(text="ok")


async def metrics(_: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi_json(request: web.Request) -> web.Response:
    await services(request).auth.authenticate(request)
    return web.Response(text=request.app["openapi"], content_type="application/json")


async def docs(request: web.Request) -> web.Response:
    await services(request).auth.authenticate(request)
    return web.Response(text=request.app["docs"], content_type="text/html")


async def not_found(request: web.Request) -> web.Response:
    raise Problem(404, "Not Found", f"no route {request.method} {request.path}; see /api/v1/openapi.json")


def _drop_in(handler: Handler, route: seed_routes.SeedRoute) -> Handler:
    """`handler` at the seed's path: the request is marked with its seed and its path parameters renamed."""
    renames = route.renames()

    async def at_seed_path(request: web.Request) -> web.StreamResponse:
        request[SEED] = route.seed
        for own, theirs in renames.items():
            request.match_info[theirs] = request.match_info[own]
        return await handler(request)

    return at_seed_path


def add_seed_routes(app: web.Application) -> None:
    """Every row of api/seed_routes.py, answered by the handler of the /api/v1 operation it serves."""
    handlers = {
        (route.method.lower(), route.resource.canonical): route.handler
        for route in app.router.routes()
        if route.resource is not None
    }
    for route in seed_routes.ROUTES:
        handler = handlers[(route.method, route.serves)]
        app.router.add_route(route.method.upper(), route.path, _drop_in(handler, route))


def make_app(svc: Services, limits: Limits | None = None) -> web.Application:
    limits = limits or Limits()
    # Bodies are read by api.bodies with each route's own limit; this is aiohttp's backstop for any other read.
    max_body = max(limits.max_body_bytes, limits.max_batch_body_bytes)
    # release_middleware inside problem_middleware: what a request held is given back before the next one
    # is answered, and a Problem raised while taking a hold is still answered as problem+json.
    app = web.Application(
        middlewares=[metrics_middleware, problem_middleware, release_middleware], client_max_size=max_body
    )
    app[SERVICES] = svc
    app[LIMITS] = limits
    app[HOLDS] = Holds.of(limits)
    app[MAX_BODY] = max_body
    doc = openapi.document()
    app["openapi"] = json.dumps(doc)
    app["docs"] = openapi.docs_page(doc)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/v1/openapi.json", openapi_json)
    app.router.add_get("/api/v1/docs", docs)
    ui.setup(app)
    app.add_routes(task_routes.routes)
    app.add_routes(trigger_routes.routes)
    app.add_routes(run_routes.routes)
    app.add_routes(log_routes.routes)
    app.add_routes(agent_routes.routes)
    add_seed_routes(app)

    async def caches(_: web.Application) -> AsyncIterator[None]:
        await svc.cache.start()
        yield
        await svc.cache.stop()
        await svc.client.close()

    app.cleanup_ctx.append(caches)
    return app
