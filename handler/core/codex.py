"""Codex CLI's catalog entries (codex-rs `ModelInfo`, as Codex 0.171 reads them): checking one, building one.

Codex drops its whole catalog, silently, when one entry lacks a field it reads without a default or holds a value
of another type. So an entry is checked before it is stored and again before it is served: one that would fail is
never served (the model gets a built entry instead).

A catalog model may carry `codex`, the whole entry Codex's own catalog has for it (`codex debug models`). Any other
model gets an entry built from the catalog's metadata, with the instructions of a donor: the first model of the
caller's list that has a stored entry. With no donor, a short neutral line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

FIELD = "codex"  # the catalog entry's field holding a model's Codex entry
SHELL_TYPES = ("default", "local", "unified_exec", "disabled", "shell_command")
VISIBILITIES = ("list", "hide", "none")
VERBOSITIES = ("low", "medium", "high")
APPLY_PATCH_TYPES = ("freeform", "function")
TRUNCATION_MODES = ("bytes", "tokens")
MODALITIES = ("text", "image")
_I32 = (-(2**31), 2**31 - 1)
_I64 = (-(2**63), 2**63 - 1)
# Served when no stored entry lends its instructions: ours, neutral, and short.
NEUTRAL_INSTRUCTIONS = (
    "You are a coding agent working in the user's project through the tools you are given. Read before you change "
    "anything, make focused changes, run the project's checks when you can, and say briefly what you did."
)
DEFAULT_TRUNCATION = {"mode": "bytes", "limit": 10_000}
# Fields a built entry borrows from its donor: the instructions (Codex prefers model_messages' template to
# base_instructions), and the tools they are written for.
BORROWED = ("base_instructions", "model_messages", "shell_type", "apply_patch_tool_type", "truncation_policy")


class InvalidEntry(ValueError):
    """A Codex entry that Codex would refuse; `field` is its dotted path inside the entry."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


Check = Callable[[Any, str], None]


def _fail(at: str, problem: str) -> None:
    raise InvalidEntry(at, problem)


def _string(value: Any, at: str) -> None:
    if not isinstance(value, str):
        _fail(at, "must be a string")


def _name(value: Any, at: str) -> None:
    if not isinstance(value, str) or not value:
        _fail(at, "must be a non-empty string")


def _bool(value: Any, at: str) -> None:
    if not isinstance(value, bool):
        _fail(at, "must be true or false")


def _integer(low: int, high: int) -> Check:
    def check(value: Any, at: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            _fail(at, f"must be an integer from {low} to {high}")

    return check


def _one_of(names: tuple[str, ...]) -> Check:
    def check(value: Any, at: str) -> None:
        if value not in names:
            _fail(at, f"must be one of {', '.join(names)}")

    return check


def _list_of(item: Check) -> Check:
    def check(value: Any, at: str) -> None:
        if not isinstance(value, list):
            _fail(at, "must be a list")
        for i, inner in enumerate(value):
            item(inner, f"{at}[{i}]")

    return check


def _optional(check: Check) -> Check:
    def optional(value: Any, at: str) -> None:
        if value is not None:
            check(value, at)

    return optional


def _object(required: Mapping[str, Check], optional: Mapping[str, Check] = {}) -> Check:  # read only
    def check(value: Any, at: str) -> None:
        if not isinstance(value, dict):
            _fail(at, "must be an object")
        for name, inner in required.items():
            if name not in value:
                _fail(f"{at}.{name}" if at else name, "is missing (Codex has no default for it)")
            inner(value[name], f"{at}.{name}" if at else name)
        for name, inner in optional.items():
            if name in value:
                inner(value[name], f"{at}.{name}" if at else name)

    return check


_i64 = _integer(*_I64)
# Required: Codex deserializes them without a default. The checks follow codex-rs's ModelInfo as the real 0.171 CLI
# reads it: a value failing one empties Codex's catalog (tests/test_codex_cli.py shows Codex each refused value).
# Codex 0.171 reads any string as a reasoning effort.
REQUIRED: dict[str, Check] = {
    "slug": _name,
    "display_name": _string,
    "supported_reasoning_levels": _list_of(_object({"effort": _string, "description": _string})),
    "shell_type": _one_of(SHELL_TYPES),
    "visibility": _one_of(VISIBILITIES),
    "supported_in_api": _bool,
    "priority": _integer(*_I32),
    "support_verbosity": _bool,
    "truncation_policy": _object({"mode": _one_of(TRUNCATION_MODES), "limit": _i64}),
    "experimental_supported_tools": _list_of(_string),
}
# Optional (absent or null is fine), but typed: a value of another type fails the catalog just the same.
OPTIONAL: dict[str, Check] = {
    name: _optional(check)
    for name, check in {
        "description": _string,
        "default_reasoning_level": _string,
        "upgrade": _object({"model": _string, "migration_markdown": _string}),
        "model_messages": _object({}, {"instructions_template": _optional(_string)}),
        "default_verbosity": _one_of(VERBOSITIES),
        "apply_patch_tool_type": _one_of(APPLY_PATCH_TYPES),
        "context_window": _i64,
        "max_context_window": _i64,
        "auto_compact_token_limit": _i64,
        "effective_context_window_percent": _i64,
        "input_modalities": _list_of(_one_of(MODALITIES)),
        # Newer than the codex-rs source we read; only their types are checked (Codex refuses other values too).
        "default_reasoning_summary": _string,
        "web_search_tool_type": _string,
        "service_tiers": _list_of(_object({"id": _string})),
    }.items()
}
_check_entry = _object(REQUIRED, OPTIONAL)


def check_entry(entry: Any) -> None:
    """Raises InvalidEntry naming the first field Codex would refuse. Fields Codex does not know are kept."""
    _check_entry(entry, "")
    # base_instructions is required, unless model_messages has a template (which Codex sends instead)
    template = (entry.get("model_messages") or {}).get("instructions_template")
    if isinstance(template, str):
        _optional(_string)(entry.get("base_instructions"), "base_instructions")
    elif "base_instructions" not in entry:
        _fail("base_instructions", "is missing (Codex has no default for it without model_messages' template)")
    else:
        _string(entry["base_instructions"], "base_instructions")


def is_servable(entry: Any) -> bool:
    try:
        check_entry(entry)
    except InvalidEntry:
        return False
    return True


def stored_entry(catalog: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The model's stored Codex entry when Codex would read it; None when it has none, or one stored broken."""
    entry = (catalog or {}).get(FIELD)
    return entry if isinstance(entry, dict) and is_servable(entry) else None


def _token_count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= _I64[1] else None


def served_entry(model_id: str, stored: Mapping[str, Any]) -> dict[str, Any]:
    """A stored entry as served: under the caller's model id, whatever slug it was imported with."""
    return {**stored, "slug": model_id}


def built_entry(
    model_id: str, catalog: Mapping[str, Any] | None, donor: Mapping[str, Any] | None, priority: int
) -> dict[str, Any]:
    """An entry for a model Codex does not know: the catalog's metadata, the donor's instructions and tools."""
    metadata = catalog or {}
    display_name = metadata.get("display_name")
    description = metadata.get("description")
    entry: dict[str, Any] = {
        "slug": model_id,
        "display_name": display_name if isinstance(display_name, str) and display_name else model_id,
        "description": description if isinstance(description, str) else None,
        "supported_reasoning_levels": [],
        "shell_type": "default",
        "visibility": "list",
        "supported_in_api": True,
        "priority": priority,
        "upgrade": None,
        "base_instructions": NEUTRAL_INSTRUCTIONS,
        "support_verbosity": False,
        "default_verbosity": None,
        "apply_patch_tool_type": None,
        "truncation_policy": DEFAULT_TRUNCATION,
        "experimental_supported_tools": [],
    }
    if donor is not None:
        entry.update({name: donor[name] for name in BORROWED if name in donor})
    context_window = _token_count(metadata.get("max_input_tokens"))
    if context_window is not None:
        entry["context_window"] = context_window
    return entry


def short_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The entry with the neutral line for instructions: what a model gets beyond the catalog's byte budget."""
    return {**{k: v for k, v in entry.items() if k != "model_messages"}, "base_instructions": NEUTRAL_INSTRUCTIONS}
