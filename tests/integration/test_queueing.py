"""Queueing on the real control plane: limits never exceeded (also across SIGKILLs), priority, agents,
visible waiting, queue_full, dedupe, scheduled_at."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import threading
import time
from typing import Any

from devcluster.cluster import Cluster
from tests import builders
from tests.integration.kube import Kube, wait_for
from tests.integration.processes import OperatorProcess
from tests.integration.timing import ENDED, max_overlap, parse_time


def all_ended(kube: Kube, ns: str, names: list[str], timeout: float) -> list[dict[str, Any]]:
    def check() -> list[dict[str, Any]] | None:
        runs = {r["metadata"]["name"]: r for r in kube.runs(ns)}
        got = [runs.get(n) for n in names]
        return got if all(r and (r.get("status") or {}).get("phase") in ENDED for r in got) else None  # type: ignore[misc]

    return wait_for(check, timeout, interval=0.5, what=f"{len(names)} runs to end")


def check_limit(kube: Kube, ns: str, runs: list[dict[str, Any]], limit: int) -> None:
    # From the operator's admission records (microsecond times) ...
    held = [(parse_time(r["status"]["admittedAt"]), parse_time(r["status"]["endTime"])) for r in runs]
    assert max_overlap(held) <= limit
    # ... and from the Jobs' own timestamps (second resolution: a Job ending and one starting in the same
    # second count as overlapping, so this bound has one second of slack).
    names = {r["metadata"]["name"] for r in runs}
    jobs = [j for j in kube.jobs(ns) if (j.metadata.labels or {}).get("taskops.dev/run") in names]
    assert len(jobs) == len(runs), "one Job per run, no duplicates"
    spans = [(j.metadata.creation_timestamp, j.status.completion_time or j.metadata.creation_timestamp) for j in jobs]
    shrunk = [(s + dt.timedelta(seconds=1), e) for s, e in spans if e > s + dt.timedelta(seconds=1)]
    assert max_overlap(shrunk) <= limit


def create_runs(kube: Kube, ns: str, task: str, n: int, priorities: list[int]) -> list[str]:
    names = [f"{task}-{i:02d}" for i in range(n)]
    for name, prio in zip(names, priorities, strict=True):
        kube.create(ns, builders.run(name, task, priority=prio))
    return names


def test_key_limit_is_never_exceeded_and_priority_orders_the_queue(
    kube: Kube, operator: OperatorProcess, ns: str, cluster: Cluster
) -> None:
    kube.create(
        ns,
        builders.task(
            "db",
            pod_annotations=builders.pod_behaviour(duration="1s"),
            maxRetries=0,
            concurrencyKey="db-backup",
            concurrencyLimit=2,
        ),
    )
    # Two long runs hold the key while the burst arrives, so the whole burst queues.
    kube.create(
        ns,
        builders.task(
            "hold",
            pod_annotations=builders.pod_behaviour(duration="4s"),
            maxRetries=0,
            concurrencyKey="db-backup",
            concurrencyLimit=2,
        ),
    )
    for i in range(2):
        kube.create(ns, builders.run(f"hold-{i}", "hold"))
    wait_for(
        lambda: all((kube.run(ns, f"hold-{i}").get("status") or {}).get("phase") == "RUNNING" for i in range(2)),
        15,
        what="the key to be held",
    )
    rng = random.Random(3)
    priorities = [rng.choice([-5, 0, 5, 10]) for _ in range(20)]
    names = create_runs(kube, ns, "db", 20, priorities)

    table = wait_for(
        lambda: (t := cluster.kubectl("get", "runs", "-n", ns)) and "BLOCKED" in t and t,
        10,
        what="BLOCKED in kubectl get runs",
    )
    assert 'concurrency key "db-backup" at 2/2' in table

    runs = all_ended(kube, ns, [*names, "hold-0", "hold-1"], 120)
    assert all(r["status"]["phase"] == "SUCCEEDED" for r in runs)
    check_limit(kube, ns, runs, 2)
    burst = [r for r in runs if r["metadata"]["name"] in names]
    order = sorted(burst, key=lambda r: r["status"]["admittedAt"])
    expected = sorted(
        burst, key=lambda r: (-r["spec"]["priority"], r["metadata"]["creationTimestamp"], r["metadata"]["name"])
    )
    assert [r["spec"]["priority"] for r in order] == [r["spec"]["priority"] for r in expected]


def test_limit_holds_while_the_operator_is_killed_repeatedly(kube: Kube, operator: OperatorProcess, ns: str) -> None:
    kube.create(
        ns,
        builders.task(
            "chaos",
            pod_annotations=builders.pod_behaviour(duration="1s"),
            maxRetries=0,
            concurrencyKey="k",
            concurrencyLimit=2,
        ),
    )
    names = create_runs(kube, ns, "chaos", 16, [0] * 16)
    stop = threading.Event()
    kills = itertools.count()

    def killer() -> None:
        while not stop.wait(random.uniform(2, 4)):
            operator.kill()
            next(kills)
            time.sleep(0.3)
            operator.start()

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        runs = all_ended(kube, ns, names, 180)
    finally:
        stop.set()
        thread.join()
        if not operator.running():
            operator.start()
    assert next(kills) >= 3, "the operator was killed several times"
    assert all(r["status"]["phase"] == "SUCCEEDED" for r in runs)
    check_limit(kube, ns, runs, 2)


def test_agent_capacity(kube: Kube, operator: OperatorProcess, ns: str) -> None:
    kube.create(ns, builders.agent("gpu", 3, jobDefaults={"nodeSelector": {"type": "kwok"}}))
    kube.create(
        ns, builders.task("train", pod_annotations=builders.pod_behaviour(duration="1s"), maxRetries=0, agent="gpu")
    )
    names = create_runs(kube, ns, "train", 9, [0] * 9)
    runs = all_ended(kube, ns, names, 90)
    assert all(r["status"]["phase"] == "SUCCEEDED" for r in runs)
    check_limit(kube, ns, runs, 3)
    job = kube.jobs(ns)[0]
    assert job.spec.template.spec.node_selector == {"type": "kwok"}
    kube.create(ns, builders.run("nowhere", "train", agent="no-such-agent"))
    bad = kube.wait_run_phase(ns, "nowhere", ENDED)
    assert bad["status"]["phase"] == "INVALID" and 'agent "no-such-agent" not found' in bad["status"]["message"]


def test_queue_full_dedupe_and_scheduled_at(kube: Kube, operator: OperatorProcess, ns: str) -> None:
    kube.create(
        ns,
        builders.task(
            "narrow",
            pod_annotations=builders.pod_behaviour(duration="3s"),
            maxRetries=0,
            concurrencyKey="narrow",
            maxQueued=1,
        ),
    )
    for i in range(3):
        kube.create(ns, builders.run(f"narrow-{i}", "narrow"))
        time.sleep(0.3)
    runs = all_ended(kube, ns, [f"narrow-{i}" for i in range(3)], 60)
    reasons = sorted(r["status"]["endReason"] for r in runs)
    assert reasons == ["queue_full", "success", "success"]

    kube.create(ns, builders.task("once", dedupeKey="nightly", dedupeWindowSeconds=600))
    kube.create(ns, builders.run("once-a", "once"))
    time.sleep(1.1)
    kube.create(ns, builders.run("once-b", "once"))
    second = kube.wait_run_phase(ns, "once-b", ENDED)
    assert (second["status"]["phase"], second["status"]["endReason"]) == ("STOPPED", "skipped")
    assert "duplicate of run once-a" in second["status"]["message"]
    assert kube.wait_run_phase(ns, "once-a", ENDED)["status"]["phase"] == "SUCCEEDED"

    at = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)).replace(microsecond=0)
    kube.create(ns, builders.task("later"))
    kube.create(ns, builders.run("later-1", "later", scheduledAt=at.isoformat().replace("+00:00", "Z")))
    waiting = kube.wait_run_phase(ns, "later-1", {"SCHEDULED"}, timeout=10)
    assert "waiting until" in waiting["status"]["message"]
    run = kube.wait_run_phase(ns, "later-1", {"RUNNING", "SUCCEEDED"}, timeout=15)
    started = parse_time(run["status"]["startTime"])
    assert at <= started < at + dt.timedelta(seconds=1), (at, started)


def test_runs_created_while_the_operator_starts_are_not_invalid_for_an_agent_it_has_not_listed_yet(
    kube: Kube, operator: OperatorProcess, ns: str
) -> None:
    # Found by the chaos suite: after a restart the Run watch may deliver before the Agent watch has listed
    # anything, and a new Run was then ended INVALID ("agent not found") for an Agent that exists.
    for i in range(5):
        kube.create(ns, builders.agent(f"pool-{i}", 2))
        kube.create(ns, builders.task(f"t{i}", pod_annotations=builders.pod_behaviour(duration="200ms"),
                                      maxRetries=0, agent=f"pool-{i}"))  # fmt: skip
    names = []
    for restart in range(3):
        operator.kill()
        operator.start()
        for j in range(15):
            names.append(f"t{j % 5}-{restart}-{j}")
            kube.create(ns, builders.run(names[-1], f"t{j % 5}"))
            time.sleep(0.1)
    runs = all_ended(kube, ns, names, 90)
    wrong = [(r["metadata"]["name"], r["status"].get("message")) for r in runs if r["status"]["phase"] != "SUCCEEDED"]
    assert not wrong


def test_an_empty_concurrency_key_is_none_and_stalls_nobody(kube: Kube, operator: OperatorProcess, ns: str) -> None:
    """`make fuzz` found (issue 20): a Task with `concurrencyKey: ""` sent its Runs to admission with neither key
    nor agent, and every later decision failed, so no keyed Run anywhere was admitted any more."""
    quick = builders.pod_behaviour(duration="200ms")
    kube.create(ns, builders.task("blank", pod_annotations=quick, maxRetries=0, concurrencyKey=""))
    kube.create(ns, builders.task("keyed", pod_annotations=quick, maxRetries=0, concurrencyKey="db"))
    kube.create(ns, builders.run("blank-1", "blank"))
    assert kube.wait_run_phase(ns, "blank-1", ENDED)["status"]["phase"] == "SUCCEEDED"
    kube.create(ns, builders.run("keyed-1", "keyed"))
    assert kube.wait_run_phase(ns, "keyed-1", ENDED)["status"]["phase"] == "SUCCEEDED"
