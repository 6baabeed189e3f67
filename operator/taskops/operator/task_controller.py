"""The Task controller: fires schedules on time, stops overlapping Runs, prunes history.

All due times live in one timer heap (the clock's): each Task's sync returns
the delay to its next fire, and the worker shell (controller.py) re-queues the
key for then, never polled. Run names are derived from (Task, fire time), so a
restart or a second operator creating the same fire gets AlreadyExists instead
of a duplicate.

Schedule searches never run on the event loop, except a fire whose times were
all computed ahead (the hot path, no arithmetic): parsing a changed spec,
computing fires ahead and any other plan run on a small thread pool, and each
search is bounded (domain/scheduling/recurrence.py). A search that runs out of its bound
makes the schedule invalid (ScheduleValid=False) until the spec changes.

A fire's Run is created ahead (`firedruns.AHEAD` before the fire, off the fire's instant; by the pass right
after the previous fire when that is at most `firedruns.AHEAD_AT_FIRE` before it) when the Task allows it
(`firedruns.can_create_ahead`); the fire then only creates its Job. The policies are applied at the fire exactly
as for a Run created then: a Run made ahead is not "going" for the overlap policy, and one the policies do not run
becomes their record, or is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from pydantic import ValidationError

from taskops.clients import errors
from taskops.clients.informer import Key
from taskops.clients.kube import KubeClient
from taskops.clients.resources import JOBS, REVISIONS, RUNS, TASKS
from taskops.domain.execution import gojson
from taskops.domain.execution.decide import decide
from taskops.domain.execution.decision import Context
from taskops.domain.execution.versions import Version, from_revision, next_revision, resolve
from taskops.domain.resources import jsonbounds, mergepatch, names, timefmt
from taskops.domain.resources.clock import SYSTEM, Clock
from taskops.domain.resources.phases import PENDING_PHASES, is_terminal, raw_phase
from taskops.domain.resources.raw import RawRun, RawTask
from taskops.domain.resources.results import schema_error
from taskops.domain.resources.run import Run
from taskops.domain.resources.task import Task
from taskops.domain.scheduling.firedruns import (
    AHEAD,
    AHEAD_AT_FIRE,
    AHEAD_MIN,
    ahead_generation,
    build_scheduled_run,
    can_create_ahead,
    disposition_patch,
    stop_patch,
    waiting_for_fire,
)
from taskops.domain.scheduling.firing import FirePlan, PlannedRun, plan
from taskops.domain.scheduling.history import finished, prune
from taskops.domain.scheduling.recurrence import Ahead, FireSource, Schedule, ScheduleError, jitter_offset, parse
from taskops.domain.scheduling.taskstatus import task_status
from taskops.operator import metrics
from taskops.operator.controller import Controller
from taskops.operator.events import COMPONENT
from taskops.operator.store import Store, packed_revision
from taskops.operator.workqueue import Gate, Urgent, WorkQueue

log = logging.getLogger("taskops.task_controller")
T = TypeVar("T")

# How long the status write waits after a fire, so that a burst of fires shares one write.
SYNC_DELAY = 1.0
# Re-check a Task at least this often even when nothing is due (clock jumps, missed wake-ups).
MAX_SLEEP = 300.0
# How long Run reconciles and status writes wait for the fires in flight after a quiet time. The burst of a
# thousand Tasks due at one second takes 3-5 s to send on two cores; released after 2 s, the Runs' RUNNING writes
# and the Tasks' status writes (each a custom-resource patch, about as costly as a Job create: bench.requests)
# took a share of the API server from the burst's last fires (docs/benchmarks.md, eighth round). Past it, or when
# fires come every second without a pause that long, they do not wait: the gate's busy period
# (operator/workqueue.py, Gate). The gate opens as soon as no fire is in flight, so a short burst holds them less.
FIRES_FIRST = 6.0
# Threads that search schedules; each search is bounded in time, so a few bad Tasks delay others' searches by
# at most their bound, and fires computed ahead do not wait for them.
SEARCH_THREADS = 2
# Parsed Tasks kept, the most recently used (a parse takes about 30 µs; a parsed Task about 7 KB, as much as its
# cached body): the Tasks that fire often stay parsed, a cluster's ten thousand yearly ones are not all held twice.
PARSED_TASKS = 2048


@dataclass(slots=True)
class _Memory:
    """What the controller knows of a Task between reconciles (its status is written lazily)."""

    generation: int | None = None
    schedule: Schedule | None = None
    error: ScheduleError | None = None
    # Why the resultSchema is not acceptable (checked with the schedule, once per generation).
    schema_problem: str | None = None
    # The spec nests deeper than jsonbounds.MAX_DEPTH (written with kubectl): it is neither versioned nor fired.
    unreadable: bool = False
    versioned_generation: int | None = None
    last_fire: dt.datetime | None = None
    next_fire: dt.datetime | None = None
    # The next fires, computed by `sync` after a fire so that the fire itself does no schedule arithmetic.
    ahead: Ahead | None = None
    # The Job of the Run made ahead for the next fire (its name, the Job), built when the Run was created so
    # that the fire only sends it.
    ahead_job: tuple[str, dict[str, Any]] | None = None
    # The last pass fired: the next one (queued right behind the fires then due) makes the next fire's Run.
    after_fire: bool = False
    # The resourceVersion of the Task as this controller's last status write left it: its watch event (one per
    # fired Task) brings nothing this controller does not know, and queues no fire reconcile (`own_write`).
    written: str | None = None


class TaskController:
    """Two queues: `queue` fires schedules (latency matters), `sync_queue` writes status and prunes (it can wait)."""

    def __init__(self, store: Store, client: KubeClient, clock: Clock = SYSTEM, workers: int = 32) -> None:
        self.store = store
        self.client = client
        self.clock = clock
        self.fires: Controller[Key] = Controller(
            "task", self.reconcile, clock=clock, workers=workers, queue=WorkQueue(clock, "task_fire")
        )
        self.statuses: Controller[Key] = Controller(
            "task", self.sync, clock=clock, workers=max(1, workers // 8), queue=WorkQueue(clock, "task_status")
        )
        self.queue = self.fires.queue
        self.sync_queue = self.statuses.queue
        self.workers = workers
        self._memory: dict[Key, _Memory] = {}
        # Key -> (the resourceVersion parsed, the Task), least recently used first.
        self._parsed: OrderedDict[Key, tuple[str | None, Task]] = OrderedDict()
        # Run reconciles wait while a burst of fires is being created: fire lag is what a schedule promises. Only
        # through a burst's first FIRES_FIRST seconds, though: fires every second of the minute hold the gate nearly
        # all the time, and the Runs created at a fire, or adopting a fire's Job, must still be reconciled.
        self.firing = Gate(at_most=FIRES_FIRST, clock=clock)
        self._searches = ThreadPoolExecutor(SEARCH_THREADS, thread_name_prefix="schedule-search")

    async def _search(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` (a bounded schedule search) off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._searches, functools.partial(fn, *args))

    @staticmethod
    def _invalid(mem: _Memory, error: ScheduleError) -> None:
        """The schedule failed at a search: it stays invalid (no more searches) until the spec changes."""
        mem.schedule, mem.error, mem.ahead, mem.next_fire = None, error, None, None

    async def run_workers(self) -> None:
        await asyncio.gather(self.fires.run(), self.statuses.run())

    def quiet(self, ahead: float) -> bool:
        """Whether no fire is in flight, queued, or due within `ahead` seconds."""
        return not self.firing.held and not self.queue.urgent_within(ahead)

    def own_write(self, key: Key, resource_version: str | None) -> bool:
        """Whether a Task's watch event is the echo of this controller's own status write (the Task as it wrote it).
        There is one per fired Task (83 a second with 5,000 Tasks spread over the minute): each queued a fire
        reconcile with nothing to do, ahead of the fires that were due."""
        mem = self._memory.get(key)
        return mem is not None and resource_version is not None and mem.written == resource_version

    def _delay_until(self, when: dt.datetime | None) -> float:
        """The requeue delay to `when`: at most MAX_SLEEP, none at all when nothing is due."""
        delay = MAX_SLEEP if when is None else min((when - self.clock()).total_seconds(), MAX_SLEEP)
        return max(delay, 0.0)

    def _task(self, key: Key) -> tuple[RawTask, Task] | None:
        raw = self.store.tasks.get(key)
        if raw is None:
            self._memory.pop(key, None)
            self._parsed.pop(key, None)
            return None
        rv = raw["metadata"].get("resourceVersion")
        parsed = self._parsed.get(key)
        if parsed is not None and parsed[0] == rv:
            self._parsed.move_to_end(key)
            task = parsed[1]
        else:
            try:
                task = Task.model_validate(raw)
            except ValidationError as exc:
                log.error("task %s/%s cannot be parsed: %s", *key, exc)
                return None
            self._parsed[key] = (rv, task)
            self._parsed.move_to_end(key)
            if len(self._parsed) > PARSED_TASKS:
                self._parsed.popitem(last=False)
        return (raw, task) if not task.metadata.deletion_timestamp else None

    async def _schedule(self, key: Key, raw: RawTask, task: Task, now: dt.datetime) -> _Memory:
        mem = self._memory.setdefault(key, _Memory())
        generation = task.metadata.generation
        if mem.generation != generation:
            spec = task.spec
            schedule: Schedule | None = None
            error: ScheduleError | None = None
            unreadable = False
            try:
                await self._search(jsonbounds.check_depth, raw.get("spec"))
                schedule = await self._search(
                    parse, spec.schedule_kind, spec.schedule_expr, spec.timezone, spec.dst_policy, now
                )
            except jsonbounds.TooDeep as exc:
                unreadable = True
                error = ScheduleError(exc.path, f"{exc}: the task is not read (no version, no fire) until it is fixed")
            except ScheduleError as exc:
                error = exc
            problem = None
            if spec.result_schema is not None:
                problem = await self._search(schema_error, spec.result_schema)
            # The fire and the status worker may both have parsed this generation meanwhile: the first one wins.
            if mem.generation != generation:
                mem.generation, mem.schedule, mem.error, mem.ahead = generation, schedule, error, None
                mem.schema_problem, mem.unreadable = problem, unreadable
        return mem

    async def reconcile(self, key: Key) -> float | None:
        """The hot path: create the Runs of due fires; the seconds until the next one (None: no such Task)."""
        return await self._fire(key)

    async def _load(self, key: Key) -> tuple[RawTask, Task, dt.datetime, _Memory] | None:
        found = self._task(key)
        if found is None:
            return None
        raw, task = found
        now = self.clock()
        return raw, task, now, await self._schedule(key, raw, task, now)

    async def _fire(self, key: Key) -> float | None:
        # Parsing a changed spec and planning happen before the gate: Run reconciles wait only for the writes.
        loaded = await self._load(key)
        if loaded is None:
            return None
        raw, task, now, mem = loaded
        spec = task.spec
        active = {r["metadata"]["name"]: r for r in self.store.runs_of_task(*key) if not is_terminal(raw_phase(r))}
        # Runs made ahead that no fire has started yet: not going (overlap policy), and replaced when made for
        # another generation of the Task (its schedule, version or state changed since).
        waiting = {n: r for n, r in active.items() if waiting_for_fire(r, self._has_job(r))}
        stale = [n for n, r in waiting.items() if ahead_generation(r) != task.metadata.generation]
        going = {n: r for n, r in active.items() if n not in waiting}
        last = self._last(task, mem, now)
        fire_plan = await self._plan(task, mem, last, now, list(going))
        # Run reconciles wait while fires are being created: fire lag is what a schedule promises.
        with self.firing:
            for name in stale:
                await self._delete_run(task, name)
                waiting.pop(name)
            if mem.versioned_generation != task.metadata.generation and not mem.unreadable:
                await self._ensure_version(task)
                mem.versioned_generation = task.metadata.generation
            if spec.state == "canceled":
                await self._abort_pending(list(going.values()))
            if fire_plan is not None:
                await self._apply_plan(raw, task, fire_plan, going, waiting)
            # Made ahead for a fire that is past and that the plan neither ran nor recorded (beyond maxCatchUp).
            planned = {
                names.scheduled_run_name(task.metadata.name, r.scheduled_time) for r in (fire_plan or FirePlan()).runs
            }
            for name, run in waiting.items():
                at = timefmt.parse_optional((run.get("spec") or {}).get("scheduledTime"))
                if name not in planned and at is not None and at <= now:
                    await self._delete_run(task, name)
        if fire_plan is not None:
            if fire_plan.runs:
                log.debug(
                    "task %s/%s fired %s at %s",
                    *key,
                    [r.scheduled_time.isoformat() for r in fire_plan.runs],
                    now.isoformat(),
                )
            mem.last_fire = fire_plan.last_schedule_time or mem.last_fire
            mem.next_fire = fire_plan.next_fire
        else:
            mem.next_fire = None
        # Status follows a moment later: a burst of fires costs one status write each, not one per fire.
        self.sync_queue.add_after(key, SYNC_DELAY)
        wake = mem.next_fire + jitter_offset(key[0], key[1], spec.jitter_seconds) if mem.next_fire else None
        if fire_plan is not None and fire_plan.runs and can_create_ahead(spec, now):
            # Fired: the next fire's Run is made by a pass of its own, queued now behind the fires that are due
            # (made in this pass, it doubled each fire worker's time per fire, and the last of a thousand fires
            # at :00 came twice as late). It has up to a period (AHEAD_AT_FIRE at most) to be made.
            mem.after_fire = True
            return 0.0
        # The next fires, computed off the loop when those known run low (every other fire), and the next fire's
        # Run, created ahead when it is due (outside the gate: neither is a fire): up to AHEAD_AT_FIRE ahead in the
        # pass that follows a fire, so that a Task firing every minute needs no pass 30 s before its fire.
        await self._keep_ahead(task, mem, now)
        horizon = AHEAD_AT_FIRE if mem.after_fire else AHEAD
        mem.after_fire = False
        ahead_at = await self._create_ahead(key, task, mem, now, horizon)
        when = min(filter(None, (wake, ahead_at)), default=None)
        delay = self._delay_until(when)
        # A fire, once due, goes to the front of the queue: a Run made ahead has 30 s to be made, a fire none.
        return Urgent(delay) if when is not None and when == wake and delay < MAX_SLEEP else delay

    @staticmethod
    def _last(task: Task, mem: _Memory, now: dt.datetime) -> dt.datetime:
        """The last fire handled: ours if the status write has not happened yet, else the status's."""
        stored = task.status.last_schedule_time
        return max(filter(None, (stored, mem.last_fire)), default=None) or task.metadata.creation_timestamp or now

    async def _plan(
        self, task: Task, mem: _Memory, last: dt.datetime, now: dt.datetime, active: list[str]
    ) -> FirePlan | None:
        """The fire plan: on the loop when every time it needs was computed ahead, else off it, bounded."""
        source = self._source(mem, last)
        if source is None:
            return None
        try:
            if isinstance(source, Ahead) and source.covers(last, now):
                return plan(task.spec, source, last, now, active)
            return await self._search(plan, task.spec, source, last, now, active)
        except ScheduleError as exc:
            log.warning("the schedule of task %s/%s is invalid: %s", task.metadata.namespace, task.metadata.name, exc)
            self._invalid(mem, exc)
            return None

    @staticmethod
    def _source(mem: _Memory, last: dt.datetime) -> FireSource | None:
        ahead = mem.ahead
        if ahead is not None and ahead.schedule is mem.schedule and ahead.start <= last:
            return ahead
        return mem.schedule

    async def sync(self, key: Key) -> float | None:
        """Write the Task's status and prune its finished Runs; then compute the next fires ahead.

        The seconds until a finished Run's TTL runs out, if one will."""
        # Fires come first: a status write can wait for the burst of fires sharing an instant to be sent.
        await self.firing.wait_open()
        loaded = await self._load(key)
        if loaded is None:
            return None
        raw, task, now, mem = loaded
        next_ttl = await self._prune(task, self.store.runs_of_task(*key), now)
        view = FirePlan(last_schedule_time=mem.last_fire, next_fire=mem.next_fire)
        versions = self._versions(key)
        newest = max(versions, key=lambda v: v.number, default=None)
        await self._write_status(raw, task, view if mem.schedule else None, mem, now, newest)
        # Parse the Task as written; compute its next fires now if the fire worker has not, while nothing is due.
        reloaded = await self._load(key)
        computed = reloaded is not None and await self._keep_ahead(reloaded[1], mem, now)
        if computed and reloaded is not None and can_create_ahead(reloaded[1].spec, now):
            self.queue.add(key)  # the fire worker creates the next fire's Run ahead, in time
        return self._delay_until(next_ttl) if next_ttl is not None else None

    async def _keep_ahead(self, task: Task, mem: _Memory, now: dt.datetime) -> bool:
        """Compute the Task's next fires (off the loop) when fewer than two of those computed are still to come;
        → whether it did. The fire worker does it after a fire, so that the next fire's Run is made ahead without
        waiting for the status worker (which did it alone, and with 5,000 Tasks a minute fell minutes behind)."""
        schedule = mem.schedule
        if schedule is None or mem.unreadable:
            return False
        last = self._last(task, mem, now)
        ahead = mem.ahead
        if (
            ahead is not None
            and ahead.schedule is schedule
            and ahead.start <= last
            and (ahead.ended or ahead.left(last) >= 2)
        ):
            return False
        try:
            ahead = await self._search(Ahead, schedule, last)
        except ScheduleError as exc:
            self._invalid(mem, exc)
            self.sync_queue.add(self._key(task))
            return False
        if mem.schedule is not schedule:
            return False
        mem.ahead = ahead
        return True

    async def _apply_plan(
        self, raw: RawTask, task: Task, fire_plan: FirePlan, active: dict[str, RawRun], waiting: dict[str, RawRun]
    ) -> None:
        ns = task.metadata.namespace
        versions = self._versions(self._key(task)) if fire_plan.runs else []  # one read for the pass's fires
        for name in fire_plan.stop:
            run = active.get(name)
            if run is not None and not (run.get("spec") or {}).get("stop"):
                patch = stop_patch("replaced by a newer fire (overlap policy replace)")
                self.store.runs.put(await self.client.patch(RUNS, ns, name, patch))
        for planned in fire_plan.runs:
            name = names.scheduled_run_name(task.metadata.name, planned.scheduled_time)
            made_ahead = waiting.get(name)
            mem = self._memory.get(self._key(task), _Memory())
            job = mem.ahead_job[1] if mem.ahead_job is not None and mem.ahead_job[0] == name else None
            if job is not None:
                mem.ahead_job = None  # sent once: not kept in memory until the next fire
            if made_ahead is None:
                created, made = await self._create_fired(task, planned, versions)
                if not waiting_for_fire(created, self._has_job(created)):
                    continue  # a record, or a Run that admission starts
                # Made ahead and not in the cache yet (a restart before the Run informer listed it), or made now
                # as one is (`_create_fired`): this pass creates its Job.
                if not made and ahead_generation(created) != task.metadata.generation:
                    await self._delete_run(task, name)
                    created, _ = await self._create_fired(task, planned, versions)
                    if not waiting_for_fire(created, self._has_job(created)):
                        continue
                made_ahead, job = created, None
            await self._fire_ahead(task, made_ahead, planned, job, versions)

        if fire_plan.dropped != 0:
            count = "many" if fire_plan.dropped is None else str(fire_plan.dropped)
            await self._event(
                raw,
                "Warning",
                "MissedFiresDropped",
                f"{count} missed fire times beyond maxCatchUp ({task.spec.max_catch_up}) were dropped",
            )

    def _has_job(self, run: RawRun) -> bool:
        """Whether the Job of attempt 1 of a Run made ahead exists: its fire has created it."""
        meta = run["metadata"]
        return self.store.jobs.get((meta["namespace"], names.job_name(meta["name"], 1))) is not None

    async def _create_fired(self, task: Task, planned: PlannedRun, versions: list[Version]) -> tuple[RawRun, bool]:
        """Create the Run of a fire (or its record); → the Run, and whether it was created now.

        A Run that could have been made ahead (its pass came too late: 80 % of them with 5,000 Tasks spread over
        the minute) is made as one is, its version pinned, so that the fire's pass creates its Job too: left to
        the Run reconciler, its Job waited behind every Run event in that queue (30,000 keys, minutes)."""
        startable = planned.disposition is None and can_create_ahead(task.spec, self.clock())
        pin = self._pin(task, versions) if startable else None
        body = build_scheduled_run(
            task, planned.scheduled_time, planned.disposition, planned.message, ahead=pin is not None, version=pin
        )
        created, made = await self.client.create_or_get(RUNS, task.metadata.namespace or "", body)
        self.store.runs.put(created)
        if made and planned.disposition is None and pin is None:
            metrics.SCHEDULE_LAG.observe(max(0.0, (self.clock() - planned.scheduled_time).total_seconds()))
        return cast(RawRun, created), made

    def _versions(self, key: Key) -> list[Version]:
        """The Task's versions as the cache holds them (parsed: read them once per pass)."""
        return [from_revision(r) for r in self.store.revisions_of_task(*key)]

    @staticmethod
    def _pin(task: Task, versions: list[Version]) -> str | None:
        """The id of the Task's current version, which a Run made ahead pins; None while it is not written."""
        current = resolve(None, task, versions)
        return current.id if isinstance(current, Version) else None

    async def _delete_run(self, task: Task, name: str) -> None:
        with contextlib.suppress(errors.NotFound):
            await self.client.delete(RUNS, task.metadata.namespace, name)

    @staticmethod
    def _key(task: Task) -> Key:
        return (task.metadata.namespace or "", task.metadata.name)

    @staticmethod
    def _first_job(task: Task, raw: RawRun, now: dt.datetime, versions: list[Version]) -> dict[str, Any] | None:
        """The Job of attempt 1 of a Run made ahead, as the Run reconciler decides it once it sees that Job."""
        decision = decide(Run.model_validate(raw), task, None, [], now, Context(versions=versions, released=True))
        return decision.create_job if not decision.create_config_maps else None

    async def _fire_ahead(
        self, task: Task, raw: RawRun, planned: PlannedRun, prepared: dict[str, Any] | None, versions: list[Version]
    ) -> None:
        """The fire of a Run made ahead: its Job (`prepared` when it was created, the Run reconciler adopts it),
        or the record the plan makes."""
        ns, name = raw["metadata"]["namespace"], raw["metadata"]["name"]
        if planned.disposition is not None:
            # A fire handled again after a restart (its status not written yet) keeps its first outcome: a Run
            # whose Job exists, not yet in the cache, is not turned into a record.
            with contextlib.suppress(errors.NotFound):
                await self.client.get(JOBS, ns, names.job_name(name, 1))
                return
            patch = disposition_patch(planned.disposition, planned.message)
            self.store.runs.put(await self.client.patch(RUNS, ns, name, patch))
            return
        owned = prepared is not None and prepared["metadata"]["ownerReferences"][0]["uid"] == raw["metadata"].get("uid")
        body = prepared if owned else self._first_job(task, raw, self.clock(), versions)
        if body is None:
            # Not startable now (its version is not written yet): the fire is retried with the worker's backoff.
            raise RuntimeError(f"run {ns}/{name} made ahead cannot start yet")
        job, made = await self.client.create_or_get(JOBS, ns, body)
        self.store.jobs.put(job)
        if made:
            metrics.SCHEDULE_LAG.observe(max(0.0, (self.clock() - planned.scheduled_time).total_seconds()))

    async def _create_ahead(
        self, key: Key, task: Task, mem: _Memory, now: dt.datetime, horizon: dt.timedelta
    ) -> dt.datetime | None:
        """Create the Run of the Task's next fire when it is `horizon` away or less; → when to look again (None:
        on the next fire or change), `AHEAD` before that fire."""
        ahead = mem.ahead
        if ahead is None or mem.schedule is None or mem.unreadable or not can_create_ahead(task.spec, now):
            return None
        if mem.versioned_generation != task.metadata.generation:
            return None  # the version this generation pins is written at the next fire worker pass
        fire = ahead.next_fire(self._last(task, mem, now))
        if fire is None or fire.dst_skipped:
            return None
        name = names.scheduled_run_name(task.metadata.name, fire.at)
        if self.store.runs.get((key[0], name)) is not None:
            return None  # made already (by the pass of the fire before): no pass before its fire
        if fire.at - now > horizon:
            return fire.at - AHEAD
        if fire.at - now < AHEAD_MIN:
            return None
        versions = self._versions(key)
        body = build_scheduled_run(task, fire.at, ahead=True, version=self._pin(task, versions))
        created, _ = await self.client.create_or_get(RUNS, key[0], body)
        self.store.runs.put(created)
        # Its Job, built now (a decision costs milliseconds of CPU, which a thousand fires in one second lack).
        job = self._first_job(task, cast(RawRun, created), fire.at, versions)
        mem.ahead_job = (name, job) if job is not None else None
        return None

    async def _ensure_version(self, task: Task) -> None:
        """Write the ControllerRevision of a changed spec (version N+1); Runs pinning "current" wait for it."""
        ns = task.metadata.namespace or ""
        body = next_revision(task, self._versions(self._key(task)))
        if body is not None:
            # Go's encoding, or every strategic-merge patch of the revision (the garbage collector's, on
            # `kubectl delete task --cascade=orphan`) is refused: `data` is kept as sent and is immutable.
            created, _ = await self.client.create_or_get(REVISIONS, ns, body, encode=gojson.dumps)
            self.store.revisions.put(packed_revision(created))

    async def _abort_pending(self, active: list[RawRun]) -> None:
        for run in active:
            pending = raw_phase(run) in PENDING_PHASES
            if pending and not (run.get("spec") or {}).get("stop"):
                patch = stop_patch("the task was canceled")
                ns, name = run["metadata"]["namespace"], run["metadata"]["name"]
                self.store.runs.put(await self.client.patch(RUNS, ns, name, patch))

    async def _prune(self, task: Task, runs: list[RawRun], now: dt.datetime) -> dt.datetime | None:
        ended = [f for r in runs if (f := finished(r)) is not None]
        delete, next_ttl = prune(task.spec, ended, now)
        for name in delete:
            with contextlib.suppress(errors.NotFound):
                await self.client.delete(RUNS, task.metadata.namespace, name)
        return next_ttl

    async def _write_status(
        self,
        raw: RawTask,
        task: Task,
        fire_plan: FirePlan | None,
        mem: _Memory,
        now: dt.datetime,
        newest: Version | None,
    ) -> None:
        error = mem.error
        status = task_status(task, fire_plan, error, now, mem.schema_problem)
        if newest is not None:
            status.active_version, status.active_version_id = newest.number, newest.id
        new = status.to_k8s()
        old = raw.get("status") or {}
        if new == old:
            return
        was = {c.get("type"): c.get("status") for c in old.get("conditions") or []}
        body = mergepatch.replacing(old, new)
        patched = await self.client.patch(
            TASKS, task.metadata.namespace, task.metadata.name, {"status": body}, subresource="status"
        )
        self.store.tasks.put(patched)
        self._memory.setdefault(self._key(task), _Memory()).written = patched["metadata"].get("resourceVersion")
        if error is not None and was.get("ScheduleValid") != "False":
            await self._event(patched, "Warning", "InvalidSchedule", f"spec.{error.field}: {error.message}")
        if mem.schema_problem is not None and was.get("ResultSchemaValid") != "False":
            await self._event(patched, "Warning", "InvalidResultSchema", f"spec.resultSchema: {mem.schema_problem}")

    async def _event(self, raw: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        try:
            await self.client.post_event(raw, type_, reason, message, COMPONENT, self.clock())
        except errors.ApiError as exc:
            log.warning("could not post event %s: %s", reason, exc)
