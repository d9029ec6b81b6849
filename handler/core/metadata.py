"""Which catalog metadata values the clients accept: the write layer refuses the others, the dialects never serve them.

Anthropic's SDK, validating responses strictly, rejects a model whose `capabilities` lacks one capability it
knows, and with it the whole page. google-genai and Anthropic's SDK reject a token limit that is not an integer
and a date they cannot parse. `modelgate` refuses such values when they are written (infra/seed.py); a value that
got into the table some other way (stored before these checks, or written around them) is left out of the answer,
so one operator's entry never breaks a client's whole list.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from handler.core.catalog import LIFECYCLES, METADATA_FIELDS

METADATA = frozenset(METADATA_FIELDS)
# As stored: upper-case T and Z (the write layer writes them so).
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


@dataclass(frozen=True)
class Shape:
    """A JSON object as a strict client reads it: the keys it must hold (a nested Shape, or None for a boolean)
    and the keys it may hold (a Shape, or null)."""

    required: Mapping[str, Shape | None]
    optional: Mapping[str, Shape] = field(default_factory=dict)


SUPPORT = Shape({"supported": None})
THINKING_TYPES = ("adaptive", "between_tools", "disabled", "enabled")
# Anthropic's ModelCapabilities (anthropic 2.15): every capability required, each `{"supported": bool}` with the
# parts it details. Keys beyond these are accepted (the SDK allows extra fields).
ANTHROPIC_CAPABILITIES = Shape(
    {
        "batch": SUPPORT,
        "citations": SUPPORT,
        "code_execution": SUPPORT,
        "context_management": Shape(
            {"supported": None},
            {"clear_thinking_20251015": SUPPORT, "clear_tool_uses_20250919": SUPPORT, "compact_20260112": SUPPORT},
        ),
        "effort": Shape(
            {"supported": None, "high": SUPPORT, "low": SUPPORT, "max": SUPPORT, "medium": SUPPORT}, {"xhigh": SUPPORT}
        ),
        "image_input": SUPPORT,
        "pdf_input": SUPPORT,
        "server_tools": Shape({"supported": None, "code_execution": SUPPORT, "web_search": SUPPORT}),
        "structured_outputs": SUPPORT,
        "thinking": Shape({"supported": None, "types": Shape(dict.fromkeys(THINKING_TYPES, SUPPORT))}),
    }
)


def _walk(value: Mapping[str, Any], shape: Shape, at: str, missing: list[str], wrong: list[str]) -> None:
    for key, inner in shape.required.items():
        path = at + key
        if value.get(key) is None:
            missing.append(path)
        elif inner is None:
            if not isinstance(value[key], bool):
                wrong.append(f"{path} must be true or false")
        elif isinstance(value[key], dict):
            _walk(value[key], inner, path + ".", missing, wrong)
        else:
            wrong.append(f"{path} must be an object")
    for key, inner in shape.optional.items():
        if value.get(key) is None:
            continue
        if isinstance(value[key], dict):
            _walk(value[key], inner, at + key + ".", missing, wrong)
        else:
            wrong.append(f"{at}{key} must be an object")


def capabilities_problem(value: Any) -> str | None:
    """Why Anthropic's SDK, validating strictly, would reject `value` as a model's capabilities; None if it would
    not."""
    if not isinstance(value, dict):
        return "must be an object (a mapping)"
    missing: list[str] = []
    wrong: list[str] = []
    _walk(value, ANTHROPIC_CAPABILITIES, "", missing, wrong)
    problems = []
    if missing:
        problems.append("missing " + ", ".join(missing))
    problems.extend(wrong)
    if not problems:
        return None
    return (
        "; ".join(problems)
        + ' (Anthropic\'s SDK requires every capability, each as {"supported": true|false}: import them from an '
        "Anthropic model list)"
    )


def is_token_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def is_timestamp(value: Any) -> bool:
    """An RFC 3339 timestamp, with its offset, that names a real moment."""
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _acceptable(name: str, value: Any) -> bool:
    if name == "display_name":
        return isinstance(value, str) and bool(value.strip())
    if name == "description":
        return isinstance(value, str)
    if name in ("max_input_tokens", "max_tokens"):
        return is_token_count(value)
    if name == "capabilities":
        return capabilities_problem(value) is None
    if name == "lifecycle":
        return value in LIFECYCLES
    return is_timestamp(value)  # deprecated_at, retires_at


def served(entry: Mapping[str, Any] | None) -> dict[str, Any]:
    """The entry's metadata that every client accepts; a field with any other value is left out, as if unset."""
    if not entry or METADATA.isdisjoint(entry):  # most entries carry none
        return {}
    return {
        name: entry[name] for name in METADATA_FIELDS if entry.get(name) is not None and _acceptable(name, entry[name])
    }
