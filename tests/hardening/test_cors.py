"""GIVEN a CORS policy (CORS_ALLOW_ORIGINS, default `*`; CORS_CREDENTIAL_ORIGINS, explicit origins only)
WHEN browsers preflight and call THEN allowed origins may read answers, only listed origins get credentials,
a preflight needs no key (nor the store), and `*` never comes with credentials."""

from __future__ import annotations

from typing import Any

import pytest
from mangum import Mangum

from handler.settings import Settings, SettingsError
from handler.web.app import create_app
from handler.wiring import build_service
from infra.registry import Registry
from tests.conftest import settings_for
from tests.hardening.faults import closed_port
from tests.hardening.wire import Reply, Request, via_lambda
from tests.support import world

CHAT = "https://chat.example"  # allowed to read answers
APP = "https://app.example"  # allowed to send cookies too
EVIL = "https://evil.example"
KEY = (("Authorization", f"Bearer {world.KEYS['limited']}"),)


def preflight(origin: str, path: str = "/v1/models", headers: str = "authorization") -> Request:
    return Request(
        "OPTIONS",
        path,
        (
            ("Origin", origin),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", headers),
        ),
    )


def get(origin: str, *headers: tuple[str, str]) -> Request:
    return Request(headers=(("Origin", origin), *headers))


def handler_for(**settings: Any) -> Mangum:
    return Mangum(create_app(build_service(settings_for(**settings))), lifespan="off")


@pytest.fixture
def default_policy(world_table: Registry) -> Mangum:
    return handler_for()


@pytest.fixture
def listed_policy(world_table: Registry) -> Mangum:
    return handler_for(cors_allow_origins=(CHAT,), cors_credential_origins=(APP,))


def call(handler: Mangum, request: Request) -> Reply:
    reply = via_lambda(handler, "http-api-v2", request)
    assert not (
        reply.headers.get("access-control-allow-origin") == "*" and "access-control-allow-credentials" in reply.headers
    )
    return reply


@pytest.mark.parametrize("path", ["/v1/models", "/v1/models/meta-llama/Llama-3.1-8B-Instruct"])
def test_default_policy_preflight_needs_no_key(default_policy: Mangum, path: str) -> None:
    # GIVEN the default policy WHEN any origin preflights a keyed GET, without a key
    reply = call(default_policy, preflight(EVIL, path, "authorization, openai-organization"))
    # THEN 204 with no body, any origin may read, no credentials, the requested headers allowed, cached 10 min
    assert reply.status == 204
    assert reply.body == b""
    assert reply.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in reply.headers
    assert reply.headers["access-control-allow-methods"] == "GET, HEAD, OPTIONS"
    assert reply.headers["access-control-allow-headers"] == "authorization, openai-organization"
    assert reply.headers["access-control-max-age"] == "600"


def test_default_policy_lets_any_origin_read_a_keyed_answer(default_policy: Mangum) -> None:
    reply = call(default_policy, get(EVIL, *KEY))
    assert reply.status == 200
    assert [m["id"] for m in reply.json()["data"]] == world.EXPECTED["limited"]
    assert reply.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in reply.headers
    assert "Origin" in reply.headers["vary"]
    assert reply.headers["access-control-expose-headers"] == "ETag, Retry-After"


def test_an_error_answer_is_readable_cross_origin_too(default_policy: Mangum) -> None:
    """A browser client must be able to read the 401 body to tell the user the key is wrong."""
    reply = call(default_policy, get(CHAT, ("Authorization", "Bearer sk-wrong-key-000000000000")))
    assert reply.status == 401
    assert reply.headers["access-control-allow-origin"] == "*"
    assert reply.json()["error"]["code"] == "invalid_api_key"


def test_listed_policy_allowed_origin_reads_without_credentials(listed_policy: Mangum) -> None:
    reply = call(listed_policy, preflight(CHAT))
    assert (reply.status, reply.headers["access-control-allow-origin"]) == (204, CHAT)
    assert "access-control-allow-credentials" not in reply.headers
    reply = call(listed_policy, get(CHAT, *KEY))
    assert (reply.status, reply.headers["access-control-allow-origin"]) == (200, CHAT)
    assert "access-control-allow-credentials" not in reply.headers


def test_listed_policy_credential_origin_gets_credentials(listed_policy: Mangum) -> None:
    for request in (preflight(APP), get(APP, *KEY)):
        reply = call(listed_policy, request)
        assert reply.headers["access-control-allow-origin"] == APP
        assert reply.headers["access-control-allow-credentials"] == "true"


@pytest.mark.parametrize(
    "origin", [EVIL, "null", CHAT + "/", CHAT.upper(), "https://chat.example.evil.example", "http://chat.example"]
)
def test_listed_policy_refuses_every_other_origin(listed_policy: Mangum, origin: str) -> None:
    # WHEN an unlisted origin (or a near miss of a listed one) preflights THEN 403 OpenAI-shaped, no grant
    reply = call(listed_policy, preflight(origin))
    assert reply.status == 403
    assert reply.json()["error"]["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in reply.headers
    # WHEN it sends a simple GET anyway THEN the answer carries no grant, so the browser keeps it from the page
    reply = call(listed_policy, get(origin, *KEY))
    assert reply.status == 200
    assert "access-control-allow-origin" not in reply.headers
    assert "access-control-allow-credentials" not in reply.headers


def test_star_with_a_credential_origin_gives_credentials_to_that_origin_only(world_table: Registry) -> None:
    handler = handler_for(cors_allow_origins=("*",), cors_credential_origins=(APP,))
    reply = call(handler, get(APP, *KEY))
    assert (reply.headers["access-control-allow-origin"], reply.headers["access-control-allow-credentials"]) == (
        APP,
        "true",
    )
    reply = call(handler, get(CHAT, *KEY))
    assert reply.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in reply.headers


def test_a_preflight_does_not_touch_the_store() -> None:
    """GIVEN DynamoDB is unreachable WHEN a browser preflights THEN it still gets its 204: no key, no lookup."""
    with closed_port() as url:
        handler = handler_for(dynamodb_endpoint_url=url)
        assert call(handler, preflight(CHAT)).status == 204
        assert call(handler, get(CHAT, *KEY)).status == 503


def test_credentials_for_star_are_refused_by_the_settings() -> None:
    with pytest.raises(SettingsError, match="CORS_CREDENTIAL_ORIGINS") as refused:
        Settings.from_env({"CORS_CREDENTIAL_ORIGINS": f"{APP}, *"})
    assert APP not in str(refused.value)


def test_the_settings_default_is_any_origin_without_credentials() -> None:
    settings = Settings.from_env({})
    assert (settings.cors_allow_origins, settings.cors_credential_origins) == (("*",), ())
    listed = Settings.from_env({"CORS_ALLOW_ORIGINS": f"{CHAT}/, {APP}", "CORS_CREDENTIAL_ORIGINS": APP})
    assert (listed.cors_allow_origins, listed.cors_credential_origins) == ((CHAT, APP), (APP,))


DIALECT_HEADERS = (
    "x-api-key",
    "anthropic-version",
    "anthropic-beta",
    "anthropic-dangerous-direct-browser-access",
    "x-goog-api-key",
    "x-goog-api-client",
)


@pytest.mark.parametrize("path", ["/v1/models", "/v1beta/models", "/v1beta/openai/models/gpt-4o"])
def test_a_preflight_allows_the_anthropic_and_google_headers(default_policy: Mangum, path: str) -> None:
    """GIVEN a browser client of the Anthropic or Google SDK WHEN it preflights with its headers (or names none)
    THEN 204 allowing each of them."""
    named = call(default_policy, preflight(CHAT, path, ", ".join(DIALECT_HEADERS)))
    assert named.status == 204
    assert named.headers["access-control-allow-headers"] == ", ".join(DIALECT_HEADERS)
    unnamed = Request("OPTIONS", path, (("Origin", CHAT), ("Access-Control-Request-Method", "GET")))
    allowed = {
        h.strip().lower() for h in call(default_policy, unnamed).headers["access-control-allow-headers"].split(",")
    }
    assert set(DIALECT_HEADERS) | {"authorization"} <= allowed


def test_a_browser_reads_an_anthropic_answer_with_x_api_key(default_policy: Mangum) -> None:
    """GIVEN the default policy WHEN a page sends x-api-key and anthropic-version THEN the Anthropic list, readable."""
    headers = (("x-api-key", world.KEYS["limited"]), ("anthropic-version", "2023-06-01"))
    reply = call(default_policy, get(CHAT, *headers))
    assert reply.status == 200
    assert [m["id"] for m in reply.json()["data"]] == world.EXPECTED["limited"]
    assert reply.headers["access-control-allow-origin"] == "*"
