"""Operator shards: the same work done by 1, 2 and 3 shard processes, on one control plane, in one run.

Each phase starts its operators (`taskops operator --shard I/N`, one process per shard, no standby), waits
until every one is ready (its first LIST in), then creates the same workload: `--runs` single-pod Runs
(1 s kwok pods) spread evenly over six fresh namespaces, chosen so that each of the 2 and each of the 3
shards owns two of them. A watch in this process records when the last Job appears and when the last Run
is SUCCEEDED, both from the first create. Per shard process it reads the CPU seconds spent during the
phase and the resident memory at its end. The phase's namespaces are then deleted (and gone) and its
operators stopped before the next phase.

What it shows: whether N shards finish the same work sooner (on this 2-core machine the API server, etcd,
kwok and the operators share the cores, so the wall-clock figures bound what sharding can show here), and
what a shard costs: CPU per Run summed over shards (net of each process's idle rate, measured for 10 s
before the phase) against one process, and each shard's memory (every shard
still decodes every namespace's watch events before dropping the others', docs/benchmarks.md "Shards").

    python -m bench.shards --runs 600 --shards 1,2,3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import requests

from bench.common import (
    NAMESPACES,
    bounded,
    client,
    cluster_with_operator,
    cpu_seconds,
    make_namespace,
    rss_mb,
    run_body,
    save,
    short_pod,
    task_body,
    watch_events,
)
from devcluster.cluster import Cluster, free_port, spawn, stop_process
from taskops.clients import errors
from taskops.clients.kube import KubeClient
from taskops.clients.resources import JOBS, RUNS, TASKS
from taskops.domain.leadership.shards import shard_of
from taskops.domain.resources import names

CONCURRENCY = 32
IDLE_SECONDS = 10.0
NAMESPACE_COUNT = 6  # one per (shard of 2, shard of 3) pair: every shard count splits them evenly


def balanced_namespaces(prefix: str) -> list[str]:
    """Six names, one for each (shard of 2, shard of 3) pair."""
    found: dict[tuple[int, int], str] = {}
    while len(found) < NAMESPACE_COUNT:
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        found.setdefault((shard_of(name, 2), shard_of(name, 3)), name)
    return sorted(found.values())


def start_shards(cluster: Cluster, count: int) -> list[tuple[subprocess.Popen[bytes], int]]:
    procs = []
    for index in range(count):
        port = free_port()
        args = [sys.executable, "-m", "taskops.cli", "--log-level", "WARNING", "operator", "--kubeconfig",
                str(cluster.kubeconfig), "--metrics-port", str(port), "--shard", f"{index}/{count}"]  # fmt: skip
        procs.append((spawn(f"operator-shard-{index}-of-{count}", args, cluster.logs, {"PYTHONUNBUFFERED": "1"}), port))
    return procs


def wait_ready(port: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"an operator shard (metrics port {port}) was not ready within {timeout}s")


async def workload(cluster: Cluster, kube: KubeClient, runs: int, namespaces: list[str]) -> dict[str, float]:
    """Create `runs` Runs over `namespaces`; seconds from the first create until the last Job, and Run ended."""
    uids = {}
    for ns in namespaces:
        await make_namespace(kube, cluster, ns)
        uids[ns] = (await kube.create(TASKS, ns, task_body("burst", short_pod(), maxRetries=0)))["metadata"]["uid"]
    await asyncio.sleep(2)  # every Task's first version (a ControllerRevision) is written before any Run
    ours = set(namespaces)
    jobs: set[tuple[str, str]] = set()
    succeeded: set[tuple[str, str]] = set()
    at: dict[str, float] = {}
    stops = {"jobs": asyncio.Event(), "runs": asyncio.Event()}
    started = 0.0

    def on_job(kind: str, obj: dict[str, Any], now: float) -> None:
        meta = obj["metadata"]
        if kind == "ADDED" and meta["namespace"] in ours:
            jobs.add((meta["namespace"], meta["name"]))
            if len(jobs) >= runs and "jobs" not in at:
                at["jobs"] = now - started
                stops["jobs"].set()

    def on_run(kind: str, obj: dict[str, Any], now: float) -> None:
        meta = obj["metadata"]
        if meta["namespace"] in ours and (obj.get("status") or {}).get("phase") == "SUCCEEDED":
            succeeded.add((meta["namespace"], meta["name"]))
            if len(succeeded) >= runs and "runs" not in at:
                at["runs"] = now - started
                stops["runs"].set()

    watches = [
        asyncio.create_task(watch_events(kube, JOBS, None, on_job, stops["jobs"], label_selector=names.LABEL_RUN)),
        asyncio.create_task(watch_events(kube, RUNS, None, on_run, stops["runs"])),
    ]
    await asyncio.sleep(0.5)  # the watches are open before the first create
    started = time.perf_counter()
    await bounded(
        CONCURRENCY,
        (
            kube.create(
                RUNS,
                namespaces[i % len(namespaces)],
                run_body("burst", uids[namespaces[i % len(namespaces)]], f"r-{i}"),
            )
            for i in range(runs)
        ),
    )
    created = time.perf_counter() - started
    await asyncio.wait_for(asyncio.gather(*watches), timeout=max(600.0, runs * 1.0))
    return {"create_s": created, "jobs_s": at["jobs"], "runs_s": at["runs"]}


async def delete_namespaces(kube: KubeClient, namespaces: list[str]) -> None:
    for ns in namespaces:
        await kube.delete(NAMESPACES, None, ns)
    deadline = time.monotonic() + 300
    for ns in namespaces:
        while time.monotonic() < deadline:
            try:
                await kube.get(NAMESPACES, None, ns)
            except errors.NotFound:
                break
            await asyncio.sleep(1)


def phase(cluster: Cluster, count: int, runs: int) -> dict[str, Any]:
    procs = start_shards(cluster, count)
    try:
        for _, port in procs:
            wait_ready(port)
        # Each process's idle CPU rate (Lease renewals, watch bookmarks, timers), so that a phase stretched by a
        # busy machine does not bill its idle time to the Runs.
        idle_start = [cpu_seconds(p.pid) for p, _ in procs]
        time.sleep(IDLE_SECONDS)
        idle_rate = [
            (cpu_seconds(p.pid) - before) / IDLE_SECONDS for (p, _), before in zip(procs, idle_start, strict=True)
        ]
        cpu_before = [cpu_seconds(p.pid) for p, _ in procs]
        wall_before = time.monotonic()
        namespaces = balanced_namespaces(f"shards{count}")

        async def go() -> dict[str, Any]:
            async with client(cluster) as kube:
                timing = await workload(cluster, kube, runs, namespaces)
                cpu = [cpu_seconds(p.pid) - before for (p, _), before in zip(procs, cpu_before, strict=True)]
                wall = time.monotonic() - wall_before
                net = [max(0.0, c - rate * wall) for c, rate in zip(cpu, idle_rate, strict=True)]
                rss = [rss_mb(p.pid) for p, _ in procs]
                await delete_namespaces(kube, namespaces)
                return {**timing, "cpu_s": cpu, "idle_cpu_per_s": idle_rate, "cpu_net_s": net, "rss_mb": rss,
                        "load_avg_1m": os.getloadavg()[0]}  # fmt: skip

        print(f"{count} shard(s): {runs} Runs over {len(namespaces)} namespaces", flush=True)
        result: dict[str, Any] = asyncio.run(go())
    finally:
        for p, _ in procs:
            stop_process(p)
    result.update(
        shards=count,
        runs_per_s=runs / result["runs_s"],
        jobs_per_s=runs / result["jobs_s"],
        cpu_ms_per_run=1000 * sum(result["cpu_s"]) / runs,
        cpu_net_ms_per_run=1000 * sum(result["cpu_net_s"]) / runs,
    )
    return result


def run(runs: int, counts: list[int]) -> dict[str, Any]:
    started = time.monotonic()
    phases = []
    with cluster_with_operator(operator=False) as cluster:
        for count in counts:
            phases.append(phase(cluster, count, runs))
    base = next((p for p in phases if p["shards"] == 1), phases[0])
    for p in phases:
        p["ratio_runs_per_s"] = p["runs_per_s"] / base["runs_per_s"]
        p["ratio_cpu_per_run"] = p["cpu_ms_per_run"] / base["cpu_ms_per_run"]
        p["ratio_cpu_net_per_run"] = p["cpu_net_ms_per_run"] / base["cpu_net_ms_per_run"]
    return {"runs": runs, "phases": phases, "runtime_s": time.monotonic() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=600)
    parser.add_argument("--shards", default="1,2,3", help="the shard counts to measure, in order (default 1,2,3)")
    args = parser.parse_args()
    counts = [int(c) for c in args.shards.split(",")]
    r = run(args.runs, counts)
    print(f"\n{r['runs']} single-pod Runs over {NAMESPACE_COUNT} namespaces, one control plane, one run")
    print("shards | all Jobs created | all Runs ended | Runs/s (x 1 shard) | CPU ms/Run, net of idle (x 1 shard) | "
          "idle CPU % each | RSS MB each | load avg")  # fmt: skip
    for p in r["phases"]:
        print(f"{p['shards']:>6} | {p['jobs_s']:>14.1f} s | {p['runs_s']:>12.1f} s | "
              f"{p['runs_per_s']:>6.1f} ({p['ratio_runs_per_s']:.2f}) | "
              f"{p['cpu_net_ms_per_run']:>6.2f} ({p['ratio_cpu_net_per_run']:.2f}) | "
              f"{', '.join(f'{100 * c:.1f}' for c in p['idle_cpu_per_s'])} | "
              f"{', '.join(f'{m:.0f}' for m in p['rss_mb'])} | {p['load_avg_1m']:.0f}")  # fmt: skip
    print(f"saved {save('shards', r)} ({r['runtime_s']:.0f} s)")


if __name__ == "__main__":
    main()
