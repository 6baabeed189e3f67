"""A bounded cache whose entries expire: least recently used out first, one entry at a time."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from taskops.domain.resources.clock import SYSTEM

K = TypeVar("K")
V = TypeVar("V")


class TtlLru(Generic[K, V]):
    """At most `size` entries, each until its own expiry.

    A full cache drops its least recently used entry to make room, never more: a flood of new keys
    cannot wipe the entries that are in use (they are moved to the recent end on every hit).
    """

    def __init__(self, size: int, clock: Callable[[], float] = SYSTEM.monotonic) -> None:
        self.size = size
        self._clock = clock
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> tuple[bool, V | None]:
        hit = self._items.get(key)
        if hit is None:
            return False, None
        if hit[0] < self._clock():
            del self._items[key]
            return False, None
        self._items.move_to_end(key)
        return True, hit[1]

    def put(self, key: K, value: V, ttl: float) -> None:
        self._items[key] = (self._clock() + ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def pop(self, key: K) -> None:
        self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items
