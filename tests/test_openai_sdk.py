"""The real OpenAI Python SDK against the local server (uvicorn over moto's server mode): `client.models.list()`,
`client.models.retrieve()`, and the SDK's AuthenticationError and NotFoundError.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import settings_for
from tests.support import expected, world
from tests.support.server import LocalServer, fresh_table, serve

# The SDK insists on a key; callers without one omit the header per request, as a gateway UI would.
NO_KEY: dict[str, Any] = {"extra_headers": {"Authorization": openai.Omit()}}


@pytest.fixture(scope="module")
def world_table(moto_endpoint: str) -> str:
    table, registry = fresh_table(moto_endpoint)
    expected.extend_world(registry)
    return table


@pytest.fixture(scope="module")
def server(moto_endpoint: str, world_table: str) -> Iterator[LocalServer]:
    with serve(settings_for(table_name=world_table, dynamodb_endpoint_url=moto_endpoint)) as running:
        yield running


@pytest.fixture(scope="module")
def closed_server(moto_endpoint: str, world_table: str) -> Iterator[LocalServer]:
    """The same table with anonymous access off."""
    settings = settings_for(table_name=world_table, dynamodb_endpoint_url=moto_endpoint, anonymous_access=False)
    with serve(settings) as running:
        yield running


def sdk(server: LocalServer, caller: str) -> tuple[openai.OpenAI, dict[str, Any]]:
    """An SDK client for `caller` (a key, a session cookie, or nobody) and the per-request options it needs."""
    base_url = f"{server.base_url}/v1"
    if caller in expected.KEY_CALLERS or caller in expected.REFUSAL:
        return openai.OpenAI(api_key=expected.key_of(caller), base_url=base_url, max_retries=0), {}
    headers = {"Cookie": "; ".join(expected.cookies(caller))} if caller in expected.SESSION_CALLERS else {}
    client = openai.OpenAI(api_key="unused", base_url=base_url, default_headers=headers, max_retries=0)
    return client, NO_KEY


CALLERS = ["anonymous", "session:alice", "full", "limited", "widening", "empty", "bob", "session:bob"]


@pytest.mark.parametrize("caller", CALLERS)
def test_models_list_gives_each_caller_exactly_its_models(server: LocalServer, caller: str) -> None:
    """GIVEN an anonymous caller, a logged-in user (session cookie), a full key, a limited key...
    WHEN the SDK calls client.models.list()
    THEN the page holds exactly the caller's models, in order, each SDK object field by field."""
    client, options = sdk(server, caller)
    page = client.models.list(**options)
    assert page.object == "list"
    models = list(page)
    assert [m.to_dict() for m in models] == expected.listing(caller)["data"]
    for model, model_id in zip(models, world.EXPECTED[caller], strict=True):
        want = expected.model(model_id)
        assert (model.id, model.object, model.created, model.owned_by) == (
            want["id"],
            "model",
            want["created"],
            want["owned_by"],
        )
        assert model.model_extra == {k: want[k] for k in ("permission", "root", "parent")}


@pytest.mark.parametrize("caller", CALLERS)
def test_models_retrieve_gives_each_visible_model(server: LocalServer, caller: str) -> None:
    """GIVEN a caller WHEN the SDK retrieves each model it lists (the SDK percent-encodes `/` in ids)
    THEN the same object as in the list, created/owned_by/permission included."""
    client, options = sdk(server, caller)
    for model_id in world.EXPECTED[caller]:
        model = client.models.retrieve(model_id, **options)
        assert model.to_dict() == expected.model(model_id)
        assert model.created == expected.model(model_id)["created"]


@pytest.mark.parametrize("name", expected.REFUSED)
def test_refused_keys_raise_authentication_error(server: LocalServer, name: str) -> None:
    """GIVEN a disabled, expired, unknown, owner-disabled or orphan key
    WHEN the SDK lists or retrieves THEN openai.AuthenticationError (401, invalid_api_key), key masked."""
    client, _ = sdk(server, name)
    for call in (client.models.list, lambda: client.models.retrieve("gpt-4o-mini")):
        with pytest.raises(openai.AuthenticationError) as caught:
            call()
        error = caught.value
        assert (error.status_code, error.code, error.type) == (401, "invalid_api_key", "invalid_request_error")
        assert error.body == expected.refused(name)["error"]
        assert expected.key_of(name) not in str(error)


@pytest.mark.parametrize(
    ("caller", "model_id"),
    [
        ("full", "no-such-model"),
        ("full", "old-model"),
        ("limited", "gpt-4o-mini"),
        ("limited", "meta-llama/Llama-3.1-8B-Instruct"),
        ("widening", "o1-pro"),
        ("empty", "gpt-4o"),
        ("anonymous", "gpt-4o"),
        ("session:bob", "ft:gpt-3.5-turbo:acme:x:abc"),
    ],
)
def test_unknown_or_forbidden_models_raise_not_found_error(server: LocalServer, caller: str, model_id: str) -> None:
    """GIVEN a model that does not exist, is disabled, or that the caller may not see
    WHEN the SDK retrieves it THEN openai.NotFoundError with OpenAI's model_not_found body."""
    client, options = sdk(server, caller)
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve(model_id, **options)
    error = caught.value
    assert (error.status_code, error.code, error.param) == (404, "model_not_found", "model")
    assert error.body == expected.not_found(model_id)["error"]


def test_anonymous_off_raises_authentication_error_without_a_key(closed_server: LocalServer) -> None:
    """GIVEN anonymous access off WHEN the SDK lists without a key THEN AuthenticationError with code null;
    a logged-in user still gets their list."""
    client, options = sdk(closed_server, "anonymous")
    with pytest.raises(openai.AuthenticationError) as caught:
        client.models.list(**options)
    assert caught.value.body == expected.MISSING_KEY["error"]
    logged_in, options = sdk(closed_server, "session:alice")
    assert [m.id for m in logged_in.models.list(**options)] == world.EXPECTED["session:alice"]


# -- Gemini's OpenAI-compatible base URL ----------------------------------------------------------------------


def compatible(server: LocalServer, key: str) -> openai.OpenAI:
    """The SDK on `<host>/v1beta/openai`, the base URL Google's docs give for OpenAI clients."""
    return openai.OpenAI(api_key=key, base_url=f"{server.base_url}/v1beta/openai", max_retries=0)


@pytest.mark.parametrize("caller", ["full", "limited", "widening", "empty", "bob"])
def test_the_v1beta_openai_base_url_answers_as_v1(server: LocalServer, caller: str) -> None:
    """GIVEN base_url=<host>/v1beta/openai WHEN the SDK lists and retrieves THEN exactly what /v1 answers."""
    client = compatible(server, expected.key_of(caller))
    assert [m.to_dict() for m in client.models.list()] == expected.listing(caller)["data"]
    for model_id in world.EXPECTED[caller]:
        assert client.models.retrieve(model_id).to_dict() == expected.model(model_id)


def test_the_v1beta_openai_base_url_refuses_like_v1(server: LocalServer) -> None:
    """GIVEN base_url=<host>/v1beta/openai WHEN a bad key lists, or a key retrieves a hidden model
    THEN AuthenticationError and NotFoundError with OpenAI's bodies."""
    with pytest.raises(openai.AuthenticationError) as refused:
        compatible(server, world.UNKNOWN_KEY).models.list()
    assert refused.value.body == expected.refused("unknown")["error"]
    with pytest.raises(openai.NotFoundError) as missing:
        compatible(server, world.KEYS["limited"]).models.retrieve("gpt-4o-mini")
    assert missing.value.body == expected.not_found("gpt-4o-mini")["error"]
