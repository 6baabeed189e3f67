"""An informer of a sharded operator keeps only its own namespaces' objects (domain/leadership/shards.py)."""

from __future__ import annotations

from typing import Any, cast

from taskops.clients.informer import Informer
from taskops.clients.kube import KubeClient
from taskops.clients.resources import RUNS
from tests.unit.fakes import FakeKube


def obj(ns: str, name: str, rv: int = 1) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name, "resourceVersion": str(rv)}}


def test_objects_of_other_namespaces_are_dropped_before_the_cache_and_the_listeners() -> None:
    informer = Informer(cast(KubeClient, FakeKube()), RUNS, accept=lambda ns: ns == "mine")
    heard: list[tuple[str, str]] = []
    informer.listen(lambda type_, o: heard.append((type_, o["metadata"]["name"])))
    informer.upsert(obj("mine", "a"))
    informer.upsert(obj("theirs", "b"))
    assert set(informer.items) == {("mine", "a")}
    assert heard == [("MODIFIED", "a")]


def test_without_a_filter_every_namespace_is_kept() -> None:
    informer = Informer(cast(KubeClient, FakeKube()), RUNS)
    informer.upsert(obj("mine", "a"))
    informer.upsert(obj("theirs", "b"))
    assert set(informer.items) == {("mine", "a"), ("theirs", "b")}
