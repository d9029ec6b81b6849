"""A small, bounded, time-to-live memo. Reads take no lock; writes take one, since under `serve` the event loop
and a worker thread filling from the store may write at once (handler/web/app.py)."""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, Literal, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Missing(enum.Enum):
    MISSING = enum.auto()


MISSING: Literal[Missing.MISSING] = Missing.MISSING


class TtlCache(Generic[K, V]):
    """Entries live `ttl` seconds. Past `max_entries` (or `max_weight`, when a weigher is given) the oldest go first.

    Expired entries are kept until evicted, so a caller may ask for a stale value when the source is down.
    With `tag`, each key has a tag (a digest of it, say) and `discard_tagged` drops keys by tag without a scan. Two
    keys with one tag are never both held: the second in evicts the first, so no key escapes its tag's discard.
    """

    def __init__(
        self,
        ttl: float,
        max_entries: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        weigh: Callable[[V], int] | None = None,
        max_weight: int = 0,
        tag: Callable[[K], Hashable] | None = None,
    ) -> None:
        self.ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._weigh = weigh
        self._max_weight = max_weight
        self._weight = 0
        self._entries: dict[K, tuple[float, V]] = {}
        # Each entry's weight when put: a value that grows after (a Listing rendering more) is weighed again only
        # when put again, and its discard must take back what was counted, not what it weighs by then.
        self._weights: dict[K, int] = {}
        self._tag = tag
        self._tagged: dict[Hashable, K] = {}
        self._writing = threading.Lock()

    def get(self, key: K) -> V | Literal[Missing.MISSING]:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            return MISSING
        return entry[1]

    def get_stale(self, key: K, max_staleness: float) -> V | Literal[Missing.MISSING]:
        """The value even if expired, as long as it expired no more than `max_staleness` seconds ago."""
        entry = self._entries.get(key)
        if entry is None or entry[0] + max_staleness <= self._clock():
            return MISSING
        return entry[1]

    def put(self, key: K, value: V) -> None:
        with self._writing:
            self._discard(key)
            if self._tag is not None:
                tag = self._tag(key)
                if tag in self._tagged:
                    self._discard(self._tagged[tag])
                self._tagged[tag] = key
            self._entries[key] = (self._clock() + self.ttl, value)
            if self._weigh is not None:
                weight = self._weights[key] = self._weigh(value)
                self._weight += weight
            while self._entries and (
                len(self._entries) > self._max_entries or (self._weigh is not None and self._weight > self._max_weight)
            ):
                self._discard(next(iter(self._entries)))

    def discard(self, key: K) -> None:
        with self._writing:
            self._discard(key)

    def discard_tagged(self, tags: Iterable[Hashable]) -> int:
        """Drop the key held under each tag; how many were held."""
        with self._writing:
            held = [self._tagged[tag] for tag in tags if tag in self._tagged]
            for key in held:
                self._discard(key)
            return len(held)

    def clear(self) -> None:
        with self._writing:
            self._entries.clear()
            self._weights.clear()
            self._tagged.clear()
            self._weight = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _discard(self, key: K) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        if self._weigh is not None:
            self._weight -= self._weights.pop(key)
        if self._tag is not None:
            self._tagged.pop(self._tag(key), None)
