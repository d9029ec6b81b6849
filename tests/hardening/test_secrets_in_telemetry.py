"""GIVEN OpenTelemetry's SDK recording into memory: as the AWS ADOT layer configures it (a global provider, which
turns on FastAPI's own telemetry), and with the instrumentations ADOT adds (OpenTelemetry's FastAPI one, which
wraps FastAPI's whole middleware stack, and the Lambda one, which wraps the handler itself)
WHEN keys arrive as `?key=`, as headers and as a session cookie, through the Lambda entry and over HTTP
THEN no span attribute, event or status holds a key or a cookie: the spans say `key=REDACTED`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
from opentelemetry.instrumentation.aws_lambda import AwsLambdaInstrumentor
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from infra.registry import Registry
from tests.conftest import settings_for
from tests.hardening.conftest import imported_entry
from tests.support import expected, world
from tests.support.events import KINDS, api_event, invoke
from tests.support.server import fresh_table, serve

KEY = world.KEYS["full"]
NEAR_MISS = KEY[:-1] + "9"  # an unknown key: refused, still never recorded
ROOT = Path(__file__).resolve().parent.parent.parent
SESSION = expected.session_value("bob")
SECRETS = (KEY, NEAR_MISS, world.KEYS["bob"], SESSION)


@pytest.fixture
def recorded() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def _dump(spans: tuple[ReadableSpan, ...]) -> str:
    """Everything a span exporter sends: names, attributes, events and their attributes, status."""
    return json.dumps(
        [
            {
                "name": span.name,
                "attributes": dict(span.attributes or {}),
                "events": [{"name": e.name, "attributes": dict(e.attributes or {})} for e in span.events],
                "status": span.status.description,
            }
            for span in spans
        ],
        default=str,
    )


def _assert_no_secret(spans: tuple[ReadableSpan, ...]) -> str:
    text = _dump(spans)
    for secret in SECRETS:
        for form in (secret, quote_plus(secret), secret[8:]):
            assert form not in text
    return text


@pytest.mark.parametrize("kind", KINDS)
def test_no_key_reaches_a_span_through_the_lambda_entry(
    world_table: Registry, recorded: tuple[TracerProvider, InMemorySpanExporter], kind: str
) -> None:
    """GIVEN handler.main as Lambda imports it, FastAPI instrumented and the handler wrapped by the Lambda
    instrumentation WHEN `?key=` (valid, then unknown) and header keys list THEN the answers are as without
    telemetry, and every span's attributes say key=REDACTED where the query was."""
    provider, exporter = recorded
    lambda_env = {"AWS_LAMBDA_FUNCTION_NAME": "modelgate", "_HANDLER": "handler.main.handler"}
    with imported_entry(SESSION_SECRET=world.SESSION_SECRET, **lambda_env) as main, pytest.MonkeyPatch.context() as env:
        for name, value in lambda_env.items():
            env.setenv(name, value)
        FastAPIInstrumentor.instrument_app(main.app, tracer_provider=provider)
        AwsLambdaInstrumentor().instrument(tracer_provider=provider)
        try:
            statuses = [
                invoke(main.handler, api_event(kind, "/v1beta/models", query=f"key={KEY}&pageSize=2")).status,
                invoke(main.handler, api_event(kind, "/v1beta/models", query=f"key={NEAR_MISS}")).status,
                invoke(main.handler, api_event(kind, headers={"x-goog-api-key": world.KEYS["bob"]})).status,
            ]
        finally:
            AwsLambdaInstrumentor().uninstrument()
            FastAPIInstrumentor.uninstrument_app(main.app)
    assert statuses == [200, 400, 200]
    spans = exporter.get_finished_spans()
    text = _assert_no_secret(spans)
    servers = [s for s in spans if (s.attributes or {}).get("http.method") or (s.attributes or {}).get("url.path")]
    assert len(servers) >= 3, text  # the instrumentations did record the requests
    assert "key=REDACTED" in text
    if kind != "alb":  # API Gateway events: the Lambda span's http.target carries the query, scrubbed
        invocations = [s.attributes or {} for s in spans if "faas.invocation_id" in (s.attributes or {})]
        assert [str(a.get("http.target")).partition("?")[2] for a in invocations] == [
            "key=REDACTED&pageSize=2",
            "key=REDACTED",
            "",
        ]


def test_no_key_or_cookie_reaches_a_span_over_http(
    moto_endpoint: str, recorded: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    """GIVEN the app under uvicorn (as `serve` runs it) with FastAPI instrumented WHEN `?key=`, a bearer key and a
    session cookie list, and a key in a percent-encoded parameter name THEN no span holds any of them."""
    provider, exporter = recorded
    table, _ = fresh_table(moto_endpoint)
    settings = settings_for(table_name=table, dynamodb_endpoint_url=moto_endpoint)
    instrument = partial(FastAPIInstrumentor.instrument_app, tracer_provider=provider)
    with serve(settings, instrument=instrument) as server, httpx.Client(base_url=server.base_url) as client:
        replies: list[Any] = [
            client.get("/v1beta/models", params={"key": KEY}),
            client.get(f"/v1beta/models?%6Bey={NEAR_MISS}"),
            client.get("/v1/models", headers={"Authorization": f"Bearer {world.KEYS['bob']}"}),
            client.get("/v1/models", headers={"Cookie": f"modelgate_session={SESSION}"}),
            client.get("/v1/engines", params={"key": NEAR_MISS}),
        ]

    assert [r.status_code for r in replies] == [200, 400, 200, 200, 404]
    spans = exporter.get_finished_spans()
    _assert_no_secret(spans)
    urls = [str((s.attributes or {}).get("http.url")) for s in spans if "http.url" in (s.attributes or {})]
    assert [url.partition("?")[2] for url in urls] == ["key=REDACTED", "key=REDACTED", "", "", "key=REDACTED"]


# A fresh interpreter, as Lambda starts one under ADOT: the global provider is set before handler.main is imported,
# so FastAPI's own telemetry (FastAPI >= 0.16x) records every request. Prints the spans and the answers' statuses.
GLOBAL_PROVIDER = """
import json, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

import handler.main
from tests.support.events import api_event, invoke

kind, key, near_miss = sys.argv[1:4]
statuses = [
    invoke(handler.main.handler, api_event(kind, "/v1beta/models", query=f"key={key}&pageSize=2")).status,
    invoke(handler.main.handler, api_event(kind, "/v1beta/models", query=f"key={near_miss}")).status,
]
spans = [
    {
        "name": s.name,
        "attributes": dict(s.attributes or {}),
        "events": [{"name": e.name, "attributes": dict(e.attributes or {})} for e in s.events],
        "status": s.status.description,
    }
    for s in exporter.get_finished_spans()
]
print(json.dumps({"statuses": statuses, "spans": spans}, default=str))
"""


@pytest.mark.parametrize("kind", ["http-api-v2", "rest-api-v1"])
def test_fastapis_own_telemetry_under_a_global_provider_records_no_key(moto_endpoint: str, kind: str) -> None:
    """GIVEN a global SDK tracer provider set before the function is imported (what the ADOT layer does), which
    turns FastAPI's own telemetry on WHEN `?key=` lists, valid and unknown THEN its server spans record
    `url.query` as key=REDACTED, and no span holds the key."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    table, _ = fresh_table(moto_endpoint)
    env = {
        **os.environ,
        "TABLE_NAME": table,
        "DYNAMODB_ENDPOINT_URL": moto_endpoint,
        "SESSION_SECRET": world.SESSION_SECRET,
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, "-c", GLOBAL_PROVIDER, kind, KEY, NEAR_MISS],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=ROOT,
    )
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["statuses"] == [200, 400]
    text = json.dumps(report["spans"])
    for secret in SECRETS:
        for form in (secret, quote_plus(secret), secret[8:]):
            assert form not in text
    queries = [span["attributes"].get("url.query") for span in report["spans"] if "url.query" in span["attributes"]]
    assert queries == ["key=REDACTED&pageSize=2", "key=REDACTED"], text
