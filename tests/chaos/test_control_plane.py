"""kube-apiserver restarted mid-run and etcd paused: the operator and the API recover by themselves.

Runs are created before, between and after the two outages (and through the
API during them); all of them end as they should, no Job is duplicated, the
operator and API processes are the very same ones, and the API answered
nothing but 2xx and its documented 503 all along.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
import requests

from devcluster.cluster import Cluster
from tests import builders
from tests.chaos.checks import Expected, outcome, wait_ended
from tests.chaos.jobwatch import JobWatch
from tests.chaos.scale import SCALE, report
from tests.integration.api import ApiProcess, Caller
from tests.integration.kube import Kube, wait_for
from tests.integration.processes import OperatorProcess

SUCCESS = Expected("SUCCEEDED", "success")


class Prober:
    """Triggers a run and lists runs through the API every 0.25 s, counting answers by status code."""

    def __init__(self, api: Caller, task: str) -> None:
        self.api = api
        self.task = task
        self.codes: Counter[int] = Counter()
        self.created: list[str] = []
        self.bad: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="api-prober", daemon=True)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _record(self, resp: requests.Response) -> None:
        self.codes[resp.status_code] += 1
        if resp.status_code >= 500:
            documented = (
                resp.status_code == 503
                and resp.headers.get("Content-Type", "").startswith("application/problem+json")
                and resp.headers.get("Retry-After") == "1"
            )
            if not documented:
                self.bad.append(f"{resp.status_code} {resp.request.method} {resp.url}: {resp.text[:200]}")

    def _loop(self) -> None:
        while not self._stop.wait(0.25):
            try:
                trigger = self.api.post(f"/api/v1/tasks/{self.task}/run")
                self._record(trigger)
                if trigger.status_code in (200, 201, 202):
                    self.created.append(trigger.json()["id"])
                self._record(self.api.get("/api/v1/runs", params={"limit": "5"}))
            except requests.RequestException as e:
                # The API must answer during the outage, not hang past the client's timeout or drop the connection.
                self.codes[0] += 1
                self.bad.append(f"no answer: {e}")


@pytest.mark.timeout(SCALE.timeout)
def test_apiserver_restart_and_etcd_pause(
    cluster: Cluster, kube: Kube, operator: OperatorProcess, api_process: ApiProcess, api: Caller, ns: str
) -> None:
    assert operator.proc is not None
    operator_pid, api_pid, operator_starts = operator.proc.pid, api_process.proc.pid, operator.starts
    kube.create(ns, builders.task("cp", pod_annotations=builders.pod_behaviour(duration="2s"), maxRetries=0,
                                  successfulRunsHistoryLimit=100_000))  # fmt: skip
    expected: dict[str, Expected] = {}

    def create(prefix: str) -> None:
        for i in range(SCALE.control_runs):
            kube.create(ns, builders.run(f"{prefix}-{i}", "cp"))
            expected[f"{prefix}-{i}"] = SUCCESS

    watch = JobWatch(kube, ns).start()
    started = time.monotonic()
    with Prober(api, "cp") as prober:
        create("before")
        wait_for(lambda: len(kube.jobs(ns)) >= SCALE.control_runs, 30, what="the first runs to be running")
        cluster.restart_apiserver()
        create("between")
        # Writes wait for the stalled storage; reads from the watch caches do not.
        with cluster.etcd_paused():
            time.sleep(SCALE.etcd_pause)
        create("after")
    for name in prober.created:
        expected[name] = SUCCESS
    runs = wait_ended(kube, ns, set(expected), SCALE.deadline)
    seconds = time.monotonic() - started
    time.sleep(1)
    watch.stop()

    ended = outcome(runs, expected)
    same_processes = (
        operator.running() and operator.proc.pid == operator_pid and operator.starts == operator_starts,
        api_process.proc.poll() is None and api_process.proc.pid == api_pid,
    )
    counts = {
        "runs": len(expected),
        "api_runs": len(prober.created),
        "api_requests": sum(prober.codes.values()),
        "api_503": prober.codes[503],
        "api_other_5xx": len(prober.bad),
        "operator_restarts": int(not same_processes[0]),
        "api_restarts": int(not same_processes[1]),
        "duplicates": watch.duplicates(),
        "watch_reconnects": watch.reconnects,
        **ended.counts(),
    }
    report("control-plane", counts, seconds)
    assert same_processes == (True, True), "the operator and the API recover without a restart of their own"
    assert not prober.bad, prober.bad[:5]
    assert counts["duplicates"] == 0, counts
    assert ended.counts() == {"lost": 0, "stuck": 0, "wrong_end": 0}, ended.explain()
    assert requests.get(f"{api_process.url}/readyz", timeout=5).status_code == 200
