"""Login sessions: a stateless HMAC-signed cookie value `v1.<payload>.<signature>`, and where its secret comes from."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import pytest
from moto import mock_aws

from handler.core.errors import StoreUnavailable
from handler.core.sessions import MAX_COOKIE_LENGTH, Session, SessionSigner, WeakSecret
from handler.settings import Settings
from handler.store.secrets import SecretsManagerVerifier
from handler.wiring import session_verifier

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager.client import SecretsManagerClient

SECRET = "sessions-test-secret-0123456789abcdef012"
NOW = 1_800_000_000


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
def signer() -> SessionSigner:
    return SessionSigner(SECRET)


def test_an_issued_session_verifies_with_its_claims(signer: SessionSigner) -> None:
    """GIVEN a session issued for alice for one hour WHEN verified a minute later THEN alice, iat and exp."""
    value = signer.issue("alice", now=NOW, ttl_seconds=3600)
    assert signer.verify(value, now=NOW + 60) == Session("alice", NOW, NOW + 3600)


def test_the_value_is_v1_payload_signature_in_base64url(signer: SessionSigner) -> None:
    """GIVEN an issued value WHEN split THEN `v1`, a base64url JSON payload {sub, iat, exp}, a 32-byte MAC;
    no padding and no character that needs quoting in a cookie; the secret appears nowhere."""
    value = signer.issue("alice", now=NOW, ttl_seconds=60)
    version, payload, signature = value.split(".")
    assert version == "v1"
    assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))) == {
        "sub": "alice",
        "iat": NOW,
        "exp": NOW + 60,
    }
    assert len(base64.urlsafe_b64decode(signature + "=")) == 32
    assert all(c.isalnum() or c in "-_." for c in value)
    assert SECRET not in value


# A cookie pinned byte for byte, computed outside Python (openssl: the key is SHA-256 of "modelgate-session:" and
# the secret; the MAC is HMAC-SHA256 of "v1.<payload>"). Cookies must stay valid across versions and regions:
# a change to the payload, the key derivation or the MAC breaks this test, never the users' sessions unnoticed.
KNOWN_SECRET = "known-answer-secret-0123456789abcdef0123456789"
KNOWN_COOKIE = (
    "v1.eyJzdWIiOiJhbGljZSIsImlhdCI6MTc2NzIyNTYwMCwiZXhwIjoxNzY3MzEyMDAwfQ.8ZtQCClvTQCe6LinDIuCCmcv9LHqXZgr6xD_3dDb_bk"
)
KNOWN_ISSUED = 1_767_225_600  # 2026-01-01T00:00:00Z, for a day


def test_a_known_cookie_is_issued_byte_for_byte_and_accepted() -> None:
    """GIVEN a fixed secret, user and issue time WHEN a day's session is issued THEN exactly the pinned cookie;
    WHEN that cookie is verified within the day THEN alice's session, and from another secret nothing."""
    signer = SessionSigner(KNOWN_SECRET)
    assert signer.issue("alice", now=KNOWN_ISSUED, ttl_seconds=86_400) == KNOWN_COOKIE
    assert signer.verify(KNOWN_COOKIE, now=KNOWN_ISSUED + 3600) == Session("alice", KNOWN_ISSUED, KNOWN_ISSUED + 86_400)
    assert SessionSigner(KNOWN_SECRET + "x").verify(KNOWN_COOKIE, now=KNOWN_ISSUED + 3600) is None


def test_expiry_is_exclusive(signer: SessionSigner) -> None:
    """GIVEN a 60 s session WHEN verified at its last second and at its expiry instant THEN valid, then refused."""
    value = signer.issue("alice", now=NOW, ttl_seconds=60)
    assert signer.verify(value, now=NOW + 59.999) is not None
    assert signer.verify(value, now=NOW + 60) is None


def test_another_secret_refuses_it(signer: SessionSigner) -> None:
    """GIVEN a session signed with one secret WHEN verified with another THEN refused."""
    value = signer.issue("alice", now=NOW, ttl_seconds=60)
    assert SessionSigner("another-secret-0123456789abcdef0123456").verify(value, now=NOW) is None


def test_a_payload_swapped_under_a_valid_signature_is_refused(signer: SessionSigner) -> None:
    """GIVEN alice's signature WHEN put under a payload naming bob (or extending exp) THEN refused."""
    version, _, alice_signature = signer.issue("alice", now=NOW, ttl_seconds=60).split(".")
    for claims in ({"sub": "bob", "iat": NOW, "exp": NOW + 60}, {"sub": "alice", "iat": NOW, "exp": NOW + 10**9}):
        forged = _b64(json.dumps(claims, separators=(",", ":")).encode())
        assert signer.verify(f"{version}.{forged}.{alice_signature}", now=NOW) is None


@pytest.mark.parametrize(
    "value",
    [
        "",
        "v1",
        "v1..",
        "v1.e30",
        "v2.e30.AAAA",
        "v1.e30.AAAA.extra",
        "v1.!!!.@@@",
        "v1.e30.ääää",
        "x" * (MAX_COOKIE_LENGTH + 1),
    ],
)
def test_malformed_values_are_refused_not_raised(signer: SessionSigner, value: str) -> None:
    """GIVEN values of the wrong structure, version, alphabet or length WHEN verified THEN None, no exception."""
    assert signer.verify(value, now=NOW) is None


def test_a_signed_payload_with_bad_claims_is_refused(signer: SessionSigner) -> None:
    """GIVEN correctly signed payloads that are not JSON or lack claims (only a secret holder could make them)
    WHEN verified THEN None, not an exception."""
    for raw in (b"not json", b"[]", b'{"sub":"alice"}', b'{"sub":"a","iat":"x","exp":1}', b"\xff\xfe"):
        payload = _b64(raw)
        value = f"v1.{payload}.{signer._sign(payload)}"
        assert signer.verify(value, now=NOW) is None


def test_a_short_secret_is_refused() -> None:
    """GIVEN a secret under 32 characters WHEN a signer is made THEN WeakSecret, naming the variable only."""
    with pytest.raises(WeakSecret) as caught:
        SessionSigner("short-secret")
    assert "SESSION_SECRET" in str(caught.value)
    assert "short-secret" not in str(caught.value)


# -- where the secret comes from ---------------------------------------------------------------------------------


def test_session_secret_from_the_environment_signs_sessions() -> None:
    """GIVEN SESSION_SECRET in the environment WHEN the function is wired THEN its verifier accepts our sessions."""
    verifier = session_verifier(Settings.from_env({"SESSION_SECRET": SECRET}))
    assert verifier is not None
    value = SessionSigner(SECRET).issue("alice", now=NOW, ttl_seconds=60)
    assert verifier.verify(value, now=NOW) == Session("alice", NOW, NOW + 60)


def test_no_secret_means_no_sessions() -> None:
    """GIVEN neither SESSION_SECRET nor SESSION_SECRET_ARN WHEN wired THEN no verifier: cookies are ignored."""
    assert session_verifier(Settings.from_env({})) is None


def test_a_weak_secret_disables_sessions_and_is_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    """GIVEN a too-short SESSION_SECRET WHEN wired THEN sessions are off, the error is logged, the secret is not."""
    with caplog.at_level(logging.ERROR, logger="modelgate"):
        assert session_verifier(Settings.from_env({"SESSION_SECRET": "tiny-secret-value"})) is None
    assert "SESSION_SECRET" in caplog.text
    assert "tiny-secret-value" not in caplog.text


@pytest.fixture
def secretsmanager() -> Iterator[SecretsManagerClient]:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def _calls(client: SecretsManagerClient) -> list[str]:
    calls: list[str] = []
    client.meta.events.register("before-call.secrets-manager", lambda model, **_: calls.append(model.name))
    return calls


def test_the_deployed_secret_is_fetched_once_on_first_use(secretsmanager: SecretsManagerClient) -> None:
    """GIVEN the secret in Secrets Manager (moto) WHEN sessions are verified twice
    THEN both verify, and the secret was fetched once, on the first check rather than at wiring."""
    arn = secretsmanager.create_secret(Name="modelgate/session", SecretString=SECRET)["ARN"]
    calls = _calls(secretsmanager)
    verifier = SecretsManagerVerifier(lambda: secretsmanager, arn)
    assert calls == []
    value = SessionSigner(SECRET).issue("alice", now=NOW, ttl_seconds=60)
    assert verifier.verify(value, now=NOW) == Session("alice", NOW, NOW + 60)
    assert verifier.verify(value, now=NOW) is not None
    assert calls == ["GetSecretValue"]


def test_the_secrets_client_is_made_on_the_first_session_check_not_at_init(
    secretsmanager: SecretsManagerClient,
) -> None:
    """GIVEN a verifier for the deployed secret WHEN it is wired (at init) THEN it has made no client, so a cold start
    that serves key callers never pays for one; the first session check makes it, and only once."""
    arn = secretsmanager.create_secret(Name="modelgate/session", SecretString=SECRET)["ARN"]
    made: list[str] = []

    def connect() -> SecretsManagerClient:
        made.append("client")
        return secretsmanager

    verifier = SecretsManagerVerifier(connect, arn, refresh_seconds=0)
    assert made == []
    value = SessionSigner(SECRET).issue("alice", now=NOW, ttl_seconds=60)
    assert verifier.verify(value, now=NOW) is not None
    assert verifier.verify(value, now=NOW) is not None
    assert made == ["client"]


def test_a_rotated_secret_is_picked_up_after_the_refresh_period(secretsmanager: SecretsManagerClient) -> None:
    """GIVEN a verifier that read the secret WHEN the secret is rotated
    THEN old sessions still verify until the refresh period ends, and after it only new ones do."""
    arn = secretsmanager.create_secret(Name="modelgate/session", SecretString=SECRET)["ARN"]
    clock = [1000.0]
    verifier = SecretsManagerVerifier(lambda: secretsmanager, arn, refresh_seconds=300, clock=lambda: clock[0])
    old = SessionSigner(SECRET).issue("alice", now=NOW, ttl_seconds=3600)
    assert verifier.verify(old, now=NOW) is not None
    rotated = SECRET[::-1] + "-rotated"
    secretsmanager.put_secret_value(SecretId=arn, SecretString=rotated)
    new = SessionSigner(rotated).issue("alice", now=NOW, ttl_seconds=3600)

    clock[0] += 299
    assert verifier.verify(old, now=NOW) is not None
    assert verifier.verify(new, now=NOW) is None

    clock[0] += 1
    assert verifier.verify(old, now=NOW) is None
    assert verifier.verify(new, now=NOW) == Session("alice", NOW, NOW + 3600)


def test_a_failed_refresh_keeps_the_secret_it_has(secretsmanager: SecretsManagerClient) -> None:
    """GIVEN a verifier that read the secret WHEN the secret becomes unreadable at refresh time
    THEN sessions keep verifying with the secret it has, and the fetch is retried later, not on every call."""
    arn = secretsmanager.create_secret(Name="modelgate/session", SecretString=SECRET)["ARN"]
    clock = [1000.0]
    verifier = SecretsManagerVerifier(lambda: secretsmanager, arn, refresh_seconds=300, clock=lambda: clock[0])
    value = SessionSigner(SECRET).issue("alice", now=NOW, ttl_seconds=3600)
    assert verifier.verify(value, now=NOW) is not None
    secretsmanager.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    calls = _calls(secretsmanager)

    clock[0] += 300
    assert verifier.verify(value, now=NOW) is not None
    assert verifier.verify(value, now=NOW) is not None
    assert calls == ["GetSecretValue"]


@pytest.mark.parametrize("stored", [None, "too-short"], ids=["missing", "weak"])
def test_an_unusable_deployed_secret_is_store_unavailable(
    secretsmanager: SecretsManagerClient, stored: str | None
) -> None:
    """GIVEN a secret that does not exist, or is too short WHEN a session is checked
    THEN StoreUnavailable (a 503), never a crash or a silent anonymous downgrade."""
    name = "modelgate/session"
    if stored is not None:
        secretsmanager.create_secret(Name=name, SecretString=stored)
    verifier = SecretsManagerVerifier(lambda: secretsmanager, name)
    with pytest.raises(StoreUnavailable):
        verifier.verify("v1.e30.AAAA", now=NOW)
