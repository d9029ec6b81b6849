"""The response schemas for /openapi.json, as plain JSON Schema: no pydantic models are built at import."""

from __future__ import annotations

from typing import Any

_PERMISSION: dict[str, Any] = {
    "type": "object",
    "required": [
        "id",
        "object",
        "created",
        "allow_create_engine",
        "allow_sampling",
        "allow_logprobs",
        "allow_search_indices",
        "allow_view",
        "allow_fine_tuning",
        "organization",
        "group",
        "is_blocking",
    ],
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string"},
        "created": {"type": "integer"},
        "allow_create_engine": {"type": "boolean"},
        "allow_sampling": {"type": "boolean"},
        "allow_logprobs": {"type": "boolean"},
        "allow_search_indices": {"type": "boolean"},
        "allow_view": {"type": "boolean"},
        "allow_fine_tuning": {"type": "boolean"},
        "organization": {"type": "string"},
        "group": {"type": ["string", "null"]},
        "is_blocking": {"type": "boolean"},
    },
}

MODEL: dict[str, Any] = {
    "type": "object",
    "required": ["id", "object", "created", "owned_by", "permission", "root", "parent"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "model"},
        "created": {"type": "integer"},
        "owned_by": {"type": "string"},
        "permission": {"type": ["array", "null"], "items": _PERMISSION},
        "root": {"type": ["string", "null"]},
        "parent": {"type": ["string", "null"]},
    },
}

MODEL_PARAMETER: dict[str, Any] = {
    "name": "model",
    "in": "path",
    "required": True,
    "description": "The model id, raw or percent-encoded; it may contain `/`, `:` and `.`",
    "schema": {"type": "string", "minLength": 1},  # an empty id, `/v1/models/`, is the list
}

MODEL_LIST: dict[str, Any] = {
    "type": "object",
    "required": ["object", "data"],
    "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": MODEL}},
}

ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def responses(ok: dict[str, Any], *, not_found: bool = False) -> dict[int | str, dict[str, Any]]:
    documented: dict[int | str, dict[str, Any]] = {
        200: _json(ok, "OK"),
        304: {"description": "Not modified: the If-None-Match ETag still matches"},
        401: _json(ERROR, "Missing, malformed, unknown, disabled or expired API key"),
        503: _json(ERROR, "The store is unavailable; retry after Retry-After seconds"),
    }
    if not_found:
        documented[404] = _json(ERROR, "The model does not exist or the caller may not see it")
    return documented
