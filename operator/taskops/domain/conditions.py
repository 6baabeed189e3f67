"""Standard conditions, kept with stable transition times."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from taskops.domain.models.base import Condition

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
    for i, cond in enumerate(out):
        if cond.type == ctype:
            moved = cond.status != status
            out[i] = Condition(
                type=ctype,
                status=status,
                reason=reason,
                message=message,
                last_transition_time=now if moved else cond.last_transition_time,
                observed_generation=generation,
            )
            return out
    out.append(
        Condition(
            type=ctype,
            status=status,
            reason=reason,
            message=message,
            last_transition_time=now,
            observed_generation=generation,
        )
    )
    return out
