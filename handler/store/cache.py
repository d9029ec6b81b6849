"""A Directory that remembers what it read for a bounded TTL, and may answer stale when the store is down."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from handler.core.errors import StoreUnavailable
from handler.core.ports import Directory
from handler.core.records import GroupView, Token, User
from handler.core.ttlcache import MISSING, TtlCache

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
    ) -> None:
        self._inner = inner
        self._stale_if_error = stale_if_error
        self._tokens: TtlCache[str, Token | None] = TtlCache(ttl, max_entries, clock=clock)
        self._users: TtlCache[str, User | None] = TtlCache(ttl, max_entries, clock=clock)
        self._groups: TtlCache[str, GroupView | None] = TtlCache(ttl, max_entries, clock=clock)

    def _read(self, cache: TtlCache[str, T], key: str, load: Callable[[str], T], what: str) -> T:
        hit = cache.get(key)
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

    def user(self, user_id: str) -> User | None:
        return self._read(self._users, user_id, self._inner.user, "user")

    def group(self, name: str) -> GroupView | None:
        return self._read(self._groups, name, self._inner.group, "group")

    def clear(self) -> None:
        for cache in (self._tokens, self._users, self._groups):
            cache.clear()
