"""Figure 2: DynamoDB requests per call, counted at the wire, for each cache state. Deterministic, so the test
suite asserts the same counts (tests/test_request_costs.py); here they are shown with the time each took."""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config
from mangum import Mangum
from starlette.datastructures import QueryParams

from handler.core.listing import Listing, visible_members
from handler.core.records import GroupView, Member
from handler.core.sessions import SessionSigner
from handler.settings import Settings
from handler.store import layout
from handler.store.budget import CLIENT_CONFIG, QuickRetry
from handler.store.dynamodb import DynamoDirectory
from handler.web.app import Service, create_app
from handler.web.dialects.openai import DIALECT as OPENAI
from handler.wiring import build_service
from infra.bench.events import LambdaContext, http_api_event
from infra.bench.report import Report
from infra.bench.stats import human_time
from infra.bench.warm import LambdaHandler
from infra.bench.wire import RequestCounter
from infra.bench.world import SESSION_SECRET, BenchWorld, group_name

COLD_TARGET = 3


class Function:
    """One fresh Lambda container: the real app over its own client, with a counter on that client."""

    def __init__(self, env: Mapping[str, str]) -> None:
        settings = Settings.from_env(env)
        # The deployed client's retries, with patient timeouts: moto on a busy machine can take longer than the
        # deployed 0.4 s read timeout, and a timed-out attempt would count as an extra request.
        config = Config(read_timeout=30, connect_timeout=5, retries=CLIENT_CONFIG["retries"])
        client = boto3.client(
            "dynamodb",
            endpoint_url=settings.dynamodb_endpoint_url,
            region_name=settings.region,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            config=config,
        )
        QuickRetry().install(client)
        self.service: Service = build_service(settings, DynamoDirectory(client, settings.table_name))
        self.handler: LambdaHandler = Mangum(create_app(self.service), lifespan="off")
        self.counter = RequestCounter(client)

    def call(
        self, headers: dict[str, str] | None = None, cookies: list[str] | None = None, path: str = "/v1/models"
    ) -> list[str]:
        """The operations one request sent, in order."""
        self.counter.reset()
        response: dict[str, Any] = self.handler(http_api_event(path, headers=headers, cookies=cookies), LambdaContext())
        if response["statusCode"] != 200:
            raise RuntimeError(f"expected 200, got {response['statusCode']}")
        return list(self.counter.sequence)


def view_chunks(client: Any, table: str, group: str) -> list[bytes]:
    """The compressed chunks of `group`'s view: what the one cold Query returns."""
    items = client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :view)",
        ExpressionAttributeValues={
            ":pk": {"S": layout.group_key(group)[layout.PK]},
            ":view": {"S": layout.VIEW_PREFIX},
        },
    )["Items"]
    return [bytes(item["data"]["B"]) for item in items]


def cold_render_ns(chunks: list[bytes]) -> float:
    """What a cold call does with the view once it has it: decode, pick members, render, gzip. Median of 3."""
    samples = []
    for _ in range(3):
        start = time.perf_counter_ns()
        members = tuple(Member(model_id, entry) for model_id, entry in layout.decode_view(chunks))
        OPENAI.page(Listing(visible_members(GroupView("bench", "v", members), None)), QueryParams()).gzipped()
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples)


def run(report: Report, env: Mapping[str, str], world: BenchWorld, client: Any) -> None:
    size = max(world.sizes)
    keys = world.keys[size]
    bearer = {"authorization": f"Bearer {keys['a']}"}
    session = SessionSigner(SESSION_SECRET).issue(world.user(size), now=int(time.time()), ttl_seconds=3600)
    cookie = f"modelgate_session={session}"
    report.section(
        f"2. DynamoDB requests per call, counted at the wire (botocore before-send), {size:,}-model group "
        f"in a {len(world.catalog):,}-model catalog",
        "Sequential requests of one fresh function (cold) and the calls after it. Counts only: moto's Query scans "
        "its whole table, so its times say nothing of DynamoDB's.",
    )
    report.row("", "requests", note="operations")
    function = Function(env)
    cases: list[tuple[str, Function, dict[str, str] | None, list[str] | None, int]] = [
        ("API key, cold cache", function, bearer, None, COLD_TARGET),
        ("same key, warm cache", function, bearer, None, 0),
        ("another key of the same user, warm group", function, {"authorization": f"Bearer {keys['b']}"}, None, 1),
        ("a key of another user, warm group", function, {"authorization": f"Bearer {keys['other']}"}, None, 2),
        ("anonymous (default group), cold cache", Function(env), None, None, 2),  # the change marker, the view
        ("session cookie, cold cache", Function(env), None, [cookie], 2),
    ]
    for label, target_function, headers, cookies, expected in cases:
        operations = target_function.call(headers, cookies)
        met = len(operations) <= expected
        note = ", ".join(operations) or "-"
        if label == "API key, cold cache":
            note += "   " + report.target("DynamoDB requests, cold", str(len(operations)), f"≤ {COLD_TARGET}", met)
        elif label == "same key, warm cache":
            note += "   " + report.target("DynamoDB requests, warm", str(len(operations)), "0", met)
        elif not met:
            note += f"   expected ≤ {expected}"
        report.row("  " + label, str(len(operations)), note=note)
    chunks = view_chunks(client, world.table, group_name(size))
    report.line(
        f"the {size:,}-model view: {len(chunks)} chunk(s), {sum(map(len, chunks)) / 1024:.0f} KB compressed, one "
        f"Query page (≤ 1 MB); turning it into the listing (decode, render, gzip) takes "
        f"{human_time(cold_render_ns(chunks))}, once per view version per container"
    )
