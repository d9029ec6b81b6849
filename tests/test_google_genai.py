"""The google-genai SDK against the local server, on its `v1` default and on `api_version="v1beta"`:
`client.models.list()` with page_size over several pages, `client.models.get()`, and ClientError for a bad key.
"""

from __future__ import annotations

import pytest
from google import genai
from google.genai import errors, types

from tests.support import expected, world
from tests.support.server import LocalServer

CLAUDE = world.CLAUDE_IDS
VERSIONS = ["v1", "v1beta"]


@pytest.fixture(scope="module")
def server(dialect_server: LocalServer) -> LocalServer:
    return dialect_server


def client(server: LocalServer, key: str, version: str) -> genai.Client:
    options = types.HttpOptions(base_url=server.base_url, api_version=version, retry_options=None)
    return genai.Client(api_key=key, http_options=options)


def check_model(model: types.Model, model_id: str) -> None:
    want = expected.gemini_model(model_id)
    assert (model.name, model.display_name, model.description) == (
        f"models/{model_id}",
        want["displayName"],
        want.get("description"),
    )
    assert (model.input_token_limit, model.output_token_limit) == (
        want.get("inputTokenLimit"),
        want.get("outputTokenLimit"),
    )
    assert model.supported_actions == ["generateContent", "countTokens"]


@pytest.mark.parametrize("version", VERSIONS)
def test_list_walks_several_pages_with_page_size(server: LocalServer, version: str) -> None:
    """GIVEN the claude key (sent as x-goog-api-key) and 7 models WHEN client.models.list(page_size=3) is paged
    THEN pages of 3, 3 and 1 in the list's order, each model with its metadata; iterating gives all 7."""
    sdk = client(server, world.CLAUDE_KEY, version)
    pager = sdk.models.list(config={"page_size": 3})
    pages = [[model.name for model in pager.page]]
    while True:
        try:
            pages.append([model.name for model in pager.next_page()])
        except IndexError:
            break
    assert pages == [[f"models/{i}" for i in CLAUDE[start : start + 3]] for start in (0, 3, 6)]
    models = list(sdk.models.list(config={"page_size": 2}))
    assert [model.name for model in models] == [f"models/{i}" for i in CLAUDE]
    for model, model_id in zip(models, CLAUDE, strict=True):
        check_model(model, model_id)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_limited_key_lists_its_own_models(server: LocalServer, version: str) -> None:
    """GIVEN a key whose list narrows the group WHEN listing THEN only those models, in the key's order."""
    sdk = client(server, world.CLAUDE_LIMITED_KEY, version)  # held: a Client closes its connections when collected
    names = [model.name for model in sdk.models.list()]
    assert names == ["models/gemini-2.5-pro", "models/claude-opus-4-1"]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("model_id", ["gemini-2.5-pro", "models/gemini-2.5-pro", "anthropic/claude-sonnet-4"])
def test_get_gives_one_model(server: LocalServer, version: str, model_id: str) -> None:
    """GIVEN a model of the key WHEN client.models.get (plain, `models/` form, an id with `/`) THEN that model."""
    sdk = client(server, world.CLAUDE_KEY, version)
    model = sdk.models.get(model=model_id)
    check_model(model, model_id.removeprefix("models/"))


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", ["unknown", "disabled"])
def test_a_bad_key_raises_client_error(server: LocalServer, version: str, name: str) -> None:
    """GIVEN a bad key WHEN listing or getting THEN errors.ClientError: 400 INVALID_ARGUMENT, API_KEY_INVALID;
    never an empty list."""
    sdk = client(server, expected.key_of(name), version)
    for call in (lambda: list(sdk.models.list()), lambda: sdk.models.get(model="gemini-2.5-pro")):
        with pytest.raises(errors.ClientError) as caught:
            call()
        assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
        assert caught.value.message == "API key not valid. Please pass a valid API key."
        assert caught.value.details == expected.GOOGLE_BAD_KEY
        assert expected.key_of(name) not in str(caught.value)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_hidden_model_raises_client_error_404(server: LocalServer, version: str) -> None:
    """GIVEN a model outside the key's list WHEN client.models.get THEN errors.ClientError 404 NOT_FOUND."""
    sdk = client(server, world.CLAUDE_LIMITED_KEY, version)
    with pytest.raises(errors.ClientError) as caught:
        sdk.models.get(model="gpt-4o")
    assert (caught.value.code, caught.value.status) == (404, "NOT_FOUND")


# -- a group of 1,234 models: more than one page can hold (issue 18.2) ------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_without_page_size_the_first_page_is_the_whole_list(big_server: LocalServer, version: str) -> None:
    """GIVEN a key whose group holds 1,234 models WHEN client.models.list() is read without page_size
    THEN its first page holds all 1,234 and there is no next page."""
    sdk = client(big_server, world.BIG_KEY, version)
    pager = sdk.models.list()
    assert [model.name for model in pager.page] == [f"models/{i}" for i in world.BIG_IDS]
    with pytest.raises(IndexError):
        pager.next_page()


@pytest.mark.parametrize("version", VERSIONS)
def test_with_page_size_the_pager_walks_past_the_cap(big_server: LocalServer, version: str) -> None:
    """GIVEN 1,234 models WHEN client.models.list(page_size=1000) is iterated THEN pages of 1,000 and 234, and
    every model once, in order."""
    sdk = client(big_server, world.BIG_KEY, version)
    pager = sdk.models.list(config={"page_size": 1000})
    assert len(pager.page) == 1000
    assert [model.name for model in pager] == [f"models/{i}" for i in world.BIG_IDS]
