"""Model objects: a catalog entry (or its absence) rendered as the documented `/v1/models` object.

Stored values are returned as stored. Every default is a pure function of the model id, so two Lambda
instances, or two calls a month apart, render the same bytes.

A catalog entry may also carry metadata (METADATA_FIELDS) for the dialects that show it (Anthropic, Gemini).
The OpenAI object never shows it, so its bytes are the same with or without.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

# one-api's constant, which gateway clients have seen for years.
DEFAULT_CREATED = 1626777600
CUSTOM_OWNER = "custom"
DISABLED = "disabled"
FIELDS = ("id", "object", "created", "owned_by", "permission", "root", "parent")
STORED_FIELDS = ("created", "owned_by", "permission", "root", "parent")
# Optional; absent unless the catalog sets them. Timestamps are RFC 3339 strings, token counts non-negative ints.
METADATA_FIELDS = (
    "display_name",
    "description",
    "max_input_tokens",
    "max_tokens",  # output
    "capabilities",  # an object
    "lifecycle",
    "deprecated_at",
    "retires_at",
)
LIFECYCLES = ("active", "deprecated", "retired")
DEFAULT_LIFECYCLE = "active"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def permission_id(model_id: str) -> str:
    """`modelperm-` and 24 base62 characters derived from the id: stable, and distinct per model."""
    number = int.from_bytes(hashlib.sha256(model_id.encode()).digest()[:18], "big")
    chars = []
    for _ in range(24):
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return "modelperm-" + "".join(chars)


def default_permission(model_id: str) -> dict[str, Any]:
    return {
        "id": permission_id(model_id),
        "object": "model_permission",
        "created": DEFAULT_CREATED,
        "allow_create_engine": True,
        "allow_sampling": True,
        "allow_logprobs": True,
        "allow_search_indices": False,
        "allow_view": True,
        "allow_fine_tuning": False,
        "organization": "*",
        "group": None,
        "is_blocking": False,
    }


def is_listed(entry: Mapping[str, Any] | None) -> bool:
    """A catalog model marked disabled is listed nowhere; a model the catalog lacks is listed as custom."""
    return entry is None or entry.get("status") != DISABLED


def model_object(model_id: str, entry: Mapping[str, Any] | None) -> dict[str, Any]:
    """The documented model object, in the documented field order."""
    stored = entry or {}
    return {
        "id": model_id,
        "object": "model",
        "created": stored.get("created", DEFAULT_CREATED),
        "owned_by": stored.get("owned_by", CUSTOM_OWNER),
        "permission": stored["permission"] if "permission" in stored else [default_permission(model_id)],
        "root": stored.get("root", model_id),
        "parent": stored.get("parent"),
    }
