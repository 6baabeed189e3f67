"""Schedule lag, as a user waits for it: fire → Job created and fire → pod Running.

Three systems, one after the other on one fresh control plane, each in a namespace of its own that is
deleted (and its Jobs and pods collected) before the next phase:

1. the CronJob controller: `n` CronJobs (the operator is not running);
2. the floor: with the operator not running, a separate client process creates, at each fire instant,
   the very Jobs taskops would create for those fires (`build_job` of each Task's fire, without the
   owner reference to a Run), bodies built and 32 connections opened in advance, 32 creates in flight;
3. taskops: `n` Tasks with the same schedules, the operator running.

The same watcher (this process: one watch on Jobs, one on pods, per namespace) measures all three with
the same start and end events: the start is the fire time (the CronJob's
`batch.kubernetes.io/cronjob-scheduled-timestamp` annotation; for taskops and the floor, the fire time
in the `taskops.dev/run` label's `<task>-<YYYYMMDD>-<HHMMSS>`), the end is the moment the watch delivers
the Job's ADDED event, or the first event of its pod in phase Running (or already past it). Only fires
in the measured window count; every Job of a fire is counted once.

Two scenarios:
- `--tasks 1000`: every schedule `* * * * *`: 1,000 fires due in the same second;
- `--tasks 5000 --spread`: Task `i` fires at second `i mod 60` of each minute (a 6-field cron), and the
  floor creates each second's Jobs at that second. The CronJob controller has minute granularity and
  cannot spread its fires over the minute: its 5,000 CronJobs all fire at :00, the only way it offers
  of firing 5,000 times a minute; read its ratio with that in mind.

For taskops the watcher also records when each Run appears and when it is seen RUNNING (its status
names the Job), which splits fire → Job into fire → Run, Run → status, status → Job.
The taskops window is picked once the operator has written every Task's first version (its first pass
over the new Tasks is done), and the operator's work queues are sampled from its `/metrics` through the
phase (depth, keys in work, mean wait: printed, and saved under `taskops.queues`).

    python -m bench.schedule_lag --tasks 1000 --minutes 2
    python -m bench.schedule_lag --tasks 5000 --minutes 2 --spread
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import multiprocessing
import os
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from bench.common import (
    bounded,
    client,
    cluster_with_operator,
    cpu_snapshot,
    drop_namespace,
    make_namespace,
    sample_queues,
    save,
    start_operator,
    summary,
    watch_events,
)
from devcluster.cluster import Cluster, free_port, stop_process
from taskops.clients import credentials, errors
from taskops.clients.kube import KubeClient
from taskops.clients.resources import JOBS, PODS, REVISIONS, RUNS, TASKS, Resource
from taskops.domain.execution.jobs import build_job
from taskops.domain.resources import names, timefmt
from taskops.domain.resources.run import Run
from taskops.domain.resources.task import Task
from taskops.domain.scheduling.firedruns import build_scheduled_run

CRONJOBS = Resource("batch", "v1", "cronjobs")
POD = {
    "metadata": {"annotations": {"kwok.taskops.dev/duration": "1s"}},
    "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]},
}
CONCURRENCY = 32
# How long after the window's last fire the watcher waits for the last Jobs and pods.
DRAIN = dt.timedelta(seconds=150)
_FIRE_IN_NAME = re.compile(r"-(\d{8}-\d{6})$")


def second_of(i: int, spread: bool) -> int:
    return i % 60 if spread else 0


def task_body(i: int, spread: bool) -> dict[str, Any]:
    return {
        "apiVersion": "taskops.dev/v1alpha1",
        "kind": "Task",
        "metadata": {"name": f"t-{i}"},
        "spec": {
            "scheduleKind": "cron",
            "scheduleExpr": f"{second_of(i, spread)} * * * * *",
            "successfulRunsHistoryLimit": 1,
            "failedRunsHistoryLimit": 1,
            "payload": {"spec": {"template": POD}},
        },
    }


def cronjob_body(i: int) -> dict[str, Any]:
    return {
        "metadata": {"name": f"cj-{i}"},
        "spec": {
            "schedule": "* * * * *",
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 1,
            "jobTemplate": {"spec": {"backoffLimit": 0, "template": POD}},
        },
    }


def job_fire(job: dict[str, Any]) -> dt.datetime | None:
    """The fire a Job was made for: the CronJob controller's annotation, or the time in taskops' Run name."""
    meta = job["metadata"]
    stamp = (meta.get("annotations") or {}).get("batch.kubernetes.io/cronjob-scheduled-timestamp")
    if stamp:
        return timefmt.parse(stamp)
    run = (meta.get("labels") or {}).get(names.LABEL_RUN, "")
    return run_fire(run)


def run_fire(run_name: str) -> dt.datetime | None:
    found = _FIRE_IN_NAME.search(run_name)
    return dt.datetime.strptime(found.group(1), "%Y%m%d-%H%M%S").replace(tzinfo=dt.UTC) if found else None


def window(minutes: int, lead: float = 100.0) -> tuple[dt.datetime, dt.datetime]:
    """Fires from the first minute boundary at least `lead` seconds away, for `minutes` minutes: every system
    is measured in its steady state, on fires of schedules that exist well before them (taskops creates a
    fire's Run 30 s ahead, once the Task's first status sync has computed its next fires)."""
    now = dt.datetime.now(dt.UTC)
    start = (now + dt.timedelta(seconds=lead)).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    return start, start + dt.timedelta(minutes=minutes)


@dataclass
class Watcher:
    """Wall-clock times at which the watches delivered each Job, its pod Running and (taskops) its Run."""

    start: dt.datetime
    end: dt.datetime
    expected: int
    jobs: dict[str, tuple[dt.datetime, float]] = field(default_factory=dict)
    pods: dict[str, float] = field(default_factory=dict)
    runs: dict[str, float] = field(default_factory=dict)
    runs_running: dict[str, float] = field(default_factory=dict)
    made_ahead: set[str] = field(default_factory=set)
    # Pods Running of the window's Jobs: those of fires before it (the schedules fire from their creation on)
    # must not end the watch before every pod of the window is seen.
    pods_in_window: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def _in_window(self, fire: dt.datetime | None) -> bool:
        return fire is not None and self.start <= fire < self.end

    def _check(self) -> None:
        if len(self.jobs) >= self.expected and self.pods_in_window >= self.expected:
            self.done.set()

    def on_job(self, kind: str, obj: dict[str, Any], _: float) -> None:
        name = obj["metadata"]["name"]
        if kind == "ADDED" and name not in self.jobs:
            fire = job_fire(obj)
            if self._in_window(fire):
                assert fire is not None
                self.jobs[name] = (fire, time.time())
                self.pods_in_window += name in self.pods  # its pod's event came first (two watches)
                self._check()

    def on_pod(self, kind: str, obj: dict[str, Any], _: float) -> None:
        job = (obj["metadata"].get("labels") or {}).get(names.LABEL_JOB_NAME)
        phase = (obj.get("status") or {}).get("phase")
        if job and job not in self.pods and phase in {"Running", "Succeeded", "Failed"} and kind != "DELETED":
            self.pods[job] = time.time()
            self.pods_in_window += job in self.jobs
            self._check()

    def on_run(self, kind: str, obj: dict[str, Any], _: float) -> None:
        name = obj["metadata"]["name"]
        if kind == "DELETED" or not self._in_window(run_fire(name)):
            return
        now = time.time()
        self.runs.setdefault(name, now)
        if names.ANNOTATION_AHEAD in (obj["metadata"].get("annotations") or {}):
            self.made_ahead.add(name)
        if (obj.get("status") or {}).get("jobName") and name not in self.runs_running:
            self.runs_running[name] = now

    def lags(self) -> dict[str, Any]:
        job_lags = [seen - fire.timestamp() for fire, seen in self.jobs.values()]
        pod_lags = [self.pods[j] - fire.timestamp() for j, (fire, _) in self.jobs.items() if j in self.pods]
        out: dict[str, Any] = {
            "expected": self.expected,
            "job": with_samples(job_lags),
            "pod_running": with_samples(pod_lags),
        }
        if self.runs:
            fires = {name: run_fire(name) for name in self.runs}
            out["run"] = summary([t - f.timestamp() for name, t in self.runs.items() if (f := fires[name])])
            out["run_status"] = summary(
                [t - f.timestamp() for name, t in self.runs_running.items() if (f := fires[name])]
            )
            out["runs_made_ahead"] = len(self.made_ahead)
        out["per_second"] = per_second(job_lags, [fire for fire, _ in self.jobs.values()])
        return out


def per_second(lags: list[float], fires: list[dt.datetime]) -> dict[str, float]:
    """p99 of the fire → Job lag by the fire's second of the minute (the spread scenario's shape)."""
    by: dict[int, list[float]] = defaultdict(list)
    for lag, fire in zip(lags, fires, strict=True):
        by[fire.second].append(lag)
    return {str(s): round(summary(v)["p99"], 3) for s, v in sorted(by.items())}


def with_samples(lags: list[float]) -> dict[str, Any]:
    """The summary and every lag (seconds, rounded to 0.1 ms), for the report's distribution chart."""
    return {**summary(lags), "samples": [round(x, 4) for x in lags]}


async def watch_phase(
    kube: KubeClient, ns: str, start: dt.datetime, end: dt.datetime, expected: int, pids: dict[str, int]
) -> dict[str, Any]:
    """Watch the namespace's Jobs, pods and Runs until every expected Job and pod is seen (or the drain ends);
    → the lags, and the cores each process used from the window's start to then (`cores`: CPU seconds per
    second; the machine has `os.cpu_count()`, and a phase whose processes use them all is bounded by them)."""
    watcher = Watcher(start, end, expected)
    stop = asyncio.Event()
    feeds = [(JOBS, watcher.on_job), (PODS, watcher.on_pod), (RUNS, watcher.on_run)]
    tasks = [asyncio.create_task(watch_events(kube, res, ns, on, stop)) for res, on in feeds]
    await asyncio.sleep(max(0.0, (start - dt.datetime.now(dt.UTC)).total_seconds()))
    cpu, began = cpu_snapshot(pids), time.monotonic()
    limit = (end + DRAIN - dt.datetime.now(dt.UTC)).total_seconds()
    try:
        await asyncio.wait_for(watcher.done.wait(), timeout=limit)
    except TimeoutError:
        print(f"   drain over: {len(watcher.jobs)} Jobs, {len(watcher.pods)} pods of {expected}", flush=True)
    used, wall = cpu_snapshot(pids), time.monotonic() - began
    stop.set()
    await asyncio.gather(*tasks)
    cores = {name: round((used[name] - cpu[name]) / wall, 3) for name in cpu}
    return {**watcher.lags(), "cores": {**cores, "all": round(sum(cores.values()), 3)}, "seconds": round(wall, 1)}


async def create_all(kube: KubeClient, res: Resource, ns: str, bodies: list[dict[str, Any]]) -> None:
    await bounded(CONCURRENCY, (kube.create(res, ns, b) for b in bodies))


def expected_fires(n: int, minutes: int) -> int:
    return n * minutes


async def cronjob_phase(cluster: Cluster, n: int, minutes: int, pids: dict[str, int]) -> dict[str, Any]:
    ns = "bench-cronjob"
    async with client(cluster) as kube:
        await make_namespace(kube, cluster, ns)
        await create_all(kube, CRONJOBS, ns, [cronjob_body(i) for i in range(n)])
        start, end = window(minutes)
        print(f"cronjob: {n} CronJobs; fires {start:%H:%M:%S}..{end:%H:%M:%S}", flush=True)
        lags = await watch_phase(kube, ns, start, end, expected_fires(n, minutes), pids)
        await drop_namespace(kube, ns)
    return lags


def floor_jobs(ns: str, tasks: list[dict[str, Any]], at: dt.datetime) -> list[tuple[dt.datetime, dict[str, Any]]]:
    """(fire time, Job) of each Task's fire in the minute starting at `at`: the Job taskops builds for it."""
    out = []
    for body in tasks:
        task = Task.model_validate({**body, "metadata": {**body["metadata"], "namespace": ns, "uid": "u"}})
        fire = at + dt.timedelta(seconds=int(task.spec.schedule_expr.split()[0]))  # type: ignore[union-attr]
        run = Run.model_validate({**build_scheduled_run(task, fire), "status": {}})
        job = build_job(task, run, 1)
        job["metadata"].pop("ownerReferences")  # no Run to own it: a plain Job
        out.append((fire, job))
    return out


def floor_creator(kubeconfig: str, ns: str, tasks: list[dict[str, Any]], start: dt.datetime, minutes: int) -> None:
    """In its own process: at each fire instant, create the Jobs due then (32 in flight in all); then delete the
    Jobs of each schedule's fire before (their pods collected), as the Tasks' and CronJobs' history limit of 1
    has taskops and the CronJob controller do from the second fire on: over several minutes, both sides also
    delete the same."""

    async def main() -> None:
        plan = [fj for k in range(minutes) for fj in floor_jobs(ns, tasks, start + dt.timedelta(minutes=k))]
        by_time: dict[dt.datetime, list[dict[str, Any]]] = defaultdict(list)
        for fire, job in plan:
            by_time[fire].append(job)
        sem = asyncio.Semaphore(CONCURRENCY)
        async with KubeClient(credentials.from_kubeconfig(kubeconfig), user_agent="taskops-bench-floor") as kube:

            async def one(job: dict[str, Any]) -> None:
                async with sem:
                    await kube.create(JOBS, ns, job)

            async def drop(name: str) -> None:
                async with sem:
                    with contextlib.suppress(errors.NotFound):
                        await kube.delete(JOBS, ns, name)

            sent: list[asyncio.Task[Any]] = []
            last: dict[str, str] = {}  # each schedule's Job of its fire before
            for k, (fire, jobs) in enumerate(sorted(by_time.items())):
                if k == 0:
                    await asyncio.sleep(max(0.0, (fire - dt.datetime.now(dt.UTC)).total_seconds() - 2))
                    # Open the connections now, as a running operator has them open: no TLS handshakes at the fire.
                    await asyncio.gather(*(kube.list(JOBS, ns) for _ in range(CONCURRENCY)))
                await asyncio.sleep(max(0.0, (fire - dt.datetime.now(dt.UTC)).total_seconds()))
                sent += [asyncio.create_task(one(job)) for job in jobs]
                # Queued behind this fire's creates, as taskops' pruning waits for its fires.
                schedules = [job["metadata"]["labels"][names.LABEL_TASK] for job in jobs]
                sent += [asyncio.create_task(drop(last[task])) for task in schedules if task in last]
                last.update((task, job["metadata"]["name"]) for task, job in zip(schedules, jobs, strict=True))
            await asyncio.gather(*sent)

    asyncio.run(main())


async def floor_phase(cluster: Cluster, n: int, minutes: int, spread: bool, pids: dict[str, int]) -> dict[str, Any]:
    ns = "bench-floor"
    async with client(cluster) as kube:
        await make_namespace(kube, cluster, ns)
        start, end = window(minutes)
        tasks = [task_body(i, spread) for i in range(n)]
        creator = multiprocessing.get_context("spawn").Process(
            target=floor_creator, args=(str(cluster.kubeconfig), ns, tasks, start, minutes)
        )
        creator.start()
        print(f"floor: {n} Jobs a minute by a plain client; fires {start:%H:%M:%S}..{end:%H:%M:%S}", flush=True)
        try:
            lags = await watch_phase(kube, ns, start, end, expected_fires(n, minutes), pids)
        finally:
            creator.join(timeout=60)
            if creator.is_alive():
                creator.kill()
        await drop_namespace(kube, ns)
    return lags


async def taskops_phase(
    cluster: Cluster, n: int, minutes: int, spread: bool, metrics_port: int, pids: dict[str, int]
) -> dict[str, Any]:
    ns = "bench-taskops"
    async with client(cluster) as kube:
        await make_namespace(kube, cluster, ns)
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_queues(metrics_port, stop))
        await create_all(kube, TASKS, ns, [task_body(i, spread) for i in range(n)])
        settled = await wait_versions(kube, ns, n)
        start, end = window(minutes)
        print(f"taskops: {n} Tasks (all versioned after {settled:.0f} s); fires {start:%H:%M:%S}..{end:%H:%M:%S}",
              flush=True)  # fmt: skip
        lags = await watch_phase(kube, ns, start, end, expected_fires(n, minutes), pids)
        stop.set()
        queues = await sampler
        await bounded(CONCURRENCY, (kube.patch(TASKS, ns, f"t-{i}", {"spec": {"state": "paused"}}) for i in range(n)))
    return {**lags, "queues": queues}


async def wait_versions(kube: KubeClient, ns: str, n: int, limit: float = 900.0) -> float:
    """Wait until the operator has written every Task's first version (a ControllerRevision), that is taken each
    new Task through its first fire reconcile (which also computes its next fires); → the seconds it took. With
    5,000 Tasks created at once that takes minutes on a loaded machine, and a window picked before it measured
    the operator's start, not its steady state."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        if len(await kube.list(REVISIONS, ns, label_selector=names.LABEL_TASK)) >= n:
            break
        await asyncio.sleep(5)
    return time.monotonic() - began


def print_queues(series: list[dict[str, Any]], every: float = 10.0) -> None:
    """The operator's work queues through the phase, one line each `every` seconds: depth/in work/mean wait."""
    print("operator work queues (depth / in work / mean wait s of the keys taken in the last 2 s):")
    shown = 0.0
    for point in series:
        if point["t"] - shown < every:
            continue
        shown = point["t"]
        cells = [
            f"{q} {e['depth']:.0f}/{e['active']:.0f}/{e['wait_mean'] if e['wait_mean'] is not None else '-'}"
            for q, e in point.items()
            if q != "t"
        ]
        print(f"  {dt.datetime.fromtimestamp(point['t'], dt.UTC):%H:%M:%S}  " + "  ".join(cells))


def row(name: str, s: dict[str, Any]) -> str:
    return f"{name:<34} {s['n']:>6.0f} {s['p50']:>8.2f} {s['p99']:>8.2f} {s['max']:>8.2f}"


def ratios(results: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    ours = results.get("taskops", {}).get("job", {}).get("p99")
    for ref in ("floor", "cronjob"):
        theirs = results.get(ref, {}).get("job", {}).get("p99")
        if ours is not None and theirs:
            out[f"job_p99_taskops_to_{ref}"] = ours / theirs
        pod_ours = results.get("taskops", {}).get("pod_running", {}).get("p99")
        pod_theirs = results.get(ref, {}).get("pod_running", {}).get("p99")
        if pod_ours is not None and pod_theirs:
            out[f"pod_p99_taskops_to_{ref}"] = pod_ours / pod_theirs
    return out


def print_results(results: dict[str, Any]) -> None:
    shape = "spread over each minute" if results["spread"] else "all due at :00"
    n, minutes = results["tasks"], results["minutes"]
    print(f"\nschedule lag, {n} schedules {shape}, {minutes} min each (seconds after the fire)")
    print(f"{'system, event':<34} {'count':>6} {'p50':>8} {'p99':>8} {'max':>8}")
    labels = {"cronjob": "CronJob controller", "floor": "floor (plain client)", "taskops": "taskops"}
    for key, label in labels.items():
        if key in results:
            print(row(f"{label}: Job created", results[key]["job"]))
            print(row(f"{label}: pod Running", results[key]["pod_running"]))
    if "run" in results.get("taskops", {}):
        print(row("taskops: Run created", results["taskops"]["run"]))
        print(row("taskops: Run status names its Job", results["taskops"]["run_status"]))
        print(f"taskops: Runs created ahead of their fire: {results['taskops']['runs_made_ahead']}")
    print(f"cores used from the window's start to its last Job and pod (the machine has {os.cpu_count()}):")
    for key, label in labels.items():
        if key in results:
            cores = results[key]["cores"]
            print(f"  {label:<22} " + "  ".join(f"{name} {c:.2f}" for name, c in cores.items()))
    if results.get("taskops", {}).get("queues"):
        print_queues(results["taskops"]["queues"])
    for name, value in results["ratios"].items():
        print(f"{name}: {value:.2f}")
    print("targets: job_p99_taskops_to_floor <= 1.3, job_p99_taskops_to_cronjob <= 0.25")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=2, help="fire minutes measured per system")
    parser.add_argument("--spread", action="store_true", help="Task i fires at second i mod 60 (CronJobs at :00)")
    parser.add_argument("--skip-cronjob", action="store_true")
    parser.add_argument("--skip-floor", action="store_true")
    parser.add_argument("--skip-taskops", action="store_true")
    parser.add_argument("--workers", type=int, default=16, help="the operator's --workers")
    args = parser.parse_args()
    n, minutes, spread = args.tasks, args.minutes, args.spread
    results: dict[str, Any] = {"tasks": n, "minutes": minutes, "spread": spread}
    started = time.monotonic()
    with cluster_with_operator(operator=False) as cluster:
        pids = {name: proc.pid for name, proc in cluster.procs.items()}
        if not args.skip_cronjob:
            results["cronjob"] = asyncio.run(cronjob_phase(cluster, n, minutes, pids))
        if not args.skip_floor:
            results["floor"] = asyncio.run(floor_phase(cluster, n, minutes, spread, pids))
        if not args.skip_taskops:
            port = free_port()
            operator = start_operator(cluster, args.workers, extra=("--metrics-port", str(port)))
            try:
                time.sleep(2)
                pids["operator"] = operator.pid
                results["taskops"] = asyncio.run(taskops_phase(cluster, n, minutes, spread, port, pids))
            finally:
                stop_process(operator)
    results["ratios"] = ratios(results)
    results["runtime_s"] = time.monotonic() - started
    print_results(results)
    suffix = "_spread" if spread else ""
    print(f"saved {save(f'schedule_lag_{n}{suffix}', results)}")


if __name__ == "__main__":
    main()
