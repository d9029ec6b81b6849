"""Anthropic's dialect: `/v1/models` as the Anthropic SDK and Claude Code read it.

Models are `{"type":"model","id","display_name","created_at","lifecycle"}` plus the catalog's limits, capabilities
and lifecycle dates when it has them (only values the strict SDK accepts: handler.core.metadata). Pages follow the
caller's order: `limit` (1-1000), `after_id` or `before_id` (ids of the caller's list), and `lifecycle=` to filter.
Without `limit`, the page is the whole rest of the list: clients such as LibreChat read one page and never ask for
the next.
"""

from __future__ import annotations

import bisect
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.datastructures import QueryParams

from handler.core import metadata
from handler.core.catalog import DEFAULT_CREATED
from handler.core.listing import Document, Listing, to_json
from handler.core.records import Member
from handler.web.dialects.base import BadRequest, Problem

LIMIT_MAX = 1000
LIFECYCLES = ("active", "deprecated", "retired")
OPTIONAL = ("max_input_tokens", "max_tokens", "capabilities", "deprecated_at", "retires_at")
_DIGITS = re.compile(r"[0-9]{1,7}")
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
}
MISSING_KEY = "x-api-key header is required. Send your key as x-api-key: YOUR_KEY or Authorization: Bearer YOUR_KEY."


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def created_at(created: Any) -> str:
    """`created` (epoch seconds) as RFC 3339 UTC; the documented default for a value that is not a sane time."""
    if isinstance(created, bool) or not isinstance(created, int) or not 0 <= created < 253402300800:
        created = DEFAULT_CREATED
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))


def lifecycle(entry: Mapping[str, Any]) -> str:
    stored = entry.get("lifecycle")
    return stored if stored in LIFECYCLES else "active"


def model_object(member: Member) -> dict[str, Any]:
    entry = member.catalog or {}
    served = metadata.served(entry)
    document: dict[str, Any] = {
        "type": "model",
        "id": member.model_id,
        "display_name": served.get("display_name") or member.model_id,
        "created_at": created_at(entry.get("created", DEFAULT_CREATED)),
        "lifecycle": lifecycle(entry),
    }
    for name in OPTIONAL:
        if name in served:
            document[name] = served[name]
    return document


def _limit(query: QueryParams) -> int | None:
    """The page size asked for; None (no `limit`) for the whole list."""
    raw = query.get("limit")
    if raw is None or raw == "":
        return None
    if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= LIMIT_MAX:
        raise BadRequest(f"limit: must be an integer from 1 to {LIMIT_MAX}.", "limit")
    return int(raw)


def _lifecycles(query: QueryParams) -> frozenset[str] | None:
    # Repeated, comma-separated, or `lifecycle[]=` as the Anthropic SDK sends a list.
    raws = query.getlist("lifecycle") + query.getlist("lifecycle[]")
    values = [v.strip() for raw in raws for v in raw.split(",") if v.strip()]
    unknown = [v for v in values if v not in LIFECYCLES]
    if unknown:
        raise BadRequest(f"lifecycle: must be one of {', '.join(LIFECYCLES)}.", "lifecycle")
    return frozenset(values) or None


def _cursor(listing: Listing, query: QueryParams, name: str) -> int | None:
    model_id = query.get(name) or None
    if model_id is None:
        return None
    position = listing.position(model_id)
    if position is None:
        raise BadRequest(f"{name}: no model with this id is in your list.", name)
    return position


class Anthropic:
    name = "anthropic"

    def model(self, member: Member) -> bytes:
        return to_json(model_object(member))

    def page(self, listing: Listing, query: QueryParams) -> Document:
        limit = _limit(query)
        wanted = _lifecycles(query)
        after, before = _cursor(listing, query, "after_id"), _cursor(listing, query, "before_id")
        if after is not None and before is not None:
            raise BadRequest("after_id and before_id cannot be used together.", "before_id")
        key = (self.name, limit, wanted, after, before)
        return listing.page(key, lambda: self._build(listing, limit, wanted, after, before))

    def _build(
        self, listing: Listing, asked: int | None, wanted: frozenset[str] | None, after: int | None, before: int | None
    ) -> bytes:
        members = listing.members
        positions: Sequence[int] = range(len(members))
        if wanted is not None:
            positions = [i for i, m in enumerate(members) if lifecycle(m.catalog or {}) in wanted]
        limit = len(positions) if asked is None else asked
        if before is not None:
            end = bisect.bisect_left(positions, before)
            chosen, has_more = positions[max(0, end - limit) : end], end > limit
        else:
            start = 0 if after is None else bisect.bisect_right(positions, after)
            chosen, has_more = positions[start : start + limit], len(positions) - start > limit
        rendered = listing.models(self.name, self.model)
        first = to_json(members[chosen[0]].model_id) if chosen else b"null"
        last = to_json(members[chosen[-1]].model_id) if chosen else b"null"
        return b"".join(
            (
                b'{"data":[',
                b",".join(rendered[i] for i in chosen),
                b'],"has_more":',
                b"true" if has_more else b"false",
                b',"first_id":',
                first,
                b',"last_id":',
                last,
                b"}",
            )
        )

    def candidates(self, model_id: str) -> tuple[str, ...]:
        return (model_id,)

    def error(self, problem: Problem, request_id: str | None) -> tuple[int, bytes]:
        message = MISSING_KEY if problem.refusal == "missing" else problem.message
        body = {
            "type": "error",
            "error": {"type": error_type(problem.status), "message": message},
            "request_id": request_id or "req_" + secrets.token_hex(12),
        }
        return problem.status, to_json(body)


DIALECT = Anthropic()
