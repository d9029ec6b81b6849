"""Whatever the catalog holds, no client fails on it (issue 18.3).

The table is written around the checks (the registry's raw put_models, as a value stored before them would be):
a partial Anthropic `capabilities`, a wrongly typed capability, and every metadata field with a value of the wrong
type. The strict Anthropic SDK and google-genai list and retrieve every model; each bad value is left out of the
answer (as if unset), never served; the good values beside it are served. `modelgate models set` refuses the same
partial value with one line naming the model, the field and what is missing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from google import genai
from google.genai import types
from mangum import Mangum

from handler.web.app import create_app
from handler.wiring import build_service
from tests.conftest import settings_for
from tests.hardening.wire import TRANSPORTS, Reply, Request, send
from tests.support import expected, world
from tests.support.cli import Cli, snapshot
from tests.support.server import LocalServer, fresh_table, serve

GROUP, USER, KEY = "stored", "grace", "sk-test-grace-stored-000000000000000000000000000000000000"
PARTIAL = {"image_input": {"supported": True}}
# Each as the table holds it, none through modelgate's checks.
STORED: dict[str, dict[str, Any]] = {
    "claude-partial": {"display_name": "Partial", "max_tokens": 4096, "capabilities": PARTIAL},
    "claude-wrong-bool": {"capabilities": {**world.OPUS_CAPABILITIES, "image_input": {"supported": "yes"}}},
    "claude-odd-types": {
        "display_name": 7,
        "description": ["x"],
        "max_input_tokens": "200k",
        "max_tokens": 1.5,
        "capabilities": "all",
        "lifecycle": "beta",
        "deprecated_at": "soon",
        "retires_at": 1767225600,
    },
    "claude-whole": {
        "display_name": "Whole",
        "description": "every field good",
        "max_input_tokens": 200000,
        "max_tokens": 32000,
        "capabilities": world.OPUS_CAPABILITIES,
        "lifecycle": "deprecated",
        "deprecated_at": "2026-01-15T00:00:00Z",
        "retires_at": "2026-07-15T09:30:00+02:00",
    },
}
IDS = list(STORED)
# What each dialect may show of them: the good values only.
SERVED: dict[str, dict[str, Any]] = {
    "claude-partial": {"display_name": "Partial", "max_tokens": 4096},
    "claude-wrong-bool": {},
    "claude-odd-types": {},
    "claude-whole": STORED["claude-whole"],
}


def anthropic_model(model_id: str) -> dict[str, Any]:
    served = SERVED[model_id]
    document: dict[str, Any] = {
        "type": "model",
        "id": model_id,
        "display_name": served.get("display_name", model_id),
        "created_at": expected.rfc3339(expected.DEFAULT_CREATED),
        "lifecycle": served.get("lifecycle", "active"),
    }
    for name in ("max_input_tokens", "max_tokens", "capabilities", "deprecated_at", "retires_at"):
        if name in served:
            document[name] = served[name]
    return document


def gemini_model(model_id: str) -> dict[str, Any]:
    served = SERVED[model_id]
    document: dict[str, Any] = {
        "name": f"models/{model_id}",
        "baseModelId": model_id,
        "displayName": served.get("display_name", model_id),
    }
    for stored, name in (
        ("description", "description"),
        ("max_input_tokens", "inputTokenLimit"),
        ("max_tokens", "outputTokenLimit"),
    ):
        if stored in served:
            document[name] = served[stored]
    document["supportedGenerationMethods"] = ["generateContent", "countTokens"]
    return document


@pytest.fixture(scope="module")
def table(moto_endpoint: str) -> str:
    """GIVEN a table whose catalog entries were written raw (the registry's put_models checks nothing), and a
    group naming them, whose view carries them to the function."""
    table, registry = fresh_table(moto_endpoint, {})
    registry.put_models([{"id": model_id, **entry} for model_id, entry in STORED.items()])
    registry.put_group(GROUP, IDS)
    registry.put_user(USER, GROUP)
    registry.put_token(KEY, user_id=USER, name="stored")
    return table


@pytest.fixture(scope="module")
def server(moto_endpoint: str, table: str) -> Iterator[LocalServer]:
    with serve(settings_for(table_name=table, dynamodb_endpoint_url=moto_endpoint)) as running:
        yield running


@pytest.fixture(scope="module")
def entry(moto_endpoint: str, table: str) -> Any:
    return Mangum(create_app(build_service(settings_for(table_name=table, dynamodb_endpoint_url=moto_endpoint))))


def ask(entry: Any, server: LocalServer, transport: str, path: str, *headers: tuple[str, str]) -> Reply:
    return send(transport, Request(path=path, headers=headers), entry=entry, base_url=server.base_url)


def test_the_view_really_holds_the_bad_values(moto_endpoint: str, table: str) -> None:
    """GIVEN the table WHEN its group view is read as the function reads it THEN the bad values are there: what
    the answers leave out, they leave out on purpose."""
    from handler.store.dynamodb import DynamoDirectory  # noqa: PLC0415
    from tests.support.server import http_dynamodb  # noqa: PLC0415

    view = DynamoDirectory(http_dynamodb(moto_endpoint), table).group(GROUP)
    assert view is not None
    held = {member.model_id: {**(member.catalog or {})} for member in view.members}
    assert held == {model_id: {**entry, "status": "enabled"} for model_id, entry in STORED.items()}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_anthropic_list_and_models_leave_the_bad_values_out(
    entry: Any, server: LocalServer, transport: str
) -> None:
    """GIVEN the stored values WHEN the Anthropic list and each model are asked for (Lambda v2, v1, uvicorn)
    THEN each model with its good values only: no partial or mistyped capabilities, no mistyped field."""
    headers = (("x-api-key", KEY), ("anthropic-version", "2023-06-01"))
    listed = ask(entry, server, transport, "/v1/models", *headers)
    assert (listed.status, listed.json()) == (
        200,
        {"data": [anthropic_model(i) for i in IDS], "has_more": False, "first_id": IDS[0], "last_id": IDS[-1]},
    )
    for model_id in IDS:
        one = ask(entry, server, transport, f"/v1/models/{model_id}", *headers)
        assert (one.status, one.json()) == (200, anthropic_model(model_id))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_gemini_list_leaves_the_bad_values_out(entry: Any, server: LocalServer, transport: str) -> None:
    """GIVEN the stored values WHEN the Gemini list is asked for THEN displayName, description and the token
    limits only where their types are right."""
    listed = ask(entry, server, transport, "/v1beta/models", ("x-goog-api-key", KEY))
    assert (listed.status, listed.json()) == (200, {"models": [gemini_model(i) for i in IDS]})


def test_the_strict_anthropic_sdk_lists_and_retrieves_every_model(server: LocalServer) -> None:
    """GIVEN the stored values WHEN anthropic.Anthropic(_strict_response_validation=True) lists (one page, and
    pages of 1) and retrieves each model THEN no validation error; the partial capabilities are absent, the whole
    ones present."""
    sdk = anthropic.Anthropic(base_url=server.base_url, api_key=KEY, max_retries=0, _strict_response_validation=True)
    assert [model.id for model in sdk.models.list()] == IDS
    assert [model.id for model in sdk.models.list(limit=1)] == IDS
    for model_id in IDS:
        model = sdk.models.retrieve(model_id)
        want = anthropic_model(model_id)
        assert (model.display_name, model.lifecycle, model.max_tokens) == (
            want["display_name"],
            want["lifecycle"],
            want.get("max_tokens"),
        )
        if "capabilities" in want:
            assert model.capabilities is not None
            assert model.capabilities.model_dump(exclude_none=True) == want["capabilities"]
        else:
            assert model.capabilities is None


def test_google_genai_lists_and_gets_every_model(server: LocalServer) -> None:
    """GIVEN the stored values WHEN google-genai lists and gets each model THEN no error; a mistyped limit or name
    is absent (None, the id), a good one present."""
    options = types.HttpOptions(base_url=server.base_url, api_version="v1beta", retry_options=None)
    sdk = genai.Client(api_key=KEY, http_options=options)
    listed = {model.name: model for model in sdk.models.list()}
    assert list(listed) == [f"models/{i}" for i in IDS]
    for model_id in IDS:
        want = gemini_model(model_id)
        for model in (listed[f"models/{model_id}"], sdk.models.get(model=model_id)):
            assert (model.display_name, model.description, model.input_token_limit, model.output_token_limit) == (
                want["displayName"],
                want.get("description"),
                want.get("inputTokenLimit"),
                want.get("outputTokenLimit"),
            )


def test_models_set_refuses_the_partial_value_in_one_line(
    moto_endpoint: str, table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN the table WHEN `modelgate models set claude-whole --capabilities '{"image_input": ...}'` (the partial
    object) THEN exit 2, one line naming the model, the field and every missing capability; nothing written."""
    from tests.support.server import http_dynamodb  # noqa: PLC0415

    before = snapshot(http_dynamodb(moto_endpoint), table)
    cli = Cli(capsys, ["--endpoint-url", moto_endpoint, "--table", table])
    run = cli("models", "set", "claude-whole", "--capabilities", json.dumps(PARTIAL))
    assert (run.code, run.out) == (2, "")
    assert run.err == (
        "error: model claude-whole: --capabilities: missing batch, citations, code_execution, context_management, "
        "effort, pdf_input, server_tools, structured_outputs, thinking (Anthropic's SDK requires every capability, "
        'each as {"supported": true|false}: import them from an Anthropic model list)\n'
    )
    assert snapshot(http_dynamodb(moto_endpoint), table) == before


def test_the_openai_list_with_metadata_leaves_the_bad_values_out(moto_endpoint: str, table: str) -> None:
    """GIVEN the stored values and OPENAI_LIST_METADATA on WHEN the OpenAI list is asked for (Lambda v2 event)
    THEN name, display_name, description, context_length and max_output_tokens only where the value is good."""
    settings = settings_for(table_name=table, dynamodb_endpoint_url=moto_endpoint, openai_list_metadata=True)
    described = Mangum(create_app(build_service(settings)), lifespan="off")
    reply = send(
        "http-api-v2",
        Request(path="/v1/models", headers=(("Authorization", f"Bearer {KEY}"),)),
        entry=described,
        base_url="",
    )
    extras = {
        model["id"]: {k: v for k, v in model.items() if k not in expected.model(model["id"])}
        for model in reply.json()["data"]
    }
    whole = STORED["claude-whole"]
    assert extras == {
        "claude-partial": {"name": "Partial", "display_name": "Partial", "max_output_tokens": 4096},
        "claude-wrong-bool": {},
        "claude-odd-types": {},
        "claude-whole": {
            "name": whole["display_name"],
            "display_name": whole["display_name"],
            "description": whole["description"],
            "context_length": whole["max_input_tokens"],
            "max_output_tokens": whole["max_tokens"],
        },
    }
