"""Runs over 10 concurrency keys (limits 1-5) and 3 agents while the operator is SIGKILLed at random intervals.

Afterwards: no Job duplicated for any attempt, no limit exceeded (from Run
admission times and from Job times), no Run lost or stuck, and every Run
ended as its pod behaviour says it must.
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from tests import builders
from tests.chaos.checks import Expected, job_violations, outcome, run_violations, wait_ended
from tests.chaos.jobwatch import JobWatch
from tests.chaos.killer import Killer
from tests.chaos.scale import SCALE, SEED, report
from tests.integration.kube import Kube
from tests.integration.processes import OperatorProcess

KEYS = 10
AGENTS = {"agent-0": 4, "agent-1": 6, "agent-2": 8}
HISTORY = 100_000  # no Run is pruned while it is being counted


def kinds(duration: str) -> dict[str, tuple[dict[str, str], dict[str, Any], Expected, int]]:
    """Kind of run: (pod behaviour, task spec, expected end, weight in the mix)."""
    return {
        "ok": (builders.pod_behaviour(duration=duration), {"maxRetries": 0}, Expected("SUCCEEDED", "success"), 7),
        "fail": (
            builders.pod_behaviour(duration=duration, exit_code=1),
            {"maxRetries": 0},
            Expected("FAILED", "failed"),
            1,
        ),
        "crash": (
            builders.pod_behaviour(duration=duration, exit_code=137, reason="OOMKilled"),
            {"maxRetries": 0},
            Expected("FAILED", "crashed"),
            1,
        ),
        # The first attempt fails and the retry succeeds: two Jobs, one per attempt, and never a third.
        "retry": (
            {"kwok.taskops.dev/fail-attempts": "1", "kwok.taskops.dev/duration": duration},
            {"maxRetries": 1, "backoffStrategy": "fixed", "backoffSeconds": 1},
            Expected("SUCCEEDED", "success", attempts=2),
            1,
        ),
    }


@pytest.mark.timeout(SCALE.timeout)
def test_kill_loop(kube: Kube, operator: OperatorProcess, ns: str) -> None:
    rng = random.Random(SEED)
    mix = kinds(SCALE.pod_duration)
    key_of: dict[str, str] = {}
    agent_of: dict[str, str] = {}
    limits: dict[str, int] = dict(AGENTS)
    for agent, capacity in AGENTS.items():
        kube.create(ns, builders.agent(agent, capacity))
    for k in range(KEYS):
        key, agent = f"key-{k}", f"agent-{k % len(AGENTS)}"
        limits[key] = 1 + k % 5
        for kind, (pod, spec, _, _) in mix.items():
            task = f"{key}-{kind}"
            key_of[task], agent_of[task] = key, agent
            kube.create(ns, builders.task(task, pod_annotations=pod, concurrencyKey=key, concurrencyLimit=limits[key],
                                          agent=agent, successfulRunsHistoryLimit=HISTORY,
                                          failedRunsHistoryLimit=HISTORY, **spec))  # fmt: skip

    expected: dict[str, Expected] = {}
    watch = JobWatch(kube, ns).start()
    started = time.monotonic()
    with Killer(operator, SCALE.kill_every, rng) as killer:
        for i in range(SCALE.runs):
            kind = rng.choices(list(mix), weights=[w for *_, w in mix.values()])[0]
            task = f"key-{rng.randrange(KEYS)}-{kind}"
            name = f"r{i:04d}-{kind}"
            kube.create(ns, builders.run(name, task))
            expected[name] = mix[kind][2]
        runs = wait_ended(kube, ns, set(expected), SCALE.deadline, interval=2.0 if SCALE.runs > 200 else 1.0)
    seconds = time.monotonic() - started
    time.sleep(1)  # the watch's last events
    watch.stop()

    ours = [runs[n] for n in expected if n in runs]
    jobs = watch.snapshot()
    violations = (
        run_violations(ours, key_of, limits)
        + run_violations(ours, agent_of, limits)
        + job_violations(jobs, key_of, limits)
        + job_violations(jobs, agent_of, limits)
    )
    ended = outcome(runs, expected)
    counts = {
        "runs": len(expected),
        "jobs": len(jobs),
        "restarts": killer.kills,
        "duplicates": watch.duplicates(),
        "violations": violations,
        **ended.counts(),
    }
    report("kill-loop", counts, seconds)
    assert killer.kills >= 2, "the operator was killed more than once"
    assert (counts["duplicates"], counts["violations"]) == (0, 0), counts
    assert ended.counts() == {"lost": 0, "stuck": 0, "wrong_end": 0}, ended.explain()
