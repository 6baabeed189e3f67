"""Sharding the operator by namespace, the pure part: which shard owns a namespace, and each shard's Lease.

A namespace belongs to exactly one of N shards: the first 8 bytes of the SHA-256 of its name, read as an
integer, modulo N. The hash is stable across processes, versions and Python builds (Python's own `hash()` is
salted per process), so every replica of every shard agrees without talking to the others. Everything
taskops counts against a limit is namespaced (concurrency keys, Agents: docs/queueing.md), so a shard sees
the whole of every limit it enforces.

Each shard elects its own leader over its own Lease. The Lease name carries the shard count as well as the
index, and every shard Lease carries the count as a label: a leader of one count waits, before it acts,
until no Lease of another count is held (`conflicting`), so the shards of an old and a new count never act on
the same namespace while the shard count is being changed. One shard keeps the single-process Lease name, so
an upgrade that does not shard keeps its Lease.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

# A bound on the shard count: past it the per-shard watch cost (every shard reads every namespace's events)
# dominates, see docs/benchmarks.md; it also keeps Lease names short.
MAX_SHARDS = 64
# The labels every operator Lease carries: the base Lease name (one per release: selecting on it finds the Leases
# of every shard count of this release, and no other release's) and the shard count it was taken for.
LABEL_LEASE = "taskops.dev/operator-lease"
LABEL_SHARDS = "taskops.dev/operator-shards"
# A label value's limit: the base Lease name is one.
MAX_BASE_NAME = 63


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (0 <= index < count)."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise ValueError(f"the shard count must be 1 to {MAX_SHARDS}, not {self.count}")
        if not 0 <= self.index < self.count:
            raise ValueError(f"the shard index must be 0 to {self.count - 1}, not {self.index}")

    def owns(self, namespace: str) -> bool:
        return self.count == 1 or shard_of(namespace, self.count) == self.index

    def lease_labels(self, base: str) -> dict[str, str]:
        return {LABEL_LEASE: base, LABEL_SHARDS: str(self.count)}

    def lease_name(self, base: str) -> str:
        """`base` alone for one shard (the Lease an unsharded operator holds), else `base-INDEX-of-COUNT`."""
        return base if self.count == 1 else f"{base}-{self.index}-of-{self.count}"


def shard_of(namespace: str, count: int) -> int:
    """The shard (0 to count-1) that owns `namespace`."""
    digest = hashlib.sha256(namespace.encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def parse(text: str) -> Shard:
    """`INDEX/COUNT` (the operator's --shard flag), e.g. `0/3`; a malformed value names what it expected."""
    index, sep, count = text.partition("/")
    try:
        if not sep:
            raise ValueError
        return Shard(int(index), int(count))
    except ValueError as exc:
        detail = f": {exc}" if str(exc) else ""
        raise ValueError(f"a shard is INDEX/COUNT (e.g. 0/3), not {text!r}{detail}") from None


def check_base_name(base: str) -> str:
    """The base Lease name is also a label value (LABEL_LEASE): at most 63 characters."""
    if not 1 <= len(base) <= MAX_BASE_NAME:
        raise ValueError(f"the lease name must be 1 to {MAX_BASE_NAME} characters, not {len(base)}")
    return base


def lease_count(lease: dict[str, Any]) -> int | None:
    """The shard count a Lease was taken for (its label), None for a Lease of another kind."""
    labels = (lease.get("metadata") or {}).get("labels") or {}
    text = labels.get(LABEL_SHARDS)
    return int(text) if isinstance(text, str) and text.isdigit() else None
