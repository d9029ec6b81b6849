"""The core's Directory port over dicts, and the callers' helpers: a resolver on a fixed clock, sessions, the
credentials the web layer would gather. For the pure-core tests (test_callers, test_token_limits); no AWS."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from handler.core.callers import CallerResolver, Credentials
from handler.core.records import GroupView, Token, User
from handler.core.sessions import SessionSigner
from handler.store.layout import Marker

NOW = 1_800_000_000.0
SECRET = "callers-test-secret-0123456789abcdef0123"
COOKIE = "modelgate_session"


def token(
    token_id: str,
    user_id: str,
    *,
    models: tuple[str, ...] | None = None,
    status: str = "enabled",
    expires_at: float | None = None,
    networks: tuple[str, ...] | None = None,
    group: str | None = None,
) -> Token:
    parsed = None if networks is None else tuple(ipaddress.ip_network(n) for n in networks)
    return Token(token_id, user_id, token_id, models, status, expires_at, parsed, group)


@dataclass
class MemoryDirectory:
    """The Directory port over dicts; `lookups` records every read, in order."""

    tokens_by_hash: dict[str, Token] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    groups: dict[str, GroupView] = field(default_factory=dict)
    lookups: list[tuple[str, str]] = field(default_factory=list)
    changes: int = 0  # the change marker's revision; its log is left empty, so every change drops everything

    def revision(self) -> Marker:
        self.lookups.append(("revision", ""))
        return Marker(self.changes)

    def tokens_at_revision(self, key_hashes: Sequence[str]) -> tuple[Mapping[str, Token], Marker]:
        self.lookups.append(("tokens+revision", ",".join(key_hashes)))
        return {h: self.tokens_by_hash[h] for h in key_hashes if h in self.tokens_by_hash}, Marker(self.changes)

    def user_at_revision(self, user_id: str) -> tuple[User | None, Marker]:
        self.lookups.append(("user+revision", user_id))
        return self.users.get(user_id), Marker(self.changes)

    def token(self, key_hash: str) -> Token | None:
        self.lookups.append(("token", key_hash))
        return self.tokens_by_hash.get(key_hash)

    def tokens(self, key_hashes: Sequence[str]) -> Mapping[str, Token]:
        self.lookups.append(("tokens", ",".join(key_hashes)))
        return {h: self.tokens_by_hash[h] for h in key_hashes if h in self.tokens_by_hash}

    def user(self, user_id: str) -> User | None:
        self.lookups.append(("user", user_id))
        return self.users.get(user_id)

    def group(self, name: str) -> GroupView | None:
        self.lookups.append(("group", name))
        return self.groups.get(name)


def resolver(directory: MemoryDirectory, *, anonymous: bool = True, sessions: bool = True) -> CallerResolver:
    return CallerResolver(
        directory,
        sessions=SessionSigner(SECRET) if sessions else None,
        session_cookie=COOKIE,
        anonymous_access=anonymous,
        clock=lambda: NOW,
    )


def session(user_id: str, *, issued_at: float = NOW - 10, ttl: int = 3600, secret: str = SECRET) -> str:
    return f"{COOKIE}={SessionSigner(secret).issue(user_id, now=int(issued_at), ttl_seconds=ttl)}"


def credentials(
    authorization: list[str], cookie: str | None = None, *keys: str, client_ip: str | None = None
) -> Credentials:
    """What the web layer gathers: Authorization values, the cookie header, keys sent elsewhere, the peer address."""
    return Credentials(tuple(authorization), tuple(keys), cookie, client_ip)


def bearer(key: str) -> list[str]:
    return [f"Bearer {key}"]
