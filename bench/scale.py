"""Scale: operator start on a cluster holding 10,000 Tasks and 100,000 finished Runs.

Setup (not measured), on a fresh control plane:

1. 10,000 Tasks with a yearly schedule (`0 0 1 1 *`: armed, but nothing fires during the bench);
   the operator is started once until it has written each Task's first version and status, then
   stopped — the measured start is a restart, as in production;
2. 100,000 Runs, 10 per Task, already SUCCEEDED (under the Tasks' default history limit of 50, so
   nothing is pruned). A Run's status is a subresource, so through the API server each would cost a
   create and a status patch (200,000 requests, over 10 minutes on a 2-core machine); instead the
   objects are put straight into etcd, as JSON under /registry/taskops.dev/runs/..., which is how the
   API server stores custom resources. The API server's watch cache picks them up like any write;
   the fill is checked by listing them through the API server.

Measured, from spawning the operator process:

- ready: `/readyz` answers 200 (the operator has read every Run once and may admit);
- probe: a Run created the moment the operator is ready, until its Job exists (new work is served);
- settled: the first 2 s window after ready in which the operator used under 5 % of a CPU (it has
  processed its initial listings: every Task synced, every Run's watch event handled);
- RSS: the operator's VmHWM (peak resident set) when settled.

Reference, same cluster: a plain client (a fresh Python process) listing every Task and Run once, in
pages of 500 as an informer does — the time and memory floor of any controller that caches them.

    python -m bench.scale --tasks 10000 --runs 100000
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import subprocess
import sys
import time
import uuid
from typing import Any

import aiohttp

from bench.common import (
    bounded,
    client,
    cluster_with_operator,
    cpu_seconds,
    make_namespace,
    rss_mb,
    run_body,
    save,
    short_pod,
    start_operator,
    task_body,
)
from devcluster.cluster import Cluster, free_port, stop_process
from taskops import GROUP
from taskops.clients.kube import KubeClient
from taskops.clients.resources import JOBS, RUNS, TASKS
from taskops.domain.resources import names

NS = "bench-scale"
CONCURRENCY = 64
YEARLY = "0 0 1 1 *"


async def fill_tasks(kube: KubeClient, n: int) -> list[str]:
    bodies = [task_body(f"t-{i}", short_pod(), scheduleKind="cron", scheduleExpr=YEARLY) for i in range(n)]
    created = await bounded(CONCURRENCY, (kube.create(TASKS, NS, b) for b in bodies))
    return [c["metadata"]["uid"] for c in created]


async def fill_runs(cluster: Cluster, uids: list[str], n: int) -> None:
    """Put `n` finished Runs straight into etcd, 128 per transaction (etcd's default limit)."""
    ended = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def put(i: int) -> dict[str, Any]:
        task = i % len(uids)
        run = run_body(f"t-{task}", uids[task], f"t-{task}-{i // len(uids)}")
        at = (ended + dt.timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
        run["metadata"].update(namespace=NS, uid=str(uuid.uuid4()), creationTimestamp=at, generation=1)
        run["status"] = {
            "phase": "SUCCEEDED",
            "endReason": "success",
            "message": "filled by bench.scale",
            "attempt": 1,
            "jobName": f"{run['metadata']['name']}-1",
            "startTime": at,
            "endTime": at,
        }
        key = f"/registry/{GROUP}/runs/{NS}/{run['metadata']['name']}"
        value = json.dumps(run, separators=(",", ":"))
        return {"requestPut": {"key": b64(key), "value": b64(value)}}

    url = f"http://127.0.0.1:{cluster.etcd_port}/v3/kv/txn"
    async with aiohttp.ClientSession() as http:

        async def txn(first: int) -> None:
            body = {"success": [put(i) for i in range(first, min(n, first + 128))]}
            async with http.post(url, json=body) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"etcd txn: {resp.status} {await resp.text()}")

        await bounded(8, (txn(first) for first in range(0, n, 128)))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def count_runs(kube: KubeClient) -> int:
    listing = await kube._request("GET", RUNS.path(NS), params={"limit": "1"})
    return int(listing["metadata"].get("remainingItemCount", 0)) + len(listing.get("items") or [])


async def until_settled(pid: int, limit: float, window: float = 2.0, share: float = 0.05) -> float | None:
    """Seconds until a `window` in which `pid` used under `share` of a CPU (None: not within `limit`)."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        used = cpu_seconds(pid)
        await asyncio.sleep(window)
        if cpu_seconds(pid) - used < share * window:
            return time.perf_counter() - started - window
    return None


async def measure_start(cluster: Cluster, kube: KubeClient, limit: float, probe: str) -> dict[str, Any]:
    port = free_port()
    log = cluster.logs / "operator.log"
    log_from = log.stat().st_size if log.exists() else 0
    spawned = time.perf_counter()
    proc = start_operator(cluster, extra=("--metrics-port", str(port)))
    peak_sampled = 0.0
    out: dict[str, Any] = {}
    try:
        async with aiohttp.ClientSession() as http:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"operator exited {proc.returncode}; see {cluster.logs}/operator.log")
                peak_sampled = max(peak_sampled, rss_mb(proc.pid))
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if time.perf_counter() - spawned > limit:
                    out.update(ready_s=None, error=f"not ready in {limit:g} s", rss_peak_mb=peak_sampled)
                    out["operator_problems"] = operator_problems(cluster, log_from)
                    return out
                await asyncio.sleep(0.1)
        ready = time.perf_counter()
        out["ready_s"] = ready - spawned
        out["rss_at_ready_mb"] = rss_mb(proc.pid)
        task = await kube.get(TASKS, NS, "t-0")
        await kube.create(RUNS, NS, run_body("t-0", task["metadata"]["uid"], probe))
        while not await kube.list(JOBS, NS, label_selector=f"{names.LABEL_RUN}={probe}"):
            peak_sampled = max(peak_sampled, rss_mb(proc.pid))
            if time.perf_counter() - ready > limit:
                raise TimeoutError(f"probe Run got no Job in {limit} s")
            await asyncio.sleep(0.1)
        out["probe_job_s"] = time.perf_counter() - ready
        settled = await until_settled(proc.pid, limit)
        out["settled_s"] = None if settled is None else time.perf_counter() - spawned - 2.0
        out["rss_settled_mb"] = rss_mb(proc.pid)
        out["rss_peak_mb"] = max(rss_mb(proc.pid, "VmHWM"), peak_sampled)
        out["cpu_s"] = cpu_seconds(proc.pid)
        out["operator_problems"] = operator_problems(cluster, log_from)
    finally:
        stop_process(proc)
    return out


LISTING = """
import asyncio, json, resource, sys, time
from taskops.clients import credentials
from taskops.clients.kube import KubeClient
from taskops.clients.resources import RUNS, TASKS

async def main():
    creds = credentials.from_kubeconfig(sys.argv[1])
    async with KubeClient(creds, user_agent="taskops-bench", timeout=300) as kube:
        start = time.perf_counter()
        tasks, _ = await kube.list_all(TASKS)
        runs, _ = await kube.list_all(RUNS)
        took = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"list_s": took, "rss_peak_mb": peak, "tasks": len(tasks), "runs": len(runs)}))

asyncio.run(main())
"""


def listing_reference(cluster: Cluster, attempts: int = 3) -> dict[str, Any]:
    """A fresh process listing every Task and Run in pages of 500 (as an informer does): time and peak RSS.

    Right after the Runs are put into etcd the API server's watch cache can still be behind the list's
    resourceVersion (504 "Too large resource version"); the listing is then run again, as an informer retries.
    """
    errors: list[str] = []
    for _ in range(attempts):
        out = subprocess.run(
            [sys.executable, "-c", LISTING, str(cluster.kubeconfig)], capture_output=True, text=True, check=False
        )
        if out.returncode == 0:
            result: dict[str, Any] = json.loads(out.stdout)
            result["failed_attempts"] = errors
            return result
        errors.extend(out.stderr.strip().splitlines()[-1:])
        time.sleep(5)
    return {"error": errors}


def operator_problems(cluster: Cluster, since: int) -> list[str]:
    """The operator log's warning and error lines written after byte `since` (the last 10)."""
    log = cluster.logs / "operator.log"
    if not log.exists():
        return []
    with open(log, "rb") as f:
        f.seek(since)
        lines = f.read().decode(errors="replace").splitlines()
    return [line[:300] for line in lines if "WARNING" in line or "ERROR" in line or "Error" in line][-10:]


async def bench(cluster: Cluster, tasks: int, runs: int, limit: float) -> dict[str, Any]:
    out: dict[str, Any] = {"tasks": tasks, "runs": runs}
    async with client(cluster) as kube:
        await make_namespace(kube, cluster, NS)
        started = time.perf_counter()
        uids = await fill_tasks(kube, tasks)
        out["fill_tasks_s"] = time.perf_counter() - started
        print(f"scale: {tasks} Tasks in {out['fill_tasks_s']:.0f} s; first operator start", flush=True)
        out["first_start"] = await measure_start(cluster, kube, limit, "probe-first")
        started = time.perf_counter()
        await fill_runs(cluster, uids, runs)
        for _ in range(120):  # the API server's watch cache follows etcd a moment later
            if (seen := await count_runs(kube)) >= runs:
                break
            await asyncio.sleep(0.5)
        else:
            raise RuntimeError(f"the API server lists {seen} Runs, not {runs}")
        out["fill_runs_s"] = time.perf_counter() - started
        print(f"scale: {runs} finished Runs in {out['fill_runs_s']:.0f} s; measured restart", flush=True)
        out["reference_listing"] = await asyncio.to_thread(listing_reference, cluster)
        out["restart"] = await measure_start(cluster, kube, limit, "probe-restart")
    return out


def run(tasks: int = 10_000, runs: int = 100_000, limit: float = 600.0) -> dict[str, Any]:
    started = time.monotonic()
    with cluster_with_operator(operator=False) as cluster:
        results = asyncio.run(bench(cluster, tasks, runs, limit))
    results["runtime_s"] = time.monotonic() - started
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--limit", type=float, default=600.0, help="give up waiting after this many seconds")
    args = parser.parse_args()
    r = run(args.tasks, args.runs, args.limit)
    first, again, ref = r["first_start"], r["restart"], r["reference_listing"]
    print(f"\n{r['tasks']} Tasks, {r['runs']} finished Runs")
    for name, s in (("first start (Tasks only)", first), ("restart (Tasks and Runs)", again)):
        if s.get("ready_s") is None:
            print(f"{name}: {s.get('error')}; peak RSS {s['rss_peak_mb']:.0f} MB; {s.get('operator_problems')}")
            continue
        settled = "not within the limit" if s["settled_s"] is None else f"{s['settled_s']:.1f} s"
        print(
            f"{name}: ready {s['ready_s']:.1f} s, probe Job +{s['probe_job_s']:.1f} s, settled {settled}, "
            f"RSS at ready {s['rss_at_ready_mb']:.0f} MB, peak {s['rss_peak_mb']:.0f} MB, CPU {s['cpu_s']:.0f} s"
        )
    if "error" in ref:
        print(f"reference listing failed: {ref['error']}")
    else:
        print(f"reference, listing every Task and Run: {ref['list_s']:.1f} s, peak RSS {ref['rss_peak_mb']:.0f} MB")
    if "error" not in ref and again.get("ready_s") is not None:
        print(f"restart ready / listing: {again['ready_s'] / ref['list_s']:.2f}")
    print("targets: restart ready <= 1.2 x the listing, peak RSS <= 400 MB")
    print(f"saved {save('scale', r)} ({r['runtime_s']:.0f} s)")


if __name__ == "__main__":
    main()
