"""The circuit: after DynamoDB fails, a container stops asking it for a while.

Without it, a failed revalidation was tried again by every lookup of every request, each waiting out the client's
timeouts. Instead, an outage (StoreOutage) opens the circuit: for `probe_interval` seconds every read fails at once
with StoreUnavailable, without touching the store, so the cache answers with what it holds (stale-if-error) and an
uncached caller gets its 503 at once. Then the next read goes through as the probe, while the others still fail
fast; its answer closes the circuit, another outage keeps it open one more interval (from the probe's start). A
container thus asks a failing store no more often than a healthy one reads the change marker (once per
REVALIDATE_SECONDS), and sees it back as soon as a healthy one sees a change: within that long plus one read.

Under `serve` it also keeps blocking reads off the event loop: asked on one, a read raises WouldBlock before
touching anything, and the web layer asks again on a worker thread (handler/web/app.py). Not in Lambda: a
container answers one request at a time there, so the loop Mangum runs has nothing else to serve meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from handler.core.errors import StoreOutage, StoreUnavailable, WouldBlock
from handler.core.records import GroupView, Token, User
from handler.store.cache import RevisionedDirectory
from handler.store.layout import Marker

log = logging.getLogger("modelgate.store")
T = TypeVar("T")
CLOSED = -math.inf  # no probe pending: every read goes through


def refuse_on_event_loop(what: str) -> None:
    """WouldBlock when called on a running event loop: a blocking read there would stall every other request."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise WouldBlock(what)


class Circuit:
    """A RevisionedDirectory over another, which asks it nothing while the circuit is open."""

    def __init__(
        self,
        inner: RevisionedDirectory,
        *,
        probe_interval: float,
        clock: Callable[[], float] = time.monotonic,
        refuse_on_loop: bool = True,
    ) -> None:
        self._inner = inner
        self._refuse_on_loop = refuse_on_loop
        self.probe_interval = probe_interval
        self._clock = clock
        self._next_probe = CLOSED  # when the circuit is open: the moment the next read may go through

    def _through(self, what: str, read: Callable[[], T]) -> T:
        probe_at = self._next_probe
        now = self._clock()
        if now < probe_at:
            raise StoreUnavailable(f"{what}: dynamodb circuit open")
        if self._refuse_on_loop:
            refuse_on_event_loop(what)
        if probe_at != CLOSED:
            self._next_probe = now + self.probe_interval  # this read is the probe; meanwhile the others fail fast
        try:
            result = read()
        except StoreOutage as outage:
            # Timed from this read's start, as revalidation is from the last read: the next probe comes within one
            # interval of any moment, so the store is seen back within REVALIDATE_SECONDS plus one read.
            self._next_probe = now + self.probe_interval
            log.warning(
                "dynamodb unavailable; not asked again for %g s, cached records answer meanwhile",
                self.probe_interval,
                extra={"error_code": outage.reason},
            )
            raise
        except StoreUnavailable:
            self._close()  # the store answered, with a record we cannot read: no outage
            raise
        self._close()
        return result

    def _close(self) -> None:
        if self._next_probe != CLOSED:
            self._next_probe = CLOSED
            log.warning("dynamodb answers again; circuit closed")

    def revision(self) -> Marker:
        return self._through("change marker", self._inner.revision)

    def tokens_at_revision(self, key_hashes: Sequence[str]) -> tuple[Mapping[str, Token], Marker]:
        return self._through("token", lambda: self._inner.tokens_at_revision(key_hashes))

    def user_at_revision(self, user_id: str) -> tuple[User | None, Marker]:
        return self._through("user", lambda: self._inner.user_at_revision(user_id))

    def token(self, key_hash: str) -> Token | None:
        return self._through("token", lambda: self._inner.token(key_hash))

    def tokens(self, key_hashes: Sequence[str]) -> Mapping[str, Token]:
        return self._through("token", lambda: self._inner.tokens(key_hashes))

    def user(self, user_id: str) -> User | None:
        return self._through("user", lambda: self._inner.user(user_id))

    def group(self, name: str) -> GroupView | None:
        return self._through("group view", lambda: self._inner.group(name))
