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


def test_a_shard_waits_for_the_leases_of_another_shard_count_and_renews_its_own() -> None:
    """Changing the shard count: a new shard acts only once no Lease taken for the old count is held."""
    from taskops.clients.resources import LEASES
    from taskops.domain.leadership.shards import Shard

    async def scenario() -> None:
        leases = FakeKube()
        old = LeaderElector(cast(KubeClient, leases), "ns", "op", "old", DURATION, RENEW, RETRY, shard=Shard(0, 2))
        await old.acquire()
        assert old.leading and leases.stored(LEASES, "ns", "op-0-of-2") is not None
        # A Lease of the same count, or of another release, never blocks.
        same = LeaderElector(cast(KubeClient, leases), "ns", "op", "same", DURATION, RENEW, RETRY, shard=Shard(1, 2))
        other = LeaderElector(cast(KubeClient, leases), "ns", "xx", "other", DURATION, RENEW, RETRY, shard=Shard())
        await asyncio.wait_for(asyncio.gather(same.acquire(), other.acquire()), 2)
        new = LeaderElector(cast(KubeClient, leases), "ns", "op", "new", DURATION, RENEW, RETRY, shard=Shard(2, 3))
        taking = asyncio.create_task(new.acquire())
        await asyncio.sleep(4 * RETRY)
        assert not taking.done() and not new.leading, "the old count's leader still holds its Lease"
        mine = leases.stored(LEASES, "ns", "op-2-of-3")
        assert mine is not None and mine["spec"]["holderIdentity"] == "new", "it holds its own Lease meanwhile"
        await old.release()
        await asyncio.sleep(2 * RETRY)
        assert not new.leading, "shard 1 of 2 still leads"
        await same.release()
        await asyncio.wait_for(taking, 2)
        assert new.leading
        # And now the old count waits for the new one (the other side of the fence).
        again = LeaderElector(cast(KubeClient, leases), "ns", "op", "old2", DURATION, RENEW, RETRY, shard=Shard(0, 2))
        retaking = asyncio.create_task(again.acquire())
        await asyncio.sleep(4 * RETRY)
        assert not again.leading
        retaking.cancel()

    asyncio.run(scenario())


def test_a_dead_leader_of_another_count_blocks_only_until_its_lease_expires() -> None:
    from taskops.domain.leadership.shards import Shard

    async def scenario() -> float:
        leases = FakeKube()
        dead = LeaderElector(cast(KubeClient, leases), "ns", "op", "dead", DURATION, RENEW, RETRY, shard=Shard(1, 2))
        await dead.acquire()  # and never renews: SIGKILLed
        started = time.monotonic()
        new = LeaderElector(cast(KubeClient, leases), "ns", "op", "new", DURATION, RENEW, RETRY, shard=Shard(0, 3))
        await asyncio.wait_for(new.acquire(), 3 * DURATION)
        return time.monotonic() - started

    assert DURATION <= asyncio.run(scenario()) < DURATION + 2 * RETRY + 0.5
