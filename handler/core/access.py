"""The use cases: list the caller's models, or fetch one of them, in whatever shape a dialect renders."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from handler.core.callers import Caller
from handler.core.errors import ModelNotFound
from handler.core.listing import Document, Listing, visible_members
from handler.core.ports import Directory
from handler.core.records import Member
from handler.core.ttlcache import MISSING, TtlCache

ListingKey = tuple[str, str, tuple[str, ...] | None]


class ModelAccess:
    """Decides once per (group version, token list) which models a caller sees, and keeps the rendered bytes."""

    def __init__(self, directory: Directory, listings: TtlCache[ListingKey, Listing]) -> None:
        self._directory = directory
        self._listings = listings

    def _listing(self, caller: Caller) -> tuple[ListingKey, Listing]:
        view = self._directory.group(caller.group)
        key: ListingKey = (caller.group, view.version if view else "", caller.models)
        listing = self._listings.get(key)
        if listing is MISSING:
            version = hashlib.blake2b(repr(key).encode(), digest_size=12).hexdigest()
            listing = Listing(visible_members(view, caller.models), version)
            self._listings.put(key, listing)
        return key, listing

    def page(self, caller: Caller, render: Callable[[Listing], Document]) -> Document:
        """The caller's listing as `render` pages it (a dialect, with its paging parameters)."""
        key, listing = self._listing(caller)
        held = listing.weight()
        document = render(listing)
        self._reweigh(key, listing, held)
        return document

    def model(self, caller: Caller, model_id: str, dialect: str, render: Callable[[Member], bytes]) -> Document:
        """One model the caller sees, as `dialect` renders it; ModelNotFound for any other id."""
        key, listing = self._listing(caller)
        position = listing.position(model_id)
        if position is None:
            raise ModelNotFound(model_id)
        held = listing.weight()
        body = listing.models(dialect, render)[position]
        self._reweigh(key, listing, held)
        return Document(body)

    def _reweigh(self, key: ListingKey, listing: Listing, held: int) -> None:
        """A listing that now holds more (another dialect's bytes, a new page) is weighed again by the cache."""
        if listing.weight() != held:
            self._listings.put(key, listing)
