"""Which models a caller sees, in which order, and the exact bytes of the answer."""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from collections.abc import Callable, Hashable
from typing import Any

from handler.core.catalog import is_listed
from handler.core.records import GroupView, Member

PAGES_KEPT = 16  # per listing: the whole list in each dialect, and the pages a client is walking through


def visible_members(view: GroupView | None, token_models: tuple[str, ...] | None) -> list[Member]:
    """The group's listed models, narrowed and reordered by the token's own list when it has one.

    A token never widens its group: a model in its list that the group lacks is left out silently.
    """
    if view is None:
        return []
    listed: dict[str, Member] = {}
    for member in view.members:
        if member.model_id not in listed and is_listed(member.catalog):
            listed[member.model_id] = member
    if token_models is None:
        return list(listed.values())
    return [listed[model_id] for model_id in dict.fromkeys(token_models) if model_id in listed]


def to_json(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


class Document:
    """A rendered JSON body with its strong ETag. The gzip form is made once, on first demand."""

    __slots__ = ("_gzipped", "body", "etag")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
        self._gzipped: bytes | None = None

    def gzipped(self) -> bytes:
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.body, compresslevel=6, mtime=0)
        return self._gzipped


class Listing:
    """The models one caller sees, for one (group version, token list), and each dialect's bytes for them.

    Each dialect renders each model once; its pages are joins of those bytes, kept (a few per dialect) as
    Documents, so a warm page costs a dictionary lookup. `version` names the content: page tokens are bound to it.
    Under `serve`, the event loop and a worker thread may render from one listing at once: what they add, they add
    under a lock (a hit takes none), so both get the same bytes and the weight counts each once.
    """

    __slots__ = ("_adding", "_index", "_models", "_pages", "_weight", "members", "version")

    def __init__(self, members: list[Member], version: str = "") -> None:
        self.members = members
        self.version = version
        self._index = {m.model_id: position for position, m in enumerate(members)}
        self._models: dict[str, list[bytes]] = {}
        self._pages: dict[Hashable, Document] = {}
        self._weight = 0
        self._adding = threading.Lock()

    def __len__(self) -> int:
        return len(self.members)

    def weight(self) -> int:
        """Bytes held: every dialect's model bytes and the pages kept (their gzip forms are a fraction of that)."""
        return self._weight

    def position(self, model_id: str) -> int | None:
        return self._index.get(model_id)

    def models(self, dialect: str, render: Callable[[Member], bytes]) -> list[bytes]:
        """Every model as `dialect` renders it, in order; rendered on first demand only."""
        rendered = self._models.get(dialect)
        if rendered is None:
            fresh = [render(member) for member in self.members]
            with self._adding:
                rendered = self._models.setdefault(dialect, fresh)
                if rendered is fresh:
                    self._weight += sum(map(len, rendered))
        return rendered

    def page(self, key: Hashable, build: Callable[[], bytes]) -> Document:
        """The page named by `key` (a dialect and its paging parameters), built once while kept."""
        document = self._pages.get(key)
        if document is None:
            fresh = Document(build())  # outside the lock: `build` may ask for models()
            with self._adding:
                document = self._pages.get(key)
                if document is None:
                    document = fresh
                    if len(self._pages) >= PAGES_KEPT:
                        self._weight -= len(self._pages.pop(next(iter(self._pages))).body)
                    self._pages[key] = document
                    self._weight += len(document.body)
        return document
