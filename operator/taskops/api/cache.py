"""The API's view of the cluster: one informer for Tasks, one for Runs, and the waiters on them.

`wait=true` requests park a future here; the Runs informer resolves it when
the Run's status turns terminal. Ten thousand waiters are ten thousand futures
and one watch.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from taskops.api.views import slim
from taskops.clients.informer import Informer, Key, key_of
from taskops.clients.kube import KubeClient
from taskops.clients.resources import RUNS, TASKS
from taskops.domain.resources import numericids
from taskops.domain.resources.apinames import task_api_name
from taskops.domain.resources.phases import is_terminal, raw_phase


def _terminal(run: dict[str, Any]) -> bool:
    return is_terminal(raw_phase(run))


def _expire(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Numbered:
    """Objects by integer id (domain/resources/numericids.py): a lookup by id without a scan of every object.

    Kept per object key, so an object whose uid changed (deleted and made again while the watch was away) moves
    to its new id. Several keys per id only when ids collide (or across namespaces): rare, so a tuple.
    """

    def __init__(self) -> None:
        self._keys: dict[int, tuple[Key, ...]] = {}
        self._number: dict[Key, int] = {}

    def update(self, type_: str, obj: dict[str, Any]) -> None:
        key = key_of(obj)
        old = self._number.pop(key, None)
        if old is not None:
            rest = tuple(k for k in self._keys.get(old, ()) if k != key)
            if rest:
                self._keys[old] = rest
            else:
                self._keys.pop(old, None)
        number = numericids.of(obj) if type_ != "DELETED" else None
        if number is not None:
            self._number[key] = number
            self._keys[number] = (*self._keys.get(number, ()), key)

    def find(self, namespace: str, number: int) -> list[Key]:
        return sorted(k for k in self._keys.get(number, ()) if k[0] == namespace)


class Cache:
    def __init__(self, client: KubeClient, namespace: str | None) -> None:
        self.tasks = Informer(client, TASKS, namespace, transform=slim)
        self.runs = Informer(client, RUNS, namespace, transform=slim)
        self._task_uids: dict[str, Key] = {}
        self._run_uids: dict[str, Key] = {}
        self._task_numbers = _Numbered()
        self._run_numbers = _Numbered()
        self._waiters: dict[Key, set[asyncio.Future[None]]] = defaultdict(set)
        self.tasks.listen(self._index(self._task_uids))
        self.runs.listen(self._index(self._run_uids))
        self.tasks.listen(self._task_numbers.update)
        self.runs.listen(self._run_numbers.update)
        self.runs.listen(self._wake)
        self._tasks: list[asyncio.Task[None]] = []

    @staticmethod
    def _index(index: dict[str, Key]) -> Any:
        def update(type_: str, obj: dict[str, Any]) -> None:
            uid = obj["metadata"].get("uid")
            if not uid:
                return
            if type_ == "DELETED":
                index.pop(uid, None)
            else:
                index[uid] = key_of(obj)

        return update

    def _wake(self, type_: str, obj: dict[str, Any]) -> None:
        if type_ != "DELETED" and not _terminal(obj):
            return
        for future in self._waiters.pop(key_of(obj), ()):
            if not future.done():
                future.set_result(None)

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(i.run()) for i in (self.tasks, self.runs)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def synced(self) -> bool:
        return self.tasks.synced.is_set() and self.runs.synced.is_set()

    def task(self, namespace: str, ident: str) -> dict[str, Any] | None:
        """A Task by object name or uid."""
        found = self.tasks.get(namespace, ident)
        if found is None and (key := self._task_uids.get(ident)) and key[0] == namespace:
            found = self.tasks.items.get(key)
        return found

    def run(self, namespace: str, ident: str) -> dict[str, Any] | None:
        """A Run by name or uid."""
        found = self.runs.get(namespace, ident)
        if found is None and (key := self._run_uids.get(ident)) and key[0] == namespace:
            found = self.runs.items.get(key)
        return found

    def tasks_numbered(self, namespace: str, number: int) -> list[dict[str, Any]]:
        """The Tasks whose integer id is `number` (more than one only on a collision)."""
        return [t for k in self._task_numbers.find(namespace, number) if (t := self.tasks.items.get(k)) is not None]

    def runs_numbered(self, namespace: str, number: int) -> list[dict[str, Any]]:
        """The Runs whose integer id is `number` (more than one only on a collision)."""
        return [r for k in self._run_numbers.find(namespace, number) if (r := self.runs.items.get(k)) is not None]

    def task_name(self, namespace: str, object_name: str) -> str:
        """The API name of a Task (differs from the object name for names Kubernetes does not allow)."""
        task = self.tasks.get(namespace, object_name)
        return task_api_name(object_name, task["metadata"].get("annotations") if task else None)

    def tasks_in(self, namespace: str) -> list[dict[str, Any]]:
        return [obj for (ns, _), obj in self.tasks.items.items() if ns == namespace]

    def runs_in(self, namespace: str) -> list[dict[str, Any]]:
        return [obj for (ns, _), obj in self.runs.items.items() if ns == namespace]

    async def wait(self, namespace: str, name: str, seconds: float) -> dict[str, Any] | None:
        """The Run once it ended, or as it is after `seconds`."""
        key = (namespace, name)
        current = self.runs.items.get(key)
        if current is not None and _terminal(current):
            return current
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._waiters[key].add(future)
        # A bare timer, not asyncio.wait_for: ten thousand waiters should not mean ten thousand extra wrappers.
        timer = loop.call_later(seconds, _expire, future)
        try:
            await future
        finally:
            timer.cancel()
            waiting = self._waiters.get(key)
            if waiting is not None:
                waiting.discard(future)
                if not waiting:
                    del self._waiters[key]
        return self.runs.items.get(key, current)

    @property
    def waiting(self) -> int:
        return sum(len(w) for w in self._waiters.values())
