"""DynamoDB requests per call, counted at the wire, at scale: a 5,000-model group in a 10,000-model catalog.

A cold call costs at most three sequential requests whatever the group's size (the token with the change marker
in one TransactGetItems, user GetItem, one Query of the group's view); a warm one costs none until the container
revalidates, and then only the marker. Requests are counted with botocore's `before-send`, which fires
once per HTTP attempt (retries included), on the function's own client: the registry's writes are not counted.
The same counts are printed, with timings, by `infra/dev bench`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from mangum import Mangum
from moto import mock_aws

from handler.core import access
from handler.core.listing import Listing
from handler.core.sessions import SessionSigner
from handler.settings import Settings
from handler.store import layout
from handler.store.dynamodb import DynamoDirectory
from handler.web.app import create_app
from handler.wiring import build_service
from infra.bench.wire import RequestCounter
from infra.bench.world import SESSION_SECRET, BenchWorld, group_name, model_id, populate
from infra.registry import Registry
from tests.support.events import LambdaResponse, api_event, invoke

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

TABLE = "modelgate-scale"
CATALOG = 10_000
BIG, SMALL = 5_000, 100  # group sizes; the small group is also `default`
COLD_KEY_CALL = ["TransactGetItems", "GetItem", "Query"]  # token + change marker, its owner, the group's view


def _client() -> DynamoDBClient:
    client: DynamoDBClient = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    return client


@pytest.fixture(scope="module")
def world() -> Iterator[BenchWorld]:
    """GIVEN a table holding 10,000 catalog models, a 5,000-model group and a 100-model `default` group, written by
    the operator's Registry (put_models, put_group), with two users and three keys per group."""
    with mock_aws():
        yield populate(_client(), TABLE, catalog_size=CATALOG, sizes=(SMALL, BIG))


@dataclass
class Function:
    """One fresh Lambda container: the real app behind Mangum, over its own client, which is counted."""

    handler: Any
    requests: RequestCounter

    def call(self, path: str = "/v1/models", **request: Any) -> tuple[LambdaResponse, list[str]]:
        """The response and the DynamoDB operations it cost, in the order they were sent."""
        self.requests.reset()
        response = invoke(self.handler, api_event("http-api-v2", path, **request))
        return response, list(self.requests.sequence)


@pytest.fixture
def function(world: BenchWorld) -> Function:
    client = _client()
    # Revalidation has its own tests (test_cache_revalidation.py): here a slow machine must not make a call due.
    settings = Settings(table_name=world.table, session_secret=SESSION_SECRET, revalidate_seconds=3600)
    service = build_service(settings, DynamoDirectory(client, world.table))
    return Function(Mangum(create_app(service), lifespan="off"), RequestCounter(client))


def bearer(key: str) -> dict[str, str | list[str]]:
    return {"authorization": f"Bearer {key}"}


def test_a_cold_key_call_on_a_5000_model_group_costs_three_requests(world: BenchWorld, function: Function) -> None:
    """GIVEN a cold container WHEN a key of the 5,000-model group lists THEN exactly token and marker in one
    TransactGetItems, user GetItem and one Query, and all 5,000 models come back in the group's order."""
    response, sent = function.call(headers=bearer(world.keys[BIG]["a"]))

    assert response.status == 200
    assert sent == COLD_KEY_CALL
    ids = [model["id"] for model in response.json()["data"]]
    assert ids == [model_id(i) for i in range(BIG)]


def test_the_same_key_again_costs_nothing(world: BenchWorld, function: Function) -> None:
    """GIVEN a call that warmed the cache WHEN the same key lists and retrieves THEN no request at all."""
    function.call(headers=bearer(world.keys[BIG]["a"]))

    listed, listed_sent = function.call(headers=bearer(world.keys[BIG]["a"]))
    one, one_sent = function.call(f"/v1/models/{model_id(4_999)}", headers=bearer(world.keys[BIG]["a"]))

    assert (listed.status, listed_sent) == (200, [])
    assert len(listed.json()["data"]) == BIG
    assert (one.status, one_sent, one.json()["id"]) == (200, [], model_id(4_999))


def test_a_new_key_of_the_same_user_costs_only_its_token(world: BenchWorld, function: Function) -> None:
    """GIVEN a warm group and owner WHEN another key of that owner lists THEN one GetItem: its token."""
    function.call(headers=bearer(world.keys[BIG]["a"]))

    response, sent = function.call(headers=bearer(world.keys[BIG]["b"]))

    assert (response.status, sent) == (200, ["GetItem"])
    assert len(response.json()["data"]) == BIG


def test_a_key_of_another_user_in_a_warm_group_costs_token_and_user(world: BenchWorld, function: Function) -> None:
    """GIVEN a warm group WHEN a key of a second user of that group lists THEN two GetItems and no Query."""
    function.call(headers=bearer(world.keys[BIG]["a"]))

    response, sent = function.call(headers=bearer(world.keys[BIG]["other"]))

    assert (response.status, sent) == (200, ["GetItem", "GetItem"])
    assert len(response.json()["data"]) == BIG


def test_a_cold_retrieve_costs_the_same_three_requests(world: BenchWorld, function: Function) -> None:
    """GIVEN a cold container WHEN a key retrieves one model of the big group THEN the same three requests."""
    response, sent = function.call(f"/v1/models/{model_id(2_500)}", headers=bearer(world.keys[BIG]["a"]))

    assert (response.status, sent) == (200, COLD_KEY_CALL)
    assert response.json()["id"] == model_id(2_500)


def test_an_anonymous_cold_call_costs_the_marker_and_one_query(function: Function) -> None:
    """GIVEN a cold container WHEN a caller without key or cookie lists THEN the change marker's GetItem and one
    Query: the `default` group's view."""
    response, sent = function.call()

    assert (response.status, sent) == (200, ["GetItem", "Query"])
    assert [model["id"] for model in response.json()["data"]] == [model_id(i) for i in range(SMALL)]


def test_a_session_cold_call_costs_the_user_and_the_view(world: BenchWorld, function: Function) -> None:
    """GIVEN a cold container WHEN a logged-in user of the big group lists THEN the user with the change marker in
    one TransactGetItems, and the view's Query."""
    value = SessionSigner(SESSION_SECRET).issue(world.user(BIG), now=int(time.time()), ttl_seconds=600)

    response, sent = function.call(cookies=[f"modelgate_session={value}"])

    assert (response.status, sent) == (200, ["TransactGetItems", "Query"])
    assert len(response.json()["data"]) == BIG


def test_an_unknown_key_costs_one_request_then_none(function: Function) -> None:
    """GIVEN a cold container WHEN an unknown key lists twice THEN 401 both times, one TransactGetItems (the token
    and the marker) the first time only."""
    unknown = bearer("sk-" + "unknown".ljust(48, "0"))

    first, first_sent = function.call(headers=unknown)
    second, second_sent = function.call(headers=unknown)

    assert (first.status, first_sent) == (401, ["TransactGetItems"])
    assert (second.status, second_sent) == (401, [])


def test_an_unchanged_group_reread_is_neither_decoded_nor_rendered_again(
    world: BenchWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a zero max age (every call reads again) WHEN one key lists the 5,000-model group three times THEN three
    requests each time, but the unchanged view is decompressed and its listing rendered only once: both are named
    by the view's content version."""
    decoded: list[int] = []
    rendered: list[int] = []
    decode_view = layout.decode_view

    def counting_decode(chunks: Any) -> Any:
        decoded.append(1)
        return decode_view(chunks)

    class CountingListing(Listing):
        __slots__ = ()

        def __init__(self, members: Any, version: str = "") -> None:
            rendered.append(1)
            super().__init__(members, version)

    monkeypatch.setattr(layout, "decode_view", counting_decode)
    monkeypatch.setattr(access, "Listing", CountingListing)
    client = _client()
    service = build_service(
        Settings(table_name=world.table, cache_max_age_seconds=0), DynamoDirectory(client, world.table)
    )
    function = Function(Mangum(create_app(service), lifespan="off"), RequestCounter(client))

    calls = [function.call(headers=bearer(world.keys[BIG]["a"])) for _ in range(3)]

    assert [len(sent) for _, sent in calls] == [3, 3, 3]  # nothing kept: token, user and view read each time
    assert len({response.headers["etag"] for response, _ in calls}) == 1
    assert (len(decoded), len(rendered)) == (1, 1)


@pytest.mark.parametrize("form", ["bare", "suffixed"])
def test_a_one_api_form_of_a_key_costs_the_same_three_requests_cold_and_none_warm(
    world: BenchWorld, function: Function, form: str
) -> None:
    """GIVEN a cold container WHEN a key is sent in another of one-api's forms (`<key>`, `sk-<key>-<suffix>`)
    THEN one TransactGetItems asks for the key as sent, for sk-<key> and for the change marker at once, then the
    user and the view: still three requests; and again warm, none."""
    key = world.keys[BIG]["a"]
    sent_key = key.removeprefix("sk-") if form == "bare" else f"{key}-7"

    cold, cold_sent = function.call(headers=bearer(sent_key))
    warm, warm_sent = function.call(headers=bearer(sent_key))

    assert (cold.status, cold_sent) == (200, COLD_KEY_CALL)
    assert (warm.status, warm_sent) == (200, [])
    assert len(cold.json()["data"]) == len(warm.json()["data"]) == BIG


def test_an_unknown_key_in_a_one_api_form_costs_one_request_then_none(function: Function) -> None:
    """GIVEN a cold container WHEN an unknown bare 48-character key lists twice
    THEN 401 both times: one TransactGetItems of its two readings and the marker the first time, nothing the
    second (absence cached)."""
    unknown = bearer("unknown".ljust(48, "0"))

    first, first_sent = function.call(headers=unknown)
    second, second_sent = function.call(headers=unknown)

    assert (first.status, first_sent) == (401, ["TransactGetItems"])
    assert (second.status, second_sent) == (401, [])


ANTHROPIC = {"anthropic-version": "2023-06-01"}


@pytest.mark.parametrize(
    ("path", "headers", "count"),
    [
        ("/v1/models", {**ANTHROPIC, "x-api-key": "{key}"}, BIG),  # no limit, no pageSize: the whole list
        ("/v1/models", {"x-goog-api-key": "{key}"}, BIG),
        ("/v1beta/models", {"x-goog-api-key": "{key}"}, BIG),
        ("/v1beta/openai/models", {"authorization": "Bearer {key}"}, BIG),
    ],
    ids=["anthropic", "gemini-v1", "gemini-v1beta", "openai-compatible"],
)
def test_every_dialect_costs_three_requests_cold_and_none_warm(
    world: BenchWorld, function: Function, path: str, headers: dict[str, str], count: int
) -> None:
    """GIVEN a cold container WHEN a key of the 5,000-model group lists in a dialect (the key in that dialect's
    header, no page size: the whole list) THEN the same three requests, then none for the same call or a retrieve."""
    sent: dict[str, str | list[str]] = {name: value.format(key=world.keys[BIG]["a"]) for name, value in headers.items()}

    cold, cold_sent = function.call(path, headers=sent)
    warm, warm_sent = function.call(path, headers=sent)
    one, one_sent = function.call(f"{path}/{model_id(4_999)}", headers=sent)

    assert (cold.status, cold_sent) == (200, COLD_KEY_CALL)
    assert (warm.status, warm_sent, warm.body) == (200, [], cold.body)
    assert (one.status, one_sent) == (200, [])
    listed = cold.json()
    assert len(listed.get("data", listed.get("models", []))) == count


def test_codexs_catalog_costs_three_requests_cold_and_none_warm(world: BenchWorld, function: Function) -> None:
    """GIVEN a cold container WHEN a key of the 5,000-model group asks for Codex's catalog (`?client_version=`,
    Bearer) THEN the same three requests and all 5,000 models; then none for the same call, a retrieve, or the
    OpenAI list of the same listing."""
    key = bearer(world.keys[BIG]["a"])
    query, headers = "client_version=0.171.0", {**key, "originator": "codex_cli_rs"}

    cold, cold_sent = function.call(query=query, headers=headers)
    warm, warm_sent = function.call(query=query, headers=headers)
    one, one_sent = function.call(f"/v1/models/{model_id(4_999)}", query=query, headers=headers)
    openai, openai_sent = function.call(headers=key)

    assert (cold.status, cold_sent) == (200, COLD_KEY_CALL)
    assert [m["slug"] for m in cold.json()["models"]] == [model_id(i) for i in range(BIG)]
    assert (warm.status, warm_sent, warm.body) == (200, [], cold.body)
    assert (one.status, one_sent, one.json()["id"]) == (200, [], model_id(4_999))
    assert (openai.status, openai_sent, len(openai.json()["data"])) == (200, [], BIG)


def test_a_second_dialect_on_a_warm_listing_costs_nothing(world: BenchWorld, function: Function) -> None:
    """GIVEN the OpenAI list warmed WHEN the same key lists as Anthropic and as Gemini THEN no request."""
    key = world.keys[BIG]["a"]
    function.call(headers=bearer(key))

    anthropic, anthropic_sent = function.call(headers={**bearer(key), **ANTHROPIC})
    gemini, gemini_sent = function.call("/v1beta/models", headers={"x-goog-api-key": key})

    assert (anthropic.status, anthropic_sent, gemini.status, gemini_sent) == (200, [], 200, [])


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_warm_container_revalidates_with_the_marker_alone_and_rereads_after_a_change(world: BenchWorld) -> None:
    """GIVEN a warm container on the 5,000-model group, REVALIDATE_SECONDS=2 WHEN 2 s pass with no write THEN one
    GetItem: the change marker. WHEN a registry write changes the key's owner THEN the next due call reads the
    marker and the user: two requests, once; the token and the 5,000-model view stay cached. WHEN the marker moves
    without a log (a writer of an earlier version) THEN everything is read again: marker, token, user, view, once;
    the unchanged view is not decoded again."""
    client = _client()
    clock = Clock()
    settings = Settings(table_name=world.table, revalidate_seconds=2)
    service = build_service(settings, DynamoDirectory(client, world.table), clock=clock)
    function = Function(Mangum(create_app(service), lifespan="off"), RequestCounter(client))
    key = bearer(world.keys[BIG]["a"])
    assert function.call(headers=key)[1] == COLD_KEY_CALL

    clock.now += 2
    assert function.call(headers=key)[1] == ["GetItem"]
    assert function.call(headers=key)[1] == []

    Registry(_client(), world.table).put_user(world.user(BIG), group_name(BIG))  # the same values: still a write
    clock.now += 2
    response, sent = function.call(headers=key)
    assert (response.status, sent) == (200, ["GetItem", "GetItem"])
    assert len(response.json()["data"]) == BIG
    assert function.call(headers=key)[1] == []

    _client().update_item(
        TableName=world.table,
        Key={k: {"S": v} for k, v in layout.changes_key().items()},
        UpdateExpression="ADD #r :one",
        ExpressionAttributeNames={"#r": layout.REVISION},
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    clock.now += 2
    response, sent = function.call(headers=key)
    assert (response.status, sent) == (200, ["GetItem", "GetItem", "GetItem", "Query"])
    assert len(response.json()["data"]) == BIG
    assert function.call(headers=key)[1] == []
