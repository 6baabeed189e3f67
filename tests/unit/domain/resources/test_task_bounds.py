"""Values beyond what Kubernetes and Python's clocks hold: refused with a field error, or sent exactly.

Mainly the Task model (domain/resources/task.py); also covers clients/kube.py's JSON encoder (`_dumps`).
"""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from taskops.clients.kube import _dumps
from taskops.domain.resources.task import Task
from tests import builders


def test_integers_beyond_64_bits_are_sent_exactly() -> None:
    body = {"spec": {"params": {"n": 5297303084935858356224}}, "small": 1}
    assert json.loads(_dumps(body)) == body


@pytest.mark.parametrize("field", ["ttlSecondsAfterFinished", "startingDeadlineSeconds", "timeoutSeconds"])
def test_durations_beyond_int32_are_refused_by_name(field: str) -> None:
    with pytest.raises(ValidationError, match="less than or equal to 2147483647"):
        Task.model_validate(builders.task("t", **{field: 2**40}))
    Task.model_validate(builders.task("t", **{field: 2**31 - 1}))
