"""What one caller may hold of an API process (issue 18 §4): pools, the token bucket, the review caches, bodies.

Mainly api/limits.py; also covers api/auth.py, api/bodies.py, api/ttlcache.py and api/problems.py (their
bounds are one feature).
"""

from __future__ import annotations

import asyncio
import json
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp import ClientTimeout, web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import BaseModel

from taskops.api import auth, bodies
from taskops.api.context import body
from taskops.api.limits import HOLDS, LIMITS, USER_KEY, Holds, Limits, Pool, TokenBucket, release_middleware
from taskops.api.problems import MAX_BODY, Problem, problem_middleware
from taskops.api.ttlcache import TtlLru
from taskops.clients.resources import PODS
from taskops.clients.reviews import User
from tests import builders
from tests.unit.fakes import FakeClock, FakeKube

# -- pools ----------------------------------------------------------------------------------------


def test_a_pool_answers_429_for_a_full_caller_and_503_for_a_full_process() -> None:
    pool = Pool("waiters", "waiters", total=3, per_caller=2)
    a1, a2 = pool.take("alice"), pool.take("alice")
    with pytest.raises(Problem) as caller_full:
        pool.take("alice")
    assert caller_full.value.status == 429 and caller_full.value.headers["Retry-After"] == "1"
    bob = pool.take("bob")  # another caller is still served
    with pytest.raises(Problem) as process_full:
        pool.take("carol")
    assert process_full.value.status == 503 and "Retry-After" in process_full.value.headers
    a1()
    a1()  # a release runs once however often it is called
    assert pool.held == 2 and pool.of("alice") == 1
    pool.take("carol")
    a2()
    bob()
    assert pool.of("alice") == 0 and pool.of("bob") == 0 and pool.held == 1


def test_one_large_body_may_exceed_a_callers_share_but_never_the_total() -> None:
    pool = Pool("body_bytes", "body memory", total=100, per_caller=50)
    big = pool.take("alice", 90, alone_may_exceed_share=True)
    with pytest.raises(Problem) as second:
        pool.take("alice", 1, alone_may_exceed_share=True)
    assert second.value.status == 429
    big()
    with pytest.raises(Problem) as too_big:
        pool.take("alice", 101, alone_may_exceed_share=True)
    assert too_big.value.status == 413


def test_the_token_bucket_allows_its_burst_then_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5
    assert bucket.take() and not bucket.take()
    now[0] += 100
    assert sum(bucket.take() for _ in range(10)) == 3  # never more than the burst after a quiet spell


# -- the review caches --------------------------------------------------------------------------------


def test_the_cache_drops_one_least_recently_used_entry_at_a_time() -> None:
    now = [0.0]
    cache: TtlLru[str, int] = TtlLru(3, clock=lambda: now[0])
    for key in "abc":
        cache.put(key, 1, ttl=10)
    assert cache.get("a") == (True, 1)  # a is now the most recent
    cache.put("d", 1, ttl=10)
    assert "b" not in cache and all(k in cache for k in "acd")
    now[0] = 11
    assert cache.get("a") == (False, None) and "a" not in cache


class FakeReviews:
    """review_token against a fixed set of good tokens, counting reviews per token."""

    def __init__(self, good: dict[str, str]) -> None:
        self.good = good
        self.calls: dict[str, int] = {}

    async def __call__(self, _: Any, token: str) -> User | None:
        self.calls[token] = self.calls.get(token, 0) + 1
        await asyncio.sleep(0)
        return User(self.good[token]) if token in self.good else None


def request_with(token: str) -> web.Request:
    from aiohttp.test_utils import make_mocked_request

    return make_mocked_request("GET", "/api/v1/tasks", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def reviews(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeReviews]:
    fake = FakeReviews({"real": "alice"})
    monkeypatch.setattr(auth, "review_token", fake)
    monkeypatch.setattr(auth, "CACHE_MAX", 50)
    yield fake


def test_a_flood_of_bogus_tokens_neither_evicts_a_real_caller_nor_gets_unbounded_reviews(
    reviews: FakeReviews, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        authorizer = auth.Authorizer(None, Limits(token_reviews_per_second=1e-9, token_review_burst=20))  # type: ignore[arg-type]
        real = request_with("real")
        assert (await authorizer.authenticate(real)).name == "alice" and real[USER_KEY] == "alice"
        statuses: dict[int, int] = {}
        for i in range(500):
            try:
                await authorizer.authenticate(request_with(f"bogus-{i}"))
            except Problem as exc:
                statuses[exc.status] = statuses.get(exc.status, 0) + 1
            assert (await authorizer.authenticate(request_with("real"))).name == "alice"
        # 19 reviews were left in the bucket: 19 refused (401), the rest throttled without a review (429).
        assert statuses == {401: 19, 429: 481}
        assert sum(reviews.calls.values()) == 20 and reviews.calls["real"] == 1
        # The refused tokens are remembered briefly: asking again costs no review.
        with pytest.raises(Problem):
            await authorizer.authenticate(request_with("bogus-0"))
        assert reviews.calls["bogus-0"] == 1

    asyncio.run(scenario())


def test_a_known_token_is_reviewed_again_at_its_ttl_even_when_the_bucket_is_empty(reviews: FakeReviews) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        limits = Limits(token_reviews_per_second=1e-9, token_review_burst=1)
        authorizer = auth.Authorizer(None, limits, clock)  # type: ignore[arg-type]
        await authorizer.authenticate(request_with("real"))
        with pytest.raises(Problem) as throttled:
            await authorizer.authenticate(request_with("new"))
        assert throttled.value.status == 429
        clock.advance(auth.TOKEN_TTL + 1)  # past the review's TTL
        await authorizer.authenticate(request_with("real"))  # stale: reviewed again, outside the empty bucket
        clock.advance(auth.TOKEN_TTL * 2)
        reviews.good.clear()  # the token is revoked: the next review refuses it
        with pytest.raises(Problem) as revoked:
            await authorizer.authenticate(request_with("real"))
        assert revoked.value.status == 401
        assert reviews.calls["real"] == 3

    asyncio.run(scenario())


def test_concurrent_requests_with_one_new_token_share_one_review(reviews: FakeReviews) -> None:
    async def scenario() -> None:
        authorizer = auth.Authorizer(None)  # type: ignore[arg-type]
        users = await asyncio.gather(*(authorizer.authenticate(request_with("real")) for _ in range(50)))
        assert {u.name for u in users} == {"alice"} and reviews.calls == {"real": 1}

    asyncio.run(scenario())


# -- bodies ---------------------------------------------------------------------------------------


def batch_inputs(n: int) -> list[dict[str, Any]]:
    """bench/batch.py's inputs: about 100 bytes of JSON each."""
    return [{"order": f"ORD-{i:08d}", "customer": f"C-{i:05d}", "amount": i % 1000, "note": "x" * 30} for i in range(n)]


def shapes(n: int) -> Iterator[tuple[str, bytes]]:
    """The costliest JSON per byte there is, and the batch shape of bench/batch.py."""
    yield "empty dicts", b"[" + b",".join([b"{}"] * n) + b"]"
    yield "empty lists", b"[" + b",".join([b"[]"] * n) + b"]"
    yield "nested lists", b"[" + b",".join([b"[[]]"] * n) + b"]"
    yield "lists of a float", b"[" + b",".join([b"[1.5]"] * n) + b"]"
    yield "short strings", b"[" + b",".join([b'"ab"'] * n) + b"]"
    yield "distinct strings", b"[" + b",".join(b'"%d"' % i for i in range(n)) + b"]"
    yield "floats", b"[" + b",".join([b"1.5"] * n) + b"]"
    yield "ints", b"[" + b",".join([b"1000"] * n) + b"]"
    yield "one-key dicts", b"[" + b",".join(b'{"a":%d}' % (i % 10) for i in range(n)) + b"]"
    yield "two-key dicts", b"[" + b",".join([b'{"a":0,"b":1}'] * n) + b"]"
    yield "distinct keys", b"[" + b",".join(b'{"k%d":0}' % i for i in range(n)) + b"]"
    yield "one big dict", b"{" + b",".join(b'"%d":0' % i for i in range(n)) + b"}"
    yield "dict of dicts", b"{" + b",".join(b'"%d":{}' % i for i in range(n)) + b"}"
    yield "deep dicts", b"".join(b'{"k%d":' % i for i in range(500)) + b"0" + b"}" * 500
    yield "deep lists", b"[" * 500 + b"]" * 500
    yield "wide strings", ("[" + ",".join(['"\U0001f600a"'] * n) + "]").encode()
    yield "batch inputs", json.dumps({"inputs": batch_inputs(n)}).encode()


@pytest.mark.parametrize(("name", "raw"), list(shapes(20_000)), ids=[name for name, _ in shapes(1)])
def test_parse_cost_bounds_what_parsing_allocates(name: str, raw: bytes) -> None:
    tracemalloc.start()
    try:
        parsed = json.loads(raw.decode())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del parsed
    held = len(raw) + peak
    assert held <= bodies.parse_cost(raw) <= 4 * held, name


def test_the_defaults_refuse_the_worst_16_mib_and_accept_100000_batch_inputs() -> None:
    limits = Limits()
    worst = b"[" + b",".join([b"{}"] * (limits.max_batch_body_bytes // 3 - 1)) + b"]"
    assert len(worst) <= limits.max_batch_body_bytes and bodies.parse_cost(worst) > limits.body_memory_bytes
    raw = json.dumps({"inputs": batch_inputs(100_000)}).encode()
    assert len(raw) <= limits.max_batch_body_bytes and bodies.parse_cost(raw) <= limits.body_memory_bytes


class Anything(BaseModel):
    model_config = {"extra": "allow"}


def serve(limits: Limits, check: Callable[[web.Request], Awaitable[None]] | None = None) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        request[USER_KEY] = request.headers.get("X-User", "alice")
        _, raw = await body(request, Anything, optional=True)
        if check is not None:
            await check(request)
        return web.json_response({"keys": len(raw)})

    app = web.Application(middlewares=[problem_middleware, release_middleware])
    app[LIMITS] = limits
    app[HOLDS] = Holds.of(limits)
    app[MAX_BODY] = max(limits.max_body_bytes, limits.max_batch_body_bytes)
    app.router.add_post("/api/v1/tasks", handler)
    app.router.add_post("/api/v1/actions/{name}/{mode}", handler)
    return app


Client = TestClient[web.Request, web.Application]


def with_client(app: web.Application, scenario: Callable[[Client], Awaitable[None]]) -> None:
    async def run() -> None:
        async with TestClient(TestServer(app)) as client:
            await scenario(client)

    asyncio.run(run())


def test_bodies_over_the_routes_limit_are_413_problems_naming_it() -> None:
    limits = Limits(max_body_bytes=1000, max_batch_body_bytes=5000)

    async def scenario(client: Client) -> None:
        small = json.dumps({"a": "x" * 1500})
        resp = await client.post("/api/v1/tasks", data=small, headers={"Content-Type": "application/json"})
        problem = await resp.json()
        assert resp.status == 413 and resp.content_type == "application/problem+json"
        assert "1000" in problem["detail"] and problem["type"].endswith("too-large")
        ok = await client.post("/api/v1/actions/t/async", data=small)
        assert ok.status == 200
        # Chunked (no Content-Length): counted as it is read, refused past the limit.

        async def chunks() -> Any:
            for _ in range(10):
                yield b" " * 1000

        chunked = await client.post("/api/v1/actions/t/async", data=chunks())
        assert chunked.status == 413 and "5000" in (await chunked.json())["detail"]

    with_client(serve(limits), scenario)


def test_a_body_too_costly_to_parse_is_413_and_held_costs_are_released() -> None:
    limits = Limits(max_body_bytes=1 << 20, body_memory_bytes=2_000_000)
    seen: list[int] = []

    async def check(request: web.Request) -> None:
        seen.append(request.app[HOLDS].bodies.held)

    async def scenario(client: Client) -> None:
        worst = b"[" + b",".join([b"{}"] * 30_000) + b"]"
        resp = await client.post("/api/v1/tasks", data=b'{"a":' + worst + b"}")
        assert resp.status == 413 and "MiB" in (await resp.json())["detail"]
        fine = await client.post("/api/v1/tasks", data=b'{"a": [1, 2, 3]}')
        assert fine.status == 200
        assert seen and seen[0] > 0 and client.app is not None and client.app[HOLDS].bodies.held == 0

    with_client(serve(limits, check), scenario)


def test_a_caller_holding_its_share_of_the_body_budget_gets_429_while_others_are_served() -> None:
    held_body = json.dumps({"a": list(range(800))}).encode()
    cost = bodies.parse_cost(held_body)
    # A caller's share is half the budget: two of these bodies fit in it, a third does not.
    limits = Limits(body_memory_bytes=2 * (2 * cost + cost // 2))
    gate = asyncio.Event()

    async def check(request: web.Request) -> None:
        if request.headers.get("X-Hold"):
            await gate.wait()

    async def scenario(client: Client) -> None:
        holders = [
            asyncio.create_task(client.post("/api/v1/tasks", data=held_body, headers={"X-Hold": "1"})) for _ in range(2)
        ]
        await asyncio.sleep(0.3)
        over = await client.post("/api/v1/tasks", data=held_body)
        assert over.status == 429 and over.headers["Retry-After"] == "1"
        other = await client.post("/api/v1/tasks", data=held_body, headers={"X-User": "bob"})
        assert other.status == 200
        gate.set()
        assert [(await h).status for h in holders] == [200, 200]
        assert client.app is not None and client.app[HOLDS].bodies.held == 0

    with_client(serve(limits, check), scenario)


# -- log streams ----------------------------------------------------------------------------------


class EndlessLogs(FakeKube):
    """The fake API server holding the Run's pod, whose log never ends (a container that logs forever)."""

    def __init__(self) -> None:
        super().__init__()
        labels = {"batch.kubernetes.io/job-name": "job-1", "taskops.dev/run": "r-1", "taskops.dev/attempt": "1"}
        self.put(PODS, builders.pod(name="pod-1", job_name="job-1", metadata={"labels": labels}))
        self.open = 0

    async def pod_logs(self, namespace: str, pod: str, follow: bool, container: str | None = None) -> Any:
        self.open += 1
        try:
            while True:
                yield b"still running\n"
                await asyncio.sleep(0.05)
        finally:
            self.open -= 1


class Everyone:
    async def authenticate(self, request: web.Request) -> User:
        request[USER_KEY] = request.headers.get("X-User", "alice")
        return User(request[USER_KEY])

    async def authorize(self, user: User, access: Any) -> None:
        return None


class OneRun:
    def run(self, namespace: str, ident: str) -> dict[str, Any]:
        return builders.run(ident, metadata={"namespace": namespace}, status={"jobName": "job-1"})


def test_a_followed_log_ends_at_the_maximum_duration_and_streams_are_capped_per_caller() -> None:
    from taskops.api import log_routes
    from taskops.api.context import SERVICES, Services

    client = EndlessLogs()
    limits = Limits(max_stream_seconds=1.0, max_streams_per_caller=1)
    app = web.Application(middlewares=[problem_middleware, release_middleware])
    app[SERVICES] = Services(client=client, cache=OneRun(), auth=Everyone(), default_namespace="ns")  # type: ignore[arg-type]
    app[LIMITS] = limits
    app[HOLDS] = Holds.of(limits)
    app.router.add_get("/api/v1/runs/{id}/logs", log_routes.run_logs)

    async def scenario(http: Client) -> None:
        started = time.monotonic()
        followed = asyncio.create_task(http.get("/api/v1/runs/r-1/logs", params={"follow": "true"}))
        await asyncio.sleep(0.3)
        over = await http.get("/api/v1/runs/r-1/logs")
        assert over.status == 429 and over.headers["Retry-After"] == "1"
        other = await http.get("/api/v1/runs/r-1/logs", headers={"X-User": "bob"}, timeout=ClientTimeout(total=5))
        assert other.status == 200 and other.headers["Taskops-Stream-Max-Seconds"] == "1"
        assert (await other.text()).startswith("still running\n")
        resp = await followed
        text = await resp.text()
        assert resp.status == 200 and text.startswith("still running\n")
        assert 0.9 <= time.monotonic() - started < 4
        await asyncio.sleep(0.2)  # the handler closes its upstream stream just after the answer's end
        assert client.open == 0 and app[HOLDS].streams.held == 0

    with_client(app, scenario)


def test_a_body_larger_than_a_callers_share_is_not_held_through_a_wait() -> None:
    from taskops.api.trigger_create import wait_options

    raw = json.dumps({"a": list(range(2000))}).encode()
    cost = bodies.parse_cost(raw)
    limits = Limits(body_memory_bytes=cost + cost // 2)  # the share (half) is under the body's cost

    async def waits(request: web.Request) -> None:
        wait_options(request)

    async def scenario(client: Client) -> None:
        assert (await client.post("/api/v1/tasks", data=raw)).status == 200
        refused = await client.post("/api/v1/tasks", data=raw, params={"wait": "true"})
        problem = await refused.json()
        assert refused.status == 422 and problem["errors"][0]["location"] == "query.wait"
        small = await client.post("/api/v1/tasks", data=b'{"a": 1}', params={"wait": "true"})
        assert small.status == 200
        assert client.app is not None and client.app[HOLDS].waiters.held == 0

    with_client(serve(limits, waits), scenario)
