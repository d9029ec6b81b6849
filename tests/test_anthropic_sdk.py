"""The official Anthropic Python SDK, strict (`_strict_response_validation=True`), against the local server:
`client.models.list()` auto-paginating with `limit`, `retrieve`, AuthenticationError and NotFoundError.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anthropic
import httpx2
import pytest

from tests.support import expected, world
from tests.support.server import LocalServer

CLAUDE = world.CLAUDE_IDS


@pytest.fixture(scope="module")
def server(dialect_server: LocalServer) -> LocalServer:
    return dialect_server


def client(server: LocalServer, sent: list[httpx2.Request], **credential: Any) -> anthropic.Anthropic:
    """A strict SDK client that records each request it sends."""
    return anthropic.Anthropic(
        base_url=server.base_url,
        max_retries=0,
        _strict_response_validation=True,
        http_client=httpx2.Client(event_hooks={"request": [sent.append]}),
        **credential,
    )


def check_model(model: anthropic.types.ModelInfo, model_id: str) -> None:
    """The SDK's ModelInfo against the documented object, field by field."""
    want = expected.anthropic_model(model_id)
    assert (model.id, model.type, model.display_name, model.lifecycle) == (
        model_id,
        "model",
        want["display_name"],
        want["lifecycle"],
    )
    assert model.created_at == datetime.strptime(want["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert (model.max_input_tokens, model.max_tokens) == (want.get("max_input_tokens"), want.get("max_tokens"))
    for name in ("deprecated_at", "retires_at"):
        stamp = getattr(model, name)
        assert (stamp.strftime("%Y-%m-%dT%H:%M:%SZ") if stamp else None) == want.get(name)
    if "capabilities" in want:
        assert model.capabilities is not None
        assert model.capabilities.model_dump(exclude_none=True) == want["capabilities"]
    else:
        assert model.capabilities is None


@pytest.mark.parametrize("credential", ["api_key", "auth_token"], ids=["x-api-key", "bearer"])
def test_auto_pagination_walks_every_page_with_limit(server: LocalServer, credential: str) -> None:
    """GIVEN the claude key (as api_key or auth_token) and 7 models WHEN client.models.list(limit=2) is iterated
    THEN 4 requests, each after_id the previous page's last_id, and every model once, in order, validated strictly."""
    sent: list[httpx2.Request] = []
    models = list(client(server, sent, **{credential: world.CLAUDE_KEY}).models.list(limit=2))

    assert [model.id for model in models] == CLAUDE
    for model in models:
        check_model(model, model.id)
    afters = [request.url.params.get("after_id") for request in sent]
    assert afters == [None, CLAUDE[1], CLAUDE[3], CLAUDE[5]]
    assert all(request.headers["anthropic-version"] for request in sent)


def test_the_first_page_and_lifecycle(server: LocalServer) -> None:
    """GIVEN the claude key WHEN one page of 3 is read, and the list is filtered to active and deprecated
    THEN first_id/last_id/has_more as sent, and the retired model left out."""
    sdk = client(server, [], api_key=world.CLAUDE_KEY)
    page = sdk.models.list(limit=3)
    assert ([m.id for m in page.data], page.first_id, page.last_id, page.has_more) == (
        CLAUDE[:3],
        CLAUDE[0],
        CLAUDE[2],
        True,
    )
    current = [m.id for m in sdk.models.list(lifecycle=["active", "deprecated"])]
    assert current == [i for i in CLAUDE if i != "claude-2.1"]
    back = sdk.models.list(limit=2, before_id=CLAUDE[4])
    assert [m.id for m in back.data] == CLAUDE[2:4]


@pytest.mark.parametrize("model_id", CLAUDE)
def test_retrieve_gives_each_model(server: LocalServer, model_id: str) -> None:
    """GIVEN each model of the key, `anthropic/claude-sonnet-4` included (the SDK encodes the slash)
    WHEN client.models.retrieve THEN its ModelInfo, strictly validated."""
    check_model(client(server, [], api_key=world.CLAUDE_KEY).models.retrieve(model_id), model_id)


@pytest.mark.parametrize("name", ["unknown", "disabled", "expired"])
def test_a_refused_key_raises_authentication_error(server: LocalServer, name: str) -> None:
    """GIVEN a refused key WHEN listing or retrieving THEN anthropic.AuthenticationError (401), the key masked."""
    sdk = client(server, [], api_key=expected.key_of(name))
    for call in (sdk.models.list, lambda: sdk.models.retrieve("claude-opus-4-1")):
        with pytest.raises(anthropic.AuthenticationError) as caught:
            call()
        assert caught.value.status_code == 401
        assert caught.value.body == {
            "type": "error",
            "error": {"type": "authentication_error", "message": f"{expected.REFUSAL[name]}: {expected.MASKED}."},
            "request_id": caught.value.body["request_id"],  # type: ignore[index]
        }
        assert expected.key_of(name) not in str(caught.value)


@pytest.mark.parametrize("model_id", ["gpt-4o-mini", "no-such-model", "gpt-4o"])
def test_a_hidden_model_raises_not_found_error(server: LocalServer, model_id: str) -> None:
    """GIVEN a model outside the key's list (gpt-4o is in the group, not in the limited key's list)
    WHEN retrieved THEN anthropic.NotFoundError with not_found_error."""
    sdk = client(server, [], api_key=world.CLAUDE_LIMITED_KEY)
    with pytest.raises(anthropic.NotFoundError) as caught:
        sdk.models.retrieve(model_id)
    assert caught.value.status_code == 404
    assert caught.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


def test_a_bad_cursor_raises_bad_request_error(server: LocalServer) -> None:
    """GIVEN an after_id outside the key's list WHEN listed THEN anthropic.BadRequestError (400)."""
    with pytest.raises(anthropic.BadRequestError):
        client(server, [], api_key=world.CLAUDE_LIMITED_KEY).models.list(after_id="claude-2.1")


# -- a group of 1,234 models: more than one page can hold (issue 18.2) ------------------------------------------


def test_without_limit_one_request_gets_the_whole_list(big_server: LocalServer) -> None:
    """GIVEN a key whose group holds 1,234 models WHEN client.models.list() is iterated without limit
    THEN one request (no limit sent), every model once, in order, validated strictly."""
    sent: list[httpx2.Request] = []
    models = list(client(big_server, sent, api_key=world.BIG_KEY).models.list())
    assert [model.id for model in models] == world.BIG_IDS
    assert [dict(request.url.params) for request in sent] == [{}]


def test_with_limit_auto_pagination_walks_past_the_cap(big_server: LocalServer) -> None:
    """GIVEN 1,234 models WHEN client.models.list(limit=1000) is iterated THEN two requests, the second after_id
    the 1,000th id, and every model once, in order."""
    sent: list[httpx2.Request] = []
    page = client(big_server, sent, auth_token=world.BIG_KEY).models.list(limit=1000)
    assert (len(page.data), page.has_more) == (1000, True)
    assert [model.id for model in page] == world.BIG_IDS
    assert [request.url.params.get("after_id") for request in sent] == [None, world.BIG_IDS[999]]
    assert {request.url.params["limit"] for request in sent} == {"1000"}
