"""The API's request bodies (api/schemas.py): unknown fields refused, updates partial."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from taskops.api import schemas


def test_task_bodies_refuse_unknown_fields_and_updates_are_partial() -> None:
    with pytest.raises(ValidationError, match="colour"):
        schemas.TaskCreate.model_validate({"payload": {"spec": {}}, "colour": "red"})
    assert schemas.TaskUpdate.model_validate({"max_retries": 1}).model_dump(exclude_unset=True) == {"max_retries": 1}
    with pytest.raises(ValidationError):
        schemas.TaskUpdate.model_validate({"max_retries": -1})
