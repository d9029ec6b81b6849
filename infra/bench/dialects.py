"""Figure 6: a warm Anthropic page of 1,000 and a warm Gemini page of 1,000 from the 5,000-model group, and each
dialect's whole list (no limit, no pageSize) for a key of 1,000, each beside the OpenAI list of the same size (a key
limited to 1,000 of the group's models), in the same run; and what each dialect costs in DynamoDB requests, cold and
warm.
"""

from __future__ import annotations

import base64
import copy
import json
import os
from collections.abc import Mapping
from functools import partial
from typing import Any
from urllib.parse import parse_qs

from infra.bench.events import LambdaContext, http_api_event
from infra.bench.report import Report, ratio
from infra.bench.roundtrips import COLD_TARGET, Function
from infra.bench.stats import affordable, human_bytes, human_time, interleaved
from infra.bench.world import BenchWorld, bench_key, model_id
from infra.registry import Registry

PAGE = 1_000
TARGET_RATIO = 1.2
OPENAI = "OpenAI list of 1,000 (baseline)"


def _event(path: str, query: str, headers: dict[str, str]) -> dict[str, Any]:
    event = http_api_event(path, headers=headers)
    event["rawQueryString"] = query
    event["queryStringParameters"] = {k: v[-1] for k, v in parse_qs(query).items()} or None
    return event


def _body(response: Mapping[str, Any]) -> bytes:
    return base64.b64decode(response["body"]) if response.get("isBase64Encoded") else bytes(response["body"].encode())


def run(report: Report, env: Mapping[str, str], world: BenchWorld, client: Any, *, quick: bool) -> None:
    size = max(world.sizes)
    full = world.keys[size]["a"]
    limited = bench_key(size, "k1000")
    Registry(client, world.table).put_token(
        limited, user_id=world.user(size), name="k1000", models=[model_id(i) for i in range(PAGE)]
    )
    report.section(
        f"6. Dialects: a warm page of {PAGE:,} from the {size:,}-model group, Lambda handler (HTTP API v2 event)",
        "Each beside the OpenAI list of the same size (a key limited to 1,000 models), in alternating rounds; "
        "the whole lists are that key's.",
    )
    anthropic = {"x-api-key": full, "anthropic-version": "2023-06-01"}
    gemini = {"x-goog-api-key": full}
    function = Function(env)
    metrics = getattr(function.service, "metrics", None)
    if metrics is not None:
        metrics.write = open(os.devnull, "w").write  # noqa: SIM115  # EMF lines are logs, not the report
    handler, context = function.handler, LambdaContext()
    first_gemini = handler(_event("/v1beta/models", f"pageSize={PAGE}", gemini), context)
    token = json.loads(first_gemini["body"])["nextPageToken"]
    limited_bearer = {"authorization": f"Bearer {limited}"}
    pages = {
        OPENAI: ("/v1/models", "", limited_bearer),
        f"Anthropic page 1 (limit={PAGE})": ("/v1/models", f"limit={PAGE}", anthropic),
        "Anthropic page 2 (after_id)": ("/v1/models", f"limit={PAGE}&after_id={model_id(PAGE - 1)}", anthropic),
        f"Gemini page 1 (pageSize={PAGE})": ("/v1beta/models", f"pageSize={PAGE}", gemini),
        "Gemini page 2 (pageToken)": ("/v1beta/models", f"pageSize={PAGE}&pageToken={token}", gemini),
        # Clients that never page (LibreChat, Cherry Studio) send no limit: the whole list, here the 1,000 of `limited`.
        "Anthropic whole list (no limit)": ("/v1/models", "", {**anthropic, "x-api-key": limited}),
        "Gemini whole list (no pageSize)": ("/v1beta/models", "", {"x-goog-api-key": limited}),
        # no page of Codex's: its catalog is the whole list (the limited key's 1,000), about twice OpenAI's bytes
        f"Codex catalog of {PAGE:,} (client_version)": ("/v1/models", "client_version=0.171.0", limited_bearer),
    }
    report.row("", "median", "p99", "vs OpenAI")
    for encoding in ("identity", "gzip"):
        events = {}
        for label, (path, query, headers) in pages.items():
            sent = copy.deepcopy(headers)
            if encoding == "gzip":
                sent["accept-encoding"] = "gzip, deflate"
            events[label] = _event(path, query, sent)
        sizes = {}
        for label, event in events.items():  # warm every cache, and check each answer holds 1,000 models
            response = handler(event, context)
            if response["statusCode"] != 200:
                raise RuntimeError(f"{label}: {response['statusCode']} {response.get('body', '')[:200]}")
            sizes[label] = len(_body(response))
        calls = {label: partial(handler, event, context) for label, event in events.items()}
        budget, low, high = (0.15, 10, 2_000) if quick else (0.5, 30, 20_000)
        iterations = {label: affordable(call, budget_s=budget, low=low, high=high) for label, call in calls.items()}
        function.counter.reset()
        timings = interleaved(calls, iterations=iterations, rounds=5, warmup=5)
        if function.counter.total:
            raise RuntimeError(f"the warm dialect pages sent {function.counter.total} DynamoDB requests")
        baseline = timings[OPENAI].median_ns
        report.line(f"{encoding}: 0 DynamoDB requests over {sum(t.samples for t in timings.values()):,} calls")
        for label, timing in timings.items():
            note = f"body {human_bytes(sizes[label])} (n={timing.samples})"
            if "page 1" in label or "whole list" in label:
                figure = f"warm {label.split(' (')[0]} of {PAGE:,}, {encoding}, vs OpenAI"
                met = timing.median_ns <= TARGET_RATIO * baseline
                note = report.target(figure, ratio(timing.median_ns, baseline), f"≤ {TARGET_RATIO}×", met) + f"; {note}"
            cells = (human_time(timing.median_ns), human_time(timing.p99_ns), ratio(timing.median_ns, baseline))
            report.row("  " + label, *cells, note=note)
    _requests(report, env, full)


def _requests(report: Report, env: Mapping[str, str], key: str) -> None:
    """A fresh function per dialect: the cold call's requests, then the warm one's."""
    report.line("DynamoDB requests per call, each dialect in a fresh function (cold, then warm):")
    for label, headers, path in (
        ("Anthropic", {"x-api-key": key, "anthropic-version": "2023-06-01"}, "/v1/models"),
        ("Gemini", {"x-goog-api-key": key}, "/v1beta/models"),
    ):
        function = Function(env)
        cold, warm = function.call(headers, None, path), function.call(headers, None, path)
        met = len(cold) <= COLD_TARGET and not warm
        note = report.target(f"DynamoDB requests, {label} cold / warm", f"{len(cold)} / {len(warm)}", "≤ 3 / 0", met)
        report.row(f"  {label}", str(len(cold)), str(len(warm)), note=f"{', '.join(cold)}   {note}")
