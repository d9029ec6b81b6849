"""A Directory that remembers what it read until the table changes, and may answer stale when the store is down.

The table holds one change marker that every registry write increments in its own transaction. A warm container
reads the marker at most once per `revalidate` seconds, and only when a request arrives. While the marker holds
still, everything cached stays valid (tokens, users, group views, unknown keys too); when it moves, all of them are
dropped and read again. `max_age` bounds how long anything is trusted, whatever the marker says.

Where a lookup must read anyway, the marker comes in the same round trip (TransactGetItems with the token or the
user), so a cold call still costs at most three sequential requests.

Stale-if-error: when the store fails, what is cached answers for `stale_if_error` seconds past the moment it was
due for revalidation (or past its max age), instead of an error: a refused key stays refused. A record never read
is never invented.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol, TypeVar

from handler.core.errors import StoreUnavailable
from handler.core.ports import Directory
from handler.core.records import GroupView, Token, User
from handler.core.ttlcache import MISSING, TtlCache
from handler.metrics import Metrics

log = logging.getLogger("modelgate.cache")
T = TypeVar("T")


class RevisionedDirectory(Directory, Protocol):
    """A Directory that also reads the change marker, alone or with the records a lookup needs anyway."""

    def revision(self) -> int: ...

    def tokens_at_revision(self, key_hashes: Sequence[str]) -> tuple[Mapping[str, Token], int]: ...

    def user_at_revision(self, user_id: str) -> tuple[User | None, int]: ...


class CachedDirectory:
    def __init__(
        self,
        inner: RevisionedDirectory,
        *,
        revalidate: float,
        max_age: float,
        max_entries: int,
        stale_if_error: float,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
    ) -> None:
        self._inner = inner
        self._metrics = metrics if metrics is not None else Metrics.off()
        self._revalidate = revalidate
        self._stale_if_error = stale_if_error
        self._clock = clock
        self._revision: int | None = None  # the marker as last read; None: never read
        self._confirmed_at = -math.inf  # when it was last read
        self._tokens: TtlCache[str, Token | None] = TtlCache(max_age, max_entries, clock=clock)
        self._users: TtlCache[str, User | None] = TtlCache(max_age, max_entries, clock=clock)
        self._groups: TtlCache[str, GroupView | None] = TtlCache(max_age, max_entries, clock=clock)

    # -- the marker -------------------------------------------------------------------------------------------

    def _due(self) -> bool:
        return self._revision is None or self._clock() - self._confirmed_at >= self._revalidate

    def _observe(self, revision: int) -> None:
        """Record the marker just read; when it moved, nothing cached can be trusted any more."""
        if revision != self._revision:
            if self._revision is not None:
                log.info("table changed (revision %d to %d); cached records dropped", self._revision, revision)
            self.clear()
        self._revision = revision
        self._confirmed_at = self._clock()

    def _confirm(self) -> None:
        """Read the marker alone, when due. On a fault, what is cached may answer only within the stale window."""
        if not self._due():
            return
        try:
            revision = self._inner.revision()
        except StoreUnavailable:
            trusted_until = self._confirmed_at + self._revalidate
            if self._revision is None or self._clock() - trusted_until > self._stale_if_error:
                raise
            log.debug("store unavailable; serving cached records")
            return
        self._observe(revision)

    # -- lookups ----------------------------------------------------------------------------------------------

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
            log.debug("store unavailable; serving a stale %s record", what)
            return stale
        cache.put(key, value)
        return value

    def token(self, key_hash: str) -> Token | None:
        return self.tokens([key_hash]).get(key_hash)

    def tokens(self, key_hashes: Sequence[str]) -> Mapping[str, Token]:
        """Only the hashes not cached go to the store, in one request (with the marker, when due); each answer is
        cached, absence included."""
        if self._due() and any(self._tokens.get(h) is MISSING for h in key_hashes):
            self._count(MISSING for _ in key_hashes)
            return self._load_tokens(key_hashes, with_revision=True)
        self._confirm()
        hits = {h: self._tokens.get(h) for h in key_hashes}
        self._count(hits.values())
        if any(value is MISSING for value in hits.values()):
            return self._load_tokens(key_hashes, with_revision=False)
        return {h: value for h, value in hits.items() if isinstance(value, Token)}

    def _count(self, hits: Iterable[object]) -> None:
        for hit in hits:
            self._metrics.cache_lookup(hit is not MISSING)

    def _load_tokens(self, key_hashes: Sequence[str], *, with_revision: bool) -> Mapping[str, Token]:
        try:
            if with_revision:
                loaded, revision = self._inner.tokens_at_revision(key_hashes)
                self._observe(revision)
            elif len(key_hashes) == 1:
                [key_hash] = key_hashes
                token = self._inner.token(key_hash)
                loaded = {} if token is None else {key_hash: token}
            else:
                loaded = self._inner.tokens(key_hashes)
        except StoreUnavailable:
            stale = {h: self._tokens.get_stale(h, self._stale_if_error) for h in key_hashes}
            if any(value is MISSING for value in stale.values()):
                raise
            log.debug("store unavailable; serving a stale token record")
            return {h: value for h, value in stale.items() if isinstance(value, Token)}
        for key_hash in key_hashes:
            self._tokens.put(key_hash, loaded.get(key_hash))
        return dict(loaded)

    def user(self, user_id: str) -> User | None:
        if self._due() and self._users.get(user_id) is MISSING:
            self._metrics.cache_lookup(False)
            try:
                user, revision = self._inner.user_at_revision(user_id)
            except StoreUnavailable:
                stale = self._users.get_stale(user_id, self._stale_if_error)
                if stale is MISSING:
                    raise
                log.debug("store unavailable; serving a stale user record")
                return stale
            self._observe(revision)
            self._users.put(user_id, user)
            return user
        self._confirm()
        return self._read(self._users, user_id, self._inner.user, "user")

    def group(self, name: str) -> GroupView | None:
        self._confirm()
        return self._read(self._groups, name, self._inner.group, "group")

    def clear(self) -> None:
        """Drop every cached record (not the marker: the next lookup reads it only when due)."""
        for cache in (self._tokens, self._users, self._groups):
            cache.clear()
