"""GET /api/v1/runs/{id}/logs on the real control plane: a followed log goes on with a retry's new pod and ends
with the run; a batch run's log is that of one input. kwok serves every fake pod's log (devcluster/logs.yaml)."""

from __future__ import annotations

import time

from tests import builders
from tests.integration.api import Caller, assert_problem, make_task
from tests.integration.kube import Kube

LINES = ["taskops fake pod: started", "taskops fake pod: working", "taskops fake pod: done"]
ENDED = {"SUCCEEDED", "FAILED", "STOPPED", "INVALID", "PARTIAL_SUCCEEDED"}


def test_a_followed_log_continues_with_the_retrys_pod_and_ends_when_the_run_ends(
    api: Caller, kube: Kube, ns: str
) -> None:
    pods = {"kwok.taskops.dev/fail-attempts": "1", "kwok.taskops.dev/duration": "2s"}
    make_task(api, "flaky", pods=pods, max_retries=2, backoff_strategy="fixed", backoff_seconds=1)
    run = api.post("/api/v1/tasks/flaky/run_now").json()
    started = time.monotonic()
    # Followed from before its first pod exists: the answer starts at once and waits for it.
    with api.get(f"/api/v1/runs/{run['id']}/logs", params={"follow": "true"}, stream=True) as followed:
        assert followed.status_code == 200, followed.text
        assert followed.headers["Content-Type"].startswith("text/plain")
        lines = [line.decode() for line in followed.iter_lines() if line]
    ended = kube.run(ns, run["id"])["status"]
    # The stream ended with the run (not at its maximum duration), after both attempts' logs, in order.
    assert ended["phase"] == "SUCCEEDED" and ended["attempt"] == 2, ended
    assert time.monotonic() - started < 60
    marker = f"--- taskops: attempt 2, pod {run['id']}-2-"
    assert lines[:3] == LINES and lines[3].startswith(marker) and lines[4:] == LINES, lines

    # Read afterwards without follow: the same log, both attempts.
    again = api.get(f"/api/v1/runs/{run['id']}/logs")
    assert again.status_code == 200 and again.text.count("taskops fake pod: done") == 2
    assert again.text.splitlines()[3].startswith(marker)
    assert_problem(api.get(f"/api/v1/runs/{run['id']}/logs", params={"index": "0"}), 422, "query.index")


def test_a_batch_runs_log_is_one_inputs_and_index_is_required(api: Caller, kube: Kube, ns: str) -> None:
    make_task(api, "b", pods=builders.pod_behaviour(duration="200ms"), batch={"parallelism": 5})
    resp = api.post("/api/v1/actions/b/async", json={"inputs": [{"n": i} for i in range(5)]})
    assert resp.status_code == 201, resp.text
    run = kube.wait_run_phase(ns, resp.json()["id"], ENDED, timeout=90)
    assert run["status"]["phase"] == "SUCCEEDED", run["status"]
    name = run["metadata"]["name"]
    one = api.get(f"/api/v1/runs/{name}/logs", params={"index": "3", "follow": "true"})
    assert one.status_code == 200 and one.text.splitlines() == LINES, one.text
    assert_problem(api.get(f"/api/v1/runs/{name}/logs"), 422, "query.index")
    assert_problem(api.get(f"/api/v1/runs/{name}/logs", params={"index": "5"}), 422, "query.index")
