"""API keys: their format, how they are hashed for lookup, and how they are shown (masked, never whole)."""

from __future__ import annotations

import hashlib
import re
import secrets
import string

PREFIX = "sk-"
RANDOM_LENGTH = 48
MAX_LENGTH = 256  # longer keys are refused before any lookup
MIN_MASKED_LENGTH = 24  # shorter keys are masked whole
_ALPHABET = string.ascii_letters + string.digits
_PRINTABLE = frozenset(chr(c) for c in range(0x21, 0x7F))
# one-api stores 48 letters and digits without `sk-`; its clients send `sk-<key>`, `<key>` and `sk-<key>-<suffix>`.
_ONE_API_FORM = re.compile(r"(?:sk-)?([A-Za-z0-9]{48})(?:-[!-~]+)?")
_WORD = re.compile(r"[^\s'\",()]+")


def generate() -> str:
    """A new key: `sk-` and 48 characters drawn from the OS's CSPRNG (about 285 bits)."""
    return PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(RANDOM_LENGTH))


def key_hash(key: str) -> str:
    """The store's lookup key. Keys are high-entropy, so an unsalted SHA-256 is the right tool."""
    return hashlib.sha256(key.encode()).hexdigest()


def one_api_form(key: str) -> str | None:
    """The `sk-<key>` that a one-api key sent in another of its forms stands for; None when it has no other form."""
    match = _ONE_API_FORM.fullmatch(key)
    if match is None:
        return None
    canonical = PREFIX + match.group(1)
    return None if canonical == key else canonical


def is_well_formed(key: str) -> bool:
    """Printable ASCII without spaces, of a sane length: anything else cannot be a key we issued or seeded."""
    return 0 < len(key) <= MAX_LENGTH and _PRINTABLE.issuperset(key)


def mask(key: str) -> str:
    """`sk-ab****wxyz`, as OpenAI shows keys. Short or odd keys show nothing: 9 of 12 characters is a key."""
    if len(key) < MIN_MASKED_LENGTH or not is_well_formed(key):
        return "****"
    return f"{key[:5]}****{key[-4:]}"


def looks_like_key(text: str) -> bool:
    """A pasted key rather than an id: `sk-` and a key's length, or one of one-api's forms."""
    return (text.startswith(PREFIX) and len(text) >= MIN_MASKED_LENGTH) or one_api_form(text) is not None


def redact(text: str) -> str:
    """The text with every word that looks like a key masked: for messages that echo what an operator typed."""
    return _WORD.sub(lambda word: mask(word.group(0)) if looks_like_key(word.group(0)) else word.group(0), text)
