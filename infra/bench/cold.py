"""Figure 3: cold init. A fresh Python process, from spawn until the handler has answered its first request,
against the floor `import fastapi, mangum, boto3` plus one DynamoDB client, spawned the same way in the same run."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from infra.bench.events import http_api_event
from infra.bench.report import Report, ratio
from infra.bench.stats import human_time

TARGET_RATIO = 1.1
ROOT = Path(__file__).resolve().parents[2]

BARE = "print('ready', flush=True)"
FLOOR = """
import fastapi, mangum, boto3
boto3.session.Session().client("dynamodb", region_name="us-east-1")
print("ready", flush=True)
"""
# Lambda's INIT phase imports the handler module; the first invoke follows.
OURS = """
import json, os, sys, types
import handler.main
print("ready", flush=True)
event = json.loads(os.environ["BENCH_EVENT"])
response = handler.main.handler(event, types.SimpleNamespace(aws_request_id="cold-start"))
print("answered", response["statusCode"], flush=True)
"""


def _spawn(code: str, env: Mapping[str, str]) -> dict[str, int]:
    """Nanoseconds from spawn to each line the child prints (`ready`, then `answered`)."""
    start = time.perf_counter_ns()
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=dict(env), stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    marks: dict[str, int] = {}
    for line in child.stdout:
        word, *rest = line.split()
        marks[word] = time.perf_counter_ns() - start
        if word == "answered" and rest != ["200"]:
            raise RuntimeError(f"the first request was answered {rest}")
    if child.wait() != 0:
        raise RuntimeError("a cold-start child failed")
    return marks


def run(report: Report, env: Mapping[str, str], key: str, *, quick: bool) -> None:
    child_env = {**env, "BENCH_EVENT": json.dumps(http_api_event(headers={"authorization": f"Bearer {key}"}))}
    runs = 3 if quick else 9
    samples: dict[str, list[int]] = {"bare": [], "floor": [], "init": [], "first": []}
    for code in (BARE, FLOOR, OURS):  # once each first, so every module's bytecode is cached alike
        _spawn(code, child_env)
    for _ in range(runs):
        samples["bare"].append(_spawn(BARE, child_env)["ready"])
        samples["floor"].append(_spawn(FLOOR, child_env)["ready"])
        marks = _spawn(OURS, child_env)
        samples["init"].append(marks["ready"])
        samples["first"].append(marks["answered"])
    median = {name: statistics.median(values) for name, values in samples.items()}
    floor = median["floor"]
    report.section(
        "3. Cold init: a fresh process until the handler answered its first request",
        f"median of {runs} spawns each, alternating; the first request is an API key call with a cold cache "
        "(3 DynamoDB round trips to moto's server on loopback).",
    )
    report.row("", "median", "min", "vs floor")
    rows = [
        ("python -c pass (the interpreter alone)", "bare"),
        ("floor: import fastapi, mangum, boto3 + 1 client", "floor"),
        ("modelgate init: import handler.main", "init"),
        ("modelgate: init + first request answered", "first"),
    ]
    for label, name in rows:
        note = ""
        if name == "first":
            met = median[name] <= TARGET_RATIO * floor
            note = report.target(
                "cold init to first answer", ratio(median[name], floor) + " floor", "≤ 1.1× floor", met
            )
        cells = (human_time(median[name]), human_time(min(samples[name])), ratio(median[name], floor))
        report.row("  " + label, *cells, note=note)
