"""The use cases: list the caller's models, or fetch one of them."""

from __future__ import annotations

from handler.core.callers import Caller
from handler.core.errors import ModelNotFound
from handler.core.listing import Document, Listing, visible_members
from handler.core.ports import Directory
from handler.core.ttlcache import MISSING, TtlCache

ListingKey = tuple[str, str, tuple[str, ...] | None]


class ModelAccess:
    """Renders each (group version, token list) once and reuses the bytes until the cache period ends."""

    def __init__(self, directory: Directory, listings: TtlCache[ListingKey, Listing]) -> None:
        self._directory = directory
        self._listings = listings

    def listing(self, caller: Caller) -> Listing:
        view = self._directory.group(caller.group)
        key: ListingKey = (caller.group, view.version if view else "", caller.models)
        listing = self._listings.get(key)
        if listing is MISSING:
            listing = Listing(visible_members(view, caller.models))
            self._listings.put(key, listing)
        return listing

    def model(self, caller: Caller, model_id: str) -> Document:
        document = self.listing(caller).model(model_id)
        if document is None:
            raise ModelNotFound(model_id)
        return document
