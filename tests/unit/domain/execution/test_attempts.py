"""How an attempt ended, read from its Job and pods: one row per end reason."""

from __future__ import annotations

import pytest

from taskops.domain.execution.attempts import observe
from taskops.domain.resources.phases import EndReason
from tests.builders import T0, job, pod


@pytest.mark.parametrize(
    ("job_obj", "pods", "reason", "exit_code", "message_part"),
    [
        (job(condition="Complete"), [pod(0)], EndReason.SUCCESS, 0, "successfully"),
        (job(condition="Complete"), [], EndReason.SUCCESS, 0, "successfully"),
        (
            job(condition="Failed", reason="BackoffLimitExceeded"),
            [pod(3, "Error")],
            EndReason.FAILED,
            3,
            "exited with code 3",
        ),
        (job(condition="Failed"), [pod(137, "OOMKilled")], EndReason.CRASHED, 137, "OOMKilled"),
        (job(condition="Failed"), [pod(143, "Error")], EndReason.CRASHED, 143, "signal 15"),
        (
            job(condition="Failed", reason="DeadlineExceeded", message="Job was active longer than specified"),
            [pod(None)],
            EndReason.TIMEOUT,
            None,
            "active longer",
        ),
        (job(condition="Failed", message="pods failed"), [], EndReason.FAILED, None, "pods failed"),
    ],
)
def test_outcomes(
    job_obj: dict[str, object],
    pods: list[dict[str, object]],
    reason: EndReason,
    exit_code: int | None,
    message_part: str,
) -> None:
    outcome = observe(job_obj, pods)  # type: ignore[arg-type]
    assert outcome is not None
    assert outcome.reason == reason
    assert outcome.exit_code == exit_code
    assert message_part in outcome.message
    assert outcome.finished_at == T0


def test_unfinished_job_has_no_outcome() -> None:
    assert observe(job(), [pod(None)]) is None
    assert observe(job(condition="Suspended"), []) is None


def test_termination_message_is_kept() -> None:
    outcome = observe(job(condition="Complete"), [pod(0, message='{"ok": true}')])
    assert outcome is not None and outcome.termination_message == '{"ok": true}'


def test_first_non_zero_container_decides() -> None:
    outcome = observe(job(condition="Failed"), [pod(2, containers=3)])
    assert outcome is not None and outcome.exit_code == 2
