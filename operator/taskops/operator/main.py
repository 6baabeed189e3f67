"""Run the operator: kopf's watches and the reconcile workers in one event loop."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import kopf

from taskops.clients import credentials
from taskops.clients.kube import KubeClient
from taskops.clients.webhook import WebhookSender
from taskops.domain.webhooks import Policy
from taskops.operator.admission import AdmissionController
from taskops.operator.handlers import build_registry
from taskops.operator.reconciler import Reconciler, utcnow
from taskops.operator.scheduler import TaskController
from taskops.operator.store import Store
from taskops.operator.webhooks import WebhookController
from taskops.operator.workqueue import WorkQueue

log = logging.getLogger("taskops.operator")


async def _gather(*aws: Coroutine[Any, Any, None]) -> None:
    await asyncio.gather(*aws)


@dataclass(frozen=True)
class WebhookOptions:
    secret: tuple[str, str] | None = None
    policy: Policy = field(default_factory=Policy)
    connect_timeout: float = 5.0
    read_timeout: float = 15.0


async def run(
    namespace: str | None = None,
    kubeconfig: str | None = None,
    workers: int = 4,
    webhook: WebhookOptions | None = None,
) -> None:
    webhook = webhook or WebhookOptions()
    # kopf logs every handled watch event at INFO; only its problems are worth a line.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    creds = credentials.load(kubeconfig)
    store = Store()
    queue = WorkQueue()
    async with KubeClient(creds, user_agent="taskops-operator") as client:
        tasks = TaskController(store, client)
        admission = AdmissionController(store, queue)
        reconciler = Reconciler(store, client, queue, workers=workers, yield_to=tasks.firing, admission=admission)
        sender = WebhookSender(webhook.policy, webhook.connect_timeout, webhook.read_timeout)
        webhooks = WebhookController(store, client, sender, webhook.secret, utcnow)
        registry = build_registry(
            store, queue, tasks.queue, tasks.sync_queue, creds, admission.trigger, webhook_queue=webhooks.queue
        )
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
            _gather(
                reconciler.run_workers(),
                tasks.run_workers(),
                admission.sync(client),
                admission.run(),
                webhooks.run_workers(),
            )
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


def webhook_options(args: argparse.Namespace) -> WebhookOptions:
    """The operator's webhook flags as options; a malformed flag is a clear exit, not a trace."""
    secret = None
    if args.webhook_secret:
        namespace, _, name = args.webhook_secret.partition("/")
        if not name:
            raise SystemExit("--webhook-secret takes NAMESPACE/NAME")
        secret = (namespace, name)

    def split(text: str) -> tuple[str, ...]:
        return tuple(part.strip() for part in text.split(",") if part.strip())

    policy = Policy(
        backoff_seconds=args.webhook_backoff_seconds,
        backoff_max_seconds=args.webhook_max_backoff_seconds,
        deadline_seconds=args.webhook_deadline_seconds,
        allow=split(args.webhook_allow),
        deny=split(args.webhook_deny),
    )
    return WebhookOptions(secret=secret, policy=policy, read_timeout=args.webhook_timeout_seconds)
