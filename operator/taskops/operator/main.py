"""Run the operator: kopf's watches and the reconcile workers in one event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import kopf

from taskops.clients import credentials
from taskops.clients.kube import KubeClient
from taskops.operator.admission import AdmissionController
from taskops.operator.handlers import build_registry
from taskops.operator.reconciler import Reconciler
from taskops.operator.scheduler import TaskController
from taskops.operator.store import Store
from taskops.operator.workqueue import WorkQueue

log = logging.getLogger("taskops.operator")


async def _gather(*aws: Coroutine[Any, Any, None]) -> None:
    await asyncio.gather(*aws)


async def run(namespace: str | None = None, kubeconfig: str | None = None, workers: int = 4) -> None:
    # kopf logs every handled watch event at INFO; only its problems are worth a line.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    creds = credentials.load(kubeconfig)
    store = Store()
    queue = WorkQueue()
    async with KubeClient(creds, user_agent="taskops-operator") as client:
        tasks = TaskController(store, client)
        admission = AdmissionController(store, queue)
        reconciler = Reconciler(store, client, queue, workers=workers, yield_to=tasks.firing, admission=admission)
        registry = build_registry(store, queue, tasks.queue, tasks.sync_queue, creds, admission.trigger)
        log.info("taskops operator starting (%s)", f"namespace {namespace}" if namespace else "all namespaces")
        operator = asyncio.create_task(
            kopf.operator(
                registry=registry,
                standalone=True,
                clusterwide=namespace is None,
                namespaces=[namespace] if namespace else (),
            )
        )
        workers_task = asyncio.create_task(
            _gather(reconciler.run_workers(), tasks.run_workers(), admission.sync(client), admission.run())
        )
        done, _ = await asyncio.wait({operator, workers_task}, return_when=asyncio.FIRST_COMPLETED)
        for task in (operator, workers_task):
            if task not in done:
                task.cancel()
        await asyncio.gather(operator, workers_task, return_exceptions=True)
        # kopf handles SIGTERM/SIGINT itself and returns; a crash of either side is re-raised.
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
