"""The port the core reads through. A DynamoDB adapter and a caching decorator implement it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from handler.core.records import GroupView, Token, User
from handler.core.sessions import Session


class Directory(Protocol):
    """Read-only lookups. Each returns None when the record does not exist and raises StoreUnavailable on a fault."""

    def token(self, key_hash: str) -> Token | None: ...

    def tokens(self, key_hashes: Sequence[str]) -> Mapping[str, Token]:
        """Several tokens in one round trip, by hash; the absent ones are left out."""
        ...

    def user(self, user_id: str) -> User | None: ...

    def group(self, name: str) -> GroupView | None: ...


class SessionVerifier(Protocol):
    """Checks a session cookie value. SessionSigner is one; the deployed function's fetches its secret lazily."""

    def verify(self, value: str, *, now: float) -> Session | None: ...
