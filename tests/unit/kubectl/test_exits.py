"""What `--wait` exits with, for each way a run can end."""

from __future__ import annotations

from typing import Any

import pytest

from taskops.kubectl import exits


def ended(phase: str, reason: str | None = None, code: int | None = None) -> dict[str, Any]:
    return {"status": {"phase": phase, "endReason": reason, "exitCode": code}}


@pytest.mark.parametrize(
    ("run", "code"),
    [
        (ended("SUCCEEDED", "success", 0), 0),
        (ended("FAILED", "failed", 3), 3),
        (ended("FAILED", "failed", 255), 255),
        (ended("FAILED", "crashed", None), exits.ERROR),
        (ended("FAILED", "failed", 0), exits.ERROR),  # failed, yet no code of its own: never 0
        (ended("FAILED", "failed", 300), exits.ERROR),  # not a byte
        (ended("FAILED", "timeout", 137), exits.RUN_TIMEOUT),
        (ended("PARTIAL_SUCCEEDED", "partial_success"), exits.PARTIAL),
        (ended("INVALID", "invalid"), exits.INVALID),
        (ended("STOPPED", "stopped"), exits.STOPPED),
        (ended("STOPPED", "queue_full"), exits.STOPPED),
    ],
)
def test_exit_code_of_an_ended_run(run: dict[str, Any], code: int) -> None:
    assert exits.of_run(run) == code


def test_the_documented_codes_are_distinct() -> None:
    assert len(set(exits.CODES.values())) == len(exits.CODES)
