"""What the store holds about tokens, users and groups, as the core sees it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from typing import Any

Network = IPv4Network | IPv6Network
# A token's status. Only `enabled` is admitted; the others say why a key is refused.
ENABLED, DISABLED, EXPIRED, EXHAUSTED = "enabled", "disabled", "expired", "exhausted"
TOKEN_STATUSES = (ENABLED, DISABLED, EXPIRED, EXHAUSTED)


@dataclass(frozen=True, slots=True)
class Token:
    """An API key's settings. The key itself is never held, only its hash (the store's lookup key)."""

    token_id: str
    user_id: str
    name: str
    models: tuple[str, ...] | None  # None: no limit; (): no models
    status: str  # one of TOKEN_STATUSES
    expires_at: float | None  # epoch seconds
    networks: tuple[Network, ...] | None = None  # client addresses it may be used from; None: anywhere
    group: str | None = None  # a group that replaces its owner's (new-api's token group)
    user_incarnation: str | None = None  # which life of its user it was made for; None: made before incarnations
    created_at: float = 0.0  # epoch seconds

    @property
    def enabled(self) -> bool:
        return self.status == ENABLED


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    group: str
    enabled: bool
    sessions_valid_after: float = 0.0  # sessions issued before this instant are revoked
    # A user id deleted and created again is another user: a fresh incarnation, which keys and sessions made for
    # the former one do not carry. None: a user written before incarnations existed.
    incarnation: str | None = None
    created_at: float = 0.0  # epoch seconds

    def owns(self, token: Token) -> bool:
        """Whether the token was made for this user, not for a former user of the same id."""
        if token.user_incarnation is not None:
            return token.user_incarnation == self.incarnation
        return token.created_at >= self.created_at  # a key from before incarnations: it must not predate its user


@dataclass(frozen=True, slots=True)
class Member:
    """One model that a group names, joined with its catalog entry (None when the catalog lacks it)."""

    model_id: str
    catalog: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class GroupView:
    """A group's ordered models, joined with the catalog: everything a listing needs, read at once."""

    name: str
    version: str
    members: tuple[Member, ...]
