"""Gemini's dialect: `/v1beta/models` (and `/v1/models` for google-genai's default) as Google's clients read it.

Models are `{"name":"models/<id>","baseModelId",...}`; pages are `pageSize` (at most 1000) and an opaque
`pageToken`. Without `pageSize` (or with 0, which proto3 reads as unset) the page is the whole rest of the list:
clients such as Cherry Studio read one page and never ask for the next.

A token holds an offset and an HMAC that binds it to the listing's content version: a token that was altered, or
that comes from a list that has changed since, is refused with 400 and never gives a page of another list. The
token grants nothing: the caller's credential picks the list, the token only a place in it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from typing import Any

from starlette.datastructures import QueryParams

from handler.core import metadata
from handler.core.listing import Document, Listing, to_json
from handler.core.records import Member
from handler.web.dialects.base import BadRequest, Problem

PAGE_SIZE_MAX = 1000
GENERATION_METHODS = ("generateContent", "countTokens")
PREFIX = "models/"
TOKEN_VERSION = 1
_TOKEN = struct.Struct(">BI")
_MAC_BYTES = 16
_TOKEN_KEY = b"modelgate gemini page token v1"
_INTEGER = re.compile(r"-?[0-9]{1,9}")
STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
BAD_KEY = "API key not valid. Please pass a valid API key."
MISSING_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
BAD_TOKEN = "pageToken: the page token is not valid for this list; list again from the first page."  # noqa: S105


FIELDS = (("description", "description"), ("max_input_tokens", "inputTokenLimit"), ("max_tokens", "outputTokenLimit"))


def model_object(member: Member) -> dict[str, Any]:
    served = metadata.served(member.catalog)
    document: dict[str, Any] = {
        "name": PREFIX + member.model_id,
        "baseModelId": member.model_id,
        "displayName": served.get("display_name") or member.model_id,
    }
    for stored, name in FIELDS:
        if stored in served:
            document[name] = served[stored]
    document["supportedGenerationMethods"] = list(GENERATION_METHODS)
    return document


def _mac(listing: Listing, payload: bytes) -> bytes:
    return hmac.new(_TOKEN_KEY, listing.version.encode() + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def page_token(listing: Listing, offset: int) -> str:
    payload = _TOKEN.pack(TOKEN_VERSION, offset)
    return base64.urlsafe_b64encode(payload + _mac(listing, payload)).rstrip(b"=").decode()


def token_offset(listing: Listing, token: str) -> int:
    """The offset a token of this listing names; BadRequest for anything else."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise BadRequest(BAD_TOKEN, "pageToken") from None
    payload, mac = raw[: _TOKEN.size], raw[_TOKEN.size :]
    if len(payload) != _TOKEN.size or not hmac.compare_digest(mac, _mac(listing, payload)):
        raise BadRequest(BAD_TOKEN, "pageToken")
    version, offset = _TOKEN.unpack(payload)
    if version != TOKEN_VERSION or not 0 < offset < len(listing):
        raise BadRequest(BAD_TOKEN, "pageToken")
    return int(offset)


def _page_size(query: QueryParams) -> int | None:
    """The page size asked for (above 1000 counts as 1000); None (no pageSize, or 0) for the whole list."""
    raw = query.get("pageSize") or query.get("page_size")
    if raw is None or raw == "":
        return None
    if not _INTEGER.fullmatch(raw) or int(raw) < 0:
        raise BadRequest("pageSize: must be a non-negative integer.", "pageSize")
    return min(int(raw), PAGE_SIZE_MAX) or None


class Gemini:
    name = "gemini"

    def model(self, member: Member) -> bytes:
        return to_json(model_object(member))

    def page(self, listing: Listing, query: QueryParams) -> Document:
        size = _page_size(query)
        token = query.get("pageToken") or query.get("page_token")
        offset = token_offset(listing, token) if token else 0
        return listing.page((self.name, size, offset), lambda: self._build(listing, size, offset))

    def _build(self, listing: Listing, size: int | None, offset: int) -> bytes:
        end = len(listing) if size is None else min(offset + size, len(listing))
        rendered = listing.models(self.name, self.model)
        more = b',"nextPageToken":' + to_json(page_token(listing, end)) if end < len(listing) else b""
        return b'{"models":[' + b",".join(rendered[offset:end]) + b"]" + more + b"}"

    def candidates(self, model_id: str) -> tuple[str, ...]:
        """`gemini-pro` or `models/gemini-pro`: the id as given first, in case an id itself starts `models/`."""
        return (model_id, model_id.removeprefix(PREFIX)) if model_id.startswith(PREFIX) else (model_id,)

    def error(self, problem: Problem, request_id: str | None) -> tuple[int, bytes]:
        if problem.refusal == "invalid":
            detail = {"@type": ERROR_INFO, "reason": "API_KEY_INVALID", "domain": "googleapis.com"}
            body = {"error": {"code": 400, "message": BAD_KEY, "status": "INVALID_ARGUMENT", "details": [detail]}}
            return 400, to_json(body)
        status, message = problem.status, problem.message
        if problem.refusal == "missing":
            status, message = 403, MISSING_KEY
        body = {"error": {"code": status, "message": message, "status": STATUSES.get(status, "UNKNOWN")}}
        return status, to_json(body)


DIALECT = Gemini()
