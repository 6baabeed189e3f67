"""The Task controller (operator/task_controller.py) driven with a fake clock and a fake API server.

As the CronJob controller's tests do: `now` is injected, the Run writes land in an in-memory client, and the
controller's sync says when it wants to look again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any, cast

from taskops.clients.kube import KubeClient
from taskops.clients.resources import JOBS, RUNS, TASKS, Resource
from taskops.domain.resources import names
from taskops.domain.scheduling.firedruns import AHEAD
from taskops.operator.store import Store
from taskops.operator.task_controller import TaskController
from taskops.operator.workqueue import Urgent
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


def test_a_schedule_not_yet_due_creates_nothing_and_asks_to_be_woken_when_its_next_run_is_made_ahead() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        tasks, kube = await _controller(clock, scheduleKind="cron", scheduleExpr="*/5 * * * *")
        clock.advance(60)
        delay = await tasks.reconcile(KEY)
        assert kube.of(RUNS) == []
        # The next fire is 00:05, four minutes after the injected now; its Run is made AHEAD (30 s) before it.
        assert delay == (START + dt.timedelta(minutes=5) - AHEAD - clock()).total_seconds() == 210.0
        paused = await _controller(clock, scheduleKind="cron", scheduleExpr="*/5 * * * *", concurrencyKey="k")
        assert await paused[0].reconcile(KEY) == 240.0  # nothing made ahead (admission starts it): the fire

    asyncio.run(scenario())


def test_a_due_fire_creates_exactly_one_run_even_when_synced_again() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        tasks, kube = await _controller(clock, scheduleKind="cron", scheduleExpr="*/5 * * * *")
        clock.advance(5 * 60 + 2)
        # The fire; then, in a pass of its own queued at once, the 00:10 Run (AHEAD_AT_FIRE away or less).
        assert await tasks.reconcile(KEY) == 0.0
        runs = kube.of(RUNS, KEY[0])
        assert len(runs) == 1
        assert runs[0]["spec"]["scheduledTime"].startswith("2026-01-01T00:05:00")
        delay = await tasks.reconcile(KEY)
        assert len(kube.of(RUNS, KEY[0])) == 2
        assert delay == 298.0  # next: its fire
        # The same instant again (a watch event, a restart's resync): the fire was handled, no second Run.
        assert await tasks.reconcile(KEY) == 298.0
        assert len(kube.of(RUNS, KEY[0])) == 2
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


# -- Runs created ahead of their fire ----------------------------------------------------------------------------


async def _ahead_of_second_fire(clock: FakeClock, **spec: object) -> tuple[TaskController, FakeKube, str]:
    """A minutely Task that fired at 00:01 and whose 00:02 Run was created ahead (by that fire's pass), at 00:01:30."""
    tasks, kube = await _controller(clock, scheduleKind="cron", scheduleExpr="* * * * *", **spec)
    clock.advance(61)
    # The fire, then at once (behind any other fires due) the pass that computes the next fires and creates the
    # next fire's Run (a minute away: within AHEAD_AT_FIRE); it comes back at that fire only. The status worker
    # then has nothing to compute nor to hand back.
    assert await tasks.reconcile(KEY) == 0.0
    assert await tasks.reconcile(KEY) == 59.0
    await tasks.sync(KEY)
    assert len(tasks.queue) == 0
    name = f"{KEY[1]}-20260101-000200"
    assert {r["metadata"]["name"] for r in kube.of(RUNS, KEY[0])} == {f"{KEY[1]}-20260101-000100", name}
    clock.advance(29)
    assert await tasks.reconcile(KEY) == 30.0  # nothing more to make; next: its fire
    assert len(kube.of(RUNS, KEY[0])) == 2
    return tasks, kube, name


def _job_names(kube: FakeKube) -> set[str]:
    return {j["metadata"]["name"] for j in kube.of(JOBS, KEY[0])}


def _put_run(tasks: TaskController, kube: FakeKube, name: str) -> dict[str, object]:
    run = next(r for r in kube.of(RUNS, KEY[0]) if r["metadata"]["name"] == name)
    tasks.store.runs.put(run)
    return run


def test_the_next_fire_is_created_ahead_and_its_fire_only_creates_its_job() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        tasks, kube, name = await _ahead_of_second_fire(clock)
        run = _put_run(tasks, kube, name)
        meta = cast(dict[str, dict[str, str]], run["metadata"])
        assert meta["annotations"][names.ANNOTATION_AHEAD] == "1"
        assert cast(dict[str, str], run["spec"])["scheduledAt"].startswith("2026-01-01T00:02:00")
        # It runs the version current when it was made: it has no status to pin it in until its fire.
        assert cast(dict[str, str], run["spec"])["version"] == f"{KEY[1]}-v1"
        clock.advance(31)
        writes = len(kube.writes)
        await tasks.reconcile(KEY)
        # The fire: one write, the Job of attempt 1, owned by the Run made ahead; no second Run for it.
        assert kube.writes[writes:] == [("create", "jobs", f"{name}-1")]
        await tasks.reconcile(KEY)  # then the next fire's Run, made ahead
        assert kube.writes[-1] == ("create", "runs", f"{KEY[1]}-20260101-000300")
        job = next(j for j in kube.of(JOBS, KEY[0]) if j["metadata"]["name"] == f"{name}-1")
        assert job["metadata"]["ownerReferences"][0]["uid"] == meta["uid"]
        assert len(kube.of(RUNS, KEY[0])) == 3

    asyncio.run(scenario())


def test_a_run_made_ahead_becomes_the_record_of_a_skipped_fire_when_another_run_is_going() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        tasks, kube, name = await _ahead_of_second_fire(clock, overlapPolicy="skip")
        for run in kube.of(RUNS, KEY[0]):  # the 00:01 Run is still going
            tasks.store.runs.put(run)
        clock.advance(31)
        await tasks.reconcile(KEY)
        assert _job_names(kube) == {f"{KEY[1]}-20260101-000100-1"}  # the going Run's only
        ahead = next(r for r in kube.of(RUNS, KEY[0]) if r["metadata"]["name"] == name)
        assert ahead["metadata"]["annotations"][names.ANNOTATION_DISPOSITION] == "skipped"

    asyncio.run(scenario())


def test_a_run_made_ahead_is_recorded_missed_after_downtime_under_policy_skip() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        tasks, kube, name = await _ahead_of_second_fire(clock, missedPolicy="skip")
        _put_run(tasks, kube, name)
        clock.advance(4 * 60)  # down over 00:02..00:05
        await tasks.reconcile(KEY)
        ahead = next(r for r in kube.of(RUNS, KEY[0]) if r["metadata"]["name"] == name)
        assert ahead["metadata"]["annotations"][names.ANNOTATION_DISPOSITION] == "missed"
        # 00:03 to 00:05 (30 s late too) are recorded missed as well: no Job but the 00:01 fire's.
        assert _job_names(kube) == {f"{KEY[1]}-20260101-000100-1"}
        assert f"{KEY[1]}-20260101-000500" in {r["metadata"]["name"] for r in kube.of(RUNS, KEY[0])}

    asyncio.run(scenario())


def test_a_run_made_ahead_for_an_older_generation_is_deleted_and_the_fire_creates_a_new_one() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        tasks, kube, name = await _ahead_of_second_fire(clock)
        _put_run(tasks, kube, name)
        patched = await kube.patch(TASKS, KEY[0], KEY[1], {"spec": {"description": "changed"}})
        tasks.store.tasks.put(patched)
        clock.advance(31)
        await tasks.reconcile(KEY)
        assert ("delete", "runs", name) in kube.writes
        fresh = next(r for r in kube.of(RUNS, KEY[0]) if r["metadata"]["name"] == name)
        # Made again for the Task's new generation, and started by the same pass.
        assert fresh["metadata"]["annotations"][names.ANNOTATION_AHEAD] == "2"
        assert kube.writes[-2:] == [("create", "runs", name), ("create", "jobs", f"{name}-1")]
        job = next(j for j in kube.of(JOBS, KEY[0]) if j["metadata"]["name"] == f"{name}-1")
        assert job["metadata"]["ownerReferences"][0]["uid"] == fresh["metadata"]["uid"]

    asyncio.run(scenario())


def test_a_minutely_task_costs_a_fire_pass_and_the_pass_right_after_it_per_fire() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        tasks, kube, _ = await _ahead_of_second_fire(clock)
        for minute in range(2, 6):
            clock.advance(30)  # to the fire at 00:0<minute>:00
            for run in kube.of(RUNS, KEY[0]):
                tasks.store.runs.put(run)
            writes = len(kube.writes)
            # The fire sends its Job only, and asks for the next pass at once (the normal lane: behind fires due).
            delay = await tasks.reconcile(KEY)
            assert delay == 0.0 and not isinstance(delay, Urgent)
            assert [(verb, kind) for verb, kind, _ in kube.writes[writes:]] == [("create", "jobs")]
            # That pass makes the next fire's Run; then nothing until the next fire, a minute later (none 30 s
            # before it).
            assert await tasks.reconcile(KEY) == 60.0
            assert kube.writes[-1] == ("create", "runs", f"{KEY[1]}-20260101-00{minute + 1:02d}00")
            clock.advance(30)

    asyncio.run(scenario())


def test_a_task_firing_seldom_makes_its_next_run_in_a_pass_of_its_own_ahead_of_it() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        tasks, kube = await _controller(clock, scheduleKind="cron", scheduleExpr="*/10 * * * *")
        clock.advance(10 * 60)
        assert await tasks.reconcile(KEY) == 0.0  # the fire
        # The next fire (00:20) is further than AHEAD_AT_FIRE: not made now, but AHEAD before it (00:19:30; the
        # worker looks again after MAX_SLEEP at most).
        assert await tasks.reconcile(KEY) == 300.0
        assert len(kube.of(RUNS, KEY[0])) == 1
        clock.advance(300)
        assert await tasks.reconcile(KEY) == 300.0 - AHEAD.total_seconds()
        assert len(kube.of(RUNS, KEY[0])) == 1
        clock.advance(300.0 - AHEAD.total_seconds())
        assert await tasks.reconcile(KEY) == AHEAD.total_seconds()
        assert f"{KEY[1]}-20260101-002000" in {r["metadata"]["name"] for r in kube.of(RUNS, KEY[0])}

    asyncio.run(scenario())


def test_a_fire_whose_run_was_not_made_ahead_makes_it_and_its_job_in_one_pass() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        tasks, kube = await _controller(clock, scheduleKind="cron", scheduleExpr="*/5 * * * *")
        clock.advance(5 * 60 + 2)  # its pass came late: no Run made ahead for 00:05
        await tasks.reconcile(KEY)
        name = f"{KEY[1]}-20260101-000500"
        run = next(r for r in kube.of(RUNS, KEY[0]) if r["metadata"]["name"] == name)
        # Made as a Run made ahead is (its version pinned; the Run reconciler adopts the Job), not left to the Run
        # queue for its Job.
        assert run["metadata"]["annotations"][names.ANNOTATION_AHEAD] == "1"
        assert run["spec"]["version"] == f"{KEY[1]}-v1"
        job = next(j for j in kube.of(JOBS, KEY[0]) if j["metadata"]["name"] == f"{name}-1")
        assert job["metadata"]["ownerReferences"][0]["uid"] == run["metadata"]["uid"]
        # The same instant again (a restart's resync before the status write): nothing more.
        writes = len(kube.writes)
        tasks.store.runs.put(run)
        tasks.store.jobs.put(job)
        await tasks.reconcile(KEY)
        assert [w for w in kube.writes[writes:] if w[2] in {name, f"{name}-1"}] == []

    asyncio.run(scenario())


def test_no_run_is_made_ahead_for_a_task_with_a_concurrency_key() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        tasks, kube = await _controller(clock, scheduleKind="cron", scheduleExpr="* * * * *", concurrencyKey="k")
        clock.advance(61)
        await tasks.reconcile(KEY)
        await tasks.sync(KEY)
        assert await tasks.reconcile(KEY) == 59.0  # woken for the fire only
        clock.advance(29)
        await tasks.reconcile(KEY)
        assert len(kube.of(RUNS, KEY[0])) == 1
        # Nor is its fire's Run started by the fire: admission starts it.
        run = kube.of(RUNS, KEY[0])[0]
        assert names.ANNOTATION_AHEAD not in (run["metadata"].get("annotations") or {})
        assert kube.of(JOBS, KEY[0]) == []

    asyncio.run(scenario())


# -- writes: what each worker writes, in which order, and under the gate ------------------------------------------


def _record_gate(tasks: TaskController, kube: FakeKube) -> list[tuple[str, bool]]:
    """(name, whether the fire gate was held) of every create the controller sends."""
    seen: list[tuple[str, bool]] = []
    create = kube.create

    async def recorded(res: Resource, namespace: str | None, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
        seen.append((body["metadata"]["name"], tasks.firing._holders > 0))
        return await create(res, namespace, body, **kw)

    kube.create = recorded  # type: ignore[method-assign,assignment]
    return seen


def test_a_fire_writes_the_version_then_its_run_under_the_gate_and_its_status_follows_in_one_write() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        tasks, kube = await _controller(clock, scheduleKind="cron", scheduleExpr="*/5 * * * *")
        gate = _record_gate(tasks, kube)
        clock.advance(5 * 60 + 2)
        before = len(kube.writes)
        await tasks.reconcile(KEY)
        run = f"{KEY[1]}-20260101-000500"
        # The version the Run pins, the Run, then its Job; no status write on the fire path, all while Run
        # reconciles wait.
        assert [(verb, what) for verb, what, _ in kube.writes[before:]] == [
            ("create", "controllerrevisions"),
            ("create", "runs"),
            ("create", "jobs"),
        ]
        assert kube.writes[-2][2] == run and [held for _, held in gate] == [True, True, True]
        # The status worker: one status write per sync, none when nothing changed since.
        writes = len(kube.writes)
        await tasks.sync(KEY)
        assert kube.writes[writes:] == [("patch", "tasks/status", KEY[1])]
        await tasks.sync(KEY)
        assert kube.writes[writes + 1 :] == []

    asyncio.run(scenario())


def test_the_run_made_ahead_is_created_outside_the_gate_and_its_jobs_at_the_fire_inside_it() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        tasks, kube = await _controller(clock, scheduleKind="cron", scheduleExpr="* * * * *")
        gate = _record_gate(tasks, kube)
        clock.advance(61)
        await tasks.reconcile(KEY)
        await tasks.sync(KEY)
        clock.advance(29)
        await tasks.reconcile(KEY)  # 00:01:30: the 00:02 Run, made ahead
        name = f"{KEY[1]}-20260101-000200"
        _put_run(tasks, kube, name)
        clock.advance(31)
        await tasks.reconcile(KEY)  # 00:02: its fire
        assert (name, False) in gate and (f"{name}-1", True) in gate

    asyncio.run(scenario())


def test_a_due_fire_is_requeued_on_the_urgent_lane_and_a_run_made_ahead_on_the_ordinary_one() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        keyed, _ = await _controller(clock, scheduleKind="cron", scheduleExpr="*/5 * * * *", concurrencyKey="k")
        clock.advance(60)
        fire = await keyed.reconcile(KEY)
        assert isinstance(fire, Urgent) and fire == 240.0  # its next wake-up is the 00:05 fire itself
        ahead, _ = await _controller(clock, scheduleKind="cron", scheduleExpr="*/5 * * * *")
        made_ahead = await ahead.reconcile(KEY)
        assert made_ahead == 210.0 and not isinstance(made_ahead, Urgent)  # 00:04:30: a Run made ahead has time

    asyncio.run(scenario())


def test_quiet_means_no_fire_in_flight_queued_or_due_within_the_seconds_asked() -> None:
    """What the full garbage collections wait for (operator/garbage.py)."""

    async def scenario() -> None:
        clock = FakeClock()
        tasks, _ = await _controller(clock, scheduleKind="cron", scheduleExpr="*/5 * * * *")
        assert tasks.quiet(2.0)
        tasks.queue.add_after(KEY, 10.0, urgent=True)  # its next fire
        assert tasks.quiet(2.0)
        clock.advance(8.5)
        assert not tasks.quiet(2.0)
        clock.advance(1.5)
        key = await tasks.queue.get()
        with tasks.firing:  # the fire in flight
            assert not tasks.quiet(2.0)
        tasks.queue.done(key)
        assert tasks.quiet(2.0)

    asyncio.run(scenario())
