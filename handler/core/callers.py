"""Who is calling: an API key's token, a logged-in user's session, or an anonymous visitor. In that order."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from handler.core import keys
from handler.core.errors import AccessDenied, NotAuthenticated
from handler.core.ports import Directory, SessionVerifier
from handler.core.records import DISABLED, EXHAUSTED, Token, User

DEFAULT_GROUP = "default"

MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)
MALFORMED_HEADER = "Malformed Authorization header. Send exactly one: Authorization: Bearer YOUR_KEY."
REFUSED_BECAUSE = {DISABLED: "This API key has been disabled", EXHAUSTED: "This API key is out of quota"}
CONFLICTING_KEYS = (
    "Different API keys were sent in one request (Authorization, x-api-key, x-goog-api-key or the key query "
    "parameter). Send one key."
)


@dataclass(frozen=True, slots=True)
class Credentials:
    """Everything a request presents that may say who is calling, gathered by the web layer on every route.

    Never logged: the key-bearing fields are left out of repr.
    """

    authorization: tuple[str, ...] = field(default=(), repr=False)  # every Authorization header value, as sent
    keys: tuple[str, ...] = field(default=(), repr=False)  # x-api-key, x-goog-api-key and `key` query values
    cookie: str | None = field(default=None, repr=False)  # the Cookie header(s), joined
    client_ip: str | None = None  # the network peer (API Gateway's source IP), never X-Forwarded-For


@dataclass(frozen=True, slots=True)
class Caller:
    kind: Literal["key", "session", "anonymous"]
    group: str
    models: tuple[str, ...] | None = None  # the token's own list; None when it sets no limit
    token_id: str | None = None
    user_id: str | None = None


def _refused(key: str, why: str) -> NotAuthenticated:
    return NotAuthenticated(f"{why}: {keys.mask(key)}.", code="invalid_api_key")


def cookie_values(cookie_header: str | None, name: str) -> list[str]:
    """Every value sent for cookie `name`. Lenient on purpose: a malformed pair is skipped, not fatal."""
    if not cookie_header:
        return []
    values = []
    for pair in cookie_header.split(";"):
        key, sep, value = pair.strip().partition("=")
        if sep and key.strip() == name:
            values.append(value.strip().strip('"'))
    return values


def _presented_key(credentials: Credentials) -> str:
    """The one key the request carries. Several places may carry it, but only with one value."""
    presented = set(credentials.keys)
    if credentials.authorization:
        scheme, _, key = credentials.authorization[0].strip().partition(" ")
        key = key.strip()
        if len(credentials.authorization) != 1 or scheme.lower() != "bearer" or not key:
            raise NotAuthenticated(MALFORMED_HEADER, code="invalid_api_key", reason="malformed")
        presented.add(key)
    if len(presented) != 1:
        raise NotAuthenticated(CONFLICTING_KEYS, code="invalid_api_key", reason="malformed")
    return presented.pop()


class CallerResolver:
    def __init__(
        self,
        directory: Directory,
        *,
        sessions: SessionVerifier | None,
        session_cookie: str,
        anonymous_access: bool,
        clock: Callable[[], float],
    ) -> None:
        self._directory = directory
        self._sessions = sessions
        self._session_cookie = session_cookie
        self._anonymous_access = anonymous_access
        self._clock = clock

    def resolve(self, credentials: Credentials) -> Caller:
        """A key, wherever it was sent, decides; without one, the session cookie; without that, anonymous."""
        if credentials.authorization or credentials.keys:
            return self._key_caller(_presented_key(credentials), credentials.client_ip)
        user = self._session_user(credentials.cookie)
        if user is not None:
            return Caller("session", user.group, user_id=user.user_id)
        if not self._anonymous_access:
            raise NotAuthenticated(MISSING_KEY, code=None)
        return Caller("anonymous", DEFAULT_GROUP)

    def _key_caller(self, key: str, client_ip: str | None) -> Caller:
        if not keys.is_well_formed(key):
            raise _refused(key, "Incorrect API key provided")
        token = self._token(key)
        if token is None:
            raise _refused(key, "Incorrect API key provided")
        if not token.enabled:
            raise _refused(key, REFUSED_BECAUSE.get(token.status, "This API key has expired"))
        if token.expires_at is not None and token.expires_at <= self._clock():
            raise _refused(key, "This API key has expired")
        if token.networks is not None and not _admits(token, client_ip):
            raise AccessDenied(
                f"This API key may not be used from this address ({client_ip or 'unknown'}): {keys.mask(key)}.",
                code="ip_not_allowed",
            )
        owner = self._directory.user(token.user_id)
        if owner is not None and not owner.owns(token):  # a key left by a deleted user of the same id
            raise _refused(key, "Incorrect API key provided")
        if owner is None or not owner.enabled:
            raise _refused(key, "The account that owns this API key is disabled")
        group = token.group or owner.group
        return Caller("key", group, token.models, token_id=token.token_id, user_id=owner.user_id)

    def _token(self, key: str) -> Token | None:
        """The key's token as sent; failing that, for a one-api form (`<key>`, `sk-<key>-<suffix>`), `sk-<key>`'s.
        Both are asked in one round trip, and the key as sent wins."""
        alternate = keys.one_api_form(key)
        if alternate is None:
            return self._directory.token(keys.key_hash(key))
        sent, canonical = keys.key_hash(key), keys.key_hash(alternate)
        found = self._directory.tokens((sent, canonical))
        return found.get(sent) or found.get(canonical)

    def _session_user(self, cookie_header: str | None) -> User | None:
        """The logged-in user, or None: an absent, tampered, expired, revoked or ambiguous session is no session."""
        if self._sessions is None:
            return None
        values = set(cookie_values(cookie_header, self._session_cookie))
        if len(values) != 1:
            return None
        session = self._sessions.verify(values.pop(), now=self._clock())
        if session is None:
            return None
        user = self._directory.user(session.user_id)
        if user is None or not user.enabled or session.issued_at < user.sessions_valid_after:
            return None
        if session.incarnation is not None:  # issued for one life of this id: never for a re-created user
            return user if session.incarnation == user.incarnation else None
        return None if session.issued_at < user.created_at else user


def _admits(token: Token, client_ip: str | None) -> bool:
    """Whether the client's address is inside one of the token's networks. An unknown address is outside."""
    if client_ip is None or token.networks is None:
        return token.networks is None
    try:  # an address; `a.b.c.d/32` too, as some event generators write the source IP
        peer = ipaddress.ip_network(client_ip.partition("%")[0], strict=True)
    except ValueError:
        return False
    if peer.num_addresses != 1:
        return False
    address = peer.network_address
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    return any(address in network for network in token.networks)
