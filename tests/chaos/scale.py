"""How big the chaos scenarios are, and where their counts go.

`TASKOPS_CHAOS=full` gives the issue's numbers (`make chaos`); anything else the
short version that `make test` runs in a couple of minutes. A seed makes a run's
random choices repeatable: `TASKOPS_CHAOS_SEED=1234`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

from tests.paths import REPO


@dataclass(frozen=True)
class Scale:
    name: str
    runs: int
    kill_every: tuple[float, float]
    pod_duration: str
    etcd_pause: float
    control_runs: int
    webhook_runs: int
    webhook_outage: float
    load_seconds: float
    load_threads: int
    # Share of the load's requests that trigger a run (the rest read): enough runs to keep the operator busy.
    load_triggers: float
    deadline: float
    # How long cron Tasks fire every few seconds while the operator is killed (test_schedule_kills).
    fire_window: float
    # How many copies of that scenario's eight Tasks fire (each copy with concurrency keys and an agent of its own).
    fire_copies: int
    # In that scenario, the share of kills that keep the operator down, and for how long (seconds): past 10 s a
    # fire is missed and its Task's missedPolicy decides it (docs/schedules.md).
    outage_share: float
    outage_seconds: tuple[float, float]
    # Each kill lands within this many seconds after a whole second, while that second's fires are in flight.
    fire_aim: float

    @property
    def timeout(self) -> float:
        """Of one test (pytest-timeout): the scenario's own deadline plus setup and checks."""
        return self.deadline + self.load_seconds + 180


SHORT = Scale(
    name="short",
    runs=60,
    kill_every=(2.0, 4.0),
    pod_duration="500ms",
    etcd_pause=4.0,
    control_runs=4,
    webhook_runs=20,
    webhook_outage=5.0,
    load_seconds=12.0,
    load_threads=3,
    load_triggers=0.1,
    deadline=150.0,
    fire_window=75.0,
    fire_copies=1,
    outage_share=0.25,
    outage_seconds=(11.0, 16.0),
    fire_aim=0.3,
)
FULL = Scale(
    name="full",
    runs=1000,
    kill_every=(2.0, 10.0),
    pod_duration="1s",
    etcd_pause=10.0,
    control_runs=20,
    webhook_runs=200,
    webhook_outage=30.0,
    load_seconds=120.0,
    load_threads=6,
    load_triggers=0.03,
    deadline=1800.0,
    fire_window=300.0,
    fire_copies=3,
    outage_share=0.2,
    outage_seconds=(11.0, 20.0),
    fire_aim=0.3,
)
SCALE = FULL if os.environ.get("TASKOPS_CHAOS") == "full" else SHORT
SEED = int(os.environ.get("TASKOPS_CHAOS_SEED") or time.time_ns() % 1_000_000)
# The full run's counts are the ones quoted (bench/results/); the short run inside `make test` must not
# change a tracked file, so its counts go with the other test output.
RESULTS = REPO / ("bench/results" if SCALE is FULL else "test-output") / "chaos.json"
# Shown again in pytest's terminal summary: without -s the live print is captured.
SUMMARY: list[str] = []


def report(scenario: str, counts: dict[str, int], seconds: float) -> None:
    """One line of counts to quote, and the same counts under the scenario's key in RESULTS."""
    figures = " ".join(f"{k}={v}" for k, v in counts.items())
    line = f"chaos {scenario}: {figures} in {seconds:.0f} s (scale={SCALE.name} seed={SEED})"
    print(f"\n{line}")
    SUMMARY.append(line)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[scenario] = {"scale": SCALE.name, "seed": SEED, "seconds": round(seconds, 1), **counts}
    RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
