"""Shared benchmark plumbing: a fresh local control plane with the operator, and statistics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from devcluster.cluster import Cluster, spawn, stop_process
from taskops import API_VERSION
from taskops.clients import credentials, errors
from taskops.clients.kube import KubeClient
from taskops.clients.resources import Resource
from taskops.domain.execution.jobs import owner_reference
from taskops.domain.resources import names
from tests.integration.api import ApiProcess, full_access, service_account

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


@contextlib.contextmanager
def cluster_with_operator(operator: bool = True, workers: int = 16, audit_writes: bool = False) -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory(prefix="taskops-bench-") as tmp:
        cluster = Cluster(workdir=Path(tmp), nodes=4, audit_writes=audit_writes)
        cluster.start()
        proc = None
        try:
            cluster.install_crds(REPO / "crds")
            if operator:
                proc = start_operator(cluster, workers)
            yield cluster
        finally:
            if proc is not None:
                stop_process(proc)
            cluster.stop()


@contextlib.contextmanager
def cluster_with_api(namespace: str, api_args: tuple[str, ...] = ()) -> Iterator[tuple[Cluster, ApiProcess, str]]:
    """A fresh cluster with the operator and the API (`taskops api` flags: `api_args`), a namespace, and a token
    with full rights in it."""
    with cluster_with_operator() as cluster:
        cluster.kubectl("create", "namespace", namespace)
        cluster.wait_namespace_ready(namespace)
        token = service_account(cluster, namespace, "bench", full_access())
        api_proc = ApiProcess(cluster.kubeconfig, cluster.logs, args=api_args)
        try:
            yield cluster, api_proc, token
        finally:
            api_proc.stop()


def start_operator(cluster: Cluster, workers: int = 16, extra: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    """The operator as a real process against `cluster`, logging warnings only."""
    args = [
        sys.executable,
        "-m",
        "taskops.cli",
        "--log-level",
        "WARNING",
        "operator",
        "--kubeconfig",
        str(cluster.kubeconfig),
        "--workers",
        str(workers),
        *extra,
    ]
    return spawn("operator", args, cluster.logs, env={"PYTHONUNBUFFERED": "1"})


def client(cluster: Cluster, agent: str = "taskops-bench") -> KubeClient:
    return KubeClient(credentials.from_kubeconfig(str(cluster.kubeconfig)), user_agent=agent)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values) if values else float("nan"),
        "mean": statistics.fmean(values) if values else float("nan"),
    }


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


# -- shared workload pieces ------------------------------------------------------------------------------------

NAMESPACES = Resource("", "v1", "namespaces")


def short_pod(duration: str = "1s") -> dict[str, Any]:
    """A pod template kwok runs for `duration`, then marks Succeeded."""
    return {
        "metadata": {"annotations": {"kwok.taskops.dev/duration": duration}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]},
    }


def task_body(name: str, pod: dict[str, Any], **spec: Any) -> dict[str, Any]:
    """A Task without a schedule (Runs come from outside) unless `spec` says otherwise."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Task",
        "metadata": {"name": name},
        "spec": {"payload": {"spec": {"template": pod}}, **spec},
    }


def run_body(task: str, uid: str, name: str | None = None) -> dict[str, Any]:
    """A Run of `task` as the API writes one (label and owner reference included)."""
    meta: dict[str, Any] = {
        "labels": {names.LABEL_TASK: task},
        "ownerReferences": [owner_reference(API_VERSION, "Task", task, uid)],
    }
    if name is None:
        meta["generateName"] = f"{task}-"
    else:
        meta["name"] = name
    return {
        "apiVersion": API_VERSION,
        "kind": "Run",
        "metadata": meta,
        "spec": {"taskRef": {"name": task}, "triggeredBy": "api"},
    }


async def make_namespace(kube: KubeClient, cluster: Cluster, ns: str) -> None:
    await kube.create(NAMESPACES, None, {"metadata": {"name": ns}})
    await asyncio.to_thread(cluster.wait_namespace_ready, ns)


async def drop_namespace(kube: KubeClient, ns: str) -> None:
    """Delete a namespace and wait (10 minutes at most) until it is gone: a phase's Jobs and pods must not load
    the next phase."""
    await kube.delete(NAMESPACES, None, ns, propagation="Foreground")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            await kube.get(NAMESPACES, None, ns)
        except errors.NotFound:
            return
        await asyncio.sleep(1)


async def bounded(n: int, coros: Iterable[Awaitable[T]]) -> list[T]:
    """Await `coros` with at most `n` in flight."""
    sem = asyncio.Semaphore(n)

    async def one(c: Awaitable[T]) -> T:
        async with sem:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))


async def watch_events(
    kube: KubeClient,
    res: Resource,
    ns: str | None,
    on_event: Callable[[str, dict[str, Any], float], None],
    stop: asyncio.Event,
    resource_version: str | None = None,
    label_selector: str | None = None,
) -> None:
    """Feed every watch event of `res` (from `resource_version`, default: now) to `on_event` until `stop` is set."""
    if resource_version is None:
        listing = await kube._request("GET", res.path(ns), params={"limit": "1"})
        resource_version = listing["metadata"]["resourceVersion"]
    rv = resource_version

    async def loop() -> None:
        nonlocal rv
        while True:
            try:
                async for kind, obj in kube.watch(res, ns, resource_version=rv, label_selector=label_selector):
                    rv = obj.get("metadata", {}).get("resourceVersion", rv)
                    if kind != "BOOKMARK":
                        on_event(kind, obj, time.perf_counter())
            except (TimeoutError, OSError, aiohttp.ClientError):
                await asyncio.sleep(0.1)
            except errors.ApiError as exc:
                # A loaded API server answers 429 (its watch cache re-initializing) or 410 (rv too old): retry.
                if exc.status == 410:
                    listing = await kube._request("GET", res.path(ns), params={"limit": "1"})
                    rv = listing["metadata"]["resourceVersion"]
                elif not exc.transient:
                    raise
                await asyncio.sleep(1)

    task = asyncio.create_task(loop())
    try:
        await stop.wait()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's resident set (VmRSS) or its high-water mark (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each control-plane process, the operator, and this process."""
    out = {name: cpu_seconds(pid) for name, pid in pids.items()}
    me = os.times()
    out["bench"] = me.user + me.system
    return out


# -- the operator's work queues, sampled while a benchmark runs ------------------------------------------------

_QUEUE_METRICS = ("taskops_workqueue_depth", "taskops_workqueue_active")
_QUEUE_HISTOGRAMS = ("taskops_workqueue_queue_duration_seconds", "taskops_workqueue_work_duration_seconds")


def _queue_sample(text: str) -> dict[str, dict[str, float]]:
    """{metric: {queue: value}} of the work-queue gauges, and the histograms' _sum and _count."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for line in text.splitlines():
        if not line.startswith("taskops_workqueue_") or "{" not in line:
            continue
        name, rest = line.split("{", 1)
        labels, _, value = rest.rpartition("} ")
        if 'queue="' not in labels or (name not in _QUEUE_METRICS and not name.endswith(("_sum", "_count"))):
            continue
        queue = labels.split('queue="', 1)[1].split('"', 1)[0]
        out[name][queue] = float(value)
    return out


def _delta(now: dict[str, dict[str, float]], last: dict[str, dict[str, float]], metric: str, queue: str) -> float:
    return now.get(metric, {}).get(queue, 0.0) - last.get(metric, {}).get(queue, 0.0)


async def sample_queues(port: int, stop: asyncio.Event, every: float = 2.0) -> list[dict[str, Any]]:
    """Every `every` seconds until `stop`: each queue's depth, keys in work, and the mean queue wait and work time
    of the keys taken in the interval (the operator's `/metrics` on `port`)."""
    series: list[dict[str, Any]] = []
    last: dict[str, dict[str, float]] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while not stop.is_set():
            try:
                async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
                    now = _queue_sample(await resp.text())
            except (OSError, aiohttp.ClientError, TimeoutError):
                now = {}
            if now:
                point: dict[str, Any] = {"t": round(time.time(), 1)}
                for queue in sorted(now.get("taskops_workqueue_depth", {})):
                    entry: dict[str, float | None] = {
                        "depth": now["taskops_workqueue_depth"][queue],
                        "active": now.get("taskops_workqueue_active", {}).get(queue, 0.0),
                    }
                    for hist in _QUEUE_HISTOGRAMS:
                        d_sum, d_n = (_delta(now, last, f"{hist}_{part}", queue) for part in ("sum", "count"))
                        short = "wait" if "queue_duration" in hist else "work"
                        entry[f"{short}_mean"] = round(d_sum / d_n, 3) if d_n else None
                        entry[f"{short}_n"] = d_n
                    point[queue] = entry
                series.append(point)
                last = now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
    return series
