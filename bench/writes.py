"""Kubernetes API writes per single-pod Run, counted by the API server's own audit log.

`apiserver_request_total` has no user-agent label, so the bench cluster runs kube-apiserver with an
audit policy that logs every write request (create, update, patch, delete, deletecollection; Metadata
level, one entry at ResponseComplete) and no read. Each entry names its user agent, verb and resource,
so the count is exact, not sampled. Lease renewals by kwok and the control plane (node heartbeats)
happen on a clock whatever runs, so they are counted apart. Everything runs as the admin user, so the
user agent says who wrote: the operator's own client sends `taskops-operator/...`, kopf sends `kopf/<version>`; both are
taskops. Writes by kube-controller-manager, kube-scheduler and kwok are Kubernetes running the Job.

Three phases on one fresh control plane with the operator running, `--runs` times each, one at a time
(each waits for the previous to end, so no write is shared between Runs — the worst case):

1. reference: a Job with one 1 s pod created directly; writes by the Kubernetes components per Job;
2. taskops: a Run of a Task without schedule (what the API writes); writes by taskops per Run, from the
   Run's create until it has ended and the operator has been quiet for `--settle` seconds, broken down
   by verb and resource (subresource after a slash). The Kubernetes components' writes for the Run's Job
   are counted as well and shown beside the reference;
3. fired: a Task firing every `PERIOD` seconds (cron), its pod the same 1 s one; writes per fire, counted
   over `--runs` whole periods of its steady state (from 3 s after a fire, once a fire has run end to end,
   to the same instant `--runs` periods later): the fire's Job, its Run's status writes and Event, the
   next fire's Run made ahead, and the Task's status writes.

    python -m bench.writes --runs 20
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import client, cluster_with_operator, make_namespace, run_body, save, short_pod, task_body
from devcluster.cluster import Cluster
from taskops.clients.kube import KubeClient
from taskops.clients.resources import JOBS, RUNS, TASKS
from taskops.domain.resources import names
from taskops.domain.resources.phases import is_terminal

NS = "bench-writes"
TASKOPS_AGENTS = ("taskops-operator", "kopf/")
KUBERNETES_AGENTS = ("kube-controller-manager", "kube-scheduler", "kwok")


PERIOD = 6


def read_audit(path: Path, since: float, until: float = float("inf")) -> list[dict[str, Any]]:
    """Write entries received in [since, until) (epoch seconds)."""
    out = []
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        received = entry.get("requestReceivedTimestamp", "")
        if received and since <= iso_epoch(received) < until:
            out.append(entry)
    return out


def iso_epoch(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def who(entry: dict[str, Any]) -> str:
    agent = entry.get("userAgent", "")
    if (entry.get("objectRef") or {}).get("resource") == "leases" and not agent.startswith(TASKOPS_AGENTS):
        return "heartbeat"  # node and component leases renew on a clock, whatever runs
    if agent.startswith(TASKOPS_AGENTS):
        return "taskops"
    if agent.startswith(KUBERNETES_AGENTS):
        return "kubernetes"
    return "other"


def what(entry: dict[str, Any]) -> str:
    ref = entry.get("objectRef") or {}
    resource = ref.get("resource", "?") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
    return f"{entry.get('verb')} {resource}"


def tally(entries: list[dict[str, Any]], n: int) -> dict[str, Any]:
    """Writes per Run (or Job) by writer, and the taskops and Kubernetes breakdowns by verb and resource."""
    by_who = Counter(who(e) for e in entries)
    breakdown: dict[str, dict[str, float]] = {}
    for side in ("taskops", "kubernetes"):
        counts = Counter(what(e) for e in entries if who(e) == side)
        breakdown[side] = {k: v / n for k, v in counts.most_common()}
    agents = Counter(e.get("userAgent", "").split(" ")[0] for e in entries)
    return {
        "per_run": {k: by_who.get(k, 0) / n for k in ("taskops", "kubernetes", "heartbeat", "other")},
        "breakdown": breakdown,
        "agents": dict(agents),
        "entries": len(entries),
    }


async def wait_ended(kube: KubeClient, res: Any, name: str, ended: Any, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if ended(await kube.get(res, NS, name)):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{res.plural} {name} did not end in {limit} s")


def job_done(obj: dict[str, Any]) -> bool:
    conds = (obj.get("status") or {}).get("conditions") or []
    return any(c["type"] in {"Complete", "Failed"} and c["status"] == "True" for c in conds)


def run_done(obj: dict[str, Any]) -> bool:
    return is_terminal((obj.get("status") or {}).get("phase"))


async def quiet(cluster: Cluster, settle: float) -> None:
    """Until the audit log has not grown for `settle` seconds (every trailing write has landed)."""
    size = -1
    while (now := cluster.audit_log.stat().st_size) != size:
        size = now
        await asyncio.sleep(settle)


async def phase(cluster: Cluster, kube: KubeClient, n: int, settle: float, one: Any) -> dict[str, Any]:
    await quiet(cluster, settle)
    since = time.time()
    for i in range(n):
        await one(i)
    await quiet(cluster, settle)
    return tally(read_audit(cluster.audit_log, since), n)


async def bench(cluster: Cluster, n: int, settle: float) -> dict[str, Any]:
    async with client(cluster) as kube:
        await make_namespace(kube, cluster, NS)
        uid = (await kube.create(TASKS, NS, task_body("single", short_pod())))["metadata"]["uid"]

        async def raw(i: int) -> None:
            job = {"metadata": {"name": f"raw-{i}"}, "spec": {"backoffLimit": 0, "template": short_pod()}}
            await kube.create(JOBS, NS, job)
            await wait_ended(kube, JOBS, f"raw-{i}", job_done)

        async def ours(i: int) -> None:
            await kube.create(RUNS, NS, run_body("single", uid, f"single-{i}"))
            await wait_ended(kube, RUNS, f"single-{i}", run_done)

        reference = await phase(cluster, kube, n, settle, raw)
        taskops = await phase(cluster, kube, n, settle, ours)
        fired = await fired_phase(cluster, kube, n, settle)
    return {"runs": n, "settle_s": settle, "reference_job": reference, "taskops_run": taskops, "fired": fired}


async def fired_phase(cluster: Cluster, kube: KubeClient, n: int, settle: float) -> dict[str, Any]:
    """Writes per fire of a Task firing every PERIOD seconds, over `n` periods of its steady state."""
    await quiet(cluster, settle)
    schedule = {"scheduleKind": "cron", "scheduleExpr": f"*/{PERIOD} * * * * *"}
    await kube.create(TASKS, NS, task_body("fired", short_pod(), **schedule))

    async def fired_runs() -> list[dict[str, Any]]:
        runs = await kube.list(RUNS, NS, label_selector=f"{names.LABEL_TASK}=fired")
        return [r for r in runs if (r.get("spec") or {}).get("scheduledTime")]

    deadline = time.monotonic() + 120
    while not any(run_done(r) for r in await fired_runs()):
        if time.monotonic() > deadline:
            raise TimeoutError("no fire of the Task ran to its end in 120 s")
        await asyncio.sleep(0.5)
    now = time.time()
    start = (now // PERIOD + 1) * PERIOD + 3  # 3 s after the next fire: every period from there is alike
    until = start + n * PERIOD
    await asyncio.sleep(until - time.time() + settle)
    await kube.patch(TASKS, NS, "fired", {"spec": {"state": "paused"}})
    return tally(read_audit(cluster.audit_log, start, until), n)


def run(n: int = 20, settle: float = 3.0) -> dict[str, Any]:
    started = time.monotonic()
    with cluster_with_operator(audit_writes=True) as cluster:
        results = asyncio.run(bench(cluster, n, settle))
    results["taskops_writes_per_run"] = results["taskops_run"]["per_run"]["taskops"]
    results["kubernetes_writes_per_job"] = results["reference_job"]["per_run"]["kubernetes"]
    results["runtime_s"] = time.monotonic() - started
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--settle", type=float, default=3.0, help="quiet seconds that end a phase")
    args = parser.parse_args()
    r = run(args.runs, args.settle)
    ours, ref = r["taskops_run"], r["reference_job"]
    print(f"\nAPI writes per single-pod Run, {r['runs']} Runs one at a time (audit log)")
    print(f"taskops:    {r['taskops_writes_per_run']:.2f} per Run (target <= 4)")
    for k, v in ours["breakdown"]["taskops"].items():
        print(f"  {v:6.2f}  {k}")
    print(f"Kubernetes for the Run's Job: {ours['per_run']['kubernetes']:.2f}; "
          f"reference, Kubernetes per Job created directly: {r['kubernetes_writes_per_job']:.2f}")  # fmt: skip
    for k, v in ref["breakdown"]["kubernetes"].items():
        print(f"  {v:6.2f}  {k}")
    print(f"user agents: {ours['agents']}")
    fired = r["fired"]
    print(f"taskops per fire of a Task firing every {PERIOD} s: {fired['per_run']['taskops']:.2f}")
    for k, v in fired["breakdown"]["taskops"].items():
        print(f"  {v:6.2f}  {k}")
    print(f"saved {save('writes', r)} ({r['runtime_s']:.0f} s)")


if __name__ == "__main__":
    main()
