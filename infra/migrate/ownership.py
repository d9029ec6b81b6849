"""Whose records a migrate may touch: its own source's, never another writer's.

Every record a migrate writes is marked `migrate:<source>` (the source's URL without credentials, or the name the
operator gave it). A user, group or key that exists with any other mark (none: made with the CLI or `apply`; another
source's) is a conflict: left exactly as it is, and reported, unless `--adopt` takes it over. A source's key whose
user is another writer's is held back too: it would otherwise run under someone else's group and status. Records
marked plain `migrate` (by a migrate from before sources had names) belong to the first source that claims them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from handler.core import keys
from infra.apply import State
from infra.seed import Seed

LEGACY = "migrate"  # the mark migrate wrote before sources had names
PREFIX = "migrate:"


def origin_of(source: str) -> str:
    """The mark of a source's records."""
    return PREFIX + source


def writer(origin: str | None) -> str:
    """Who wrote a record, as an operator reads it."""
    if origin is None:
        return "the CLI or apply"
    if origin.startswith(PREFIX):
        return f"migrate from {origin.removeprefix(PREFIX)}"
    return "an earlier migrate" if origin == LEGACY else origin


@dataclass(frozen=True)
class Conflict:
    """A record the source names that another writer owns: left alone."""

    kind: str  # group | user | token
    name: str  # a token by its masked key
    reason: str  # `written by the CLI or apply`, `its user alice is held`

    def line(self) -> str:
        return f"! {self.kind} {self.name}: {self.reason}; left alone (--adopt takes it over)"

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "id": self.name, "reason": self.reason}


def claim(seed: Seed, state: State, *, adopt: bool = False) -> list[Conflict]:
    """Make `seed` name only what its origin may write, and `state` show as this source's the legacy-marked records
    the seed no longer names (so a prune may remove them). Both are changed in place; the conflicts are returned."""
    mine = seed.origin
    if mine is None:
        raise ValueError("a migrated seed carries its source's origin")

    def foreign(record: dict[str, Any] | None) -> bool:
        return record is not None and not adopt and record.get("origin") not in {mine, LEGACY}

    conflicts: list[Conflict] = []
    for name in [n for n in seed.groups if foreign(state.groups.get(n))]:
        conflicts.append(Conflict("group", name, "written by " + writer(state.groups[name].get("origin"))))
        del seed.groups[name]
    held_users = {u["id"] for u in seed.users if foreign(state.users.get(u["id"]))}
    for user_id in sorted(held_users):
        conflicts.append(Conflict("user", user_id, "written by " + writer(state.users[user_id].get("origin"))))
    seed.users = [u for u in seed.users if u["id"] not in held_users]
    tokens = []
    for token in seed.tokens:
        old = state.tokens.get(keys.key_hash(token["key"]))
        if foreign(old):
            owner = writer((old or {}).get("origin"))
            conflicts.append(Conflict("token", keys.mask(token["key"]), f"written by {owner}"))
        elif token["user"] in held_users:
            reason = f"its user {token['user']} is another writer's"
            conflicts.append(Conflict("token", keys.mask(token["key"]), reason))
        else:
            tokens.append(token)
    seed.tokens = tokens
    _inherit(state, seed, mine)
    return conflicts


def _inherit(state: State, seed: Seed, mine: str) -> None:
    """Legacy-marked records the seed does not name become this source's, so that a prune may remove them; those
    it names are re-marked by the plan itself (their mark differs)."""
    named_users = {u["id"] for u in seed.users}
    named_tokens = {keys.key_hash(t["key"]) for t in seed.tokens}
    for records, named in ((state.groups, set(seed.groups)), (state.users, named_users), (state.tokens, named_tokens)):
        for ident, record in records.items():
            if record.get("origin") == LEGACY and ident not in named:
                records[ident] = {**record, "origin": mine}
