"""The legacy OpenAI Python client (`openai==0.28.1`: module-level `openai.api_key`, `openai.api_base`,
`openai.organization`; `openai.Model.list()` / `.retrieve(id)`) against the local server over HTTP.

It cannot be installed next to the modern SDK, so it lives in its own venv under .cache/ (built once, stamped) and
runs tests/support/legacy_client.py as a subprocess: one run makes every call below and reports, per call, what the
client returned or raised and what went over the wire. The tests read that report.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import settings_for
from tests.support import expected, world
from tests.support.server import LocalServer, fresh_table, serve
from tests.support.venvs import pip_venv

LEGACY_OPENAI = "openai==0.28.1"
SCRIPT = Path(__file__).resolve().parent / "support" / "legacy_client.py"
ORGANIZATION = "org-ePbAnVFYRjrtcBnxqtslhnfl"  # as set in the seed-004 page

LIST_CALLERS = ("full", "limited", "empty", "bob")
RETRIEVE_CALLERS = ("full", "limited")
NOT_FOUND = [
    ("full", "no-such-model"),
    ("full", "old-model"),
    ("limited", "gpt-4o-mini"),
    ("limited", "meta-llama/Llama-3.1-8B-Instruct"),
    ("bob", "ft:gpt-3.5-turbo:acme:x:abc"),
]
SLASH_ID = "meta-llama/Llama-3.1-8B-Instruct"
# What the legacy client puts on the wire: it quote_plus()es the id, so `/` and `:` arrive percent-encoded.
WIRE_PATHS = {
    SLASH_ID: "/v1/models/meta-llama%2FLlama-3.1-8B-Instruct",
    "ft:gpt-3.5-turbo:acme:x:abc": "/v1/models/ft%3Agpt-3.5-turbo%3Aacme%3Ax%3Aabc",
    "cushman:2020-05-03": "/v1/models/cushman%3A2020-05-03",
    "gpt-4o": "/v1/models/gpt-4o",
}


def legacy_python() -> Path:
    """The python of a venv holding the legacy client (tests/support/venvs.py)."""
    return pip_venv("legacy-openai-venv", LEGACY_OPENAI) / "bin" / "python"


def calls() -> list[dict[str, Any]]:
    """Every call the legacy client makes, named `op:caller[:model]`."""

    def call(op: str, caller: str, model: str | None = None) -> dict[str, Any]:
        name = f"{op}:{caller}" if model is None else f"{op}:{caller}:{model}"
        return {"name": name, "op": op, "key": expected.key_of(caller), "model": model}

    made = [call("list", caller) for caller in LIST_CALLERS]
    made += [call("retrieve", caller, model) for caller in RETRIEVE_CALLERS for model in world.EXPECTED[caller]]
    for name in expected.REFUSED:
        made += [call("list", name), call("retrieve", name, "gpt-4o-mini")]
    made += [call("retrieve", caller, model) for caller, model in NOT_FOUND]
    made += [call("alist", "full"), call("aretrieve", "full", SLASH_ID)]
    return made


@pytest.fixture(scope="module")
def server(moto_endpoint: str) -> Iterator[LocalServer]:
    table, registry = fresh_table(moto_endpoint)
    expected.extend_world(registry)
    with serve(settings_for(table_name=table, dynamodb_endpoint_url=moto_endpoint)) as running:
        yield running


@pytest.fixture(scope="module")
def report(server: LocalServer) -> dict[str, Any]:
    """One run of the legacy client making every call: {"version", "outcomes": {name: outcome}}."""
    python = legacy_python()
    request = {"api_base": f"{server.base_url}/v1", "organization": ORGANIZATION, "calls": calls()}
    # A clean environment: no OPENAI_* variables or proxies from the caller's shell.
    env = {"PATH": os.environ.get("PATH", ""), "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    ran = subprocess.run(
        [str(python), "-I", str(SCRIPT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    result: dict[str, Any] = json.loads(ran.stdout)
    return result


def outcome(report: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = report["outcomes"][name]
    return found


def assert_sent_once(found: dict[str, Any], caller: str, path: str, status: int) -> None:
    """Exactly one request, with the key as Bearer and the organization header the page sets."""
    assert found["wire"] == [
        {
            "method": "GET",
            "path": path,
            "status": status,
            "headers": {
                "Authorization": f"Bearer {expected.key_of(caller)}",
                "OpenAI-Organization": ORGANIZATION,
                "User-Agent": "OpenAI/v1 PythonBindings/0.28.1",
            },
        }
    ]


def test_the_client_under_test_is_the_legacy_one(report: dict[str, Any]) -> None:
    """GIVEN the cached venv WHEN the script runs THEN it is openai 0.28.1 (module-level API), not the modern SDK."""
    assert report["version"] == "0.28.1"
    assert set(report["outcomes"]) == {c["name"] for c in calls()}


@pytest.mark.parametrize("caller", LIST_CALLERS)
def test_model_list_gives_each_key_exactly_its_models(report: dict[str, Any], caller: str) -> None:
    """GIVEN openai.organization and openai.api_key set as in the page (a full, limited, empty or other user's key)
    WHEN openai.Model.list() THEN {"object": "list", "data": [...]} with exactly the key's models, in order, each
    object field by field; one GET /v1/models carrying Bearer key and OpenAI-Organization."""
    found = outcome(report, f"list:{caller}")
    listing = found["returned"]
    assert listing["object"] == "list"
    assert [m["id"] for m in listing["data"]] == world.EXPECTED[caller]
    for model in listing["data"]:
        want = expected.model(model["id"])
        for field in ("id", "object", "created", "owned_by", "permission", "root", "parent"):
            assert model[field] == want[field], field
        assert set(model) == set(want)
    assert listing == expected.listing(caller)
    assert_sent_once(found, caller, "/v1/models", 200)


@pytest.mark.parametrize("caller", RETRIEVE_CALLERS)
def test_model_retrieve_gives_each_visible_model(report: dict[str, Any], caller: str) -> None:
    """GIVEN a key WHEN openai.Model.retrieve(id) for each model it lists (ids with `/`, `:` and `.` included)
    THEN the same model object as in the list, created/owned_by/permission included."""
    for model_id in world.EXPECTED[caller]:
        found = outcome(report, f"retrieve:{caller}:{model_id}")
        assert "raised" not in found, found
        assert found["returned"] == expected.model(model_id)
        assert found["returned"]["created"] == expected.model(model_id)["created"]


@pytest.mark.parametrize("model_id", list(WIRE_PATHS))
def test_retrieve_sends_ids_percent_encoded_and_the_server_answers(report: dict[str, Any], model_id: str) -> None:
    """GIVEN ids with `/` and `:` (and a plain one) WHEN openai.Model.retrieve(id) THEN the client sends them
    quote_plus-encoded (meta-llama%2FLlama-3.1-8B-Instruct) and the server answers 200 with that model."""
    found = outcome(report, f"retrieve:full:{model_id}")
    assert_sent_once(found, "full", WIRE_PATHS[model_id], 200)
    assert found["returned"]["id"] == model_id


@pytest.mark.parametrize("name", expected.REFUSED)
def test_refused_keys_raise_authentication_error(report: dict[str, Any], name: str) -> None:
    """GIVEN a disabled, expired, unknown, owner-disabled or orphan key
    WHEN openai.Model.list() or .retrieve() THEN openai.error.AuthenticationError: 401, OpenAI's invalid_api_key
    body, the key masked and never echoed whole."""
    for op, path in (("list", "/v1/models"), ("retrieve", "/v1/models/gpt-4o-mini")):
        found = outcome(report, f"{op}:{name}" if op == "list" else f"{op}:{name}:gpt-4o-mini")
        assert "returned" not in found
        error = found["raised"]
        assert error["class"] == "AuthenticationError"
        assert error["http_status"] == 401
        assert error["json_body"] == expected.refused(name)
        assert error["json_body"]["error"]["code"] == "invalid_api_key"
        assert error["user_message"] == error["text"] == expected.refused(name)["error"]["message"]
        assert expected.key_of(name) not in json.dumps(error)
        assert_sent_once(found, name, path, 401)


@pytest.mark.parametrize(("caller", "model_id"), NOT_FOUND)
def test_unknown_or_forbidden_models_raise_invalid_request_error(
    report: dict[str, Any], caller: str, model_id: str
) -> None:
    """GIVEN a model that does not exist, is disabled, or that the key may not see
    WHEN openai.Model.retrieve(id) THEN openai.error.InvalidRequestError (the legacy client's class for 404) with
    http_status 404, code model_not_found, param model and OpenAI's message."""
    found = outcome(report, f"retrieve:{caller}:{model_id}")
    error = found["raised"]
    assert error["class"] == "InvalidRequestError"
    assert (error["http_status"], error["code"], error["param"]) == (404, "model_not_found", "model")
    assert error["json_body"] == expected.not_found(model_id)
    assert error["user_message"] == expected.not_found(model_id)["error"]["message"]
    assert found["wire"][0]["status"] == 404


def test_async_transport_lists_and_retrieves(report: dict[str, Any]) -> None:
    """GIVEN the full key WHEN openai.Model.alist() and .aretrieve(slash id) (aiohttp, not requests)
    THEN the same list and model as the sync calls."""
    assert outcome(report, "alist:full")["returned"] == expected.listing("full")
    assert outcome(report, f"aretrieve:full:{SLASH_ID}")["returned"] == expected.model(SLASH_ID)
