"""Apply a seed: make the table hold what the file says. Idempotent; keys are hashed on the way in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from handler.store import layout
from infra.registry import Registry
from infra.seed import Seed, SeedError


@dataclass
class Applied:
    models: int = 0
    groups: list[str] = field(default_factory=list)
    users: int = 0
    tokens: int = 0


def check_references(seed: Seed, registry: Registry) -> None:
    """Refuse, before writing anything, a user in an unknown group or a token of an unknown user."""
    known_groups = set(seed.groups)
    for user in seed.users:
        if user["group"] not in known_groups and registry.get(layout.group_key(user["group"])) is None:
            raise SeedError(f"user {user['id']!r}: unknown group {user['group']!r}")
        known_groups.add(user["group"])
    known_users = {u["id"] for u in seed.users}
    for i, token in enumerate(seed.tokens):
        if token["user"] not in known_users and registry.get(layout.user_key(token["user"])) is None:
            raise SeedError(f"tokens[{i}]: unknown user {token['user']!r}")
        known_users.add(token["user"])


def apply_seed(seed: Seed, registry: Registry, progress: Callable[[int], None] | None = None) -> Applied:
    check_references(seed, registry)
    result = Applied()
    if seed.models:
        registry.put_models(seed.models, progress)
        result.models = len(seed.models)
    named = {i for members in seed.groups.values() for i in members}
    catalog = registry.catalog_entries(named) if named else {}
    for name, members in seed.groups.items():
        registry.put_group(name, members, catalog)
        result.groups.append(name)
    if seed.models:  # groups outside the file that name a changed model need fresh views too
        changed = {m["id"] for m in seed.models}
        result.groups.extend(registry.rebuild_views(changed, skip=seed.groups))
    for user in seed.users:
        registry.put_user(user["id"], user["group"], user["status"])
        result.users += 1
    for token in seed.tokens:
        registry.put_token(
            token["key"],
            user_id=token["user"],
            name=token["name"],
            models=token["models"],
            status=token["status"],
            expires_at=token["expires_at"],
        )
        result.tokens += 1
    return result
