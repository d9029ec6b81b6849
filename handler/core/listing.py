"""Which models a caller sees, in which order, and the exact bytes of the answer."""

from __future__ import annotations

import gzip
import hashlib
import json
from typing import Any

from handler.core.catalog import is_listed, model_object
from handler.core.records import GroupView, Member


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


class Listing(Document):
    """The `/v1/models` answer for one (group version, token list); also answers single-model lookups.

    Each model is serialized once; the list is those bytes joined, so it holds about twice the body in memory.
    """

    __slots__ = ("_models",)

    def __init__(self, members: list[Member]) -> None:
        self._models = {m.model_id: to_json(model_object(m.model_id, m.catalog)) for m in members}
        super().__init__(b'{"object":"list","data":[' + b",".join(self._models.values()) + b"]}")

    def __len__(self) -> int:
        return len(self._models)

    def weight(self) -> int:
        """Bytes held: the body and the per-model bytes (the gzip form is a fraction of that)."""
        return 2 * len(self.body)

    def model(self, model_id: str) -> Document | None:
        body = self._models.get(model_id)
        return None if body is None else Document(body)
