"""Time `modelgate migrate` of a large one-api / new-api database on each engine, and count its DynamoDB requests.

    .venv/bin/python -m tests.support.migrate_bench [--tokens 20000] [--engines sqlite,mysql,postgresql]

For each engine: a fresh database (SQLite file, private MariaDB, private PostgreSQL) with --tokens keys, migrated
into AWS DynamoDB Local (moto's Query scans its whole table per page, which would dominate) through the real
CLI: the first run, a re-run (which must write nothing), and a --prune run after one key is deleted in the
source. Times are wall clock on this machine; request counts are exact (botocore's calls, by operation).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from botocore.client import BaseClient

from infra.cli.main import main
from infra.local.sql_engines import MariaDB, PostgreSQL, mariadb_missing, postgres_missing
from tests.support import gateways

WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


@contextlib.contextmanager
def counted() -> Iterator[Counter[str]]:
    calls: Counter[str] = Counter()
    send = BaseClient.__dict__["_make_api_call"]

    def counting(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls[operation] += 1
        return send(client, operation, params)

    setattr(BaseClient, "_make_api_call", counting)  # noqa: B010  # botocore's private hook, as the tests patch it
    try:
        yield calls
    finally:
        setattr(BaseClient, "_make_api_call", send)  # noqa: B010


def run(*argv: str) -> tuple[dict[str, Any], float, Counter[str]]:
    out = io.StringIO()
    with counted() as calls, contextlib.redirect_stdout(out):
        started = time.perf_counter()
        code = main([*argv, "--json"])
        seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"migrate exited {code}")
    return json.loads(out.getvalue()), seconds, calls


def fill(connect: Callable[[], Any], engine: str, flavour: str, tokens: int) -> None:
    connection = connect()
    try:
        cursor = connection.cursor()
        for statement in gateways.ddl(flavour, engine):
            cursor.execute(statement)
        gateways.insert_rows(connection, engine, gateways.bulk_rows(flavour, tokens, int(time.time())))
    finally:
        connection.close()


def bench(engine: str, source: str, connect: Callable[[], Any], table: str) -> dict[str, Any]:
    first, first_s, first_calls = run("migrate", source, "--table", table)
    again, again_s, again_calls = run("migrate", source, "--table", table)
    connection = connect()
    connection.cursor().execute("DELETE FROM tokens WHERE id = 7")
    connection.commit()
    connection.close()
    pruned, pruned_s, pruned_calls = run("migrate", source, "--table", table, "--prune")
    return {
        "engine": engine,
        "found": first["found"],
        "first": (first_s, first["seconds"]["read"], dict(first_calls)),
        "again": (again_s, again["summary"], dict(again_calls)),
        "prune": (pruned_s, pruned["summary"], dict(pruned_calls)),
    }


def main_bench(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.migrate_bench", description=__doc__)
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--engines", default="sqlite,mysql,postgresql")
    parser.add_argument("--flavour", default=gateways.ONE_API, choices=[gateways.ONE_API, gateways.NEW_API])
    args = parser.parse_args(argv)
    for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench")):
        os.environ[name] = value
    os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = "us-east-1"
    os.environ.pop("DYNAMODB_ENDPOINT_URL", None)
    import boto3  # noqa: PLC0415
    from moto import mock_aws  # noqa: PLC0415

    from infra.apply import apply_seed  # noqa: PLC0415
    from infra.registry import Registry  # noqa: PLC0415
    from infra.seed import parse_seed  # noqa: PLC0415
    from infra.table import create_table  # noqa: PLC0415

    results = []
    with mock_aws(), tempfile.TemporaryDirectory() as scratch:
        client = boto3.client("dynamodb", region_name="us-east-1")
        for engine in args.engines.split(","):
            table = f"bench-{engine}"
            create_table(client, table)
            apply_seed(parse_seed({"models": gateways.CATALOG}), Registry(client, table))
            flavour, name = args.flavour, f"bench_{engine}"
            connect: Callable[[], Any]
            with contextlib.ExitStack() as stack:
                if engine == "sqlite":
                    path = Path(scratch) / "one-api.db"
                    source = str(path)

                    def connect(path: Path = path) -> Any:
                        return sqlite3.connect(path)

                elif engine == "mysql":
                    if mariadb_missing():
                        print(f"{engine}: skipped ({mariadb_missing()})")
                        continue
                    server: Any = stack.enter_context(MariaDB())
                    server.create_database("bench", "bench-pass", name)
                    import pymysql  # noqa: PLC0415

                    source = server.url("bench", "bench-pass", name)

                    def connect(server: Any = server, name: str = name) -> Any:
                        return pymysql.connect(
                            host="127.0.0.1", port=server.port, user="bench", password="bench-pass", database=name
                        )

                else:
                    if postgres_missing():
                        print(f"{engine}: skipped ({postgres_missing()})")
                        continue
                    server = stack.enter_context(PostgreSQL())
                    server.create_database("bench", "bench-pass", name)
                    import psycopg  # noqa: PLC0415

                    source = server.url("bench", "bench-pass", name)

                    def connect(server: Any = server, name: str = name) -> Any:
                        return psycopg.connect(
                            host="127.0.0.1", port=server.port, user="bench", password="bench-pass", dbname=name
                        )

                fill(connect, engine, flavour, args.tokens)
                results.append(bench(engine, source, connect, table))
    for result in results:
        first_s, read_s, first_calls = result["first"]
        again_s, again_summary, again_calls = result["again"]
        prune_s, prune_summary, prune_calls = result["prune"]
        print(f"{result['engine']}: {result['found']}")
        print(f"  first run  {first_s:6.1f} s (reading the source {read_s:.2f} s)  requests {first_calls}")
        print(f"  re-run     {again_s:6.1f} s  changes {again_summary or 'none'}  requests {again_calls}")
        print(f"  --prune    {prune_s:6.1f} s  changes {prune_summary}  requests {prune_calls}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main_bench())
