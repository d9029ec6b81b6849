"""A Directory that remembers what it read for a bounded TTL, and may answer stale when the store is down."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from handler.core.errors import StoreUnavailable
from handler.core.ports import Directory
from handler.core.records import GroupView, Token, User
from handler.core.ttlcache import MISSING, TtlCache
from handler.metrics import Metrics

log = logging.getLogger("modelgate.cache")
T = TypeVar("T")


class CachedDirectory:
    """Within the TTL a repeated lookup costs no request; unknown keys are remembered too.

    Stale-if-error: when the store fails, a record that expired at most `stale_if_error` seconds ago is
    served instead of an error. A record that was never read is never invented.
    """

    def __init__(
        self,
        inner: Directory,
        *,
        ttl: float,
        max_entries: int,
        stale_if_error: float,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
    ) -> None:
        self._inner = inner
        self._metrics = metrics if metrics is not None else Metrics.off()
        self._stale_if_error = stale_if_error
        self._tokens: TtlCache[str, Token | None] = TtlCache(ttl, max_entries, clock=clock)
        self._users: TtlCache[str, User | None] = TtlCache(ttl, max_entries, clock=clock)
        self._groups: TtlCache[str, GroupView | None] = TtlCache(ttl, max_entries, clock=clock)

    def _read(self, cache: TtlCache[str, T], key: str, load: Callable[[str], T], what: str) -> T:
        hit = cache.get(key)
        self._metrics.cache_lookup(hit is not MISSING)
        if hit is not MISSING:
            return hit
        try:
            value = load(key)
        except StoreUnavailable:
            stale = cache.get_stale(key, self._stale_if_error)
            if stale is MISSING:
                raise
            log.warning("store unavailable; serving a stale %s record", what)
            return stale
        cache.put(key, value)
        return value

    def token(self, key_hash: str) -> Token | None:
        return self._read(self._tokens, key_hash, self._inner.token, "token")

    def tokens(self, key_hashes: Sequence[str]) -> Mapping[str, Token]:
        """Only the hashes not cached go to the store, in one request; each answer is cached, absence included."""
        found: dict[str, Token] = {}
        missing = []
        for key_hash in key_hashes:
            hit = self._tokens.get(key_hash)
            self._metrics.cache_lookup(hit is not MISSING)
            if hit is MISSING:
                missing.append(key_hash)
            elif hit is not None:
                found[key_hash] = hit
        if not missing:
            return found
        try:
            loaded = self._inner.tokens(missing)
        except StoreUnavailable:
            stale = {key_hash: self._tokens.get_stale(key_hash, self._stale_if_error) for key_hash in missing}
            if any(value is MISSING for value in stale.values()):
                raise
            log.warning("store unavailable; serving a stale token record")
            return found | {key_hash: value for key_hash, value in stale.items() if isinstance(value, Token)}
        for key_hash in missing:
            self._tokens.put(key_hash, loaded.get(key_hash))
        return found | dict(loaded)

    def user(self, user_id: str) -> User | None:
        return self._read(self._users, user_id, self._inner.user, "user")

    def group(self, name: str) -> GroupView | None:
        return self._read(self._groups, name, self._inner.group, "group")

    def clear(self) -> None:
        for cache in (self._tokens, self._users, self._groups):
            cache.clear()
