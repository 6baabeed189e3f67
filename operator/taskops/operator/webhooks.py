"""Deliver completion webhooks: one queue of ended Runs with a callbackUrl, state kept in the Run's status.

`deliver` is the sync of a worker shell (controller.py): it makes one attempt when one is due and returns the
seconds until the next look. A failed delivery is not an exception: its backoff is the webhook policy's,
recorded in the Run's status (`nextAttemptAt`) so that it survives a restart; an exception (a status write
refused) is retried with the shell's backoff.
"""

from __future__ import annotations

import base64
import logging
import random
from typing import Any

from taskops.clients import errors
from taskops.clients.informer import Key
from taskops.clients.kube import KubeClient
from taskops.clients.resources import RUNS, SECRETS
from taskops.clients.webhook import Outcome, WebhookSender
from taskops.domain.delivery import webhooks
from taskops.domain.resources.apinames import task_api_name
from taskops.domain.resources.clock import SYSTEM, Clock
from taskops.domain.resources.raw import RawRun
from taskops.domain.resources.run import WebhookStatus
from taskops.domain.views.run import run_out
from taskops.operator import metrics
from taskops.operator.controller import Controller
from taskops.operator.events import COMPONENT
from taskops.operator.store import Store
from taskops.operator.workqueue import WorkQueue

log = logging.getLogger("taskops.webhooks")
SECRET_KEY = "secret"
SECRET_TTL = 30.0
# A delivery whose receiver already has `per_host` attempts in flight looks again after about this long.
BUSY_SECONDS = 1.0


class WebhookController:
    def __init__(
        self,
        store: Store,
        client: KubeClient,
        sender: WebhookSender,
        default_secret: tuple[str, str] | None,
        clock: Clock = SYSTEM,
        workers: int = 16,
    ) -> None:
        self.store = store
        self.client = client
        self.sender = sender
        self.policy = sender.policy
        self.default_secret = default_secret
        self.clock = clock
        self.workers = workers
        self.controller: Controller[Key] = Controller(
            "webhook", self.deliver, clock=clock, workers=workers, subject="run"
        )
        self.queue: WorkQueue = self.controller.queue
        self._secrets: dict[tuple[str, str], tuple[float, bytes | None]] = {}
        # Attempts in flight per receiver (host, port): a few hanging receivers hold a few workers, not all.
        self._inflight: dict[tuple[str, int], int] = {}

    async def run_workers(self) -> None:
        try:
            await self.controller.run()
        finally:
            await self.sender.close()

    async def deliver(self, key: Key) -> float | None:
        """One attempt if one is due; the seconds until the next look, or None when there is nothing left to do."""
        raw = self.store.runs.get(key)
        if raw is None:
            return None
        now = self.clock()
        step = webhooks.plan(raw, now)
        if step.done:
            return None
        if step.seconds is not None:
            return step.seconds
        target = webhooks.receiver(raw["spec"]["callbackUrl"])
        if self._inflight.get(target, 0) >= self.policy.per_host:
            # Not an attempt: nothing is recorded, the worker is free for other receivers' deliveries.
            return BUSY_SECONDS * (0.5 + random.random())
        self._inflight[target] = self._inflight.get(target, 0) + 1
        try:
            outcome = await self._attempt(raw)
        finally:
            self._inflight[target] -= 1
            if not self._inflight[target]:
                del self._inflight[target]
        if outcome.detail:
            # The details a tenant does not see (which address was denied, what the connector said): for the
            # administrator; a refusal is final, so once per Run, while retried failures can be many.
            level = logging.INFO if outcome.final else logging.DEBUG
            log.log(level, "webhook of run %s/%s: %s (%s)", *key, outcome.error, outcome.detail)
        state = webhooks.after_attempt(
            raw, self.clock(), self.policy, outcome.status_code, outcome.error, outcome.final
        )
        # Every field, nulls included: merge-patch semantics remove what the new state no longer has.
        body = {"status": {"webhook": state.model_dump(by_alias=True, mode="json")}}
        patched = await self.client.patch(RUNS, key[0], key[1], body, "status")
        metrics.WEBHOOKS.labels("retry" if state.state == "pending" else state.state).inc()
        # Until the watch brings this write back, a stale copy must not make us send again.
        self.store.runs.put(patched)
        await self._announce(patched, state)
        if state.state == "pending" and state.next_attempt_at is not None:
            return max(0.0, (state.next_attempt_at - self.clock()).total_seconds())
        return None

    async def _attempt(self, raw: RawRun) -> Outcome:
        url = raw["spec"]["callbackUrl"]
        problem = webhooks.url_error(url)
        if problem:
            return Outcome(error=webhooks.error("invalid-url", f" ({problem})"), final=True)
        secret = await self._secret(raw)
        if secret is None:
            return Outcome(error=webhooks.error("no-secret"), final=True)
        body = run_out(raw, self._task_name(raw)).model_dump_json().encode()
        stamp = int(self.clock().timestamp())
        headers = {
            webhooks.HEADER_DELIVERY: webhooks.delivery_id(raw),
            webhooks.HEADER_EVENT: webhooks.EVENT,
            webhooks.HEADER_TIMESTAMP: str(stamp),
            webhooks.HEADER_SIGNATURE: webhooks.sign(secret, stamp, body),
            "User-Agent": "taskops-webhook/1",
        }
        return await self.sender.post(url, body, headers)

    def _task_name(self, raw: RawRun) -> str:
        name: str = raw["spec"]["taskRef"]["name"]
        task = self.store.tasks.get((raw["metadata"]["namespace"], name))
        return task_api_name(name, task["metadata"].get("annotations") if task else None)

    async def _secret(self, raw: RawRun) -> bytes | None:
        """The Task's own key (a Secret in the Run's namespace, never another's), else the namespace's key
        derived from the release key (webhooks.namespace_key): no two namespaces share a key."""
        namespace = raw["metadata"]["namespace"]
        task = self.store.tasks.get((namespace, raw["spec"]["taskRef"]["name"]))
        named = task.get("spec", {}).get("webhookSecret") if task else None
        if named:
            # The CRD's pattern refuses anything but a name; a Task stored before it had one is not trusted either.
            return await self._read_secret((namespace, named)) if webhooks.SECRET_NAME.match(named) else None
        if self.default_secret is None:
            return None
        release = await self._read_secret(self.default_secret)
        return webhooks.namespace_key(release, namespace) if release else None

    async def _read_secret(self, where: tuple[str, str]) -> bytes | None:
        hit = self._secrets.get(where)
        if hit is not None and hit[0] > self.clock.monotonic():
            return hit[1]
        try:
            secret = await self.client.get(SECRETS, *where)
            value = (secret.get("data") or {}).get(SECRET_KEY)
            data = base64.b64decode(value) if value else None
        except errors.NotFound:
            data = None
        self._secrets[where] = (self.clock.monotonic() + SECRET_TTL, data)
        return data

    async def _announce(self, raw: RawRun | dict[str, Any], state: WebhookStatus) -> None:
        if state.state == "pending":
            return
        if state.state == "delivered":
            kind, reason = "Normal", "WebhookDelivered"
            message = f"delivered to {state.url} ({state.status_code}) after {state.attempts} attempt(s)"
        else:
            kind, reason = "Warning", "WebhookFailed"
            message = f"not delivered to {state.url}: {state.last_error}"
        try:
            await self.client.post_event(raw, kind, reason, message, COMPONENT, self.clock())
        except errors.ApiError as exc:
            log.warning("could not post event %s on run %s: %s", reason, raw["metadata"]["name"], exc)
