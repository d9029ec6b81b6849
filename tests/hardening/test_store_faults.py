"""GIVEN a DynamoDB that throttles, fails, refuses, hangs or holds malformed items WHEN callers call
THEN each gets 503 in the OpenAI shape with Retry-After, after the store requests the client's budget allows, and
never a list that is not theirs.

Faults are injected at the function's own DynamoDB client (built by handler.wiring with handler.store.budget), so
botocore's real timeouts and the retry rule run: error responses come from a `before-send` hook, a refused
connection from a closed loopback port, a read timeout from a loopback listener that never answers. No test times
an answer: how long a 503 takes is the benchmark's (`./infra/dev bench --only brownout`).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from mangum import Mangum

from handler.core.keys import key_hash
from handler.core.sessions import SessionSigner
from handler.store import budget, layout
from handler.store.dynamodb import DynamoDirectory
from handler.web.app import create_app
from handler.wiring import build_service, dynamodb_client, probe_interval
from infra.bench.wire import RequestCounter
from infra.registry import Registry
from tests.conftest import TABLE, settings_for
from tests.hardening.faults import ERROR_STATUS, Clock, InjectedErrors, closed_port, silent_listener
from tests.hardening.wire import Reply, Request, via_lambda
from tests.support import world

SIGNER = SessionSigner(world.SESSION_SECRET)
CALLERS = {
    "key": Request(headers=(("Authorization", f"Bearer {world.KEYS['full']}"),)),
    "session": Request(
        cookies=(f"modelgate_session={SIGNER.issue('alice', now=int(time.time()) + 600, ttl_seconds=3600)}",)
    ),
    "anonymous": Request(),
}
EXPECTED = {"key": "full", "session": "session:alice", "anonymous": "anonymous"}
UNAVAILABLE = {
    "error": {
        "message": "The model directory is temporarily unavailable. Please retry shortly.",
        "type": "server_error",
        "param": None,
        "code": "service_unavailable",
    }
}


def assert_unavailable(reply: Reply) -> None:
    assert reply.status == 503
    assert reply.json() == UNAVAILABLE
    assert reply.headers["retry-after"] == "1"


def assert_lists(reply: Reply, caller: str) -> None:
    assert reply.status == 200, reply.body[:200]
    assert [m["id"] for m in reply.json()["data"]] == world.EXPECTED[caller]


# --- The client's budget: what one DynamoDB call may cost ---


def test_the_wired_client_has_the_budgets_timeouts_and_no_botocore_retries() -> None:
    """GIVEN the function's DynamoDB client THEN its timeouts are the budget's, and botocore makes one attempt
    (QuickRetry, not botocore's version-dependent backoff, decides the one retry)."""
    config: Any = dynamodb_client(settings_for()).meta.config
    assert (config.connect_timeout, config.read_timeout) == (budget.CONNECT_TIMEOUT, budget.READ_TIMEOUT)
    assert config.retries["total_max_attempts"] == 1


def test_the_slowest_failing_call_fits_in_the_budget_and_the_budget_in_a_second() -> None:
    """One attempt timing out, or a fast failure and its retry: either way within CALL_BUDGET, which leaves room
    inside the stack's 1 s p99 alarm (one failed call opens the circuit, so a request makes at most one)."""
    assert budget.CONNECT_TIMEOUT + budget.READ_TIMEOUT <= budget.CALL_BUDGET < 1.0
    assert budget.ATTEMPTS == 2


def _needs_retry(elapsed: float, attempts: int = 1, **outcome: Any) -> float | None:
    clock = Clock(0.0)
    rule = budget.QuickRetry(clock=clock, jitter=lambda: 1.0)  # the longest delay the jitter may draw
    context: dict[str, Any] = {}
    rule.started(params={"context": context})
    clock.now = elapsed
    return rule.needs_retry(attempts=attempts, request_dict={"context": context}, **outcome)


def _error(code: str, status: int) -> tuple[AWSResponse, dict[str, Any]]:
    http = AWSResponse("https://dynamodb", status, HTTPHeaders(), None)
    return http, {"Error": {"Code": code}}


URL = "https://dynamodb.us-east-1.amazonaws.com/"
CURABLE: dict[str, dict[str, Any]] = {
    "throttle": {"response": _error("ProvisionedThroughputExceededException", 400)},
    "server error": {"response": _error("InternalServerError", 500)},
    "dropped connection": {"caught_exception": ConnectionClosedError(endpoint_url=URL)},
    "refused connection": {"caught_exception": EndpointConnectionError(endpoint_url=URL)},
}


@pytest.mark.parametrize("failure", list(CURABLE))
def test_a_fast_curable_failure_is_retried_once_after_at_most_the_retry_delay(failure: str) -> None:
    assert _needs_retry(0.01, **CURABLE[failure]) == budget.RETRY_DELAY
    assert _needs_retry(0.01, attempts=2, **CURABLE[failure]) is None


@pytest.mark.parametrize("failure", list(CURABLE))
def test_a_retry_that_would_end_past_the_budget_is_not_made(failure: str) -> None:
    latest = budget.CALL_BUDGET - budget.RETRY_DELAY - budget.CONNECT_TIMEOUT - budget.READ_TIMEOUT
    assert _needs_retry(latest, **CURABLE[failure]) == budget.RETRY_DELAY
    assert _needs_retry(latest + 0.001, **CURABLE[failure]) is None


def test_a_timed_out_attempt_is_never_retried() -> None:
    """A hung store costs one attempt: a read timeout takes READ_TIMEOUT, and a retry would not fit after it."""
    assert _needs_retry(budget.READ_TIMEOUT, caught_exception=ReadTimeoutError(endpoint_url=URL)) is None


@pytest.mark.parametrize(("code", "status"), [("ValidationException", 400), ("ResourceNotFoundException", 400)])
def test_an_answer_a_retry_cannot_change_is_not_retried(code: str, status: int) -> None:
    assert _needs_retry(0.0, response=_error(code, status)) is None


# --- Error responses: throttling and server errors on each lookup ---

LOOKUPS = [
    ("key", "token"),
    ("key", "user"),
    ("key", "group"),
    ("session", "user"),
    ("anonymous", "marker"),
    ("anonymous", "group"),
]


@pytest.fixture
def injected(world_table: Registry) -> tuple[Mangum, InjectedErrors, Clock]:
    """The production wiring (its own client, timeouts and retry rule) over the seeded moto table, with a fault
    hook, the cache and circuit on a clock the test moves."""
    settings = settings_for()
    clock = Clock()  # it stands still while the injected errors answer: the retry always fits in the budget
    store = DynamoDirectory(dynamodb_client(settings, clock), settings.table_name)
    handler = Mangum(create_app(build_service(settings, store, clock=clock)), lifespan="off")
    return handler, InjectedErrors(store.client), clock


@pytest.mark.parametrize("code", list(ERROR_STATUS))
@pytest.mark.parametrize(("caller", "lookup"), LOOKUPS, ids=[f"{c}-{lookup}" for c, lookup in LOOKUPS])
def test_an_error_response_gives_503_and_never_another_list(
    injected: tuple[Mangum, InjectedErrors, Clock], code: str, caller: str, lookup: str
) -> None:
    handler, faults, clock = injected
    # GIVEN DynamoDB answers the caller's `lookup` with `code`, on every attempt
    faults.fail(code, lookup)
    # WHEN the caller lists models
    reply = via_lambda(handler, "http-api-v2", CALLERS[caller])
    # THEN 503 with Retry-After, after the client retried once (a fast failure: the retry fits in the budget)
    assert_unavailable(reply)
    assert faults.injected == 2
    # AND once DynamoDB recovers, the caller gets its 503 without a store request until the circuit's probe is due
    faults.fail(None)
    sent = faults.sent
    assert_unavailable(via_lambda(handler, "http-api-v2", CALLERS[caller]))
    assert faults.sent == sent
    # AND then its own list: the failure was not cached
    clock.now += probe_interval(settings_for())
    assert_lists(via_lambda(handler, "http-api-v2", CALLERS[caller]), EXPECTED[caller])


def test_one_throttled_attempt_is_retried_and_answers_right(injected: tuple[Mangum, InjectedErrors, Clock]) -> None:
    """GIVEN DynamoDB throttles the token lookup once WHEN a key calls THEN the retry gets the real list."""
    handler, faults, _ = injected
    faults.fail("ProvisionedThroughputExceededException", "token", times=1)
    assert_lists(via_lambda(handler, "http-api-v2", CALLERS["key"]), "full")
    assert faults.injected == 1


# --- Connection refused and read timeouts ---


# A refused connection fails at once and is retried once; a read timeout spends the budget and is not.
UNREACHABLE = [(closed_port, 2), (silent_listener, 1)]


@pytest.mark.parametrize(("endpoint", "attempts"), UNREACHABLE, ids=["connection-refused", "read-timeout"])
@pytest.mark.parametrize("caller", list(CALLERS))
def test_an_unreachable_store_gives_503_after_one_failed_call(
    endpoint: Callable[[], Any], attempts: int, caller: str
) -> None:
    clock = Clock()  # the cache's and the circuit's: nothing is due again while the test runs
    with endpoint() as url:
        # GIVEN the function's DynamoDB endpoint refuses connections, or accepts and never answers. A read timeout
        # takes real time; a refusal fails at once, so its retry rule may read the driven clock, which stands still
        # however busy the machine is.
        settings = settings_for(dynamodb_endpoint_url=url)
        store = DynamoDirectory(dynamodb_client(settings, clock if endpoint is closed_port else time.monotonic), TABLE)
        sent = RequestCounter(store.client)
        handler = Mangum(create_app(build_service(settings, store, clock=clock)), lifespan="off")
        # WHEN a cold caller of each kind lists models
        reply = via_lambda(handler, "http-api-v2", CALLERS[caller])
        # THEN 503 with Retry-After, never the default list, after one failed call (the circuit opened on it)
        assert_unavailable(reply)
        assert sent.total == attempts
        # AND a second caller gets its 503 without another attempt
        assert_unavailable(via_lambda(handler, "http-api-v2", CALLERS["anonymous"]))
        assert sent.total == attempts


# --- Malformed items written straight into the table ---


@pytest.fixture
def edit(world_table: Registry) -> Iterator[Callable[[dict[str, str], Callable[[dict[str, Any]], None]], None]]:
    """Rewrite one item of the shared world table by hand; every edited item is put back afterwards."""
    originals: list[dict[str, Any]] = []

    def apply(key: dict[str, str], change: Callable[[dict[str, Any]], None]) -> None:
        item_key = {name: {"S": value} for name, value in key.items()}
        item: dict[str, Any] = world_table.client.get_item(TableName=TABLE, Key=item_key)["Item"]
        originals.append(dict(item))
        change(item)
        world_table.client.put_item(TableName=TABLE, Item=item)

    yield apply
    for item in reversed(originals):
        world_table.client.put_item(TableName=TABLE, Item=item)


def _drop(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda item: item.pop(name)


def _set(name: str, value: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda item: item.__setitem__(name, value)


TOKEN = layout.token_key(key_hash(world.KEYS["full"]))
ALICE = layout.user_key("alice")
DEFAULT_VIEW = {layout.PK: layout.group_key("default")[layout.PK], layout.SK: layout.view_sk(0)}
VIP_VIEW = {layout.PK: layout.group_key("vip")[layout.PK], layout.SK: layout.view_sk(0)}

MALFORMED = [
    ("token without user_id", TOKEN, _drop("user_id"), "key"),
    ("token without status", TOKEN, _drop("status"), "key"),
    ("token status not a string", TOKEN, _set("status", {"N": "1"}), "key"),
    ("token models not a list", TOKEN, _set("models", {"S": "gpt-4o"}), "key"),
    ("token models holding a number", TOKEN, _set("models", {"L": [{"N": "1"}]}), "key"),
    ("token expires_at a string", TOKEN, _set("expires_at", {"S": "2099-01-01"}), "key"),
    ("user without group", ALICE, _drop("group"), "key"),
    ("user without group (session)", ALICE, _drop("group"), "session"),
    ("user status a list", ALICE, _set("status", {"L": []}), "session"),
    ("view not zlib", DEFAULT_VIEW, _set("data", {"B": b"not zlib at all"}), "anonymous"),
    ("view zlib but not JSON", DEFAULT_VIEW, _set("data", {"B": zlib.compress(b"{not json")}), "anonymous"),
    ("view JSON but not pairs", DEFAULT_VIEW, _set("data", {"B": zlib.compress(b"[[1, 2, 3]]")}), "anonymous"),
    ("view entry not an object", VIP_VIEW, _set("data", {"B": zlib.compress(b'[["gpt-4o", 5]]')}), "key"),
    ("view data a string", VIP_VIEW, _set("data", {"S": "x"}), "session"),
    ("view without version", DEFAULT_VIEW, _drop("version"), "anonymous"),
    ("view missing a chunk", DEFAULT_VIEW, _set("chunks", {"N": "2"}), "anonymous"),
]


@pytest.mark.parametrize(("key", "change", "caller"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_a_malformed_item_gives_503_not_a_guess(edit: Any, key: dict[str, str], change: Any, caller: str) -> None:
    # GIVEN an item the function reads was written malformed (by hand, or by an old tool)
    edit(key, change)
    handler = Mangum(create_app(build_service(settings_for())), lifespan="off")
    # WHEN its caller lists models THEN 503, never a default or partial list
    assert_unavailable(via_lambda(handler, "http-api-v2", CALLERS[caller]))
    # AND a caller who reads none of that item is unaffected: a record the store answered with is no outage, and
    # opens no circuit
    bob = Request(headers=(("Authorization", f"Bearer {world.KEYS['bob']}"),))
    assert_lists(via_lambda(handler, "http-api-v2", bob), "bob")


def test_an_unexpected_status_value_is_refused_not_enabled(edit: Any) -> None:
    """GIVEN a token whose status reads `ENABLED` (not the exact `enabled`) WHEN it calls THEN 401: fail closed."""
    edit(TOKEN, _set("status", {"S": "ENABLED"}))
    handler = Mangum(create_app(build_service(settings_for())), lifespan="off")
    reply = via_lambda(handler, "http-api-v2", CALLERS["key"])
    assert reply.status == 401
    assert reply.json()["error"]["code"] == "invalid_api_key"


# --- Stale-if-error ---


REVALIDATE, WINDOW = 30.0, 300.0


@pytest.fixture
def stale_world(world_table: Registry) -> tuple[Mangum, InjectedErrors, Clock]:
    """handler.wiring's composition, on a clock the test moves: revalidation every 30 s, stale-if-error window
    300 s past it."""
    settings = settings_for(revalidate_seconds=REVALIDATE, stale_if_error_seconds=WINDOW)
    clock = Clock()
    store = DynamoDirectory(dynamodb_client(settings, clock), settings.table_name)
    app = create_app(build_service(settings, store, clock=clock))
    return Mangum(app, lifespan="off"), InjectedErrors(store.client), clock


@pytest.mark.parametrize("caller", list(CALLERS))
def test_stale_if_error_serves_the_last_good_list_within_the_window_only(
    stale_world: tuple[Mangum, InjectedErrors, Clock], caller: str
) -> None:
    handler, faults, clock = stale_world
    # GIVEN the caller's records were read at t0
    assert_lists(via_lambda(handler, "http-api-v2", CALLERS[caller]), EXPECTED[caller])
    # AND then DynamoDB fails every lookup
    faults.fail("InternalServerError", "token", "user", "group", "marker")
    # WHEN revalidation is due but the window has not passed THEN the last good list, exactly
    for offset in (REVALIDATE + 1, REVALIDATE + WINDOW - 1):
        clock.now = 1_000.0 + offset
        assert_lists(via_lambda(handler, "http-api-v2", CALLERS[caller]), EXPECTED[caller])
    # WHEN the window has passed too THEN 503
    clock.now = 1_000.0 + REVALIDATE + WINDOW + 1
    assert_unavailable(via_lambda(handler, "http-api-v2", CALLERS[caller]))


def test_stale_if_error_never_invents_a_record(stale_world: tuple[Mangum, InjectedErrors, Clock]) -> None:
    handler, faults, clock = stale_world
    # GIVEN the anonymous list was read, and an unknown key was refused, at t0
    assert_lists(via_lambda(handler, "http-api-v2", CALLERS["anonymous"]), "anonymous")
    unknown = Request(headers=(("Authorization", f"Bearer {world.UNKNOWN_KEY}"),))
    assert via_lambda(handler, "http-api-v2", unknown).status == 401
    # AND DynamoDB fails, within the window
    faults.fail("ThrottlingException", "token", "user", "group", "marker")
    clock.now += REVALIDATE + 1
    # WHEN a key never read before calls THEN 503: no default list, no guess
    assert_unavailable(
        via_lambda(handler, "http-api-v2", Request(headers=(("Authorization", f"Bearer {world.KEYS['bob']}"),)))
    )
    # WHEN the unknown key calls again THEN still 401: a stale "no such key" stays a refusal
    assert via_lambda(handler, "http-api-v2", unknown).status == 401


def test_an_unreadable_session_secret_gives_503_not_the_anonymous_list(world_table: Registry) -> None:
    """GIVEN the deployed session secret cannot be read (Secrets Manager answers ResourceNotFoundException)
    WHEN a caller presents a session THEN 503: not logged in is not assumed. A key caller is unaffected."""
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:modelgate-missing-AbCdEf"
    service = build_service(settings_for(session_secret=None, session_secret_arn=arn))
    handler = Mangum(create_app(service), lifespan="off")
    assert_unavailable(via_lambda(handler, "http-api-v2", CALLERS["session"]))
    assert_lists(via_lambda(handler, "http-api-v2", CALLERS["key"]), "full")
    assert_lists(via_lambda(handler, "http-api-v2", CALLERS["anonymous"]), "anonymous")
