"""Integer ids of Tasks and Runs, for clients that number them (seed 003's `task_id`, `task_run_id`).

A Kubernetes object has a name and a uid, no number, and a counter is no answer: a restart, or two API
replicas, would hand the same number out twice. So an object's integer id is a function of its uid alone:
the first 64 bits of the uid's SHA-256, reduced to 1 ... 2^53 - 1 (`Number.MAX_SAFE_INTEGER`, so a JavaScript
client holds it exactly). The same object has the same id in every process, before and after any restart,
and nothing is stored: there is nothing to lose in a crash. A Task deleted and created again under the same
name is a new object with a new uid, hence a new id (as a database row's would be).

Why a hash rather than the uid's own first bits: a uid is an opaque string to clients (Kubernetes API
conventions), and where it is a version-4 UUID its first 13 hex digits hold a fixed version digit (48 random
bits of 52); a hash uses every bit of whatever the uid is.

Two objects of one kind in one namespace share an id with probability about n² / 2^54 for n of them (10^5
Runs: 6e-7). Whoever resolves an id must still handle it: the API answers 409 naming both
(docs/api.md, "Names and ids").
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

MAX = 2**53 - 1
# The canonical decimal form only ("0123" and "+5" are not ids); 16 digits hold MAX.
_DECIMAL = re.compile(r"[1-9][0-9]{0,15}")


def of_uid(uid: str | None) -> int | None:
    """The integer id of the object with this uid (None without a uid: an object not yet stored)."""
    if not uid:
        return None
    digest = hashlib.sha256(uid.encode()).digest()
    return int.from_bytes(digest[:8], "big") % MAX + 1


def of(obj: Mapping[str, Any]) -> int | None:
    """The integer id of a Kubernetes object (a Task or a Run, as a dict)."""
    return of_uid((obj.get("metadata") or {}).get("uid"))


def parse(ident: str) -> int | None:
    """`ident` as an integer id when it can be one (a decimal 1 … MAX in canonical form), else None.

    A Task may also be *named* so (a DNS name may be all digits): the caller decides between the two.
    """
    if _DECIMAL.fullmatch(ident) is None:
        return None
    number = int(ident)
    return number if number <= MAX else None
