"""Output cache policies behind one protocol: none, LRU by entries, and a byte budget.

The server's default is the byte budget, sized from the RAM available at start
(``make_cache("bytes")``: a quarter of it; ``serve --cache-bytes`` sets it).

Entries are keyed by content hash (``executor.cache_key``) and shared across jobs and
workflows. The executor imports no torch: a value reports its own size through an ``nbytes``
attribute (tensors, arrays and our payload dataclasses have one); values without it count 0.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from executor.memory import default_cache_bytes


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
    """Shared LRU machinery (most recently used last), bounded by entries and/or bytes.

    A single result larger than the byte budget is not kept at all.
    """

    name = "lru"

    def __init__(self, max_entries: int | None, max_bytes: int | None) -> None:
        if max_entries is not None and max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        if max_bytes is not None and max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.used = 0

    def get(self, key: str) -> CacheEntry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: str, entry: CacheEntry) -> None:
        if self.max_bytes is not None and entry.nbytes > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            self.used -= old.nbytes if old else 0
            self._entries[key] = entry
            self.used += entry.nbytes
            self._evict()

    def _over(self) -> bool:
        return (self.max_entries is not None and len(self._entries) > self.max_entries) or (
            self.max_bytes is not None and self.used > self.max_bytes)

    def _evict(self) -> None:
        while self._entries and self._over():
            _, entry = self._entries.popitem(last=False)
            self.used -= entry.nbytes

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
            self.used = 0


class LruCache(_OrderedCache):
    """Keeps at most ``max_entries`` node results (and, when given, ``max_bytes`` of them),
    evicting the least recently used."""

    name = "lru"

    def __init__(self, max_entries: int = 1000, max_bytes: int | None = None) -> None:
        super().__init__(max_entries, max_bytes)


class ByteBudgetCache(_OrderedCache):
    """Keeps results while their reported bytes fit ``max_bytes``, evicting LRU-first; also at
    most ``max_entries`` results, so values that report no size cannot pile up."""

    name = "bytes"

    def __init__(self, max_bytes: int, max_entries: int = 100_000) -> None:
        super().__init__(max_entries, max_bytes)


def make_cache(policy: str, *, max_entries: int | None = None,
               max_bytes: int | None = None) -> OutputCache:
    """Build a cache by policy name: ``none``, ``lru`` (entries, plus ``max_bytes`` if given)
    or ``bytes`` (``max_bytes``, default a quarter of the RAM available now:
    ``executor.memory.default_cache_bytes``)."""
    if policy == "none":
        return NoCache()
    if policy == "lru":
        return LruCache(max_entries or 1000, max_bytes)
    if policy == "bytes":
        budget = max_bytes if max_bytes is not None else default_cache_bytes()
        return ByteBudgetCache(budget, max_entries or 100_000)
    raise ValueError(f"unknown cache policy {policy!r}; choose one of ['bytes', 'lru', 'none']")
