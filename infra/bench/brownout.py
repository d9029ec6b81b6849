"""Figure: a DynamoDB brownout. The store hangs (its process stopped with SIGSTOP: connections accepted, nothing
answered) or drops every connection (a proxy closes them), while a warm Lambda handler and `serve` keep being asked.

Lambda: one warm container (the real wiring over the real client, at the default REVALIDATE_SECONDS) asked 100 times
a second by cached callers (two keys, anonymous) with a never-seen key every fifth call: their latencies (p50, p99,
max), the store requests counted at the proxy, and once the store is back, how long until a key never read before
gets its list. The same callers with the store healthy are the baseline.

serve: `modelgate serve` under 200 keep-alive connections of a cached key from a second process (infra.bench.load),
healthy and then in the outage; a never-seen key asked meanwhile every 0.25 s from this process; the recovery.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from mangum import Mangum

from handler.settings import Settings
from handler.web.app import create_app
from handler.wiring import build_service
from infra.bench.events import LambdaContext, http_api_event
from infra.bench.proxy import FaultProxy, fault_proxy
from infra.bench.report import Report, ratio
from infra.bench.stats import human_time, summarize
from infra.bench.throughput import ROOT, load, server_process
from infra.bench.warm import LambdaHandler
from infra.bench.world import SESSION_SECRET, BenchWorld, bench_key, local_dynamodb, populate
from infra.local.embedded import free_port
from infra.registry import Registry

FAULTS = ("hung", "dropping")
TARGET_SECONDS = 1.0  # the stack's p99 latency alarm, which rolls deployments back
TARGET_THROUGHPUT = 0.5
REVALIDATE_SECONDS = Settings.revalidate_seconds
# Recovery: the next probe comes within REVALIDATE_SECONDS of the store's return; then one read of the local engine,
# and at most 20 ms until the next ask.
ONE_READ = 0.1
SIZE = 100
CONNECTIONS = 200
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
ENGINE = (
    "import sys, time\n"
    "from infra.local.embedded import EmbeddedDynamoDB\n"
    "EmbeddedDynamoDB(port=int(sys.argv[1])).start()\n"
    "print('ready', flush=True)\n"
    "time.sleep(10**6)\n"
)


@contextlib.contextmanager
def engine() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """moto's server in its own process, so that SIGSTOP can hang it; always resumed and ended afterwards."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", ENGINE, str(port)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        if process.stdout is None or process.stdout.readline().strip() != "ready":
            raise RuntimeError("moto's server did not start")
        yield process, f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGCONT)
        process.terminate()
        process.wait(timeout=10)


@dataclass
class Outage:
    """Starts and ends one kind of fault: SIGSTOP of the engine, or the proxy dropping connections."""

    kind: str
    process: subprocess.Popen[str]
    proxy: FaultProxy

    def start(self) -> None:
        if self.kind == "hung":
            self.process.send_signal(signal.SIGSTOP)
        else:
            self.proxy.mode = "drop"

    def end(self) -> None:
        self.process.send_signal(signal.SIGCONT)
        self.proxy.mode = "pass"


@dataclass
class Keys:
    """Keys that exist and were never asked (for recovery), and a counter for never-seen ones (for the 503s)."""

    valid: list[str]
    unknown: Iterator[str] = field(default_factory=lambda: (bench_key(SIZE, f"u{n}") for n in range(10**6)))

    def never_seen(self) -> str:
        return next(self.unknown)


def _world(endpoint: str) -> tuple[BenchWorld, Keys]:
    client = local_dynamodb(endpoint)
    world = populate(client, "modelgate-brownout", catalog_size=SIZE, sizes=(SIZE,))
    registry = Registry(client, world.table)
    valid = [bench_key(SIZE, f"r{n}") for n in range(20)]
    for key in valid:
        registry.put_token(key, user_id=world.user(SIZE))
    return world, Keys(valid)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Run:
    cached: list[int] = field(default_factory=list)  # ns
    uncached: list[int] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    requests: int = 0  # at the proxy
    recovery: float | None = None  # seconds


def _lambda_run(
    handler: LambdaHandler,
    world: BenchWorld,
    keys: Keys,
    proxy: FaultProxy,
    seconds: float,
) -> Run:
    """Cached callers 100 times a second, a never-seen key every fifth call, for `seconds`."""
    cached = [
        http_api_event(headers=_bearer(world.keys[SIZE]["a"])),
        http_api_event(headers=_bearer(world.keys[SIZE]["other"])),
        http_api_event(),
    ]
    run = Run()
    before = proxy.requests
    clock = time.perf_counter_ns
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
        uncached = n % 5 == 0
        event = http_api_event(headers=_bearer(keys.never_seen())) if uncached else cached[n % len(cached)]
        started = clock()
        status = handler(event, LambdaContext())["statusCode"]
        (run.uncached if uncached else run.cached).append(clock() - started)
        if not uncached:
            run.statuses[status] = run.statuses.get(status, 0) + 1
        time.sleep(max(0.0, 0.01 - (clock() - started) / 1e9))
    run.requests = proxy.requests - before
    return run


def _recovery(ask: Callable[[str], int], keys: Keys, outage: Outage) -> float:
    """Seconds from the store's return to the first 200 for a key that exists and was never read."""
    key = keys.valid.pop()
    outage.end()
    back = time.monotonic()
    while ask(key) != 200:
        if time.monotonic() - back > 30:
            return float("inf")
        time.sleep(0.02)
    return time.monotonic() - back


def _lambda(report: Report, endpoint: str, world: BenchWorld, keys: Keys, process: Any, *, seconds: float) -> None:
    with fault_proxy(endpoint) as proxy:
        settings = Settings(table_name=world.table, dynamodb_endpoint_url=proxy.url, session_secret=SESSION_SECRET)
        handler: LambdaHandler = Mangum(create_app(build_service(settings)), lifespan="off")

        def ask(key: str) -> int:
            return int(handler(http_api_event(headers=_bearer(key)), LambdaContext())["statusCode"])

        _lambda_run(handler, world, keys, proxy, 1.0)  # warm: every cached caller read once
        healthy = _lambda_run(handler, world, keys, proxy, seconds)
        runs = {}
        for kind in FAULTS:
            outage = Outage(kind, process, proxy)
            outage.start()
            runs[kind] = _lambda_run(handler, world, keys, proxy, seconds)
            runs[kind].recovery = _recovery(ask, keys, outage)
            _lambda_run(handler, world, keys, proxy, REVALIDATE_SECONDS + 0.5)  # every cached record fresh again
    report.row("", "p50", "p99", "max", note="store requests · answers")
    cached_base = summarize(healthy.cached)
    report.row(
        "  healthy store: cached callers",
        human_time(cached_base.median_ns),
        human_time(cached_base.p99_ns),
        human_time(max(healthy.cached)),
        note=f"{healthy.requests} · {_statuses(healthy.statuses)}",
    )
    for kind, run in runs.items():
        cached, uncached = summarize(run.cached), summarize(run.uncached)
        worst_cached, worst_uncached = max(run.cached), max(run.uncached)
        report.row(
            f"  {kind}: cached callers",
            human_time(cached.median_ns),
            human_time(cached.p99_ns),
            human_time(worst_cached),
            note=f"{run.requests} in {seconds:.0f} s · {_statuses(run.statuses)} · p99 "
            + ratio(cached.p99_ns, cached_base.p99_ns)
            + " healthy",
        )
        report.row(
            f"  {kind}: never-seen keys (503)",
            human_time(uncached.median_ns),
            human_time(uncached.p99_ns),
            human_time(worst_uncached),
        )
        met = max(cached.p99_ns, uncached.p99_ns) <= TARGET_SECONDS * 1e9 and run.statuses.keys() == {200}
        verdict = report.target(
            f"brownout, Lambda, {kind}: p99",
            f"{human_time(cached.p99_ns)} / {human_time(uncached.p99_ns)}",
            "≤ 1 s cached / to a 503",
            met,
        )
        report.line(f"  {kind}: p99 of cached callers and of the 503s · {verdict}")
        _recovered(report, f"brownout, Lambda, {kind}: recovery", run.recovery)


def _recovered(report: Report, figure: str, seconds: float | None) -> None:
    value = "never" if seconds is None or seconds == float("inf") else f"{seconds:.2f} s"
    met = seconds is not None and seconds <= REVALIDATE_SECONDS + ONE_READ
    target = f"≤ REVALIDATE_SECONDS ({REVALIDATE_SECONDS:g} s) + one read"
    report.line(
        f"  {figure.rpartition(', ')[2]}: a never-read key listed {value} after the store came back · "
        + report.target(figure, value, target, met)
    )


def _statuses(counts: dict[int, int]) -> str:
    return ", ".join(f"{count} × {status}" for status, count in sorted(counts.items()))


def _fetch_status(port: int, key: str) -> tuple[int, float]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models", headers=_bearer(key))
    started = time.perf_counter()
    try:
        with DIRECT.open(request, timeout=30) as response:
            response.read()
            status = int(response.status)
    except urllib.error.HTTPError as error:
        status = error.code
    except (urllib.error.URLError, TimeoutError):
        status = 0
    return status, time.perf_counter() - started


@contextlib.contextmanager
def _asking(port: int, keys: Keys) -> Iterator[list[tuple[int, float]]]:
    """While the block runs, a never-seen key asks every 0.25 s from this process: (status, seconds) each."""
    asked: list[tuple[int, float]] = []
    stop = threading.Event()

    def keep_asking() -> None:
        while not stop.wait(0.25):
            asked.append(_fetch_status(port, keys.never_seen()))

    asker = threading.Thread(target=keep_asking, daemon=True)
    asker.start()
    try:
        yield asked
    finally:
        stop.set()
        asker.join(timeout=60)


def _serve(report: Report, endpoint: str, world: BenchWorld, keys: Keys, process: Any, *, seconds: float) -> None:
    cached = _bearer(world.keys[SIZE]["a"])
    port = free_port()
    env = {**os.environ, "SESSION_SECRET": SESSION_SECRET, "AWS_ACCESS_KEY_ID": "bench"}
    env.update(AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1")  # noqa: S106  # a local engine takes any
    loads: dict[str, dict[str, Any]] = {}
    asked: dict[str, list[tuple[int, float]]] = {}
    recovery: dict[str, float] = {}
    with fault_proxy(endpoint) as proxy:
        serve = [sys.executable, "-c", "import sys; from infra.cli.main import main; sys.exit(main())", "serve"]
        serve += ["--endpoint-url", proxy.url, "--table", world.table, "--port", str(port)]
        with server_process(serve, env, port, cached, 30):
            for phase in ("healthy", *FAULTS):
                outage = Outage(phase, process, proxy)
                if phase != "healthy":
                    outage.start()
                with _asking(port, keys) as asked[phase]:
                    loads[phase] = load(port, cached, seconds, env, connections=CONNECTIONS)
                if phase != "healthy":
                    recovery[phase] = _recovery(lambda key: _fetch_status(port, key)[0], keys, outage)
                    time.sleep(REVALIDATE_SECONDS + 0.5)  # every cached record fresh again
    base = loads["healthy"]
    report.row("", "req/s", "p50", "p99", note="vs healthy (req/s) · errors")
    for phase, result in loads.items():
        cells = (f"{result['rps']:,.0f}", human_time(result["p50_ns"]), human_time(result["p99_ns"]))
        unanswered = f", {result['unanswered']} connections unanswered" if result.get("unanswered") else ""
        report.row(
            f"  {phase}: cached key, {CONNECTIONS} connections",
            *cells,
            note=f"{ratio(result['rps'], base['rps'])} · {result['errors']} errors{unanswered}",
        )
    report.row("  (new connections from this process)", "asked", "p50", "max", note="answers")
    for phase, answers in asked.items():
        took = summarize([seconds * 1e9 for _, seconds in answers] or [0])
        worst = max((seconds for _, seconds in answers), default=0.0)
        statuses: dict[int, int] = {}
        for status, _ in answers:
            statuses[status] = statuses.get(status, 0) + 1
        report.row(
            f"  {phase}: never-seen keys meanwhile",
            str(len(answers)),
            human_time(took.median_ns),
            human_time(worst * 1e9),
            note=_statuses(statuses),
        )
    for kind in FAULTS:
        result = loads[kind]
        share = result["rps"] / base["rps"] if base["rps"] else 0.0
        met = share >= TARGET_THROUGHPUT and result["errors"] == 0 and not result.get("unanswered")
        verdict = report.target(f"brownout, serve, {kind}: throughput", f"{share:.0%} of healthy", "≥ 50%", met)
        report.line(f"  {kind}: cached callers answered at {share:.0%} of the healthy rate · {verdict}")
        _recovered(report, f"brownout, serve, {kind}: recovery", recovery[kind])


def run(report: Report, *, quick: bool) -> None:
    seconds = 4.0 if quick else 8.0
    report.section(
        "Brownout: DynamoDB hung (SIGSTOP of moto's server) or dropping every connection",
        f"{seconds:.0f} s of each fault, then the store back; REVALIDATE_SECONDS={REVALIDATE_SECONDS:g}, "
        "client: 0.2 s connect, 0.5 s read, one retry only within 0.9 s",
    )
    with engine() as (process, endpoint):
        world, keys = _world(endpoint)
        report.line("Lambda: one warm container, 100 calls/s (cached keys, anonymous; a never-seen key every 5th)")
        _lambda(report, endpoint, world, keys, process, seconds=seconds)
        report.line(f"serve: {CONNECTIONS} keep-alive connections of a cached key from another process")
        _serve(report, endpoint, world, keys, process, seconds=3.0 if quick else 5.0)
