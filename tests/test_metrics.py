"""EMF metrics (handler/metrics.py) through the real Lambda handler: counted per request, written as valid
Embedded Metric Format records at most once per interval, never per request, and never with a credential or a
model id in them. The clock is the test's; the records are what CloudWatch Logs would receive."""

from __future__ import annotations

import json
import signal
import threading
from collections import Counter
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from mangum import Mangum

from handler.metrics import REQUEST_DIMENSIONS, STORE_METRICS, Metrics
from handler.settings import Settings
from handler.store.budget import CLIENT_CONFIG, QuickRetry
from handler.store.dynamodb import DynamoDirectory
from handler.web.app import create_app
from handler.wiring import build_service
from tests.conftest import TABLE, settings_for
from tests.hardening.faults import InjectedErrors
from tests.support import expected, world
from tests.support.events import api_event, invoke

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from infra.registry import Registry

NAMESPACE = "modelgate/test"
WALL = 1_780_000_000.0  # the wall clock at the window's first request
CALLER_KINDS = {"key", "session", "anonymous", "none"}


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


class Emf:
    """The function, wired as in Lambda, with metrics on a test clock; `lines` is what it wrote to stdout."""

    def __init__(self, client: DynamoDBClient, **settings: Any) -> None:
        self.clock = Clock()
        self.lines: list[str] = []
        self.metrics = Metrics(
            NAMESPACE, clock=self.clock, wall_clock=lambda: WALL + self.clock.now - 500.0, write=self.lines.append
        )
        store = DynamoDirectory(client, TABLE, self.metrics)
        self.errors = InjectedErrors(client)
        self.handler = Mangum(create_app(build_service(settings_for(**settings), store, metrics=self.metrics)))

    def call(self, caller: str, path: str = "/v1/models") -> int:
        headers = expected.auth_headers(caller)
        event = api_event("http-api-v2", path, headers=headers, cookies=expected.cookies(caller))
        return invoke(self.handler, event).status

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


@pytest.fixture
def emf(seeded: Registry) -> Emf:
    # The function's own client settings (short timeouts, one quick retry), apart from the registry's client.
    client: DynamoDBClient = boto3.client("dynamodb", region_name="us-east-1", config=Config(**CLIENT_CONFIG))
    QuickRetry().install(client)
    return Emf(client)


def request_counts(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], int]:
    return {(r["Dialect"], r["Caller"], r["Status"]): r["Requests"] for r in records if "Requests" in r}


def store_record(records: list[dict[str, Any]]) -> dict[str, Any]:
    [record] = [r for r in records if "CacheHits" in r]
    return record


def assert_valid_emf(record: dict[str, Any]) -> None:
    """The EMF specification: _aws.Timestamp in epoch ms, CloudWatchMetrics directives with a namespace, dimension
    sets whose keys are root members with string values, and metrics whose names are root members with numbers."""
    meta = record["_aws"]
    assert isinstance(meta["Timestamp"], int)
    assert meta["Timestamp"] == int(WALL * 1000) or meta["Timestamp"] > int(WALL * 1000)
    [directive] = meta["CloudWatchMetrics"]
    assert set(directive) == {"Namespace", "Dimensions", "Metrics"}
    assert directive["Namespace"] == NAMESPACE
    for dimension_set in directive["Dimensions"]:
        assert len(dimension_set) <= 30
        for name in dimension_set:
            assert isinstance(record[name], str)
            assert 0 < len(record[name]) <= 1024
    assert 0 < len(directive["Metrics"]) <= 100
    for metric in directive["Metrics"]:
        assert metric["Unit"] == "Count"
        assert isinstance(record[metric["Name"]], int)
        assert record[metric["Name"]] >= 0
    assert record["level"] == "INFO"  # Lambda's log-level filter keeps it at the function's level


def test_n_requests_become_one_record_when_the_interval_has_passed(emf: Emf) -> None:
    """GIVEN a cold function WHEN one key lists 50 times within a minute THEN nothing is written; WHEN the next
    request comes after 60 s THEN one Requests record (50, by dialect, caller kind and status) and one record of
    the store's counters (3 misses and 3 DynamoDB requests cold, 3 cache hits per warm call) are written."""
    for _ in range(50):
        assert emf.call("full") == 200
        emf.clock.now += 1.0
    assert emf.lines == []  # never per request
    emf.clock.now = 500.0 + 60.0
    assert emf.call("full") == 200
    records = emf.records()
    assert len(records) == 2
    assert request_counts(records) == {("openai", "key", "200"): 50}
    store = store_record(records)
    assert {name: store[name] for name in STORE_METRICS} == {
        "CacheHits": 49 * 3 + 3,  # + the flushing request's own lookups, which come before its answer
        "CacheMisses": 3,
        "DynamoDBRequests": 3,
        "DynamoDBErrors": 0,
        "StoreFaults": 0,
    }
    for record in records:
        assert_valid_emf(record)
        assert record["_aws"]["Timestamp"] == int(WALL * 1000)  # the window's first request, not the flush


def test_records_are_flushed_at_most_once_per_interval(emf: Emf) -> None:
    """GIVEN requests every 10 s WHEN 3 minutes pass THEN a record set is written once per 60 s, each holding only
    its own window's requests, stamped with that window's start."""
    writes: list[int] = []
    for step in range(19):  # t = 0, 10, ..., 180
        emf.clock.now = 500.0 + 10 * step
        before = len(emf.lines)
        assert emf.call("anonymous") == 200
        writes.append(len(emf.lines) - before)
    assert [step for step, written in enumerate(writes) if written] == [6, 12, 18]
    windows = [r for r in emf.records() if "Requests" in r]
    assert [r["Requests"] for r in windows] == [6, 6, 6]
    assert [r["_aws"]["Timestamp"] for r in windows] == [int((WALL + s) * 1000) for s in (0, 60, 120)]
    assert {(r["Caller"], r["Status"]) for r in windows} == {("anonymous", "200")}


def test_each_kind_of_answer_is_its_own_dimension_combination(emf: Emf) -> None:
    """GIVEN keys, a session, anonymous callers, a refused key and an unknown model WHEN the window ends THEN one
    Requests record per (dialect, caller kind, status), with the right counts."""
    calls = [
        ("full", "/v1/models", 200),
        ("full", "/v1/models", 200),
        ("full", "/v1/models/no-such-model", 404),
        ("session:alice", "/v1/models", 200),
        ("anonymous", "/v1/models", 200),
        ("unknown", "/v1/models", 401),
        ("disabled", "/v1/models", 401),
    ]
    for caller, path, status in calls:
        assert emf.call(caller, path) == status
    emf.metrics.flush()
    assert request_counts(emf.records()) == {
        ("openai", "key", "200"): 2,
        ("openai", "key", "404"): 1,
        ("openai", "session", "200"): 1,
        ("openai", "anonymous", "200"): 1,
        ("openai", "none", "401"): 2,  # refused before a caller was known
    }
    for record in emf.records():
        assert_valid_emf(record)
        if "Requests" in record:
            assert record["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [list(REQUEST_DIMENSIONS)]


def test_no_key_cookie_id_or_model_ever_reaches_a_metric(emf: Emf) -> None:
    """GIVEN every kind of caller, refused keys and model retrieves WHEN the records are written THEN they hold no
    key, cookie, token id, user id, group or model id: dimension values come from small fixed sets."""
    callers = ["full", "limited", "session:alice", "anonymous", "unknown", "disabled", "bob"]
    for caller in callers:
        emf.call(caller)
        emf.call(caller, "/v1/models/davinci")
    emf.metrics.flush()
    written = "\n".join(emf.lines)
    cookies = [cookie.partition("=")[2] for caller in callers for cookie in expected.cookies(caller)]
    for secret in [*world.KEYS.values(), world.UNKNOWN_KEY, *cookies]:
        assert secret not in written
        assert secret[:12] not in written  # not even a prefix
    users = [user["id"] for user in world.USERS]
    models = [m["id"] for m in world.CATALOG] + [model for group in world.GROUPS.values() for model in group]
    for value in [*users, *world.GROUPS, *models]:
        assert f'"{value}"' not in written, value
    for record in emf.records():
        for dimension_set in record["_aws"]["CloudWatchMetrics"][0]["Dimensions"]:
            assert set(dimension_set) <= set(REQUEST_DIMENSIONS)
        if "Requests" in record:
            assert record["Dialect"] == "openai"
            assert record["Caller"] in CALLER_KINDS
            assert record["Status"].isdigit()
            assert len(record["Status"]) == 3


def test_a_store_fault_counts_the_failed_request_and_the_503(emf: Emf) -> None:
    """GIVEN DynamoDB throttling every token lookup WHEN a new key calls THEN a 503, counted as a store fault,
    a Requests record with status 503, and both attempts of the failed DynamoDB call as one failed request."""
    emf.errors.fail("ThrottlingException", "token")
    assert emf.call("full") == 503
    emf.metrics.flush()
    records = emf.records()
    assert request_counts(records) == {("openai", "none", "503"): 1}  # the token lookup failed: no caller yet
    store = store_record(records)
    assert (store["StoreFaults"], store["DynamoDBRequests"], store["DynamoDBErrors"]) == (1, 1, 1)
    assert emf.errors.injected == 2  # botocore retried once inside the one call


def test_metrics_are_off_without_a_namespace(seeded: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    """GIVEN settings without METRICS_NAMESPACE (local serve, tests) WHEN requests are answered and flushed THEN
    nothing is counted and nothing is written."""
    service = build_service(settings_for(), DynamoDirectory(boto3.client("dynamodb", region_name="us-east-1"), TABLE))
    assert service.metrics.enabled is False
    handler = Mangum(create_app(service))
    for _ in range(3):
        assert invoke(handler, api_event("http-api-v2", "/v1/models")).status == 200
    assert service.metrics.requests == {}
    assert service.metrics.flush() == []
    assert capsys.readouterr().out == ""


def test_the_deployed_settings_turn_metrics_on_with_the_functions_log_level() -> None:
    """GIVEN the deployed environment (METRICS_NAMESPACE, MODELGATE_LOG_LEVEL=WARN) THEN metrics are on, in that
    namespace, and each record carries level WARN so Lambda's log-level filter keeps it."""
    settings = Settings.from_env({"METRICS_NAMESPACE": "modelgate/prod", "MODELGATE_LOG_LEVEL": "WARN"})
    service = build_service(settings)
    assert (service.metrics.enabled, service.metrics.namespace, service.metrics.level) == (
        True,
        "modelgate/prod",
        "WARN",
    )
    lines: list[str] = []
    metrics = Metrics("modelgate/prod", level="WARNING", write=lines.append)
    metrics.request("openai", "anonymous", 200)
    metrics.flush()
    assert [json.loads(line)["level"] for line in lines] == ["WARN"]


def test_shutdown_writes_what_was_counted_since_the_last_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN the Lambda entry point with counts pending WHEN Lambda sends SIGTERM (functions with an extension)
    THEN the counts are written and the runtime exits; outside Lambda no SIGTERM handler is installed."""
    monkeypatch.setenv("TABLE_NAME", TABLE)
    from handler import main  # noqa: PLC0415  # builds the function's Service at import, as Lambda does

    assert signal.getsignal(signal.SIGTERM) is not main._shutdown  # AWS_LAMBDA_RUNTIME_API is unset here
    lines: list[str] = []
    metrics = Metrics(NAMESPACE, write=lines.append)
    monkeypatch.setattr(main.service, "metrics", metrics)
    metrics.request("openai", "key", 200)
    metrics.request("openai", "key", 200)
    with pytest.raises(SystemExit) as exit_:
        main._shutdown(signal.SIGTERM, None)
    assert exit_.value.code == 0
    assert Counter(json.loads(line).get("Requests") for line in lines) == Counter({2: 1})


def test_each_dialect_is_its_own_dimension_value(emf: Emf) -> None:
    """GIVEN an Anthropic client, a Gemini client, Gemini's OpenAI-compatible path and an OpenAI client with the
    same key WHEN the window ends THEN the Requests records name each dialect; an unknown URL counts as OpenAI's."""
    key = world.KEYS["full"]
    calls: list[tuple[str, dict[str, str | list[str]]]] = [
        ("/v1/models", {"x-api-key": key, "anthropic-version": "2023-06-01"}),
        ("/v1beta/models", {"x-goog-api-key": key}),
        ("/v1beta/openai/models", {"authorization": f"Bearer {key}"}),
        ("/v1/models", {"authorization": f"Bearer {key}"}),
        ("/no/such/route", {"authorization": f"Bearer {key}"}),
    ]
    for path, headers in calls:
        invoke(emf.handler, api_event("http-api-v2", path, headers=headers))
    emf.metrics.flush()
    assert request_counts(emf.records()) == {
        ("anthropic", "key", "200"): 1,
        ("gemini", "key", "200"): 1,
        ("openai", "key", "200"): 2,
        ("openai", "none", "404"): 1,
    }


def _count_lookups(metrics: Metrics, hits: int, misses: int) -> None:
    for _ in range(hits):
        metrics.cache_lookup(True)
    for _ in range(misses):
        metrics.cache_lookup(False)


def test_a_dropped_attempt_on_the_loop_forgets_only_its_own_lookups() -> None:
    """GIVEN `serve`: a request's attempt on the event loop holds its lookups apart, and has made 2 hits
    WHEN a worker thread, answering another request meanwhile, counts 1 hit and 3 misses, and the attempt then
    stops before reading the store (WouldBlock: it runs again on a worker thread and counts there)
    THEN the worker's lookups stay counted and the attempt's are gone; WHEN another attempt answers after 3 hits
    THEN those count"""
    metrics = Metrics(NAMESPACE, write=lambda _: None)
    held = metrics.hold_lookups()
    _count_lookups(metrics, hits=2, misses=0)
    worker = threading.Thread(target=_count_lookups, args=(metrics, 1, 3))
    worker.start()
    worker.join()
    metrics.drop_held(held)
    assert (metrics.cache_hits, metrics.cache_misses) == (1, 3)

    answered = metrics.hold_lookups()
    _count_lookups(metrics, hits=3, misses=0)
    metrics.count_held(answered)
    assert (metrics.cache_hits, metrics.cache_misses) == (4, 3)
