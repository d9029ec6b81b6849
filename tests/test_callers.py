"""Who is calling, in the pure core: API key, then session cookie, then anonymous. No AWS here.

The core reads through its Directory port; these tests give it an in-memory one that records every lookup.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from handler.core import keys
from handler.core.callers import (
    CONFLICTING_KEYS,
    MALFORMED_HEADER,
    MISSING_KEY,
    Caller,
    CallerResolver,
    Credentials,
    cookie_values,
)
from handler.core.errors import NotAuthenticated
from handler.core.listing import visible_members
from handler.core.records import GroupView, Member, Token, User
from handler.core.sessions import SessionSigner
from handler.store.layout import Marker
from infra.registry import Registry
from tests.support import world

NOW = 1_800_000_000.0
SECRET = "callers-test-secret-0123456789abcdef0123"
COOKIE = "modelgate_session"

FULL = "sk-abFULL0000000000000000000000000000000000000000wxyz"
LIMITED = "sk-cdLIMITED00000000000000000000000000000000000000stuv"
EMPTY = "sk-efEMPTY000000000000000000000000000000000000000opqr"
DISABLED = "sk-ghDISABLED0000000000000000000000000000000000000klmn"
EXPIRED = "sk-ijEXPIRED00000000000000000000000000000000000000ghij"
EXPIRES_NOW = "sk-klEXPIRESNOW000000000000000000000000000000000cdef"
EXPIRES_SOON = "sk-mnEXPIRESSOON00000000000000000000000000000000yzab"
OWNER_DISABLED = "sk-opOWNERDISABLED0000000000000000000000000000000uvwx"
OWNER_MISSING = "sk-qrOWNERMISSING000000000000000000000000000000000qrst"
UNKNOWN = "sk-stUNKNOWN00000000000000000000000000000000000000mnop"


def _token(
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


@pytest.fixture
def directory() -> MemoryDirectory:
    tokens = {
        FULL: _token("tok_full", "alice"),
        LIMITED: _token("tok_limited", "alice", models=("davinci", "gpt-4o")),
        EMPTY: _token("tok_empty", "alice", models=()),
        DISABLED: _token("tok_disabled", "alice", status="disabled"),
        EXPIRED: _token("tok_expired", "alice", expires_at=NOW - 1),
        EXPIRES_NOW: _token("tok_now", "alice", expires_at=NOW),
        EXPIRES_SOON: _token("tok_soon", "alice", expires_at=NOW + 1),
        OWNER_DISABLED: _token("tok_carol", "carol"),
        OWNER_MISSING: _token("tok_ghost", "ghost"),
    }
    users = {
        "alice": User("alice", "vip", True),
        "bob": User("bob", "basic", True),
        "carol": User("carol", "vip", False),
        "dave": User("dave", "basic", True, sessions_valid_after=NOW - 100),
    }
    return MemoryDirectory(tokens_by_hash={keys.key_hash(k): t for k, t in tokens.items()}, users=users)


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


def refusal(directory: MemoryDirectory, authorization: list[str], cookie: str | None = None) -> NotAuthenticated:
    with pytest.raises(NotAuthenticated) as caught:
        resolver(directory).resolve(credentials(authorization, cookie))
    return caught.value


# -- resolution order ----------------------------------------------------------------------------------------


def test_a_key_wins_over_a_session_cookie(directory: MemoryDirectory) -> None:
    """GIVEN a valid key of alice (vip) and a valid session of bob (basic)
    WHEN the caller is resolved
    THEN it is alice's token: the key decides, and the cookie is not even read."""
    caller = resolver(directory).resolve(credentials(bearer(FULL), session("bob")))
    assert caller == Caller("key", "vip", None, token_id="tok_full", user_id="alice")
    assert ("user", "bob") not in directory.lookups


def test_a_refused_key_never_falls_back_to_the_session(directory: MemoryDirectory) -> None:
    """GIVEN a disabled key and a valid session cookie WHEN resolved THEN 401: a bad key is never ignored."""
    error = refusal(directory, bearer(DISABLED), session("bob"))
    assert error.code == "invalid_api_key"


def test_a_session_wins_over_anonymous(directory: MemoryDirectory) -> None:
    """GIVEN no Authorization header and bob's valid session WHEN resolved THEN bob, with his group."""
    caller = resolver(directory).resolve(credentials([], session("bob")))
    assert caller == Caller("session", "basic", None, token_id=None, user_id="bob")


def test_no_credential_is_the_anonymous_default_group(directory: MemoryDirectory) -> None:
    """GIVEN no header and no cookie WHEN resolved THEN the anonymous caller of the `default` group, no lookup."""
    assert resolver(directory).resolve(credentials([], None)) == Caller("anonymous", "default")
    assert directory.lookups == []


def test_anonymous_off_refuses_a_caller_without_credentials(directory: MemoryDirectory) -> None:
    """GIVEN anonymous access off WHEN nothing is presented THEN 401 with OpenAI's missing-key message, code null."""
    with pytest.raises(NotAuthenticated) as caught:
        resolver(directory, anonymous=False).resolve(credentials([], None))
    assert (caught.value.message, caught.value.code) == (MISSING_KEY, None)


def test_anonymous_off_refuses_an_invalid_session(directory: MemoryDirectory) -> None:
    """GIVEN anonymous access off WHEN only an expired session is presented THEN 401, not the default group."""
    with pytest.raises(NotAuthenticated) as caught:
        resolver(directory, anonymous=False).resolve(credentials([], session("alice", issued_at=NOW - 7200)))
    assert caught.value.message == MISSING_KEY


def test_anonymous_off_still_admits_keys_and_sessions(directory: MemoryDirectory) -> None:
    """GIVEN anonymous access off WHEN a key or a valid session is presented THEN each is admitted as usual."""
    closed = resolver(directory, anonymous=False)
    assert closed.resolve(credentials(bearer(LIMITED), None)).models == ("davinci", "gpt-4o")
    assert closed.resolve(credentials([], session("alice"))).user_id == "alice"


# -- the Authorization header ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        [""],
        ["Bearer"],
        ["Bearer "],
        ["Bearer     "],
        ["Basic c2stYWJjOnh5eg=="],
        [f"Token {FULL}"],
        [FULL],
        [f"Bearer {FULL}", f"Bearer {LIMITED}"],
    ],
    ids=["empty", "scheme-only", "scheme-space", "blank-key", "basic", "token-scheme", "no-scheme", "two-headers"],
)
def test_a_malformed_header_is_refused_without_a_lookup(directory: MemoryDirectory, authorization: list[str]) -> None:
    """GIVEN an Authorization header that is not exactly one `Bearer <key>`
    WHEN resolved (even with a valid session alongside)
    THEN 401 invalid_api_key with the malformed-header message, no key echoed, and nothing looked up."""
    error = refusal(directory, authorization, session("bob"))
    assert (error.message, error.code) == (MALFORMED_HEADER, "invalid_api_key")
    assert FULL not in error.message
    assert directory.lookups == []


@pytest.mark.parametrize("header", [f"bearer {FULL}", f"BEARER {FULL}", f"  Bearer   {FULL}  "])
def test_the_scheme_is_case_insensitive_and_spaces_are_trimmed(directory: MemoryDirectory, header: str) -> None:
    """GIVEN `bearer`, `BEARER` or extra spaces WHEN resolved THEN the key is read as usual (RFC 7235)."""
    assert resolver(directory).resolve(credentials([header], None)).token_id == "tok_full"


def test_the_token_is_looked_up_by_the_sha256_of_the_key(directory: MemoryDirectory) -> None:
    """GIVEN a key WHEN resolved THEN the store is asked for its SHA-256 hex digest, never the key itself."""
    resolver(directory).resolve(credentials(bearer(FULL), None))
    assert directory.lookups[0] == ("token", hashlib.sha256(FULL.encode()).hexdigest())
    assert all(FULL not in value for _, value in directory.lookups)


# -- keys sent elsewhere: x-api-key, x-goog-api-key, ?key= -----------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "keys"),
    [([], (LIMITED,)), ([], (LIMITED, LIMITED)), (bearer(LIMITED), (LIMITED,)), (bearer(LIMITED), (LIMITED, LIMITED))],
    ids=["one-other-place", "two-places-agree", "bearer-and-header-agree", "three-places-agree"],
)
def test_a_key_sent_anywhere_is_the_same_key(
    directory: MemoryDirectory, authorization: list[str], keys: tuple[str, ...]
) -> None:
    """GIVEN the limited key in x-api-key / x-goog-api-key / ?key= (with or without the same Bearer)
    WHEN resolved THEN the limited key's caller: same token, same list, one lookup of its hash."""
    caller = resolver(directory).resolve(credentials(authorization, session("bob"), *keys))
    assert (caller.kind, caller.token_id, caller.models) == ("key", "tok_limited", ("davinci", "gpt-4o"))
    assert directory.lookups[0] == ("token", keys_module_hash(LIMITED))


@pytest.mark.parametrize(
    ("authorization", "keys"),
    [([], (FULL, LIMITED)), (bearer(FULL), (LIMITED,)), (bearer(FULL), (FULL, UNKNOWN))],
    ids=["two-other-places", "bearer-and-header", "one-of-three-differs"],
)
def test_two_different_keys_are_malformed_never_a_list(
    directory: MemoryDirectory, authorization: list[str], keys: tuple[str, ...]
) -> None:
    """GIVEN two different keys (e.g. Bearer and x-api-key), even both valid, and a valid session
    WHEN resolved THEN 401 malformed, nothing looked up, no key echoed."""
    with pytest.raises(NotAuthenticated) as caught:
        resolver(directory).resolve(credentials(authorization, session("bob"), *keys))
    error = caught.value
    assert (error.message, error.code, error.reason) == (CONFLICTING_KEYS, "invalid_api_key", "malformed")
    assert directory.lookups == []


@pytest.mark.parametrize("key", [UNKNOWN, DISABLED, "", "not a key"], ids=["unknown", "disabled", "empty", "spaces"])
def test_a_bad_key_in_another_place_is_refused_never_anonymous(directory: MemoryDirectory, key: str) -> None:
    """GIVEN a bad (or empty) key in x-api-key and a valid session WHEN resolved THEN 401 invalid: a key that was
    sent decides, wherever it was sent; it never falls back to the session or the anonymous list."""
    with pytest.raises(NotAuthenticated) as caught:
        resolver(directory).resolve(credentials([], session("bob"), key))
    assert (caught.value.code, caught.value.reason) == ("invalid_api_key", "invalid")


def test_the_client_ip_travels_with_the_credentials_and_no_key_is_in_their_repr() -> None:
    """GIVEN credentials with keys, a cookie and a client IP WHEN printed THEN only the IP shows."""
    value = Credentials((f"Bearer {FULL}",), (LIMITED,), session("bob"), "203.0.113.7")
    assert value.client_ip == "203.0.113.7"
    assert FULL not in repr(value)
    assert LIMITED not in repr(value)
    assert "203.0.113.7" in repr(value)


def keys_module_hash(key: str) -> str:
    return keys.key_hash(key)


# -- refused keys and masking -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (UNKNOWN, "Incorrect API key provided: sk-st****mnop."),
        (DISABLED, "This API key has been disabled: sk-gh****klmn."),
        (EXPIRED, "This API key has expired: sk-ij****ghij."),
        (EXPIRES_NOW, "This API key has expired: sk-kl****cdef."),
        (OWNER_DISABLED, "The account that owns this API key is disabled: sk-op****uvwx."),
        (OWNER_MISSING, "The account that owns this API key is disabled: sk-qr****qrst."),
    ],
    ids=["unknown", "disabled", "expired", "expires-this-instant", "owner-disabled", "owner-missing"],
)
def test_refused_keys_get_401_with_the_key_masked(directory: MemoryDirectory, key: str, message: str) -> None:
    """GIVEN a key that is unknown, disabled, expired (expires_at <= now), or whose owner is disabled or missing
    WHEN resolved
    THEN 401 invalid_api_key; the message shows the key as `sk-ab****wxyz` and never whole."""
    error = refusal(directory, bearer(key))
    assert (error.message, error.code) == (message, "invalid_api_key")
    assert key not in error.message


def test_a_key_expiring_after_now_is_admitted(directory: MemoryDirectory) -> None:
    """GIVEN a token expiring one second from now WHEN resolved THEN it is still a key caller."""
    assert resolver(directory).resolve(credentials(bearer(EXPIRES_SOON), None)).token_id == "tok_soon"


@pytest.mark.parametrize(
    "key", ["sk-ключ-0000000000000000000000", "sk-tab\there-000000000000000", "sk-" + "a" * 300], ids=str.__len__
)
def test_a_key_that_cannot_be_ours_is_refused_without_a_lookup(directory: MemoryDirectory, key: str) -> None:
    """GIVEN a key with non-ASCII or control characters, or absurdly long
    WHEN resolved THEN 401 `Incorrect API key provided: ****.` and the store is not asked."""
    error = refusal(directory, bearer(key))
    assert error.message == "Incorrect API key provided: ****."
    assert directory.lookups == []


@pytest.mark.parametrize(
    ("key", "masked"),
    [
        ("sk-abcdefghijklmnopqrstuvwxyz", "sk-ab****wxyz"),
        (world.KEYS["full"], "sk-te****0000"),
        ("sk-abcdefgh", "****"),
        ("sk-abcdefghijklmnopqrst", "****"),
        ("sk-abcdefghijklmnopqrstu", "sk-ab****rstu"),
        ("", "****"),
        ("sk-abc defghijklmnop", "****"),
        ("sk-ключ-abcdefghijklmnop", "****"),
    ],
)
def test_mask_shows_at_most_the_first_five_and_last_four(key: str, masked: str) -> None:
    """GIVEN keys of every shape WHEN masked THEN `sk-ab****wxyz`, or `****` for short or odd ones."""
    assert keys.mask(key) == masked


def test_generated_keys_are_sk_and_48_random_characters() -> None:
    """GIVEN two freshly generated keys THEN each is `sk-` + 48 letters/digits, and they differ."""
    first, second = keys.generate(), keys.generate()
    for key in (first, second):
        assert re.fullmatch(r"sk-[A-Za-z0-9]{48}", key)
        assert set(key[3:]) <= set(string.ascii_letters + string.digits)
    assert first != second


def test_key_hash_is_plain_sha256_hex() -> None:
    """GIVEN the SHA-256 test vector `abc` WHEN hashed THEN the published digest."""
    assert keys.key_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


# -- a token's own model list: narrowing, never widening ------------------------------------------------------


def _view(*members: tuple[str, dict[str, object] | None]) -> GroupView:
    return GroupView("g", "v1", tuple(Member(model_id, entry) for model_id, entry in members))


GROUP = _view(
    ("gpt-4o", {"owned_by": "openai"}),
    ("gpt-4o-mini", {"owned_by": "openai"}),
    ("davinci", {"owned_by": "openai", "status": "enabled"}),
    ("old-model", {"owned_by": "openai", "status": "disabled"}),
    ("my-custom", None),
)


def _ids(token_models: tuple[str, ...] | None, view: GroupView | None = GROUP) -> list[str]:
    return [m.model_id for m in visible_members(view, token_models)]


def test_no_limit_lists_the_group_in_group_order_without_disabled_models() -> None:
    """GIVEN a token whose models are absent (None) WHEN listed THEN the group's models, in its order."""
    assert _ids(None) == ["gpt-4o", "gpt-4o-mini", "davinci", "my-custom"]


def test_an_empty_list_means_no_models() -> None:
    """GIVEN a token whose models are an empty list WHEN listed THEN nothing at all."""
    assert _ids(()) == []


def test_a_token_list_narrows_and_orders_the_group() -> None:
    """GIVEN a token listing davinci then gpt-4o WHEN listed THEN exactly those, in the token's order."""
    assert _ids(("davinci", "gpt-4o")) == ["davinci", "gpt-4o"]


def test_a_token_never_widens_its_group() -> None:
    """GIVEN a token naming a model its group lacks, and a disabled one
    WHEN listed THEN both are left out silently; the rest keep the token's order."""
    assert _ids(("o1-pro", "my-custom", "old-model", "gpt-4o")) == ["my-custom", "gpt-4o"]


def test_duplicates_are_listed_once() -> None:
    """GIVEN a token and a group that repeat ids WHEN listed THEN each model once, at its first position."""
    repeated = _view(("a", None), ("b", None), ("a", None))
    assert _ids(None, repeated) == ["a", "b"]
    assert _ids(("b", "a", "b"), repeated) == ["b", "a"]


def test_a_missing_group_lists_nothing() -> None:
    """GIVEN a caller whose group does not exist WHEN listed THEN an empty list, not an error."""
    assert _ids(None, None) == []
    assert _ids(("gpt-4o",), None) == []


def test_a_key_caller_carries_its_tokens_list_absent_or_empty(directory: MemoryDirectory) -> None:
    """GIVEN tokens with no list, a list, and an empty list WHEN resolved THEN None, that tuple, and ()."""
    resolve = resolver(directory).resolve
    assert resolve(credentials(bearer(FULL), None)).models is None
    assert resolve(credentials(bearer(LIMITED), None)).models == ("davinci", "gpt-4o")
    assert resolve(credentials(bearer(EMPTY), None)).models == ()


# -- session cookies ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cookie",
    [
        session("bob"),
        f"theme=dark; {session('bob')}; lang=en",
        f'{COOKIE}="{session("bob").partition("=")[2]}"',
        f"{session('bob')}; {session('bob')}",
    ],
    ids=["alone", "among-others", "quoted", "sent-twice"],
)
def test_a_valid_session_is_the_logged_in_user(directory: MemoryDirectory, cookie: str) -> None:
    """GIVEN bob's valid session cookie, alone, among other cookies, quoted or repeated
    WHEN resolved THEN bob with his group."""
    assert resolver(directory).resolve(credentials([], cookie)) == Caller("session", "basic", None, user_id="bob")


@pytest.mark.parametrize(
    "cookie",
    [
        session("alice", issued_at=NOW - 7200, ttl=3600),
        session("alice", issued_at=NOW - 3600, ttl=3600),
        session("alice").replace(".", ".x", 1),
        session("alice")[:-2] + "AA",
        session("alice", secret="some-other-secret-0123456789abcdef0123"),
        session("mallory"),
        session("carol"),
        session("dave", issued_at=NOW - 200),
        f"{session('alice')}; {session('bob')}",
        f"other_cookie={session('alice').partition('=')[2]}",
        f"{COOKIE}=",
        f"{COOKIE}=v1.e30.e30",
    ],
    ids=[
        "expired",
        "expires-this-instant",
        "tampered-payload",
        "tampered-signature",
        "other-secret",
        "unknown-user",
        "disabled-user",
        "revoked",
        "two-different-sessions",
        "wrong-cookie-name",
        "empty-value",
        "forged-structure",
    ],
)
def test_an_invalid_session_is_not_logged_in(directory: MemoryDirectory, cookie: str) -> None:
    """GIVEN a session that is expired, tampered, foreign, of an unknown/disabled user, revoked or ambiguous
    WHEN resolved THEN the caller is anonymous (the default group), never an error."""
    assert resolver(directory).resolve(credentials([], cookie)) == Caller("anonymous", "default")


def test_a_session_issued_after_revocation_is_valid(directory: MemoryDirectory) -> None:
    """GIVEN dave's sessions revoked 100 s ago WHEN he presents one issued 10 s ago THEN he is logged in."""
    assert resolver(directory).resolve(credentials([], session("dave"))).user_id == "dave"


def test_without_a_session_secret_cookies_are_ignored(directory: MemoryDirectory) -> None:
    """GIVEN no session verifier (SESSION_SECRET unset) WHEN a well-formed cookie arrives THEN anonymous."""
    assert resolver(directory, sessions=False).resolve(credentials([], session("alice"))).kind == "anonymous"
    assert directory.lookups == []


def test_cookie_values_reads_every_value_of_one_name() -> None:
    """GIVEN a Cookie header with repeats, quotes, spaces and junk WHEN parsed THEN the values of that name only."""
    header = 'a=1; sid=x; junk; sid = "y" ;b=2; sidx=z'
    assert cookie_values(header, "sid") == ["x", "y"]
    assert cookie_values(None, "sid") == []
    assert cookie_values("", "sid") == []


# -- storage --------------------------------------------------------------------------------------------------


def test_the_table_never_holds_a_plaintext_key(seeded: Registry) -> None:
    """GIVEN the test world applied to the table (moto)
    WHEN every item is scanned THEN no attribute holds a plaintext key; tokens are keyed by its SHA-256."""
    items = seeded.client.scan(TableName=seeded.table)["Items"]
    dump = repr(items)
    for key in world.KEYS.values():
        assert key not in dump
    token_pks = {item["pk"]["S"] for item in items if item["sk"]["S"] == "TOKEN"}
    assert token_pks == {f"TOKEN#{keys.key_hash(t['key'])}" for t in world.TOKENS}
