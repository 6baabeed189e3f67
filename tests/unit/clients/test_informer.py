"""The informer's cache: read your own writes and deletes, never an older copy after either; a sharded operator's
informer keeps only its own namespaces (domain/leadership/shards.py)."""

from __future__ import annotations

from typing import Any

from taskops.clients.informer import Informer
from taskops.clients.resources import TASKS
from tests import builders
from tests.unit.fakes import FakeKube


def _task(rv: int, name: str = "t") -> dict[str, Any]:
    return builders.task(name, metadata={"namespace": "ns", "resourceVersion": str(rv)})


def _informer() -> tuple[Informer, list[tuple[str, str]]]:
    informer = Informer(FakeKube(), TASKS)  # type: ignore[arg-type]
    seen: list[tuple[str, str]] = []
    informer.listen(lambda type_, obj: seen.append((type_, obj["metadata"]["resourceVersion"])))
    return informer, seen


def test_an_upsert_never_replaces_a_newer_copy() -> None:
    informer, seen = _informer()
    informer.upsert(_task(5))
    informer.upsert(_task(3))
    assert informer.get("ns", "t") == _task(5) and seen == [("MODIFIED", "5")]


def test_a_forgotten_object_is_gone_at_once_and_late_events_do_not_bring_it_back() -> None:
    informer, seen = _informer()
    informer.upsert(_task(5))
    informer.forget(_task(5), _task(6))
    assert informer.get("ns", "t") is None and seen[-1] == ("DELETED", "5")
    informer._apply("MODIFIED", _task(6))  # the watch delivers an update from before the delete
    assert informer.get("ns", "t") is None
    informer._apply("DELETED", _task(7))  # then the delete itself
    informer._apply("ADDED", _task(8))  # and a new object of the same name is kept
    assert informer.get("ns", "t") == _task(8)


def test_a_new_object_of_the_same_name_is_not_hidden_by_an_earlier_delete() -> None:
    informer, _ = _informer()
    informer.upsert(_task(5))
    informer.forget(_task(5))
    informer._apply("ADDED", _task(9))  # the watch never sent the DELETED (it was compacted into a newer state)
    assert informer.get("ns", "t") == _task(9)
    informer.forget(_task(9))
    informer.upsert(_task(4, name="other"))
    assert informer.get("ns", "t") is None and informer.get("ns", "other") == _task(4, name="other")


def test_objects_of_other_namespaces_are_dropped_before_the_cache_and_the_listeners() -> None:
    informer = Informer(FakeKube(), TASKS, accept=lambda ns: ns == "ns")  # type: ignore[arg-type]
    heard: list[str] = []
    informer.listen(lambda type_, obj: heard.append(obj["metadata"]["namespace"]))
    informer.upsert(_task(1))
    informer.upsert(builders.task("t", metadata={"namespace": "theirs", "resourceVersion": "2"}))
    assert set(informer.items) == {("ns", "t")} and heard == ["ns"]
