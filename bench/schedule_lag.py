"""Schedule fire lag: taskops Tasks against built-in CronJobs on the same control plane.

Lag = when the Run (or the CronJob's Job) is seen by a watch, minus its scheduled
time. Both systems are measured by the same watcher in this process, one after
the other on one fresh control plane (the operator runs only during its own
phase). CronJobs only have minute granularity, so the comparison uses
`* * * * *` for both; `--spread` adds a taskops-only run whose Tasks fire at
second (i mod 60) of each minute.

A third phase measures the floor: with the operator stopped, a separate client
process creates the very Runs the operator would (bodies built in advance) at
each minute boundary, as fast as the API server takes them. Its lag is what the
API server and the watch alone cost; no scheduler can be below it here.

    python -m bench.schedule_lag --tasks 1000 --minutes 2
    python -m bench.schedule_lag --tasks 5000 --minutes 2 --spread --skip-cronjob
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing
import time
from typing import Any

from bench.common import client, cluster_with_operator, save, start_operator, summary
from devcluster.cluster import Cluster, stop_process
from taskops.clients import credentials
from taskops.clients.kube import KubeClient
from taskops.clients.resources import JOBS, TASKS, Resource
from taskops.domain.resources import timefmt
from taskops.domain.resources.task import Task
from taskops.domain.scheduling.firedruns import build_scheduled_run

CRONJOBS = Resource("batch", "v1", "cronjobs")
NAMESPACES = Resource("", "v1", "namespaces")
RUNS = Resource("taskops.dev", "v1alpha1", "runs")
POD = {
    "metadata": {"annotations": {"kwok.taskops.dev/duration": "1s"}},
    "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]},
}


async def create_all(
    kube: KubeClient, res: Resource, ns: str, bodies: list[dict[str, Any]], concurrency: int = 32
) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def one(body: dict[str, Any]) -> None:
        async with sem:
            await kube.create(res, ns, body)

    await asyncio.gather(*(one(b) for b in bodies))


async def patch_all(kube: KubeClient, res: Resource, ns: str, names: list[str], patch: dict[str, Any]) -> None:
    sem = asyncio.Semaphore(32)

    async def one(name: str) -> None:
        async with sem:
            await kube.patch(res, ns, name, patch)

    await asyncio.gather(*(one(n) for n in names))


async def measure(
    kube: KubeClient, res: Resource, ns: str, scheduled_of: Any, start: dt.datetime, end: dt.datetime
) -> list[float]:
    """Watch `res` in `ns`; return the lag of every object scheduled in [start, end)."""
    lags: list[float] = []
    listing = await kube._request("GET", res.path(ns), params={"limit": "1"})
    rv = listing["metadata"]["resourceVersion"]
    deadline = end + dt.timedelta(seconds=30)
    while dt.datetime.now(dt.UTC) < deadline:
        remaining = int((deadline - dt.datetime.now(dt.UTC)).total_seconds()) + 1
        try:
            async for kind, obj in kube.watch(res, ns, resource_version=rv, timeout_seconds=remaining):
                seen = time.time()
                rv = obj.get("metadata", {}).get("resourceVersion", rv)
                if kind != "ADDED":
                    continue
                when = scheduled_of(obj)
                if when is not None and start <= when < end:
                    lags.append(seen - when.timestamp())
        except (TimeoutError, OSError):
            continue
    return lags


def run_scheduled(obj: dict[str, Any]) -> dt.datetime | None:
    value = (obj.get("spec") or {}).get("scheduledTime")
    return timefmt.parse_optional(value)


def job_scheduled(obj: dict[str, Any]) -> dt.datetime | None:
    value = (obj["metadata"].get("annotations") or {}).get("batch.kubernetes.io/cronjob-scheduled-timestamp")
    return timefmt.parse_optional(value)


def window(minutes: int, lead: float = 15.0) -> tuple[dt.datetime, dt.datetime]:
    """Fires from the first minute boundary at least `lead` seconds away, for `minutes` minutes."""
    now = dt.datetime.now(dt.UTC)
    start = (now + dt.timedelta(seconds=lead)).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    return start, start + dt.timedelta(minutes=minutes)


async def cronjob_phase(cluster: Cluster, n: int, minutes: int) -> list[float]:
    async with client(cluster) as kube:
        ns = "bench-cronjob"
        await kube.create(NAMESPACES, None, {"metadata": {"name": ns}})
        cluster.wait_namespace_ready(ns)
        bodies: list[dict[str, Any]] = [
            {
                "metadata": {"name": f"cj-{i}"},
                "spec": {
                    "schedule": "* * * * *",
                    "successfulJobsHistoryLimit": 1,
                    "failedJobsHistoryLimit": 1,
                    "jobTemplate": {"spec": {"backoffLimit": 0, "template": POD}},
                },
            }
            for i in range(n)
        ]
        await create_all(kube, CRONJOBS, ns, bodies)
        start, end = window(minutes)
        print(f"cronjob: {n} CronJobs created; measuring fires {start:%H:%M:%S}..{end:%H:%M:%S}", flush=True)
        lags = await measure(kube, JOBS, ns, job_scheduled, start, end)
        await patch_all(kube, CRONJOBS, ns, [b["metadata"]["name"] for b in bodies], {"spec": {"suspend": True}})
        return lags


async def taskops_phase(cluster: Cluster, n: int, minutes: int, spread: bool) -> list[float]:
    async with client(cluster) as kube:
        ns = "bench-taskops-spread" if spread else "bench-taskops"
        await kube.create(NAMESPACES, None, {"metadata": {"name": ns}})
        cluster.wait_namespace_ready(ns)
        bodies: list[dict[str, Any]] = [
            {
                "apiVersion": "taskops.dev/v1alpha1",
                "kind": "Task",
                "metadata": {"name": f"t-{i}"},
                "spec": {
                    "scheduleKind": "cron",
                    "scheduleExpr": f"{i % 60} * * * * *" if spread else "* * * * *",
                    "successfulRunsHistoryLimit": 1,
                    "failedRunsHistoryLimit": 1,
                    "payload": {"spec": {"template": POD}},
                },
            }
            for i in range(n)
        ]
        await create_all(kube, TASKS, ns, bodies)
        start, end = window(minutes)
        print(f"taskops: {n} Tasks created; measuring fires {start:%H:%M:%S}..{end:%H:%M:%S}", flush=True)
        lags = await measure(kube, RUNS, ns, run_scheduled, start, end)
        await patch_all(kube, TASKS, ns, [b["metadata"]["name"] for b in bodies], {"spec": {"state": "paused"}})
        return lags


def raw_creator(kubeconfig: str, tasks: list[dict[str, Any]], start: dt.datetime, minutes: int) -> None:
    """In its own process: at each minute boundary, create every Task's Run for it at once."""

    async def main() -> None:
        models = [Task.model_validate(t) for t in tasks]
        async with KubeClient(credentials.from_kubeconfig(kubeconfig), user_agent="taskops-bench-raw") as kube:
            for k in range(minutes):
                at = start + dt.timedelta(minutes=k)
                bodies = [build_scheduled_run(task, at) for task in models]
                await asyncio.sleep(max(0.0, (at - dt.datetime.now(dt.UTC)).total_seconds() - 2))
                # Open the connections now, as a running operator has them open: no TLS handshakes at the fire.
                path = TASKS.path(bodies[0]["metadata"]["namespace"])
                await asyncio.gather(*(kube._request("GET", path, params={"limit": "1"}) for _ in range(32)))
                await asyncio.sleep(max(0.0, (at - dt.datetime.now(dt.UTC)).total_seconds()))
                await create_all(kube, RUNS, bodies[0]["metadata"]["namespace"], bodies)

    asyncio.run(main())


async def raw_phase(cluster: Cluster, minutes: int) -> list[float]:
    """The floor: the taskops phase's Runs, created by a plain client at their times (the operator is stopped)."""
    async with client(cluster) as kube:
        ns = "bench-taskops"
        tasks, _ = await kube.list_all(TASKS, ns)
        start, end = window(minutes)
        spawn = multiprocessing.get_context("spawn")
        creator = spawn.Process(target=raw_creator, args=(str(cluster.kubeconfig), tasks, start, minutes))
        creator.start()
        print(f"raw: {len(tasks)} Runs per minute; measuring fires {start:%H:%M:%S}..{end:%H:%M:%S}", flush=True)
        try:
            return await measure(kube, RUNS, ns, run_scheduled, start, end)
        finally:
            creator.join(timeout=60)
            if creator.is_alive():
                creator.kill()


def with_samples(lags: list[float]) -> dict[str, Any]:
    """The summary and every lag (seconds, rounded to 0.1 ms), for the report's distribution chart."""
    return {**summary(lags), "samples": [round(x, 4) for x in lags]}


def row(name: str, s: dict[str, float]) -> str:
    return f"{name:<28} {s['n']:>6.0f} {s['p50'] * 1000:>9.0f} {s['p99'] * 1000:>9.0f} {s['max'] * 1000:>9.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=2, help="fire minutes measured per system")
    parser.add_argument("--spread", action="store_true", help="also measure Tasks spread over the minute")
    parser.add_argument("--skip-cronjob", action="store_true")
    parser.add_argument("--skip-raw", action="store_true", help="skip the API-server floor phase")
    args = parser.parse_args()
    results: dict[str, Any] = {"tasks": args.tasks, "minutes": args.minutes}
    with cluster_with_operator(operator=False) as cluster:
        if not args.skip_cronjob:
            results["cronjob"] = with_samples(asyncio.run(cronjob_phase(cluster, args.tasks, args.minutes)))
        operator = start_operator(cluster)
        try:
            time.sleep(2)
            lags = asyncio.run(taskops_phase(cluster, args.tasks, args.minutes, spread=False))
            results["taskops"] = with_samples(lags)
            if args.spread:
                results["taskops_spread"] = with_samples(
                    asyncio.run(taskops_phase(cluster, args.tasks, args.minutes, spread=True))
                )
        finally:
            stop_process(operator)
        if not args.skip_raw:
            results["raw"] = with_samples(asyncio.run(raw_phase(cluster, args.minutes)))
    print(f"\nfire lag, {args.tasks} schedules, {args.minutes} min each (ms)")
    print(f"{'system':<28} {'fires':>6} {'p50':>9} {'p99':>9} {'max':>9}")
    if "cronjob" in results:
        print(row("CronJob controller", results["cronjob"]))
    print(row("taskops (all at :00)", results["taskops"]))
    if "raw" in results:
        print(row("raw creates (API floor)", results["raw"]))
    if "taskops_spread" in results:
        print(row("taskops (spread over :00-:59)", results["taskops_spread"]))
    if "cronjob" in results:
        ratio = results["taskops"]["p99"] / results["cronjob"]["p99"]
        results["p99_ratio_taskops_to_cronjob"] = ratio
        print(f"\np99 ratio taskops / CronJob: {ratio:.3f} (target <= 0.25)")
    if "raw" in results:
        floor = results["taskops"]["p99"] / results["raw"]["p99"]
        results["p99_ratio_taskops_to_raw"] = floor
        print(f"p99 ratio taskops / raw creates: {floor:.3f}")
    print(f"saved {save(f'schedule_lag_{args.tasks}', results)}")


if __name__ == "__main__":
    main()
