"""The Task controller: fires schedules on time, stops overlapping Runs, prunes history.

All due times live in one timer heap (the event loop's): each Task key is
re-queued for its next fire with `WorkQueue.add_after`, never polled. Run
names are derived from (Task, fire time), so a restart or a second operator
creating the same fire gets AlreadyExists instead of a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from typing import Any

from pydantic import ValidationError

from taskops.clients import errors
from taskops.clients.kube import KubeClient
from taskops.clients.resources import RUNS, TASKS
from taskops.domain import names
from taskops.domain.firing import FirePlan, plan
from taskops.domain.history import Finished, prune
from taskops.domain.models import Run, Task
from taskops.domain.models.task import DstPolicy as DstPolicyModel
from taskops.domain.phases import Phase, is_terminal
from taskops.domain.runs import build_scheduled_run
from taskops.domain.schedule import DstPolicy, Schedule, ScheduleError, jitter_offset, parse
from taskops.domain.taskstatus import task_status
from taskops.operator.reconciler import COMPONENT, Clock, utcnow
from taskops.operator.store import Key, Store
from taskops.operator.workqueue import WorkQueue

log = logging.getLogger("taskops.scheduler")

PENDING = {Phase.CREATED, Phase.SCHEDULED, Phase.QUEUED, Phase.BLOCKED}
# Re-check a Task at least this often even when nothing is due (clock jumps, missed wake-ups).
MAX_SLEEP = 300.0


def _policy(model: DstPolicyModel | None) -> DstPolicy:
    return DstPolicy(model.nonexistent, model.repeated) if model else DstPolicy()


class TaskController:
    def __init__(self, store: Store, client: KubeClient, clock: Clock = utcnow, workers: int = 8) -> None:
        self.store = store
        self.client = client
        self.clock = clock
        self.queue = WorkQueue()
        self.workers = workers

    async def run_workers(self) -> None:
        await asyncio.gather(*(self._worker() for _ in range(self.workers)))

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            assert isinstance(key, tuple)
            try:
                await self.reconcile(key)
            except errors.ApiError as exc:
                if exc.gone:
                    log.debug("task %s/%s or its namespace is gone: %s", *key, exc)
                else:
                    log.warning("reconcile of task %s/%s failed (%s); retrying in 2s", *key, exc)
                    self.queue.add_after(key, 2.0)
            except Exception as exc:
                log.warning(
                    "reconcile of task %s/%s failed (%s); retrying in 2s",
                    *key,
                    exc,
                    exc_info=not isinstance(exc, errors.ApiError | OSError),
                )
                self.queue.add_after(key, 2.0)
            finally:
                self.queue.done(key)

    def _wake_at(self, key: Key, when: dt.datetime | None) -> None:
        delay = MAX_SLEEP if when is None else min((when - self.clock()).total_seconds(), MAX_SLEEP)
        self.queue.add_after(key, max(delay, 0.0))

    async def reconcile(self, key: Key) -> None:
        raw = self.store.tasks.get(key)
        if raw is None:
            return
        try:
            task = Task.model_validate(raw)
        except ValidationError as exc:
            log.error("task %s/%s cannot be parsed: %s", *key, exc)
            return
        if task.metadata.deletion_timestamp:
            return
        now = self.clock()
        schedule: Schedule | None = None
        error: ScheduleError | None = None
        spec = task.spec
        try:
            schedule = parse(spec.schedule_kind, spec.schedule_expr, spec.timezone, _policy(spec.dst_policy), now)
        except ScheduleError as exc:
            error = exc

        runs = [Run.model_validate(r) for r in self.store.runs_of_task(*key)]
        active = [r for r in runs if not is_terminal(r.status.phase)]
        if spec.state == "canceled":
            await self._abort_pending(active)

        last = task.status.last_schedule_time or task.metadata.creation_timestamp or now
        fire_plan = plan(spec, schedule, last, now, [r.name for r in active]) if schedule else None
        if fire_plan is not None:
            await self._apply_plan(raw, task, fire_plan, {r.name: r for r in active})

        if fire_plan is not None and fire_plan.runs:
            log.debug(
                "task %s/%s fired %s at %s",
                *key,
                [r.scheduled_time.isoformat() for r in fire_plan.runs],
                now.isoformat(),
            )
        next_ttl = await self._prune(task, runs, now)
        await self._write_status(raw, task, fire_plan, error, now)

        wake = None
        if fire_plan is not None and fire_plan.next_fire is not None:
            wake = fire_plan.next_fire + jitter_offset(key[0], key[1], spec.jitter_seconds)
        if next_ttl is not None and (wake is None or next_ttl < wake):
            wake = next_ttl
        self._wake_at(key, wake)

    async def _apply_plan(self, raw: dict[str, Any], task: Task, fire_plan: FirePlan, active: dict[str, Run]) -> None:
        ns = task.metadata.namespace
        for name in fire_plan.stop:
            run = active.get(name)
            if run is not None and not run.spec.stop:
                patch = {
                    "metadata": {
                        "annotations": {
                            names.ANNOTATION_STOP_MESSAGE: "replaced by a newer fire (overlap policy replace)"
                        }
                    },
                    "spec": {"stop": True},
                }
                self.store.runs.put(await self.client.patch(RUNS, ns, name, patch))
        for planned in fire_plan.runs:
            body = build_scheduled_run(task, planned.scheduled_time, planned.disposition, planned.message)
            created, _ = await self.client.create_or_get(RUNS, ns or "", body)
            self.store.runs.put(created)
        if fire_plan.dropped != 0:
            count = "many" if fire_plan.dropped is None else str(fire_plan.dropped)
            await self._event(
                raw,
                "Warning",
                "MissedFiresDropped",
                f"{count} missed fire times beyond maxCatchUp ({task.spec.max_catch_up}) were dropped",
            )

    async def _abort_pending(self, active: list[Run]) -> None:
        for run in active:
            if run.status.phase in PENDING and not run.spec.stop:
                patch = {
                    "metadata": {"annotations": {names.ANNOTATION_STOP_MESSAGE: "the task was canceled"}},
                    "spec": {"stop": True},
                }
                self.store.runs.put(await self.client.patch(RUNS, run.namespace, run.name, patch))

    async def _prune(self, task: Task, runs: list[Run], now: dt.datetime) -> dt.datetime | None:
        finished = [
            Finished(r.name, r.status.phase, r.status.end_time)
            for r in runs
            if is_terminal(r.status.phase) and r.status.end_time is not None
        ]
        delete, next_ttl = prune(task.spec, finished, now)
        for name in delete:
            with contextlib.suppress(errors.NotFound):
                await self.client.delete(RUNS, task.metadata.namespace, name)
        return next_ttl

    async def _write_status(
        self, raw: dict[str, Any], task: Task, fire_plan: FirePlan | None, error: ScheduleError | None, now: dt.datetime
    ) -> None:
        new = task_status(task, fire_plan, error, now).to_k8s()
        old = raw.get("status") or {}
        if new == old:
            return
        was_valid = next((c for c in old.get("conditions") or [] if c.get("type") == "ScheduleValid"), None)
        body = {**{k: None for k in old if k not in new}, **new}
        patched = await self.client.patch(
            TASKS, task.metadata.namespace, task.metadata.name, {"status": body}, subresource="status"
        )
        self.store.tasks.put(patched)
        if error is not None and (was_valid is None or was_valid.get("status") != "False"):
            await self._event(patched, "Warning", "InvalidSchedule", f"spec.{error.field}: {error.message}")

    async def _event(self, raw: dict[str, Any], type_: str, reason: str, message: str) -> None:
        try:
            await self.client.post_event(raw, type_, reason, message, COMPONENT, self.clock())
        except errors.ApiError as exc:
            log.warning("could not post event %s: %s", reason, exc)
