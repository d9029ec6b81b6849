"""GIVEN a DynamoDB that hangs (its process stopped: connections accepted, nothing answered) or drops its
connections WHEN callers keep calling THEN after the first failed read the container asks the store nothing until
its probe is due: cached callers get their own lists from cache, uncached ones a 503 in their dialect, and the store
is seen back within REVALIDATE_SECONDS. `serve` keeps answering cached callers while a store read hangs.

What is asserted is what the code decides: store requests counted at the client (or at a proxy in front of a real
engine), the probe schedule on a driven clock, the client's budget. How long each answer takes under a real outage
is the benchmark's (`./infra/dev bench --only brownout`).
"""

from __future__ import annotations

import concurrent.futures
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest
import uvicorn
from botocore.config import Config
from mangum import Mangum

from handler.core.sessions import SessionSigner
from handler.store.budget import CLIENT_CONFIG, QuickRetry
from handler.store.dynamodb import DynamoDirectory
from handler.web.app import create_app
from handler.wiring import MIN_PROBE_INTERVAL, build_service, dynamodb_client, probe_interval
from infra.bench.proxy import FaultProxy, fault_proxy
from infra.bench.wire import RequestCounter
from infra.local.embedded import free_port
from infra.registry import Registry
from tests.conftest import TABLE, settings_for
from tests.hardening.faults import Clock, InjectedErrors
from tests.hardening.wire import Request, via_lambda
from tests.support import expected, world
from tests.support.server import fresh_table

REVALIDATE = 2.0  # the default REVALIDATE_SECONDS: the probe interval too
NOW = 1_000.0
# Issued after the test table creates alice: a session older than its user is refused.
SESSION = SessionSigner(world.SESSION_SECRET).issue("alice", now=int(time.time()) + 600, ttl_seconds=3600)
CACHED = {
    "full": Request(headers=(("Authorization", f"Bearer {world.KEYS['full']}"),)),
    "session:alice": Request(cookies=(f"modelgate_session={SESSION}",)),
    "anonymous": Request(),
}
UNCACHED = Request(headers=(("Authorization", f"Bearer {world.KEYS['bob']}"),))
MESSAGE = "The model directory is temporarily unavailable. Please retry shortly."
# An uncached caller during the outage, in each dialect, and the 503 it gets.
DIALECTS = {
    "openai": (UNCACHED, expected.UNAVAILABLE),
    "anthropic": (
        Request(headers=(("x-api-key", world.KEYS["bob"]), ("anthropic-version", "2023-06-01"))),
        expected.anthropic_error("api_error", MESSAGE),
    ),
    "gemini": (
        Request(path="/v1beta/models", headers=(("x-goog-api-key", world.KEYS["bob"]),)),
        expected.google_error(503, "UNAVAILABLE", MESSAGE),
    ),
}
# Each outage, and the store requests its first failed read makes: a timeout is never retried (a retry would not
# fit in the call's budget); a dropped connection is, once.
OUTAGES = {"hung": ("ReadTimeoutError", 1), "dropping": ("ConnectionClosedError", 2)}


def assert_lists(reply: Any, caller: str) -> None:
    assert reply.status == 200, reply.body[:200]
    assert [m["id"] for m in reply.json()["data"]] == world.EXPECTED[caller]


@dataclass
class Container:
    """A warm Lambda container (Mangum over the production wiring) on a driven clock, its store faulted."""

    handler: Mangum
    clock: Clock
    faults: InjectedErrors | None = None  # None: the faults are a real engine's (FaultProxy)

    @property
    def sent(self) -> int:
        assert self.faults is not None
        return self.faults.sent

    def fail(self, code: str | None) -> None:
        assert self.faults is not None
        self.faults.fail(code, "token", "user", "group", "marker")

    def call(self, request: Request) -> Any:
        return via_lambda(self.handler, "http-api-v2", request)

    def warm(self) -> None:
        for caller, request in CACHED.items():
            assert_lists(self.call(request), caller)


@pytest.fixture
def container(world_table: Registry) -> Container:
    clock = Clock(NOW)
    client = boto3.client("dynamodb", region_name="us-east-1", config=Config(**CLIENT_CONFIG))
    QuickRetry(clock=clock).install(client)  # the call budget on the same clock the faults move
    faults = InjectedErrors(client, clock)
    service = build_service(settings_for(), DynamoDirectory(client, TABLE), clock=clock)
    return Container(Mangum(create_app(service), lifespan="off"), clock, faults)


def test_the_probe_interval_is_the_revalidation_interval_with_a_floor() -> None:
    """GIVEN REVALIDATE_SECONDS THEN the circuit probes as often as a healthy container revalidates, never more than
    once a second: a brownout never adds load on the store, and recovery comes within REVALIDATE_SECONDS."""
    for revalidate, interval in ((2.0, 2.0), (30.0, 30.0), (0.5, MIN_PROBE_INTERVAL), (0.0, MIN_PROBE_INTERVAL)):
        assert probe_interval(settings_for(revalidate_seconds=revalidate)) == interval


@pytest.mark.parametrize("outage", list(OUTAGES))
def test_after_one_failed_read_cached_callers_are_answered_without_the_store(container: Container, outage: str) -> None:
    code, first_failure = OUTAGES[outage]
    # GIVEN a warm container: a key, a session and an anonymous caller served once
    container.warm()
    # AND then the store hangs (or drops connections), and revalidation comes due
    container.fail(code)
    container.clock.now += REVALIDATE + 0.5
    before = container.sent
    # WHEN the first caller calls THEN its own list, from cache, after one failed read of the store
    assert_lists(container.call(CACHED["full"]), "full")
    assert container.sent - before == first_failure
    # WHEN every cached caller calls 30 times more, before the probe is due
    before = container.sent
    for _ in range(30):
        container.clock.now += 0.02
        for caller, request in CACHED.items():
            # THEN each gets its own list
            assert_lists(container.call(request), caller)
    # AND the store was asked nothing
    assert container.sent == before
    # AND an uncached caller gets the 503, also without a store request
    reply = container.call(UNCACHED)
    assert (reply.status, reply.json(), reply.headers["retry-after"]) == (503, expected.UNAVAILABLE, "1")
    assert container.sent == before


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_an_uncached_caller_gets_an_immediate_503_in_its_dialect(container: Container, dialect: str) -> None:
    # GIVEN a warm container whose store hung on its last read
    container.warm()
    container.fail("ReadTimeoutError")
    container.clock.now += REVALIDATE + 0.5
    assert_lists(container.call(CACHED["anonymous"]), "anonymous")
    before = container.sent
    # WHEN a caller never read before calls, in its dialect
    request, body = DIALECTS[dialect]
    reply = container.call(request)
    # THEN 503 in that dialect's shape, with Retry-After, and no store request
    assert reply.status == 503
    document = reply.json()
    document.pop("request_id", None)  # Anthropic's: a fresh id per request
    assert document == body
    assert reply.headers["retry-after"] == "1"
    assert container.sent == before


def test_the_store_is_probed_once_per_interval_and_seen_back_within_it(container: Container) -> None:
    # GIVEN a warm container whose store hangs from revalidation onwards
    container.warm()
    container.fail("ReadTimeoutError")
    container.clock.now += REVALIDATE
    moments: list[float] = []
    step = 0.1
    # WHEN cached callers call every 0.1 s for 20 s, and an uncached one too
    for _ in range(200):
        container.clock.now += step
        sent = container.sent
        started = container.clock.now
        assert_lists(container.call(CACHED["full"]), "full")
        assert container.call(UNCACHED).status == 503
        if container.sent != sent:
            moments.append(started)
    # THEN the store was asked at the first call, then once per probe interval from the last probe's start (each
    # probe a single attempt), at the first call after it: never more often
    assert moments[0] == NOW + REVALIDATE + step
    gaps = [later - earlier for earlier, later in itertools.pairwise(moments)]
    assert len(gaps) >= 7
    assert all(REVALIDATE - 1e-6 <= gap <= REVALIDATE + step + 1e-6 for gap in gaps), gaps
    # WHEN the store comes back
    container.fail(None)
    back = container.clock.now
    answers = []
    for _ in range(40):
        container.clock.now += step
        answers.append((container.clock.now - back, container.call(UNCACHED)))
    # THEN the uncached caller gets 503 until the next probe, and its own list from then on, within
    # REVALIDATE_SECONDS of the store's return
    recovered = [after for after, reply in answers if reply.status == 200]
    assert 0 < recovered[0] <= REVALIDATE + 1e-6
    for after, reply in answers:
        if after < recovered[0]:
            assert reply.status == 503
        else:
            assert_lists(reply, "bob")
    # AND with the circuit closed, a fault-free store is asked again as usual
    assert_lists(container.call(CACHED["session:alice"]), "session:alice")


# --- A real engine behind a proxy that hangs or drops: real sockets, real botocore timeouts ---


@pytest.fixture
def engine_table(moto_endpoint: str) -> Iterator[tuple[str, FaultProxy]]:
    table, _ = fresh_table(moto_endpoint)
    with fault_proxy(moto_endpoint) as proxy:
        yield table, proxy


@pytest.mark.integration
@pytest.mark.parametrize(("mode", "first_failure"), [("hang", 1), ("drop", 2)])
def test_a_real_engine_that_hangs_or_drops_is_asked_once_then_not_again(
    engine_table: tuple[str, FaultProxy], mode: str, first_failure: int
) -> None:
    table, proxy = engine_table
    clock = Clock(NOW)
    # GIVEN the production client (its timeouts and retry rule) reaching moto's server through a proxy, warm. A hang
    # takes the real read timeout; a drop fails at once, so its retry rule may read the driven clock, which stands
    # still however busy the machine is.
    settings = settings_for(table_name=table, dynamodb_endpoint_url=proxy.url)
    store = DynamoDirectory(dynamodb_client(settings, clock if mode == "drop" else time.monotonic), table)
    container = Container(Mangum(create_app(build_service(settings, store, clock=clock)), lifespan="off"), clock)
    container.warm()
    # WHEN the engine stops answering (or drops every connection) and revalidation comes due
    proxy.mode = mode
    clock.now += REVALIDATE + 0.5
    before = proxy.requests
    # THEN the first caller gets its list from cache, after `first_failure` requests reached the engine
    assert_lists(container.call(CACHED["full"]), "full")
    assert proxy.requests - before == first_failure
    # AND twenty rounds of cached callers, and an uncached caller, reach it no more
    for _ in range(20):
        clock.now += 0.05
        for caller, request in CACHED.items():
            assert_lists(container.call(request), caller)
    assert container.call(UNCACHED).status == 503
    assert proxy.requests - before == first_failure
    # WHEN the engine is back and the probe comes due THEN fresh reads again
    proxy.mode = "pass"
    clock.now += REVALIDATE
    assert_lists(container.call(UNCACHED), "bob")


@pytest.mark.integration
def test_serve_answers_cached_callers_while_a_store_read_hangs(engine_table: tuple[str, FaultProxy]) -> None:
    table, proxy = engine_table
    # GIVEN the app on uvicorn (as `modelgate serve` runs it) over a store whose reads wait as long as it hangs
    settings = settings_for(table_name=table, dynamodb_endpoint_url=proxy.url)
    client = boto3.client(
        "dynamodb",
        endpoint_url=proxy.url,
        region_name="us-east-1",
        config=Config(connect_timeout=5, read_timeout=60, retries={"total_max_attempts": 1}),
    )
    attempts = RequestCounter(client)
    app = create_app(build_service(settings, DynamoDirectory(client, table), clock=Clock(NOW)))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
    pool.submit(server.run)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        full = {"Authorization": f"Bearer {world.KEYS['full']}"}
        assert http.get("/v1/models", headers=full).status_code == 200  # warm: the key is cached
        # AND the store hangs while an uncached caller's read is out
        proxy.mode = "hang"
        pending = pool.submit(http.get, "/v1/models", headers={"Authorization": f"Bearer {world.KEYS['bob']}"})
        assert proxy.held.acquire(timeout=10), "the uncached caller's read never reached the store"
        # WHEN the cached caller calls meanwhile
        reply = httpx.get(f"http://127.0.0.1:{port}/v1/models", headers=full, timeout=10)
        # THEN it gets its own list while the uncached caller's read is still held by the store
        assert reply.status_code == 200
        assert [m["id"] for m in reply.json()["data"]] == world.EXPECTED["full"]
        assert not pending.done()
        # WHEN another uncached caller calls meanwhile, and then the store drops the held connection
        other = pool.submit(http.get, "/v1/models", headers={"Authorization": f"Bearer {world.KEYS['limited']}"})
        sent = attempts.total
        proxy.cut()
        # THEN both get their 503, and the second one never reached the store: it waited for the store's turn (or
        # came after), and the failed read before it had opened the circuit
        assert pending.result(timeout=30).status_code == 503
        assert other.result(timeout=30).status_code == 503
        assert attempts.total == sent
    finally:
        http.close()
        server.should_exit = True
        pool.shutdown(wait=True)
