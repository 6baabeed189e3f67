"""Leader election: only the replica holding the Lease runs controllers; the others wait to take over.

Acquire: retry every `retry` seconds until the Lease is free, ours, or expired.
Lead: renew every `retry` seconds; if no renewal has succeeded for `renew_deadline`
seconds, leadership is lost and the process exits (like client-go's
OnStoppedLeading), so two replicas never act at once. On a clean shutdown the
Lease is released so a follower takes over at once instead of after expiry.

Every request is bounded by the time left: a renewal that hangs (an API server or
etcd stall) is abandoned after half the renew deadline, and leadership ends at the
renew deadline counted from the start of the last successful renewal, which is
always before the Lease can expire for a follower (`renew_deadline` < `duration`;
client-go's 10 s against 15 s). The client's own request timeout (30 s) would let a
stalled leader act on past its Lease.

Sharded (domain/leadership/shards.py), each shard has its own Lease, `NAME-INDEX-of-COUNT`, labelled with the
base name and the count. A shard that took its Lease acts only once no Lease of this release taken for another
shard count is held (free, or unchanged for its duration by our clock), and renews its own meanwhile. Our Lease
write is acknowledged before that LIST (a quorum read), so of two leaders of different counts starting at once
at least one sees the other and waits: the old and new shards of a changed count never act together. The wait
ends when the old count's pods are gone (a rollout replaces them; a clean stop releases the Lease).
"""

from __future__ import annotations

import asyncio
import logging

from taskops.clients import errors
from taskops.clients.kube import KubeClient
from taskops.clients.resources import LEASES
from taskops.domain.leadership import leases, shards
from taskops.domain.resources.clock import SYSTEM, Clock
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
        clock: Clock = SYSTEM,
        shard: shards.Shard = shards.Shard(),  # noqa: B008  # frozen: one shared default is safe
    ) -> None:
        if not 0 < retry < renew_deadline < duration:
            raise ValueError(
                f"leader election needs 0 < retry ({retry}) < renew deadline ({renew_deadline}) "
                f"< lease duration ({duration})"
            )
        self.client = client
        self.namespace = namespace
        self.base = shards.check_base_name(name)
        self.shard = shard
        self.name = shard.lease_name(name)
        self.labels = shard.lease_labels(name)
        self.identity = identity
        self.duration = duration
        self.renew_deadline = renew_deadline
        self.retry = retry
        self.clock = clock
        self.leading = False
        # When the last successful take or renewal was sent (our clock): the Lease holds from then at least.
        self.renewed_at: float | None = None
        self._observed: leases.Observed | None = None
        self._version: str | None = None
        # Leases of this release for other shard counts, as last seen: the fence waits until none is held.
        self._others: dict[str, leases.Observed] = {}

    async def _attempt(self, within: float) -> bool:
        """One attempt to take or renew the Lease, abandoned after `within` seconds (TimeoutError)."""
        started = self.clock.monotonic()
        # The event loop's timeout: a bound on a request's real duration, whatever clock the elector is given.
        async with asyncio.timeout(max(within, 0.0)):
            ok = await self._try()
        if ok:
            self.renewed_at = started
        return ok

    async def _try(self) -> bool:
        """One attempt to take or renew the Lease."""
        now = self.clock.monotonic()
        try:
            lease = await self.client.get(LEASES, self.namespace, self.name)
        except errors.NotFound:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace, "labels": self.labels},
                "spec": leases.spec_for(self.identity, self.duration, self.clock(), None),
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
        meta = lease.setdefault("metadata", {})
        # A Lease an older version made has no labels yet: the fence of other shard counts finds it from now on.
        meta["labels"] = {**(meta.get("labels") or {}), **self.labels}
        lease["spec"] = {
            **(lease.get("spec") or {}),
            **leases.spec_for(self.identity, self.duration, self.clock(), self._observed),
        }
        try:
            # PUT with the resourceVersion we read: of two contenders, the API server lets one win.
            updated = await self.client.replace(LEASES, self.namespace, self.name, lease)
        except errors.Conflict:
            return False
        self._observed = leases.observe(self._observed, updated, self.clock.monotonic())
        return True

    async def acquire(self) -> None:
        log.info("waiting to lead (lease %s/%s, identity %s)", self.namespace, self.name, self.identity)
        while True:
            try:
                # A take that answers after the renew deadline may already be stale: try again.
                if await self._attempt(self.renew_deadline):
                    async with asyncio.timeout(self.renew_deadline / 2):
                        blocking = await self._other_counts_held()
                    if not blocking:
                        break
                    log.info("holding lease %s; waiting for the leases of other shard counts: %s", self.name,
                             ", ".join(blocking))  # fmt: skip
            except (errors.ApiError, OSError, TimeoutError) as exc:
                log.warning("leader election: %s", exc or "no answer within the renew deadline")
            await self.clock.sleep(self.retry)
        self.leading = True
        metrics.LEADER.set(1)
        log.info("leading (lease %s/%s)", self.namespace, self.name)

    async def _other_counts_held(self) -> list[str]:
        """The Leases of this release taken for another shard count that are held (not free, not expired)."""
        now = self.clock.monotonic()
        selector = f"{shards.LABEL_LEASE}={self.base}"
        found = await self.client.list(LEASES, self.namespace, label_selector=selector)
        seen: dict[str, leases.Observed] = {}
        held = []
        for lease in found:
            name = lease["metadata"]["name"]
            if shards.lease_count(lease) in (None, self.shard.count):
                continue
            seen[name] = leases.observe(self._others.get(name), lease, now)
            duration = int((lease.get("spec") or {}).get("leaseDurationSeconds") or self.duration)
            if not leases.may_acquire(seen[name], self.identity, duration, now):
                held.append(name)
        self._others = seen
        return sorted(held)

    async def keep(self) -> None:
        """Renew until no renewal has succeeded for `renew_deadline`; then raise LostLeadership."""
        assert self.renewed_at is not None, "keep() after acquire()"
        while True:
            deadline = self.renewed_at + self.renew_deadline
            await self.clock.sleep(max(0.0, min(self.retry, deadline - self.clock.monotonic())))
            try:
                # At most half the deadline per request: a connection that hangs gets a second, fresh try.
                if await self._attempt(min(deadline - self.clock.monotonic(), self.renew_deadline / 2)):
                    continue
                log.error("the lease was taken by %s", self._observed.holder if self._observed else "?")
            except (errors.ApiError, OSError, TimeoutError) as exc:
                log.warning("lease renewal failed: %s", exc or "no answer within the renew deadline")
                if self.clock.monotonic() < deadline:
                    continue
            self.leading = False
            metrics.LEADER.set(0)
            raise LostLeadership(f"lease {self.namespace}/{self.name} lost")

    async def release(self) -> None:
        if not self.leading:
            return
        try:
            async with asyncio.timeout(self.renew_deadline):
                await self._release()
        except (errors.ApiError, OSError, TimeoutError) as exc:
            log.warning("could not release the lease: %s", exc or "no answer within the renew deadline")
        self.leading = False
        metrics.LEADER.set(0)

    async def _release(self) -> None:
        lease = await self.client.get(LEASES, self.namespace, self.name)
        if (lease.get("spec") or {}).get("holderIdentity") == self.identity:
            lease["spec"]["holderIdentity"] = ""
            lease["spec"]["leaseDurationSeconds"] = 1
            await self.client.replace(LEASES, self.namespace, self.name, lease)
