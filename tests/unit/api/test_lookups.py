"""Finding a Task or Run by integer id (api/lookups.py over the cache's index, api/cache.py): without a scan, the
same object under every identifier, and a 409 naming both objects where an identifier names two."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import pytest

from taskops.api import lookups
from taskops.api.cache import Cache
from taskops.api.context import Services
from taskops.api.problems import Problem
from taskops.clients.kube import KubeClient
from taskops.domain.resources import numericids
from tests import builders
from tests.unit.fakes import FakeKube

NS = "team"


def _meta(uid: str, ns: str = NS, rv: int = 1) -> dict[str, Any]:
    return {"namespace": ns, "uid": uid, "resourceVersion": str(rv)}


def _task(name: str, uid: str, rv: int = 1) -> dict[str, Any]:
    return builders.task(name, metadata=_meta(uid, rv=rv))


def _run(name: str, uid: str) -> dict[str, Any]:
    return builders.run(name, metadata=_meta(uid))


def _services() -> tuple[Services, Cache]:
    cache = Cache(cast(KubeClient, FakeKube()), None)
    return cast(Services, SimpleNamespace(cache=cache, client=FakeKube())), cache


def _problem(call: Any) -> Problem:
    with pytest.raises(Problem) as caught:
        asyncio.run(call)
    return caught.value


def test_a_task_and_a_run_are_found_by_their_integer_id_as_by_name_and_uid() -> None:
    svc, cache = _services()
    cache.tasks.upsert(_task("export", "uid-task"))
    cache.runs.upsert(_run("export-x1", "uid-run"))
    task_id, run_id = numericids.of_uid("uid-task"), numericids.of_uid("uid-run")
    for ident in ("export", "uid-task", str(task_id)):
        assert asyncio.run(lookups.find_task(svc, NS, ident))["metadata"]["name"] == "export", ident
    for ident in ("export-x1", "uid-run", str(run_id)):
        assert asyncio.run(lookups.find_run(svc, NS, ident))["metadata"]["name"] == "export-x1", ident
    # Another namespace's object is not found by its id here.
    assert _problem(lookups.find_run(svc, "other", str(run_id))).status == 404


def test_the_index_follows_deletes_and_an_object_made_again_under_its_name() -> None:
    svc, cache = _services()
    old = _task("export", "uid-old")
    cache.tasks.upsert(old)
    # Made again while the watch was away: the same key with a new uid, hence a new id; the old id is gone.
    cache.tasks.upsert(_task("export", "uid-new", rv=2))
    assert _problem(lookups.find_task(svc, NS, str(numericids.of(old)))).status == 404
    assert asyncio.run(lookups.find_task(svc, NS, str(numericids.of_uid("uid-new"))))["metadata"]["uid"] == "uid-new"
    cache.tasks.forget(cache.tasks.items[(NS, "export")])
    assert cache.tasks_numbered(NS, numericids.of_uid("uid-new") or 0) == []


def test_an_all_digit_name_that_is_another_tasks_id_is_a_409_naming_both() -> None:
    svc, cache = _services()
    cache.tasks.upsert(_task("export", "uid-a"))
    number = str(numericids.of_uid("uid-a"))
    # A DNS name may be all digits: a Task named like another's id. Neither wins silently.
    cache.tasks.upsert(_task(number, "uid-b"))
    problem = _problem(lookups.find_task(svc, NS, number))
    assert problem.status == 409 and '"export"' in problem.detail and f'"{number}"' in problem.detail
    # Its uid still addresses each; and a digit name no task's id equals is just a name.
    assert asyncio.run(lookups.find_task(svc, NS, "uid-b"))["metadata"]["name"] == number
    cache.tasks.upsert(_task("4242", "uid-c"))
    assert asyncio.run(lookups.find_task(svc, NS, "4242"))["metadata"]["uid"] == "uid-c"


def test_two_runs_whose_ids_collide_are_a_409_naming_both(monkeypatch: pytest.MonkeyPatch) -> None:
    real = numericids.of
    monkeypatch.setattr(numericids, "of", lambda obj: 7 if obj["metadata"]["uid"] in ("u1", "u2") else real(obj))
    svc, cache = _services()
    cache.runs.upsert(_run("r1", "u1"))
    cache.runs.upsert(_run("r2", "u2"))
    problem = _problem(lookups.find_run(svc, NS, "7"))
    assert problem.status == 409 and '"r1" and "r2"' in problem.detail
    assert asyncio.run(lookups.find_run(svc, NS, "r2"))["metadata"]["uid"] == "u2"
