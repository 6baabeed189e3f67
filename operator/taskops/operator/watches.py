"""The operator's high-volume watches: Tasks, their versions, Runs and the Runs' Jobs, pods and ConfigMaps,
followed by lean informers.

Every Run makes a dozen watch events (its own status writes, its Job's, its
pod's); kopf's per-event machinery (causes, progress storage, handler
invocation) was most of the operator's CPU at a thousand fires a minute, and
fire lag is what a schedule promises. Tasks and versions number in the tens of
thousands on a large cluster, and kopf keeps a memory per object for as long as
it exists (and a worker per object while it lists them): about 0.8 KB each
settled, more at a restart. These kinds only feed the store and the work queues,
so a plain LIST+WATCH (`clients.informer`) does it; kopf keeps Agents (handlers.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from taskops.clients.informer import Informer, Key, NamespaceFilter, key_of
from taskops.clients.kube import KubeClient
from taskops.clients.resources import CONFIGMAPS, JOBS, PODS, REVISIONS, RUNS, TASKS
from taskops.domain.execution import attempts
from taskops.domain.execution.batch import resume_wanted
from taskops.domain.resources import names
from taskops.domain.resources.phases import is_terminal, raw_phase
from taskops.domain.resources.raw import RawRun
from taskops.domain.scheduling.firedruns import ahead_generation
from taskops.operator import failpoints
from taskops.operator.store import (
    Store,
    owned_by_task,
    packed_revision,
    run_owner,
    summarize_ended,
    without_data,
    without_managed_fields,
)
from taskops.operator.workqueue import WorkQueue

Obj = dict[str, Any]


async def _run(informer: Informer) -> None:
    if failpoints.enabled(f"slow-list-{informer.resource.plural}"):
        await asyncio.sleep(failpoints.SLOW_LIST_SECONDS)
    await informer.run()


def unstarted(run: RawRun) -> bool:
    """Whether a Run is new (no status yet) and not one made ahead of its fire: its first reconcile creates its
    Job, what a user waits for, so it goes to the front of the Run queue. Behind it are the events of Runs that
    have their Job (their Job's and pod's, each Run's status echoes): with 5,000 Tasks spread over the minute,
    tens of thousands of them, and the Runs created at their fire waited minutes for a worker."""
    return not (run.get("status") or {}).get("phase") and ahead_generation(run) is None


class Watches:
    """Informers for Tasks, versions, Runs, Jobs, pods and ConfigMaps, each event put in the store and what it
    concerns queued."""

    def __init__(
        self,
        client: KubeClient,
        store: Store,
        queue: WorkQueue,
        sync_queue: WorkQueue,
        namespace: str | None,
        run_changed: Callable[[Key], None] = lambda key: None,
        webhook_queue: WorkQueue | None = None,
        accept: NamespaceFilter | None = None,
        task_queue: WorkQueue | None = None,
        queue_changed: Callable[[], None] = lambda: None,
        own_write: Callable[[Key, str | None], bool] = lambda key, resource_version: False,
    ) -> None:
        """`accept`: the namespaces this process acts on (a shard's own, domain/leadership/shards.py); None: all.
        `task_queue`: the Task controller's fire queue; `queue_changed`: admission's trigger (a Task's limits);
        `own_write`: whether a Task event is the echo of the Task controller's own status write (nothing to fire)."""
        self.store, self.queue, self.sync_queue = store, queue, sync_queue
        self.run_changed, self.webhook_queue = run_changed, webhook_queue
        self.task_queue, self.queue_changed, self.own_write = task_queue, queue_changed, own_write
        # The generation last seen per Task: a status write (each fire makes one) changes neither spec nor version.
        self._generations: dict[Key, int | None] = {}
        owned = names.LABEL_RUN  # a label selector: objects that carry the label
        self.runs = Informer(
            client, RUNS, namespace, transform=lambda o: summarize_ended(without_managed_fields(o)), accept=accept
        )
        self.tasks = Informer(client, TASKS, namespace, transform=without_managed_fields, accept=accept)
        self.informers = [
            self.tasks,
            Informer(
                client, REVISIONS, namespace, transform=packed_revision, label_selector=names.LABEL_TASK, accept=accept
            ),
            self.runs,
            Informer(client, JOBS, namespace, transform=without_managed_fields, label_selector=owned, accept=accept),
            Informer(client, PODS, namespace, transform=without_managed_fields, label_selector=owned, accept=accept),
            # Input chunks can be large: the store needs their names and keys only.
            Informer(
                client,
                CONFIGMAPS,
                namespace,
                transform=lambda o: without_data(without_managed_fields(o)),
                label_selector=owned,
                accept=accept,
            ),
        ]
        listeners = (self.on_task, self.on_revision, self.on_run, self.on_job, self.on_pod, self.on_configmap)
        for informer, listener in zip(self.informers, listeners, strict=True):
            informer.listen(listener)

    async def run(self) -> None:
        await asyncio.gather(*(_run(informer) for informer in self.informers))

    async def synced(self) -> None:
        """Until every cache has its first LIST in: a reconcile before that would decide on a partial picture."""
        await asyncio.gather(*(informer.synced.wait() for informer in self.informers))

    def on_task(self, type_: str, obj: Obj) -> None:
        key = key_of(obj)
        if self.store.tasks.apply(type_, obj):
            generation = obj["metadata"].get("generation")
            changed = self._generations.get(key, -1) != generation
            if self.task_queue is not None and not self.own_write(key, obj["metadata"].get("resourceVersion")):
                # A new or changed spec goes first, as a due fire does: its pass writes the version and sets the
                # Task's first fire. Behind the fires of other Tasks, a new Task waited as long as they kept the
                # fire workers busy (with 5,000 Tasks spread over the minute, minutes: it did not fire meanwhile).
                self.task_queue.add(key, urgent=changed)
            # Admission and Runs read the spec: a status write (each fire makes one) changes neither.
            if not changed:
                return
            self._generations[key] = generation
        else:
            self._generations.pop(key, None)
        self.queue_changed()
        self._queue_active_runs(*key)

    def on_revision(self, type_: str, obj: Obj) -> None:
        """A new version: the Task's Runs that wait for it (pinning "current", or its number) may start."""
        self.store.revisions.apply(type_, obj)
        self._queue_active_runs(key_of(obj)[0], obj["metadata"]["labels"][names.LABEL_TASK])

    def _queue_active_runs(self, namespace: str, task: str) -> None:
        for run in self.store.runs_of_task(namespace, task):
            if not is_terminal(raw_phase(run)):
                self.queue.add(key_of(run))

    def on_run(self, type_: str, obj: Obj) -> None:
        run = cast(RawRun, obj)  # the informer's body as it is (no copy, no parse), its reads checked by mypy
        status = run.get("status") or {}
        applied = self.store.runs.apply(type_, obj)
        # After the store has it: admission folds in what the store holds (a Run deleted is gone from it).
        self.run_changed(key_of(run))
        if not applied:
            return
        ended = is_terminal(status.get("phase"))
        if not ended or resume_wanted(run):
            self.queue.add(key_of(run), urgent=unstarted(run))
        if ended:
            # An ended Run may push its Task over a history limit.
            spec = run.get("spec") or {}
            task = spec.get("taskRef", {}).get("name")
            if task:
                self.sync_queue.add((key_of(run)[0], task))
            if self.webhook_queue is not None and spec.get("callbackUrl"):
                self.webhook_queue.add(key_of(run))

    def on_job(self, type_: str, obj: Obj) -> None:
        self.store.jobs.apply(type_, obj)
        key = (key_of(obj)[0], obj["metadata"]["labels"][names.LABEL_RUN])
        if self._wakes(key, lambda: attempts.job_event_matters(type_, obj)):
            self.queue.add(key)

    def on_pod(self, type_: str, obj: Obj) -> None:
        self.store.pods.apply(type_, obj)
        ns, labels = key_of(obj)[0], obj["metadata"]["labels"]
        key = (ns, labels[names.LABEL_RUN])
        job = cast(Obj | None, self.store.jobs.get((ns, labels.get(names.LABEL_JOB_NAME) or "")))
        if self._wakes(key, lambda: type_ == "DELETED" or attempts.pod_event_matters(obj, job)):
            self.queue.add(key)

    def _wakes(self, key: Key, matters: Callable[[], bool]) -> bool:
        """Whether an event of a Run's Job or pod queues the Run. A single-pod Run's reconcile woke on each of its
        Job's and pod's ten-odd events and decided something on two or three; the others cost a whole reconcile
        each (most of the operator's CPU with 2,000 Runs in flight) and held the Run queue's FIFO in front of the
        Runs that had something to do (docs/benchmarks.md). So only the events `decide` acts on wake it
        (`matters`); a batch Run, which reads its Job's progress and each pod's end, wakes on every one, and so
        does a Run not in the cache yet (nothing to judge by). An ended Run decides nothing on them (unless a
        batch resume is asked for): its reconcile would only fetch the whole object to find that out."""
        run = self.store.runs.get(key)
        if run is None:
            return True
        if is_terminal(raw_phase(run)) and not resume_wanted(run):
            return False
        return (run.get("spec") or {}).get("inputs") is not None or matters()

    def on_configmap(self, type_: str, obj: Obj) -> None:
        """A Run's input chunk, index map or result chunk: a new chunk may let its Run start. A schedule's input
        chunks (owned by its Task) are kept too: the Runs it fires name them, and are created after them."""
        owner = run_owner(obj)
        if owner is None and not owned_by_task(obj):
            return
        self.store.configmaps.apply(type_, obj)
        if owner is not None:
            self.queue.add((key_of(obj)[0], owner))
