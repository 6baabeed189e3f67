"""The Task controller (operator/task_controller.py) driven with a fake clock and a fake API server.

As the CronJob controller's tests do: `now` is injected, the Run writes land in an in-memory client, and the
controller's sync says when it wants to look again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import cast

from taskops.clients.kube import KubeClient
from taskops.clients.resources import RUNS, TASKS
from taskops.operator.store import Store
from taskops.operator.task_controller import TaskController
from tests import builders
from tests.unit.fakes import START, FakeClock, FakeKube

KEY = ("ns", "every5")


async def _controller(clock: FakeClock, **spec: object) -> tuple[TaskController, FakeKube]:
    """A Task created at START with `spec`, in the fake API server and in the controller's cache."""
    kube = FakeKube(clock)
    body = builders.task(KEY[1], **spec)
    body["metadata"]["namespace"] = KEY[0]
    store = Store()
    store.tasks.put(await kube.create(TASKS, KEY[0], body))
    return TaskController(store, cast(KubeClient, kube), clock), kube


def test_a_schedule_not_yet_due_creates_nothing_and_asks_to_be_woken_at_its_next_fire() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        tasks, kube = await _controller(clock, scheduleKind="cron", scheduleExpr="*/5 * * * *")
        clock.advance(60)
        delay = await tasks.reconcile(KEY)
        assert kube.of(RUNS) == []
        # The next fire is 00:05, four minutes after the injected now.
        assert delay == (START + dt.timedelta(minutes=5) - clock()).total_seconds() == 240.0

    asyncio.run(scenario())


def test_a_due_fire_creates_exactly_one_run_even_when_synced_again() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        tasks, kube = await _controller(clock, scheduleKind="cron", scheduleExpr="*/5 * * * *")
        clock.advance(5 * 60 + 2)
        delay = await tasks.reconcile(KEY)
        runs = kube.of(RUNS, KEY[0])
        assert len(runs) == 1
        assert runs[0]["spec"]["scheduledTime"].startswith("2026-01-01T00:05:00")
        assert delay == 298.0  # to 00:10
        # The same instant again (a watch event, a restart's resync): the fire was handled, no second Run.
        assert await tasks.reconcile(KEY) == 298.0
        assert len(kube.of(RUNS, KEY[0])) == 1
        # Its status follows a moment later, on the status queue.
        assert len(tasks.sync_queue) == 0 and tasks.sync_queue.waiting() == 1

    asyncio.run(scenario())


def test_a_paused_task_fires_nothing() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        tasks, kube = await _controller(clock, scheduleKind="cron", scheduleExpr="*/5 * * * *", state="paused")
        clock.advance(30 * 60)
        await tasks.reconcile(KEY)
        assert kube.of(RUNS) == []

    asyncio.run(scenario())
