"""A Directory that remembers what it read until the table says it changed, and may answer stale when the store is
down.

The table holds one change marker that every registry write moves in its own transaction, with a short log of the
pks the latest revisions wrote (handler/store/layout.py). A warm container reads the marker at most once per
`revalidate` seconds, and only when a request arrives. While it holds still, everything cached stays valid; when it
moved, the tokens, users and group views the log names are dropped and read again, and the rest stays. When the
log does not reach back to the revision the container holds, everything is dropped. `max_age` bounds how long
anything is trusted, whatever the marker says.

Keys never found are remembered apart, in a bounded cache of their own: a flood of random keys costs one read each
and evicts only other unknown keys, never a known token, user or view.

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
from typing import Literal, Protocol, TypeVar

from handler.core.errors import StoreUnavailable
from handler.core.ports import Directory
from handler.core.records import GroupView, Token, User
from handler.core.ttlcache import MISSING, Missing, TtlCache
from handler.metrics import Metrics
from handler.store import layout
from handler.store.layout import Marker

log = logging.getLogger("modelgate.cache")
T = TypeVar("T")
CachedToken = Token | None | Literal[Missing.MISSING]


class RevisionedDirectory(Directory, Protocol):
    """A Directory that also reads the change marker, alone or with the records a lookup needs anyway."""

    def revision(self) -> Marker: ...

    def tokens_at_revision(self, key_hashes: Sequence[str]) -> tuple[Mapping[str, Token], Marker]: ...

    def user_at_revision(self, user_id: str) -> tuple[User | None, Marker]: ...


def _tagged_by(key_of: Callable[[str], dict[str, str]]) -> Callable[[str], bytes]:
    """A cache key's tag: the change log's fingerprint of the item's pk."""
    return lambda ident: layout.fingerprint(key_of(ident)[layout.PK])


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
        tokens, users, groups = (
            _tagged_by(layout.token_key),
            _tagged_by(layout.user_key),
            _tagged_by(layout.group_key),
        )
        self._tokens: TtlCache[str, Token] = TtlCache(max_age, max_entries, clock=clock, tag=tokens)
        self._absent: TtlCache[str, None] = TtlCache(max_age, max_entries, clock=clock, tag=tokens)  # unknown keys
        self._users: TtlCache[str, User | None] = TtlCache(max_age, max_entries, clock=clock, tag=users)
        self._groups: TtlCache[str, GroupView | None] = TtlCache(max_age, max_entries, clock=clock, tag=groups)

    # -- the marker -------------------------------------------------------------------------------------------

    def _due(self) -> bool:
        return self._revision is None or self._clock() - self._confirmed_at >= self._revalidate

    def _observe(self, marker: Marker) -> None:
        """Record the marker just read; when it moved, drop what its log names, or everything when it cannot say."""
        held = self._revision
        if held is not None and marker.revision != held:
            changed = marker.changed_since(held)
            if changed is None:
                log.info("table changed (revision %d to %d); cached records dropped", held, marker.revision)
                self.clear()
            else:
                dropped = sum(cache.discard_tagged(changed) for cache in self._caches())
                log.debug(
                    "table changed (revision %d to %d); %d cached records dropped", held, marker.revision, dropped
                )
        self._revision = marker.revision
        self._confirmed_at = self._clock()

    def _confirm(self) -> None:
        """Read the marker alone, when due. On a fault, what is cached may answer only within the stale window."""
        if not self._due():
            return
        try:
            marker = self._inner.revision()
        except StoreUnavailable:
            trusted_until = self._confirmed_at + self._revalidate
            if self._revision is None or self._clock() - trusted_until > self._stale_if_error:
                raise
            log.debug("store unavailable; serving cached records")
            return
        self._observe(marker)

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
        if self._due() and any(self._cached_token(h) is MISSING for h in key_hashes):
            self._count(MISSING for _ in key_hashes)
            return self._load_tokens(key_hashes, with_revision=True)
        self._confirm()
        hits = {h: self._cached_token(h) for h in key_hashes}
        self._count(hits.values())
        if any(value is MISSING for value in hits.values()):
            return self._load_tokens(key_hashes, with_revision=False)
        return {h: value for h, value in hits.items() if isinstance(value, Token)}

    def _cached_token(self, key_hash: str) -> CachedToken:
        token = self._tokens.get(key_hash)
        return token if token is not MISSING else self._absent.get(key_hash)

    def _stale_token(self, key_hash: str) -> CachedToken:
        token = self._tokens.get_stale(key_hash, self._stale_if_error)
        return token if token is not MISSING else self._absent.get_stale(key_hash, self._stale_if_error)

    def _remember_token(self, key_hash: str, token: Token | None) -> None:
        """Known tokens and unknown keys in caches of their own, so that unknown keys evict only each other."""
        if token is None:
            self._tokens.discard(key_hash)
            self._absent.put(key_hash, None)
        else:
            self._absent.discard(key_hash)
            self._tokens.put(key_hash, token)

    def _count(self, hits: Iterable[object]) -> None:
        for hit in hits:
            self._metrics.cache_lookup(hit is not MISSING)

    def _load_tokens(self, key_hashes: Sequence[str], *, with_revision: bool) -> Mapping[str, Token]:
        try:
            if with_revision:
                loaded, marker = self._inner.tokens_at_revision(key_hashes)
                self._observe(marker)
            elif len(key_hashes) == 1:
                [key_hash] = key_hashes
                token = self._inner.token(key_hash)
                loaded = {} if token is None else {key_hash: token}
            else:
                loaded = self._inner.tokens(key_hashes)
        except StoreUnavailable:
            stale = {h: self._stale_token(h) for h in key_hashes}
            if any(value is MISSING for value in stale.values()):
                raise
            log.debug("store unavailable; serving a stale token record")
            return {h: value for h, value in stale.items() if isinstance(value, Token)}
        for key_hash in key_hashes:
            self._remember_token(key_hash, loaded.get(key_hash))
        return dict(loaded)

    def user(self, user_id: str) -> User | None:
        if self._due() and self._users.get(user_id) is MISSING:
            self._metrics.cache_lookup(False)
            try:
                user, marker = self._inner.user_at_revision(user_id)
            except StoreUnavailable:
                stale = self._users.get_stale(user_id, self._stale_if_error)
                if stale is MISSING:
                    raise
                log.debug("store unavailable; serving a stale user record")
                return stale
            self._observe(marker)
            self._users.put(user_id, user)
            return user
        self._confirm()
        return self._read(self._users, user_id, self._inner.user, "user")

    def group(self, name: str) -> GroupView | None:
        self._confirm()
        return self._read(self._groups, name, self._inner.group, "group")

    def _caches(
        self,
    ) -> tuple[TtlCache[str, Token], TtlCache[str, None], TtlCache[str, User | None], TtlCache[str, GroupView | None]]:
        return self._tokens, self._absent, self._users, self._groups

    def clear(self) -> None:
        """Drop every cached record (not the marker: the next lookup reads it only when due)."""
        for cache in self._caches():
            cache.clear()
