"""Login sessions: a stateless, HMAC-signed cookie value naming the user and its validity window.

A session is `v1.<payload>.<signature>`, both base64url without padding. The payload is compact JSON
`{"sub": user_id, "iat": issued_at, "exp": expires_at}`, plus `"inc"`, the user's incarnation, when the issuer
knew it. Revocation is per user: the user record carries `sessions_valid_after`, and any session issued before it
is refused. A session names one life of its user: it is refused once the id is deleted and created again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

VERSION = "v1"
MIN_SECRET_LENGTH = 32
MAX_COOKIE_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class Session:
    user_id: str
    issued_at: int
    expires_at: int
    incarnation: str | None = None  # the user's, when issued; None in sessions issued without it


class WeakSecret(ValueError):
    """The configured secret is too short to sign sessions with."""


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Issues and verifies session cookie values with one secret."""

    def __init__(self, secret: str) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            raise WeakSecret(f"SESSION_SECRET must be at least {MIN_SECRET_LENGTH} characters")
        self._key = hashlib.sha256(b"modelgate-session:" + secret.encode()).digest()

    def _sign(self, payload: str) -> str:
        mac = hmac.new(self._key, f"{VERSION}.{payload}".encode(), hashlib.sha256)
        return _b64encode(mac.digest())

    def issue(self, user_id: str, *, now: int, ttl_seconds: int, incarnation: str | None = None) -> str:
        claims: dict[str, object] = {"sub": user_id, "iat": now, "exp": now + ttl_seconds}
        if incarnation is not None:
            claims["inc"] = incarnation
        body = json.dumps(claims, separators=(",", ":"))
        payload = _b64encode(body.encode())
        return f"{VERSION}.{payload}.{self._sign(payload)}"

    def verify(self, value: str, *, now: float) -> Session | None:
        """The session, or None when the value is malformed, tampered with or expired."""
        if len(value) > MAX_COOKIE_LENGTH:
            return None
        parts = value.split(".")
        if len(parts) != 3 or parts[0] != VERSION:
            return None
        _, payload, signature = parts
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            return None
        try:
            claims = json.loads(_b64decode(payload))
            if not isinstance(claims, dict):
                return None
            incarnation = claims.get("inc")
            session = Session(
                str(claims["sub"]),
                int(claims["iat"]),
                int(claims["exp"]),
                None if incarnation is None else str(incarnation),
            )
        except (ValueError, KeyError, TypeError, OverflowError, binascii.Error):  # OverflowError: int(1e999)
            return None
        return session if session.expires_at > now else None
