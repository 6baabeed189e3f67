"""The operator's work queue (operator/workqueue.py): one key to one worker at a time, delayed adds."""

from __future__ import annotations

import asyncio

from taskops.operator.workqueue import WorkQueue


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
