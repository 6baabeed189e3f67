"""Reconcile one Run: snapshot the caches, let the pure `decide` choose, apply its Decision.

Each sync is one decision and its writes, applied in the order
`taskops.domain.execution.decision` documents, with at most one status write. What a
write meets that only the API server can say (a Job refused) is kept as an
observation for the next sync's decision; nothing here chooses an outcome.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from typing import Any, Protocol

from pydantic import ValidationError

from taskops.clients import errors
from taskops.clients.informer import Key
from taskops.clients.resources import AGENTS, CONFIGMAPS, JOBS, PODS, RUNS, TASKS, Resource
from taskops.domain.execution import attempts, batch
from taskops.domain.execution.decide import decide
from taskops.domain.execution.decision import Context, Decision, EventSpec, JobRejected
from taskops.domain.execution.jobs import BatchPods
from taskops.domain.execution.versions import Version, from_revision
from taskops.domain.resources import mergepatch, names, timefmt
from taskops.domain.resources.agent import AgentSpec
from taskops.domain.resources.clock import SYSTEM, Clock
from taskops.domain.resources.phases import EndReason
from taskops.domain.resources.run import Run
from taskops.domain.resources.task import Task
from taskops.operator import metrics
from taskops.operator.admission import AdmissionController
from taskops.operator.controller import Controller
from taskops.operator.events import COMPONENT
from taskops.operator.failpoints import failpoint
from taskops.operator.store import Store, is_summary
from taskops.operator.workqueue import Gate, WorkQueue

log = logging.getLogger("taskops.reconciler")


class RunClient(Protocol):
    """The Kubernetes API verbs a Run reconcile uses (`taskops.clients.kube.KubeClient`; a fake in tests)."""

    async def get(self, res: Resource, namespace: str | None, name: str) -> dict[str, Any]: ...

    async def list(
        self, res: Resource, namespace: str | None = None, label_selector: str | None = None
    ) -> list[dict[str, Any]]: ...

    async def create(self, res: Resource, namespace: str | None, body: dict[str, Any]) -> dict[str, Any]: ...

    async def create_or_get(
        self, res: Resource, namespace: str, body: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]: ...

    async def patch(
        self, res: Resource, namespace: str | None, name: str, patch: dict[str, Any], subresource: str | None = None
    ) -> dict[str, Any]: ...

    async def delete(
        self, res: Resource, namespace: str | None, name: str, propagation: str = "Background"
    ) -> dict[str, Any]: ...

    async def post_event(
        self, involved: dict[str, Any], type_: str, reason: str, message: str, component: str, now: dt.datetime
    ) -> dict[str, Any]: ...


class Reconciler:
    def __init__(
        self,
        store: Store,
        client: RunClient,
        queue: WorkQueue,
        clock: Clock = SYSTEM,
        workers: int = 4,
        yield_to: Gate | None = None,
        admission: AdmissionController | None = None,
        batch_pods: BatchPods | None = None,
    ) -> None:
        # The caches hand out typed raw bodies (domain/resources/raw.py); this reconcile still reads them as plain dicts
        # until its decide/apply rewrite (issue 21, outcome 1) reads the typed views.
        self.store: Any = store
        self.client = client
        self.queue = queue
        self.clock = clock
        # Schedules fire first: while the gate is held, Run reconciles wait before starting.
        self.yield_to = yield_to or Gate()
        self.admission = admission
        self.batch_pods = batch_pods
        # Job creates the API server refused, each kept for its Run's next sync only (it is requeued at once).
        self._rejected: dict[Key, JobRejected] = {}
        self.controller = Controller("run", self.sync, clock=clock, workers=workers, queue=queue)

    async def run_workers(self) -> None:
        await self.controller.run()

    async def sync(self, key: Key) -> float | None:
        """The worker shell's sync: wait while schedules fire, then reconcile the Run."""
        await self.yield_to.wait_open()
        return await self.reconcile(key)

    # -- one reconcile -----------------------------------------------------------

    async def reconcile(self, key: Key) -> float | None:
        # Popped first: a deleted Run leaves nothing behind; a sync that fails before deciding loses the
        # observation, and the next one meets the refusal again by creating the same Job.
        rejected = self._rejected.pop(key, None)
        raw = self.store.runs.get(key)
        if raw is None:
            return None
        if is_summary(raw):
            # An ended Run kept as a summary (a late Job or pod event): decide on the whole object.
            raw = await self.client.get(RUNS, *key)
        try:
            run = Run.model_validate(raw)
        except ValidationError as exc:
            # The CRD schema makes this unreachable for well-formed objects; never crash-loop on one.
            log.error("run %s/%s cannot be parsed: %s", *key, exc)
            return None
        task = await self._task(run)
        job = None
        pods: list[dict[str, Any]] = []
        if run.status.job_name:
            job = self.store.jobs.get((run.namespace, run.status.job_name))
            if job is not None and run.spec.inputs is not None:
                # A batch run's pods give its per-input results; one gone is recorded as such (batchresults).
                pods = self.store.pods_of_job(run.namespace, run.status.job_name)
            elif job is not None:
                pods = await self._pods(run.namespace, run.status.job_name, job)
        agent = run.status.agent or run.spec.agent or (task.spec.agent if task else None)
        agent_raw = await self._agent(run.namespace, agent) if agent else None
        ctx = self._context(run, task, agent, agent_raw, rejected)
        decision = decide(run, task, job, pods, self.clock(), ctx)
        if decision.empty:
            return None
        waits = decision.await_admission
        if waits is not None and self.admission is not None:
            created = raw["metadata"].get("creationTimestamp") or ""
            self.admission.offer(key, created, waits.priority, waits.concurrency_key, waits.agent)
        if not await self.apply(raw, run, decision):
            return 0.0  # the next sync decides on what the API server said
        return decision.requeue_after

    def _context(
        self,
        run: Run,
        task: Task | None,
        agent: str | None,
        raw: dict[str, Any] | None,
        rejected: JobRejected | None = None,
    ) -> Context:
        ctx = Context(
            versions=self.versions(run.namespace, run.spec.task_ref.name),
            job_rejected=rejected,
            batch_pods=self.batch_pods,
        )
        if agent:
            ctx.agent_missing = raw is None
            ctx.agent = AgentSpec.model_validate(raw.get("spec") or {}) if raw else None
        if run.spec.inputs is not None and run.status.attempt is None:
            ctx.chunks = frozenset(
                name
                for name in run.spec.inputs.config_maps
                if batch.INPUTS_KEY in ((self.store.configmaps.get((run.namespace, name)) or {}).get("data") or {})
            )
        if run.status.attempt is None and names.ANNOTATION_AHEAD in (run.metadata.annotations or {}):
            ctx.released = self._job_of_first_attempt(run) is not None
        if task is not None and run.status.attempt is None:
            ctx.duplicate_of = self._duplicate_of(run, task)
            ctx.admission = self.admission.verdict_for((run.namespace, run.name)) if self.admission else None
        return ctx

    def _job_of_first_attempt(self, run: Run) -> dict[str, Any] | None:
        """The Job of attempt 1 in the cache, if it is this Run's (a fire creates it for a Run made ahead)."""
        job: dict[str, Any] | None = self.store.jobs.get((run.namespace, names.job_name(run.name, 1)))
        refs = (job or {}).get("metadata", {}).get("ownerReferences") or []
        return job if any(ref.get("uid") == run.metadata.uid for ref in refs) else None

    def _duplicate_of(self, run: Run, task: Task) -> str | None:
        key = run.spec.dedupe_key or task.spec.dedupe_key
        if not key or run.metadata.creation_timestamp is None:
            return None
        window = task.spec.dedupe_window_seconds
        mine = (run.metadata.creation_timestamp.isoformat(), run.name)
        earliest: tuple[str, str] | None = None
        for other in self.store.runs_of_task(run.namespace, task.metadata.name):
            spec = other.get("spec") or {}
            meta = other["metadata"]
            if meta["name"] == run.name or (spec.get("dedupeKey") or task.spec.dedupe_key) != key:
                continue
            if ((other.get("status") or {}).get("endReason")) == EndReason.SKIPPED:
                continue
            created = timefmt.parse(meta["creationTimestamp"])
            delta = (run.metadata.creation_timestamp - created).total_seconds()
            theirs = (created.isoformat(), meta["name"])
            if 0 <= delta <= window and theirs < mine and (earliest is None or theirs < earliest):
                earliest = theirs
        return earliest[1] if earliest else None

    def versions(self, namespace: str, task_name: str) -> list[Version]:
        out = []
        for obj in self.store.revisions_of_task(namespace, task_name):
            try:
                out.append(from_revision(obj))
            except (ValidationError, KeyError, ValueError) as exc:
                log.error("revision %s cannot be read: %s", obj["metadata"].get("name"), exc)
        return out

    async def _task(self, run: Run) -> Task | None:
        raw = self.store.tasks.get((run.namespace, run.spec.task_ref.name))
        if raw is None:
            # The cache may not have listed it yet: only the API server can say it does not exist.
            try:
                raw = await self.client.get(TASKS, run.namespace, run.spec.task_ref.name)
            except errors.NotFound:
                return None
            self.store.tasks.put(raw)
        return Task.model_validate(raw)

    async def _pods(self, namespace: str, job_name: str, job: dict[str, Any]) -> list[dict[str, Any]]:
        pods: list[dict[str, Any]] = self.store.pods_of_job(namespace, job_name)
        failed = attempts.finished(job) or {}
        if failed.get("type") != "Failed" or attempts.terminated_container(pods) is not None:
            return pods
        # The Job and Pod watches are independent: right after a restart (or under load) the Job can be seen
        # Failed before its pod's terminated state arrives, and the attempt would end "failed" without the
        # exit code or an OOMKill. Ask the API server once for the pods as they are now.
        listed = await self.client.list(PODS, namespace, label_selector=f"{names.LABEL_JOB_NAME}={job_name}")
        for pod in listed:
            pod.setdefault("apiVersion", "v1")
            pod.setdefault("kind", "Pod")
            self.store.pods.put(pod)
        return listed or pods

    async def _agent(self, namespace: str, name: str) -> dict[str, Any] | None:
        raw: dict[str, Any] | None = self.store.agents.get((namespace, name))
        if raw is None:
            # Right after a restart the Run watch can deliver before the Agent watch has listed anything:
            # as for Tasks, only the API server can say the Agent does not exist.
            try:
                raw = await self.client.get(AGENTS, namespace, name)
            except errors.NotFound:
                return None
            self.store.agents.put(raw)
        return raw

    async def apply(self, raw: dict[str, Any], run: Run, decision: Decision) -> bool:
        """Apply the decision's writes in the documented order (taskops.domain.execution.decision). False: the API
        server refused the Job; the refusal is kept for the next sync and the decision's Events are not posted."""
        ns, name = run.namespace, run.name
        if decision.owner and await self._owner_stays(ns, decision.owner):
            refs = [*(run.metadata.owner_references or []), decision.owner]
            patched = await self.client.patch(
                RUNS,
                ns,
                name,
                {"metadata": {"ownerReferences": refs, "resourceVersion": run.metadata.resource_version}},
            )
            self.store.runs.put(patched)
            raw = patched
        if decision.delete_job is not None:
            with contextlib.suppress(errors.NotFound):
                await self.client.delete(JOBS, ns, decision.delete_job, propagation="Background")
        for config_map, new in decision.write_results:
            await self._write_results(config_map, new)
        if decision.status is not None:
            raw = await self._write_status(raw, decision.status.to_k8s())
        for config_map in decision.create_config_maps:
            await self.client.create_or_get(CONFIGMAPS, ns, config_map)
        if decision.create_job is not None and self._adopted(run, decision.create_job):
            pass  # its fire created it (a Run made ahead): no second request for the same name
        elif decision.create_job is not None:
            job_name = decision.create_job["metadata"]["name"]
            try:
                job, _ = await self.client.create_or_get(JOBS, ns, decision.create_job)
                failpoint("after-job-create")
                self.store.jobs.put(job)
            except errors.ApiError as exc:
                if exc.transient:
                    raise
                # Refused for good (an invalid template, a quota, RBAC). The status written above already records
                # the attempt, and must come before the Job so that a crash never loses or doubles one; so the
                # refusal is known only after this sync's status write. Rather than decide here and write status
                # a second time, keep what the API server said: the next sync's `decide` ends the Run.
                self._rejected[(ns, name)] = JobRejected(job_name, exc.message)
                return False
        for event in decision.events:
            await self._event(raw, event)
        return True

    def _adopted(self, run: Run, job: dict[str, Any]) -> bool:
        return job["metadata"]["name"] == names.job_name(run.name, 1) and self._job_of_first_attempt(run) is not None

    async def _owner_stays(self, namespace: str, owner: dict[str, Any]) -> bool:
        """Whether the Task is there and not being deleted, asked of the API server: the cache may not have seen
        an orphaning delete yet. Only Runs created without an owner (by hand) get here, once each."""
        try:
            task = await self.client.get(TASKS, namespace, owner["name"])
        except errors.NotFound:
            return False
        meta = task["metadata"]
        return bool(meta.get("uid") == owner["uid"] and not meta.get("deletionTimestamp"))

    async def _write_results(self, config_map: dict[str, Any], new: bool) -> None:
        """Create a result chunk, or merge entries into it; either way round when the guess was wrong
        (a crash between this write and the status write that records it)."""
        ns, name = config_map["metadata"]["namespace"], config_map["metadata"]["name"]
        if new:
            try:
                await self.client.create(CONFIGMAPS, ns, config_map)
                return
            except errors.AlreadyExists:
                pass
        try:
            await self.client.patch(CONFIGMAPS, ns, name, {"data": config_map["data"]})
        except errors.NotFound:
            await self.client.create(CONFIGMAPS, ns, config_map)

    async def _write_status(self, raw: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
        ns, name = raw["metadata"]["namespace"], raw["metadata"]["name"]
        old = raw.get("status") or {}
        # Merge-patch semantics: a field we no longer set must be sent as null to be removed.
        body = mergepatch.replacing(old, status)
        patched = await self.client.patch(
            RUNS,
            ns,
            name,
            {"metadata": {"resourceVersion": raw["metadata"]["resourceVersion"]}, "status": body},
            subresource="status",
        )
        self.store.runs.put(patched)
        metrics.observe_status(raw, old, status)
        return patched

    async def _event(self, raw: dict[str, Any], event: EventSpec) -> None:
        try:
            await self.client.post_event(raw, event.type, event.reason, event.message, COMPONENT, self.clock())
        except errors.ApiError as exc:
            # An Event is a courtesy; losing one must not fail or repeat the reconcile.
            log.warning("could not post event %s on run %s: %s", event.reason, raw["metadata"]["name"], exc)
