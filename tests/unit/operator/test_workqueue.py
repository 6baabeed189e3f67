"""The operator's work queue (operator/workqueue.py): one key to one worker at a time, delayed adds."""

from __future__ import annotations

import asyncio

from taskops.operator.workqueue import Gate, WorkQueue


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


def test_a_gate_held_without_a_pause_lets_its_waiters_through_after_at_most() -> None:
    async def scenario() -> None:
        gate = Gate(at_most=0.05)
        with gate:
            started = asyncio.get_running_loop().time()
            await gate.wait_open()  # fires every second of the minute: the reconciles still get their turn
            assert asyncio.get_running_loop().time() - started >= 0.05
        unbounded = Gate()
        with unbounded:
            waiter = asyncio.create_task(unbounded.wait_open())
            await asyncio.sleep(0.1)
            assert not waiter.done()
        await waiter

    asyncio.run(scenario())
