"""The worker shell every controller runs in (operator/controller.py), driven with a fake clock."""

from __future__ import annotations

import asyncio

from taskops.clients import errors
from taskops.operator.controller import Backoff, Controller
from tests.unit.fakes import FakeClock

KEY = ("ns", "obj")


def _shell(clock: FakeClock, outcomes: list[float | Exception | None]) -> tuple[Controller[tuple[str, str]], list[str]]:
    """A controller whose sync answers `outcomes` in turn (a delay, None or an exception), recording each call."""
    calls: list[str] = []

    async def sync(key: tuple[str, str]) -> float | None:
        calls.append(key[1])
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return Controller("test", sync, clock=clock, backoff=Backoff(base=1.0, cap=8.0)), calls


async def _step(ctrl: Controller[tuple[str, str]]) -> None:
    """Process the one key that must be queued now."""
    key = await asyncio.wait_for(ctrl.queue.get(), 1)
    await ctrl.process(key)  # type: ignore[arg-type]


def test_a_returned_delay_requeues_the_key_then_and_not_before() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        ctrl, calls = _shell(clock, [5.0, None])
        ctrl.queue.add(KEY)
        await _step(ctrl)
        assert len(ctrl.queue) == 0 and clock.timers() == [5.0]
        clock.advance(4.9)
        assert len(ctrl.queue) == 0
        clock.advance(0.1)
        assert len(ctrl.queue) == 1
        await _step(ctrl)
        # None: nothing due, no timer left behind.
        assert calls == ["obj", "obj"] and clock.timers() == [] and len(ctrl.queue) == 0

    asyncio.run(scenario())


def test_exceptions_back_off_exponentially_per_key_up_to_the_cap_and_success_forgets() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        ctrl, calls = _shell(clock, [RuntimeError("boom")] * 6 + [None, RuntimeError("again")])
        ctrl.queue.add(KEY)
        delays = []
        for _ in range(6):
            await _step(ctrl)
            (delay,) = clock.timers()
            delays.append(delay)
            clock.advance(delay)
        assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
        await _step(ctrl)  # succeeds: the failure count is forgotten
        assert ctrl.failures(KEY) == 0
        ctrl.queue.add(KEY)
        await _step(ctrl)
        assert clock.timers() == [1.0]
        assert len(calls) == 8

    asyncio.run(scenario())


def test_a_gone_object_is_dropped_and_a_conflict_is_retried() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        gone = errors.NotFound(404, {"reason": "NotFound", "message": "gone"})
        conflict = errors.Conflict(409, {"reason": "Conflict", "message": "modified"})
        ctrl, _ = _shell(clock, [gone, conflict])
        ctrl.queue.add(KEY)
        await _step(ctrl)
        assert clock.timers() == [] and ctrl.failures(KEY) == 0
        ctrl.queue.add(KEY)
        await _step(ctrl)
        assert clock.timers() == [1.0]

    asyncio.run(scenario())


def test_keys_are_deduplicated_and_a_key_added_while_syncing_is_synced_once_more() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        calls: list[str] = []

        async def sync(key: tuple[str, str]) -> float | None:
            calls.append(key[1])
            if len(calls) == 1:
                ctrl.queue.add(key)  # an event for the object being synced
                ctrl.queue.add(key)
            return None

        ctrl: Controller[tuple[str, str]] = Controller("test", sync, clock=clock, workers=4)
        for _ in range(100):
            ctrl.queue.add(KEY)
            ctrl.queue.add_after(KEY, 3.0)
        ctrl.queue.add(("ns", "other"))
        assert len(ctrl.queue) == 2 and clock.timers() == [3.0]
        workers = asyncio.create_task(ctrl.run())
        for _ in range(20):
            await asyncio.sleep(0)
        clock.advance(3.0)
        for _ in range(20):
            await asyncio.sleep(0)
        workers.cancel()
        # Once at first, once for the adds made during that sync, once when the timer fired.
        assert sorted(calls) == ["obj", "obj", "obj", "other"]

    asyncio.run(scenario())
