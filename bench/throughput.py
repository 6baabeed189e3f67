"""Runs completed per second, end to end: 2,000 single-pod Runs against 2,000 plain Jobs, one control plane.

Three phases, one after the other on one fresh control plane with the operator running throughout (it
ignores Jobs it did not make), each in a namespace of its own that is deleted, and its Jobs and pods
collected, before the next. Every phase creates its objects from this process, 32 creates in flight, and
the same short kwok pod (it runs 1 s and succeeds); a watch in this process records when each object
reaches its end:

1. reference: 2,000 Jobs created straight on the API server; from the first create until the watch has
   seen every Job `Complete`;
2. taskops: 2,000 Runs of one Task without a concurrency key; from the first create until the watch has
   seen every Run `SUCCEEDED`;
3. taskops with a concurrency key (limit 100,000, above the 2,000 Runs, so every Run is admitted and the
   admission loop is on the path): the same.

The Tasks keep every Run (history limits of `n`), as nothing deletes the plain Jobs: with the default
history of 50 the operator deletes the older Runs while the newer run, and the garbage collector their Jobs
and pods, work the reference does not do (`--default-history` measures it that way).

The figure is objects completed per second (count ÷ that time); the ratio is taskops' against the plain
Jobs'. The breakdown keeps the creates per second (the creating client alone) and, for taskops, when the
last Run was admitted and the last Job appeared; per object, the time from the Run's create to its Job, from
the Job to `Complete`, and from `Complete` to the Run `SUCCEEDED` (p50/p99); the CPU each process of the
control plane, the operator and this process used per object in each phase (where the cores went: the
machine's load is saved too); and the operator's work queues (`--metrics-port`), sampled every 2 s. Each
phase watches each resource once, whatever it times on it.

    python -m bench.throughput --runs 2000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

from bench.common import (
    bounded,
    client,
    cluster_with_operator,
    cpu_snapshot,
    drop_namespace,
    make_namespace,
    run_body,
    sample_queues,
    save,
    short_pod,
    start_operator,
    summary,
    task_body,
    watch_events,
)
from devcluster.cluster import Cluster, free_port, stop_process
from taskops.clients.kube import KubeClient
from taskops.clients.resources import JOBS, RUNS, TASKS, Resource
from taskops.domain.resources import names

CONCURRENCY = 32
Predicate = Callable[[dict[str, Any]], bool]


def cpu_per_object(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, float]:
    """Milliseconds of CPU per object each process used in the phase: where the machine's cores went."""
    return {name: round(1000 * (after[name] - before[name]) / n, 2) for name in before}


async def timed_phase(
    kube: KubeClient,
    ns: str,
    n: int,
    create: Any,
    watched: dict[str, tuple[Resource, Predicate]],
    pids: dict[str, int],
) -> tuple[float, dict[str, float], dict[str, dict[str, float]], dict[str, float]]:
    """Start the watches, create `n` objects; → (create seconds, {watch name: seconds until `n` matched},
    {watch name: {Run or Job name: seconds until it first matched}}, {process: CPU ms per object}). One watch per
    resource serves every predicate on it: the reference phase and taskops' cost this process (and the API server)
    the same per event."""
    seen: dict[str, dict[str, float]] = {name: {} for name in watched}
    at: dict[str, float] = {}
    started = 0.0
    resources = {res.plural: res for res, _ in watched.values()}
    stops = {plural: asyncio.Event() for plural in resources}

    def handler(plural: str) -> Callable[[str, dict[str, Any], float], None]:
        preds = [(name, pred) for name, (res, pred) in watched.items() if res.plural == plural]

        def on(kind: str, obj: dict[str, Any], now: float) -> None:
            if kind not in {"ADDED", "MODIFIED"}:
                return
            # A Run's Job is keyed by its Run's name (its label), so that the two can be paired.
            meta = obj["metadata"]
            key = (meta.get("labels") or {}).get(names.LABEL_RUN, meta["name"])
            for name, pred in preds:
                if name not in at and pred(obj):
                    seen[name].setdefault(key, now - started)
                    if len(seen[name]) >= n:
                        at[name] = now - started
            if all(name in at for name, _ in preds):
                stops[plural].set()

        return on

    watches = []
    for plural, res in resources.items():
        listing = await kube._request("GET", res.path(ns), params={"limit": "1"})
        rv = listing["metadata"]["resourceVersion"]
        watches.append(asyncio.create_task(watch_events(kube, res, ns, handler(plural), stops[plural], rv)))
    cpu = cpu_snapshot(pids)
    started = time.perf_counter()
    await bounded(CONCURRENCY, (create(i) for i in range(n)))
    created = time.perf_counter() - started
    await asyncio.wait_for(asyncio.gather(*watches), timeout=max(900.0, n * 0.5))
    return created, at, seen, cpu_per_object(cpu, cpu_snapshot(pids), n)


def gaps(first: dict[str, float], then: dict[str, float]) -> dict[str, float]:
    """The seconds from one event to the next, per object: p50/p99 of then - first."""
    return summary([then[k] - first[k] for k in then if k in first])


def job_complete(obj: dict[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Complete" and c.get("status") == "True" for c in conditions)


async def reference(cluster: Cluster, kube: KubeClient, n: int, pids: dict[str, int]) -> dict[str, Any]:
    ns = "bench-raw-jobs"
    await make_namespace(kube, cluster, ns)
    job = {"spec": {"backoffLimit": 0, "template": short_pod()}}

    async def create(i: int) -> None:
        await kube.create(JOBS, ns, {"metadata": {"name": f"job-{i}"}, **job})

    print(f"reference: {n} Jobs", flush=True)
    created, at, times, cpu = await timed_phase(
        kube, ns, n, create, {"created": (JOBS, lambda _: True), "complete": (JOBS, job_complete)}, pids
    )
    await drop_namespace(kube, ns)
    return {
        "create_s": created,
        "creates_per_s": n / created,
        "jobs_s": at["created"],
        "complete_s": at["complete"],
        "completed_per_s": n / at["complete"],
        "job_to_complete": gaps(times["created"], times["complete"]),
        "cpu_ms_per_object": cpu,
    }


async def taskops(
    cluster: Cluster, kube: KubeClient, n: int, key: bool, metrics_port: int, history: bool, pids: dict[str, int]
) -> dict[str, Any]:
    ns = "bench-runs-key" if key else "bench-runs"
    await make_namespace(kube, cluster, ns)
    extra: dict[str, Any] = {"concurrencyKey": "burst", "concurrencyLimit": 100_000} if key else {}
    if not history:
        # Every Run kept, as every plain Job is: with the default history (50) the operator deletes the older
        # Runs as the newer end, and the garbage collector their Jobs and pods, work the reference does not do.
        extra.update(successfulRunsHistoryLimit=n, failedRunsHistoryLimit=n)
    uid = (await kube.create(TASKS, ns, task_body("burst", short_pod(), **extra)))["metadata"]["uid"]
    await asyncio.sleep(2)  # the Task's first version (a ControllerRevision) is written before any Run

    async def create(i: int) -> None:
        await kube.create(RUNS, ns, run_body("burst", uid, f"burst-{i}"))

    def started(obj: dict[str, Any]) -> bool:
        return bool((obj.get("status") or {}).get("jobName"))

    def succeeded(obj: dict[str, Any]) -> bool:
        return (obj.get("status") or {}).get("phase") == "SUCCEEDED"

    def ours(obj: dict[str, Any]) -> bool:
        return names.LABEL_RUN in (obj["metadata"].get("labels") or {})

    print(f"taskops{' with a concurrency key' if key else ''}: {n} Runs", flush=True)
    watched: dict[str, tuple[Resource, Predicate]] = {
        "created": (RUNS, lambda _: True),
        "started": (RUNS, started),
        "jobs": (JOBS, ours),
        "complete": (JOBS, lambda o: ours(o) and job_complete(o)),
        "succeeded": (RUNS, succeeded),
    }
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_queues(metrics_port, stop))
    try:
        created, at, times, cpu = await timed_phase(kube, ns, n, create, watched, pids)
    finally:
        stop.set()
        queues = await sampler
    await drop_namespace(kube, ns)
    return {
        "create_s": created,
        "creates_per_s": n / created,
        "started_s": at["started"],
        "jobs_s": at["jobs"],
        "jobs_per_s": n / at["jobs"],
        "succeeded_s": at["succeeded"],
        "completed_per_s": n / at["succeeded"],
        "complete_s": at["complete"],
        "run_to_job": gaps(times["created"], times["jobs"]),
        "job_to_complete": gaps(times["jobs"], times["complete"]),
        "complete_to_succeeded": gaps(times["complete"], times["succeeded"]),
        "queues": queues,
        "cpu_ms_per_object": cpu,
    }


async def bench(cluster: Cluster, n: int, metrics_port: int, history: bool, pids: dict[str, int]) -> dict[str, Any]:
    async with client(cluster) as kube:
        raw = await reference(cluster, kube, n, pids)
        plain = await taskops(cluster, kube, n, key=False, metrics_port=metrics_port, history=history, pids=pids)
        keyed = await taskops(cluster, kube, n, key=True, metrics_port=metrics_port, history=history, pids=pids)
    return {
        "runs": n,
        "raw": raw,
        "taskops": plain,
        "taskops_key": keyed,
        "ratio": plain["completed_per_s"] / raw["completed_per_s"],
        "ratio_key": keyed["completed_per_s"] / raw["completed_per_s"],
    }


def run(n: int = 2000, workers: int = 16, history: bool = False) -> dict[str, Any]:
    started = time.monotonic()
    load = os.getloadavg()
    port = free_port()
    with cluster_with_operator(operator=False) as cluster:
        operator = start_operator(cluster, workers, extra=("--metrics-port", str(port)))
        try:
            pids = {name: proc.pid for name, proc in cluster.procs.items()} | {"operator": operator.pid}
            results = asyncio.run(bench(cluster, n, port, history, pids))
        finally:
            stop_process(operator)
    results.update(
        operator_workers=workers,
        default_history=history,
        runtime_s=time.monotonic() - started,
        load_avg=[load, list(os.getloadavg())],
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=16, help="the operator's --workers (default 16, its default)")
    parser.add_argument(
        "--default-history",
        action="store_true",
        help="keep the Task's default history limits (50): the operator deletes older Runs during the phase",
    )
    args = parser.parse_args()
    r = run(args.runs, workers=args.workers, history=args.default_history)
    raw = r["raw"]
    print(f"\n{r['runs']} objects, {CONCURRENCY} creates in flight; completed per second, first create to last end")
    print(f"plain Jobs:                 {raw['completed_per_s']:6.1f}/s (all Complete after {raw['complete_s']:.1f} s; "
          f"created at {raw['creates_per_s']:.0f}/s)")  # fmt: skip
    for key, label in (("taskops", "taskops Runs"), ("taskops_key", "taskops Runs, concurrency key")):
        t = r[key]
        print(f"{label + ':':<27} {t['completed_per_s']:6.1f}/s (all SUCCEEDED after {t['succeeded_s']:.1f} s; "
              f"created at {t['creates_per_s']:.0f}/s, last Job after {t['jobs_s']:.1f} s)")  # fmt: skip
        for gap in ("run_to_job", "job_to_complete", "complete_to_succeeded"):
            print(f"    {gap:<22} p50 {t[gap]['p50']:6.2f} s  p99 {t[gap]['p99']:6.2f} s")
        runq = [p["run"] for p in t["queues"] if "run" in p]
        if runq:
            waits = [q["wait_mean"] for q in runq if q["wait_mean"] is not None]
            print(f"    Run queue: depth max {max(q['depth'] for q in runq):.0f}, keys taken "
                  f"{sum(q['wait_n'] for q in runq):.0f}, mean wait max {max(waits, default=0):.2f} s")  # fmt: skip
    print("CPU ms per object (plain Jobs / taskops / with a key):")
    for name in raw["cpu_ms_per_object"]:
        cells = [f"{r[k]['cpu_ms_per_object'][name]:6.1f}" for k in ("raw", "taskops", "taskops_key")]
        print(f"    {name:<24} " + " ".join(cells))
    print(f"plain Jobs: job_to_complete p50 {raw['job_to_complete']['p50']:.2f} s  p99 "
          f"{raw['job_to_complete']['p99']:.2f} s; load average {r['load_avg']}")  # fmt: skip
    print(f"ratio: {r['ratio']:.2f} (target >= 0.8); with a key: {r['ratio_key']:.2f} (target >= 0.7)")
    print(f"saved {save('throughput', r)} ({r['runtime_s']:.0f} s)")


if __name__ == "__main__":
    main()
