"""The phase / end-reason vocabulary of every seed (domain/resources/phases.py)."""

from __future__ import annotations

from typing import get_args

from taskops.domain.resources import names
from taskops.domain.resources.phases import (
    TERMINAL_PHASES,
    EndReason,
    Phase,
    RetryReason,
    phase_of,
    raw_phase,
    seed000_status,
    seed002_status,
    seed003_status,
)
from taskops.domain.views.run import phase_and_reason


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


def test_a_run_made_ahead_reads_scheduled_until_its_first_status_write() -> None:
    # It gets no status write before its fire (docs/schedules.md): the API and the plugin still show it SCHEDULED.
    ahead = {"metadata": {"annotations": {names.ANNOTATION_AHEAD: "3"}}}
    assert raw_phase(ahead) == "SCHEDULED"
    assert raw_phase({"metadata": {}}) == "CREATED"
    assert raw_phase({**ahead, "status": {"phase": "RUNNING"}}) == "RUNNING"
    assert phase_and_reason(ahead) == (Phase.SCHEDULED, None)
