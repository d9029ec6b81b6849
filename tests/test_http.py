"""Every rule of the service over real HTTP: httpx against the app on uvicorn, reading DynamoDB over HTTP
(moto's server mode). One seeded table serves the module; no test here writes to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import settings_for
from tests.support import expected, world
from tests.support.server import LocalServer, fresh_table, serve


@pytest.fixture(scope="module")
def world_table(moto_endpoint: str) -> str:
    """GIVEN (for the module) the test world, an orphan token and a revoked user in a table on moto's server."""
    table, registry = fresh_table(moto_endpoint)
    expected.extend_world(registry)
    return table


def _client(moto_endpoint: str, table: str, **overrides: Any) -> Iterator[httpx.Client]:
    settings = settings_for(table_name=table, dynamodb_endpoint_url=moto_endpoint, **overrides)
    with serve(settings) as server, httpx.Client(base_url=server.base_url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def client(moto_endpoint: str, world_table: str) -> Iterator[httpx.Client]:
    yield from _client(moto_endpoint, world_table)


@pytest.fixture(scope="module")
def closed_client(moto_endpoint: str, world_table: str) -> Iterator[httpx.Client]:
    """The same table served with anonymous access turned off."""
    yield from _client(moto_endpoint, world_table, anonymous_access=False)


def get(client: httpx.Client, path: str = "/v1/models", *, caller: str = "anonymous", **options: Any) -> Any:
    """GET `path` as `caller`; the status and the decoded JSON body (always JSON, whatever the status)."""
    headers = {k: str(v) for k, v in expected.auth_headers(caller).items()}
    cookies = expected.cookies(caller) + options.pop("cookies", [])
    if cookies:
        headers["Cookie"] = "; ".join(cookies)
    headers.update(options.pop("headers", {}))
    response = client.get(path, headers=headers, **options)
    assert response.headers["content-type"] == "application/json"
    return response.status_code, response.json()


# -- listing and retrieving, per caller ------------------------------------------------------------------------


@pytest.mark.parametrize("caller", expected.CALLERS)
def test_each_caller_lists_exactly_its_models(client: httpx.Client, caller: str) -> None:
    """GIVEN the world WHEN each caller GETs /v1/models over HTTP THEN 200 and exactly its models, field by field."""
    assert get(client, caller=caller) == (200, expected.listing(caller))


@pytest.mark.parametrize("caller", expected.CALLERS)
def test_each_caller_retrieves_what_it_lists_and_nothing_else(client: httpx.Client, caller: str) -> None:
    """GIVEN a caller WHEN it retrieves every id of the world THEN 200 for its models, the exact 404 for others."""
    for model_id in world.EXPECTED[caller]:
        assert get(client, f"/v1/models/{model_id}", caller=caller) == (200, expected.model(model_id))
    for model_id in expected.hidden_ids(caller):
        assert get(client, f"/v1/models/{model_id}", caller=caller) == (404, expected.not_found(model_id))


@pytest.mark.parametrize("encode", [False, True], ids=["raw", "percent-encoded"])
@pytest.mark.parametrize("model_id", expected.SPECIAL_IDS)
def test_ids_with_slash_colon_and_dot_work_raw_and_percent_encoded(
    client: httpx.Client, model_id: str, encode: bool
) -> None:
    """GIVEN ids with `/`, `:` and `.` WHEN retrieved raw or percent-encoded (meta-llama%2FLlama-3.1-8B-Instruct)
    THEN 200 for a key that has the model, 404 naming the decoded id for one that lacks it."""
    path = f"/v1/models/{quote(model_id, safe='') if encode else model_id}"
    assert get(client, path, caller="full") == (200, expected.model(model_id))
    assert get(client, path, caller="limited") == (404, expected.not_found(model_id))


def test_the_list_also_answers_with_a_trailing_slash(client: httpx.Client) -> None:
    """GIVEN `GET /v1/models/` WHEN called THEN the caller's list."""
    assert get(client, "/v1/models/", caller="limited") == (200, expected.listing("limited"))


# -- refused keys -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/models", "/v1/models/gpt-4o-mini"])
@pytest.mark.parametrize("name", expected.REFUSED)
def test_refused_keys_get_401_with_the_key_masked(client: httpx.Client, name: str, path: str) -> None:
    """GIVEN a disabled, expired, unknown, owner-disabled or orphan key WHEN it lists or retrieves
    THEN 401 in OpenAI's shape, the key shown as `sk-te****0000`, never whole."""
    status, body = get(client, path, caller=name)
    assert (status, body) == (401, expected.refused(name))
    assert expected.key_of(name) not in str(body)


@pytest.mark.parametrize(
    "authorization", ["Basic dXNlcjpwYXNz", "Bearer", f"Token {world.KEYS['full']}", world.KEYS["full"]]
)
def test_a_malformed_authorization_header_is_401(client: httpx.Client, authorization: str) -> None:
    """GIVEN an Authorization header that is not `Bearer <key>` WHEN listing THEN 401 malformed.
    (`Bearer ` with an empty key cannot be sent over HTTP/1.1: trailing spaces are stripped; see the Lambda tests.)"""
    assert get(client, headers={"Authorization": authorization}) == (401, expected.MALFORMED)


def test_a_refused_key_is_refused_even_with_a_valid_session(client: httpx.Client) -> None:
    """GIVEN an expired key and alice's valid session WHEN listing THEN 401: the key decides."""
    status_body = get(client, caller="expired", cookies=expected.cookies("session:alice"))
    assert status_body == (401, expected.refused("expired"))


def test_a_key_wins_over_a_session(client: httpx.Client) -> None:
    """GIVEN the widening key and alice's session WHEN listing THEN the key's (narrowed) list."""
    assert get(client, caller="widening", cookies=expected.cookies("session:alice")) == (
        200,
        expected.listing("widening"),
    )


# -- sessions ------------------------------------------------------------------------------------------------------


def test_a_session_among_other_cookies_is_the_user(client: httpx.Client) -> None:
    """GIVEN bob's session between two unrelated cookies WHEN listing THEN bob's list."""
    cookies = ["theme=dark", expected.session_cookie("bob"), "lang=en"]
    assert get(client, cookies=cookies) == (200, expected.listing("session:bob"))


@pytest.mark.parametrize("reason", sorted(expected.invalid_sessions()))
def test_an_invalid_session_is_anonymous(client: httpx.Client, reason: str) -> None:
    """GIVEN an expired, tampered, foreign, unknown-user, disabled-user or revoked session WHEN listing
    THEN the anonymous list."""
    assert get(client, cookies=[expected.invalid_sessions()[reason]]) == (200, expected.listing("anonymous"))


# -- anonymous access off ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/models", "/v1/models/gpt-4o-mini"])
def test_anonymous_off_answers_401_for_a_missing_key(closed_client: httpx.Client, path: str) -> None:
    """GIVEN anonymous access off WHEN no key (or an invalid session) is sent THEN OpenAI's missing-key 401."""
    assert get(closed_client, path) == (401, expected.MISSING_KEY)
    assert get(closed_client, path, cookies=[expected.invalid_sessions()["revoked"]]) == (401, expected.MISSING_KEY)


@pytest.mark.parametrize("caller", ["session:bob", "full"])
def test_anonymous_off_still_serves_sessions_and_keys(closed_client: httpx.Client, caller: str) -> None:
    """GIVEN anonymous access off WHEN a logged-in user or a key lists THEN their list."""
    assert get(closed_client, caller=caller) == (200, expected.listing(caller))


# -- routes and errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/v1/engines", "/v2/models", "/v1/models-x"])
def test_an_unknown_route_is_an_openai_shaped_404(client: httpx.Client, path: str) -> None:
    """GIVEN a path the service does not answer WHEN requested THEN 404 `unknown_url` in OpenAI's shape."""
    assert get(client, path, caller="full") == (404, expected.UNKNOWN_ROUTE)


@pytest.mark.parametrize("path", ["/v1/models", "/v1/models/gpt-4o"])
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_another_method_is_an_openai_shaped_405(client: httpx.Client, method: str, path: str) -> None:
    """GIVEN a known path WHEN called with another method THEN 405 in OpenAI's shape; Allow names GET."""
    response = client.request(method, path, headers={"Authorization": f"Bearer {world.KEYS['full']}"}, json={})
    assert (response.status_code, response.json()) == (405, expected.method_not_allowed(method))
    assert "GET" in {m.strip() for m in response.headers["allow"].split(",")}


@pytest.fixture(scope="module")
def broken_server(moto_endpoint: str) -> Iterator[LocalServer]:
    """The app pointed at a table that does not exist on the engine."""
    with serve(settings_for(table_name="modelgate-missing-table", dynamodb_endpoint_url=moto_endpoint)) as server:
        yield server


@pytest.mark.parametrize("caller", ["anonymous", "full", "session:alice"])
def test_a_missing_table_is_503_without_internals(broken_server: LocalServer, caller: str) -> None:
    """GIVEN the service pointed at a missing table WHEN anyone calls
    THEN 503 in OpenAI's shape with Retry-After; neither the table name nor boto3's error is in the body."""
    with httpx.Client(base_url=broken_server.base_url, timeout=10) as client:
        status, body = get(client, caller=caller)
        assert (status, body) == (503, expected.UNAVAILABLE)
        response = client.get("/v1/models/gpt-4o", headers={"Authorization": f"Bearer {world.KEYS['full']}"})
    assert response.headers["retry-after"] == "1"
    for internal in ("modelgate-missing-table", "ResourceNotFound", "Traceback", "botocore"):
        assert internal not in response.text
