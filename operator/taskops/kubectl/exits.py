"""The exit codes of `kubectl taskops` (docs/cli.md): kubectl's own for errors, a waited run's outcome otherwise."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskops.domain.resources.phases import EndReason, Phase

OK = 0
# An error: the API server refused, the object is not there, a flag's value is wrong (as kubectl: 1).
ERROR = 1
# The command line itself is malformed (argparse's code).
USAGE = 2
# A batch run ended PARTIAL_SUCCEEDED: some inputs failed.
PARTIAL = 3
# The run is INVALID, or its params were refused before anything was created (sysexits' EX_DATAERR).
INVALID = 65
# --timeout elapsed before the run ended: the run goes on (GNU timeout's code).
WAIT_TIMEOUT = 124
# An attempt ran past its deadline (end reason timeout): 128 + SIGALRM, what a shell reports for a timer's kill.
RUN_TIMEOUT = 142
# The run was stopped (canceled, or ended skipped, missed, queue_full, dst_skipped): 128 + SIGINT.
STOPPED = 130

CODES = {
    "succeeded": OK,
    "error": ERROR,
    "usage": USAGE,
    "partial": PARTIAL,
    "invalid": INVALID,
    "wait timeout": WAIT_TIMEOUT,
    "run timeout": RUN_TIMEOUT,
    "stopped": STOPPED,
}


def of_run(run: Mapping[str, Any]) -> int:
    """What `--wait` exits with for an ended run: 0, the container's exit code on failure, or a code above."""
    status = run.get("status") or {}
    phase, reason, code = status.get("phase"), status.get("endReason"), status.get("exitCode")
    if phase == Phase.SUCCEEDED:
        return OK
    if phase == Phase.PARTIAL_SUCCEEDED:
        return PARTIAL
    if phase == Phase.INVALID:
        return INVALID
    if phase == Phase.STOPPED:
        return STOPPED
    if reason == EndReason.TIMEOUT:
        return RUN_TIMEOUT
    if isinstance(code, int) and 0 < code < 256:
        return code
    # Failed without a code of its own (crashed, start_failed, a signal's 128+n beyond a byte): a plain failure.
    return ERROR
