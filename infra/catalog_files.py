"""The files `modelgate models import` reads, each recognised by its shape:

- an OpenAI model list, `{"object": "list", "data": [...]}` (what GET /v1/models returns): the documented
  fields (created, owned_by, permission, root, parent) as given; its other fields are not read;
- an Anthropic /v1/models page, `{"data": [{"type": "model", ...}], "has_more": ...}`;
- a Gemini /v1beta/models page, `{"models": [{"name": "models/...", ...}], "nextPageToken": ...}`;
- an OpenRouter /api/v1/models list, `{"data": [{"id", "name", "context_length", "top_provider", ...}]}`;
- Codex CLI's catalog, `{"models": [{"slug", "base_instructions", ...}]}` (what `codex debug models` prints): each
  entry is stored whole as the model's `codex` field, checked as Codex reads it;
- a catalog YAML: a seed's `models:` section alone, or a bare list of catalog entries (metadata included).

Importing merges (`merged`): the fields a file gives replace the stored ones, the others stay. The three
provider formats only derive created and owned_by (from created_at, the provider, the id's vendor), so those fill
an entry that lacks them and never replace what the catalog holds. Codex's catalog likewise only fills the display
name, description and context window (max_input_tokens); its entry replaces the stored one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from handler.core import codex
from handler.core.catalog import METADATA_FIELDS
from infra.seed import METADATA, SeedError, canonical, load_document, model_entry, require_unique, timestamp

OPENAI, ANTHROPIC, GEMINI, OPENROUTER, CODEX, CATALOG = (
    "openai",
    "anthropic",
    "gemini",
    "openrouter",
    "codex",
    "catalog",
)
FORMAT_NAMES = {
    OPENAI: "OpenAI model list",
    ANTHROPIC: "Anthropic model list",
    GEMINI: "Gemini model list",
    OPENROUTER: "OpenRouter model list",
    CODEX: "Codex CLI catalog",
    CATALOG: "catalog",
}
DERIVED = frozenset({"created", "owned_by"})
CODEX_DERIVED = frozenset({"display_name", "description", "max_input_tokens"})
EXPECTED = (
    'an OpenAI model list {"object": "list", "data": [...]}, an Anthropic one {"data": [{"type": "model", ...}]}, '
    'a Gemini one {"models": [{"name": "models/...", ...}]}, an OpenRouter one {"data": [{"context_length", ...}]}, '
    'Codex CLI\'s catalog {"models": [{"slug", ...}]}, '
    "a seed's models: [...] section, or a bare list of models"
)
_OPENROUTER_MARKS = ("context_length", "top_provider", "canonical_slug", "pricing", "architecture")


@dataclass
class CatalogFile:
    format: str  # one of FORMAT_NAMES
    entries: list[dict[str, Any]]
    derived: frozenset[str] = frozenset()  # fields that only fill gaps (see `merged`)
    notes: list[str] = field(default_factory=list)


def merged(stored: Mapping[str, Any] | None, given: Mapping[str, Any], derived: frozenset[str]) -> dict[str, Any]:
    """An imported entry over the stored one: what the file gives wins, except derived fields the catalog has;
    nothing stored is dropped; the status stays unless the file gives one."""
    if stored is None:  # a given entry is in canonical order already, with its status last if it has one
        return {**given, "status": given.get("status", "enabled")}
    combined = {**stored, **{k: v for k, v in given.items() if k not in derived or k not in stored}}
    return combined if len(combined) == len(stored) else canonical(combined)


def _given(raw: dict[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """The fields of a provider's model object, renamed to the catalog's; absent and null ones left out."""
    return {ours: raw[theirs] for theirs, ours in names.items() if raw.get(theirs) is not None}


def _anthropic(raw: dict[str, Any], where: str) -> dict[str, Any]:
    names = {"id": "id", **{name: name for name in METADATA_FIELDS}}
    entry = {**_given(raw, names), "owned_by": "anthropic"}
    if raw.get("created_at") is not None:
        moment = timestamp(raw["created_at"], f"{where}.created_at")
        entry["created"] = int(datetime.fromisoformat(moment.upper().replace("Z", "+00:00")).timestamp())
    return entry


def _gemini(raw: dict[str, Any], where: str) -> dict[str, Any]:
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SeedError(f"{where}.name: must be a non-empty string (models/<id>)")
    names = {
        "displayName": "display_name",
        "description": "description",
        "inputTokenLimit": "max_input_tokens",
        "outputTokenLimit": "max_tokens",
    }
    return {"id": name.removeprefix("models/"), "owned_by": "google", **_given(raw, names)}


def _openrouter(raw: dict[str, Any], where: str) -> dict[str, Any]:
    names = {
        "id": "id",
        "created": "created",
        "name": "display_name",
        "description": "description",
        "context_length": "max_input_tokens",
    }
    entry = _given(raw, names)
    vendor, slash, _ = str(raw.get("id") or "").partition("/")
    if slash and vendor:
        entry["owned_by"] = vendor
    top = raw.get("top_provider")
    if isinstance(top, dict) and top.get("max_completion_tokens") is not None:
        entry["max_tokens"] = top["max_completion_tokens"]
    return entry


def _codex(raw: dict[str, Any], where: str) -> dict[str, Any]:
    slug = raw.get("slug")
    if not isinstance(slug, str) or not slug.strip():
        raise SeedError(f"{where}.slug: must be a non-empty string (the model id)")
    entry: dict[str, Any] = {"id": slug}
    for theirs, ours, usable in (
        ("display_name", "display_name", lambda v: isinstance(v, str) and v.strip()),
        ("description", "description", lambda v: isinstance(v, str)),
        ("context_window", "max_input_tokens", lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0),
    ):
        if usable(raw.get(theirs)):  # metadata only where Codex's value is one the catalog takes
            entry[ours] = raw[theirs]
    return {**entry, codex.FIELD: raw}


_TRANSLATE: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
    ANTHROPIC: _anthropic,
    GEMINI: _gemini,
    OPENROUTER: _openrouter,
    CODEX: _codex,
}


def _data_format(items: list[Any]) -> str:
    """Which list a `data` array is, by its first model object."""
    first = items[0] if items and isinstance(items[0], dict) else {}
    if "object" in first:
        return OPENAI
    if first.get("type") == "model":
        return ANTHROPIC
    if any(mark in first for mark in _OPENROUTER_MARKS):
        return OPENROUTER
    return OPENAI


def detect(document: Any, source: str) -> tuple[str, list[Any]]:
    """The document's format and its list of model objects."""
    if isinstance(document, dict) and isinstance(document.get("data"), list):
        if document.get("object", "list") != "list":
            raise SeedError(f"{source}: not a model list: its object is {document['object']!r}; expected {EXPECTED}")
        return _data_format(document["data"]), document["data"]
    if isinstance(document, dict) and isinstance(document.get("models"), list):
        items = document["models"]
        first = items[0] if items and isinstance(items[0], dict) else {}
        if "nextPageToken" in document or ("name" in first and "id" not in first):
            return GEMINI, items
        if "slug" in first and "id" not in first:
            return CODEX, items
        if set(document) != {"models"}:
            raise SeedError(f"{source}: has {', '.join(sorted(set(document) - {'models'}))} too; use `modelgate apply`")
        return CATALOG, items
    if isinstance(document, list):
        return CATALOG, document
    raise SeedError(f"{source}: not a model list; expected {EXPECTED}")


def _entry(kind: str, raw: Any, where: str) -> dict[str, Any]:
    """One model object of a `kind` file as a catalog entry; `status` only where the file gives one."""
    item = raw
    translate = _TRANSLATE.get(kind)
    if translate is not None:
        if not isinstance(raw, dict):
            raise SeedError(f"{where}: must be a mapping")
        if kind == ANTHROPIC and raw.get("type") != "model":
            raise SeedError(f'{where}.type: must be "model" in an Anthropic model list')
        item = translate(raw, where)
    elif kind == OPENAI and isinstance(raw, dict) and not METADATA.isdisjoint(raw):  # its documented fields only
        item = {k: v for k, v in raw.items() if k not in METADATA}
    entry = model_entry(item, where)
    if "status" not in item:
        del entry["status"]
    return entry


def parse_catalog(document: Any, source: str = "catalog") -> CatalogFile:
    """A catalog file's entries, fields as given (renamed from a provider's)."""
    kind, raw = detect(document, source)
    entries = [_entry(kind, item, f"{source}: model [{i}]") for i, item in enumerate(raw)]
    require_unique(entries, "id", f"{source}: models")
    derived = CODEX_DERIVED if kind == CODEX else DERIVED if kind in _TRANSLATE else frozenset()
    result = CatalogFile(kind, entries, derived)
    if isinstance(document, dict) and (document.get("has_more") is True or document.get("nextPageToken")):
        result.notes.append(f"{source} is one page of a longer list; import the other pages too")
    return result


def load_catalog(path: Path) -> CatalogFile:
    return parse_catalog(load_document(path), str(path))
