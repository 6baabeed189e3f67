"""The leader's renewals are bounded by the time left on its Lease (issue 18 §5).

Against an API server that stops answering, the leader must give up leading before a follower may take the
Lease over: at the renew deadline, counted from its last successful renewal, not after the client's own
request timeout (30 s, twice the default 15 s lease). Timings are scaled down (a 1.5 s lease) and run on the
real event loop against an in-memory Lease.
"""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any, cast

import pytest

from taskops.clients import errors
from taskops.clients.kube import KubeClient
from taskops.operator.leader import LeaderElector, LostLeadership

DURATION, RENEW, RETRY = 2, 1.0, 0.2


class Leases:
    """One Lease in memory; `stall` makes every request hang (an etcd or API-server stall)."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.stall = asyncio.Event()
        self.calls = 0

    async def _answer(self) -> None:
        self.calls += 1
        if self.stall.is_set():
            await asyncio.sleep(30)  # the client's own timeout

    async def get(self, res: Any, namespace: str, name: str) -> dict[str, Any]:
        await self._answer()
        if self.lease is None:
            raise errors.NotFound(404, {"reason": "NotFound"})
        return copy.deepcopy(self.lease)

    async def create(self, res: Any, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        await self._answer()
        self.version += 1
        self.lease = {**body, "metadata": {**body["metadata"], "resourceVersion": str(self.version)}}
        return copy.deepcopy(self.lease)

    async def replace(self, res: Any, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        await self._answer()
        assert self.lease is not None
        if body["metadata"]["resourceVersion"] != self.lease["metadata"]["resourceVersion"]:
            raise errors.Conflict(409, {"reason": "Conflict"})
        self.version += 1
        self.lease = {**body, "metadata": {**body["metadata"], "resourceVersion": str(self.version)}}
        return copy.deepcopy(self.lease)


def elector(leases: Leases) -> LeaderElector:
    return LeaderElector(cast(KubeClient, leases), "ns", "lease", "me", DURATION, RENEW, RETRY)


def test_a_stalled_api_server_ends_leadership_before_the_lease_can_expire() -> None:
    async def scenario() -> float:
        leases = Leases()
        e = elector(leases)
        await e.acquire()
        keeping = asyncio.create_task(e.keep())
        await asyncio.sleep(3 * RETRY)
        assert not keeping.done() and leases.calls > 2, "the leader renews while the API server answers"
        assert e.renewed_at is not None
        leases.stall.set()
        last_renewal = e.renewed_at
        with pytest.raises(LostLeadership):
            await asyncio.wait_for(keeping, timeout=10)
        assert not e.leading
        return time.monotonic() - last_renewal

    held = asyncio.run(scenario())
    # A follower may take over DURATION seconds after it saw the last renewal; the leader stopped at RENEW.
    assert RENEW <= held < RENEW + RETRY + 0.3 < DURATION


def test_a_renewal_that_answers_in_time_keeps_leading_through_a_short_stall() -> None:
    async def scenario() -> None:
        leases = Leases()
        e = elector(leases)
        await e.acquire()
        keeping = asyncio.create_task(e.keep())
        await asyncio.sleep(RETRY * 1.5)
        leases.stall.set()
        await asyncio.sleep(RENEW / 4)  # a request hangs: abandoned after RENEW / 2, and the next one answers
        leases.stall.clear()
        await asyncio.sleep(RENEW * 1.5)
        assert not keeping.done() and e.leading
        keeping.cancel()

    asyncio.run(scenario())


def test_a_stalled_release_does_not_hold_up_the_shutdown() -> None:
    async def scenario() -> float:
        leases = Leases()
        e = elector(leases)
        await e.acquire()
        leases.stall.set()
        started = time.monotonic()
        await e.release()
        assert not e.leading
        return time.monotonic() - started

    assert asyncio.run(scenario()) < RENEW + 0.3


@pytest.mark.parametrize(("duration", "renew", "retry"), [(15, 15.0, 2.0), (15, 10.0, 10.0), (15, 20.0, 2.0)])
def test_the_renew_deadline_must_leave_time_on_the_lease(duration: int, renew: float, retry: float) -> None:
    with pytest.raises(ValueError, match="renew deadline"):
        LeaderElector(cast(KubeClient, Leases()), "ns", "lease", "me", duration, renew, retry)
