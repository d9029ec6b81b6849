"""The same scenarios on moto's server and on AWS DynamoDB Local, the real engine, over HTTP.

Each test runs once per engine with the same expectations: the table created from template.yaml, every caller
kind's list, retrieve, the cold path's requests at the wire, a 5,000-model group, and the CLI's writes
(`modelgate apply --endpoint-url`, key/user/group commands) read back by the service.
`test_both_engines_answer_byte_for_byte_the_same` then compares the two engines' answers directly.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mangum import Mangum

from handler.core.sessions import SessionSigner
from handler.store import layout
from handler.store.dynamodb import DynamoDirectory
from handler.web.app import create_app
from handler.wiring import build_service, dynamodb_client
from infra.cli.main import main as modelgate
from infra.registry import Registry
from infra.table import table_definition
from tests.conftest import settings_for
from tests.support import world
from tests.support.events import LambdaResponse, api_event, invoke
from tests.support.server import fresh_table, http_dynamodb

pytestmark = pytest.mark.integration

ENGINES = [pytest.param("moto"), pytest.param("dynamodb-local", marks=pytest.mark.dynamodb_local)]
COLD_KEY_CALL = ["TransactGetItems", "GetItem", "Query"]  # token + change marker, its owner, the group's view
BIG = 5_000


@dataclass
class Engine:
    name: str
    endpoint: str
    table: str
    registry: Registry


def _endpoint(request: pytest.FixtureRequest, name: str) -> str:
    endpoint: str = request.getfixturevalue("moto_endpoint" if name == "moto" else "dynamodb_local_endpoint")
    return endpoint


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Engine:
    """The test world (tests/support/world.py) written by the Registry into a table made from the template."""
    endpoint = _endpoint(request, request.param)
    table, registry = fresh_table(endpoint)
    return Engine(request.param, endpoint, table, registry)


class Function:
    """A fresh Lambda container: handler.main's composition over the engine, its DynamoDB requests recorded."""

    def __init__(self, endpoint: str, table: str) -> None:
        # Never due for revalidation within a test, however slow the engine: the counts stay the cold path's.
        settings = settings_for(table_name=table, dynamodb_endpoint_url=endpoint, revalidate_seconds=3600)
        store = DynamoDirectory(dynamodb_client(settings), table)
        service = build_service(settings, store)
        self.sent: list[str] = []
        store.client.meta.events.register("before-send.dynamodb", self._record)
        self.handler = Mangum(create_app(service), lifespan="off")

    def _record(self, request: Any, **_: Any) -> None:
        self.sent.append(request.headers["X-Amz-Target"].decode().split(".")[-1])

    def call(
        self, path: str = "/v1/models", *, key: str | None = None, session: str | None = None
    ) -> tuple[LambdaResponse, list[str]]:
        self.sent = []
        headers: dict[str, str | list[str]] = {"Authorization": f"Bearer {key}"} if key else {}
        cookies = [f"modelgate_session={session}"] if session else None
        return invoke(self.handler, api_event("http-api-v2", path, headers=headers, cookies=cookies)), self.sent


def session_for(user: str) -> str:
    return SessionSigner(world.SESSION_SECRET).issue(user, now=int(time.time()), ttl_seconds=3600)


def ids(response: LambdaResponse) -> list[str]:
    return [model["id"] for model in response.json()["data"]]


def test_the_table_is_the_templates(engine: Engine) -> None:
    """GIVEN a table made by infra.table.create_table WHEN the engine describes it THEN it is template.yaml's."""
    expected = table_definition()
    client = http_dynamodb(engine.endpoint)
    described = client.describe_table(TableName=engine.table)["Table"]
    assert described["KeySchema"] == expected["KeySchema"]
    assert sorted(described["AttributeDefinitions"], key=str) == sorted(expected["AttributeDefinitions"], key=str)
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    [index] = described["GlobalSecondaryIndexes"]
    [declared] = expected["GlobalSecondaryIndexes"]
    assert (index["IndexName"], index["KeySchema"], index["Projection"]) == (
        declared["IndexName"],
        declared["KeySchema"],
        declared["Projection"],
    )
    ttl = client.describe_time_to_live(TableName=engine.table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", layout.TTL_ATTRIBUTE)


@pytest.mark.parametrize("caller", sorted(world.EXPECTED))
def test_every_caller_kind_gets_its_list(engine: Engine, caller: str) -> None:
    """GIVEN the world WHEN anonymous, a session or a key lists THEN exactly its models, in order."""
    function = Function(engine.endpoint, engine.table)
    if caller == "anonymous":
        response, _ = function.call()
    elif caller.startswith("session:"):
        response, _ = function.call(session=session_for(caller.removeprefix("session:")))
    else:
        response, _ = function.call(key=world.KEYS[caller])
    assert response.status == 200
    assert response.json()["object"] == "list"
    assert ids(response) == world.EXPECTED[caller]


def test_stored_values_come_back_as_stored_and_the_rest_is_defaulted(engine: Engine) -> None:
    """GIVEN catalog values with a stored permission and a group model the catalog lacks WHEN a full key lists
    THEN davinci's stored fields are returned as stored, and `my-custom` is `owned_by: custom` with defaults."""
    response, _ = Function(engine.endpoint, engine.table).call(key=world.KEYS["full"])
    models = {model["id"]: model for model in response.json()["data"]}
    assert models["davinci"] == {
        "id": "davinci",
        "object": "model",
        "created": 1649359874,
        "owned_by": "openai",
        "permission": [world.DAVINCI_PERMISSION],
        "root": "davinci",
        "parent": None,
    }
    custom = models["my-custom"]
    assert (custom["owned_by"], custom["created"], custom["root"], custom["parent"]) == (
        "custom",
        1626777600,
        "my-custom",
        None,
    )
    [permission] = custom["permission"]
    assert permission["object"] == "model_permission"
    assert permission["id"].startswith("modelperm-")


@pytest.mark.parametrize("refused", [*world.REFUSED, "unknown"])
def test_refused_keys_get_401(engine: Engine, refused: str) -> None:
    """GIVEN a disabled, expired, orphaned or unknown key WHEN it lists THEN 401 invalid_api_key, key masked."""
    key = world.UNKNOWN_KEY if refused == "unknown" else world.KEYS[refused]
    response, _ = Function(engine.endpoint, engine.table).call(key=key)
    assert response.status == 401
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "invalid_api_key", None)
    assert key not in response.body.decode()


@pytest.mark.parametrize(
    "path",
    ["/v1/models/meta-llama/Llama-3.1-8B-Instruct", "/v1/models/meta-llama%2FLlama-3.1-8B-Instruct"],
)
def test_retrieve_a_model_with_a_slash_raw_and_encoded(engine: Engine, path: str) -> None:
    """GIVEN a full key WHEN it retrieves an id with `/` (raw or %2F) THEN 200 with that one model object."""
    response, _ = Function(engine.endpoint, engine.table).call(path, key=world.KEYS["full"])
    assert response.status == 200
    model = response.json()
    [permission] = model.pop("permission")
    assert model == {
        "id": "meta-llama/Llama-3.1-8B-Instruct",
        "object": "model",
        "created": 1721692800,
        "owned_by": "meta",
        "root": "meta-llama/Llama-3.1-8B-Instruct",
        "parent": None,
    }
    assert (permission["object"], permission["created"], permission["allow_view"]) == (
        "model_permission",
        1626777600,
        True,
    )
    assert permission["id"].startswith("modelperm-")


def test_retrieve_outside_the_callers_list_is_404(engine: Engine) -> None:
    """GIVEN the limited key (davinci, gpt-4o) WHEN it retrieves a vip model outside its list THEN 404."""
    response, _ = Function(engine.endpoint, engine.table).call(
        "/v1/models/cushman:2020-05-03", key=world.KEYS["limited"]
    )
    assert response.status == 404
    assert response.json() == {
        "error": {
            "message": "The model 'cushman:2020-05-03' does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
    }


def test_the_cold_path_is_three_requests_and_warm_is_none(engine: Engine) -> None:
    """GIVEN a cold container WHEN a key lists, lists again, then a second key of the same owner lists THEN the
    wire sees token and marker, user, view, then nothing, then only the new token; anonymous cold costs the marker
    and one Query, a session the user with the marker and one Query."""
    function = Function(engine.endpoint, engine.table)
    assert function.call(key=world.KEYS["full"])[1] == COLD_KEY_CALL
    assert function.call(key=world.KEYS["full"])[1] == []
    assert function.call(key=world.KEYS["limited"])[1] == ["GetItem"]
    assert Function(engine.endpoint, engine.table).call()[1] == ["GetItem", "Query"]
    assert Function(engine.endpoint, engine.table).call(session=session_for("bob"))[1] == ["TransactGetItems", "Query"]


@pytest.fixture(scope="module")
def big_group(engine: Engine) -> tuple[str, str]:
    """A 5,000-model group's view, written by the Registry from catalog entries; (table, a key of that group).

    The function reads only the view (the group joined with its catalog entries), so the catalog items themselves
    are not written: that would be 200 batch writes of no use to this test.
    """
    table, registry = fresh_table(engine.endpoint, {"models": [], "groups": {}, "users": [], "tokens": []})
    catalog: list[dict[str, Any]] = [
        {"id": f"org-{i:04d}/model-{i:04d}:v1", "owned_by": f"org-{i % 7}", "created": 1_700_000_000 + i}
        for i in range(BIG)
    ]
    registry.put_group("big", [entry["id"] for entry in catalog], {entry["id"]: entry for entry in catalog})
    registry.put_user("dana", "big")
    key = "sk-test-dana-big-" + "0" * 40
    registry.put_token(key, user_id="dana", name="big")
    return table, key


def test_a_5000_model_group_costs_three_requests_cold(engine: Engine, big_group: tuple[str, str]) -> None:
    """GIVEN a 5,000-model group WHEN its key lists cold THEN three requests, all 5,000 models in order."""
    table, key = big_group
    response, sent = Function(engine.endpoint, table).call(key=key)
    assert (response.status, sent) == (200, COLD_KEY_CALL)
    models = response.json()["data"]
    assert [m["id"] for m in models] == [f"org-{i:04d}/model-{i:04d}:v1" for i in range(BIG)]
    assert (models[4_321]["owned_by"], models[4_321]["created"]) == ("org-2", 1_700_004_321)


def test_the_cli_writes_what_the_service_reads(
    engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN `modelgate apply --endpoint-url` on a table that does not exist yet WHEN the operator then creates a
    limited key, moves bob to vip, disables alice's full key and changes `default` with the CLI THEN a new
    container sees each change."""
    table = f"modelgate-cli-{uuid.uuid4().hex[:8]}"
    connection = ["--endpoint-url", engine.endpoint, "--table", table]
    seed = tmp_path / "world.json"
    seed.write_text(json.dumps(world.world_document()))

    def cli(*argv: str) -> Any:
        capsys.readouterr()
        assert modelgate([*argv, *connection, "--json"]) == 0, capsys.readouterr().err
        return json.loads(capsys.readouterr().out)

    cli("apply", str(seed))
    created = cli("key", "create", "--user", "bob", "--models", "davinci")
    full = next(k for k in cli("key", "list", "--user", "alice") if k["name"] == "full")
    cli("key", "disable", full["id"])
    cli("user", "set-group", "bob", "vip")
    cli("group", "set", "default", "gpt-4o", "davinci")

    function = Function(engine.endpoint, table)
    assert ids(function.call(key=created["key"])[0]) == ["davinci"]
    assert function.call(key=world.KEYS["full"])[0].status == 401
    assert ids(function.call(key=world.KEYS["bob"])[0]) == world.VIP_VISIBLE
    assert ids(function.call()[0]) == ["gpt-4o", "davinci"]


def transcript(endpoint: str, table: str) -> list[tuple[str, int, str, bytes, list[str]]]:
    """Every caller's list and a few retrieves, in one container: (what, status, ETag, body, requests)."""
    function = Function(endpoint, table)
    calls: list[tuple[str, dict[str, Any]]] = [("anonymous", {})]
    calls += [(name, {"key": key}) for name, key in world.KEYS.items()]
    calls += [(f"session:{user}", {"session": session_for(user)}) for user in ("alice", "bob")]
    calls += [("retrieve davinci", {"path": "/v1/models/davinci", "key": world.KEYS["full"]})]
    calls += [("retrieve ft", {"path": "/v1/models/ft:gpt-3.5-turbo:acme:x:abc", "key": world.KEYS["widening"]})]
    lines = []
    for what, request in calls:
        response, sent = function.call(**request)
        lines.append((what, response.status, response.headers.get("etag", ""), response.body, list(sent)))
    return lines


@pytest.mark.dynamodb_local
def test_both_engines_answer_byte_for_byte_the_same(moto_endpoint: str, dynamodb_local_endpoint: str) -> None:
    """GIVEN the same world written into moto and into DynamoDB Local WHEN the same calls run on each THEN the
    statuses, ETags, bodies and DynamoDB requests are identical."""
    on_moto, _ = fresh_table(moto_endpoint)
    on_local, _ = fresh_table(dynamodb_local_endpoint)
    assert transcript(moto_endpoint, on_moto) == transcript(dynamodb_local_endpoint, on_local)
