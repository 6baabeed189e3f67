"""The admission controller (operator/admission.py) driven with a fake clock: its pass runs in the worker shell."""

from __future__ import annotations

import asyncio
from typing import Any

from taskops.domain.queueing.admission import ADMITTED, Limit, Wait
from taskops.operator.admission import DEBOUNCE_SECONDS, AdmissionController
from taskops.operator.store import Store
from taskops.operator.workqueue import WorkQueue
from tests import builders
from tests.unit.fakes import FakeClock


def _waiting(name: str, second: int, rv: int) -> dict[str, Any]:
    """A Run its reconciler has resolved (version, key) and that waits for admission."""
    run = builders.run(name, "db-task")
    run["metadata"].update(namespace="ns", resourceVersion=str(rv), creationTimestamp=f"2026-01-01T00:00:{second:02}Z")
    run["status"] = {"phase": "QUEUED", "version": 1, "concurrencyKey": "db"}
    return run


def _setup(limit: int, waiting: int) -> tuple[AdmissionController, WorkQueue, FakeClock]:
    clock = FakeClock()
    store = Store()
    task = builders.task("db-task", concurrencyKey="db", concurrencyLimit=limit)
    task["metadata"].update(namespace="ns", resourceVersion="1")
    store.tasks.put(task)
    for i in range(waiting):
        store.runs.put(_waiting(f"r{i}", i, 10 + i))
    runs = WorkQueue(clock)
    admission = AdmissionController(store, runs, clock)
    admission.ready = True
    return admission, runs, clock


async def _drain(queue: WorkQueue) -> set[Any]:
    keys = set()
    while len(queue):
        key = await queue.get()
        queue.done(key)
        keys.add(key)
    return keys


def test_a_burst_of_changes_makes_one_pass_that_admits_up_to_the_limit() -> None:
    async def scenario() -> None:
        admission, runs, clock = _setup(limit=2, waiting=4)
        for _ in range(10):
            admission.trigger()
        # One debounced pass, due after DEBOUNCE_SECONDS on the injected clock.
        assert clock.timers() == [DEBOUNCE_SECONDS]
        assert len(admission.controller.queue) == 0
        clock.advance(DEBOUNCE_SECONDS)
        assert len(admission.controller.queue) == 1
        key = await admission.controller.queue.get()
        # The pass itself is not timed: the next one is queued by a change, not by a delay.
        assert await admission.sync(key) is None
        admission.controller.queue.done(key)
        assert [admission.verdict_for(("ns", f"r{i}")) for i in range(2)] == [ADMITTED, ADMITTED]
        waits = [admission.verdict_for(("ns", f"r{i}")) for i in (2, 3)]
        assert all(isinstance(w, Wait) and w.phase == "QUEUED" for w in waits)
        assert [w.position for w in waits if isinstance(w, Wait)] == [1, 2]
        # Every Run whose verdict changed is handed to the Run reconciler, which writes it.
        assert await _drain(runs) == {("ns", f"r{i}") for i in range(4)}

    asyncio.run(scenario())


def test_nothing_is_admitted_before_the_first_full_listing() -> None:
    async def scenario() -> None:
        admission, runs, clock = _setup(limit=2, waiting=1)
        admission.ready = False
        listed = asyncio.Event()
        waiter = asyncio.create_task(admission.start_when_listed(listed))
        admission.trigger()
        clock.advance(DEBOUNCE_SECONDS)
        key = await admission.controller.queue.get()
        assert await admission.sync(key) is None
        admission.controller.queue.done(key)
        assert admission.verdict_for(("ns", "r0")) is None and len(runs) == 0
        listed.set()
        await waiter
        clock.advance(DEBOUNCE_SECONDS)
        key = await admission.controller.queue.get()
        await admission.sync(key)
        assert admission.verdict_for(("ns", "r0")) == ADMITTED

    asyncio.run(scenario())


def test_a_run_that_ends_lets_the_next_start_and_nobody_else_is_reconciled() -> None:
    async def scenario() -> None:
        admission, runs, clock = _setup(limit=2, waiting=5)
        admission.decide()
        await _drain(runs)
        for i in range(2):  # the admitted Runs' status writes come back through the informer
            run = _waiting(f"r{i}", i, 100 + i)
            run["status"].update(phase="RUNNING", admittedAt="2026-01-01T00:01:00Z")
            admission.store.runs.put(run)
            admission.run_changed(("ns", f"r{i}"))
        admission.decide()
        assert await _drain(runs) == set()
        ended = _waiting("r0", 0, 200)
        ended["status"].update(phase="SUCCEEDED", admittedAt="2026-01-01T00:01:00Z")
        admission.store.runs.put(ended)
        admission.run_changed(("ns", "r0"))
        # One decision, debounced like any other change.
        assert clock.timers() == [DEBOUNCE_SECONDS]
        admission.decide()
        assert await _drain(runs) == {("ns", "r2")}
        assert admission.verdict_for(("ns", "r2")) == ADMITTED
        assert admission.verdict_for(("ns", "r3")) == Wait("QUEUED", Limit.CONCURRENCY_KEY, "ns/db", 2, 2, 1)

    asyncio.run(scenario())


def test_a_raised_limit_is_read_from_the_tasks_again() -> None:
    async def scenario() -> None:
        admission, runs, _ = _setup(limit=1, waiting=3)
        admission.decide()
        assert await _drain(runs) == {("ns", "r0"), ("ns", "r1"), ("ns", "r2")}
        task = builders.task("db-task", concurrencyKey="db", concurrencyLimit=3)
        task["metadata"].update(namespace="ns", resourceVersion="2")
        admission.store.tasks.put(task)
        admission.trigger()
        admission.decide()
        assert await _drain(runs) == {("ns", "r1"), ("ns", "r2")}

    asyncio.run(scenario())


def test_a_run_handed_over_without_a_status_frees_its_slot_when_it_is_deleted() -> None:
    async def scenario() -> None:
        admission, runs, _ = _setup(limit=1, waiting=0)
        for i in range(2):
            fresh = _waiting(f"n{i}", i, 10 + i)
            del fresh["status"]  # its reconcile validated it and handed it over without writing
            admission.store.runs.put(fresh)
            admission.offer(("ns", f"n{i}"), fresh["metadata"]["creationTimestamp"], 0, "db", None)
        admission.decide()
        assert admission.verdict_for(("ns", "n0")) == ADMITTED
        assert isinstance(admission.verdict_for(("ns", "n1")), Wait)
        await _drain(runs)
        # Deleted before its RUNNING write: no status ever named its key, yet its reservation goes.
        gone = admission.store.runs.get(("ns", "n0"))
        assert gone is not None
        admission.store.runs.remove(gone)
        admission.run_changed(("ns", "n0"))
        admission.decide()
        assert await _drain(runs) == {("ns", "n1")}
        assert admission.verdict_for(("ns", "n1")) == ADMITTED

    asyncio.run(scenario())


def test_an_admitted_run_goes_before_other_runs_events_in_the_run_queue() -> None:
    async def scenario() -> None:
        admission, runs, clock = _setup(limit=1, waiting=2)
        runs.add(("ns", "busy"))  # an event of a Run that has its Job, queued before the pass
        admission.trigger()
        clock.advance(DEBOUNCE_SECONDS)
        key = await admission.controller.queue.get()
        await admission.sync(key)
        # Its reconcile creates its Job: it is taken first; the waiting Run's new position after the others.
        assert [await runs.get() for _ in range(3)] == [("ns", "r0"), ("ns", "busy"), ("ns", "r1")]

    asyncio.run(scenario())
