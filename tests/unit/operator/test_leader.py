"""The leader's renewals are bounded by the time left on its Lease (issue 18 §5).

Against an API server that stops answering, the leader must give up leading before a follower may take the
Lease over: at the renew deadline, counted from its last successful renewal, not after the client's own
request timeout (30 s, twice the default 15 s lease). Timings are scaled down (a 1.5 s lease) and run on the
real event loop against an in-memory Lease (tests/unit/fakes.py).
"""

from __future__ import annotations

import asyncio
import time
from typing import cast

import pytest

from taskops.clients.kube import KubeClient
from taskops.operator.leader import LeaderElector, LostLeadership
from tests.unit.fakes import FakeKube

DURATION, RENEW, RETRY = 2, 1.0, 0.2


def elector(leases: FakeKube) -> LeaderElector:
    return LeaderElector(cast(KubeClient, leases), "ns", "lease", "me", DURATION, RENEW, RETRY)


def test_a_stalled_api_server_ends_leadership_before_the_lease_can_expire() -> None:
    async def scenario() -> float:
        leases = FakeKube()
        e = elector(leases)
        await e.acquire()
        keeping = asyncio.create_task(e.keep())
        await asyncio.sleep(3 * RETRY)
        assert not keeping.done() and len(leases.calls) > 2, "the leader renews while the API server answers"
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
        leases = FakeKube()
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
        leases = FakeKube()
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
        LeaderElector(cast(KubeClient, FakeKube()), "ns", "lease", "me", duration, renew, retry)
