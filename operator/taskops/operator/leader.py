"""Leader election: only the replica holding the Lease runs controllers; the others wait to take over.

Acquire: retry every `retry` seconds until the Lease is free, ours, or expired.
Lead: renew every `retry` seconds; if renewing fails for `renew_deadline`
seconds, leadership is lost and the process exits (like client-go's
OnStoppedLeading), so two replicas never act at once. On a clean shutdown the
Lease is released so a follower takes over at once instead of after expiry.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time

from taskops.clients import errors
from taskops.clients.kube import KubeClient
from taskops.clients.resources import LEASES
from taskops.domain import leases
from taskops.operator import metrics

log = logging.getLogger("taskops.leader")


class LostLeadership(Exception):
    pass


class LeaderElector:
    def __init__(
        self,
        client: KubeClient,
        namespace: str,
        name: str,
        identity: str,
        duration: int = 15,
        renew_deadline: float = 10.0,
        retry: float = 2.0,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.duration = duration
        self.renew_deadline = renew_deadline
        self.retry = retry
        self.leading = False
        self._observed: leases.Observed | None = None
        self._version: str | None = None

    async def _try(self) -> bool:
        """One attempt to take or renew the Lease."""
        now = time.monotonic()
        try:
            lease = await self.client.get(LEASES, self.namespace, self.name)
        except errors.NotFound:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": leases.spec_for(self.identity, self.duration, dt.datetime.now(dt.UTC), None),
            }
            try:
                created = await self.client.create(LEASES, self.namespace, body)
            except errors.AlreadyExists:
                return False
            self._observed = leases.observe(None, created, now)
            return True
        self._observed = leases.observe(self._observed, lease, now)
        if not leases.may_acquire(self._observed, self.identity, self.duration, now):
            return False
        lease["spec"] = {
            **(lease.get("spec") or {}),
            **leases.spec_for(self.identity, self.duration, dt.datetime.now(dt.UTC), self._observed),
        }
        try:
            # PUT with the resourceVersion we read: of two contenders, the API server lets one win.
            updated = await self.client.request("PUT", LEASES.path(self.namespace, self.name), lease)
        except errors.Conflict:
            return False
        self._observed = leases.observe(self._observed, updated, time.monotonic())
        return True

    async def acquire(self) -> None:
        log.info("waiting to lead (lease %s/%s, identity %s)", self.namespace, self.name, self.identity)
        while True:
            try:
                if await self._try():
                    break
            except (errors.ApiError, OSError, TimeoutError) as exc:
                log.warning("leader election: %s", exc)
            await asyncio.sleep(self.retry)
        self.leading = True
        metrics.LEADER.set(1)
        log.info("leading (lease %s/%s)", self.namespace, self.name)

    async def keep(self) -> None:
        """Renew until renewing fails for `renew_deadline`; then raise LostLeadership."""
        last_ok = time.monotonic()
        while True:
            await asyncio.sleep(self.retry)
            try:
                if await self._try():
                    last_ok = time.monotonic()
                    continue
                log.error("the lease was taken by %s", self._observed.holder if self._observed else "?")
            except (errors.ApiError, OSError, TimeoutError) as exc:
                log.warning("lease renewal failed: %s", exc)
                if time.monotonic() - last_ok < self.renew_deadline:
                    continue
            self.leading = False
            metrics.LEADER.set(0)
            raise LostLeadership(f"lease {self.namespace}/{self.name} lost")

    async def release(self) -> None:
        if not self.leading:
            return
        try:
            lease = await self.client.get(LEASES, self.namespace, self.name)
            if (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                lease["spec"]["holderIdentity"] = ""
                lease["spec"]["leaseDurationSeconds"] = 1
                await self.client.request("PUT", LEASES.path(self.namespace, self.name), lease)
        except (errors.ApiError, OSError, TimeoutError) as exc:
            log.warning("could not release the lease: %s", exc)
        self.leading = False
        metrics.LEADER.set(0)
