"""One thread-safe least-recently-used cache for the memos the workbench's sessions share (keyword masks, LF
columns, snorkel's gold figures per LF)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class LRUCache:
    """Values by key, least recently used evicted first beyond `max_items` or beyond `max_bytes` (the total
    `size` of the values; a value larger than `max_bytes` is not kept). Thread-safe: sessions share it."""

    def __init__(self, *, max_bytes: int | None = None, max_items: int | None = None,
                 size: Callable[[Any], int] = lambda value: 0):
        self.max_bytes, self.max_items, self._size = max_bytes, max_items, size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._drops: list[Callable[[Hashable], bool]] = []  # discard() requests, applied under the lock

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            self._apply_drops()
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any) -> Any:
        """Keep `value` under `key` (as the most recently used) and return it."""
        size = self._size(value)
        with self._lock:
            self._apply_drops()
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= self._size(old)
            if self.max_bytes is None or size <= self.max_bytes:
                self._items[key] = value
                self._bytes += size
            while self._items and ((self.max_bytes is not None and self._bytes > self.max_bytes)
                                   or (self.max_items is not None and len(self._items) > self.max_items)):
                self._bytes -= self._size(self._items.popitem(last=False)[1])
        return value

    def discard(self, drop: Callable[[Hashable], bool]) -> None:
        """Forget the entries whose key `drop` accepts. Without taking the lock (list.append is atomic): it is
        called from finalizers, which the garbage collector may run in a thread that holds the lock."""
        self._drops.append(drop)

    def _apply_drops(self) -> None:
        while self._drops:
            drop = self._drops.pop()
            for key in [k for k in self._items if drop(k)]:
                self._bytes -= self._size(self._items.pop(key))

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        with self._lock:
            self._apply_drops()
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            self._apply_drops()
            return len(self._items)
