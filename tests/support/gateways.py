"""one-api and new-api databases for the migrate tests: their tables as GORM's auto-migration creates them on
SQLite, MySQL/MariaDB and PostgreSQL, and rows covering every case the mapping knows.

The schemas follow the Go structs (one-api model/user.go, token.go, ability.go; new-api's the same, with soft
deletes, model limits, allow_ips and token groups) through GORM's per-dialect type rules:
- Go int/int64: bigint (MySQL, PostgreSQL), integer (SQLite); `type:int` stays int; the id is AUTO_INCREMENT /
  bigserial / integer PRIMARY KEY AUTOINCREMENT.
- string without size: longtext (MySQL), text; with an index or a default, varchar(191) on MySQL.
- bool: boolean (MySQL's tinyint(1), so 0/1), numeric on SQLite (0/1), boolean on PostgreSQL.
- gorm.DeletedAt: datetime(3) / datetime / timestamptz.
- `group` and `key` are reserved words: quoted (backticks on MySQL and SQLite, double quotes on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

ONE_API, NEW_API = "one-api", "new-api"
ENGINES = ("sqlite", "mysql", "postgresql")

# GORM's DataTypeOf, per kind of Go field, per dialect.
TYPES: dict[str, dict[str, str]] = {
    "id": {"mysql": "bigint AUTO_INCREMENT", "sqlite": "integer PRIMARY KEY AUTOINCREMENT", "postgresql": "bigserial"},
    "int": {"mysql": "bigint", "sqlite": "integer", "postgresql": "bigint"},
    "uint": {"mysql": "bigint unsigned", "sqlite": "integer", "postgresql": "bigint"},
    "int32": {"mysql": "int", "sqlite": "int", "postgresql": "int"},
    "text": {"mysql": "longtext", "sqlite": "text", "postgresql": "text"},
    "indexed": {"mysql": "varchar(191)", "sqlite": "text", "postgresql": "text"},
    "bool": {"mysql": "boolean", "sqlite": "numeric", "postgresql": "boolean"},
    "deleted_at": {"mysql": "datetime(3) NULL", "sqlite": "datetime", "postgresql": "timestamptz"},
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # a TYPES key, or a literal SQL type from a `type:` tag
    default: str | None = None
    extra: str = ""  # NOT NULL, UNIQUE

    def sql(self, engine: str) -> str:
        type_ = TYPES[self.kind][engine] if self.kind in TYPES else self.kind
        text = f"{quote(self.name, engine)} {type_}"
        if self.extra:
            text += f" {self.extra}"
        if self.default is not None:
            text += f" DEFAULT {self.default}"
        return text


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ("id",)
    indexes: tuple[str, ...] = ()
    unique: tuple[str, ...] = ()

    def ddl(self, engine: str) -> list[str]:
        parts = [c.sql(engine) for c in self.columns]
        if not (engine == "sqlite" and self.primary_key == ("id",)):
            parts.append(f"PRIMARY KEY ({', '.join(quote(c, engine) for c in self.primary_key)})")
        statements = [f"CREATE TABLE {quote(self.name, engine)} ({','.join(parts)})"]
        for unique in self.unique:
            statements.append(
                f"CREATE UNIQUE INDEX {quote(f'idx_{self.name}_{unique}', engine)} "
                f"ON {quote(self.name, engine)} ({quote(unique, engine)})"
            )
        for index in self.indexes:
            statements.append(
                f"CREATE INDEX {quote(f'idx_{self.name}_{index}', engine)} "
                f"ON {quote(self.name, engine)} ({quote(index, engine)})"
            )
        return statements


def quote(name: str, engine: str) -> str:
    return f'"{name}"' if engine == "postgresql" else f"`{name}`"


def _one_api() -> tuple[Table, ...]:
    users = Table(
        "users",
        (
            Column("id", "id"),
            Column("username", "indexed", extra="UNIQUE"),
            Column("password", "text", extra="NOT NULL"),
            Column("display_name", "indexed"),
            Column("role", "int", "1"),
            Column("status", "int", "1"),
            Column("email", "indexed"),
            Column("github_id", "indexed"),
            Column("wechat_id", "indexed"),
            Column("lark_id", "indexed"),
            Column("oidc_id", "indexed"),
            Column("access_token", "char(32)"),
            Column("quota", "int", "0"),
            Column("used_quota", "int", "0"),
            Column("request_count", "int", "0"),
            Column("group", "varchar(32)", "'default'"),
            Column("aff_code", "varchar(32)"),
            Column("inviter_id", "int"),
        ),
        indexes=("username", "display_name", "email", "github_id", "wechat_id", "lark_id", "oidc_id", "inviter_id"),
        unique=("access_token", "aff_code"),
    )
    tokens = Table(
        "tokens",
        (
            Column("id", "id"),
            Column("user_id", "int"),
            Column("key", "char(48)"),
            Column("status", "int", "1"),
            Column("name", "indexed"),
            Column("created_time", "int"),
            Column("accessed_time", "int"),
            Column("expired_time", "int", "-1"),
            Column("remain_quota", "int", "0"),
            Column("unlimited_quota", "bool", "false"),
            Column("used_quota", "int", "0"),
            Column("models", "indexed", "''"),
            Column("subnet", "indexed", "''"),
        ),
        indexes=("name",),
        unique=("key",),
    )
    return users, tokens, _abilities(group="varchar(32)", model="indexed", new_api=False)


def _abilities(*, group: str, model: str, new_api: bool) -> Table:
    columns = [
        Column("group", group),
        Column("model", model),
        Column("channel_id", "int"),
        Column("enabled", "bool"),
        Column("priority", "int", "0"),
    ]
    if new_api:
        columns += [Column("weight", "uint", "0"), Column("tag", "indexed")]
    return Table(
        "abilities",
        tuple(columns),
        primary_key=("group", "model", "channel_id"),
        indexes=("channel_id", "priority", *(("weight", "tag") if new_api else ())),
    )


def _new_api() -> tuple[Table, ...]:
    users = Table(
        "users",
        (
            Column("id", "id"),
            Column("username", "indexed", extra="UNIQUE"),
            Column("password", "text", extra="NOT NULL"),
            Column("display_name", "indexed"),
            Column("role", "int32", "1"),
            Column("status", "int32", "1"),
            Column("email", "indexed"),
            Column("github_id", "indexed"),
            Column("discord_id", "indexed"),
            Column("oidc_id", "indexed"),
            Column("wechat_id", "indexed"),
            Column("telegram_id", "indexed"),
            Column("access_token", "char(32)"),
            Column("quota", "int32", "0"),
            Column("used_quota", "int32", "0"),
            Column("request_count", "int32", "0"),
            Column("group", "varchar(64)", "'default'"),
            Column("aff_code", "varchar(32)"),
            Column("aff_count", "int32", "0"),
            Column("aff_quota", "int32", "0"),
            Column("aff_history", "int32", "0"),
            Column("inviter_id", "int32"),
            Column("deleted_at", "deleted_at"),
            Column("linux_do_id", "indexed"),
            Column("setting", "text"),
            Column("remark", "varchar(255)"),
            Column("created_at", "int"),
            Column("last_login_at", "int", "0"),
        ),
        indexes=("username", "display_name", "email", "github_id", "inviter_id", "deleted_at", "linux_do_id"),
        unique=("access_token", "aff_code"),
    )
    tokens = Table(
        "tokens",
        (
            Column("id", "id"),
            Column("user_id", "int"),
            Column("key", "varchar(128)"),
            Column("status", "int", "1"),
            Column("name", "indexed"),
            Column("created_time", "int"),
            Column("accessed_time", "int"),
            Column("expired_time", "int", "-1"),
            Column("remain_quota", "int", "0"),
            Column("unlimited_quota", "bool"),
            Column("model_limits_enabled", "bool"),
            Column("model_limits", "text"),
            Column("allow_ips", "indexed", "''"),
            Column("used_quota", "int", "0"),
            Column("group", "indexed", "''"),
            Column("cross_group_retry", "bool"),
            Column("deleted_at", "deleted_at"),
        ),
        indexes=("user_id", "name", "deleted_at"),
        unique=("key",),
    )
    return users, tokens, _abilities(group="varchar(64)", model="varchar(255)", new_api=True)


SCHEMAS = {ONE_API: _one_api(), NEW_API: _new_api()}


def ddl(flavour: str, engine: str) -> list[str]:
    return [statement for table in SCHEMAS[flavour] for statement in table.ddl(engine)]


# -- the rows ------------------------------------------------------------------------------------------------------

NOW = 1_800_000_000  # the tests' "now" is the real clock; these are relative to it at build time
CATALOG = [
    {"id": "gpt-4o", "owned_by": "openai", "created": 1715367049},
    {"id": "gpt-4o-mini", "owned_by": "openai", "created": 1721172741},
    {"id": "o3-mini", "owned_by": "openai", "created": 1737146383},
    {"id": "claude-3-5-sonnet", "owned_by": "anthropic", "created": 1718841600},
]
CATALOG_IDS = {m["id"] for m in CATALOG}


def key_of(n: int, tag: str = "k") -> str:
    """A 48-character one-api key (letters and digits), stored without sk-."""
    return f"{tag}{n:06d}".ljust(42, "x") + f"{n:06d}"  # masked, sk-k0****0042: each shows its number


@dataclass
class GatewayRows:
    """The rows of one gateway database, and what each key should get."""

    flavour: str
    users: list[dict[str, Any]] = field(default_factory=list)
    abilities: list[dict[str, Any]] = field(default_factory=list)
    tokens: list[dict[str, Any]] = field(default_factory=list)
    expected: dict[str, list[str] | str] = field(default_factory=dict)  # key -> models, or the refusal's code


def _ability(group: str, model: str, channel: int, enabled: bool) -> dict[str, Any]:
    return {"group": group, "model": model, "channel_id": channel, "enabled": enabled, "priority": 0}


def gateway_rows(flavour: str, now: int) -> GatewayRows:
    """Users, abilities and tokens covering every status, the quota and expiry edges, model limits on and off,
    networks, token groups, soft deletes, disabled abilities and models outside the catalog."""
    new = flavour == NEW_API
    rows = GatewayRows(flavour)
    rows.abilities = [
        _ability("default", "gpt-4o-mini", 1, True),
        _ability("default", "gpt-4o-mini", 3, True),  # the same model by two channels: listed once
        _ability("default", "gpt-4o", 2, False),  # a disabled channel's ability
        _ability("vip", "o3-mini", 1, True),
        _ability("vip", "gpt-4o", 1, True),
        _ability("vip", "gpt-4o-mini", 1, True),
        _ability("vip", "my-finetune", 4, True),  # outside the catalog: custom
        _ability("vip", "claude-3-5-sonnet", 5, False),
        _ability("svip", "claude-3-5-sonnet", 6, True),
        _ability("svip", "zz-local", 6, True),
        _ability("ghost", "gpt-4o", 2, False),  # only disabled abilities: a group with no models
    ]
    groups = {"default": ["gpt-4o-mini"], "vip": ["gpt-4o", "gpt-4o-mini", "my-finetune", "o3-mini"]}
    groups |= {"svip": ["claude-3-5-sonnet", "zz-local"], "ghost": []}
    users = [
        (1, "alice", 1, "vip", None),
        (2, "bob", 1, "", None),  # an empty group is `default`
        (3, "carol", 2, "vip", None),  # disabled
        (4, "dave", 1, "default", "2026-01-02 03:04:05" if new else None),  # new-api: soft-deleted
        (5, "erin", 1, "vip", None),
    ]
    for user_id, username, status, group, deleted in users:
        row: dict[str, Any] = {"id": user_id, "username": username, "password": "x", "status": status, "group": group}
        row |= {"aff_code": f"aff{user_id}", "access_token": f"at{user_id}".ljust(32, "0")}
        if new:
            row["deleted_at"] = deleted
        rows.users.append(row)

    def token(n: int, user_id: int, expect: list[str] | str, **fields: Any) -> None:
        key = key_of(n)
        row: dict[str, Any] = {"id": n, "user_id": user_id, "key": key, "status": 1, "name": f"t{n}"}
        row |= {"created_time": now - 86_400, "accessed_time": now, "expired_time": -1}
        row |= {"remain_quota": 500_000, "unlimited_quota": False}
        limits = fields.pop("limits", None)
        networks = fields.pop("networks", None)
        token_group = fields.pop("token_group", None)
        if new:
            row |= {"model_limits_enabled": limits is not None, "model_limits": limits or "", "allow_ips": networks}
            row |= {"group": token_group or "", "cross_group_retry": False, "deleted_at": fields.pop("deleted", None)}
        else:
            fields.pop("deleted", None)
            row |= {"models": limits or "", "subnet": networks or ""}
        row |= fields
        rows.tokens.append(row)
        rows.expected[key] = expect

    vip, default = groups["vip"], groups["default"]
    token(1, 1, vip, unlimited_quota=True)
    token(2, 1, ["o3-mini", "gpt-4o"], limits="o3-mini,gpt-4o,claude-3-5-sonnet")  # claude: not in vip, never widened
    if new:  # limits off: the text left in model_limits does not count
        token(3, 1, vip, model_limits_enabled=False, model_limits="gpt-4o")
    else:
        token(3, 1, vip)
    token(4, 1, "disabled", status=2)
    token(5, 1, "expired", status=3)
    token(6, 1, "exhausted", status=4)
    token(7, 1, "exhausted", remain_quota=0)  # limited quota, none left
    token(8, 1, vip, remain_quota=1)
    token(9, 1, "expired", expired_time=now - 60)
    token(10, 1, vip, expired_time=now + 86_400 * 365)
    token(11, 1, vip, networks="127.0.0.0/8,::1/128" if not new else "127.0.0.1\n::1")
    token(12, 1, "ip_not_allowed", networks="10.0.0.0/8,192.168.0.0/16" if not new else "10.1.2.3\n192.168.0.0/16")
    token(13, 2, default)
    token(14, 3, "owner_disabled")
    token(15, 4, "unknown" if new else default)  # new-api: the owner is soft-deleted, so the key is not migrated
    token(16, 99, "unknown")  # the owner is gone
    token(17, 5, ["my-finetune", "gpt-4o-mini"], limits="my-finetune,gpt-4o-mini,zz-local")  # in the token's order
    if new:
        token(18, 5, groups["svip"], token_group="svip")  # a token group replaces the owner's
        token(19, 1, ["gpt-4o-mini"], token_group="default", limits="gpt-4o-mini,gpt-4o")  # narrowed still
        token(20, 1, "unknown", deleted="2026-02-03 04:05:06")  # soft-deleted
        token(21, 1, [], limits="")  # limits on, none listed: no models
    return rows


def insert_rows(connection: Any, engine: str, rows: GatewayRows) -> None:
    """Insert with the engine's driver, booleans as GORM writes them (0/1 on MySQL and SQLite)."""
    marker = "?" if engine == "sqlite" else "%s"
    cursor = connection.cursor()
    for table, items in (("users", rows.users), ("abilities", rows.abilities), ("tokens", rows.tokens)):
        insert_many(cursor, engine, table, items, marker)
    connection.commit()


def insert_many(cursor: Any, engine: str, table: str, items: Sequence[dict[str, Any]], marker: str) -> None:
    by_columns: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for item in items:
        row = tuple(int(v) if isinstance(v, bool) and engine != "postgresql" else v for v in item.values())
        by_columns.setdefault(tuple(item), []).append(row)
    for columns, rows in by_columns.items():
        names = ", ".join(quote(c, engine) for c in columns)
        sql = f"INSERT INTO {quote(table, engine)} ({names}) VALUES ({', '.join([marker] * len(columns))})"  # noqa: S608
        cursor.executemany(sql, rows)


def bulk_rows(flavour: str, tokens: int, now: int) -> GatewayRows:
    """A large gateway: `tokens` keys over tokens/10 users in three groups, one key in 50 disabled, one in 40 with
    a model list, one in 30 with a network (no expectations recorded: the bulk tests count, they do not list)."""
    new = flavour == NEW_API
    rows = GatewayRows(flavour)
    groups = ("default", "vip", "svip")
    for group, model in [(g, str(m["id"])) for g in groups for m in CATALOG]:
        rows.abilities.append(_ability(group, model, 1, group != "default" or model == "gpt-4o-mini"))
    for user_id in range(1, tokens // 10 + 1):
        row: dict[str, Any] = {"id": user_id, "username": f"user{user_id:06d}", "password": "x", "status": 1}
        row |= {"group": groups[user_id % 3], "aff_code": f"a{user_id}", "access_token": f"{user_id:032d}"}
        if new:
            row["deleted_at"] = None
        rows.users.append(row)
    for n in range(1, tokens + 1):
        row = {"id": n, "user_id": (n - 1) // 10 + 1, "key": key_of(n, "b"), "status": 2 if n % 50 == 0 else 1}
        row |= {"name": f"key {n}", "created_time": now, "accessed_time": now, "expired_time": -1}
        row |= {"remain_quota": 1000, "unlimited_quota": n % 2 == 0}
        limits = "gpt-4o,o3-mini" if n % 40 == 0 else ""
        networks = "10.0.0.0/8" if n % 30 == 0 else ""
        if new:
            row |= {"model_limits_enabled": bool(limits), "model_limits": limits, "allow_ips": networks, "group": ""}
            row |= {"cross_group_retry": False, "deleted_at": None}
        else:
            row |= {"models": limits, "subnet": networks}
        rows.tokens.append(row)
    return rows
