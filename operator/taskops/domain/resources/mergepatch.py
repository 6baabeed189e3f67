"""JSON merge patches (RFC 7386), as the API server applies them to objects and their status."""

from __future__ import annotations

from typing import Any


def merged(target: Any, patch: Any) -> Any:
    """What the API server stores after a JSON merge patch (objects merge key by key, null deletes).

    An update's needs are judged on this, not on the patch (domain/access/authorship.py): a payload patch that
    leaves out `serviceAccountName` keeps the stored one, so it still runs as that account.
    """
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merged(out.get(key), value)
    return out


def replacing(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The merge patch that turns `old` into `new` at the top level: a field `new` no longer sets is sent as null."""
    return {**{k: None for k in old if k not in new}, **new}
