"""The REST API under load while the operator is SIGKILLed and restarted: no 5xx (the Kubernetes API stays
up, so not even the documented 503 is expected), and every run the API accepted ends."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import pytest
import requests

from tests import builders
from tests.chaos.checks import Expected, outcome, wait_ended
from tests.chaos.killer import Killer
from tests.chaos.scale import SCALE, SEED, report
from tests.integration.api import Caller
from tests.integration.kube import Kube
from tests.integration.processes import OperatorProcess


class Load:
    """`threads` clients as fast as answered: some requests trigger runs, the others list runs or read one back."""

    def __init__(self, api: Caller, task: str, threads: int, triggers: float, seed: int) -> None:
        self.api = api
        self.task = task
        self.triggers = triggers
        self.codes: Counter[int] = Counter()
        self.created: list[str] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._client, args=(random.Random(seed + i),), daemon=True) for i in range(threads)
        ]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    def _call(self, rng: random.Random) -> None:
        pick = rng.random()
        trigger = pick < self.triggers
        if trigger:
            resp = self.api.post(f"/api/v1/tasks/{self.task}/run")
        elif pick < 0.6 or not self.created:
            resp = self.api.get("/api/v1/runs", params={"limit": "20"})
        else:
            resp = self.api.get(f"/api/v1/runs/{rng.choice(self.created)}")
        with self._lock:
            self.codes[resp.status_code] += 1
            if resp.status_code >= 500:
                self.errors.append(f"{resp.status_code} {resp.request.method} {resp.url}: {resp.text[:200]}")
            elif trigger and resp.status_code in (200, 201, 202):
                self.created.append(resp.json()["id"])

    def _client(self, rng: random.Random) -> None:
        while not self._stop.is_set():
            try:
                self._call(rng)
            except requests.RequestException as e:
                with self._lock:
                    self.codes[0] += 1
                    self.errors.append(f"no answer: {e}")


@pytest.mark.timeout(SCALE.timeout)
def test_api_under_load_while_the_operator_restarts(
    kube: Kube, operator: OperatorProcess, api: Caller, ns: str
) -> None:
    kube.create(ns, builders.task("load", pod_annotations=builders.pod_behaviour(duration="200ms"), maxRetries=0,
                                  successfulRunsHistoryLimit=100_000))  # fmt: skip
    rng = random.Random(SEED)
    started = time.monotonic()
    load = Load(api, "load", SCALE.load_threads, SCALE.load_triggers, SEED)
    with Killer(operator, SCALE.kill_every, rng) as killer, load:
        time.sleep(SCALE.load_seconds)
    expected = {name: Expected("SUCCEEDED", "success") for name in load.created}
    runs = wait_ended(kube, ns, set(expected), SCALE.deadline, interval=2.0)
    seconds = time.monotonic() - started
    ended = outcome(runs, expected)
    server_errors = sum(n for code, n in load.codes.items() if code >= 500 or code == 0)
    counts = {
        "requests": sum(load.codes.values()),
        "runs": len(expected),
        "restarts": killer.kills,
        "2xx": sum(n for code, n in load.codes.items() if 200 <= code < 300),
        "4xx": sum(n for code, n in load.codes.items() if 400 <= code < 500),
        "5xx": server_errors,
        "rps": int(sum(load.codes.values()) / SCALE.load_seconds),
        **ended.counts(),
    }
    report("api-load", counts, seconds)
    assert killer.kills >= 2, "the operator was killed more than once"
    assert server_errors == 0, load.errors[:5]
    assert counts["4xx"] == 0, load.codes
    assert ended.counts() == {"lost": 0, "stuck": 0, "wrong_end": 0}, ended.explain()
