"""What a token may carry beyond its model list, in the pure core: one-api's key forms, IP allow-lists, a token
group, and the refusals of disabled, expired and exhausted tokens. No AWS here."""

from __future__ import annotations

import pytest

from handler.core import keys
from handler.core.callers import Caller, CallerResolver
from handler.core.errors import AccessDenied, NotAuthenticated
from handler.core.records import User
from handler.store.cache import CachedDirectory
from tests.support.callers import NOW, MemoryDirectory, bearer, credentials, resolver, token

ONE_API = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghijkl"  # 48 letters and digits, as one-api stores it
assert len(ONE_API) == 48
STORED = "sk-" + ONE_API  # what migrate hashes
OTHER_48 = "ZyXwVuTsRqPoNmLkJiHgFeDcBa9876543210zyxwvutsrqpo"
DASHED = "sk-test-carol-with-dashes-0000000000000000000000000000"  # an ordinary modelgate key holding dashes


def _directory() -> MemoryDirectory:
    tokens = {
        STORED: token("tok_oneapi", "alice", models=("gpt-4o",)),
        DASHED: token("tok_dashed", "alice"),
        "sk-exhausted-0000000000000000000000000000000000000": token("tok_out", "alice", status="exhausted"),
        "sk-expired-status-000000000000000000000000000000000": token("tok_exp", "alice", status="expired"),
        "sk-disabled-0000000000000000000000000000000000000000": token("tok_off", "alice", status="disabled"),
        "sk-subnet-000000000000000000000000000000000000000000": token(
            "tok_net", "alice", networks=("10.0.0.0/8", "192.168.1.7/32", "2001:db8::/32")
        ),
        "sk-group-0000000000000000000000000000000000000000000": token("tok_grp", "alice", group="basic"),
        "sk-group-limited-000000000000000000000000000000000000": token(
            "tok_grp_lim", "alice", group="basic", models=("gpt-4o-mini", "gpt-4o")
        ),
        "sk-group-carol-000000000000000000000000000000000000000": token("tok_grp_carol", "carol", group="basic"),
    }
    users = {"alice": User("alice", "vip", True), "carol": User("carol", "vip", False)}
    return MemoryDirectory(tokens_by_hash={keys.key_hash(k): t for k, t in tokens.items()}, users=users)


def _refusal(directory: MemoryDirectory, key: str, client_ip: str | None = None) -> NotAuthenticated:
    with pytest.raises(NotAuthenticated) as caught:
        resolver(directory).resolve(credentials(bearer(key), None, client_ip=client_ip))
    return caught.value


# -- one-api's key forms -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sent", [STORED, ONE_API, f"{STORED}-3", f"{ONE_API}-12", f"{STORED}-a-b"])
def test_every_one_api_form_of_a_key_is_itstoken(sent: str) -> None:
    """GIVEN a migrated one-api key, stored as sha256("sk-" + key)
    WHEN a client sends it as sk-<key>, <key>, sk-<key>-<suffix> or <key>-<suffix>
    THEN each is that token, with its own list."""
    caller = resolver(_directory()).resolve(credentials(bearer(sent), None))
    assert caller == Caller("key", "vip", ("gpt-4o",), token_id="tok_oneapi", user_id="alice")


def test_the_canonical_form_costs_one_lookup_and_another_form_one_batched_lookup_of_both() -> None:
    """GIVEN the migrated key WHEN sent as sk-<key> THEN one token lookup, of that hash;
    WHEN sent bare THEN one round trip asking for the key as sent and for sk-<key>: a cold call stays at 3."""
    directory = _directory()
    resolver(directory).resolve(credentials(bearer(STORED), None))
    assert directory.lookups[0] == ("token", keys.key_hash(STORED))
    directory.lookups.clear()
    resolver(directory).resolve(credentials(bearer(ONE_API), None))
    assert directory.lookups[0] == ("tokens", f"{keys.key_hash(ONE_API)},{keys.key_hash(STORED)}")
    assert [kind for kind, _ in directory.lookups] == ["tokens", "user"]


def test_the_key_as_sent_wins_over_its_one_api_reading() -> None:
    """GIVEN a token stored under the bare 48 characters themselves and another under sk-<them>
    WHEN the bare form is sent THEN the key as sent is the one that answers."""
    directory = _directory()
    directory.tokens_by_hash[keys.key_hash(ONE_API)] = token("tok_bare", "alice")
    assert resolver(directory).resolve(credentials(bearer(ONE_API), None)).token_id == "tok_bare"
    assert resolver(directory).resolve(credentials(bearer(f"{STORED}-1"), None)).token_id == "tok_oneapi"


@pytest.mark.parametrize(
    ("sent", "lookups"),
    [
        (f"sk-{OTHER_48}", [("token", keys.key_hash(f"sk-{OTHER_48}"))]),
        (OTHER_48, [("tokens", f"{keys.key_hash(OTHER_48)},{keys.key_hash(f'sk-{OTHER_48}')}")]),
        (
            "sk-short-key-with-dashes-00000000000000",
            [("token", keys.key_hash("sk-short-key-with-dashes-00000000000000"))],
        ),
        (OTHER_48[:47], [("token", keys.key_hash(OTHER_48[:47]))]),
    ],
)
def test_an_unknown_key_costs_at_most_two_lookups_in_one_round_trip(sent: str, lookups: list[tuple[str, str]]) -> None:
    """GIVEN keys nobody holds WHEN sent THEN 401, after one lookup, or one round trip for the two one-api
    readings; keys without a one-api form (not 48 letters and digits) are looked up only as sent."""
    directory = _directory()
    assert _refusal(directory, sent).code == "invalid_api_key"
    assert directory.lookups == lookups


def test_an_ordinary_key_with_dashes_is_found_as_sent() -> None:
    """GIVEN a modelgate key holding dashes WHEN sent THEN found in one lookup, never cut at a dash."""
    directory = _directory()
    assert resolver(directory).resolve(credentials(bearer(DASHED), None)).token_id == "tok_dashed"
    assert directory.lookups[0] == ("token", keys.key_hash(DASHED))


def test_the_cache_remembers_an_unknown_key_in_both_readings() -> None:
    """GIVEN the cached directory WHEN an unknown bare 48-character key is sent twice
    THEN the second time costs no lookup at all: absence is cached too."""
    inner = _directory()
    cached = CachedDirectory(inner, revalidate=2, max_age=30, max_entries=100, stale_if_error=0, clock=lambda: 0.0)
    resolve = CallerResolver(cached, sessions=None, session_cookie="c", anonymous_access=True, clock=lambda: NOW)
    for _ in range(2):
        with pytest.raises(NotAuthenticated):
            resolve.resolve(credentials(bearer(OTHER_48), None))
    assert len(inner.lookups) == 1
    resolve.resolve(credentials(bearer(ONE_API), None))
    resolve.resolve(credentials(bearer(ONE_API), None))
    assert [kind for kind, _ in inner.lookups] == ["tokens+revision", "tokens", "user"]


# -- statuses --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("sk-disabled-0000000000000000000000000000000000000000", "This API key has been disabled"),
        ("sk-expired-status-000000000000000000000000000000000", "This API key has expired"),
        ("sk-exhausted-0000000000000000000000000000000000000", "This API key is out of quota"),
    ],
)
def test_disabled_expired_and_exhausted_tokens_are_refused_saying_why(key: str, why: str) -> None:
    """GIVEN tokens whose status is disabled, expired or exhausted (one-api's 2, 3, 4)
    WHEN used THEN 401 invalid_api_key, the message saying which, the key masked."""
    error = _refusal(_directory(), key)
    assert error.code == "invalid_api_key"
    assert error.message == f"{why}: {keys.mask(key)}."


# -- IP allow-lists --------------------------------------------------------------------------------------------

SUBNET_KEY = "sk-subnet-000000000000000000000000000000000000000000"


@pytest.mark.parametrize("client_ip", ["10.1.2.3", "192.168.1.7", "2001:db8::1", "::ffff:10.9.9.9", "192.168.1.7/32"])
def test_a_client_inside_the_allow_list_is_admitted(client_ip: str) -> None:
    """GIVEN a token allowed from 10.0.0.0/8, 192.168.1.7 and 2001:db8::/32
    WHEN called from inside one of them (an IPv4-mapped IPv6 address counts as its IPv4)
    THEN it is that token."""
    assert (
        resolver(_directory()).resolve(credentials(bearer(SUBNET_KEY), None, client_ip=client_ip)).token_id == "tok_net"
    )


@pytest.mark.parametrize("client_ip", ["11.0.0.1", "192.168.1.8", "2001:db9::1", None, "not-an-address", "11.0.0.0/8"])
def test_a_client_outside_the_allow_list_is_403_ip_not_allowed(client_ip: str | None) -> None:
    """GIVEN the same token WHEN called from outside every network, or from an unknown address
    THEN AccessDenied with code ip_not_allowed, the key masked, the allowed networks never shown."""
    with pytest.raises(AccessDenied) as caught:
        resolver(_directory()).resolve(credentials(bearer(SUBNET_KEY), None, client_ip=client_ip))
    assert caught.value.code == "ip_not_allowed"
    assert keys.mask(SUBNET_KEY) in caught.value.message
    assert "10.0.0.0" not in caught.value.message
    assert SUBNET_KEY not in caught.value.message


def test_a_token_without_a_list_is_admitted_from_anywhere() -> None:
    """GIVEN a token with no allow-list WHEN called from any address, or none THEN admitted."""
    for client_ip in ("203.0.113.9", None):
        assert (
            resolver(_directory()).resolve(credentials(bearer(DASHED), None, client_ip=client_ip)).token_id
            == "tok_dashed"
        )


# -- token groups ----------------------------------------------------------------------------------------------


def test_a_token_group_replaces_the_owners_group() -> None:
    """GIVEN alice in vip and her token naming group basic WHEN resolved THEN the caller's group is basic."""
    caller = resolver(_directory()).resolve(
        credentials(bearer("sk-group-0000000000000000000000000000000000000000000"), None)
    )
    assert (caller.group, caller.models) == ("basic", None)


def test_a_token_group_is_still_narrowed_by_the_tokens_list() -> None:
    """GIVEN a token naming group basic and its own list WHEN resolved THEN basic, narrowed by that list."""
    key = "sk-group-limited-000000000000000000000000000000000000"
    caller = resolver(_directory()).resolve(credentials(bearer(key), None))
    assert (caller.group, caller.models) == ("basic", ("gpt-4o-mini", "gpt-4o"))


def test_a_token_group_does_not_save_a_disabled_owner() -> None:
    """GIVEN carol disabled, her token naming another group WHEN used THEN refused: the owner decides."""
    error = _refusal(_directory(), "sk-group-carol-000000000000000000000000000000000000000")
    assert error.message.startswith("The account that owns this API key is disabled")
