"""Run the operator: kopf's watches, the informers (watches.py) and the reconcile workers in one event loop."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import kopf

from taskops.clients import credentials
from taskops.clients.kube import KubeClient
from taskops.clients.webhook import WebhookSender
from taskops.domain.delivery.webhooks import Policy
from taskops.domain.execution.jobs import BatchPods
from taskops.domain.leadership.shards import Shard
from taskops.domain.resources.clock import SYSTEM, Clock
from taskops.operator import garbage
from taskops.operator.admission import AdmissionController
from taskops.operator.handlers import build_registry
from taskops.operator.health import serve as serve_health
from taskops.operator.leader import LeaderElector
from taskops.operator.reconciler import Reconciler
from taskops.operator.releasekey import ensure_release_key
from taskops.operator.store import Store
from taskops.operator.task_controller import TaskController
from taskops.operator.watches import Watches
from taskops.operator.webhooks import WebhookController
from taskops.operator.workqueue import WorkQueue

# kopf reads Agents with Python's json, which stops at about 1,000 levels of nesting with RecursionError, and that
# fails kopf's whole watch (no Agent in any namespace is seen); Tasks are read by the informers, like Runs. The API
# server stores up to 10,000 levels, so the operator allows that much recursion: such an Agent is read, and refused
# where its fields are validated (domain/resources/jsonbounds.py). The C stack this takes (about 3 MB at 10,000
# levels) fits the main thread's 8 MB.
RECURSION_LIMIT = 25_000

log = logging.getLogger("taskops.operator")


async def _gather(*aws: Coroutine[Any, Any, None]) -> None:
    await asyncio.gather(*aws)


@dataclass(frozen=True)
class WebhookOptions:
    secret: tuple[str, str] | None = None
    # Create `secret` with a random key when it does not exist (operator/releasekey.py).
    create_secret: bool = False
    policy: Policy = field(default_factory=Policy)
    connect_timeout: float = 5.0
    read_timeout: float = 15.0


@dataclass(frozen=True)
class LeaderOptions:
    namespace: str
    name: str = "taskops-operator"
    identity: str = field(default_factory=lambda: os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}")
    duration: int = 15


@dataclass(frozen=True)
class Options:
    namespace: str | None = None
    kubeconfig: str | None = None
    workers: int = 16
    webhook: WebhookOptions = field(default_factory=WebhookOptions)
    # None: no election (one replica, or local development).
    leader: LeaderOptions | None = None
    metrics_port: int | None = None
    # Which namespaces this process acts on (domain/leadership/shards.py); each shard elects its own leader.
    shard: Shard = field(default_factory=Shard)
    # How batch pods get their own input as params (--batch-init-image, --batch-env-files; docs/batch.md).
    batch_pods: BatchPods | None = None


async def run(opts: Options) -> None:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))
    # kopf logs every handled watch event at INFO; only its problems are worth a line.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    creds = credentials.load(opts.kubeconfig)
    async with KubeClient(creds, user_agent="taskops-operator") as client:
        if opts.webhook.secret is not None and opts.webhook.create_secret:
            await ensure_release_key(client, *opts.webhook.secret)
        elector = None
        if opts.leader is not None:
            lead = opts.leader
            # client-go's proportions (15 s lease, 10 s renew deadline, 2 s retry): the deadline leaves a third of
            # the lease for a leader that missed it to stop before a follower may take over.
            renew = lead.duration * 2 / 3
            retry = renew / 5
            elector = LeaderElector(
                client,
                lead.namespace,
                lead.name,
                lead.identity,
                lead.duration,
                renew,
                retry,
                clock=SYSTEM,
                shard=opts.shard,
            )
        admission_ready: list[bool] = []

        def ready() -> bool:
            # A standby replica is ready (it serves and waits); the leader once its first LIST is in.
            return (elector is not None and not elector.leading) or bool(admission_ready and admission_ready[0])

        health = await serve_health(opts.metrics_port, ready) if opts.metrics_port else None
        try:
            if elector is not None:
                await elector.acquire()
            await _operate(opts, client, creds, elector, admission_ready)
        finally:
            if elector is not None:
                await elector.release()
            if health is not None:
                await health.cleanup()


async def _operate(
    opts: Options,
    client: KubeClient,
    creds: credentials.Credentials,
    elector: LeaderElector | None,
    admission_ready: list[bool],
    clock: Clock = SYSTEM,
) -> None:
    # Full garbage collections at quiet moments only (operator/garbage.py): they pause the loop for up to a second.
    # Here, not at start: a standby replica, which never gets here, keeps Python's automatic ones.
    garbage.take_over()
    store = Store()
    queue = WorkQueue(clock, "run")
    tasks = TaskController(store, client, clock)
    admission = AdmissionController(store, queue, clock)
    reconciler = Reconciler(
        store,
        client,
        queue,
        clock,
        workers=opts.workers,
        yield_to=tasks.firing,
        admission=admission,
        batch_pods=opts.batch_pods,
    )
    sender = WebhookSender(opts.webhook.policy, opts.webhook.connect_timeout, opts.webhook.read_timeout)
    webhooks = WebhookController(store, client, sender, opts.webhook.secret, clock)
    shard = opts.shard
    # One shard: no filter at all (not even the call per event).
    owns = shard.owns if shard.count > 1 else None
    registry = build_registry(store, creds, admission.trigger, owns=shard.owns)
    watches = Watches(
        client,
        store,
        queue,
        tasks.sync_queue,
        opts.namespace,
        admission.run_changed,
        webhook_queue=webhooks.queue,
        accept=owns,
        task_queue=tasks.queue,
        queue_changed=admission.trigger,
        own_write=tasks.own_write,
    )
    namespace = opts.namespace
    if namespace and not shard.owns(namespace):
        log.warning("namespace %s falls on another shard than %d of %d: this process has nothing to do", namespace,
                    shard.index, shard.count)  # fmt: skip
    log.info(
        "taskops operator starting (%s%s)",
        f"namespace {namespace}" if namespace else "all namespaces",
        f", shard {shard.index} of {shard.count}: the namespaces whose hash falls on it" if shard.count > 1 else "",
    )
    if opts.batch_pods is None:
        log.warning("no --batch-init-image: batch pods get the Run's own params, not their own input's (docs/batch.md)")

    async def sync_admission() -> None:
        await admission.start_when_listed(watches.runs.synced)
        admission_ready.append(True)

    async def when_listed(workers: Coroutine[Any, Any, None]) -> None:
        # client-go's WaitForCacheSync: the controllers start once every cache has its first LIST in. A reconcile
        # reads the Task, its versions, the Job and the pods from them; on a restart's partial caches a Run
        # pinned to a version not listed yet ended INVALID ("versions 1 to 0"), one whose Task was not listed
        # yet TaskNotFound, and a fire took a Run whose Job was not listed yet for one still waiting for it.
        # Their queues fill meanwhile, and the LISTs have the CPU to themselves (with 100,000 Runs, the 10,000
        # Tasks' syncs doubled the time to ready).
        await watches.synced()
        await workers

    async def collect_garbage() -> None:
        await watches.synced()
        garbage.freeze_listed()
        await garbage.collect_when_quiet(lambda: tasks.quiet(garbage.QUIET_AHEAD), clock)

    stop, kopf_ready = asyncio.Event(), asyncio.Event()
    operator = asyncio.create_task(
        kopf.operator(
            registry=registry,
            standalone=True,
            clusterwide=namespace is None,
            namespaces=[namespace] if namespace else (),
            stop_flag=stop,
            ready_flag=kopf_ready,
        )
    )
    stopping = asyncio.create_task(_signalled(stop, kopf_ready))
    parts: list[Coroutine[Any, Any, None]] = [
        watches.run(),
        when_listed(reconciler.run_workers()),
        when_listed(tasks.run_workers()),
        sync_admission(),
        admission.run(),
        webhooks.run_workers(),
        collect_garbage(),
    ]
    if elector is not None:
        parts.append(elector.keep())
    workers_task = asyncio.create_task(_gather(*parts))
    done, _ = await asyncio.wait({operator, workers_task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if stopping in done:
        # SIGTERM (a rollout, a drain): stop acting and free the Lease first, so that the next leader takes over in
        # a moment and this process's flags (an old webhook allow list, say) stop applying; kopf winds down after.
        workers_task.cancel()
        await asyncio.gather(workers_task, return_exceptions=True)
        if elector is not None:
            await elector.release()
        log.info("stopped on a signal%s", "; the lease is released" if elector is not None else "")
    stop.set()
    for task in (operator, workers_task, stopping):
        if task not in done:
            task.cancel()
    await asyncio.gather(operator, workers_task, stopping, return_exceptions=True)
    # kopf handles SIGTERM/SIGINT itself and returns; a crash of either side, or a lost lease, is re-raised.
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def _signalled(stop: asyncio.Event, kopf_ready: asyncio.Event) -> None:
    """Return on SIGTERM or SIGINT once kopf is up (before that, kopf's own handlers stop it). kopf installs its
    handlers when it starts; these replace them, and `stop` then tells kopf to stop."""
    await kopf_ready.wait()
    got = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, got.set)
    except (RuntimeError, ValueError):
        return await asyncio.Future()  # not the main thread (an embedding program): kopf's stop is the only one
    await got.wait()
    log.info("signal received: stopping")


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

    if args.webhook_per_host < 1:
        raise SystemExit("--webhook-per-host must be at least 1")
    try:
        policy = Policy(
            backoff_seconds=args.webhook_backoff_seconds,
            backoff_max_seconds=args.webhook_max_backoff_seconds,
            deadline_seconds=args.webhook_deadline_seconds,
            allow=split(args.webhook_allow),
            deny=split(args.webhook_deny),
            allow_only=args.webhook_allow_only,
            per_host=args.webhook_per_host,
        )
    except ValueError as exc:
        raise SystemExit(f"--webhook-allow/--webhook-deny: {exc}") from None
    if args.webhook_secret_create and secret is None:
        raise SystemExit("--webhook-secret-create needs --webhook-secret NAMESPACE/NAME")
    return WebhookOptions(
        secret=secret,
        create_secret=args.webhook_secret_create,
        policy=policy,
        read_timeout=args.webhook_timeout_seconds,
    )
