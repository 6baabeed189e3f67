"""Admission decision time with 10,000 pending Runs over 100 concurrency keys, when one Run ends (no cluster).

The operator's own admission loop (`taskops.operator.admission.AdmissionController`) over an in-memory store:
100 concurrency keys (limit 2) and 10 agents (capacity 30), 10,000 Runs waiting (priorities -10..10, one
created per second, each on a random key and agent), 200 running (every key full). Each sample ends one running
Run, picked at random — its ended status is put in the store as the Run informer would, and the loop is told — then
times one
decision: the Runs folded in, the admission, the verdicts of the Runs it hands to the reconciler, the queue-depth
metric. The admitted Run's `admittedAt` write is then fed back (untimed), so every sample starts settled.

Reference, in the same run: one pass over every waiting Run in queue order against the running counts (what
the decision cost before the queues were kept: sort, walk, a verdict each), on the same 10,000 Runs.

    python -m bench.admission --samples 300
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections import Counter
from typing import Any, NamedTuple

from bench.common import save
from taskops.domain.queueing.admission import ADMITTED, Admission, Limit, Pending, RunKey
from taskops.operator.admission import AdmissionController
from taskops.operator.store import Store
from taskops.operator.workqueue import WorkQueue

N = 10_000
KEYS, KEY_LIMIT = 100, 2
AGENTS, AGENT_CAPACITY = 10, 30
NS = "bench"


class Sample(NamedTuple):
    wall_ms: float
    cpu_ms: float  # this thread's CPU time: what the decision cost, without the machine's other work
    handed: int  # Runs handed to the reconciler (admitted, or their verdict changed)


def one_pass(
    waiting: list[Pending], used: Counter[tuple[Limit, str]], limits: dict[tuple[Limit, str], int]
) -> list[RunKey]:
    """Admission as one pass over every waiting Run in queue order (the property tests' oracle, too): a Run starts
    when its key and its agent both have room, and takes it."""
    used = Counter(used)
    admitted = []
    for p in sorted(waiting, key=Pending.order):
        named = ((Limit.CONCURRENCY_KEY, p.concurrency_key), (Limit.AGENT, p.agent))
        gates = [(kind, name) for kind, name in named if name is not None]
        if all(used[g] < limits.get(g, 1) for g in gates):
            admitted.append(p.key)
            for g in gates:
                used[g] += 1
    return admitted


def _run(i: int, rng: random.Random) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": NS,
            "name": f"run-{i:05d}",
            "resourceVersion": str(10 + i),
            "creationTimestamp": f"2026-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
        },
        "spec": {"taskRef": {"name": "t"}},
        "status": {
            "phase": "QUEUED",
            "version": {"number": 1, "id": "t-v1"},
            "priority": rng.randint(-10, 10),
            "concurrencyKey": f"key-{rng.randrange(KEYS)}",
            "agent": f"agent-{rng.randrange(AGENTS)}",
        },
    }


def _store(rng: random.Random) -> Store:
    store = Store()
    for k in range(KEYS):
        spec = {"concurrencyKey": f"key-{k}", "concurrencyLimit": KEY_LIMIT}
        store.tasks.put({"metadata": {"namespace": NS, "name": f"task-{k}", "resourceVersion": "1"}, "spec": spec})
    for a in range(AGENTS):
        meta = {"namespace": NS, "name": f"agent-{a}", "resourceVersion": "1"}
        store.agents.put({"metadata": meta, "spec": {"capacity": AGENT_CAPACITY}})
    for i in range(N + KEYS * KEY_LIMIT):  # the first decision admits KEYS * KEY_LIMIT of them
        store.runs.put(_run(i, rng))
    return store


def _update(store: Store, key: RunKey, **status: Any) -> None:
    old = store.runs.get(key)
    assert old is not None
    meta = {**old["metadata"], "resourceVersion": str(int(old["metadata"]["resourceVersion"]) + 100_000)}
    store.runs.put({**old, "metadata": meta, "status": {**old["status"], **status}})


def _settle(admission: AdmissionController, admitted: list[RunKey]) -> None:
    """The admitted Runs' status writes come back through the informer: each now holds its slots."""
    for key in admitted:
        _update(admission.store, key, phase="RUNNING", admittedAt="2026-01-02T00:00:00Z")
        admission.run_changed(key)
    admission.decide()


async def _handed(admission: AdmissionController) -> list[tuple[RunKey, Admission | None]]:
    """What the reconciler does first with the Runs a decision hands it: take each, read its verdict."""
    out = []
    while len(admission.runs):
        key = await admission.runs.get()
        admission.runs.done(key)
        assert isinstance(key, tuple)
        out.append((key, admission.verdict_for(key)))
    return out


async def one_end(admission: AdmissionController, rng: random.Random, running: list[RunKey], i: int) -> Sample:
    """End one running Run and time the decision; then a new Run arrives (untimed), so N Runs keep waiting."""
    ended = running.pop(rng.randrange(len(running)))
    _update(admission.store, ended, phase="SUCCEEDED", endReason="success")
    admission.run_changed(ended)
    wall, cpu = time.perf_counter(), time.thread_time()
    admission.decide()
    handed = await _handed(admission)
    sample = Sample((time.perf_counter() - wall) * 1000, (time.thread_time() - cpu) * 1000, len(handed))
    admitted = [k for k, verdict in handed if verdict is ADMITTED]
    running.extend(admitted)
    _settle(admission, admitted)
    new = _run(2 * N + i, rng)
    admission.store.runs.put(new)
    admission.run_changed((NS, new["metadata"]["name"]))
    admission.decide()
    running.extend(k for k, verdict in await _handed(admission) if verdict is ADMITTED)
    return sample


def reference(admission: AdmissionController) -> tuple[float, float]:
    """One pass over every waiting Run (wall and CPU ms): the snapshot of the store, the sort, the walk."""
    wall, cpu = time.perf_counter(), time.thread_time()
    waiting: list[Pending] = []
    used: Counter[tuple[Limit, str]] = Counter()
    for key, run in admission.store.runs.objects.items():
        status = run.get("status") or {}
        ck = f"{key[0]}/{status['concurrencyKey']}"
        ag = f"{key[0]}/{status['agent']}"
        if status.get("phase") == "SUCCEEDED":
            continue
        if status.get("admittedAt"):
            used[(Limit.CONCURRENCY_KEY, ck)] += 1
            used[(Limit.AGENT, ag)] += 1
        else:
            created = run["metadata"]["creationTimestamp"]
            waiting.append(Pending(key, int(status.get("priority") or 0), created, ck, ag))
    limits = {(Limit.CONCURRENCY_KEY, f"{NS}/key-{k}"): KEY_LIMIT for k in range(KEYS)}
    limits.update({(Limit.AGENT, f"{NS}/agent-{a}"): AGENT_CAPACITY for a in range(AGENTS)})
    one_pass(waiting, used, limits)
    return (time.perf_counter() - wall) * 1000, (time.thread_time() - cpu) * 1000


async def bench(samples: int) -> dict[str, Any]:
    rng = random.Random(7)
    admission = AdmissionController(_store(rng), WorkQueue())
    admission.ready = True
    start = time.perf_counter()
    admission.decide()
    first_ms = (time.perf_counter() - start) * 1000
    running = [k for k, verdict in await _handed(admission) if verdict is ADMITTED]
    _settle(admission, running)
    got: list[Sample] = []
    refs: list[tuple[float, float]] = []
    for i in range(samples):
        got.append(await one_end(admission, rng, running, i))
        if i % 10 == 0:
            refs.append(reference(admission))
    wall = sorted(s.wall_ms for s in got)
    return {
        "pending": admission.queues.waiting(),
        "running": len(running),
        "keys": KEYS,
        "agents": AGENTS,
        "samples": samples,
        "first_decision_ms": first_ms,
        "decision_ms": {"median": statistics.median(wall), "p99": wall[int(0.99 * (len(wall) - 1))], "max": wall[-1]},
        "decision_cpu_ms": {"median": statistics.median(s.cpu_ms for s in got), "max": max(s.cpu_ms for s in got)},
        "runs_handed_on": {"median": statistics.median(s.handed for s in got), "max": max(s.handed for s in got)},
        "reference_one_pass_ms": {
            "median": statistics.median(r[0] for r in refs),
            "cpu_median": statistics.median(r[1] for r in refs),
            "samples": len(refs),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=300, help="Run ends timed (one decision each)")
    args = parser.parse_args()
    r = asyncio.run(bench(args.samples))
    ms, cpu, ref = r["decision_ms"], r["decision_cpu_ms"], r["reference_one_pass_ms"]
    print(f"admission with {r['pending']} pending Runs over {KEYS} keys and {AGENTS} agents ({r['running']} running)")
    handed = r["runs_handed_on"]
    print(f"  one Run ends, one decision: median {ms['median']:.3f} ms (CPU {cpu['median']:.3f} ms), "
          f"p99 {ms['p99']:.2f} ms, max {ms['max']:.2f} ms (target: median <= 1 ms); "
          f"Runs handed to the reconciler: median {handed['median']}, max {handed['max']}")  # fmt: skip
    print(f"  reference, one pass over every waiting Run: median {ref['median']:.2f} ms "
          f"(CPU {ref['cpu_median']:.2f} ms), ratio {ms['median'] / ref['median']:.4f}")  # fmt: skip
    print(f"  first decision (every Run folded in, as after a start): {r['first_decision_ms']:.0f} ms")
    print(f"saved {save('admission', r)}")


if __name__ == "__main__":
    main()
