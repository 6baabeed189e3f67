"""Which pods make up a Run's log, in which order (domain/execution/podlogs.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from taskops.domain.execution import batch, podlogs
from tests import builders

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def pod(name: str, attempt: int, *, started: bool = True, created: dt.datetime = T0) -> dict[str, Any]:
    labels = {"taskops.dev/run": "r", "taskops.dev/attempt": str(attempt)}
    if started:
        return builders.pod(name=name, created=created, metadata={"labels": labels})
    return builders.pod(name=name, created=created, waiting="ContainerCreating", metadata={"labels": labels})


def test_pods_are_read_oldest_attempt_first_then_by_creation() -> None:
    later = T0 + dt.timedelta(seconds=5)
    pods = [pod("r-2-a", 2), pod("r-1-b", 1, created=later), pod("r-1-a", 1)]
    assert [p["metadata"]["name"] for p in podlogs.order(pods)] == ["r-1-a", "r-1-b", "r-2-a"]
    step = podlogs.next_pod(pods, {"r-1-a"}, run_ended=False)
    assert step.pod is not None and step.pod["metadata"]["name"] == "r-1-b"


def test_a_pod_not_started_is_waited_for_while_the_run_goes_on_and_skipped_once_it_ended() -> None:
    pods = [pod("r-1-a", 1), pod("r-2-a", 2, started=False)]
    assert podlogs.next_pod(pods, {"r-1-a"}, run_ended=False) == podlogs.Next()
    assert podlogs.next_pod(pods, {"r-1-a"}, run_ended=True) == podlogs.Next(done=True)
    # Everything read: wait for the next attempt, or end with the run.
    assert podlogs.next_pod([pod("r-1-a", 1)], {"r-1-a"}, run_ended=False) == podlogs.Next()
    assert podlogs.next_pod([], set(), run_ended=True).done


def test_markers_name_the_attempt_pod_and_input() -> None:
    assert podlogs.marker(pod("r-2-a", 2)) == b"--- taskops: attempt 2, pod r-2-a ---\n"
    assert podlogs.marker(pod("r-2-a", 2), 7) == b"--- taskops: attempt 2 (input 7), pod r-2-a ---\n"
    assert podlogs.unreadable(pod("p", 1), "gone").startswith(podlogs.MARKER_PREFIX.encode())


def test_a_batch_input_is_found_through_a_resume_attempts_index_map() -> None:
    assert podlogs.completion_index(None, 7) == 7
    mapping = batch.parse_index_map(batch.index_map_text([3, 7, 9]))
    assert podlogs.completion_index(mapping, 7) == 1
    assert podlogs.completion_index(mapping, 4) is None
    assert podlogs.run_selector("r", 2, 1) == (
        "taskops.dev/run=r,taskops.dev/attempt=2,batch.kubernetes.io/job-completion-index=1"
    )
