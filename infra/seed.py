"""Seed files: the declarative state an operator applies. YAML, so JSON works too.

models:  [{id, owned_by?, created?, permission?, root?, parent?, <metadata>?, codex?, status?}]   # the catalog
groups:  {name: [model id, ...]}                                           # ordered
users:   [{id, group, status?}]
tokens:  [{key, user, name?, models?, status?, expires_at?, allow_ips?, group?}]   # keys hashed when applied

<metadata>: display_name, description, max_input_tokens, max_tokens, capabilities, lifecycle, deprecated_at,
retires_at (handler.core.catalog.METADATA_FIELDS); a null one is not given. `codex`: the model's whole Codex CLI
catalog entry (handler.core.codex), checked as Codex would read it. Catalog files for `modelgate models import` are
read by infra.catalog_files.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from handler.core import codex
from handler.core.catalog import LIFECYCLES, METADATA_FIELDS, STORED_FIELDS
from handler.core.metadata import capabilities_problem
from infra.safe_yaml import UnsafeYaml, load_yaml

# libyaml's dumper when PyYAML has it: 4x faster on a 10,000-model export, the same bytes.
_SafeDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
STATUSES = ("enabled", "disabled")
TOKEN_STATUSES = ("enabled", "disabled", "expired", "exhausted")  # the last two as migrated from one-api
SECTIONS = ("models", "groups", "users", "tokens")
# A catalog entry's fields, in the order it is stored and exported.
ENTRY_FIELDS = ("id", *STORED_FIELDS, *METADATA_FIELDS, codex.FIELD, "status")
METADATA = frozenset(METADATA_FIELDS)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


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
    # Who keeps these records in step (`migrate`): they are marked so, and --prune removes only records so marked.
    origin: str | None = None


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


def _status(entry: dict[str, Any], where: str, allowed: tuple[str, ...] = STATUSES) -> str:
    status = entry.get("status", "enabled")
    if status not in allowed:
        raise SeedError(f"{where}.status: must be {', '.join(allowed[:-1])} or {allowed[-1]}")
    return str(status)


def allow_ips(value: Any, where: str) -> list[str] | None:
    """A token's allowed client networks: CIDRs or addresses (a list, or one comma-separated string), normalized."""
    if value is None:
        return None
    parts = [p.strip() for p in value.split(",")] if isinstance(value, str) else value
    if not isinstance(parts, list) or not parts or not all(isinstance(p, str) and p.strip() for p in parts):
        raise SeedError(f"{where}: must be a list of IP addresses or CIDR networks")
    try:
        return list(dict.fromkeys(str(ipaddress.ip_network(p.strip(), strict=False)) for p in parts))
    except ValueError as error:
        raise SeedError(f"{where}: {error}") from None


def _model_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list):
        raise SeedError(f"{where}: must be a list of model ids")
    ids = [_text(item, f"{where}[{i}]") for i, item in enumerate(value)]
    for i, model_id in enumerate(ids):
        if model_id in ids[:i]:
            raise SeedError(f"{where}[{i}]: duplicate model id {model_id!r}")
    return ids


def require_unique(items: list[dict[str, Any]], field_name: str, where: str) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item[field_name] in seen:
            label = "a key" if field_name == "key" else repr(item[field_name])
            raise SeedError(f"{where}[{i}]: duplicate {field_name}: {label}")
        seen.add(item[field_name])


def _parsed(parse: Callable[[str], Any], text: str) -> Any:
    try:
        return parse(text)
    except ValueError:
        return None


def timestamp(value: Any, where: str) -> str:
    """An RFC 3339 timestamp, as written (upper case); a date alone is its midnight UTC. YAML reads unquoted ones
    as datetimes and dates: written as RFC 3339."""
    if isinstance(value, str) and _DATE.fullmatch(value):
        value = _parsed(date.fromisoformat, value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.isoformat().replace("+00:00", "Z")
    elif isinstance(value, date):
        return f"{value.isoformat()}T00:00:00Z"
    elif (
        isinstance(value, str)
        and _RFC3339.fullmatch(value)
        and _parsed(datetime.fromisoformat, value.upper().replace("Z", "+00:00")) is not None
    ):
        return value.upper()  # `t` and `z` are allowed, and not every client reads them
    raise SeedError(f"{where}: must be an RFC 3339 timestamp, e.g. 2026-01-01T00:00:00Z, or a date")


def _json_object(value: Any, where: str) -> dict[str, Any]:
    """A JSON object: string keys, and values JSON can hold (YAML can write dates and numeric keys too)."""

    def check(item: Any, at: str) -> None:
        if isinstance(item, dict):
            for key, inner in item.items():
                if not isinstance(key, str):
                    raise SeedError(f"{at}: keys must be strings, not {key!r}")
                check(inner, f"{at}.{key}")
        elif isinstance(item, list):
            for i, inner in enumerate(item):
                check(inner, f"{at}[{i}]")
        elif not (item is None or isinstance(item, str | int | float | bool)):
            raise SeedError(f"{at}: must be a JSON value (a string, number, boolean, null, list or object)")

    if not isinstance(value, dict):
        raise SeedError(f"{where}: must be an object (a mapping)")
    check(value, where)
    return value


def _token_count(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SeedError(f"{where}: must be a non-negative integer")
    return value


def metadata_value(name: str, value: Any, where: str) -> Any:
    """One metadata field's value, checked (and a YAML datetime written as RFC 3339)."""
    if name == "display_name":
        return _text(value, where)
    if name == "description":
        if not isinstance(value, str):
            raise SeedError(f"{where}: must be a string")
        return value
    if name in ("max_input_tokens", "max_tokens"):
        return _token_count(value, where)
    if name == "capabilities":
        problem = capabilities_problem(_json_object(value, where))
        if problem:
            raise SeedError(f"{where}: {problem}")
        return value
    if name == "lifecycle":
        if value not in LIFECYCLES:
            raise SeedError(f"{where}: must be one of {', '.join(LIFECYCLES)}")
        return value
    return timestamp(value, where)


# A catalog model is one DynamoDB item (400 KB at most); Codex's own entries are 40-90 KB.
CODEX_ENTRY_MAX_BYTES = 256 * 1024


def codex_entry(value: Any, where: str, model_id: str) -> dict[str, Any]:
    """A model's Codex entry, refused (one line: where, the field, what is wrong, the model) if Codex would not
    read it, or if it is too big to store."""
    entry = _json_object(value, where)
    try:
        codex.check_entry(entry)
    except codex.InvalidEntry as error:
        raise SeedError(f"{where}.{error.field}: {error.problem} (model {model_id})") from None
    size = len(json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode())
    if size > CODEX_ENTRY_MAX_BYTES:
        raise SeedError(f"{where}: {size:,} bytes, at most {CODEX_ENTRY_MAX_BYTES:,} (model {model_id})")
    return entry


def canonical(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry's fields in ENTRY_FIELDS order, so that the same entry is always stored as the same bytes."""
    return {name: entry[name] for name in ENTRY_FIELDS if name in entry}


def model_entry(raw: Any, where: str) -> dict[str, Any]:
    """A catalog entry: its id, the documented fields and the metadata it gives (kept as given), its status."""
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
    if not METADATA.isdisjoint(raw):  # most entries have none: 10,000 of them are imported in a blink
        named = f"{where} ({entry['id']})"  # a refusal names the model, the field and what is wrong
        for name in METADATA_FIELDS:
            if raw.get(name) is not None:
                entry[name] = metadata_value(name, raw[name], f"{named}.{name}")
    if raw.get(codex.FIELD) is not None:
        entry[codex.FIELD] = codex_entry(raw[codex.FIELD], f"{where}.{codex.FIELD}", entry["id"])
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
    require_unique(seed.models, "id", "models")
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
    require_unique(seed.users, "id", "users")
    for i, raw in enumerate(document.get("tokens") or []):
        where = f"tokens[{i}]"
        if not isinstance(raw, dict):
            raise SeedError(f"{where}: must be a mapping")
        token: dict[str, Any] = {
            "key": _text(raw.get("key"), f"{where}.key"),
            "user": _text(raw.get("user"), f"{where}.user"),
            "name": str(raw.get("name") or ""),
            "models": None if raw.get("models") is None else _model_list(raw["models"], f"{where}.models"),
            "status": _status(raw, where, TOKEN_STATUSES),
            "expires_at": None
            if raw.get("expires_at") is None
            else parse_time(raw["expires_at"], f"{where}.expires_at"),
            "allow_ips": allow_ips(raw.get("allow_ips"), f"{where}.allow_ips"),
            "group": None if raw.get("group") is None else _text(raw["group"], f"{where}.group"),
        }
        seed.tokens.append(token)
    require_unique(seed.tokens, "key", "tokens")
    return seed


def load_document(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SeedError(f"{path}: cannot read: {getattr(error, 'strerror', None) or error}") from None
    try:  # JSON first: a 10,000-model list parses in milliseconds, where a YAML parser takes seconds
        return json.loads(text)
    except ValueError:
        pass
    try:
        return load_yaml(text)
    except yaml.YAMLError as error:
        raise SeedError(f"{path}: not valid YAML or JSON: {error}") from None
    except UnsafeYaml as error:
        raise SeedError(f"{path}: {error}") from None


def load_seed(path: Path) -> Seed:
    return parse_seed(load_document(path), str(path))


def dump_seed(seed: Seed, header: str = "") -> str:
    """A seed as YAML that re-applies to the same state (keys are never exported)."""
    document: dict[str, Any] = {"models": seed.models, "groups": seed.groups, "users": seed.users}
    if seed.tokens:
        document["tokens"] = seed.tokens
    plain = json.loads(json.dumps(document))
    body = yaml.dump(plain, Dumper=_SafeDumper, sort_keys=False, allow_unicode=True, width=120)
    return "".join(f"# {line}\n" for line in header.splitlines()) + body
