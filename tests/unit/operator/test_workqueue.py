"""The operator's work queue (operator/workqueue.py): one key to one worker at a time, delayed adds."""

from __future__ import annotations

import asyncio

from taskops.operator.workqueue import Gate, WorkQueue
from tests.unit.fakes import FakeClock


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


def test_urgent_keys_are_taken_first_and_once() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        q = WorkQueue(clock)
        for key in ("a", "b", "c"):
            q.add(key)
        q.add("c", urgent=True)  # promoted: taken before a and b, and not again from its first place
        q.add_after("fire", 1.0, urgent=True)
        q.add_after("ahead", 1.0)
        clock.advance(1.0)
        assert len(q) == 5
        taken = [await q.get() for _ in range(5)]
        assert taken == ["c", "fire", "a", "b", "ahead"]
        assert len(q) == 0
        for key in ("a", "c", "fire", "ahead"):
            q.done(key)
        q.add("a")
        q.add("b", urgent=True)  # while b is processed: queued again, urgent, at its done()
        q.done("b")
        assert [await q.get(), await q.get()] == ["b", "a"]

    asyncio.run(scenario())


async def _passes(gate: Gate) -> bool:
    """Whether a waiter goes through the gate now (without the clock moving)."""
    waiter = asyncio.create_task(gate.wait_open())
    for _ in range(5):
        await asyncio.sleep(0)
    passed = waiter.done()
    waiter.cancel()
    return passed


def test_a_burst_after_a_quiet_time_goes_first_for_at_most_seconds() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        gate = Gate(at_most=2.0, clock=clock)
        assert await _passes(gate)
        with gate:
            assert not await _passes(gate)
            clock.advance(1.9)
            assert not await _passes(gate)
            clock.advance(0.1)
            assert await _passes(gate)  # held longer than at_most: the waiters' turn
        clock.advance(2.0)  # a quiet time: the next burst goes first again
        with gate:
            assert not await _passes(gate)
        unbounded = Gate(clock=clock)
        with unbounded:
            clock.advance(3600)
            assert not await _passes(unbounded)
        assert await _passes(unbounded)

    asyncio.run(scenario())


def test_fires_every_second_with_short_pauses_do_not_starve_the_waiters() -> None:
    """The spread schedule: the fire workers hold the gate 0.9 s of every second. Past the first at_most seconds a
    waiter passes at once, held or not; bounding each wait instead cost every waiter at_most seconds per pass."""

    async def scenario() -> None:
        clock = FakeClock()
        gate = Gate(at_most=2.0, clock=clock)
        waited: list[bool] = []
        for second in range(60):
            with gate:
                if second >= 2:
                    waited.append(not await _passes(gate))
                clock.advance(0.9)
            clock.advance(0.1)
        assert waited and not any(waited)

    asyncio.run(scenario())
