"""The warm Lambda's cache: within its TTL a repeated call costs no DynamoDB request; once the TTL has passed, a
disabled or deleted key is refused. DynamoDB requests are counted with botocore's `before-call` event on the
function's own client (moto in-process), so the registry's writes are not counted.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from mangum import Mangum

from handler.core.keys import key_hash
from handler.settings import Settings
from handler.store import layout
from handler.store.dynamodb import DynamoDirectory
from handler.web.app import Service, create_app
from handler.wiring import build_service
from infra.registry import Registry
from tests.conftest import TABLE, settings_for
from tests.support import expected, world
from tests.support.events import api_event, invoke

if TYPE_CHECKING:
    from botocore.model import OperationModel
    from mypy_boto3_dynamodb.client import DynamoDBClient

TTL = 30.0


class Requests:
    """The DynamoDB operations one client sends, in order (botocore emits before-call once per API call)."""

    def __init__(self, client: DynamoDBClient) -> None:
        self._operations: list[str] = []
        client.meta.events.register("before-call.dynamodb", self._record)

    def _record(self, model: OperationModel, **_: Any) -> None:
        self._operations.append(model.name)

    def take(self) -> list[str]:
        taken, self._operations = self._operations, []
        return taken


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def reads(seeded: Registry) -> DynamoDBClient:
    """The function's own DynamoDB client on the seeded moto table, apart from the registry's."""
    client: DynamoDBClient = boto3.client("dynamodb", region_name="us-east-1")
    return client


def handler_over(service: Service) -> Mangum:
    return Mangum(create_app(service), lifespan="off")


def wired(reads: DynamoDBClient, **overrides: Any) -> Mangum:
    """The function as handler.wiring builds it, over `reads`."""
    return handler_over(build_service(settings_for(**overrides), DynamoDirectory(reads, TABLE)))


def clocked(reads: DynamoDBClient, clock: Clock) -> Mangum:
    """The same parts as handler.wiring, with the caches on a clock the test controls."""
    settings = settings_for(cache_ttl_seconds=TTL, stale_if_error_seconds=0)
    return handler_over(build_service(settings, DynamoDirectory(reads, TABLE), clock=clock))


def call(handler: Mangum, caller: str, path: str = "/v1/models") -> tuple[int, Any]:
    event = api_event("http-api-v2", path, headers=expected.auth_headers(caller), cookies=expected.cookies(caller))
    response = invoke(handler, event)
    return response.status, json.loads(response.body)


# -- warm calls cost nothing ---------------------------------------------------------------------------------------


def test_a_repeated_call_with_the_same_key_costs_no_request(reads: DynamoDBClient) -> None:
    """GIVEN a cold function WHEN the full key lists, then lists and retrieves again
    THEN the cold call costs token + owner + group view (3 requests), every warm call costs none."""
    requests = Requests(reads)
    handler = wired(reads)
    assert call(handler, "full") == (200, expected.listing("full"))
    assert requests.take() == ["GetItem", "GetItem", "Query"]
    assert call(handler, "full") == (200, expected.listing("full"))
    assert call(handler, "full", "/v1/models/davinci") == (200, expected.model("davinci"))
    assert call(handler, "full", "/v1/models/no-such-model") == (404, expected.not_found("no-such-model"))
    assert requests.take() == []


@pytest.mark.parametrize(
    ("caller", "cold"),
    [("session:alice", ["GetItem", "Query"]), ("anonymous", ["Query"]), ("limited", ["GetItem", "GetItem", "Query"])],
)
def test_warm_sessions_anonymous_and_limited_keys_cost_no_request(
    reads: DynamoDBClient, caller: str, cold: list[str]
) -> None:
    """GIVEN a cold function WHEN a logged-in user, an anonymous caller or a limited key calls twice
    THEN the first call reads only what it needs, the second reads nothing."""
    requests = Requests(reads)
    handler = wired(reads)
    assert call(handler, caller) == (200, expected.listing(caller))
    assert requests.take() == cold
    assert call(handler, caller) == (200, expected.listing(caller))
    assert requests.take() == []


def test_another_key_of_a_cached_user_costs_one_request(reads: DynamoDBClient) -> None:
    """GIVEN alice's full key already served WHEN her limited key calls THEN only its token is read."""
    requests = Requests(reads)
    handler = wired(reads)
    call(handler, "full")
    requests.take()
    assert call(handler, "limited") == (200, expected.listing("limited"))
    assert requests.take() == ["GetItem"]


def test_an_unknown_key_is_remembered_too(reads: DynamoDBClient) -> None:
    """GIVEN an unknown key refused once WHEN it is tried again THEN still 401, and no request."""
    requests = Requests(reads)
    handler = wired(reads)
    assert call(handler, "unknown") == (401, expected.refused("unknown"))
    assert requests.take() == ["GetItem"]
    assert call(handler, "unknown") == (401, expected.refused("unknown"))
    assert requests.take() == []


def test_a_zero_ttl_reads_every_time(reads: DynamoDBClient) -> None:
    """GIVEN CACHE_TTL_SECONDS=0 WHEN the same key calls twice THEN both calls read token, owner and view."""
    requests = Requests(reads)
    handler = wired(reads, cache_ttl_seconds=0)
    for _ in range(2):
        assert call(handler, "full") == (200, expected.listing("full"))
        assert requests.take() == ["GetItem", "GetItem", "Query"]


# -- changes reach a warm function once the TTL has passed ------------------------------------------------------------


def test_a_disabled_key_is_refused_once_the_ttl_has_passed(seeded: Registry, reads: DynamoDBClient) -> None:
    """GIVEN the full key served (cached) WHEN it is disabled in the table
    THEN the cached answer stands until the TTL ends (bounded staleness), and from then on it is 401."""
    clock = Clock()
    handler = clocked(reads, clock)
    assert call(handler, "full")[0] == 200
    seeded.put_token(world.KEYS["full"], user_id="alice", name="full", status="disabled")
    clock.now += TTL - 0.001
    assert call(handler, "full")[0] == 200
    clock.now += 0.001
    assert call(handler, "full") == (401, expected.refused("disabled"))


def test_a_deleted_key_is_refused_once_the_ttl_has_passed(seeded: Registry, reads: DynamoDBClient) -> None:
    """GIVEN the limited key served WHEN its item is deleted THEN after the TTL it is an unknown key (401)."""
    clock = Clock()
    handler = clocked(reads, clock)
    assert call(handler, "limited")[0] == 200
    seeded.client.delete_item(
        TableName=TABLE, Key={k: {"S": v} for k, v in layout.token_key(key_hash(world.KEYS["limited"])).items()}
    )
    clock.now += TTL
    assert call(handler, "limited") == (401, expected.refused("unknown"))


def test_a_disabled_owner_is_refused_once_the_ttl_has_passed(seeded: Registry, reads: DynamoDBClient) -> None:
    """GIVEN bob's key and session served WHEN bob is disabled THEN after the TTL his key is 401 and his
    session is no longer logged in (anonymous)."""
    clock = Clock()
    handler = clocked(reads, clock)
    assert call(handler, "bob")[0] == 200
    assert call(handler, "session:bob") == (200, expected.listing("session:bob"))
    seeded.put_user("bob", "basic", "disabled")
    clock.now += TTL
    status, body = call(handler, "bob")
    assert (status, body["error"]["message"]) == (401, f"{expected.REFUSAL['carol-disabled-owner']}: sk-te****0000.")
    assert call(handler, "session:bob") == (200, expected.listing("anonymous"))


def test_a_changed_group_is_listed_once_the_ttl_has_passed(seeded: Registry, reads: DynamoDBClient) -> None:
    """GIVEN the default group listed (cached) WHEN it gains a model THEN the old list until the TTL ends,
    the new list, in the new order, after."""
    clock = Clock()
    handler = clocked(reads, clock)
    assert call(handler, "anonymous") == (200, expected.listing("anonymous"))
    seeded.put_group("default", ["davinci", "gpt-4o-mini"])
    clock.now += TTL / 2
    assert call(handler, "anonymous") == (200, expected.listing("anonymous"))
    clock.now += TTL / 2
    assert call(handler, "anonymous") == (
        200,
        {"object": "list", "data": [expected.model("davinci"), expected.model("gpt-4o-mini")]},
    )


def test_the_ttl_setting_bounds_staleness_end_to_end(seeded: Registry, reads: DynamoDBClient) -> None:
    """GIVEN the function wired from the environment with CACHE_TTL_SECONDS=0.05
    WHEN a served key is disabled and a little more than the TTL passes THEN it is refused."""
    settings = Settings.from_env({"TABLE_NAME": TABLE, "CACHE_TTL_SECONDS": "0.05"})
    handler = handler_over(build_service(settings, DynamoDirectory(reads, TABLE)))
    assert call(handler, "future")[0] == 200
    seeded.put_token(world.KEYS["future"], user_id="alice", name="future", status="disabled")
    time.sleep(0.1)
    assert call(handler, "future") == (401, expected.refused("disabled"))
