"""The admission loop: fold the Runs that changed into the queues, decide (pure), hand the verdicts on.

Kueue's shape: the queues (`taskops.domain.queueing.admission.Queues`) are kept
in order and updated from informer events — a Run's watch event names the Run
(`run_changed`), a Task's or Agent's names nothing (`trigger`: the limits are
read again from the caches, O(Tasks + Agents), on a spec change only) — so a
decision costs what changed, not the length of the queues. The decision is
recorded by the Run reconciler's status write (`admittedAt`, phase RUNNING)
before the Run's Job is created; until that write is seen, an admitted Run is
held as a reservation and counts against its limits. Counts are rebuilt from
the cluster: nothing is admitted before the first full listing of Runs has been
read, and then the queues are built from every Run in the cache.

The decision runs in the worker shell (controller.py) under one key: a change
queues it after DEBOUNCE_SECONDS (an earlier pending timer wins, so a burst of
changes makes one decision), a change during one makes one more, and one that
fails is retried with the shell's backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from taskops.clients.informer import Key
from taskops.domain.queueing.admission import Admission, Limit, Pending, Queues
from taskops.domain.resources.clock import SYSTEM, Clock
from taskops.domain.resources.phases import WAITING_PHASES, is_terminal
from taskops.operator import metrics
from taskops.operator.controller import Controller
from taskops.operator.store import Store
from taskops.operator.workqueue import WorkQueue

log = logging.getLogger("taskops.admission")
DEBOUNCE_SECONDS = 0.02
# The queue-depth metric's `kind` label.
_METRIC_KIND = {Limit.CONCURRENCY_KEY: "key", Limit.AGENT: "agent"}
# The one key of the admission decision: it decides for every waiting Run at once.
PASS = ("", "admission")


class AdmissionController:
    def __init__(self, store: Store, runs: WorkQueue, clock: Clock = SYSTEM) -> None:
        self.store = store
        self.runs = runs
        self.ready = False
        self.queues = Queues()
        self._changed: set[Key] = set()
        # Runs the reconciler validated and handed here without a status write (decide's AwaitAdmission).
        self._offered: dict[Key, Pending] = {}
        self._limits_changed = True
        self._rebuild = True
        self.controller: Controller[Key] = Controller("admission", self.sync, clock=clock)

    def trigger(self) -> None:
        """A Task's or an Agent's spec changed: the limits are read again at the next decision."""
        self._limits_changed = True
        self.controller.queue.add_after(PASS, DEBOUNCE_SECONDS)

    def run_changed(self, key: Key) -> None:
        """A Run's watch event, after the store has it (its phase, key, agent or admission may have changed, or it
        is gone). Runs that never counted here are skipped: most Runs have no key or agent."""
        run = self.store.runs.get(key)
        status = (run.get("status") or {}) if run is not None else {}
        if status.get("concurrencyKey") or status.get("agent") or key in self._offered or self.queues.knows(key):
            self._changed.add(key)
            self.controller.queue.add_after(PASS, DEBOUNCE_SECONDS)

    def offer(self, key: Key, created: str, priority: int, concurrency_key: str | None, agent: str | None) -> None:
        """A validated Run waits for its first verdict; its status says nothing yet. Until its status shows it
        waiting, admitted or ended, this is what the queues know of it; its decision hands it back."""
        self._offered[key] = _pending(key, created, priority, concurrency_key, agent)
        self._changed.add(key)
        self.controller.queue.add_after(PASS, DEBOUNCE_SECONDS)

    def verdict_for(self, key: Key) -> Admission | None:
        """The Run's verdict, for its reconcile's `decide` to apply; None: no decision has judged it yet."""
        if not self.ready:
            return None
        return self.queues.verdict(key)

    async def start_when_listed(self, runs_listed: asyncio.Event) -> None:
        """Decide nothing until every Run is in the store from an authoritative LIST (limits survive restarts)."""
        await runs_listed.wait()
        self.ready = True
        self.trigger()

    async def run(self) -> None:
        await self.controller.run()

    async def sync(self, key: Key) -> float | None:
        """One decision. Nothing in it is timed: the next one is queued by a change."""
        if self.ready:
            self.decide()
        return None

    def decide(self) -> None:
        if self._rebuild:
            # The first decision (after a start, or a new leadership) reads every Run the LIST brought.
            self._rebuild = False
            self._changed.update(self.store.runs.objects)
        if self._limits_changed:
            self._limits_changed = False
            self._read_limits()
        changed, self._changed = self._changed, set()
        for key in changed:
            self._observe(key)
        outcome = self.queues.decide()
        for key in outcome.admitted:
            self.runs.add(key, urgent=True)  # its reconcile creates its Job: before other Runs' events
        for key in outcome.changed:
            self.runs.add(key)
        for kind, scoped in outcome.gates:
            ns, _, name = scoped.partition("/")
            labels = (_METRIC_KIND[kind], ns, name)
            depth = self.queues.depth(kind, scoped)
            if depth:
                metrics.QUEUE_DEPTH.labels(*labels).set(depth)
            else:
                with contextlib.suppress(KeyError):  # never exported
                    metrics.QUEUE_DEPTH.remove(*labels)

    def _observe(self, key: Key) -> None:
        """Fold one Run's cached state into the queues."""
        run = self.store.runs.get(key)
        status = (run.get("status") or {}) if run is not None else {}
        if run is None or is_terminal(status.get("phase")):
            self._offered.pop(key, None)
            self.queues.release(key)
            return
        p = _pending(
            key,
            run["metadata"].get("creationTimestamp") or "",
            int(status.get("priority") or 0),
            status.get("concurrencyKey"),
            status.get("agent"),
        )
        queued = status.get("version") is not None and (p.concurrency_key or p.agent)
        if queued and status.get("admittedAt"):
            self._offered.pop(key, None)
            self.queues.hold(key, p.concurrency_key, p.agent)
        elif queued and status.get("phase") in WAITING_PHASES:
            self._offered.pop(key, None)
            self.queues.wait(p)
        elif key in self._offered:
            self.queues.wait(self._offered[key])  # validated, but its status does not say so yet
        else:
            self.queues.unqueue(key)

    def _read_limits(self) -> None:
        keys: dict[str, tuple[int, int]] = {}
        for (ns, _), task in self.store.tasks.objects.items():
            spec = task.get("spec") or {}
            key_name = spec.get("concurrencyKey")
            if not key_name:
                continue
            ck = f"{ns}/{key_name}"
            limit = int(spec.get("concurrencyLimit") or 1)
            bound = int(spec["maxQueued"]) if spec.get("maxQueued") is not None else -1
            # Tasks declaring different limits (or bounds) for one key: the smallest wins.
            old_limit, old_bound = keys.get(ck, (limit, bound))
            bounds = [b for b in (bound, old_bound) if b >= 0]
            keys[ck] = (min(limit, old_limit), min(bounds) if bounds else -1)
        agents: dict[str, tuple[int, int]] = {}
        for (ns, name), agent in self.store.agents.objects.items():
            agent_spec = agent.get("spec") or {}
            bound = int(agent_spec["maxQueued"]) if agent_spec.get("maxQueued") is not None else -1
            agents[f"{ns}/{name}"] = (int(agent_spec.get("capacity") or 1), bound)
        self.queues.set_limits(Limit.CONCURRENCY_KEY, keys)
        self.queues.set_limits(Limit.AGENT, agents)


def _pending(key: Key, created: str, priority: int, concurrency_key: str | None, agent: str | None) -> Pending:
    """A waiting Run as the queues hold it: its key and agent namespaced (the same name in two namespaces is two)."""
    ns = key[0]
    return Pending(
        key,
        priority,
        created,
        f"{ns}/{concurrency_key}" if concurrency_key else None,
        f"{ns}/{agent}" if agent else None,
    )
