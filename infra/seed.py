"""Seed files: the declarative state an operator applies. YAML, so JSON works too.

models:  [{id, owned_by?, created?, permission?, root?, parent?, status?}]   # the catalog
groups:  {name: [model id, ...]}                                           # ordered
users:   [{id, group, status?}]
tokens:  [{key, user, name?, models?, status?, expires_at?}]              # keys are hashed when applied

A catalog file (`modelgate models import`) is an OpenAI model list `{"object": "list", "data": [...]}`, a
seed's `models:` section alone, or a bare list of model objects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from handler.core.catalog import STORED_FIELDS

# libyaml's loader and dumper when PyYAML has them: 4x faster on a 10,000-model export, the same bytes.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SafeDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
STATUSES = ("enabled", "disabled")
SECTIONS = ("models", "groups", "users", "tokens")


class SeedError(ValueError):
    """A seed file that cannot be applied. The message says where; it never quotes a key."""


@dataclass
class Seed:
    models: list[dict[str, Any]] = field(default_factory=list)
    groups: dict[str, list[str]] = field(default_factory=dict)
    users: list[dict[str, Any]] = field(default_factory=list)
    tokens: list[dict[str, Any]] = field(default_factory=list)
    # The sections the file has: `apply --prune` prunes only inside them.
    sections: frozenset[str] = frozenset()


def parse_time(value: Any, where: str) -> float:
    """An ISO-8601 date or datetime (UTC unless it says otherwise), or epoch seconds."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise SeedError(f"{where}: not a date: {value!r}") from None
    else:
        raise SeedError(f"{where}: not a date")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SeedError(f"{where}: must be a non-empty string")
    return value


def _status(entry: dict[str, Any], where: str) -> str:
    status = entry.get("status", "enabled")
    if status not in STATUSES:
        raise SeedError(f"{where}.status: must be enabled or disabled")
    return str(status)


def _model_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list):
        raise SeedError(f"{where}: must be a list of model ids")
    ids = [_text(item, f"{where}[{i}]") for i, item in enumerate(value)]
    for i, model_id in enumerate(ids):
        if model_id in ids[:i]:
            raise SeedError(f"{where}[{i}]: duplicate model id {model_id!r}")
    return ids


def _unique(items: list[dict[str, Any]], field_name: str, where: str) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item[field_name] in seen:
            label = "a key" if field_name == "key" else repr(item[field_name])
            raise SeedError(f"{where}[{i}]: duplicate {field_name}: {label}")
        seen.add(item[field_name])


def model_entry(raw: Any, where: str) -> dict[str, Any]:
    """A catalog entry: its id, the documented fields it gives (kept as given) and its status."""
    if not isinstance(raw, dict):
        raise SeedError(f"{where}: must be a mapping")
    entry: dict[str, Any] = {"id": _text(raw.get("id"), f"{where}.id")}
    for name in STORED_FIELDS:
        if name in raw:
            entry[name] = raw[name]
    if "created" in entry and (not isinstance(entry["created"], int) or isinstance(entry["created"], bool)):
        raise SeedError(f"{where}.created: must be an integer (epoch seconds)")
    if "owned_by" in entry:
        _text(entry["owned_by"], f"{where}.owned_by")
    if "permission" in entry and not (entry["permission"] is None or isinstance(entry["permission"], list)):
        raise SeedError(f"{where}.permission: must be a list of permission objects or null")
    entry["status"] = _status(raw, where)
    return entry


def parse_seed(document: Any, source: str = "seed") -> Seed:
    if document is None:
        return Seed()
    if not isinstance(document, dict):
        raise SeedError(f"{source}: must be a mapping with models, groups, users and tokens")
    unknown = set(document) - set(SECTIONS)
    if unknown:
        raise SeedError(f"{source}: unknown section(s): {', '.join(sorted(map(str, unknown)))}")
    seed = Seed(sections=frozenset(document))
    for i, raw in enumerate(document.get("models") or []):
        seed.models.append(model_entry(raw, f"models[{i}]"))
    _unique(seed.models, "id", "models")
    groups = document.get("groups") or {}
    if not isinstance(groups, dict):
        raise SeedError("groups: must map group names to lists of model ids")
    for name, members in groups.items():
        seed.groups[_text(name, "groups")] = _model_list(members or [], f"groups.{name}")
    for i, raw in enumerate(document.get("users") or []):
        where = f"users[{i}]"
        if not isinstance(raw, dict):
            raise SeedError(f"{where}: must be a mapping")
        seed.users.append(
            {
                "id": _text(raw.get("id"), f"{where}.id"),
                "group": _text(raw.get("group"), f"{where}.group"),
                "status": _status(raw, where),
            }
        )
    _unique(seed.users, "id", "users")
    for i, raw in enumerate(document.get("tokens") or []):
        where = f"tokens[{i}]"
        if not isinstance(raw, dict):
            raise SeedError(f"{where}: must be a mapping")
        token: dict[str, Any] = {
            "key": _text(raw.get("key"), f"{where}.key"),
            "user": _text(raw.get("user"), f"{where}.user"),
            "name": str(raw.get("name") or ""),
            "models": None if raw.get("models") is None else _model_list(raw["models"], f"{where}.models"),
            "status": _status(raw, where),
            "expires_at": None
            if raw.get("expires_at") is None
            else parse_time(raw["expires_at"], f"{where}.expires_at"),
        }
        seed.tokens.append(token)
    _unique(seed.tokens, "key", "tokens")
    return seed


def _load(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SeedError(f"{path}: cannot read: {getattr(error, 'strerror', None) or error}") from None
    try:  # JSON first: a 10,000-model list parses in milliseconds, where a YAML parser takes seconds
        return json.loads(text)
    except ValueError:
        pass
    try:
        return yaml.load(text, Loader=_SafeLoader)  # noqa: S506  # a safe loader
    except yaml.YAMLError as error:
        raise SeedError(f"{path}: not valid YAML or JSON: {error}") from None


def load_seed(path: Path) -> Seed:
    return parse_seed(_load(path), str(path))


def parse_catalog(document: Any, source: str = "catalog") -> list[dict[str, Any]]:
    """A catalog file's entries, documented fields as given; `status` only where the file gives one."""
    if isinstance(document, dict) and "data" in document and document.get("object", "list") == "list":
        raw = document["data"]
    elif isinstance(document, dict) and set(document) == {"models"}:
        raw = document["models"]
    elif isinstance(document, dict) and "models" in document:
        raise SeedError(f"{source}: has {', '.join(sorted(set(document) - {'models'}))} too; use `modelgate apply`")
    else:
        raw = document
    if not isinstance(raw, list):
        raise SeedError(f'{source}: not a model list (expected {{"object": "list", "data": [...]}} or models: [...])')
    entries = []
    for i, item in enumerate(raw):
        entry = model_entry(item, f"{source}: model [{i}]")
        if "status" not in item:
            del entry["status"]
        entries.append(entry)
    _unique(entries, "id", f"{source}: models")
    return entries


def load_catalog(path: Path) -> list[dict[str, Any]]:
    return parse_catalog(_load(path), str(path))


def dump_seed(seed: Seed, header: str = "") -> str:
    """A seed as YAML that re-applies to the same state (keys are never exported)."""
    document: dict[str, Any] = {"models": seed.models, "groups": seed.groups, "users": seed.users}
    if seed.tokens:
        document["tokens"] = seed.tokens
    plain = json.loads(json.dumps(document))
    body = yaml.dump(plain, Dumper=_SafeDumper, sort_keys=False, allow_unicode=True, width=120)
    return "".join(f"# {line}\n" for line in header.splitlines()) + body
