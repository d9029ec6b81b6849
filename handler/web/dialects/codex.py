"""Codex CLI's dialect: its model catalog, `{"models":[ModelInfo...]}`, asked for as `GET /v1/models?client_version=`.

Codex (`model_catalog_url` in a provider's config) reads only this shape, and every entry whole (handler.core.codex).
A model with a stored, valid Codex entry gets it; any other gets one built from the catalog's metadata with the
donor's instructions. The answer keeps to CATALOG_BUDGET bytes: models are taken in the caller's order with their
full instructions while the rest still fit with the short neutral line; from there on they get that line. Every
model is always listed. Errors are OpenAI's. Only a list asks for the catalog: a retrieve with `client_version` is
answered by the dialect the other rules pick, as without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.datastructures import QueryParams
from starlette.types import Scope

from handler.core import codex
from handler.core.listing import Document, Listing, to_json
from handler.core.records import Member
from handler.web.dialects import openai
from handler.web.dialects.base import Problem

QUERY_PARAMETER = "client_version"
LIST_PATHS = frozenset({"/v1/models", "/v1beta/models", "/v1beta/openai/models"})  # the app's list routes
CATALOG_BUDGET = 1024 * 1024  # what LiteLLM caps this answer at; Codex's own 14 entries make 0.9 MB
_FULL, _SHORT = "codex-entries", "codex-short"  # the listing's names for the two renderings of each entry
_HEAD, _TAIL = b'{"models":[', b"]}"


def _donor(listing: Listing) -> Mapping[str, Any] | None:
    """The first model of the caller's list with a stored entry lends its instructions to the others."""
    for member in listing.members:
        stored = codex.stored_entry(member.catalog)
        if stored is not None:
            return stored
    return None


def entry(listing: Listing, member: Member, donor: Mapping[str, Any] | None) -> dict[str, Any]:
    stored = codex.stored_entry(member.catalog)
    if stored is None:
        position = listing.position(member.model_id) or 0
        return codex.built_entry(member.model_id, member.catalog, donor, position + 1)
    served = codex.served_entry(member.model_id, stored)
    upgrade = served.get("upgrade")
    if isinstance(upgrade, dict) and listing.position(upgrade["model"]) is None:
        served["upgrade"] = None  # never point Codex at a model this caller cannot use
    return served


def chosen(full: list[bytes], short: list[bytes], budget: int) -> list[bytes]:
    """Each model's full bytes while the rest still fit short within `budget`, then short ones."""
    room = budget - len(_HEAD) - len(_TAIL) - max(len(full) - 1, 0) - sum(map(len, short))
    picked: list[bytes] = []
    for position, (whole, brief) in enumerate(zip(full, short, strict=True)):
        extra = len(whole) - len(brief)
        if extra > room:
            return picked + short[position:]
        room -= extra
        picked.append(whole)
    return picked


class Codex:
    name = "codex"

    def model(self, member: Member) -> bytes:
        """Never asked for (a retrieve is another dialect's); the OpenAI object, should it be."""
        return openai.DIALECT.model(member)

    def page(self, listing: Listing, query: QueryParams) -> Document:
        """The whole list: Codex's catalog has no paging."""
        return listing.page((self.name,), lambda: self._build(listing))

    def _build(self, listing: Listing) -> bytes:
        donor = _donor(listing)
        full = listing.models(_FULL, lambda member: to_json(entry(listing, member, donor)))
        if len(_HEAD) + sum(map(len, full)) + max(len(full) - 1, 0) + len(_TAIL) > CATALOG_BUDGET:
            short = listing.models(_SHORT, lambda member: to_json(codex.short_entry(entry(listing, member, donor))))
            full = chosen(full, short, CATALOG_BUDGET)
        return _HEAD + b",".join(full) + _TAIL

    def candidates(self, model_id: str) -> tuple[str, ...]:
        return (model_id,)

    def error(self, problem: Problem, request_id: str | None) -> tuple[int, bytes]:
        return openai.DIALECT.error(problem, request_id)


DIALECT = Codex()


def asks_for_catalog(scope: Scope) -> bool:
    """A list route with a `client_version` parameter, with or without a value: Codex's catalog request."""
    query: bytes = scope.get("query_string", b"")
    name = QUERY_PARAMETER.encode()
    return (
        name in query
        and any(pair.partition(b"=")[0] == name for pair in query.split(b"&"))
        and scope["path"].rstrip("/") in LIST_PATHS
    )
