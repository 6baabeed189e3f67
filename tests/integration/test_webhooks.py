"""Completion webhooks on the real control plane, delivered to a receiver on loopback."""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from devcluster.cluster import Cluster
from taskops.domain.delivery import webhooks
from tests import builders
from tests.integration.controlplane import WEBHOOK_KEY
from tests.integration.kube import Kube, wait_for
from tests.integration.processes import OperatorProcess
from tests.integration.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def webhook_state(kube: Kube, ns: str, run: str, states: set[str], timeout: float = 60) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        hook = (kube.run(ns, run).get("status") or {}).get("webhook") or {}
        return hook if hook.get("state") in states else None

    return wait_for(check, timeout, what=f"webhook of {run} to be {states}")


def test_delivery_is_signed_once_with_the_run_as_body(
    kube: Kube, operator: OperatorProcess, ns: str, receiver: Receiver, cluster: Cluster
) -> None:
    kube.create(ns, builders.task("t"))
    created = kube.create(ns, builders.run("r1", "t", callbackUrl=receiver.url("/ok"), reference="ORD-1"))
    hook = webhook_state(kube, ns, "r1", {"delivered", "failed"})
    assert (hook["state"], hook["attempts"], hook["statusCode"]) == ("delivered", 1, 200), hook
    [got] = receiver.to("/ok")
    headers = {k.lower(): v for k, v in got.headers.items()}
    key = webhooks.namespace_key(WEBHOOK_KEY, ns)  # the release key, derived for this namespace
    assert webhooks.verify(
        key, headers["x-taskops-timestamp"], got.body, headers["x-taskops-signature"], now=time.time()
    )
    assert headers["x-taskops-delivery"] == created["metadata"]["uid"] == hook["deliveryId"]
    assert headers["x-taskops-event"] == "run.ended"
    body = json.loads(got.body)
    assert (body["id"], body["status"], body["reference"], body["is_successful"]) == ("r1", "SUCCEEDED", "ORD-1", True)
    wide = cluster.kubectl("get", "runs", "-n", ns, "-o", "wide")
    assert "WEBHOOK" in wide and "delivered" in wide
    assert any(e.reason == "WebhookDelivered" for e in kube.events_for(ns, "r1"))
    time.sleep(1.5)
    assert len(receiver.to("/ok")) == 1, "delivered once, not again"


def test_retries_5xx_with_backoff_then_delivers(
    kube: Kube, operator: OperatorProcess, ns: str, receiver: Receiver
) -> None:
    receiver.script["/flaky"] = [503, 503, 503, 200]
    kube.create(ns, builders.task("t"))
    kube.create(ns, builders.run("r1", "t", callbackUrl=receiver.url("/flaky")))
    hook = webhook_state(kube, ns, "r1", {"delivered", "failed"})
    assert (hook["state"], hook["attempts"]) == ("delivered", 4), hook
    times = [r.at for r in receiver.to("/flaky")]
    assert len(times) == 4
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Base 0.5 s, exponential with equal jitter: [0.25, 0.5], [0.5, 1], [1, 2] (plus watch and write latency).
    for gap, (low, high) in zip(gaps, [(0.25, 0.5), (0.5, 1.0), (1.0, 2.0)], strict=True):
        assert low - 0.05 <= gap <= high + 1.0, gaps
    assert len({r.headers["X-Taskops-Delivery"] for r in receiver.to("/flaky")}) == 1


def test_a_4xx_is_not_retried_and_a_denied_host_is_never_called(
    kube: Kube, operator: OperatorProcess, ns: str, receiver: Receiver
) -> None:
    receiver.script["/bad"] = [400]
    kube.create(ns, builders.task("t"))
    kube.create(ns, builders.run("r1", "t", callbackUrl=receiver.url("/bad")))
    kube.create(ns, builders.run("r2", "t", callbackUrl="http://169.254.169.254/latest/meta-data"))
    kube.create(ns, builders.run("r3", "t", callbackUrl="ftp://example.com/x"))
    bad = webhook_state(kube, ns, "r1", {"delivered", "failed"})
    assert (bad["state"], bad["attempts"], bad["statusCode"]) == ("failed", 1, 400), bad
    denied = webhook_state(kube, ns, "r2", {"delivered", "failed"})
    assert denied["state"] == "failed" and "denied" in denied["lastError"], denied
    scheme = webhook_state(kube, ns, "r3", {"delivered", "failed"})
    assert scheme["state"] == "failed" and "http and https" in scheme["lastError"], scheme
    assert any(e.reason == "WebhookFailed" for e in kube.events_for(ns, "r2"))
    time.sleep(1.5)
    assert len(receiver.to("/bad")) == 1


def test_delivery_survives_a_receiver_outage_and_an_operator_restart(
    kube: Kube, operator: OperatorProcess, ns: str
) -> None:
    down = Receiver()
    port = down.port
    down.stop()  # nobody listens on the port now: connection refused
    # History keeps no successful Run, yet this one stays until its webhook is delivered.
    kube.create(ns, builders.task("t", successfulRunsHistoryLimit=0))
    kube.create(ns, builders.run("r1", "t", callbackUrl=f"http://127.0.0.1:{port}/late"))
    wait_for(lambda: webhook_state(kube, ns, "r1", {"pending"}).get("attempts", 0) >= 2, what="two failed attempts")
    time.sleep(2)  # longer than the Task controller takes to prune: the Run is kept for its webhook
    assert webhook_state(kube, ns, "r1", {"pending"})
    operator.kill()
    back = Receiver(port)
    try:
        operator.start()
        wait_for(lambda: back.to("/late"), what="the delivery after the restart")
        # Delivered, the Run is no longer held: history (limit 0) prunes it.
        wait_for(lambda: kube.get(ns, "runs", "r1") is None, what="the delivered run to be pruned")
        deliveries = back.to("/late")
        assert len({d.headers["X-Taskops-Delivery"] for d in deliveries}) == 1
    finally:
        back.stop()


def test_200_runs_ending_together_make_200_deliveries(
    kube: Kube, operator: OperatorProcess, ns: str, receiver: Receiver
) -> None:
    kube.create(ns, builders.task("t", successfulRunsHistoryLimit=300))
    for i in range(200):
        kube.create(ns, builders.run(f"r{i}", "t", callbackUrl=receiver.url("/many")))

    def all_delivered() -> bool:
        runs = kube.runs(ns)
        return len(runs) == 200 and all(
            ((r.get("status") or {}).get("webhook") or {}).get("state") == "delivered" for r in runs
        )

    try:
        wait_for(all_delivered, timeout=180, interval=1.0, what="200 deliveries")
    except AssertionError:
        runs = kube.runs(ns)
        seen = Counter(
            ((r.get("status") or {}).get("phase"), ((r.get("status") or {}).get("webhook") or {}).get("state"))
            for r in runs
        )
        raise AssertionError(f"(phase, webhook) counts: {dict(seen)}; received {len(receiver.to('/many'))}") from None
    ids = [r.headers["X-Taskops-Delivery"] for r in receiver.to("/many")]
    assert len(set(ids)) == 200
    # At least once: a duplicate can only come with the same delivery id.
    assert len(ids) - len(set(ids)) <= 5
