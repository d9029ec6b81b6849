"""The warm Lambda's cache and the change marker: a warm call costs no DynamoDB request; every REVALIDATE_SECONDS
the container reads the marker alone; when a registry write has moved it, the records its log names are dropped
(everything, when the log cannot say), so a disabled key, a disabled user, a revoked session or a changed group
reaches the answer within REVALIDATE_SECONDS, and every other cached record stays. Unknown keys are remembered apart
and never evict a known one.

The function's requests are counted with botocore's `before-parameter-build` event (once per API call, with its
parameters) on its own client (moto in-process), with the caches on a clock the test moves by hand; the registry's
writes go through their own client, uncounted.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from mangum import Mangum

from handler.core.keys import key_hash
from handler.core.ttlcache import MISSING, TtlCache
from handler.settings import Settings
from handler.store import layout
from handler.store.dynamodb import DynamoDirectory
from handler.web.app import Service, create_app
from handler.wiring import build_service
from infra.apply import apply_seed
from infra.registry import Registry, RegistryError
from infra.registry.writes import CONFLICT_ATTEMPTS
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


def call_with_key(handler: Mangum, key: str) -> tuple[int, Any]:
    event = api_event("http-api-v2", "/v1/models", headers={"authorization": f"Bearer {key}"})
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


# -- targeted invalidation: a change drops only the records it names ------------------------------------------------


def _warm(handler: Mangum, requests: Requests, callers: tuple[str, ...]) -> None:
    for caller in callers:
        assert call(handler, caller) == (200, expected.listing(caller))
    requests.take()


def _token_id(registry: Registry, owner: str, name: str) -> str:
    return next(t for t in registry.tokens(owner) if t.name == name).token_id


def test_a_changed_key_is_re_read_and_every_other_record_stays_cached(seeded: Registry, reads: DynamoDBClient) -> None:
    """GIVEN alice's full key (alice, vip), bob's key (bob, basic) and an anonymous caller (default) served
    WHEN bob's key is disabled and REVALIDATE_SECONDS pass
    THEN alice's call reads the marker alone, bob's reads his token alone and is refused, the anonymous call
    reads nothing: alice's token, alice, bob, and the vip, basic and default views stay cached."""
    clock = Clock()
    requests = Requests(reads)
    handler = clocked(reads, clock)
    _warm(handler, requests, ("full", "bob", "anonymous"))

    seeded.set_token_status(_token_id(seeded, "bob", "bob"), "disabled")
    clock.now += REVALIDATE

    assert call(handler, "full") == (200, expected.listing("full"))
    assert requests.take() == [MARKER]
    assert call(handler, "bob") == (401, expected.refused("disabled"))
    assert requests.take() == ["GetItem"]
    assert call(handler, "anonymous") == (200, expected.listing("anonymous"))
    assert call(handler, "full") == (200, expected.listing("full"))
    assert requests.take() == []


def test_a_changed_user_is_re_read_alone(seeded: Registry, reads: DynamoDBClient) -> None:
    """GIVEN alice's and bob's keys served WHEN bob is disabled THEN once due, alice costs the marker alone and
    bob's key costs bob's user record alone, and is refused."""
    clock = Clock()
    requests = Requests(reads)
    handler = clocked(reads, clock)
    _warm(handler, requests, ("full", "bob"))

    seeded.update_user("bob", status="disabled")
    clock.now += REVALIDATE

    assert call(handler, "full") == (200, expected.listing("full"))
    assert requests.take() == [MARKER]
    status, body = call(handler, "bob")
    assert (status, body["error"]["message"]) == (401, f"{expected.REFUSAL['carol-disabled-owner']}: sk-te****0000.")
    assert requests.take() == ["GetItem"]


def test_a_revoked_session_re_reads_its_user_alone(seeded: Registry, reads: DynamoDBClient) -> None:
    """GIVEN alice's session and bob's key served WHEN alice's sessions are revoked THEN once due, bob costs the
    marker alone, alice's session costs her user record alone and is anonymous from then on."""
    clock = Clock()
    requests = Requests(reads)
    handler = clocked(reads, clock)
    _warm(handler, requests, ("session:alice", "bob", "anonymous"))

    seeded.revoke_sessions("alice", now=time.time())
    clock.now += REVALIDATE

    assert call(handler, "bob") == (200, expected.listing("bob"))
    assert requests.take() == [MARKER]
    assert call(handler, "session:alice") == (200, expected.listing("anonymous"))
    assert requests.take() == ["GetItem"]


def test_a_changed_group_re_reads_its_view_alone(seeded: Registry, reads: DynamoDBClient) -> None:
    """GIVEN alice's key (vip) and bob's (basic) served WHEN basic gains a model THEN once due, alice costs the
    marker alone, and bob's key costs basic's view alone (one Query) and lists the new model."""
    clock = Clock()
    requests = Requests(reads)
    handler = clocked(reads, clock)
    _warm(handler, requests, ("full", "bob"))

    seeded.put_group("basic", ["gpt-4o-mini", "davinci", "gpt-4o"])
    clock.now += REVALIDATE

    assert call(handler, "full") == (200, expected.listing("full"))
    assert requests.take() == [MARKER]
    status, body = call(handler, "bob")
    assert (status, [model["id"] for model in body["data"]]) == (200, ["gpt-4o-mini", "davinci", "gpt-4o"])
    assert requests.take() == ["Query"]


def test_a_created_key_once_unknown_is_served_once_due(seeded: Registry, reads: DynamoDBClient) -> None:
    """GIVEN a key refused as unknown (remembered) and alice's key served WHEN the key is created for bob THEN it
    is still refused until due, then served: its token read again, and its owner (a key's creation counts itself on
    the owner's user item, so that a deletion of the user cannot interleave); the view stays cached."""
    clock = Clock()
    requests = Requests(reads)
    handler = clocked(reads, clock)
    _warm(handler, requests, ("full", "bob"))
    assert call(handler, "unknown") == (401, expected.refused("unknown"))
    assert requests.take() == ["GetItem"]

    seeded.create_token(world.UNKNOWN_KEY, user_id="bob")
    assert call(handler, "unknown") == (401, expected.refused("unknown"))
    clock.now += REVALIDATE

    assert call(handler, "full") == (200, expected.listing("full"))
    assert requests.take() == [MARKER]
    assert call(handler, "unknown") == (200, expected.listing("bob"))
    assert requests.take() == ["GetItem", "GetItem"]


def _bob_keys(count: int) -> list[dict[str, Any]]:
    """`count` new keys of bob's, the once unknown key first."""
    return [{"key": world.UNKNOWN_KEY, "user": "bob"}] + [
        {"key": f"sk-batch-{i:048d}", "user": "bob"} for i in range(1, count)
    ]


def _throttle_batches_after_the_first(client: DynamoDBClient) -> None:
    """Every BatchWriteItem on `client` after the first comes back whole as UnprocessedItems, unsent (DynamoDB
    throttling without end): a botocore `before-call` handler that answers for the table."""
    calls: list[int] = []

    def throttle(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        calls.append(1)
        if len(calls) == 1:
            return None
        unsent = json.loads(params["body"])["RequestItems"]
        return AWSResponse("http://throttled", 200, HTTPHeaders(), None), {"UnprocessedItems": unsent}

    # A before-call handler that returns (response, parsed) answers in the service's stead; the stubs say None.
    client.meta.events.register("before-call.dynamodb.BatchWriteItem", throttle)  # type: ignore[arg-type]


class Interrupted(Exception):
    """What a follower's SIGTERM (`Stopped`) or Ctrl-C raises from a batch's progress callback."""


def _interrupt(_: int) -> None:
    raise Interrupted


@pytest.mark.parametrize("stop", ["progress raises", "a later chunk throttled"])
def test_a_batch_stopped_after_its_first_chunk_still_announces_what_it_wrote(
    seeded: Registry, reads: DynamoDBClient, stop: str
) -> None:
    """GIVEN a key refused as unknown (remembered) by a warm container WHEN a batch of 30 new keys of bob's, that key
    first, stops after its first chunk of 25 (its progress callback raises, or the second chunk stays throttled)
    THEN the batch's error reaches the caller, the marker moved once, logging the chunks it sent, and once due the
    container serves the key: a re-run would write only the other keys, so this was the one chance to say so."""
    clock = Clock()
    requests = Requests(reads)
    handler = clocked(reads, clock)
    _warm(handler, requests, ("full",))
    assert call(handler, "unknown") == (401, expected.refused("unknown"))
    assert requests.take() == ["GetItem"]
    before = seeded.marker().revision
    tokens = _bob_keys(30)

    if stop == "progress raises":
        with pytest.raises(Interrupted):
            seeded.put_new_tokens(tokens, progress=_interrupt)
        sent = tokens[:25]
    else:
        _throttle_batches_after_the_first(seeded.client)
        with pytest.raises(RegistryError, match="kept throttling the batch write"):
            seeded.put_new_tokens(tokens)
        sent = tokens  # the second chunk was sent too, and might have been written in part
    assert seeded.get(layout.token_key(key_hash(world.UNKNOWN_KEY))) is not None
    after = seeded.marker()
    assert after.revision == before + 1
    assert after.changed_since(before) == frozenset(layout.fingerprint(f"TOKEN#{key_hash(t['key'])}") for t in sent)

    clock.now += REVALIDATE
    assert call(handler, "full") == (200, expected.listing("full"))
    assert requests.take() == [MARKER]
    assert call(handler, "unknown") == (200, expected.listing("bob"))


def test_a_batch_whose_logged_marker_move_always_loses_moves_it_plainly(
    seeded: Registry, reads: DynamoDBClient
) -> None:
    """GIVEN a key refused as unknown by a warm container, and a rival writer that moves the marker before every
    conditional (logged) marker move of ours WHEN a batch writes that key THEN after the 12 logged tries the marker
    is moved without condition and without a log, the batch succeeds, and once due the container, unable to know
    what changed, reads everything again and serves the key."""
    clock = Clock()
    requests = Requests(reads)
    handler = clocked(reads, clock)
    _warm(handler, requests, ("full",))
    assert call(handler, "unknown") == (401, expected.refused("unknown"))
    assert requests.take() == ["GetItem"]
    rival = Registry(boto3.client("dynamodb", region_name="us-east-1"), TABLE)
    logged: list[int] = []

    def race(params: dict[str, Any], **_: Any) -> None:
        if params["Key"][layout.PK]["S"] == layout.CHANGES and "ConditionExpression" in params:
            logged.append(1)
            rival.revoke_sessions("bob", now=1.0)

    seeded.client.meta.events.register("before-parameter-build.dynamodb.UpdateItem", race)
    before = seeded.marker().revision

    seeded.put_new_tokens(_bob_keys(1))

    assert len(logged) == CONFLICT_ATTEMPTS
    after = seeded.marker()
    assert (after.revision, after.log) == (before + CONFLICT_ATTEMPTS + 1, ())
    clock.now += REVALIDATE
    _everything_read_again(handler, requests)
    assert call(handler, "unknown") == (200, expected.listing("bob"))


def _everything_read_again(handler: Mangum, requests: Requests) -> None:
    assert call(handler, "full") == (200, expected.listing("full"))
    assert requests.take() == [MARKER, "GetItem", "GetItem", "Query"]  # marker, then token, user and view again
    assert call(handler, "full") == (200, expected.listing("full"))
    assert requests.take() == []


def test_a_container_behind_the_log_drops_everything(seeded: Registry, reads: DynamoDBClient) -> None:
    """GIVEN alice's key served WHEN unrelated writes (bob's sessions revoked) move the marker exactly as many
    revisions as its log holds THEN alice's key costs the marker alone; WHEN one more than the log holds
    THEN the container cannot know what changed and reads everything again."""
    entries = layout.LOG_BYTES // (layout.FINGERPRINT_BYTES + 1)  # single-key revisions the log keeps
    for behind, cost in ((entries, [MARKER]), (entries + 1, None)):
        clock = Clock()
        requests = Requests(reads)
        handler = clocked(reads, clock)
        _warm(handler, requests, ("full",))
        for _ in range(behind):
            seeded.revoke_sessions("bob", now=time.time())
        assert len(seeded.marker().log) == entries
        clock.now += REVALIDATE
        if cost is None:
            _everything_read_again(handler, requests)
        else:
            assert call(handler, "full") == (200, expected.listing("full"))
            assert requests.take() == cost


def test_a_bulk_write_of_more_keys_than_a_revision_logs_drops_everything(
    seeded: Registry, reads: DynamoDBClient
) -> None:
    """GIVEN alice's key served WHEN one batch writes more users than one revision logs THEN the log says
    "everything" and the container reads everything again; WHEN a batch writes as many as it logs THEN alice's key
    costs the marker alone."""
    for count, everything in ((layout.KEYS_PER_REVISION + 1, True), (layout.KEYS_PER_REVISION, False)):
        clock = Clock()
        requests = Requests(reads)
        handler = clocked(reads, clock)
        _warm(handler, requests, ("full",))
        seeded.put_new_users([{"id": f"bulk{count}-{i}", "group": "basic"} for i in range(count)])
        clock.now += REVALIDATE
        if everything:
            _everything_read_again(handler, requests)
        else:
            assert call(handler, "full") == (200, expected.listing("full"))
            assert requests.take() == [MARKER]


def test_a_marker_moved_by_an_older_writer_drops_everything(seeded: Registry, reads: DynamoDBClient) -> None:
    """GIVEN alice's key served WHEN a writer that only adds one to the revision (an earlier modelgate) moves the
    marker THEN its log no longer ends at the revision, says nothing, and everything is read again."""
    clock = Clock()
    requests = Requests(reads)
    handler = clocked(reads, clock)
    _warm(handler, requests, ("full",))
    seeded.client.update_item(
        TableName=TABLE,
        Key={k: {"S": v} for k, v in layout.changes_key().items()},
        UpdateExpression="ADD #r :one",
        ExpressionAttributeNames={"#r": layout.REVISION},
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    clock.now += REVALIDATE
    _everything_read_again(handler, requests)


def test_the_marker_item_logs_the_pks_each_revision_wrote(seeded: Registry) -> None:
    """GIVEN the seeded table WHEN a key is disabled, then a group changed (its item and view chunks) THEN the marker
    item holds exactly: its revision, when, the log ending at that revision, one entry per revision, the last two
    the token's fingerprint and the group's (one for the group and its chunks)."""
    before = revision(seeded)
    token = seeded.get(layout.token_key(key_hash(world.KEYS["bob"])))
    assert token is not None
    seeded.set_token_status(str(token["token_id"]), "disabled")
    seeded.put_group("basic", ["davinci"])

    item = seeded.client.get_item(TableName=TABLE, Key={k: {"S": v} for k, v in layout.changes_key().items()})["Item"]
    assert sorted(item) == ["changed_at", "log", "log_revision", "pk", "revision", "sk"]
    assert item["revision"] == item["log_revision"] == {"N": str(before + 2)}
    assert abs(int(item["changed_at"]["N"]) - time.time()) < 60
    entries = [entry["B"] for entry in item["log"]["L"]]
    assert len(entries) == before + 2  # every revision of the seed, each of a few keys, fits
    assert entries[-2:] == [
        layout.fingerprint(layout.token_key(key_hash(world.KEYS["bob"]))[layout.PK]),
        layout.fingerprint("GROUP#basic"),
    ]
    assert seeded.marker().changed_since(before) == frozenset(entries[-2:])


# -- unknown keys: a flood costs one read per key and never evicts what is known -------------------------------------


def test_a_flood_of_unknown_keys_never_evicts_known_tokens_users_or_views(reads: DynamoDBClient) -> None:
    """GIVEN CACHE_MAX_ENTRIES=1000 and a warm container serving alice's key, bob's key, alice's session and an
    anonymous caller WHEN 1,001 random never-seen keys are tried, more than the cache holds
    THEN each is refused at the cost of one GetItem (1,001 reads per 1,001 keys, never more), and afterwards every
    known caller is served with 0 requests: unknown keys evict only other unknown keys. The last unknown key tried is
    still remembered (0 requests), the first was evicted by the others (1 read)."""
    clock = Clock()
    requests = Requests(reads)
    handler = clocked(reads, clock, cache_max_entries=1_000)
    known = ("full", "bob", "session:alice", "anonymous")
    _warm(handler, requests, known)

    flood = [f"sk-flood-{i:05d}-{secrets.token_hex(20)}" for i in range(1_001)]
    for key in flood:
        assert call_with_key(handler, key)[0] == 401
    assert requests.take() == ["GetItem"] * len(flood)

    for caller in known:
        assert call(handler, caller) == (200, expected.listing(caller))
    assert requests.take() == []
    assert call_with_key(handler, flood[-1])[0] == 401
    assert requests.take() == []
    assert call_with_key(handler, flood[0])[0] == 401
    assert requests.take() == ["GetItem"]


def test_two_keys_sharing_a_tag_are_never_both_held() -> None:
    """GIVEN a tagged cache in which two keys share a tag (as two pks may share a fingerprint) WHEN both are put
    THEN only the second is held, so discarding that tag leaves neither: a collision costs a read, never a stale
    record."""
    cache: TtlCache[str, int] = TtlCache(math.inf, 10, tag=lambda key: key[0])
    cache.put("a1", 1)
    cache.put("b1", 2)
    cache.put("a2", 3)
    assert (cache.get("a1"), cache.get("a2"), cache.get("b1")) == (MISSING, 3, 2)
    assert cache.discard_tagged({"a", "z"}) == 1
    assert (cache.get("a2"), cache.get("b1"), len(cache)) == (MISSING, 2, 1)
