"""Apply a seed: make the table hold what the file says. Idempotent; keys are hashed on the way in.

Applying is a plan and its execution. The plan is the diff between the file and what the table holds, checked
whole before anything is written (every user's group exists afterwards, every key's user too), so `--dry-run`
prints exactly what a real run does. Execution writes only the differences, so a re-run writes nothing; it is not
one transaction (a 10,000-model catalog cannot be), but every step is idempotent and an interrupted run is
finished by running it again. `--prune` removes, inside each section the file has, what it does not name: a file
without a `tokens:` section touches no key, except that a pruned user's keys go with them.

Keys are written for their user's incarnation (the life of the id, see infra.registry.records.new_incarnation):
a key of a deleted user never works for a user re-created with the same id, unless the file names that key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from handler.core import keys
from handler.store import layout
from infra.registry import Registry, new_incarnation, view_version
from infra.seed import ENTRY_FIELDS, Seed, SeedError

ADD, CHANGE, REMOVE = "add", "change", "remove"
_SIGN = {ADD: "+", CHANGE: "~", REMOVE: "-"}


@dataclass(frozen=True)
class Change:
    action: str  # add | change | remove
    kind: str  # model | group | user | token
    name: str  # an id; a token is shown by its masked key or public id, never whole
    detail: str = ""

    def line(self) -> str:
        return f"{_SIGN[self.action]} {self.kind} {self.name}" + (f": {self.detail}" if self.detail else "")

    def as_dict(self) -> dict[str, str]:
        return {"action": self.action, "kind": self.kind, "id": self.name, "detail": self.detail}


@dataclass
class State:
    """What the table holds, as a seed would say it."""

    models: dict[str, dict[str, Any]]
    groups: dict[str, dict[str, Any]]  # name -> {"models": [...], "view_version": ...}
    users: dict[str, dict[str, Any]]  # id -> {"group", "status"}
    tokens: dict[str, dict[str, Any]]  # key hash -> record (only read when the plan needs keys)


def read_state(registry: Registry, *, tokens: bool) -> State:
    return State(
        models=registry.catalog(),
        groups={g["name"]: g for g in registry.list_kind(layout.GROUP)},
        users={u["user_id"]: u for u in registry.list_kind(layout.USER)},
        tokens={r[layout.PK].partition("#")[2]: r for r in registry.list_kind(layout.TOKEN)} if tokens else {},
    )


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)
    removed_models: list[str] = field(default_factory=list)
    groups: dict[str, list[str]] = field(default_factory=dict)
    views: list[str] = field(default_factory=list)  # groups whose models stay but whose view goes stale
    removed_groups: list[str] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)  # to update
    new_users: list[dict[str, Any]] = field(default_factory=list)  # the table has none of them: written in batches
    removed_users: list[str] = field(default_factory=list)  # each with every key of theirs
    incarnations: dict[str, str | None] = field(default_factory=dict)  # user id -> its life, once applied
    tokens: list[dict[str, Any]] = field(default_factory=list)  # to update
    new_tokens: list[dict[str, Any]] = field(default_factory=list)  # the table has none of them: written in batches
    removed_tokens: list[str] = field(default_factory=list)  # public ids
    catalog: dict[str, dict[str, Any]] = field(default_factory=dict)  # the catalog once applied
    origin: str | None = None  # the seed's: every record written is marked with it

    def summary(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for change in self.changes:
            kinds = counts.setdefault(change.kind + "s", {ADD: 0, CHANGE: 0, REMOVE: 0})
            kinds[change.action] += 1
        return counts

    def counts(self) -> str:
        """`models +1 ~0 -0, users +2 ~1 -0`, or `no changes`."""
        summary = self.summary()
        return ", ".join(f"{k} +{c[ADD]} ~{c[CHANGE]} -{c[REMOVE]}" for k, c in summary.items()) or "no changes"


def _ids(items: Iterable[str], limit: int = 8) -> str:
    items = list(items)
    shown = ", ".join(items[:limit])
    return (shown + f", … ({len(items)} in all)") if len(items) > limit else shown or "(none)"


def _shown(record: Mapping[str, Any], name: str) -> str:
    if name not in record:
        return "(unset)"
    value = record[name]
    return value if isinstance(value, str) else json.dumps(value)


def _differences(old: Mapping[str, Any], new: Mapping[str, Any], names: Iterable[str]) -> str:
    parts = []
    for name in names:
        if old.get(name) != new.get(name) or (name in old) != (name in new):
            before, after = _shown(old, name), _shown(new, name)
            parts.append(f"{name} {before} -> {after}" if len(before) + len(after) < 60 else f"{name} changed")
    return "; ".join(parts)


def _group_diff(old: list[str], new: list[str]) -> str:
    added = [i for i in new if i not in old]
    removed = [i for i in old if i not in new]
    parts = ([f"+ {_ids(added)}"] if added else []) + ([f"- {_ids(removed)}"] if removed else [])
    return "; ".join(parts) or "reordered"


def plan(seed: Seed, state: State, *, prune: bool = False) -> Plan:
    """The changes that make the table hold the seed. Raises SeedError when the result would be inconsistent."""
    result = Plan(origin=seed.origin)
    prunes = seed.sections if prune else frozenset()
    result.catalog = _plan_models(seed, state, result, "models" in prunes)
    groups = _plan_groups(seed, state, result, "groups" in prunes)
    users = _plan_users(seed, state, result, groups, "users" in prunes)
    _plan_tokens(seed, state, result, users, groups, prune="tokens" in prunes)
    return result


def _plan_models(seed: Seed, state: State, result: Plan, prune: bool) -> dict[str, dict[str, Any]]:
    catalog = dict(state.models)
    for entry in seed.models:
        old = state.models.get(entry["id"])
        if old != entry:
            result.models.append(entry)
            detail = "" if old is None else _differences(old, entry, ENTRY_FIELDS[1:])
            result.changes.append(Change(ADD if old is None else CHANGE, "model", entry["id"], detail))
        catalog[entry["id"]] = entry
    if prune:
        named = {e["id"] for e in seed.models}
        result.removed_models = [i for i in state.models if i not in named]
        for model_id in result.removed_models:
            del catalog[model_id]
            result.changes.append(Change(REMOVE, "model", model_id))
    return catalog


def _plan_groups(seed: Seed, state: State, result: Plan, prune: bool) -> dict[str, list[str]]:
    """The file's groups, then every other group whose view the catalog change makes stale."""
    groups = {name: list(g.get("models") or []) for name, g in state.groups.items()}
    for name, members in seed.groups.items():
        old = state.groups.get(name)
        if old is None:
            detail = _ids(members)
        elif groups[name] != members:
            detail = _group_diff(groups[name], members)
        elif old.get("view_version") != view_version(members, result.catalog):
            detail = "view rebuilt (catalog changed)"
        elif seed.origin and old.get("origin") != seed.origin:
            detail = f"now kept in step by {seed.origin}"
        else:
            continue
        result.groups[name] = members
        result.changes.append(Change(ADD if old is None else CHANGE, "group", name, detail))
        groups[name] = members
    for model_id in result.removed_models:
        naming = [name for name, members in seed.groups.items() if model_id in members]
        if naming:
            result.notes.append(f"groups {', '.join(naming)} still name pruned model {model_id}: listed as custom")
    if prune:
        result.removed_groups = [n for n, g in state.groups.items() if n not in seed.groups and _owned(seed, g)]
        for name in result.removed_groups:
            del groups[name]
            result.changes.append(Change(REMOVE, "group", name))
    for name in [n for n in groups if n not in seed.groups]:
        if state.groups[name].get("view_version") != view_version(groups[name], result.catalog):
            result.views.append(name)
            result.changes.append(Change(CHANGE, "group", name, "view rebuilt (catalog changed)"))
    return groups


def _plan_users(seed: Seed, state: State, result: Plan, groups: Mapping[str, Any], prune: bool) -> dict[str, str]:
    users = {user_id: user["group"] for user_id, user in state.users.items()}
    result.incarnations = {user_id: user.get("incarnation") for user_id, user in state.users.items()}
    for user in seed.users:
        old = state.users.get(user["id"])
        if user["group"] not in groups:
            raise SeedError(f"user {user['id']!r}: unknown group {user['group']!r}")
        fields = ("group", "status", "origin") if seed.origin else ("group", "status")
        marked = {**user, "origin": seed.origin} if seed.origin else user
        incarnation = None if old is None else old.get("incarnation")
        if old is None or any(old.get(f) != marked.get(f) for f in fields):
            # A new user's life starts here (one written before incarnations gets one now): its keys carry it.
            incarnation = incarnation or new_incarnation()
            (result.new_users if old is None else result.users).append({**user, "incarnation": incarnation})
            detail = f"group {user['group']}" if old is None else _differences(old, marked, fields)
            result.changes.append(Change(ADD if old is None else CHANGE, "user", user["id"], detail))
        users[user["id"]] = user["group"]
        result.incarnations[user["id"]] = incarnation
    if prune:
        named = {u["id"] for u in seed.users}
        result.removed_users = [i for i, u in state.users.items() if i not in named and _owned(seed, u)]
        for user_id in result.removed_users:
            del users[user_id]
            result.changes.append(Change(REMOVE, "user", user_id))
    for name in result.removed_groups:
        members = sorted(user_id for user_id, group in users.items() if group == name)
        if members:
            raise SeedError(f"group {name!r} would be pruned but users still belong to it: {_ids(members)}")
    return users


def _owned(seed: Seed, record: Mapping[str, Any]) -> bool:
    """Whether --prune may remove a record: any, for a plain seed; only those it marked, for one with an origin."""
    return seed.origin is None or record.get("origin") == seed.origin


def _plan_tokens(
    seed: Seed, state: State, result: Plan, users: Mapping[str, str], groups: Mapping[str, Any], *, prune: bool
) -> None:
    """Keys by their hash, so a seed's key updates its own token and no other."""
    fields: tuple[str, ...] = ("user_id", "name", "models", "status", "expires_at", "allow_ips", "group")
    fields += ("origin",) if seed.origin else ()
    kept: set[str] = set()
    for token in seed.tokens:
        if token["user"] not in users:
            raise SeedError(f"key {keys.mask(token['key'])}: unknown user {token['user']!r}")
        if token.get("group") is not None and token["group"] not in groups:
            raise SeedError(f"key {keys.mask(token['key'])}: unknown group {token['group']!r}")
        digest = keys.key_hash(token["key"])
        kept.add(digest)
        old = state.tokens.get(digest)
        incarnation = result.incarnations.get(token["user"])
        marked = {**token, "user_id": token["user"], "origin": seed.origin}
        wanted = {k: v for k, v in marked.items() if v is not None}
        if old is None:
            detail = f"user {token['user']}" + (f", name {token['name']}" if token["name"] else "")
        elif any(old.get(f) != wanted.get(f) for f in fields):
            detail = _differences(old, wanted, fields)
        elif incarnation is not None and old.get("user_incarnation") != incarnation:
            former = old.get("user_incarnation") is not None  # else written before incarnations: it just gets one
            detail = f"left by a former user {token['user']}: now the current one's" if former else "incarnation set"
        else:
            continue
        (result.new_tokens if old is None else result.tokens).append({**token, "user_incarnation": incarnation})
        result.changes.append(Change(ADD if old is None else CHANGE, "token", keys.mask(token["key"]), detail))
    pruned_users = set(result.removed_users)
    for digest, record in state.tokens.items():
        if digest in kept:
            continue
        detail = f"{record.get('key_hint')} of {record['user_id']}"
        if record["user_id"] in pruned_users:  # a user's keys go with them, whatever the file's sections
            result.changes.append(Change(REMOVE, "token", record["token_id"], detail + ", with its user"))
        elif prune and _owned(seed, record):
            result.removed_tokens.append(record["token_id"])
            result.changes.append(Change(REMOVE, "token", record["token_id"], detail))


def execute(
    planned: Plan,
    registry: Registry,
    progress: Callable[[int], None] | None = None,
    key_progress: Callable[[int], None] | None = None,
) -> None:
    """Write a plan, in the order that keeps every reference whole: groups before the users moved into them,
    users moved or removed before the groups they left are removed."""
    registry.put_models(planned.models, progress)
    registry.delete_models(planned.removed_models)
    for name, members in planned.groups.items():
        registry.put_group(name, members, planned.catalog, origin=planned.origin)
    for name in planned.views:
        registry.put_group(name, None, planned.catalog)
    registry.put_new_users(planned.new_users, origin=planned.origin)
    for user in planned.users:
        registry.put_user(
            user["id"], user["group"], user["status"], origin=planned.origin, incarnation=user["incarnation"]
        )
    for user_id in planned.removed_users:
        registry.delete_user(user_id)
    for name in planned.removed_groups:
        registry.delete_group(name, check_users=False)  # the plan checked; gsi1 may not show the moves yet
    registry.put_new_tokens(planned.new_tokens, origin=planned.origin, progress=key_progress)
    for token in planned.tokens:
        registry.put_token(
            token["key"],
            user_id=token["user"],
            name=token["name"],
            models=token["models"],
            status=token["status"],
            expires_at=token["expires_at"],
            allow_ips=token.get("allow_ips"),
            group=token.get("group"),
            origin=planned.origin,
            user_incarnation=token["user_incarnation"],
        )
    for token_id in planned.removed_tokens:
        registry.delete_token(token_id)


def apply_seed(
    seed: Seed, registry: Registry, progress: Callable[[int], None] | None = None, *, prune: bool = False
) -> Plan:
    planned = plan(seed, read_state(registry, tokens=bool(seed.tokens) or prune), prune=prune)
    execute(planned, registry, progress)
    return planned


def export_seed(registry: Registry) -> Seed:
    """The catalog, groups and users as a seed, in a stable order, statuses only where disabled. Never keys."""
    state = read_state(registry, tokens=False)
    models = []
    for model_id in sorted(state.models):
        entry = dict(state.models[model_id])
        if entry.pop("status") != "enabled":
            entry["status"] = "disabled"
        models.append(entry)
    users = []
    for user_id in sorted(state.users):
        user = {"id": user_id, "group": state.users[user_id]["group"]}
        if state.users[user_id]["status"] != "enabled":
            user["status"] = "disabled"
        users.append(user)
    groups = {name: list(state.groups[name].get("models") or []) for name in sorted(state.groups)}
    return Seed(models=models, groups=groups, users=users)
