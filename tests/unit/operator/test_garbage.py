"""Full garbage collections at quiet moments (operator/garbage.py), driven by a fake clock."""

from __future__ import annotations

import asyncio
import gc

import pytest

from taskops.operator import garbage
from tests.unit.fakes import FakeClock


def _collector(quiet: list[bool]) -> tuple[FakeClock, list[float], asyncio.Task[None]]:
    clock = FakeClock()
    collected: list[float] = []

    def collect() -> int:
        collected.append(clock.monotonic())
        return 0

    task = asyncio.create_task(garbage.collect_when_quiet(lambda: quiet[0], clock, collect))
    return clock, collected, task


async def _advance(clock: FakeClock, seconds: float, step: float = 0.25) -> None:
    for _ in range(round(seconds / step)):
        clock.advance(step)
        await asyncio.sleep(0)
        await asyncio.sleep(0)


def test_a_full_collection_every_period_when_quiet() -> None:
    async def scenario() -> None:
        clock, collected, task = _collector([True])
        await _advance(clock, 3 * garbage.FULL_EVERY + 1)
        task.cancel()
        assert collected == pytest.approx([garbage.FULL_EVERY * k for k in (1, 2, 3)], abs=0.5)

    asyncio.run(scenario())


def test_a_collection_waits_for_the_burst_of_fires_to_end() -> None:
    async def scenario() -> None:
        quiet = [True]
        clock, collected, task = _collector(quiet)
        await _advance(clock, garbage.FULL_EVERY - 1)
        quiet[0] = False  # fires in flight from a second before the collection is due, for 5 s
        await _advance(clock, 5)
        assert collected == []
        quiet[0] = True
        await _advance(clock, 1)
        task.cancel()
        assert collected == pytest.approx([garbage.FULL_EVERY + 4], abs=garbage.POLL + 0.25)

    asyncio.run(scenario())


def test_fires_that_never_pause_delay_a_collection_by_latest_at_most() -> None:
    async def scenario() -> None:
        clock, collected, task = _collector([False])
        await _advance(clock, 2 * (garbage.FULL_EVERY + garbage.LATEST) + 1)
        task.cancel()
        period = garbage.FULL_EVERY + garbage.LATEST
        assert collected == pytest.approx([period, 2 * period], abs=garbage.POLL + 0.25)

    asyncio.run(scenario())


def test_take_over_leaves_the_young_generations_and_stops_automatic_full_collections() -> None:
    before = gc.get_threshold()
    try:
        garbage.take_over()
        young, middle, full = gc.get_threshold()
        assert (young, middle) == before[:2]
        assert full == garbage.NO_AUTOMATIC_FULL
    finally:
        gc.set_threshold(*before)
