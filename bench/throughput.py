"""Run → Job throughput: 2,000 Runs of one Task against 2,000 Jobs created directly, on one control plane.

Both phases use the same client (32 requests in flight) and the same short kwok pod (1 s), and a watch
in this process records when each object appears:

1. reference: 2,000 Jobs created straight on the API server; the rate is 2,000 / (time from the first
   create until the watch has seen the 2,000th Job). The namespace is then deleted and its Jobs and pods
   collected before the next phase.
2. taskops: 2,000 Runs of a Task with a concurrency key (limit 100,000, so every Run is admitted and the
   admission loop is on the path); rates: Runs admitted per second (the watch sees `status.admittedAt`)
   and Jobs per second (the watch sees the 2,000th Job the operator created), both from the first Run
   create.

    python -m bench.throughput --runs 2000
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench.common import (
    NAMESPACES,
    bounded,
    client,
    cluster_with_operator,
    make_namespace,
    run_body,
    save,
    short_pod,
    task_body,
    watch_events,
)
from devcluster.cluster import Cluster
from taskops.clients import errors
from taskops.clients.kube import KubeClient
from taskops.clients.resources import JOBS, RUNS, TASKS
from taskops.domain.resources import names

CONCURRENCY = 32


async def timed_phase(
    kube: KubeClient, ns: str, n: int, create: Any, watched: list[tuple[Any, Any]]
) -> tuple[float, dict[str, float]]:
    """Start the watches, create `n` objects; returns (create seconds, {watch name: seconds until n seen})."""
    stops = {name: asyncio.Event() for name, _ in watched}
    seen: dict[str, set[str]] = {name: set() for name, _ in watched}
    at: dict[str, float] = {}
    started = 0.0

    def handler(name: str, pred: Any) -> Any:
        def on(kind: str, obj: dict[str, Any], now: float) -> None:
            if kind in {"ADDED", "MODIFIED"} and pred(obj):
                seen[name].add(obj["metadata"]["name"])
                if len(seen[name]) >= n and name not in at:
                    at[name] = now - started
                    stops[name].set()

        return on

    watches = []
    for name, (res, pred) in watched:
        listing = await kube._request("GET", res.path(ns), params={"limit": "1"})
        rv = listing["metadata"]["resourceVersion"]
        watches.append(asyncio.create_task(watch_events(kube, res, ns, handler(name, pred), stops[name], rv)))
    started = time.perf_counter()
    await bounded(CONCURRENCY, (create(i) for i in range(n)))
    created = time.perf_counter() - started
    await asyncio.wait_for(asyncio.gather(*watches), timeout=max(600.0, n * 0.5))
    return created, at


async def reference(cluster: Cluster, kube: KubeClient, n: int) -> dict[str, Any]:
    ns = "bench-raw-jobs"
    await make_namespace(kube, cluster, ns)
    job = {"spec": {"backoffLimit": 0, "template": short_pod()}}

    async def create(i: int) -> None:
        await kube.create(JOBS, ns, {"metadata": {"name": f"job-{i}"}, **job})

    print(f"reference: creating {n} Jobs", flush=True)
    created, at = await timed_phase(kube, ns, n, create, [("jobs", (JOBS, lambda _: True))])
    # Delete between phases: the Job and pod controllers must not be busy with these during the next one.
    await kube.delete(NAMESPACES, None, ns)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            await kube.get(NAMESPACES, None, ns)
        except errors.NotFound:
            break
        await asyncio.sleep(1)
    return {"create_s": created, "jobs_s": at["jobs"], "jobs_per_s": n / at["jobs"]}


async def taskops(cluster: Cluster, kube: KubeClient, n: int, key: bool = True) -> dict[str, Any]:
    ns = "bench-runs" if key else "bench-runs-unkeyed"
    await make_namespace(kube, cluster, ns)
    extra = {"concurrencyKey": "burst", "concurrencyLimit": 100_000} if key else {}
    task = task_body("burst", short_pod(), **extra)
    uid = (await kube.create(TASKS, ns, task))["metadata"]["uid"]
    await asyncio.sleep(2)  # the Task's first version (a ControllerRevision) is written before any Run

    async def create(i: int) -> None:
        await kube.create(RUNS, ns, run_body("burst", uid, f"burst-{i}"))

    def admitted(obj: dict[str, Any]) -> bool:
        status = obj.get("status") or {}
        return bool(status.get("admittedAt")) or (not key and status.get("phase") not in {None, "CREATED"})

    def ours(obj: dict[str, Any]) -> bool:
        return names.LABEL_RUN in (obj["metadata"].get("labels") or {})

    print(f"taskops: creating {n} Runs", flush=True)
    created, at = await timed_phase(kube, ns, n, create, [("admitted", (RUNS, admitted)), ("jobs", (JOBS, ours))])
    return {
        "create_s": created,
        "admitted_s": at["admitted"],
        "admitted_per_s": n / at["admitted"],
        "jobs_s": at["jobs"],
        "jobs_per_s": n / at["jobs"],
    }


async def bench(cluster: Cluster, n: int, key: bool) -> dict[str, Any]:
    async with client(cluster) as kube:
        raw = await reference(cluster, kube, n)
        ours = await taskops(cluster, kube, n, key)
    return {"runs": n, "raw": raw, "taskops": ours, "ratio": ours["jobs_per_s"] / raw["jobs_per_s"]}


def run(n: int = 2000, key: bool = True, workers: int = 16) -> dict[str, Any]:
    """Both phases on a fresh control plane (the operator runs throughout; it ignores the raw Jobs)."""
    started = time.monotonic()
    with cluster_with_operator(workers=workers) as cluster:
        results = asyncio.run(bench(cluster, n, key))
    results.update(concurrency_key=key, operator_workers=workers)
    results["runtime_s"] = time.monotonic() - started
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--no-key", action="store_true", help="a Task without a concurrency key (no admission)")
    parser.add_argument("--workers", type=int, default=16, help="the operator's --workers (default 16, its default)")
    args = parser.parse_args()
    r = run(args.runs, key=not args.no_key, workers=args.workers)
    raw, ours = r["raw"], r["taskops"]
    print(f"\n{r['runs']} objects, {CONCURRENCY} creates in flight")
    print(f"reference, Jobs created directly: all seen after {raw['jobs_s']:.1f} s, {raw['jobs_per_s']:.0f} Jobs/s")
    print(f"taskops, Runs created:            all admitted after {ours['admitted_s']:.1f} s "
          f"({ours['admitted_per_s']:.0f}/s), all Jobs after {ours['jobs_s']:.1f} s "
          f"({ours['jobs_per_s']:.0f} Jobs/s)")  # fmt: skip
    print(f"ratio taskops / raw: {r['ratio']:.2f} (target >= 0.5)")
    print(f"saved {save('throughput', r)} ({r['runtime_s']:.0f} s)")


if __name__ == "__main__":
    main()
