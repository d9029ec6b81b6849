"""Make the table hold what a source maps to: the whole table compared (a full pass), or only what changed since
the last write (an incremental pass). Both plan and write as `apply` does, after the ownership rules
(ownership.claim) and the mass-removal hold (holds.check); neither writes anything when the plan is held.

An incremental pass compares the mapped records with a fingerprint of those last written, so the relay's churn
(remaining quota, access times: columns that change no answer and no mapped record) costs no DynamoDB request at
all. What did change is planned against the table's own items for just those records (one BatchGetItem per 100),
so a record changed by hand in the table meanwhile is still compared, never assumed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from handler.core import keys
from handler.store import layout
from infra.apply import Plan, State, execute, plan, read_state
from infra.migrate.holds import Hold, check
from infra.migrate.ownership import LEGACY, Conflict, claim
from infra.registry import Registry, from_item
from infra.seed import Seed

SECTIONS = frozenset({"groups", "users", "tokens"})


def _token_hash(token: Mapping[str, Any]) -> int:
    """Every field a mapped token has (the key is the fingerprint's id)."""
    models, networks = token["models"], token["allow_ips"]
    return hash(
        (
            token["user"],
            token["name"],
            None if models is None else tuple(models),
            token["status"],
            token["expires_at"],
            None if networks is None else tuple(networks),
            token["group"],
        )
    )


@dataclass
class Fingerprint:
    """One hash per mapped record, by id (tokens by key hash): what a pass last wrote, kept in memory. Python's
    tuple hash (8 bytes; stable within the process, which is all it must be), never a key's plaintext."""

    users: dict[str, int] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, seed: Seed) -> tuple[Fingerprint, dict[str, dict[str, Any]]]:
        """The seed's fingerprint, and its tokens by key hash."""
        by_hash = {keys.key_hash(t["key"]): t for t in seed.tokens}
        return (
            cls(
                users={u["id"]: hash((u["group"], u["status"])) for u in seed.users},
                groups={name: hash(tuple(members)) for name, members in seed.groups.items()},
                tokens={h: _token_hash(t) for h, t in by_hash.items()},
            ),
            by_hash,
        )


@dataclass
class Delta:
    """The ids whose mapped record is new or changed, and those gone, per kind."""

    users: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    tokens: set[str] = field(default_factory=set)
    gone_users: set[str] = field(default_factory=set)
    gone_groups: set[str] = field(default_factory=set)
    gone_tokens: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return any((self.users, self.groups, self.tokens, self.gone_users, self.gone_groups, self.gone_tokens))


def delta(before: Fingerprint, after: Fingerprint) -> Delta:
    def moved(old: Mapping[str, int], new: Mapping[str, int]) -> tuple[set[str], set[str]]:
        return {i for i, h in new.items() if old.get(i) != h}, set(old) - set(new)

    found = Delta()
    found.users, found.gone_users = moved(before.users, after.users)
    found.groups, found.gone_groups = moved(before.groups, after.groups)
    found.tokens, found.gone_tokens = moved(before.tokens, after.tokens)
    return found


@dataclass
class Outcome:
    """What a pass planned, left alone and held; `written` when the plan went to the table."""

    plan: Plan
    conflicts: list[Conflict]
    hold: Hold | None
    written: bool


def owned_keys(state: State, origin: str) -> int:
    """The keys this source wrote, as the table says (legacy-marked ones included: the first source claims them)."""
    return sum(1 for record in state.tokens.values() if record.get("origin") in {origin, LEGACY})


def reconcile(
    seed: Seed,
    state: State,
    registry: Registry,
    *,
    prune: bool,
    adopt: bool,
    allow_mass_removal: bool,
    owned: int,
    write: bool = True,
    key_progress: Callable[[int], None] | None = None,
    whole: Seed | None = None,
    before_write: Callable[[], None] = lambda: None,
) -> Outcome:
    """Plan `seed` against `state` (the whole table, or the part an incremental pass read; then `whole` is the
    whole mapped source, for the keys of users it disables), then write it unless it is a dry run or held."""
    conflicts = claim(seed, state, adopt=adopt)
    planned = plan(seed, state, prune=prune)
    hold = None if allow_mass_removal else check(planned, state, whole or seed, owned)
    if write and hold is None:
        before_write()
        execute(planned, registry, key_progress=key_progress)
    return Outcome(planned, conflicts, hold, write and hold is None)


def full_state(registry: Registry) -> State:
    return read_state(registry, tokens=True)


def partial_state(
    seed: Seed, by_hash: Mapping[str, dict[str, Any]], change: Delta, registry: Registry
) -> tuple[Seed, State]:
    """The records a delta touches, as a seed (what the source has now) and a state (what the table has now).

    The seed also names the unchanged records the changed ones refer to (a new key's user, a user's group), so the
    plan finds them; they equal the table, so nothing is written for them. Read with consistent BatchGetItem."""
    users = {u["id"]: u for u in seed.users}
    tokens = [by_hash[h] for h in sorted(change.tokens)]
    user_ids = change.users | {t["user"] for t in tokens}
    group_names = change.groups | {users[u]["group"] for u in user_ids} | {t["group"] for t in tokens if t["group"]}
    part = Seed(
        sections=SECTIONS,
        origin=seed.origin,
        groups={name: seed.groups[name] for name in sorted(group_names)},
        users=[users[u] for u in sorted(user_ids)],
        tokens=tokens,
    )
    wanted: list[dict[str, str]] = [layout.user_key(u) for u in sorted(user_ids | change.gone_users)]
    wanted += [layout.group_key(g) for g in sorted(group_names | change.gone_groups)]
    wanted += [layout.token_key(h) for h in sorted(change.tokens | change.gone_tokens)]
    state = State(models={}, groups={}, users={}, tokens={})
    for record in (from_item(item) for item in registry.batch_get(wanted, "changed records")):
        kind, _, ident = record[layout.PK].partition("#")
        if kind == layout.USER:
            state.users[ident] = record
        elif kind == layout.GROUP:
            state.groups[ident] = record
        elif kind == layout.TOKEN:
            state.tokens[ident] = record
    if change.gone_groups & set(state.groups):  # a group to remove: whoever still belongs to it must be seen
        for record in registry.list_kind(layout.USER):
            if record.get("group") in change.gone_groups:
                state.users.setdefault(record["user_id"], record)
    members: Iterable[str] = {
        m for g in [*part.groups.values(), *(r.get("models") or [] for r in state.groups.values())] for m in g
    }
    state.models = registry.catalog_entries(members)
    return part, state
