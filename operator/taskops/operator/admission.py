"""The admission loop: snapshot the cache, decide (pure), hand the verdicts to the Run reconciler.

Kueue's shape: one loop decides for all waiting Runs at once, so priority
order across Tasks holds. The decision is recorded by the Run reconciler's
status write (`admittedAt`, phase RUNNING) before the Run's Job is created;
until that write is seen, an admitted Run is held as a reservation and counts
against its limits. Counts are rebuilt from the cluster: nothing is admitted
before the first full listing of Runs has been read.

The pass runs in the worker shell (controller.py) under one key: a change
queues it after DEBOUNCE_SECONDS (an earlier pending timer wins, so a burst of
changes makes one pass), a change during a pass makes one more, and a pass that
fails is retried with the shell's backoff.
"""

from __future__ import annotations

import asyncio
import logging

from taskops.clients.informer import Key
from taskops.domain.queueing.admission import ADMITTED, Admission, Capacity, Limit, Pending, Verdict, admit
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
# The one key of the admission pass: it decides for every waiting Run at once.
PASS = ("", "admission")


class AdmissionController:
    def __init__(self, store: Store, runs: WorkQueue, clock: Clock = SYSTEM) -> None:
        self.store = store
        self.runs = runs
        self.ready = False
        self._verdict = Verdict()
        self._reserved: set[Key] = set()
        self._exported: set[tuple[str, str, str]] = set()
        self.controller: Controller[Key] = Controller("admission", self.sync, clock=clock)

    def trigger(self) -> None:
        """Something admission reads changed (a Run's phase or key, a Task's limit, an Agent's capacity)."""
        self.controller.queue.add_after(PASS, DEBOUNCE_SECONDS)

    def verdict_for(self, key: Key) -> Admission | None:
        """The Run's verdict, for its reconcile's `decide` to apply; None: no pass has looked at it yet."""
        if not self.ready:
            return None
        if key in self._reserved:
            return ADMITTED
        return self._verdict.wait(key)

    async def start_when_listed(self, runs_listed: asyncio.Event) -> None:
        """Decide nothing until every Run is in the store from an authoritative LIST (limits survive restarts)."""
        await runs_listed.wait()
        self.ready = True
        self.trigger()

    async def run(self) -> None:
        await self.controller.run()

    async def sync(self, key: Key) -> float | None:
        """One admission pass for every waiting Run. Nothing in it is timed: the next pass is queued by a change."""
        if self.ready:
            self.decide()
        return None

    def decide(self) -> None:
        pending, cap = self._snapshot()
        before = self._verdict
        self._verdict = admit(pending, cap)
        self._reserved.update(self._verdict.admit)
        for key in self._verdict.admit:
            self.runs.add(key)
        for key in self._verdict.changed_since(before):
            self.runs.add(key)
        self._export_depth()

    def _export_depth(self) -> None:
        depth: dict[tuple[str, str, str], int] = {}
        for (kind, scoped), n in self._verdict.depth().items():
            ns, _, name = scoped.partition("/")
            depth[(_METRIC_KIND[kind], ns, name)] = n
        for labels in self._exported - depth.keys():
            metrics.QUEUE_DEPTH.remove(*labels)
        for labels, n in depth.items():
            metrics.QUEUE_DEPTH.labels(*labels).set(n)
        self._exported = set(depth)

    def _snapshot(self) -> tuple[list[Pending], Capacity]:
        cap = Capacity()
        pending: list[Pending] = []
        for key, run in self.store.runs.objects.items():
            status = run.get("status") or {}
            phase = status.get("phase")
            if is_terminal(phase) or status.get("version") is None:
                self._reserved.discard(key)
                continue
            ns = key[0]
            ck = f"{ns}/{status['concurrencyKey']}" if status.get("concurrencyKey") else None
            ag = f"{ns}/{status['agent']}" if status.get("agent") else None
            if ck is None and ag is None:
                continue
            if status.get("admittedAt"):
                self._reserved.discard(key)
            if status.get("admittedAt") or key in self._reserved:
                if ck:
                    cap.running_by_key[ck] = cap.running_by_key.get(ck, 0) + 1
                if ag:
                    cap.running_by_agent[ag] = cap.running_by_agent.get(ag, 0) + 1
            elif phase in WAITING_PHASES:
                created = run["metadata"].get("creationTimestamp") or ""
                pending.append(Pending(key, int(status.get("priority") or 0), created, ck, ag))
        for (ns, _), task in self.store.tasks.objects.items():
            spec = task.get("spec") or {}
            key_name = spec.get("concurrencyKey")
            if key_name:
                ck = f"{ns}/{key_name}"
                limit = int(spec.get("concurrencyLimit") or 1)
                cap.key_limits[ck] = min(limit, cap.key_limits.get(ck, limit))
                if spec.get("maxQueued") is not None:
                    bound = int(spec["maxQueued"])
                    cap.key_max_queued[ck] = min(bound, cap.key_max_queued.get(ck, bound))
        for (ns, name), agent in self.store.agents.objects.items():
            agent_spec = agent.get("spec") or {}
            cap.agent_limits[f"{ns}/{name}"] = int(agent_spec.get("capacity") or 1)
            if agent_spec.get("maxQueued") is not None:
                cap.agent_max_queued[f"{ns}/{name}"] = int(agent_spec["maxQueued"])
        return pending, cap
