"""A least-recently-used map of strings bounded by bytes, with an age limit, safe across threads.

Each entry belongs to an owner (the model that computed it), so what it holds and what it evicts
can be counted per model. An entry's size is what Python takes for its key and value
(`sys.getsizeof`) plus a fixed overhead for the map's own bookkeeping: an estimate of the memory
it holds, never below it by much. The bound counts entries only, not the map itself.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

# Bytes per entry beyond its key and value: the map's node and this module's record of it.
ENTRY_OVERHEAD = 160


def entry_size(key: str, value: str) -> int:
    """Bytes an entry is counted as."""
    return sys.getsizeof(key) + sys.getsizeof(value) + ENTRY_OVERHEAD


@dataclass(frozen=True)
class _Entry:
    value: str
    owner: str
    size: int
    expires: float


class ByteLRU:
    """Holds at most `max_bytes` (see `entry_size`) of entries, each for at most `ttl_s`.

    `put` evicts the least recently used entries until the new one fits, and returns the owners
    of those it evicted; an entry larger than the whole bound is not kept. `get` refreshes an
    entry's recency (not its age) and drops it once expired.
    """

    def __init__(
        self,
        max_bytes: int,
        *,
        ttl_s: float = float("inf"),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes: Counter[str] = Counter()
        self._total = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        """The value under `key`, or None when absent or expired."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.expires <= self._clock():
                self._remove(key)
                return None
            self._entries.move_to_end(key)
            return entry.value

    def put(self, key: str, value: str, owner: str) -> list[str]:
        """Keep `value` under `key` for `owner`; the owners of the entries evicted for it."""
        size = entry_size(key, value)
        with self._lock:
            if key in self._entries:
                self._remove(key)
            if size > self.max_bytes:
                return []
            evicted = []
            while self._total + size > self.max_bytes:
                oldest = next(iter(self._entries))
                evicted.append(self._entries[oldest].owner)
                self._remove(oldest)
            self._entries[key] = _Entry(value, owner, size, self._clock() + self.ttl_s)
            self._bytes[owner] += size
            self._total += size
            return evicted

    def bytes_of(self, owner: str) -> int:
        """Bytes held for `owner`."""
        with self._lock:
            return self._bytes[owner]

    @property
    def total_bytes(self) -> int:
        with self._lock:
            return self._total

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes.clear()
            self._total = 0

    def _remove(self, key: str) -> None:
        entry = self._entries.pop(key)
        self._bytes[entry.owner] -= entry.size
        self._total -= entry.size
