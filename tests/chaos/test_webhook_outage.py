"""The webhook receiver is down while runs end (and the operator is killed meanwhile): once it is back,
every run's callback is delivered. Delivery is at least once (docs/webhooks.md): a repeat must carry the
delivery id of a run, and every run's id must arrive."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests import builders
from tests.chaos.checks import Expected, outcome, wait_ended
from tests.chaos.scale import SCALE, report
from tests.integration.kube import Kube, wait_for
from tests.integration.processes import OperatorProcess
from tests.integration.receiver import Receiver


def hook(run: dict[str, Any]) -> dict[str, Any]:
    return dict((run.get("status") or {}).get("webhook") or {})


@pytest.mark.timeout(SCALE.timeout)
def test_webhook_receiver_outage(kube: Kube, operator: OperatorProcess, ns: str) -> None:
    down = Receiver()
    port = down.port
    down.stop()  # nobody listens on the port now: every attempt is refused
    kube.create(ns, builders.task("hook", pod_annotations=builders.pod_behaviour(duration="200ms"), maxRetries=0,
                                  successfulRunsHistoryLimit=100_000))  # fmt: skip
    url = f"http://127.0.0.1:{port}/hook"
    expected = {f"h{i:03d}": Expected("SUCCEEDED", "success") for i in range(SCALE.webhook_runs)}
    started = time.monotonic()
    for name in expected:
        kube.create(ns, builders.run(name, "hook", callbackUrl=url))
    runs = wait_ended(kube, ns, set(expected), SCALE.deadline)
    wait_for(
        lambda: all(hook(r).get("attempts", 0) >= 1 for r in kube.runs(ns)),
        60,
        what="a refused attempt for every run",
    )
    operator.kill()
    time.sleep(1)
    operator.start()
    time.sleep(max(0.0, SCALE.webhook_outage - (time.monotonic() - started)))
    refused = {r["metadata"]["name"]: hook(r).get("attempts", 0) for r in kube.runs(ns)}
    back = Receiver(port)
    try:
        wait_for(
            lambda: all(hook(r).get("state") == "delivered" for r in kube.runs(ns)),
            SCALE.deadline,
            interval=1.0,
            what="every callback delivered",
        )
        time.sleep(1)  # any late repeat
        ids = [r.headers["X-Taskops-Delivery"] for r in back.to("/hook")]
    finally:
        back.stop()
    seconds = time.monotonic() - started
    runs = {r["metadata"]["name"]: r for r in kube.runs(ns)}
    uids = {r["metadata"]["uid"] for r in runs.values()}
    ended = outcome(runs, expected)
    counts = {
        "runs": len(expected),
        "refused_attempts": sum(refused.values()),
        "delivered": len(set(ids) & uids),
        "repeats": len(ids) - len(set(ids)),
        "unknown_ids": len(set(ids) - uids),
        "undelivered": len(uids - set(ids)),
        **ended.counts(),
    }
    report("webhook-outage", counts, seconds)
    assert ended.counts() == {"lost": 0, "stuck": 0, "wrong_end": 0}, ended.explain()
    assert (counts["delivered"], counts["undelivered"], counts["unknown_ids"]) == (len(expected), 0, 0), counts
