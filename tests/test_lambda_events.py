"""Every rule of the service through the real Mangum handler, with real event payloads of every kind:
API Gateway HTTP API (2.0), REST API (1.0), a Lambda Function URL and an ALB (tests/events/, from `sam`).

One moto table holds the test world for the whole module; no test here writes to it.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import boto3
import pytest
from mangum import Mangum
from moto import mock_aws

from handler.core.records import GroupView, Token, User
from handler.store import layout
from handler.store.dynamodb import DynamoDirectory
from handler.store.layout import Marker
from handler.web.app import create_app
from handler.wiring import build_service
from infra.apply import apply_seed
from infra.registry import Registry
from infra.seed import parse_seed
from infra.table import create_table
from tests.conftest import TABLE, settings_for
from tests.support import expected, world
from tests.support.events import KINDS, V2_KINDS, LambdaResponse, api_event, invoke

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


@pytest.fixture(scope="module")
def table() -> Iterator[DynamoDBClient]:
    """GIVEN (for the module) the test world, an orphan token and a revoked user in one moto table."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE)
        registry = Registry(client, TABLE, sleep=lambda _: None)
        apply_seed(parse_seed(world.world_document()), registry)
        expected.extend_world(registry)
        yield client


def lambda_handler(client: DynamoDBClient, **overrides: Any) -> Mangum:
    """What handler.main builds, over `client`: Mangum(create_app(build_service(settings, ...)), lifespan="off")."""
    settings = settings_for(**overrides)
    store = DynamoDirectory(client, settings.table_name)
    return Mangum(create_app(build_service(settings, store, one_request_at_a_time=True)), lifespan="off")


@pytest.fixture(scope="module")
def handler(table: DynamoDBClient) -> Mangum:
    return lambda_handler(table)


@pytest.fixture(scope="module")
def closed_handler(table: DynamoDBClient) -> Mangum:
    """The same table with anonymous access turned off."""
    return lambda_handler(table, anonymous_access=False)


def call(handler: Mangum, kind: str, path: str = "/v1/models", *, caller: str = "anonymous", **options: Any) -> Any:
    """Send one request as `caller` in an event of `kind`; return the status and decoded JSON body."""
    headers = {**expected.auth_headers(caller), **options.pop("headers", {})}
    cookies = expected.cookies(caller) + options.pop("cookies", [])
    response = invoke(handler, api_event(kind, path, headers=headers, cookies=cookies, **options))
    return response.status, _json(response)


def _json(response: LambdaResponse) -> Any:
    assert response.headers["content-type"] == "application/json"
    return json.loads(response.body)


# -- listing and retrieving, per caller ------------------------------------------------------------------------


@pytest.mark.parametrize("caller", expected.CALLERS)
@pytest.mark.parametrize("kind", KINDS)
def test_each_caller_lists_exactly_its_models(handler: Mangum, kind: str, caller: str) -> None:
    """GIVEN the world and a caller (anonymous, a logged-in user, a full/limited/widening/empty key...)
    WHEN it sends GET /v1/models in an event of this kind
    THEN 200 and exactly its models, in order, each object field by field as documented."""
    assert call(handler, kind, caller=caller) == (200, expected.listing(caller))


@pytest.mark.parametrize("caller", expected.CALLERS)
@pytest.mark.parametrize("kind", KINDS)
def test_each_caller_retrieves_what_it_lists_and_nothing_else(handler: Mangum, kind: str, caller: str) -> None:
    """GIVEN a caller WHEN it retrieves every id of the world (and a disabled and an unknown one)
    THEN 200 with the model object for each id it may list, and the exact 404 body for every other."""
    for model_id in world.EXPECTED[caller]:
        assert call(handler, kind, f"/v1/models/{model_id}", caller=caller) == (200, expected.model(model_id))
    for model_id in expected.hidden_ids(caller):
        assert call(handler, kind, f"/v1/models/{model_id}", caller=caller) == (404, expected.not_found(model_id))


def _encodings(model_id: str) -> dict[str, str]:
    return {
        "raw": model_id,
        "encoded": quote(model_id, safe=""),
        "every-symbol-encoded": "".join(c if c.isalnum() else f"%{ord(c):02X}" for c in model_id),
    }


@pytest.mark.parametrize("form", ["raw", "encoded", "every-symbol-encoded"])
@pytest.mark.parametrize("model_id", expected.SPECIAL_IDS)
@pytest.mark.parametrize("kind", KINDS)
def test_ids_with_slash_colon_and_dot_work_raw_and_percent_encoded(
    handler: Mangum, kind: str, model_id: str, form: str
) -> None:
    """GIVEN ids with `/`, `:` and `.` (meta-llama%2FLlama-3.1-8B-Instruct, ft:...:abc, cushman:2020-05-03)
    WHEN retrieved raw or percent-encoded
    THEN 200 with that model for a key that has it, and the 404 naming the decoded id for one that lacks it."""
    path = f"/v1/models/{_encodings(model_id)[form]}"
    assert call(handler, kind, path, caller="full") == (200, expected.model(model_id))
    assert call(handler, kind, path, caller="limited") == (404, expected.not_found(model_id))


@pytest.mark.parametrize("kind", KINDS)
def test_an_unknown_encoded_id_is_named_decoded_in_the_404(handler: Mangum, kind: str) -> None:
    """GIVEN an unknown id sent as `meta-llama%2FLlama-9-Unknown` WHEN retrieved THEN 404 naming `meta-llama/...`."""
    status, body = call(handler, kind, "/v1/models/meta-llama%2FLlama-9-Unknown", caller="full")
    assert (status, body) == (404, expected.not_found("meta-llama/Llama-9-Unknown"))


@pytest.mark.parametrize("model_id", ["mask-rcnn-large", "Qwen/task-router-7b", "whisk-tts:v2"])
@pytest.mark.parametrize("kind", KINDS)
def test_the_404_echoes_an_id_containing_sk_dash_exactly(handler: Mangum, kind: str, model_id: str) -> None:
    """GIVEN an unknown id that merely contains `sk-` inside a word (mask-, task-, whisk-)
    WHEN retrieved THEN the 404 message names the id exactly: only a key-like token may be masked."""
    assert call(handler, kind, f"/v1/models/{model_id}", caller="full") == (404, expected.not_found(model_id))


@pytest.mark.parametrize("kind", KINDS)
def test_a_key_sent_as_a_model_id_is_not_echoed(handler: Mangum, kind: str) -> None:
    """GIVEN a caller who pastes a key into the path WHEN retrieved THEN 404 whose message masks the key."""
    key = world.KEYS["full"]
    status, body = call(handler, kind, f"/v1/models/{key}", caller="full")
    assert status == 404
    assert body["error"]["code"] == "model_not_found"
    assert key not in json.dumps(body)


@pytest.mark.parametrize("kind", KINDS)
def test_the_list_also_answers_with_a_trailing_slash(handler: Mangum, kind: str) -> None:
    """GIVEN `GET /v1/models/` WHEN called THEN the list, as most clients expect."""
    assert call(handler, kind, "/v1/models/", caller="limited") == (200, expected.listing("limited"))


# -- refused keys ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/models", "/v1/models/gpt-4o-mini"])
@pytest.mark.parametrize("name", expected.REFUSED)
@pytest.mark.parametrize("kind", KINDS)
def test_refused_keys_get_401_with_the_key_masked(handler: Mangum, kind: str, name: str, path: str) -> None:
    """GIVEN a disabled, expired, unknown key, or one whose owner is disabled or missing
    WHEN it lists or retrieves
    THEN 401 in OpenAI's shape with `sk-te****0000`, never a list, never the whole key."""
    status, body = call(handler, kind, path, caller=name)
    assert (status, body) == (401, expected.refused(name))
    assert expected.key_of(name) not in json.dumps(body)


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", f"Token {world.KEYS['full']}", world.KEYS["full"]],
    ids=["basic", "scheme-only", "empty-key", "other-scheme", "no-scheme"],
)
@pytest.mark.parametrize("kind", KINDS)
def test_a_malformed_authorization_header_is_401(handler: Mangum, kind: str, authorization: str) -> None:
    """GIVEN an Authorization header that is not `Bearer <key>` WHEN listing THEN 401 malformed, key not echoed."""
    status, body = call(handler, kind, headers={"Authorization": authorization})
    assert (status, body) == (401, expected.MALFORMED)


@pytest.mark.parametrize("kind", KINDS)
def test_a_refused_key_is_refused_even_with_a_valid_session(handler: Mangum, kind: str) -> None:
    """GIVEN a disabled key and alice's valid session WHEN listing THEN 401: the key decides, not the cookie."""
    assert call(handler, kind, caller="disabled", cookies=expected.cookies("session:alice")) == (
        401,
        expected.refused("disabled"),
    )


@pytest.mark.parametrize("kind", KINDS)
def test_a_key_wins_over_a_session(handler: Mangum, kind: str) -> None:
    """GIVEN the limited key and bob's session WHEN listing THEN the limited key's list."""
    assert call(handler, kind, caller="limited", cookies=expected.cookies("session:bob")) == (
        200,
        expected.listing("limited"),
    )


# -- sessions ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_the_session_cookie_arrives_the_way_each_event_kind_carries_it(handler: Mangum, kind: str) -> None:
    """GIVEN alice's session among other cookies: in the v2 `cookies` array (HTTP API, Function URL) or the
    v1/ALB `Cookie` header WHEN listing THEN alice's list."""
    cookies = ["theme=dark", expected.session_cookie("alice"), "lang=en"]
    event = api_event(KINDS[KINDS.index(kind)], cookies=cookies)
    if kind in V2_KINDS:
        assert event["cookies"] == cookies
        assert "cookie" not in event["headers"]
    else:
        assert event["headers"]["cookie"] == "; ".join(cookies)
    response = invoke(handler, event)
    assert (response.status, _json(response)) == (200, expected.listing("session:alice"))


@pytest.mark.parametrize("reason", sorted(expected.invalid_sessions()))
@pytest.mark.parametrize("kind", KINDS)
def test_an_invalid_session_is_anonymous(handler: Mangum, kind: str, reason: str) -> None:
    """GIVEN a session cookie that is expired, tampered, foreign, of an unknown or disabled user, or revoked
    WHEN listing THEN the anonymous (`default` group) list, not an error."""
    cookie = expected.invalid_sessions()[reason]
    assert call(handler, kind, cookies=[cookie]) == (200, expected.listing("anonymous"))


# -- anonymous access off ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/models", "/v1/models/gpt-4o-mini"])
@pytest.mark.parametrize("kind", KINDS)
def test_anonymous_off_answers_401_like_openai_for_a_missing_key(closed_handler: Mangum, kind: str, path: str) -> None:
    """GIVEN anonymous access off WHEN a caller without a key, or with an invalid session, calls
    THEN 401 with OpenAI's missing-key body (code null)."""
    assert call(closed_handler, kind, path) == (401, expected.MISSING_KEY)
    expired = expected.invalid_sessions()["expired"]
    assert call(closed_handler, kind, path, cookies=[expired]) == (401, expected.MISSING_KEY)


@pytest.mark.parametrize("caller", ["session:alice", "limited"])
@pytest.mark.parametrize("kind", KINDS)
def test_anonymous_off_still_serves_sessions_and_keys(closed_handler: Mangum, kind: str, caller: str) -> None:
    """GIVEN anonymous access off WHEN a logged-in user or a key lists THEN their list as usual."""
    assert call(closed_handler, kind, caller=caller) == (200, expected.listing(caller))


# -- routes and errors -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/v1", "/v1/engines", "/v2/models", "/v1/model", "/v1/models-x"])
@pytest.mark.parametrize("kind", KINDS)
def test_an_unknown_route_is_an_openai_shaped_404(handler: Mangum, kind: str, path: str) -> None:
    """GIVEN a path this service does not answer WHEN requested THEN 404 `unknown_url` in OpenAI's shape."""
    assert call(handler, kind, path, caller="full") == (404, expected.UNKNOWN_ROUTE)


@pytest.mark.parametrize("path", ["/v1/models", "/v1/models/gpt-4o"])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("kind", KINDS)
def test_another_method_is_an_openai_shaped_405(handler: Mangum, kind: str, method: str, path: str) -> None:
    """GIVEN a known path WHEN called with another method (with a body) THEN 405 in OpenAI's shape; Allow names GET."""
    event = api_event(kind, path, method=method, headers=expected.auth_headers("full"), body='{"model":"x"}')
    response = invoke(handler, event)
    assert (response.status, _json(response)) == (405, expected.method_not_allowed(method))
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert "GET" in allowed
    assert method not in allowed


@pytest.mark.parametrize("caller", ["anonymous", "full", "session:alice"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_missing_table_is_503_without_internals(table: DynamoDBClient, kind: str, caller: str) -> None:
    """GIVEN the function pointed at a table that does not exist WHEN anyone calls
    THEN 503 in OpenAI's shape with Retry-After, naming neither the table nor boto3's error."""
    broken = lambda_handler(table, table_name="modelgate-missing-table")
    event = api_event(kind, headers=expected.auth_headers(caller), cookies=expected.cookies(caller))
    response = invoke(broken, event)
    assert (response.status, _json(response)) == (503, expected.UNAVAILABLE)
    assert response.headers["retry-after"] == "1"
    for internal in (b"modelgate-missing-table", b"ResourceNotFound", b"Traceback", b"botocore"):
        assert internal not in response.body


class _BrokenDirectory:
    """A Directory with a bug: every read raises an unexpected exception that quotes a key."""

    def token(self, key_hash: str) -> Token | None:
        raise RuntimeError(f"bug while reading {world.KEYS['full']}")

    def tokens(self, key_hashes: Sequence[str]) -> Mapping[str, Token]:
        raise RuntimeError(f"bug while reading {world.KEYS['full']}")

    def user(self, user_id: str) -> User | None:
        raise RuntimeError(f"bug while reading {world.KEYS['full']}")

    def group(self, name: str) -> GroupView | None:
        raise RuntimeError(f"bug while reading {world.KEYS['full']}")

    def revision(self) -> Marker:
        raise RuntimeError(f"bug while reading {world.KEYS['full']}")

    def tokens_at_revision(self, key_hashes: Sequence[str]) -> tuple[Mapping[str, Token], Marker]:
        raise RuntimeError(f"bug while reading {world.KEYS['full']}")

    def user_at_revision(self, user_id: str) -> tuple[User | None, Marker]:
        raise RuntimeError(f"bug while reading {world.KEYS['full']}")


@pytest.mark.parametrize("kind", KINDS)
def test_an_unexpected_error_is_an_openai_shaped_500(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    """GIVEN a store with a bug WHEN listing THEN 500 in OpenAI's shape: no trace, no exception text, no key."""
    caplog.set_level(logging.DEBUG)
    broken = Mangum(create_app(build_service(settings_for(), _BrokenDirectory())), lifespan="off")
    response = invoke(broken, api_event(kind, headers=expected.auth_headers("full")))
    assert (response.status, _json(response)) == (500, expected.INTERNAL)
    assert b"bug while reading" not in response.body
    # AND the bug is logged once, its text with the key masked, and nothing else logs it (Mangum, a traceback)
    (error,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert error.name == "modelgate.web"
    assert f"RuntimeError: bug while reading {world.KEYS['full'][:3]}****" in error.getMessage()
    assert error.exc_info is None
    assert world.KEYS["full"] not in caplog.text


# -- the store's shapes, and the real entry point ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_token_with_null_models_has_no_limit(table: DynamoDBClient, kind: str) -> None:
    """GIVEN a token item whose `models` attribute is DynamoDB NULL (as an operator may leave it)
    WHEN its key lists THEN the whole group, as for an absent list."""
    key = "sk-test-null-models-000000000000000000000000000000000000"
    registry = Registry(table, TABLE)
    registry.put_token(key, user_id="alice", name="null-models")
    table.update_item(
        TableName=TABLE,
        Key={k: {"S": v} for k, v in layout.token_key(registry_hash(key)).items()},
        UpdateExpression="SET models = :null",
        ExpressionAttributeValues={":null": {"NULL": True}},
    )
    fresh = lambda_handler(table)
    response = invoke(fresh, api_event(kind, headers={"Authorization": f"Bearer {key}"}))
    assert (response.status, _json(response)) == (200, expected.listing("full"))


def registry_hash(key: str) -> str:
    from handler.core.keys import key_hash  # noqa: PLC0415

    return key_hash(key)


@pytest.mark.parametrize("kind", KINDS)
def test_the_deployed_entry_point_answers(table: DynamoDBClient, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN handler.main imported as Lambda does, configured by TABLE_NAME and SESSION_SECRET only
    WHEN events of each kind arrive for a key and a session THEN their lists."""
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("SESSION_SECRET", world.SESSION_SECRET)
    import handler.main  # noqa: PLC0415

    entry = importlib.reload(handler.main).handler
    for caller in ("limited", "session:bob"):
        event = api_event(kind, headers=expected.auth_headers(caller), cookies=expected.cookies(caller))
        response = invoke(entry, event)
        assert (response.status, _json(response)) == (200, expected.listing(caller))


def test_the_deployed_entry_point_reads_the_store_on_the_invoking_thread(
    table: DynamoDBClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN handler.main imported as Lambda does (a container answers one request at a time)
    WHEN its first call reads the key, the user and the group from DynamoDB
    THEN every read runs on the thread Lambda invoked it on: the route runs once, on Mangum's event loop, and
    nothing is handed to an executor thread (that split is for `serve`, where the loop answers others meanwhile)"""
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("SESSION_SECRET", world.SESSION_SECRET)
    import handler.main  # noqa: PLC0415

    main = importlib.reload(handler.main)
    reading_threads: list[int] = []
    main.service.store.client.meta.events.register(  # the DynamoDirectory's client
        "before-call.dynamodb", lambda **_: reading_threads.append(threading.get_ident())
    )
    handed_off: list[object] = []
    run_in_executor = asyncio.BaseEventLoop.run_in_executor

    def counting(loop: asyncio.BaseEventLoop, executor: Any, work: Any, *args: Any) -> Any:
        handed_off.append(work)
        return run_in_executor(loop, executor, work, *args)

    monkeypatch.setattr(asyncio.BaseEventLoop, "run_in_executor", counting)

    response = invoke(main.handler, api_event("http-api-v2", headers=expected.auth_headers("limited")))

    assert (response.status, _json(response)) == (200, expected.listing("limited"))
    assert len(reading_threads) >= 2  # the key with the marker, then the user and the group view
    assert set(reading_threads) == {threading.get_ident()}
    assert handed_off == []


# -- events no API Gateway sends: crafted or broken ---------------------------------------------------------------

INVALID = {"message": "The request is not valid.", "type": "invalid_request_error", "param": None}


def _without(event: dict[str, Any], *path: str) -> dict[str, Any]:
    """`event` with the field at `path` removed (nothing when it is absent: the kind has no such field)."""
    holder: Any = event
    for name in path[:-1]:
        holder = holder.get(name) or {}
    holder.pop(path[-1], None)
    return event


MALFORMED: dict[str, Any] = {
    "no requestContext": lambda kind: _without(api_event(kind), "requestContext"),
    "no method": lambda kind: _without(_without(api_event(kind), "httpMethod"), "requestContext", "http", "method"),
    "headers null": lambda kind: {**api_event(kind), "headers": None, "multiValueHeaders": None},
    "no headers": lambda kind: _without(_without(api_event(kind), "headers"), "multiValueHeaders"),
    "a lone surrogate in a query name": lambda kind: api_event(kind, query="\udc80=1"),
    "not an HTTP event": lambda kind: {"Records": [{"eventSource": "aws:sqs", "body": kind}]},
}


# What Mangum reads without the field: API Gateway's kinds need no header, and REST reads null headers as none.
READABLE = {("no headers", kind) for kind in ("http-api-v2", "rest-api-v1", "function-url")} | {
    ("headers null", "rest-api-v1")
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", MALFORMED)
def test_a_malformed_event_gets_an_openai_shaped_400(
    table: DynamoDBClient, kind: str, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN the deployed entry point WHEN an event lacks a field Mangum reads, or is not an HTTP event at all
    THEN 400 in OpenAI's shape (nothing raised out of handler(), no 500); a request that needs no missing field
    is answered as usual."""
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("SESSION_SECRET", world.SESSION_SECRET)
    import handler.main  # noqa: PLC0415

    entry = importlib.reload(handler.main).handler
    response = invoke(entry, MALFORMED[name](kind))
    if (name, kind) in READABLE:
        assert (response.status, _json(response)) == (200, expected.listing("anonymous"))
        return
    assert response.status == 400
    assert _json(response) == {"error": {**INVALID, "code": "invalid_request"}}


@pytest.mark.parametrize("kind", KINDS)
def test_a_lone_surrogate_in_the_path_is_a_400_naming_the_model(handler: Mangum, kind: str) -> None:
    """GIVEN an event whose path holds a lone surrogate (no UTF-8 request can carry one) WHEN it retrieves
    THEN 400 in OpenAI's shape naming the model parameter: never a 500 from an error body that cannot be encoded."""
    event = api_event(kind, "/v1/models/gpt-\ud800", headers=expected.auth_headers("full"))
    response = invoke(handler, event)
    assert (response.status, _json(response)) == (
        400,
        {
            "error": {
                **INVALID,
                "message": "The model id is not valid UTF-8.",
                "param": "model",
                "code": "invalid_request",
            }
        },
    )
