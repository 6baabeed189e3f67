"""Standard conditions, kept with stable transition times."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from taskops.domain.resources.base import Condition

Status = Literal["True", "False", "Unknown"]


def set_condition(
    conditions: list[Condition] | None,
    ctype: str,
    status: Status,
    reason: str,
    message: str,
    now: dt.datetime,
    generation: int | None = None,
) -> list[Condition]:
    """Return the list with `ctype` set; its transition time moves only when its status changes."""
    out = list(conditions or [])
    at = next((i for i, cond in enumerate(out) if cond.type == ctype), None)
    old = out[at] if at is not None else None
    new = Condition(
        type=ctype,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=old.last_transition_time if old is not None and old.status == status else now,
        observed_generation=generation,
    )
    if at is None:
        out.append(new)
    else:
        out[at] = new
    return out
