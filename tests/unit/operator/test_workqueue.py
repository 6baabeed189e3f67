"""The operator's work queue (operator/workqueue.py): one key to one worker at a time, delayed adds."""

from __future__ import annotations

import asyncio
import contextlib

from taskops.operator.task_controller import FIRES_FIRST
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


def test_fires_timed_to_hold_the_gate_hold_back_the_waiters_half_the_time_at_most() -> None:
    """The attack: a tenant's Tasks timed so that their fires hold the gate, then let it go, again and again. A
    hold counts only in the first at_most seconds of a busy period, and a new period needs at_most seconds free
    before it, so whatever the rhythm, everyone else's Run reconciles and status writes wait at most half the
    time, and never longer than at_most in one go."""

    async def blocked_share(hold: float, free: float) -> tuple[float, float]:
        clock = FakeClock()
        gate = Gate(at_most=FIRES_FIRST, clock=clock)
        step, blocked, total, longest, run = 0.25, 0, 0, 0.0, 0.0
        while total * step < 240:
            for phase, length in ((True, hold), (False, free)):
                with contextlib.ExitStack() as held:
                    if phase:
                        held.enter_context(gate)
                    for _ in range(round(length / step)):
                        if await _passes(gate):
                            run = 0.0
                        else:
                            blocked += 1
                            run += step
                            longest = max(longest, run)
                        total += 1
                        clock.advance(step)
        return blocked / total, longest

    async def scenario() -> None:
        for hold in (1.0, FIRES_FIRST / 2, FIRES_FIRST, FIRES_FIRST + 1, 4 * FIRES_FIRST):
            for free in (0.25, 1.0, FIRES_FIRST - 0.25, FIRES_FIRST, FIRES_FIRST + 1):
                share, longest = await blocked_share(hold, free)
                assert share <= 0.5, (hold, free, share)
                assert longest <= FIRES_FIRST, (hold, free, longest)

    asyncio.run(scenario())


def test_urgent_within_sees_a_queued_fire_and_a_fire_due_soon_not_other_work() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        q = WorkQueue(clock)
        q.add("ahead")  # a Run made ahead: normal lane, not a fire
        q.add_after("later", 1.0)  # not urgent, however soon
        q.add_after("fire", 10.0, urgent=True)
        assert not q.urgent_within(2.0)
        clock.advance(8.5)
        assert q.urgent_within(2.0)  # due in 1.5 s
        clock.advance(1.5)
        assert q.urgent_within(0.0)  # due now: queued in the urgent lane
        assert await q.get() == "fire"
        assert not q.urgent_within(2.0)

    asyncio.run(scenario())


def test_the_gate_says_whether_it_is_held() -> None:
    gate = Gate()
    assert not gate.held
    with gate:
        with gate:
            assert gate.held
        assert gate.held
    assert not gate.held
