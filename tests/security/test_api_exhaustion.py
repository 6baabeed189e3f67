"""Issue 18 §4: one caller cannot exhaust the API — bodies, waiters, streams, TokenReviews (docs/security.md §4).

An API process of its own with small limits (the session's API keeps the defaults), against the session's
control plane and operator.
"""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devcluster.cluster import Cluster
from tests import builders
from tests.integration.api import ApiProcess, Caller, assert_problem, full_access, service_account, task_body
from tests.integration.controlplane import api_server
from tests.integration.processes import OperatorProcess
from tests.paths import OUTPUT

WAITERS_PER_CALLER = 3
STREAMS_PER_CALLER = 2
STREAM_SECONDS = 30
REVIEWS_PER_SECOND = 5
REVIEW_BURST = 10


@pytest.fixture(scope="module")
def limited(identities: dict[str, Path]) -> Iterator[ApiProcess]:
    yield from api_server(
        identities["api"],
        OUTPUT / "logs",
        "api-limited",
        "--max-waiters-per-caller", str(WAITERS_PER_CALLER),
        "--max-streams-per-caller", str(STREAMS_PER_CALLER),
        "--max-stream-seconds", str(STREAM_SECONDS),
        "--token-reviews-per-second", str(REVIEWS_PER_SECOND),
        "--token-review-burst", str(REVIEW_BURST),
    )  # fmt: skip


@pytest.fixture
def alice(cluster: Cluster, limited: ApiProcess, operator: OperatorProcess, ns: str) -> Caller:
    return Caller(limited.url, ns, service_account(cluster, ns, "alice", full_access()))


@pytest.fixture
def bob(cluster: Cluster, limited: ApiProcess, ns: str) -> Caller:
    return Caller(limited.url, ns, service_account(cluster, ns, "bob", full_access()))


def make_task(api: Caller, name: str, **pods: str) -> None:
    body = task_body(name, max_retries=0)
    body["payload"] = builders.task("x", pod_annotations=builders.pod_behaviour(**pods))["spec"]["payload"]
    resp = api.post("/api/v1/tasks", json=body)
    assert resp.status_code == 201, resp.text


def high_water_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def post_raw(api: Caller, path: str, data: bytes, **params: str) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    return api.post(path, data=data, headers=headers, params=params)


# -- bodies ---------------------------------------------------------------------------------------


def test_a_too_large_body_is_a_413_problem_and_the_api_memory_stays_bounded(alice: Caller, limited: ApiProcess) -> None:
    make_task(alice, "batch")
    before = high_water_mb(limited.proc.pid)

    # Over the route's byte limit: refused from its Content-Length, before it is read.
    problem = assert_problem(post_raw(alice, "/api/v1/actions/batch/async", b" " * (17 * 2**20)), 413)
    assert "16777216" in problem["detail"]
    problem = assert_problem(post_raw(alice, "/api/v1/tasks", b" " * (2 * 2**20)), 413)
    assert "1048576" in problem["detail"]
    # Under the byte limit, but the worst JSON there is: 16 MiB of empty objects would be ~385 MiB parsed.
    worst = b'{"inputs":[' + b",".join([b"{}"] * (16 * 2**20 // 3 - 10)) + b"]}"
    assert len(worst) < 16 * 2**20
    problem = assert_problem(post_raw(alice, "/api/v1/actions/batch/async", worst), 413)
    assert "once parsed" in problem["detail"], problem
    grown = high_water_mb(limited.proc.pid) - before
    # The body itself is read (16 MiB, and its chunks while joined); it is never parsed.
    assert grown < 80, f"the API's peak RSS grew by {grown:.0f} MB"

    # 100,000 inputs of ~100 bytes (bench/batch.py's shape) still go through (validated, nothing written).
    inputs = [{"order": f"ORD-{i:08d}", "customer": f"C-{i:05d}", "amount": i % 1000, "note": "x" * 30}
              for i in range(100_000)]  # fmt: skip
    resp = alice.post("/api/v1/actions/batch/async", params={"validate_only": "true"}, json={"inputs": inputs})
    assert resp.status_code == 200 and resp.json()["would_create"], resp.text[:500]
    assert alice.get("/api/v1/tasks").status_code == 200


# -- waiters --------------------------------------------------------------------------------------


def test_waiters_beyond_a_callers_cap_get_429_while_another_caller_is_served(
    alice: Caller, bob: Caller, limited: ApiProcess
) -> None:
    make_task(alice, "slow", duration="120s")
    run = alice.post("/api/v1/tasks/slow/run_now").json()
    wait = {"wait": "true", "wait_timeout": "60"}
    with concurrent.futures.ThreadPoolExecutor(WAITERS_PER_CALLER) as pool:
        parked = [pool.submit(alice.get, f"/api/v1/runs/{run['id']}", params=wait) for _ in range(WAITERS_PER_CALLER)]
        time.sleep(2)
        assert not any(f.done() for f in parked), [f.result().text for f in parked if f.done()]
        started = time.monotonic()
        over = assert_problem(alice.get(f"/api/v1/runs/{run['id']}", params=wait), 429)
        assert time.monotonic() - started < 5 and "alice" in over["detail"]
        assert alice.get(f"/api/v1/runs/{run['id']}", params=wait).headers["Retry-After"] == "1"
        # A waiting trigger is refused before it creates anything.
        runs_before = alice.get("/api/v1/runs", params={"limit": 100}).json()["total"]
        assert_problem(alice.post("/api/v1/tasks/slow/run_now", params=wait), 429)
        assert alice.get("/api/v1/runs", params={"limit": 100}).json()["total"] == runs_before
        # Another caller is served, waiting included; alice without waiting too.
        other = bob.get(f"/api/v1/runs/{run['id']}", params={"wait": "true", "wait_timeout": "1"})
        assert other.status_code == 200, other.text
        assert alice.get(f"/api/v1/runs/{run['id']}").status_code == 200
        assert alice.post(f"/api/v1/runs/{run['id']}/cancel").status_code == 200
        answers = [f.result(timeout=60) for f in parked]
    assert [a.status_code for a in answers] == [200] * WAITERS_PER_CALLER
    assert {a.json()["status"] for a in answers} == {"STOPPED"}
    # The slots came back with the answers.
    assert alice.get(f"/api/v1/runs/{run['id']}", params=wait).status_code == 200


# -- TokenReviews ---------------------------------------------------------------------------------


def token_reviews(cluster: Cluster) -> float:
    """TokenReviews the API server has answered so far (its own request counter)."""
    text = cluster.kubectl("get", "--raw", "/metrics")
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("apiserver_request_total{") and 'resource="tokenreviews"' in line
    )


def test_a_flood_of_bogus_tokens_does_not_starve_a_real_caller(
    alice: Caller, limited: ApiProcess, cluster: Cluster
) -> None:
    assert alice.get("/api/v1/tasks").status_code == 200
    before = token_reviews(cluster)
    real: list[int] = []
    done = threading.Event()

    def keep_calling() -> None:
        while not done.is_set():
            real.append(alice.get("/api/v1/tasks").status_code)
            time.sleep(0.05)

    def bogus(i: int) -> int:
        return Caller(limited.url, alice.namespace, f"bogus-{i}-{'x' * 40}").get("/api/v1/tasks").status_code

    started = time.monotonic()
    caller = threading.Thread(target=keep_calling)
    caller.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            flood = list(pool.map(bogus, range(2000)))
    finally:
        done.set()
        caller.join()
    seconds = time.monotonic() - started
    reviews = token_reviews(cluster) - before
    assert set(flood) == {401, 429}, set(flood)
    assert real and set(real) == {200}, f"the real caller got {sorted(set(real))}"
    # Reviews of unknown tokens are bounded by the bucket (the real caller's token needs none: it is cached).
    assert reviews <= REVIEW_BURST + REVIEWS_PER_SECOND * seconds + 5, (reviews, seconds)


# -- streams --------------------------------------------------------------------------------------


def read_until_end(api: Caller, opened: threading.Event | None = None) -> tuple[dict[str, Any], float]:
    """Open the run event stream with the header; (its `end` event, seconds it lasted)."""
    started = time.monotonic()
    with api.get("/api/v1/runs/events", stream=True, headers={"Accept": "text/event-stream"}) as resp:
        assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/event-stream"), resp.text
        assert resp.headers["Taskops-Stream-Max-Seconds"] == str(STREAM_SECONDS)
        if opened:
            opened.set()
        event = ""
        for line in resp.iter_lines(decode_unicode=True):
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "end":
                return json.loads(line.removeprefix("data: ")), time.monotonic() - started
    raise AssertionError("the stream ended without an end event")


def test_the_event_stream_takes_its_token_from_the_header_only_and_ends_with_access_or_its_duration(
    alice: Caller, cluster: Cluster, limited: ApiProcess, ns: str
) -> None:
    url = limited.url + "/api/v1/runs/events"
    in_query = requests.get(url, params={"namespace": ns, "access_token": alice.token}, timeout=10)
    assert_problem(in_query, 400, "query.access_token")
    assert_problem(requests.get(url, params={"namespace": ns}, timeout=10), 401)
    # carol may watch runs until her RoleBinding goes.
    carol = Caller(limited.url, ns, service_account(cluster, ns, "carol", full_access()))
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        opened = threading.Event()
        lasting = pool.submit(read_until_end, alice)
        revoked = pool.submit(read_until_end, carol, opened)
        assert opened.wait(15)
        # A third stream of alice's is over her cap while the first is open (and a second is allowed).
        with alice.get("/api/v1/runs/events", stream=True) as second:
            assert second.status_code == 200
            assert_problem(alice.get("/api/v1/runs/events"), 429)
        cluster.kubectl("delete", "rolebinding", "carol", "-n", ns)
        revoked_at = time.monotonic()
        end, _ = revoked.result(timeout=STREAM_SECONDS + 15)
        assert end["status"] == 403 and "carol" in end["detail"], end
        assert time.monotonic() - revoked_at < 25
        end, lasted = lasting.result(timeout=STREAM_SECONDS + 15)
    assert end["status"] == 408, end
    assert STREAM_SECONDS - 1 <= lasted < STREAM_SECONDS + 10
