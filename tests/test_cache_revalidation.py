"""The warm Lambda's cache and the change marker: a warm call costs no DynamoDB request; every REVALIDATE_SECONDS
the container reads the marker alone; when a registry write has moved it, what was cached is dropped, so a
disabled key, a disabled user, a revoked session or a changed group reaches the answer within REVALIDATE_SECONDS.

The function's requests are counted with botocore's `before-parameter-build` event (once per API call, with its
parameters) on its own client (moto in-process), with the caches on a clock the test moves by hand; the registry's
writes go through their own client, uncounted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
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
from infra.apply import apply_seed
from infra.registry import Registry
from infra.seed import parse_seed
from tests.conftest import TABLE, settings_for
from tests.support import expected, world
from tests.support.events import api_event, invoke

if TYPE_CHECKING:
    from botocore.model import OperationModel
    from mypy_boto3_dynamodb.client import DynamoDBClient

REVALIDATE = 2.0
MAX_AGE = 3600.0
COLD_KEY = ["TransactGetItems", "GetItem", "Query"]  # token + marker, its owner, the group's view
MARKER = "GetItem CHANGES"


class Requests:
    """The DynamoDB operations one client sends, in order; a GetItem shows its key's pk (the marker: CHANGES)."""

    def __init__(self, client: DynamoDBClient) -> None:
        self._operations: list[str] = []
        client.meta.events.register("before-parameter-build.dynamodb", self._record)

    def _record(self, model: OperationModel, params: dict[str, Any], **_: Any) -> None:  # once per API call
        name = model.name
        if name == "GetItem" and params["Key"][layout.PK]["S"] == layout.CHANGES:
            name = MARKER
        self._operations.append(name)

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


def wired(reads: DynamoDBClient) -> Mangum:
    """The function as handler.wiring builds it, over `reads`, on the real clock: never due within a test."""
    return handler_over(build_service(settings_for(revalidate_seconds=3600), DynamoDirectory(reads, TABLE)))


def clocked(reads: DynamoDBClient, clock: Clock, **overrides: Any) -> Mangum:
    """The same parts as handler.wiring, with the caches on a clock the test controls."""
    base = {"revalidate_seconds": REVALIDATE, "cache_max_age_seconds": MAX_AGE, "stale_if_error_seconds": 0}
    settings = settings_for(**{**base, **overrides})
    return handler_over(build_service(settings, DynamoDirectory(reads, TABLE), clock=clock))


def call(handler: Mangum, caller: str, path: str = "/v1/models") -> tuple[int, Any]:
    event = api_event("http-api-v2", path, headers=expected.auth_headers(caller), cookies=expected.cookies(caller))
    response = invoke(handler, event)
    return response.status, json.loads(response.body)


def revision(registry: Registry) -> int:
    record = registry.get(layout.changes_key())
    return 0 if record is None else int(record[layout.REVISION])


# -- warm calls cost nothing ---------------------------------------------------------------------------------------


def test_a_repeated_call_with_the_same_key_costs_no_request(reads: DynamoDBClient) -> None:
    """GIVEN a cold function WHEN the full key lists, then lists and retrieves again
    THEN the cold call costs token and marker, owner, group view (3 requests), every warm call costs none."""
    requests = Requests(reads)
    handler = wired(reads)
    assert call(handler, "full") == (200, expected.listing("full"))
    assert requests.take() == COLD_KEY
    assert call(handler, "full") == (200, expected.listing("full"))
    assert call(handler, "full", "/v1/models/davinci") == (200, expected.model("davinci"))
    assert call(handler, "full", "/v1/models/no-such-model") == (404, expected.not_found("no-such-model"))
    assert requests.take() == []


@pytest.mark.parametrize(
    ("caller", "cold"),
    [
        ("session:alice", ["TransactGetItems", "Query"]),
        ("anonymous", [MARKER, "Query"]),
        ("limited", COLD_KEY),
    ],
)
def test_warm_sessions_anonymous_and_limited_keys_cost_no_request(
    reads: DynamoDBClient, caller: str, cold: list[str]
) -> None:
    """GIVEN a cold function WHEN a logged-in user, an anonymous caller or a limited key calls twice
    THEN the first call reads only what it needs, with the marker, the second reads nothing."""
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
    assert requests.take() == ["TransactGetItems"]
    assert call(handler, "unknown") == (401, expected.refused("unknown"))
    assert requests.take() == []


def test_a_zero_max_age_reads_every_time(reads: DynamoDBClient) -> None:
    """GIVEN CACHE_MAX_AGE_SECONDS=0 WHEN the same key calls twice THEN both calls read token, owner and view."""
    clock = Clock()
    requests = Requests(reads)
    handler = clocked(reads, clock, cache_max_age_seconds=0)
    assert call(handler, "full") == (200, expected.listing("full"))
    assert requests.take() == COLD_KEY
    assert call(handler, "full") == (200, expected.listing("full"))
    assert requests.take() == ["GetItem", "GetItem", "Query"]


# -- with no writes: one marker read per REVALIDATE_SECONDS, and nothing else ----------------------------------------


def test_steady_traffic_without_writes_reads_only_the_marker_once_per_revalidation(reads: DynamoDBClient) -> None:
    """GIVEN a warm container WHEN the full key, a session and an anonymous caller call every 0.5 s for 10 minutes,
    with no writes THEN one request per REVALIDATE_SECONDS, each the marker alone: no token, user or view read
    after warm-up, far past the 30 s the former TTL allowed."""
    clock = Clock()
    requests = Requests(reads)
    handler = clocked(reads, clock)
    for caller in ("full", "session:alice", "anonymous"):
        call(handler, caller)
    requests.take()
    steps = 1_200
    for step in range(steps):
        clock.now += 0.5
        assert call(handler, "full")[0] == 200
        if step % 20 == 0:  # the others now and then, served from the same cache
            assert call(handler, "session:alice") == (200, expected.listing("session:alice"))
            assert call(handler, "anonymous") == (200, expected.listing("anonymous"))
    sent = requests.take()
    assert set(sent) == {MARKER}
    assert len(sent) == steps * 0.5 / REVALIDATE  # 600 s / 2 s


def test_past_the_max_age_everything_is_read_again(reads: DynamoDBClient) -> None:
    """GIVEN a warm key and no writes WHEN CACHE_MAX_AGE_SECONDS has passed THEN its token, owner and view are read
    again (the safety net), whatever the marker says."""
    clock = Clock()
    requests = Requests(reads)
    handler = clocked(reads, clock)
    call(handler, "full")
    clock.now += MAX_AGE - 1
    call(handler, "full")
    assert requests.take() == [*COLD_KEY, MARKER]
    clock.now += 1
    assert call(handler, "full") == (200, expected.listing("full"))
    assert requests.take() == ["GetItem", "GetItem", "Query"]


# -- a registry write reaches a warm container within REVALIDATE_SECONDS ---------------------------------------------


def test_a_disabled_key_is_refused_within_the_revalidation_interval(seeded: Registry, reads: DynamoDBClient) -> None:
    """GIVEN the full key served (cached) WHEN `key disable` writes THEN it is still served until REVALIDATE_SECONDS
    have passed since the container last read the marker, and refused from then on: one marker read, one token read."""
    clock = Clock()
    requests = Requests(reads)
    handler = clocked(reads, clock)
    start = clock.now
    assert call(handler, "full")[0] == 200
    seeded.set_token_status(next(t for t in seeded.tokens("alice") if t.name == "full").token_id, "disabled")
    requests.take()
    clock.now = start + REVALIDATE - 0.01
    assert call(handler, "full")[0] == 200
    clock.now = start + REVALIDATE
    assert call(handler, "full") == (401, expected.refused("disabled"))
    assert requests.take() == [MARKER, "GetItem"]


def test_a_deleted_key_is_refused_within_the_revalidation_interval(seeded: Registry, reads: DynamoDBClient) -> None:
    """GIVEN the limited key served WHEN `key delete` removes it THEN after REVALIDATE_SECONDS it is unknown (401)."""
    clock = Clock()
    handler = clocked(reads, clock)
    assert call(handler, "limited")[0] == 200
    limited = next(t for t in seeded.tokens("alice") if t.name == "limited")
    seeded.delete_token(limited.token_id)
    clock.now += REVALIDATE
    assert call(handler, "limited") == (401, expected.refused("unknown"))


def test_a_disabled_owner_and_a_revoked_session_are_refused_within_the_interval(
    seeded: Registry, reads: DynamoDBClient
) -> None:
    """GIVEN bob's key and alice's session served WHEN bob is disabled and alice's sessions revoked THEN within
    REVALIDATE_SECONDS bob's key is 401 and alice's session is no longer logged in (anonymous)."""
    clock = Clock()
    handler = clocked(reads, clock)
    assert call(handler, "bob")[0] == 200
    assert call(handler, "session:alice") == (200, expected.listing("session:alice"))
    seeded.update_user("bob", status="disabled")
    seeded.revoke_sessions("alice", now=time.time())
    clock.now += REVALIDATE
    status, body = call(handler, "bob")
    assert (status, body["error"]["message"]) == (401, f"{expected.REFUSAL['carol-disabled-owner']}: sk-te****0000.")
    assert call(handler, "session:alice") == (200, expected.listing("anonymous"))


def test_a_changed_group_is_listed_within_the_interval(seeded: Registry, reads: DynamoDBClient) -> None:
    """GIVEN the default group listed (cached) WHEN it gains a model THEN the new list, in the new order, once
    REVALIDATE_SECONDS have passed."""
    clock = Clock()
    handler = clocked(reads, clock)
    assert call(handler, "anonymous") == (200, expected.listing("anonymous"))
    seeded.put_group("default", ["davinci", "gpt-4o-mini"])
    clock.now += REVALIDATE
    assert call(handler, "anonymous") == (
        200,
        {"object": "list", "data": [expected.model("davinci"), expected.model("gpt-4o-mini")]},
    )


def test_a_write_around_the_registry_is_seen_within_the_max_age(seeded: Registry, reads: DynamoDBClient) -> None:
    """GIVEN the limited key served WHEN its item is deleted by hand (no marker bump) THEN it is still served while
    the marker holds still, and refused once CACHE_MAX_AGE_SECONDS has passed."""
    clock = Clock()
    handler = clocked(reads, clock)
    assert call(handler, "limited")[0] == 200
    seeded.client.delete_item(
        TableName=TABLE, Key={k: {"S": v} for k, v in layout.token_key(key_hash(world.KEYS["limited"])).items()}
    )
    clock.now += REVALIDATE * 10
    assert call(handler, "limited")[0] == 200
    clock.now += MAX_AGE
    assert call(handler, "limited") == (401, expected.refused("unknown"))


def test_the_settings_bound_staleness_end_to_end(seeded: Registry, reads: DynamoDBClient) -> None:
    """GIVEN the function wired from the environment with REVALIDATE_SECONDS=0.05
    WHEN a served key is disabled and a little more than that passes THEN it is refused."""
    settings = Settings.from_env({"TABLE_NAME": TABLE, "REVALIDATE_SECONDS": "0.05"})
    handler = handler_over(build_service(settings, DynamoDirectory(reads, TABLE)))
    assert call(handler, "future")[0] == 200
    seeded.put_token(world.KEYS["future"], user_id="alice", name="future", status="disabled")
    time.sleep(0.1)
    assert call(handler, "future") == (401, expected.refused("disabled"))


# -- the marker: every write that changes an answer bumps it, a write that changes nothing does not ------------------


def test_every_kind_of_write_bumps_the_marker_once(seeded: Registry) -> None:
    """GIVEN the seeded table WHEN each kind of registry write runs THEN the marker moves by one each time."""
    alice_key = next(t for t in seeded.tokens("alice") if t.name == "full").token_id
    writes: list[Callable[[], object]] = [
        lambda: seeded.put_group("basic", ["davinci"]),
        lambda: seeded.set_model_status("davinci", "disabled"),
        lambda: seeded.delete_model("bare"),
        lambda: seeded.create_user("dora", "basic"),
        lambda: seeded.update_user("dora", status="disabled"),
        lambda: seeded.put_user("erin", "basic"),
        lambda: seeded.set_token_status(alice_key, "disabled"),
        lambda: seeded.create_token("sk-" + "d" * 48, user_id="alice"),
        lambda: seeded.put_token("sk-" + "e" * 48, user_id="alice"),
        lambda: seeded.revoke_sessions("alice", now=time.time()),
        lambda: seeded.delete_user("erin"),
        lambda: seeded.delete_group("basic", check_users=False),
    ]
    for write in writes:
        before = revision(seeded)
        write()
        assert revision(seeded) == before + 1


def test_writes_that_change_nothing_do_not_bump(seeded: Registry) -> None:
    """GIVEN the seeded table WHEN the same seed is applied again, a group set to what it holds, an enabled user
    enabled and a disabled key disabled THEN the marker holds still."""
    before = revision(seeded)
    assert before > 0
    apply_seed(parse_seed(world.world_document()), seeded)
    seeded.put_group("vip", world.GROUPS["vip"])
    seeded.update_user("alice", status="enabled")
    disabled = next(t for t in seeded.tokens() if t.status == "disabled")
    seeded.set_token_status(disabled.token_id, "disabled")
    assert revision(seeded) == before


def test_catalog_models_alone_do_not_bump_but_the_views_they_change_do(seeded: Registry) -> None:
    """GIVEN the seeded table WHEN a model no group names is imported THEN no bump (no answer changed); WHEN a
    model a group names changes THEN one bump per view rebuilt."""
    before = revision(seeded)
    seeded.put_models([{"id": "lonely", "owned_by": "nobody"}])
    assert revision(seeded) == before
    seeded.put_models([{"id": "davinci", "owned_by": "someone-else"}])
    rebuilt = seeded.rebuild_views(["davinci"])
    assert sorted(rebuilt) == ["basic", "vip"]
    assert revision(seeded) == before + 2
