"""Figure 1: a warm invoke of the real Lambda handler, beside the framework floor, naive pydantic and raw Lambda.

Every variant answers the same HTTP API v2 event with the same bytes. The floor is a trivial `async` FastAPI
route returning those bytes through Mangum; "naive" validates and serializes the same models through a
`response_model=` on each call; "raw" is a Lambda function returning a precomputed response.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from mangum import Mangum
from pydantic import BaseModel

from handler.metrics import Metrics
from infra.bench.events import LambdaContext, http_api_event
from infra.bench.report import Report, ratio
from infra.bench.stats import Timing, affordable, human_bytes, human_time, interleaved
from infra.bench.wire import RequestCounter

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
TARGET_FLOOR_RATIO = 1.5
TARGET_LARGE_NS = 10_000_000
SMALL = 100
RAW, FLOOR, NAIVE, OURS = (
    "raw Lambda handler, precomputed JSON",
    "framework floor: async route, fixed bytes",
    "naive response_model= pydantic list",
    "modelgate",
)
QUIET = "modelgate, request log off"
METRICS_ON, METRICS_OFF = "modelgate, EMF metrics on", "modelgate, EMF metrics off"
TARGET_METRICS_RATIO = 1.05


class Permission(BaseModel):
    id: str
    object: str
    created: int
    allow_create_engine: bool
    allow_sampling: bool
    allow_logprobs: bool
    allow_search_indices: bool
    allow_view: bool
    allow_fine_tuning: bool
    organization: str
    group: str | None
    is_blocking: bool


class Model(BaseModel):
    id: str
    object: str
    created: int
    owned_by: str
    permission: list[Permission] | None
    root: str | None
    parent: str | None


class ModelList(BaseModel):
    object: str
    data: list[Model]


def floor_app(body: bytes, headers: dict[str, str]) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/models")
    async def models() -> Response:
        return Response(body, media_type="application/json", headers=headers)

    return app


def naive_app(payload: dict[str, Any]) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/models", response_model=ModelList)
    async def models() -> dict[str, Any]:
        return payload

    return app


def raw_handler(response: dict[str, Any]) -> LambdaHandler:
    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return response

    return handle


@dataclass(frozen=True)
class Case:
    size: int
    gzip: bool

    @property
    def label(self) -> str:
        return f"{self.size:,} models, " + ("gzip" if self.gzip else "identity")


def _variants(handler: LambdaHandler, event: dict[str, Any], case: Case) -> tuple[dict[str, LambdaHandler], int]:
    """The four handlers answering `event` with modelgate's bytes (naive only for identity), and the body size."""
    context = LambdaContext()
    answer = handler(event, context)  # also fills every cache on the way
    if answer["statusCode"] != 200:
        raise RuntimeError(f"modelgate answered {answer['statusCode']}: {answer.get('body', '')[:200]}")
    body = base64.b64decode(answer["body"]) if answer.get("isBase64Encoded") else answer["body"].encode()
    headers = {"content-encoding": "gzip"} if case.gzip else {}
    variants: dict[str, LambdaHandler] = {
        RAW: raw_handler(dict(answer)),
        FLOOR: Mangum(floor_app(body, headers), lifespan="off"),
    }
    if not case.gzip:
        payload = json.loads(body)
        naive: LambdaHandler = Mangum(naive_app(payload), lifespan="off")
        if json.loads(naive(event, context)["body"]) != payload:
            raise RuntimeError("the naive app does not answer the same list")
        variants[NAIVE] = naive
    variants[OURS] = handler
    return variants, len(body)


def _verdict(report: Report, case: Case, median_ns: float, floor_ns: float) -> str:
    figure = f"warm invoke, {case.label}"
    if case.size <= SMALL:
        met = median_ns <= TARGET_FLOOR_RATIO * floor_ns
        return report.target(figure, ratio(median_ns, floor_ns) + " floor", f"≤ {TARGET_FLOOR_RATIO}× floor", met)
    return report.target(figure, human_time(median_ns), "≤ 10 ms", median_ns <= TARGET_LARGE_NS)


def run(
    report: Report, handler: LambdaHandler, store_client: Any, keys: dict[int, str], metrics: Metrics, *, quick: bool
) -> None:
    """`handler` is handler.main.handler over `store_client`, counting into `metrics`; `keys` maps a group size to a
    key seeing all of it."""
    counter = RequestCounter(store_client)
    report.section(
        "1. Warm invoke: the Lambda handler (Mangum, HTTP API v2 event), cache warm",
        "API key caller; all variants answer the same bytes, measured in alternating rounds.",
    )
    report.row("", "median", "p99", "vs floor")
    context = LambdaContext()
    for case in [Case(size, gzip) for size in sorted(keys) for gzip in (False, True)]:
        headers = {"authorization": f"Bearer {keys[case.size]}"}
        if case.gzip:
            headers["accept-encoding"] = "gzip, deflate"
        event = http_api_event(headers=headers)
        variants, size = _variants(handler, event, case)
        calls = {name: partial(variant, event, context) for name, variant in variants.items()}
        budget, low, high = (0.15, 10, 2_000) if quick else (0.5, 30, 20_000)
        iterations = {name: affordable(call, budget_s=budget, low=low, high=high) for name, call in calls.items()}
        counter.reset()
        timings = interleaved(calls, iterations=iterations, rounds=5, warmup=5)
        if counter.total:
            raise RuntimeError(f"the warm path sent {counter.total} DynamoDB requests")
        quiet = _without_request_log({FLOOR: calls[FLOOR], QUIET: calls[OURS]}, iterations[OURS])
        floor_ns = timings[FLOOR].median_ns
        report.line(f"{case.label}: body {human_bytes(size)}")
        for name, timing in timings.items():
            note = _verdict(report, case, timing.median_ns, floor_ns) if name == OURS else ""
            cells = (human_time(timing.median_ns), human_time(timing.p99_ns), ratio(timing.median_ns, floor_ns))
            report.row("  " + name, *cells, note=f"{note} (n={timing.samples})".strip())
        timing, quiet_floor = quiet[QUIET], quiet[FLOOR].median_ns
        cells = (human_time(timing.median_ns), human_time(timing.p99_ns), ratio(timing.median_ns, quiet_floor))
        report.row("  " + QUIET, *cells, note=f"(n={timing.samples}; its floor here: {human_time(quiet_floor)})")
        if case == Case(min(keys), gzip=False):  # the shortest call: a fixed cost per call weighs most here
            _metrics_figure(report, calls[OURS], metrics, max(iterations[OURS], 300))  # a small ratio needs samples


def _metrics_figure(report: Report, call: Callable[[], object], metrics: Metrics, iterations: int) -> None:
    """The real handler with its EMF counters on and off, interleaved in the same run: what metrics cost a call."""

    def switched(enabled: bool) -> Callable[[], object]:
        def invoke() -> object:
            metrics.enabled = enabled  # the same assignment in both, so only the counting differs
            return call()

        return invoke

    calls = {METRICS_ON: switched(True), METRICS_OFF: switched(False)}
    try:
        timings = interleaved(calls, iterations=dict.fromkeys(calls, iterations), rounds=7, warmup=5)
    finally:
        metrics.enabled = True
    on, off = timings[METRICS_ON], timings[METRICS_OFF]
    figure = ratio(on.median_ns, off.median_ns)
    met = on.median_ns <= TARGET_METRICS_RATIO * off.median_ns
    note = report.target("warm invoke, EMF metrics on vs off", figure, f"≤ {TARGET_METRICS_RATIO}× off", met)
    report.row("  " + METRICS_OFF, human_time(off.median_ns), human_time(off.p99_ns), "", note=f"(n={off.samples})")
    cells = (human_time(on.median_ns), human_time(on.p99_ns), figure + " off")
    report.row("  " + METRICS_ON, *cells, note=f"{note} (n={on.samples})")


def _without_request_log(calls: dict[str, Callable[[], object]], iterations: int) -> dict[str, Timing]:
    """The same pair again with the function's log level at WARNING (MODELGATE_LOG_LEVEL): the request log's cost."""
    logger = logging.getLogger("modelgate")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        return interleaved(calls, iterations=dict.fromkeys(calls, iterations), rounds=5, warmup=5)
    finally:
        logger.setLevel(level)
