"""The operator's caches and work queue (no API server involved)."""

from __future__ import annotations

import asyncio
from typing import Any

from taskops.operator.store import Store
from taskops.operator.workqueue import WorkQueue


def obj(name: str, rv: str, labels: dict[str, str] | None = None, task: str | None = None) -> dict[str, Any]:
    o: dict[str, Any] = {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv, "labels": labels or {}}}
    if task:
        o["spec"] = {"taskRef": {"name": task}}
    return o


def test_older_resource_versions_never_replace_newer() -> None:
    store = Store()
    assert store.runs.put(obj("r", "10", task="t"))
    assert not store.runs.put(obj("r", "9", task="t"))
    assert store.runs.get(("ns", "r"))["metadata"]["resourceVersion"] == "10"  # type: ignore[index]


def test_indexes_follow_label_changes_and_deletes() -> None:
    store = Store()
    store.pods.put(obj("p1", "1", {"batch.kubernetes.io/job-name": "j1"}))
    store.pods.put(obj("p2", "1", {"batch.kubernetes.io/job-name": "j1"}))
    assert {p["metadata"]["name"] for p in store.pods_of_job("ns", "j1")} == {"p1", "p2"}
    store.pods.put(obj("p2", "2", {"batch.kubernetes.io/job-name": "j2"}))
    assert [p["metadata"]["name"] for p in store.pods_of_job("ns", "j1")] == ["p1"]
    store.pods.remove(obj("p1", "3"))
    assert store.pods_of_job("ns", "j1") == []
    store.runs.put(obj("r1", "1", task="t"))
    assert [r["metadata"]["name"] for r in store.runs_of_task("ns", "t")] == ["r1"]


def test_queue_dedupes_and_never_hands_one_key_to_two_workers() -> None:
    async def scenario() -> None:
        q = WorkQueue()
        q.add("a")
        q.add("a")
        q.add("b")
        assert len(q) == 2
        key = await q.get()
        assert key == "a"
        q.add("a")  # while "a" is being processed
        assert len(q) == 1  # only "b": "a" waits for done()
        q.done("a")
        assert len(q) == 2
        assert await q.get() == "b"
        assert await q.get() == "a"

    asyncio.run(scenario())


def test_delayed_add_keeps_the_earliest_timer() -> None:
    async def scenario() -> None:
        q = WorkQueue()
        q.add_after("a", 0.05)
        q.add_after("a", 10)
        assert len(q) == 0
        assert await asyncio.wait_for(q.get(), 1) == "a"

    asyncio.run(scenario())
