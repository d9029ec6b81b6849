"""one-api's and new-api's users, abilities and tokens as a modelgate seed (groups, users, tokens).

The facts, from their GORM models:
- users: username is the modelgate id; status 1 enabled, 2 disabled; group (empty: default); new-api soft-deletes
  with deleted_at, and a deleted user is not migrated.
- abilities (group, model, channel_id, enabled): a group's models are the distinct models of its enabled
  abilities, sorted, as one-api's GetGroupModels returns them.
- tokens: key (stored without sk-; ours is sha256("sk-" + key)), status 1 enabled, 2 disabled, 3 expired,
  4 exhausted; expired_time -1 is never; a limited quota at or below zero is exhausted (ValidateUserToken).
  one-api limits models with `models` and networks with `subnet` (CIDRs, comma-separated); new-api with
  model_limits_enabled + model_limits, allow_ips (one address or network a line), a token group, deleted_at.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from handler.core import keys
from handler.core.records import DISABLED, ENABLED, EXHAUSTED, EXPIRED
from infra.migrate.source import Source, SourceError
from infra.seed import Seed

ONE_API, NEW_API = "one-api", "new-api"
DEFAULT_GROUP = "default"
TOKEN_STATUSES = {1: ENABLED, 2: DISABLED, 3: EXPIRED, 4: EXHAUSTED}
USER_STATUSES = {1: ENABLED, 2: DISABLED}

REQUIRED = {
    "users": {"id", "username", "status", "group"},
    "abilities": {"group", "model", "enabled"},
    "tokens": {"id", "user_id", "key", "status", "name", "expired_time", "remain_quota", "unlimited_quota"},
}
NEW_API_TOKENS = {"model_limits_enabled", "model_limits", "allow_ips", "group", "deleted_at"}
_SEPARATORS = re.compile(r"[\s,;]+")


class MappingError(SourceError):
    """A row that cannot become a modelgate record; the message names it, and masks its key."""


@dataclass
class Migration:
    """What the source holds, as a seed, and what was left out (and why)."""

    flavour: str
    seed: Seed
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    counts: dict[str, int] = field(default_factory=dict)  # rows read per table

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def detect_flavour(source: Source) -> str:
    """new-api when its token columns are there, one-api when only the common ones are; otherwise refused."""
    missing = [
        f"{table}.{column}" for table, columns in REQUIRED.items() for column in sorted(columns - source.columns(table))
    ]
    if missing:
        tables = [t for t in REQUIRED if not source.columns(t)]
        what = f"no {', '.join(tables)} table" if tables else f"missing {', '.join(missing)}"
        raise SourceError(f"{source.url.shown}: not a one-api or new-api database ({what})")
    if NEW_API_TOKENS.issubset(source.columns("tokens")):
        return NEW_API
    return ONE_API


def read_source(source: Source, origin: str) -> Migration:
    """The whole source as a seed whose records carry `origin` (ownership.origin_of the source's identity)."""
    flavour = detect_flavour(source)
    migration = Migration(flavour, Seed(sections=frozenset({"groups", "users", "tokens"}), origin=origin))
    users = _users(source, migration)
    groups = _groups(source, migration)
    tokens = _tokens(source, migration, users)
    for group in [*(u["group"] for u in migration.seed.users), *(t["group"] for t in tokens if t.get("group"))]:
        groups.setdefault(group, [])
    migration.seed.groups = dict(sorted(groups.items()))
    migration.seed.tokens = tokens
    return migration


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def _flag(value: Any) -> bool:
    """GORM's booleans: 0/1 integers in MySQL and SQLite (and b'\\x01' bits), true/false in PostgreSQL."""
    if isinstance(value, bytes | bytearray):
        return any(value)
    if isinstance(value, str):
        return value.strip().lower() in {"1", "t", "true"}
    return bool(value)


def _ident(value: Any) -> str | None:
    text = _text(value).strip()
    return text if text and not any(c.isspace() or not c.isprintable() for c in text) else None


def _users(source: Source, migration: Migration) -> dict[int, str]:
    """Migrated users by source id -> username."""
    has_deleted = "deleted_at" in source.columns("users")
    columns = ["id", "username", "status", source.quote("group")] + (["deleted_at"] if has_deleted else [])
    by_id: dict[int, str] = {}
    names: set[str] = set()
    for row in source.rows(f"SELECT {', '.join(columns)} FROM users ORDER BY id"):  # noqa: S608  # constant names
        migration.counts["users"] = migration.counts.get("users", 0) + 1
        user_id, username, status = row[0], _ident(row[1]), row[2]
        if has_deleted and row[4] is not None:
            migration.skip("soft-deleted users")
            continue
        where = f"users row id={user_id}"
        if username is None:
            raise MappingError(f"{where}: username {_text(row[1])!r} is not a modelgate id (empty or with spaces)")
        if username in names:
            raise MappingError(f"{where}: username {username!r} appears twice")
        if status not in USER_STATUSES:
            raise MappingError(f"{where} ({username}): status {status!r} is neither 1 (enabled) nor 2 (disabled)")
        group = _ident(row[3]) or (DEFAULT_GROUP if not _text(row[3]).strip() else None)
        if group is None:
            raise MappingError(f"{where} ({username}): group {_text(row[3])!r} is not a modelgate group name")
        names.add(username)
        by_id[int(user_id)] = username
        migration.seed.users.append({"id": username, "group": group, "status": USER_STATUSES[status]})
    return by_id


def _groups(source: Source, migration: Migration) -> dict[str, list[str]]:
    """Each group's distinct models of enabled abilities, sorted (Go's sort.Strings: by bytes, as here)."""
    models: dict[str, set[str]] = {}
    sql = f"SELECT {source.quote('group')}, model, enabled FROM abilities"  # noqa: S608  # constant names
    for group_value, model_value, enabled in source.rows(sql):
        migration.counts["abilities"] = migration.counts.get("abilities", 0) + 1
        group, model = _ident(group_value), _text(model_value).strip()
        if group is None or not model:
            migration.skip("abilities without a group or model name")
            continue
        members = models.setdefault(group, set())
        if _flag(enabled):
            members.add(model)
    return {group: sorted(members, key=lambda m: m.encode()) for group, members in models.items()}


def _models(text: str) -> list[str]:
    return list(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))


def networks(text: str, where: str) -> list[str] | None:
    """CIDRs or addresses, separated by commas or lines, normalized (10.0.0.1 -> 10.0.0.1/32); None when empty."""
    parts = [p for p in _SEPARATORS.split(text) if p]
    if not parts:
        return None
    found = []
    for part in parts:
        try:
            found.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise MappingError(f"{where}: {part!r} is not an IP address or network") from None
    return list(dict.fromkeys(found))


def _token_columns(source: Source, flavour: str) -> list[str]:
    common = ["id", "user_id", source.quote("key"), "status", "name", "expired_time", "remain_quota"]
    common.append("unlimited_quota")
    if flavour == NEW_API:
        extra = ["model_limits_enabled", "model_limits", "allow_ips", source.quote("group"), "deleted_at"]
    else:  # older one-api releases lack models and subnet
        extra = [c if c in source.columns("tokens") else "NULL" for c in ("models", "subnet")]
    return common + extra


def _tokens(source: Source, migration: Migration, users: dict[int, str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    columns = ", ".join(_token_columns(source, migration.flavour))
    sql = f"SELECT {columns} FROM tokens ORDER BY id"  # noqa: S608  # constant names
    for row in source.rows(sql):
        migration.counts["tokens"] = migration.counts.get("tokens", 0) + 1
        token = _token(row, migration, users)
        if token is None:
            continue
        if token["key"] in seen:
            raise MappingError(f"tokens row id={row[0]} (key {keys.mask(token['key'])}): the same key twice")
        seen.add(token["key"])
        found.append(token)
    return found


def _token(row: tuple[Any, ...], migration: Migration, users: dict[int, str]) -> dict[str, Any] | None:
    token_id, user_id, raw_key, status, name, expired_time, remain_quota, unlimited = row[:8]
    bare = _text(raw_key).strip().removeprefix(keys.PREFIX)
    key = keys.PREFIX + bare
    where = f"tokens row id={token_id} (key {keys.mask(key)})"
    if migration.flavour == NEW_API and row[12] is not None:
        migration.skip("soft-deleted tokens")
        return None
    if not bare or not keys.is_well_formed(key):
        raise MappingError(f"{where}: the key is empty or not printable ASCII without spaces")
    owner = users.get(int(user_id)) if user_id is not None else None
    if owner is None:
        migration.skip("tokens whose owner is deleted or missing")
        return None
    if status not in TOKEN_STATUSES:
        raise MappingError(f"{where}: status {status!r} is not 1 (enabled), 2 (disabled), 3 (expired) or 4 (exhausted)")
    mapped = TOKEN_STATUSES[status]
    if mapped == ENABLED and not _flag(unlimited) and int(remain_quota or 0) <= 0:
        mapped = EXHAUSTED  # one-api refuses it as out of quota
    try:
        expiry = int(expired_time) if expired_time is not None else -1
    except (TypeError, ValueError):
        raise MappingError(f"{where}: expired_time {expired_time!r} is not Unix seconds") from None
    token: dict[str, Any] = {
        "key": key,
        "user": owner,
        "name": _text(name),
        "models": None,
        "status": mapped,
        "expires_at": None if expiry == -1 else float(expiry),
        "allow_ips": None,
        "group": None,
    }
    if migration.flavour == NEW_API:
        limits_on, limits, allow_ips, group = row[8:12]
        token["models"] = _models(_text(limits)) if _flag(limits_on) else None
        token["allow_ips"] = networks(_text(allow_ips), where)
        if _text(group).strip():
            token["group"] = _ident(group)
            if token["group"] is None:
                raise MappingError(f"{where}: group {_text(group)!r} is not a modelgate group name")
    else:
        models, subnet = row[8:10]
        token["models"] = _models(_text(models)) or None  # empty: no limit
        token["allow_ips"] = networks(_text(subnet), where)
    return token
