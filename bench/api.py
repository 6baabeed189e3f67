"""REST API cost: trigger latency next to raw Run creates, and thousands of parked wait=true requests.

On one fresh control plane with the operator and the API as real processes:

1. raw: Run objects created straight on the API server (admin client), open loop at `--rate`;
2. REST: `POST /api/v1/integrations/executions` with a service-account token, same rate, open loop;
   both make Runs scheduled in 2099, so the operator starts no Job and only marks them SCHEDULED;
3. `--waiters` concurrent `GET /api/v1/runs/{id}?wait=true` spread over 100 such Runs: the API's RSS
   before and while they are parked, the API server's request rate over a window with and without
   them, then every Run is cancelled and each waiter must answer 200 with the ended Run;
4. the floor of (3): a bare aiohttp application (one route that awaits an event, no middleware, no
   cache, no Kubernetes client) in a fresh process, parking the same requests (same path, query,
   token, one connection each): what aiohttp and the interpreter alone cost, which the API cannot be
   below.

    python -m bench.api --rate 20 --seconds 15 --waiters 10000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bench.common import client, cluster_with_api, cpu_seconds, rss_mb, save, summary
from devcluster.cluster import Cluster, free_port
from taskops import API_VERSION
from taskops.clients.kube import KubeClient
from taskops.clients.resources import RUNS, TASKS
from taskops.domain.execution.jobs import owner_reference
from taskops.domain.resources import names
from tests.integration.api import ApiProcess

NS = "bench-api"
TASK = "later"
LATER = "2099-01-01T00:00:00Z"
TARGET_RUNS = 100


async def open_loop(rate: float, seconds: float, call: Callable[[], Awaitable[int]]) -> dict[str, Any]:
    """Fire `call` on a fixed schedule (never waiting for earlier calls); latency counts from the due time."""
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    start = time.perf_counter()

    async def one(due: float) -> None:
        try:
            status = await call()
        except Exception as exc:
            outcomes[type(exc).__name__] += 1
            return
        outcomes[str(status)] += 1
        if status < 300:
            latencies.append(time.perf_counter() - due)

    tasks = []
    for i in range(int(rate * seconds)):
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    samples = [round(x, 5) for x in latencies]
    return {**summary(latencies), "rate": len(latencies) / elapsed, "outcomes": dict(outcomes), "samples": samples}


class Api:
    """The REST API with one service account's token."""

    def __init__(self, url: str, token: str, session: aiohttp.ClientSession) -> None:
        self.url, self.token, self.session = url, token, session
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, json: Any = None, **params: str) -> tuple[int, Any]:
        query = {"namespace": NS, **params}
        async with self.session.request(method, self.url + path, json=json, params=query, headers=self.headers) as resp:
            return resp.status, await resp.json(content_type=None)

    async def schedule_run(self) -> tuple[int, Any]:
        return await self.call("POST", "/api/v1/integrations/executions", {"task_id": TASK, "scheduled_at": LATER})


async def apiserver_requests(kube: KubeClient) -> float:
    """Sum of `apiserver_request_total` (every request the API server has answered so far)."""
    token = kube.creds.bearer()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with kube._http().get("/metrics", headers=headers) as resp:
        text = await resp.text()
    lines = [line for line in text.splitlines() if line.startswith("apiserver_request_total{")]
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines)


async def request_window(kube: KubeClient, seconds: float, pid: int) -> tuple[float, float]:
    """API server requests per second over `seconds`, and the API's largest RSS sampled meanwhile."""
    before, peak = await apiserver_requests(kube), 0.0
    deadline = time.perf_counter() + seconds
    while (left := deadline - time.perf_counter()) > 0:
        peak = max(peak, rss_mb(pid))
        await asyncio.sleep(min(0.5, left))
    return (await apiserver_requests(kube) - before) / seconds, peak


async def until_quiet(pid: int, limit: float = 30.0) -> None:
    """Until the API process uses under 10% of a CPU for a second (it has parked every request)."""
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        used = cpu_seconds(pid)
        await asyncio.sleep(1.0)
        if cpu_seconds(pid) - used < 0.1:
            return


async def triggers(api: Api, kube: KubeClient, uid: str, rate: float, seconds: float) -> dict[str, Any]:
    run = {
        "apiVersion": API_VERSION,
        "kind": "Run",
        "metadata": {
            "generateName": f"{TASK}-",
            "labels": {names.LABEL_TASK: TASK},
            "ownerReferences": [owner_reference(API_VERSION, "Task", TASK, uid)],
        },
        "spec": {"taskRef": {"name": TASK}, "triggeredBy": "api", "scheduledAt": LATER},
    }

    async def raw() -> int:
        await kube.create(RUNS, NS, run)
        return 201

    async def rest() -> int:
        return (await api.schedule_run())[0]

    for _ in range(10):  # warm connections, the token review and the RBAC decision caches
        await raw()
        await rest()
    return {"raw": await open_loop(rate, seconds, raw), "rest": await open_loop(rate, seconds, rest)}


async def waiters(api: Api, kube: KubeClient, pid: int, n: int, wait_timeout: int, window: float) -> dict[str, Any]:
    created = await asyncio.gather(*(api.schedule_run() for _ in range(TARGET_RUNS)))
    ids = [body["id"] for status, body in created if status == 201]
    await asyncio.sleep(2)
    out: dict[str, Any] = {"waiters": n, "runs": len(ids), "wait_timeout": wait_timeout, "window_s": window}
    out["rss_before_mb"] = rss_mb(pid)
    out["apiserver_rps_baseline"], _ = await request_window(kube, window, pid)

    sent, all_sent = 0, asyncio.Event()

    async def on_sent(*_: Any) -> None:
        nonlocal sent
        sent += 1
        if sent == n:
            all_sent.set()

    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(on_sent)
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=wait_timeout + 60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, trace_configs=[trace]) as session:
        parked = Api(api.url, api.token, session)

        async def wait(run_id: str) -> tuple[int, str, float]:
            status, body = await parked.call(
                "GET", f"/api/v1/runs/{run_id}", wait="true", wait_timeout=str(wait_timeout)
            )
            return status, str(body.get("status")), time.perf_counter()

        started = time.perf_counter()
        tasks = []
        for i in range(n):  # 2,000 a second: the listen backlog is not a subject here
            tasks.append(asyncio.create_task(wait(ids[i % len(ids)])))
            if i % 100 == 99:
                await asyncio.sleep(0.05)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_sent.wait(), wait_timeout / 2)
        await until_quiet(pid)
        out["sent"], out["park_s"] = sent, time.perf_counter() - started
        out["apiserver_rps_waiting"], out["rss_waiting_mb"] = await request_window(kube, window, pid)
        out["rss_hwm_mb"] = rss_mb(pid, "VmHWM")
        out["answered_before_cancel"] = sum(t.done() for t in tasks)
        out["parked_for_s"] = time.perf_counter() - started
        cancelled = time.perf_counter()
        cancels = await asyncio.gather(*(api.call("POST", f"/api/v1/runs/{i}/cancel") for i in ids))
        out["cancel_statuses"] = dict(Counter(str(status) for status, _ in cancels))
        results = await asyncio.gather(*tasks, return_exceptions=True)
    answers = [r for r in results if isinstance(r, tuple)]
    out["statuses"] = dict(
        Counter(str(r[0]) for r in answers) + Counter(type(r).__name__ for r in results if not isinstance(r, tuple))
    )
    out["run_status"] = dict(Counter(r[1] for r in answers))
    out["wake"] = summary([r[2] - cancelled for r in answers if r[0] == 200])
    out["kb_per_waiter"] = (out["rss_waiting_mb"] - out["rss_before_mb"]) * 1024 / max(n, 1)
    out["apiserver_rps_extra"] = out["apiserver_rps_waiting"] - out["apiserver_rps_baseline"]
    return out


BARE_APP = """
import asyncio, sys
from aiohttp import web

async def main():
    release = asyncio.Event()

    async def park(request):
        await release.wait()
        return web.Response(text="{}", content_type="application/json")

    async def done(request):
        release.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/api/v1/runs/{id}", park)
    app.router.add_post("/release", done)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(sys.argv[1])).start()
    print("listening", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def bare_floor(token: str, n: int, wait_timeout: int) -> dict[str, Any]:
    """The waiters of `waiters` parked on a bare aiohttp app: its RSS at rest and parked (the floor)."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", BARE_APP, str(port), stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    await proc.stdout.readline()
    out: dict[str, Any] = {"waiters": n}
    try:
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=wait_timeout + 60)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            bare = Api(f"http://127.0.0.1:{port}", token, session)
            out["rss_before_mb"] = rss_mb(proc.pid)
            tasks = []
            for i in range(n):  # the same pace as `waiters`
                tasks.append(asyncio.create_task(bare.call(
                    "GET", f"/api/v1/runs/{i % TARGET_RUNS:08x}-0000-4000-8000-000000000000",
                    wait="true", wait_timeout=str(wait_timeout))))  # fmt: skip
                if i % 100 == 99:
                    await asyncio.sleep(0.05)
            await asyncio.sleep(2)
            await until_quiet(proc.pid)
            out["rss_waiting_mb"] = rss_mb(proc.pid)
            async with session.post(f"http://127.0.0.1:{port}/release") as resp:
                resp.raise_for_status()
            results = await asyncio.gather(*tasks, return_exceptions=True)
        out["statuses"] = dict(Counter(str(r[0]) if isinstance(r, tuple) else type(r).__name__ for r in results))
        out["kb_per_waiter"] = (out["rss_waiting_mb"] - out["rss_before_mb"]) * 1024 / max(n, 1)
    finally:
        proc.terminate()
        await proc.wait()
    return out


async def bench(cluster: Cluster, api_proc: ApiProcess, token: str, args: argparse.Namespace) -> dict[str, Any]:
    async with client(cluster) as kube, aiohttp.ClientSession() as session:
        api = Api(api_proc.url, token, session)
        task = {"name": TASK, "title": "never before 2099", "description": "bench.api", "payload": {"spec": {
            "template": {"metadata": {"annotations": {"kwok.taskops.dev/duration": "120s"}},
                         "spec": {"containers": [{"name": "main", "image": "busybox"}]}}}}}  # fmt: skip
        status, body = await api.call("POST", "/api/v1/tasks", task)
        assert status == 201, body
        uid = (await kube.get(TASKS, NS, TASK))["metadata"]["uid"]
        out = await triggers(api, kube, uid, args.rate, args.seconds)
        out["waiting"] = await waiters(api, kube, api_proc.proc.pid, args.waiters, args.wait_timeout, args.window)
        out["bare_floor"] = await bare_floor(token, args.waiters, args.wait_timeout)
        return out


def row(name: str, s: dict[str, Any]) -> str:
    ms = [s[k] * 1000 for k in ("p50", "p99", "max")]
    return f"{name:<30} {s['n']:>6} {s['rate']:>7.1f} {ms[0]:>8.1f} {ms[1]:>8.1f} {ms[2]:>8.1f}"


def report(r: dict[str, Any], args: argparse.Namespace) -> None:
    raw, rest, w = r["raw"], r["rest"], r["waiting"]
    print(f"\ntriggers, open loop {args.rate:g}/s for {args.seconds:g} s (latency ms)")
    print(f"{'path':<30} {'ok':>6} {'req/s':>7} {'p50':>8} {'p99':>8} {'max':>8}")
    print(row("raw Run create (API server)", raw))
    print(row("REST executions (API)", rest))
    print(f"outcomes: raw {raw['outcomes']}, REST {rest['outcomes']}")
    print(f"ratio REST/raw: p50 {r['p50_ratio']:.2f}, p99 {r['p99_ratio']:.2f}")
    print(f"REST trigger p99 {rest['p99'] * 1000:.1f} ms (target <= 50 ms)")
    print(f"\n{w['waiters']} wait=true requests on {w['runs']} SCHEDULED runs (parked after {w['park_s']:.1f} s)")
    print(f"API RSS: before {w['rss_before_mb']:.0f} MB, parked {w['rss_waiting_mb']:.0f} MB, "
          f"high-water {w['rss_hwm_mb']:.0f} MB (target <= 150 MB); "
          f"{w['kb_per_waiter']:.1f} KB per waiter")  # fmt: skip
    f = r["bare_floor"]
    print(
        f"floor, a bare aiohttp app parking the same requests: {f['rss_before_mb']:.0f} MB at rest, "
        f"{f['rss_waiting_mb']:.0f} MB parked, {f['kb_per_waiter']:.1f} KB per waiter; answers {f['statuses']}"
    )
    print(f"API server requests/s over {w['window_s']:g} s: baseline {w['apiserver_rps_baseline']:.1f}, "
          f"waiters parked {w['apiserver_rps_waiting']:.1f}, extra {w['apiserver_rps_extra']:+.1f}")  # fmt: skip
    print(f"answered before cancel: {w['answered_before_cancel']}; cancels {w['cancel_statuses']}")
    print(f"answers {w['statuses']}, run status {w['run_status']}")
    print(f"wake after cancel (s): p50 {w['wake']['p50']:.2f}, p99 {w['wake']['p99']:.2f}, max {w['wake']['max']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=20.0, help="trigger requests per second")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds per trigger phase")
    parser.add_argument("--waiters", type=int, default=10_000)
    parser.add_argument("--wait-timeout", type=int, default=60, help="wait_timeout of each waiter (s)")
    parser.add_argument("--window", type=float, default=10.0, help="API server request-count window (s)")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    started = time.monotonic()
    # The benchmark parks all its waiters with one token: its own share must hold them all.
    waiters = str(max(args.waiters, 10_000))
    with cluster_with_api(NS, ("--max-waiters", waiters, "--max-waiters-per-caller", waiters)) as (
        cluster,
        api_proc,
        token,
    ):
        try:
            results = asyncio.run(bench(cluster, api_proc, token, args))
        finally:
            problems = [line for line in api_proc.tail(400).splitlines() if "ERROR" in line or "Traceback" in line]
        if problems:
            print("API log problems:\n" + "\n".join(problems[-20:]))
    results["p50_ratio"] = results["rest"]["p50"] / results["raw"]["p50"]
    results["p99_ratio"] = results["rest"]["p99"] / results["raw"]["p99"]
    results.update(rate=args.rate, seconds=args.seconds, runtime_s=time.monotonic() - started)
    report(results, args)
    print(f"saved {save('api', results)} ({results['runtime_s']:.0f} s)")


if __name__ == "__main__":
    main()
