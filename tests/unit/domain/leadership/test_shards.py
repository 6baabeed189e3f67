"""Which shard owns a namespace: stable, total, spread; each shard's Lease name and labels."""

from __future__ import annotations

import collections

import pytest

from taskops.domain.leadership import shards
from taskops.domain.leadership.shards import Shard


def test_every_namespace_belongs_to_exactly_one_shard() -> None:
    for count in (1, 2, 3, 7):
        for i in range(200):
            ns = f"team-{i}"
            assert sum(Shard(index, count).owns(ns) for index in range(count)) == 1


def test_the_hash_is_pinned() -> None:
    """Every replica of every shard, of any version, must agree (Python's hash() is salted per process): a change
    of these values would move namespaces between shards on an upgrade."""
    assert [shards.shard_of(f"ns-{i}", 7) for i in range(10)] == [0, 2, 1, 1, 6, 5, 6, 4, 3, 5]


def test_namespaces_spread_evenly() -> None:
    counts = collections.Counter(shards.shard_of(f"tenant-{i}", 4) for i in range(4000))
    assert set(counts) == {0, 1, 2, 3}
    assert all(900 <= n <= 1100 for n in counts.values()), counts


def test_one_shard_keeps_the_unsharded_lease_name() -> None:
    assert Shard().lease_name("taskops-operator") == "taskops-operator"
    assert Shard(2, 3).lease_name("taskops-operator") == "taskops-operator-2-of-3"
    assert Shard(2, 3).lease_labels("x") == {shards.LABEL_LEASE: "x", shards.LABEL_SHARDS: "3"}
    assert shards.lease_count({"metadata": {"labels": {shards.LABEL_SHARDS: "3"}}}) == 3
    assert shards.lease_count({"metadata": {}}) is None


@pytest.mark.parametrize(
    ("text", "error"),
    [("3", "INDEX/COUNT"), ("a/2", "INDEX/COUNT"), ("2/2", "index must be 0 to 1"), ("0/0", "count must be 1 to")],
)
def test_a_malformed_shard_names_what_it_wants(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        shards.parse(text)


def test_parse() -> None:
    assert shards.parse("1/3") == Shard(1, 3)
    with pytest.raises(ValueError, match="1 to 63"):
        shards.check_base_name("x" * 64)
