"""The phase / end-reason vocabulary of every seed (domain/resources/phases.py)."""

from __future__ import annotations

from typing import get_args

from taskops.domain.resources.phases import (
    TERMINAL_PHASES,
    EndReason,
    Phase,
    RetryReason,
    phase_of,
    seed000_status,
    seed002_status,
    seed003_status,
)


def test_every_end_reason_has_a_terminal_phase() -> None:
    for reason in EndReason:
        assert phase_of(reason) in TERMINAL_PHASES


def test_retryable_reasons_are_end_reasons_of_a_failed_attempt() -> None:
    assert {phase_of(EndReason(value)) for value in get_args(RetryReason)} == {Phase.FAILED}


def test_seed_vocabularies() -> None:
    assert seed000_status(Phase.SCHEDULED, None) == "pending"
    assert seed000_status(Phase.BLOCKED, None) == "queued"
    assert seed000_status(Phase.STOPPED, EndReason.STOPPED) == "aborted"
    assert seed002_status(Phase.QUEUED, None) == ("pending", None)
    assert seed002_status(Phase.RUNNING, None) == ("running", None)
    assert seed002_status(Phase.FAILED, EndReason.TIMEOUT) == ("ended", "timeout")
    assert seed002_status(Phase.INVALID, EndReason.INVALID) == ("ended", "start_failed")
    assert seed002_status(Phase.PARTIAL_SUCCEEDED, EndReason.PARTIAL_SUCCESS) == ("ended", "failed")
    assert seed003_status(Phase.SUCCEEDED) == "success"
    assert seed003_status(Phase.STOPPED) == "failure"
    assert seed003_status(Phase.BLOCKED) == "in_progress"
