"""Figure 3: cold init. A fresh Python process, from spawn until the handler has answered its first request,
against the floor `import fastapi, mangum, boto3` plus one DynamoDB client, spawned the same way in the same run."""

from __future__ import annotations

import compileall
import importlib.metadata
import json
import py_compile
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from infra.bench.events import http_api_event
from infra.bench.report import Report, ratio
from infra.bench.stats import human_time

TARGET_RATIO = 1.1
ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "infra" / "build" / "requirements.lock"

BARE = "print('ready', flush=True)"
FLOOR = """
import fastapi, mangum, boto3
boto3.session.Session().client("dynamodb", region_name="us-east-1")
print("ready", flush=True)
"""
# Lambda's INIT phase imports the handler module; the first invoke follows.
OURS = """
import json, os, sys, types
import handler.wiring
# Patient timeouts only: moto on a busy machine can exceed the deployed 0.6 s read timeout (a 503 here).
handler.wiring.CLIENT_CONFIG.update(connect_timeout=5, read_timeout=30)
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


def artifact_dependencies(into: Path, *, compiled: bool) -> None:
    """The artifact's dependencies (requirements.lock) copied from this environment, as the artifact ships them
    (sources only, pip --no-compile), or compiled the way a build could (unchecked-hash .pyc, never re-validated)."""
    for line in LOCK.read_text().splitlines():
        name = line.split("==")[0].strip()
        if not name or name.startswith(("#", "-")):
            continue
        distribution = importlib.metadata.distribution(name)
        root = Path(str(distribution.locate_file("")))
        for top in {f.parts[0] for f in distribution.files or []} - {"..", "bin", "__pycache__"}:
            source = root / top
            if top.endswith(".dist-info") or not source.exists():
                continue
            target = into / top
            if source.is_dir():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
            else:
                shutil.copy2(source, target)
    if compiled:
        mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
        compileall.compile_dir(into, quiet=1, workers=0, invalidation_mode=mode)


def run(report: Report, env: Mapping[str, str], key: str, *, quick: bool) -> None:
    event_env = {**env, "BENCH_EVENT": json.dumps(http_api_event(headers={"authorization": f"Bearer {key}"}))}
    runs = 3 if quick else 5
    with tempfile.TemporaryDirectory() as scratch:
        # name: (code, environment); the artifact variants only in a full run (compiling them takes seconds).
        children: dict[str, tuple[str, dict[str, str]]] = {"bare": (BARE, event_env), "floor": (FLOOR, event_env)}
        children["ours"] = (OURS, event_env)
        if not quick and LOCK.is_file():
            for name in ("sources", "compiled"):
                directory = Path(scratch) / name
                artifact_dependencies(directory, compiled=name == "compiled")
                children[name] = (FLOOR, {**env, "PYTHONPATH": str(directory), "PYTHONDONTWRITEBYTECODE": "1"})
        samples: dict[str, list[int]] = {"init": [], "first": []}
        for code, child_env in children.values():  # once each first, so every module's bytecode is cached alike
            _spawn(code, child_env)
        for _ in range(runs):
            for name, (code, child_env) in children.items():
                marks = _spawn(code, child_env)
                if name == "ours":
                    samples["init"].append(marks["ready"])
                    samples["first"].append(marks["answered"])
                else:
                    samples.setdefault(name, []).append(marks["ready"])
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
        ("floor, artifact deps as shipped (no .pyc)", "sources"),
        ("floor, artifact deps with unchecked-hash .pyc", "compiled"),
    ]
    for label, name in rows:
        if name not in median:
            continue
        note = ""
        if name == "first":
            met = median[name] <= TARGET_RATIO * floor
            value = ratio(median[name], floor) + " floor"
            note = report.target("cold init to first answer", value, "≤ 1.1× floor", met)
        elif name == "sources":
            report.line("The artifact's dependencies (infra/build/requirements.lock), copied from this environment:")
        cells = (human_time(median[name]), human_time(min(samples[name])), ratio(median[name], floor))
        report.row("  " + label, *cells, note=note)
