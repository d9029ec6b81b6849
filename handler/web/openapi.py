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
        # Only with OPENAI_LIST_METADATA on, and only where the catalog has a value.
        "name": {"type": "string"},
        "display_name": {"type": "string"},
        "description": {"type": "string"},
        "context_length": {"type": "integer"},
        "max_output_tokens": {"type": "integer"},
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


ANTHROPIC_MODEL: dict[str, Any] = {
    "type": "object",
    "required": ["type", "id", "display_name", "created_at", "lifecycle"],
    "properties": {
        "type": {"const": "model"},
        "id": {"type": "string"},
        "display_name": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "lifecycle": {"enum": ["active", "deprecated", "retired"]},
        "max_input_tokens": {"type": "integer"},
        "max_tokens": {"type": "integer"},
        "capabilities": {"type": "object"},
        "deprecated_at": {"type": "string"},
        "retires_at": {"type": "string"},
    },
}

ANTHROPIC_PAGE: dict[str, Any] = {
    "type": "object",
    "required": ["data", "has_more", "first_id", "last_id"],
    "properties": {
        "data": {"type": "array", "items": ANTHROPIC_MODEL},
        "has_more": {"type": "boolean"},
        "first_id": {"type": ["string", "null"]},
        "last_id": {"type": ["string", "null"]},
    },
}

ANTHROPIC_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["type", "error", "request_id"],
    "properties": {
        "type": {"const": "error"},
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
        },
        "request_id": {"type": "string"},
    },
}

GEMINI_MODEL: dict[str, Any] = {
    "type": "object",
    "required": ["name", "baseModelId", "displayName", "supportedGenerationMethods"],
    "properties": {
        "name": {"type": "string", "pattern": "^models/"},
        "baseModelId": {"type": "string"},
        "version": {"type": "string"},
        "displayName": {"type": "string"},
        "description": {"type": "string"},
        "inputTokenLimit": {"type": "integer"},
        "outputTokenLimit": {"type": "integer"},
        "supportedGenerationMethods": {"type": "array", "items": {"type": "string"}},
    },
}

GEMINI_LIST: dict[str, Any] = {
    "type": "object",
    "required": ["models"],
    "properties": {
        "models": {"type": "array", "items": GEMINI_MODEL},
        "nextPageToken": {"type": "string", "description": "Absent on the last page"},
    },
}

GEMINI_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "status"],
            "properties": {
                "code": {"type": "integer"},
                "message": {"type": "string"},
                "status": {"type": "string"},
                "details": {"type": "array", "items": {"type": "object"}},
            },
        }
    },
}

CODEX_MODEL: dict[str, Any] = {
    "type": "object",
    "description": "Codex CLI's ModelInfo: a stored entry as imported (its other fields kept), or one built",
    "required": [
        "slug",
        "display_name",
        "supported_reasoning_levels",
        "shell_type",
        "visibility",
        "supported_in_api",
        "priority",
        "support_verbosity",
        "truncation_policy",
        "experimental_supported_tools",
    ],
    "properties": {
        "slug": {"type": "string", "minLength": 1},
        "display_name": {"type": "string"},
        "description": {"type": ["string", "null"]},
        "supported_reasoning_levels": {"type": "array", "items": {"type": "object"}},
        "shell_type": {"enum": ["default", "local", "unified_exec", "disabled", "shell_command"]},
        "visibility": {"enum": ["list", "hide", "none"]},
        "supported_in_api": {"type": "boolean"},
        "priority": {"type": "integer"},
        "base_instructions": {"type": ["string", "null"], "description": "Required without model_messages"},
        "model_messages": {"type": ["object", "null"]},
        "support_verbosity": {"type": "boolean"},
        "truncation_policy": {"type": "object"},
        "context_window": {"type": "integer"},
        "experimental_supported_tools": {"type": "array", "items": {"type": "string"}},
    },
}

CODEX_CATALOG: dict[str, Any] = {
    "type": "object",
    "required": ["models"],
    "properties": {"models": {"type": "array", "items": CODEX_MODEL}},
}

OPENAI_ROUTES = ("/v1beta/openai/models",)
GEMINI_ROUTES = ("/v1beta/models",)
LIST_SUMMARY = {
    "/v1/models": "List the caller's models (OpenAI; Anthropic with anthropic-version; Gemini with x-goog-api-key; "
    "Codex CLI's catalog with client_version)",
    "/v1beta/models": "List the caller's models, Gemini dialect",
    "/v1beta/openai/models": "List the caller's models, OpenAI dialect (Gemini's OpenAI-compatible base URL)",
}
MODEL_SUMMARY = {
    "/v1/models": "Retrieve one model the caller may use (OpenAI, Anthropic or Gemini, as for the list)",
    "/v1beta/models": "Retrieve one model the caller may use, Gemini dialect (`models/<id>` accepted)",
    "/v1beta/openai/models": "Retrieve one model the caller may use, OpenAI dialect",
}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


ANTHROPIC_VERSION: dict[str, Any] = {
    "name": "anthropic-version",
    "in": "header",
    "required": False,
    "description": "Any value: the answer is in Anthropic's shape",
    "schema": {"type": "string"},
}
ANTHROPIC_PAGING = [
    _query(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": 1000},
        "Anthropic: models per page; without it, the whole list",
    ),
    _query("after_id", {"type": "string"}, "Anthropic: the page after this id of the caller's list"),
    _query("before_id", {"type": "string"}, "Anthropic: the page before this id of the caller's list"),
    _query("lifecycle", {"enum": ["active", "deprecated", "retired"]}, "Anthropic: only models in this lifecycle"),
]
CLIENT_VERSION = _query(
    "client_version", {"type": "string"}, "Codex CLI (any value, on every route): the answer is Codex's model catalog"
)
GEMINI_PAGING = [
    _query(
        "pageSize",
        {"type": "integer", "minimum": 0},
        "Gemini: models per page (at most 1000); without it (or 0), the whole list",
    ),
    _query("pageToken", {"type": "string"}, "Gemini: the nextPageToken of the previous page"),
]


def _shapes(prefix: str, openai: dict[str, Any], anthropic: dict[str, Any], gemini: dict[str, Any]) -> Any:
    if prefix in OPENAI_ROUTES:
        return openai
    if prefix in GEMINI_ROUTES:
        return gemini
    return {"anyOf": [openai, anthropic, gemini]}


def list_parameters(prefix: str) -> list[dict[str, Any]]:
    if prefix in OPENAI_ROUTES:
        return [CLIENT_VERSION]
    if prefix in GEMINI_ROUTES:
        return [*GEMINI_PAGING, CLIENT_VERSION]
    return [ANTHROPIC_VERSION, *ANTHROPIC_PAGING, *GEMINI_PAGING, CLIENT_VERSION]


def model_parameters(prefix: str) -> list[dict[str, Any]]:
    return [MODEL_PARAMETER] if prefix not in ("/v1/models",) else [MODEL_PARAMETER, ANTHROPIC_VERSION]


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _documented(ok: dict[str, Any], error: dict[str, Any], *, not_found: bool) -> dict[int | str, dict[str, Any]]:
    documented: dict[int | str, dict[str, Any]] = {
        200: _json(ok, "OK"),
        304: {"description": "Not modified: the If-None-Match ETag still matches"},
        400: _json(error, "A bad paging parameter; Gemini: a bad key (INVALID_ARGUMENT, API_KEY_INVALID)"),
        401: _json(error, "Missing, malformed, unknown, disabled or expired API key"),
        403: _json(error, "Gemini: no key and anonymous access is off (PERMISSION_DENIED)"),
        503: _json(error, "The store is unavailable; retry after Retry-After seconds"),
    }
    if not_found:
        documented[404] = _json(error, "The model does not exist or the caller may not see it")
    return documented


def _with(shapes: dict[str, Any], shape: dict[str, Any]) -> dict[str, Any]:
    """`shapes` (one, or anyOf several) with `shape` too, once."""
    listed = shapes.get("anyOf", [shapes])
    return {"anyOf": listed if shape in listed else [*listed, shape]}


def list_responses(prefix: str) -> dict[int | str, dict[str, Any]]:
    # client_version asks any list route for Codex's catalog, whose errors are OpenAI's
    ok = _with(_shapes(prefix, MODEL_LIST, ANTHROPIC_PAGE, GEMINI_LIST), CODEX_CATALOG)
    return _documented(ok, _with(_shapes(prefix, ERROR, ANTHROPIC_ERROR, GEMINI_ERROR), ERROR), not_found=False)


def model_responses(prefix: str) -> dict[int | str, dict[str, Any]]:
    ok = _shapes(prefix, MODEL, ANTHROPIC_MODEL, GEMINI_MODEL)
    return _documented(ok, _shapes(prefix, ERROR, ANTHROPIC_ERROR, GEMINI_ERROR), not_found=True)
