"""Seed bodies that do something: 003's built-in overrides, 004's CRON schedules and batch inputs validated
like params, and queue_full answered in the request when the queue is already full."""

from __future__ import annotations

from tests import builders
from tests.integration.api import Caller, assert_problem, make_task
from tests.integration.kube import Kube, wait_for


def _phase(kube: Kube, ns: str, name: str) -> str | None:
    return (kube.run(ns, name).get("status") or {}).get("phase")


def test_a_full_queue_is_refused_in_the_request(api: Caller, kube: Kube, ns: str) -> None:
    make_task(
        api, "db", pods=builders.pod_behaviour(duration="60s"), max_retries=0,
        concurrency_key="db", concurrency_limit=1, max_queued=1,
    )  # fmt: skip
    first = api.post("/api/v1/tasks/db/run").json()["id"]
    wait_for(lambda: _phase(kube, ns, first) == "RUNNING", 30, what="the key to be held")
    second = api.post("/api/v1/tasks/db/run").json()["id"]
    wait_for(lambda: _phase(kube, ns, second) in ("QUEUED", "BLOCKED"), 30, what="one run waiting")
    # The API's own view of the Runs must have caught up with the operator's status writes.
    wait_for(
        lambda: api.post("/api/v1/tasks/db/run", params={"validate_only": "true"}).status_code == 409,
        10,
        what="the API to see the queue full",
    )
    before = len(kube.runs(ns))
    full = assert_problem(api.post("/api/v1/tasks/db/run"), 409, "task.concurrency_key")
    assert full["type"].endswith("/queue-full") and full["detail"].startswith("queue_full:"), full
    assert len(kube.runs(ns)) == before, "a refused request writes nothing"
    # Seed 000's route says the same; a higher priority would overtake the waiting run: the operator decides.
    assert_problem(api.post("/api/v1/integrations/executions", json={"task_id": "db"}), 409)
    higher = api.post("/api/v1/integrations/executions", json={"task_id": "db", "priority": 10})
    assert higher.status_code == 201, higher.text
