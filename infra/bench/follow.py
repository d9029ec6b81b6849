"""Figure: `modelgate migrate SOURCE --follow` against a live one-api database, on SQLite, MariaDB and PostgreSQL.

Propagation: the real CLI follower (defaults: a pass every 2 s) runs as its own process into DynamoDB Local, while a
warm `serve`-like uvicorn and a warm Lambda handler (REVALIDATE_SECONDS=2, as deployed) are asked without pause. A
trial commits one change in the gateway's database, as its console would, and times the first changed answer: a
new key answers 200, a disabled or a deleted key 401, a user moved to `default` gets that group's list, a model
removed from a group's abilities leaves its list. Worst of N trials of each, per engine and surface; target 5 s.
Meanwhile the relay's churn runs: 100 token rows a second get new remain_quota, used_quota and accessed_time.

Churn: a quiet window with only that churn; the follower's DynamoDB requests counted at the wire (a counting proxy),
its status record apart. Target: 0 writes beyond the status record.

Scale: at each size, one follower process (infra/bench/follow_pass.py) makes a full pass and then passes at rest:
the time of a pass, the rows and bytes read from the source, the source's CPU per pass (the server's process tree
from /proc), the follower's CPU and its memory. Where a pass stops fitting the 2 s interval follows from them.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.apply import apply_seed
from infra.bench.proxies import dynamodb_proxy
from infra.bench.report import Report
from infra.bench.revocation import Answer, Trial, settings_for, warm_surfaces
from infra.bench.world import local_dynamodb
from infra.local.dynamodb_local import DynamoDBLocal, find_jar_dir
from infra.local.embedded import EmbeddedDynamoDB
from infra.local.sql_engines import MariaDB, PostgreSQL, mariadb_missing, postgres_missing
from infra.registry import Registry
from infra.seed import parse_seed
from infra.table import create_table
from tests.support import gateways
from tests.support.gateways import CATALOG, ONE_API

ENGINES = ("sqlite", "mysql", "postgresql")
KINDS = ("new key", "key disabled", "key deleted", "user moved", "model removed")
BOUND_SECONDS = 5.0
INTERVAL_SECONDS = 2.0  # the follower's default
GIVE_UP_SECONDS = 30.0
CHURN_ROWS_PER_SECOND = 100
DB_USER, DB_PASSWORD = "bench", "bench-Pa55"
DEFAULT_LIST = ["gpt-4o-mini"]  # bulk_rows' `default` group


@dataclass
class Database:
    engine: str
    source: str
    connect: Callable[[], Any]
    server_pid: int = 0

    def quote(self, name: str) -> str:
        return gateways.quote(name, self.engine)

    @property
    def marker(self) -> str:
        return "?" if self.engine == "sqlite" else "%s"

    def execute(self, sql: str, *parameters: Any) -> None:
        connection = self.connect()
        try:
            connection.cursor().execute(sql, parameters)
            connection.commit()
        finally:
            connection.close()


@contextlib.contextmanager
def servers(engines: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """One private server per engine for the whole figure (SQLite needs none); an engine not installed is left out."""
    with contextlib.ExitStack() as stack:
        found: dict[str, Any] = {}
        for engine in engines:
            if engine == "sqlite":
                found[engine] = None
            elif engine == "mysql" and not mariadb_missing():
                found[engine] = stack.enter_context(MariaDB())
            elif engine == "postgresql" and not postgres_missing():
                found[engine] = stack.enter_context(PostgreSQL())
            else:
                print(f"   {engine}: not installed, left out", flush=True)
        yield found


def database(engine: str, server: Any, scratch: Path, name: str, rows: gateways.GatewayRows) -> Database:
    """A new one-api database holding `rows`."""
    db: Database
    if engine == "sqlite":
        path = scratch / f"{name}.db"
        db = Database(engine, str(path), lambda: sqlite3.connect(path, timeout=30))
    elif engine == "mysql":
        import pymysql  # noqa: PLC0415

        server.create_database(DB_USER, DB_PASSWORD, name)
        db = Database(
            engine,
            server.url(DB_USER, DB_PASSWORD, name),
            lambda: pymysql.connect(
                host="127.0.0.1", port=server.port, user=DB_USER, password=DB_PASSWORD, database=name
            ),
            server._process.pid,  # the server process, for its CPU
        )
    else:
        import psycopg  # noqa: PLC0415

        server.create_database(DB_USER, DB_PASSWORD, name)
        db = Database(
            engine,
            server.url(DB_USER, DB_PASSWORD, name),
            lambda: psycopg.connect(
                host="127.0.0.1", port=server.port, user=DB_USER, password=DB_PASSWORD, dbname=name
            ),
            server._process.pid,
        )
    connection = db.connect()
    try:
        cursor = connection.cursor()
        for statement in gateways.ddl(ONE_API, engine):
            cursor.execute(statement)
        gateways.insert_rows(connection, engine, rows)
    finally:
        connection.close()
    return db


def fresh_table(endpoint: str, name: str) -> str:
    client = local_dynamodb(endpoint)
    create_table(client, name)
    apply_seed(parse_seed({"models": CATALOG}), Registry(client, name))
    return name


# -- the propagation world: bulk keys, and each trial's own key, user or model --------------------------------------


@dataclass
class Change:
    """One trial: the change committed in the gateway, and when an answer shows it."""

    kind: str
    trial: Trial  # the credential the surfaces send
    sql: str
    parameters: tuple[Any, ...]
    shows: Callable[[Answer], bool]
    written_at: float = 0.0
    latency: dict[str, float] = field(default_factory=dict)


def _key(tag: str, n: int) -> str:
    return f"{tag}{n:05d}".ljust(48, "z")


def _token_row(token_id: int, user_id: int, key: str) -> dict[str, Any]:
    row: dict[str, Any] = {"id": token_id, "user_id": user_id, "key": key, "status": 1, "name": f"t{token_id}"}
    row |= {"created_time": 0, "accessed_time": 0, "expired_time": -1, "remain_quota": 0, "unlimited_quota": True}
    return row | {"models": "", "subnet": ""}


def propagation_world(tokens: int, trials: int) -> tuple[gateways.GatewayRows, Callable[[Database], list[Change]]]:
    """`tokens` bulk keys plus each trial's own: the rows to load, and the changes to make once they are followed."""
    rows = gateways.bulk_rows(ONE_API, tokens, int(time.time()))
    next_user, next_token = tokens // 10 + 1, tokens + 1
    owner = 1  # a bulk user in `vip` (every catalog model)
    shrinker = next_user
    rows.users.append(
        {"id": shrinker, "username": "shrinker", "password": "x", "status": 1, "group": "shrink"}
        | {"aff_code": "shrink", "access_token": "s" * 32}
    )
    rows.abilities += [gateways._ability("shrink", "m-keep", 9, True)]  # the tests' row builder
    rows.abilities += [gateways._ability("shrink", f"m-gone-{i}", 9, True) for i in range(trials)]
    made: dict[str, list[tuple[str, int]]] = {kind: [] for kind in KINDS}
    rows.tokens.append(_token_row(next_token, shrinker, _key("shrink", 0)))
    shrink_key = _key("shrink", 0)
    token_id = next_token + 1
    for i in range(trials):
        for kind, tag in (("key disabled", "dis"), ("key deleted", "del")):
            rows.tokens.append(_token_row(token_id, owner, _key(tag, i)))
            made[kind].append((_key(tag, i), token_id))
            token_id += 1
        mover = shrinker + 1 + i
        rows.users.append(
            {"id": mover, "username": f"mover{i}", "password": "x", "status": 1, "group": "vip"}
            | {"aff_code": f"mv{i}", "access_token": f"m{i:05d}".ljust(32, "0")}
        )
        rows.tokens.append(_token_row(token_id, mover, _key("mov", i)))
        made["user moved"].append((_key("mov", i), mover))
        token_id += 1
    first_new = token_id

    def bearer(key: str) -> Trial:
        return Trial("follow", lambda _: None, {"authorization": f"Bearer sk-{key}"}, [])

    def changes(db: Database) -> list[Change]:
        group = db.quote("group")
        key_column = db.quote("key")
        m = db.marker
        found: list[Change] = []
        for i in range(trials):
            new_key = _key("new", i)
            found.append(
                Change(
                    "new key",
                    bearer(new_key),
                    f"INSERT INTO tokens (id, user_id, {key_column}, status, name, created_time, accessed_time, "  # noqa: S608
                    f"expired_time, remain_quota, unlimited_quota, models, subnet) "
                    f"VALUES ({m}, {m}, {m}, 1, {m}, 0, 0, -1, 0, {m}, '', '')",
                    (first_new + i, owner, new_key, f"new {i}", True if db.engine == "postgresql" else 1),
                    lambda answer: answer[0] == 200,
                )
            )
            key, token = made["key disabled"][i]
            found.append(
                Change("key disabled", bearer(key), f"UPDATE tokens SET status = 2 WHERE id = {m}", (token,), _401)  # noqa: S608
            )
            key, token = made["key deleted"][i]
            found.append(Change("key deleted", bearer(key), f"DELETE FROM tokens WHERE id = {m}", (token,), _401))  # noqa: S608
            key, user = made["user moved"][i]
            found.append(
                Change(
                    "user moved",
                    bearer(key),
                    f"UPDATE users SET {group} = 'default' WHERE id = {m}",  # noqa: S608
                    (user,),
                    lambda answer: answer == (200, DEFAULT_LIST),
                )
            )
            gone = f"m-gone-{i}"
            found.append(
                Change(
                    "model removed",
                    bearer(shrink_key),
                    f"DELETE FROM abilities WHERE {group} = 'shrink' AND model = {m}",  # noqa: S608
                    (gone,),
                    lambda answer, gone=gone: answer[0] == 200 and gone not in answer[1],  # type: ignore[misc]
                )
            )
        return found

    return rows, changes


def _401(answer: Answer) -> bool:
    return answer[0] == 401


# -- the follower process and the relay's churn ----------------------------------------------------------------------


@contextlib.contextmanager
def follower_process(source: str, endpoint: str, table: str) -> Iterator[queue.Queue[dict[str, Any]]]:
    """`modelgate migrate SOURCE --follow --json` with its defaults; its JSON events, line by line."""
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
    env |= {"AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}
    command = [sys.executable, "-m", "infra.cli.main", "migrate", source, "--follow", "--json"]
    command += ["--endpoint-url", endpoint, "--table", table]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    events: queue.Queue[dict[str, Any]] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with contextlib.suppress(json.JSONDecodeError):
                events.put(json.loads(line))

    threading.Thread(target=read, daemon=True).start()
    try:
        yield events
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for_full_pass(events: queue.Queue[dict[str, Any]], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            event = events.get(timeout=1)
        except queue.Empty:
            continue
        if event.get("event") == "error":
            raise RuntimeError(f"the follower failed: {event.get('error')}")
        if event.get("full"):
            return event
    raise RuntimeError("the follower's first pass did not finish in time")


@contextlib.contextmanager
def churn(db: Database, tokens: int, rate: int = CHURN_ROWS_PER_SECOND) -> Iterator[list[int]]:
    """The relay's writes: `rate` bulk token rows a second get less quota and a new access time (never crossing
    zero, which would be a real change: exhausted). Yields the running count of rows updated."""
    done = [0]
    stopping = threading.Event()
    m = db.marker

    def run() -> None:
        connection = db.connect()
        cursor = connection.cursor()
        picker = random.Random(7)  # noqa: S311  # not for security: which rows churn
        started = time.monotonic()
        try:
            while not stopping.is_set():
                token = picker.randint(1, tokens)
                cursor.execute(
                    "UPDATE tokens SET remain_quota = remain_quota - 1, used_quota = used_quota + 1, "  # noqa: S608
                    f"accessed_time = {m} WHERE id = {m} AND remain_quota > 100",
                    (int(time.time()), token),
                )
                connection.commit()
                done[0] += 1
                behind = started + done[0] / rate - time.monotonic()
                if behind > 0:
                    time.sleep(behind)
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield done
    finally:
        stopping.set()
        thread.join(timeout=10)


def run_changes(
    db: Database, surfaces: dict[str, Callable[[Trial], Answer]], changes: list[Change], spacing: float
) -> None:
    """Commit each change `spacing` apart while one thread per surface keeps asking every pending one."""
    pending: list[Change] = []
    finished = threading.Event()

    def keep_asking(surface: str, ask: Callable[[Trial], Answer]) -> None:
        import asyncio  # noqa: PLC0415

        asyncio.set_event_loop(asyncio.new_event_loop())  # Mangum runs the app on this thread's loop
        while not finished.is_set():
            for change in list(pending):
                if surface in change.latency:
                    continue
                answer = ask(change.trial)
                elapsed = time.perf_counter() - change.written_at
                if change.shows(answer):
                    change.latency[surface] = elapsed
                elif elapsed > GIVE_UP_SECONDS:
                    change.latency[surface] = math.inf
            time.sleep(0.01)

    askers = [threading.Thread(target=keep_asking, args=item, daemon=True) for item in surfaces.items()]
    for asker in askers:
        asker.start()
    try:
        for change in changes:
            db.execute(change.sql, *change.parameters)
            change.written_at = time.perf_counter()
            pending.append(change)
            time.sleep(spacing)
        while any(len(c.latency) < len(surfaces) for c in changes):
            time.sleep(0.05)
    finally:
        finished.set()
        for asker in askers:
            asker.join(timeout=30)


def propagation(
    engine: str, server: Any, scratch: Path, ddb: str, *, tokens: int, trials: int, churn_s: float
) -> dict[str, Any]:
    rows, make_changes = propagation_world(tokens, trials)
    db = database(engine, server, scratch, f"follow_{engine}", rows)
    table = fresh_table(ddb, f"follow-{engine}-{int(time.time())}")
    with dynamodb_proxy(ddb) as (proxied, counter), follower_process(db.source, proxied, table) as events:
        first = wait_for_full_pass(events, timeout=600)
        changes = make_changes(db)
        with warm_surfaces(settings_for(ddb, table)) as surfaces, churn(db, tokens) as churned:
            for change in changes:  # warm: each credential asked once on each surface, and not changed yet
                for surface, ask in surfaces.items():
                    if change.shows(ask(change.trial)):
                        raise RuntimeError(f"{engine} {change.kind}: changed before its commit on {surface}")
            run_changes(db, surfaces, changes, spacing=0.2)
            time.sleep(2 * INTERVAL_SECONDS)  # the last changes written, before the quiet window
            before, status_before = counter.snapshot()
            churned_before = churned[0]
            time.sleep(churn_s)
            after, status_after = counter.snapshot()
            churned_rows = churned[0] - churned_before
        passes = []
        while not events.empty():
            passes.append(events.get())
    writes = sum((after - before)[op] for op in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"))
    writes += (after - before)["BatchWriteItem"] - (status_after - status_before)
    return {
        "first": first,
        "changes": changes,
        "writing_passes": [e["seconds"] for e in passes if e.get("event") == "pass" and e.get("summary")],
        "churn": {
            "seconds": churn_s,
            "rows": churned_rows,
            "writes": writes,
            "status_writes": status_after - status_before,
            "requests": dict(after - before),
        },
    }


def scale(engine: str, server: Any, scratch: Path, moto: str, *, size: int, passes: int) -> dict[str, Any]:
    db = database(engine, server, scratch, f"scale_{engine}_{size}", gateways.bulk_rows(ONE_API, size, 0))
    table = fresh_table(moto, f"scale-{engine}-{size}")
    command = [sys.executable, "-m", "infra.bench.follow_pass", db.source, moto, table, "--passes", str(passes)]
    command += ["--server-pid", str(db.server_pid)]
    result = subprocess.run(command, check=True, capture_output=True, text=True, timeout=1800)
    measured: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    if engine == "sqlite":
        measured["file_mb"] = Path(db.source).stat().st_size / 1024 / 1024
    return measured


def _s(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:.2f} s"


def run(report: Report, *, quick: bool, trials: int | None = None) -> None:
    trials = trials or (5 if quick else 20)
    tokens = 2_000 if quick else 20_000
    sizes = (5_000, 20_000) if quick else (20_000, 100_000)
    churn_s = 20.0 if quick else 65.0
    load = os.getloadavg()[0]
    print(f"   follow: load average {load:.1f} on {os.cpu_count()} CPUs at the start", flush=True)
    jar = find_jar_dir()
    if jar is None:
        report.section("Follow", "DynamoDB Local is not installed (./infra/dev test installs it): not measured")
        return
    with servers(ENGINES) as found, tempfile.TemporaryDirectory() as scratch_dir, DynamoDBLocal(jar) as ddb:
        scratch = Path(scratch_dir)
        results = {}
        for engine, server in found.items():
            print(f"   follow: {engine}, {tokens:,} keys, {trials} trials of each change", flush=True)
            results[engine] = propagation(
                engine, server, scratch, ddb.endpoint_url, tokens=tokens, trials=trials, churn_s=churn_s
            )
        report_propagation(report, results, tokens, trials)
        report_churn(report, results)
        measured: dict[tuple[str, int], dict[str, Any]] = {}
        with EmbeddedDynamoDB() as moto:
            for engine, server in found.items():
                for size in sizes:
                    print(f"   follow: scale, {engine}, {size:,} keys", flush=True)
                    measured[engine, size] = scale(engine, server, scratch, moto.endpoint_url, size=size, passes=5)
        report_scale(report, measured, sizes)


def report_propagation(report: Report, results: dict[str, dict[str, Any]], tokens: int, trials: int) -> None:
    report.section(
        "Follow: from a commit in the gateway's database to the changed answer",
        f"migrate --follow with its defaults (2 s) into DynamoDB Local; {tokens:,} keys; worst of {trials} trials "
        f"each; warm serve and warm Lambda handler (REVALIDATE_SECONDS=2); the relay's churn running",
    )
    report.row("engine: change", "serve", "lambda", "median")
    for engine, result in results.items():
        changes: list[Change] = result["changes"]
        worst_all = 0.0
        for kind in KINDS:
            mine = [c for c in changes if c.kind == kind]
            serve = max(c.latency["serve"] for c in mine)
            handler = max(c.latency["lambda"] for c in mine)
            middle = statistics.median([v for c in mine for v in c.latency.values()])
            worst_all = max(worst_all, serve, handler)
            report.row(f"{engine}: {kind}", _s(serve), _s(handler), _s(middle))
        met = worst_all <= BOUND_SECONDS
        note = report.target(f"follow propagation, {engine}", _s(worst_all), "≤ 5 s", met)
        report.row(f"{engine}: worst of all", _s(worst_all), "", f"{worst_all / BOUND_SECONDS:.2f}×", note=note)
        took = result["writing_passes"] or [0.0]
        report.row(
            f"{engine}: follower passes that wrote",
            f"{statistics.median(took):.2f} s",
            f"{max(took):.2f} s",
            note=f"median, max of {len(took)}; first (full) pass {result['first']['seconds']:.1f} s",
        )


def report_churn(report: Report, results: dict[str, dict[str, Any]]) -> None:
    report.section(
        "Follow: the relay's churn",
        f"{CHURN_ROWS_PER_SECOND} token rows a second (remain_quota, used_quota, accessed_time), nothing else "
        "changing; the follower's DynamoDB requests counted at the wire",
    )
    report.row("engine", "rows", "writes", "status", note="requests")
    for engine, result in results.items():
        churned = result["churn"]
        note = report.target(
            f"follow churn writes, {engine}",
            str(churned["writes"]),
            "0 beyond the status record",
            churned["writes"] == 0,
        )
        report.row(
            f"{engine} ({churned['seconds']:.0f} s)",
            f"{churned['rows']:,}",
            str(churned["writes"]),
            str(churned["status_writes"]),
            note=f"{churned['requests'] or 'none'} · {note}",
        )


def report_scale(report: Report, measured: dict[tuple[str, int], dict[str, Any]], sizes: tuple[int, ...]) -> None:
    report.section(
        "Follow: one pass at rest, by size",
        "median of 5 passes after the first (full) one; source bytes through a counting relay (SQLite: read in "
        "process); source CPU = the server's process tree; RSS = the follower process",
    )
    report.row("engine, keys", "first pass", "pass", "rows", "bytes", "src CPU", "CPU", "RSS")
    for (engine, size), m in measured.items():
        seconds = m["seconds"]["median"]
        read = f"{m['bytes']['median'] / 1e6:.1f} MB" if engine != "sqlite" else f"({m['file_mb']:.0f} MB file)"
        source_cpu = f"{m['server_cpu']['median']:.2f} s" if engine != "sqlite" else "in-proc"
        report.row(
            f"{engine}, {size:,}",
            f"{m['full_seconds']:.1f} s",
            f"{seconds:.2f} s",
            f"{m['rows']:,}",
            read,
            source_cpu,
            f"{m['cpu']['median']:.2f} s",
            f"{m['memory_mb']['VmRSS']:.0f} MB",
            note=f"peak {m['memory_mb']['VmHWM']:.0f} MB · pass {seconds / INTERVAL_SECONDS:.2f}× the interval",
        )
    small, large = sizes[0], sizes[-1]
    for engine in sorted({e for e, _ in measured}):
        t_small, t_large = (measured[engine, s]["seconds"]["median"] for s in (small, large))
        per_key = (t_large - t_small) / (large - small)
        fits = (INTERVAL_SECONDS - (t_small - per_key * small)) / per_key if per_key > 0 else math.inf
        met = t_large <= INTERVAL_SECONDS
        note = report.target(f"follow pass at {large:,} keys, {engine}", f"{t_large:.2f} s", "≤ the 2 s interval", met)
        report.row(
            f"{engine}: a pass fits 2 s up to", f"~{fits:,.0f} keys", note=f"{per_key * 1e6:.1f} µs a key · {note}"
        )
