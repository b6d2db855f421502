"""Output cache policies behind one protocol: none, LRU by entries, and a byte budget.

Entries are keyed by content hash (``executor.cache_key``) and shared across jobs and
workflows. The executor imports no torch: a value reports its own size through an ``nbytes``
attribute (tensors, arrays and our payload dataclasses have one); values without it count 0.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A node's outputs (one list of values per slot), the UI data it produced and the notes it
    recorded (``RunContext.note``)."""

    outputs: tuple[tuple[Any, ...], ...]
    ui: dict[str, list[Any]] | None
    nbytes: int
    notes: dict[str, Any] | None = None


def value_nbytes(value: Any) -> int:
    """A value's reported ``nbytes``; tuples and lists (CONDITIONING …) sum their items'."""
    if isinstance(value, (tuple, list)):
        return sum(value_nbytes(item) for item in value)
    size = getattr(value, "nbytes", 0)
    return size if isinstance(size, int) else 0


def outputs_nbytes(outputs: tuple[tuple[Any, ...], ...]) -> int:
    """Bytes held by a node's outputs, counting each distinct object once."""
    seen: set[int] = set()
    total = 0
    for slot in outputs:
        for value in slot:
            if id(value) not in seen:
                seen.add(id(value))
                total += value_nbytes(value)
    return total


class OutputCache(Protocol):
    """What the executor needs from a cache policy. Implementations are thread-safe."""

    name: str

    def get(self, key: str) -> CacheEntry | None: ...

    def put(self, key: str, entry: CacheEntry) -> None: ...

    def __contains__(self, key: str) -> bool: ...

    def __len__(self) -> int: ...

    def clear(self) -> None: ...


class NoCache:
    """Keeps nothing: every node runs every time."""

    name = "none"

    def get(self, key: str) -> CacheEntry | None:
        return None

    def put(self, key: str, entry: CacheEntry) -> None:
        return None

    def __contains__(self, key: str) -> bool:
        return False

    def __len__(self) -> int:
        return 0

    def clear(self) -> None:
        return None


class _OrderedCache:
    """Shared LRU machinery: most recently used last."""

    name = "lru"

    def __init__(self) -> None:
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> CacheEntry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: str, entry: CacheEntry) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            self._evict()

    def _evict(self) -> None:
        raise NotImplementedError

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class LruCache(_OrderedCache):
    """Keeps at most ``max_entries`` node results, evicting the least recently used."""

    name = "lru"

    def __init__(self, max_entries: int = 1000) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        super().__init__()
        self.max_entries = max_entries

    def _evict(self) -> None:
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


class ByteBudgetCache(_OrderedCache):
    """Keeps results while their reported bytes fit ``max_bytes``, evicting LRU-first.

    A single result larger than the budget is not kept at all.
    """

    name = "bytes"

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        super().__init__()
        self.max_bytes = max_bytes
        self.used = 0

    def put(self, key: str, entry: CacheEntry) -> None:
        if entry.nbytes > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            self.used -= old.nbytes if old else 0
            self._entries[key] = entry
            self.used += entry.nbytes
            self._evict()

    def _evict(self) -> None:
        while self.used > self.max_bytes and self._entries:
            _, entry = self._entries.popitem(last=False)
            self.used -= entry.nbytes

    def clear(self) -> None:
        super().clear()
        self.used = 0


def make_cache(policy: str, *, max_entries: int = 1000, max_bytes: int = 8 << 30) -> OutputCache:
    """Build a cache by policy name: ``none``, ``lru`` or ``bytes``."""
    if policy == "none":
        return NoCache()
    if policy == "lru":
        return LruCache(max_entries)
    if policy == "bytes":
        return ByteBudgetCache(max_bytes)
    raise ValueError(f"unknown cache policy {policy!r}; choose one of ['bytes', 'lru', 'none']")
