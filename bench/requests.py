"""The API server's CPU per request, for each request a single-pod Run adds to its Job's own.

`bench.throughput` finds a Run costing the machine about twice a plain Job's CPU, two thirds of it in
kube-apiserver, and `bench.writes` counts the requests: the Run's create, two `runs/status` patches, the
Job and one Event. This prices each of them: on one fresh control plane (no operator running while it
measures, so nothing else writes), `--n` requests of one kind at a time, 20 in flight, and the CPU seconds
kube-apiserver and etcd used over them (from /proc, through a second after the last answer) divided by
`--n`; and, first, what they use in 10 s with nothing sent. The references are measured in the same run,
the same way: a plain Job create (what the Run adds to), and a ConfigMap create and merge patch of about
the same size as the Run (the same write for a built-in kind).

The bodies are real: a Run of a Task without schedule as the API writes it, its status as the operator
wrote it when it was `RUNNING` and when it had ended, the operator's Event for it, and the Job it created
(suspended here, so that no pod is made and the Job controller does not write), all read from a Run the
operator ran at the start.

    python -m bench.requests --n 1000
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.common import (
    bounded,
    client,
    cluster_with_operator,
    cpu_snapshot,
    make_namespace,
    run_body,
    save,
    short_pod,
    start_operator,
    task_body,
)
from devcluster.cluster import Cluster, stop_process
from taskops.clients.kube import KubeClient
from taskops.clients.resources import CONFIGMAPS, EVENTS, JOBS, RUNS, TASKS
from taskops.domain.resources.phases import is_terminal

NS = "bench-requests"
IN_FLIGHT = 20
IDLE = 10.0
# Set by the API server or the Job controller: a copy created again must not carry them.
SERVER_SET = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "ownerReferences")
JOB_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid", "job-name", "batch.kubernetes.io/job-name")


def recreatable(obj: dict[str, Any], name: str) -> dict[str, Any]:
    """`obj` as a client would create it again under `name`: no status, nothing the server or a controller set."""
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out["metadata"]
    for key in SERVER_SET:
        meta.pop(key, None)
    meta["name"] = name
    return out


def suspended_job(job: dict[str, Any], name: str) -> dict[str, Any]:
    """The operator's Job as a new suspended Job: its selector and controller labels are the Job controller's."""
    out = recreatable(job, name)
    out["spec"]["suspend"] = True
    out["spec"].pop("selector", None)
    for meta in (out["metadata"], out["spec"]["template"]["metadata"]):
        for key in JOB_LABELS:
            (meta.get("labels") or {}).pop(key, None)
    return out


def configmap_like(size: int) -> dict[str, str]:
    """ConfigMap data of about `size` bytes of JSON, in 40-byte values (a status is many short fields)."""
    return {f"k{i:03d}": "x" * 40 for i in range(max(1, size // 50))}


async def observed_run(kube: KubeClient, cluster: Cluster) -> dict[str, Any]:
    """Run one Run with the operator and keep what it wrote: the statuses it went through, its Job, its Event."""
    operator = start_operator(cluster)
    try:
        task = await kube.create(TASKS, NS, task_body("t", short_pod("3s"), successfulRunsHistoryLimit=100_000))
        await kube.create(RUNS, NS, run_body("t", task["metadata"]["uid"], "seed"))
        seen: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = (await kube.get(RUNS, NS, "seed")).get("status") or {}
            seen.setdefault(str(status.get("phase")), status)
            if is_terminal(status.get("phase")):
                break
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError(f"the seed Run did not end within 120 s; phases seen: {sorted(seen)}")
        if "RUNNING" not in seen:
            raise RuntimeError(f"the seed Run was never seen RUNNING; phases seen: {sorted(seen)}")
        jobs = await kube.list(JOBS, NS)
        events = [e for e in await kube.list(EVENTS, NS) if (e.get("involvedObject") or {}).get("kind") == "Run"]
        return {"task_uid": task["metadata"]["uid"], "statuses": seen, "job": jobs[0], "event": events[-1]}
    finally:
        stop_process(operator)


async def measure(n: int, pids: dict[str, int], one: Callable[[int], Awaitable[Any]]) -> dict[str, float]:
    """`n` requests made by `one(i)`; the CPU kube-apiserver and etcd used per request, in ms, and the rate."""
    before = cpu_snapshot(pids)
    started = time.perf_counter()
    await bounded(IN_FLIGHT, (one(i) for i in range(n)))
    seconds = time.perf_counter() - started
    await asyncio.sleep(1.0)  # the watch cache and etcd finish what the last answers started
    after = cpu_snapshot(pids)
    return {
        "apiserver_ms": (after["kube-apiserver"] - before["kube-apiserver"]) / n * 1000,
        "etcd_ms": (after["etcd"] - before["etcd"]) / n * 1000,
        "per_s": n / seconds,
    }


async def bench(cluster: Cluster, n: int) -> dict[str, Any]:
    kube = client(cluster)
    try:
        await make_namespace(kube, cluster, NS)
        seed = await observed_run(kube, cluster)
        pids = {name: proc.pid for name, proc in cluster.procs.items()}
        running = seed["statuses"]["RUNNING"]
        ended = next(s for p, s in seed["statuses"].items() if is_terminal(p))
        size = len(json.dumps(recreatable(await kube.get(RUNS, NS, "seed"), "x") | {"status": ended}))
        data = configmap_like(size)
        plain_job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "x"},
            "spec": {"suspend": True, "template": short_pod("1s")},
        }
        event = seed["event"]

        async def job_plain(i: int) -> None:
            await kube.create(JOBS, NS, recreatable(plain_job, f"plain-{i}"))

        async def job_ours(i: int) -> None:
            await kube.create(JOBS, NS, suspended_job(seed["job"], f"ours-{i}"))

        async def cm_create(i: int) -> None:
            await kube.create(CONFIGMAPS, NS, {"metadata": {"name": f"cm-{i}"}, "data": {"k000": "x"}})

        async def cm_patch(i: int) -> None:
            await kube.patch(CONFIGMAPS, NS, f"cm-{i}", {"data": data})

        async def cm_patch_again(i: int) -> None:
            await kube.patch(CONFIGMAPS, NS, f"cm-{i}", {"data": {"k000": "y"}})

        async def run_create(i: int) -> None:
            await kube.create(RUNS, NS, run_body("t", seed["task_uid"], f"r-{i}"))

        async def run_running(i: int) -> None:
            await kube.patch(RUNS, NS, f"r-{i}", {"status": running}, subresource="status")

        async def run_ended(i: int) -> None:
            await kube.patch(RUNS, NS, f"r-{i}", {"status": ended}, subresource="status")

        async def event_create(i: int) -> None:
            await kube.create(EVENTS, NS, recreatable(event, f"ev-{i}") | {"count": 1})

        kinds: dict[str, Callable[[int], Awaitable[Any]]] = {
            "job_create_plain": job_plain,
            "configmap_create": cm_create,
            "configmap_patch_to_run_size": cm_patch,
            "configmap_patch_one_field": cm_patch_again,
            "run_create": run_create,
            "run_status_running": run_running,
            "run_status_ended": run_ended,
            "event_create": event_create,
            "job_create_taskops": job_ours,
        }
        before = cpu_snapshot(pids)
        await asyncio.sleep(IDLE)
        after = cpu_snapshot(pids)
        results: dict[str, Any] = {
            "run_bytes": size,
            # What the control plane uses with nothing sent (leases, heartbeats), in cores: a phase that lasts
            # longer pays more of it per object.
            "idle_cores": {k: (after[k] - before[k]) / IDLE for k in ("kube-apiserver", "etcd")},
        }
        for kind, one in kinds.items():
            results[kind] = await measure(n, pids, one)
        return results
    finally:
        await kube.close()


def run(n: int) -> dict[str, Any]:
    started = time.monotonic()
    with cluster_with_operator(operator=False) as cluster:
        results = asyncio.run(bench(cluster, n))
    results.update(n=n, runtime_s=time.monotonic() - started)
    added = ("run_create", "run_status_running", "run_status_ended", "event_create")
    results["run_adds_apiserver_ms"] = sum(results[k]["apiserver_ms"] for k in added) + (
        results["job_create_taskops"]["apiserver_ms"] - results["job_create_plain"]["apiserver_ms"]
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="requests of each kind (default 1000)")
    args = parser.parse_args()
    r = run(args.n)
    job = r["job_create_plain"]["apiserver_ms"]
    print(
        f"\nCPU per request, {args.n} of each, {IN_FLIGHT} in flight (a Run with its ended status: {r['run_bytes']} B)"
    )
    print(f"{'request':<30} {'kube-apiserver':>15} {'etcd':>8} {'x a plain Job create':>22}")
    for kind, m in r.items():
        if isinstance(m, dict) and "apiserver_ms" in m:
            print(f"{kind:<30} {m['apiserver_ms']:12.2f} ms {m['etcd_ms']:5.2f} ms {m['apiserver_ms'] / job:18.2f}")
    print(f"what a Run adds to its Job in kube-apiserver: {r['run_adds_apiserver_ms']:.1f} ms "
          f"({r['run_adds_apiserver_ms'] / job:.2f} x a plain Job create)")  # fmt: skip
    idle = r["idle_cores"]
    print(f"idle: kube-apiserver {idle['kube-apiserver']:.3f} cores, etcd {idle['etcd']:.3f} cores")
    cm = r["configmap_patch_one_field"]["apiserver_ms"]
    print(f"a Run's ended-status patch against a ConfigMap patch of the same size: "
          f"{r['run_status_ended']['apiserver_ms'] / cm:.2f} x")  # fmt: skip
    print(f"saved {save('requests', r)} ({r['runtime_s']:.0f} s)")


if __name__ == "__main__":
    main()
