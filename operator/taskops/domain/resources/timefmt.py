"""RFC 3339 times as Kubernetes objects and the API carry them: the one place that reads and writes them.

Kubernetes writes `metav1.Time` in whole seconds (`2026-01-02T03:04:05Z`) and
`metav1.MicroTime` (a Lease's renewTime, an Event's eventTime) with six
fractional digits; taskops' own fields keep whatever precision they have
(`datetime.isoformat`), always in UTC with a `Z`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any


def parse(text: str) -> dt.datetime:
    """An RFC 3339 time (`Z` or an offset); ValueError when it is not one."""
    return dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))


def parse_optional(value: Any) -> dt.datetime | None:
    """A time field of a raw object: None when absent or empty; a datetime is taken as it is."""
    if not value:
        return None
    if isinstance(value, dt.datetime):
        return value
    return parse(str(value))


def stamp(at: dt.datetime) -> str:
    """`at` in UTC, RFC 3339 with `Z`, to the microsecond when it has any."""
    return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def stamp_seconds(at: dt.datetime) -> str:
    """A `metav1.Time`: UTC, whole seconds."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stamp_micro(at: dt.datetime) -> str:
    """A `metav1.MicroTime`: UTC, six fractional digits."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
