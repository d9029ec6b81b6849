"""A one-api / new-api database, opened read-only: a SQLite file, MySQL/MariaDB or PostgreSQL.

SOURCE is a path (or sqlite:///path), mysql://user:pass@host:port/db or postgresql://user:pass@host:port/db.
The password never appears in a message: `shown` is the URL with it masked, and MODELGATE_MIGRATE_PASSWORD may
supply it instead. The drivers (PyMySQL, psycopg 3) are imported here only, when such a source is opened.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, unquote, urlsplit

PASSWORD_VARIABLE = "MODELGATE_MIGRATE_PASSWORD"  # noqa: S105  # the variable's name, not a password
CONNECT_TIMEOUT_SECONDS = 10
INSTALL_HINT = "pip install 'modelgate[migrate]'"


class SourceError(Exception):
    """The source cannot be read: a bad URL, unreachable, refused, or not a one-api / new-api schema."""


@dataclass(frozen=True)
class SourceUrl:
    engine: str  # sqlite | mysql | postgresql
    path: str = ""  # sqlite
    host: str = ""
    port: int | None = None
    user: str = ""
    password: str | None = None
    database: str = ""

    @property
    def shown(self) -> str:
        """The source as it may be printed: never the password."""
        if self.engine == "sqlite":
            return self.path
        auth = quote(self.user, safe="") + (":****" if self.password else "") + "@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{self.engine}://{auth}{self.host}{port}/{self.database}"

    @property
    def identity(self) -> str:
        """Who the records migrated from here belong to, by default: the URL without user or password (an absolute
        path for SQLite), the same whichever credentials read it."""
        if self.engine == "sqlite":
            return "sqlite://" + str(Path(self.path).resolve())
        port = f":{self.port}" if self.port else ""
        return f"{self.engine}://{self.host}{port}/{self.database}"


def parse_source(text: str, environ: dict[str, str] | None = None) -> SourceUrl:
    env = os.environ if environ is None else environ
    scheme = text.partition("://")[0].lower() if "://" in text else ""
    if not scheme:
        return SourceUrl("sqlite", path=text)
    if scheme == "sqlite":  # sqlite:/// then the path, as SQLAlchemy reads it: sqlite:////abs/path, sqlite:///rel
        path = unquote(text.partition("://")[2])
        if not path.startswith("/") or len(path) < 2:
            raise SourceError("a sqlite source is sqlite:/// followed by the path: sqlite:///one-api.db")
        return SourceUrl("sqlite", path=path[1:])
    engine = {"mysql": "mysql", "mariadb": "mysql", "postgres": "postgresql", "postgresql": "postgresql"}.get(scheme)
    if engine is None:
        raise SourceError(f"unknown source scheme {scheme!r}: use a SQLite path, mysql:// or postgresql://")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise SourceError(f"not a valid {engine} URL: {error}") from None
    database = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not database:
        raise SourceError(f"{engine} source needs a host and a database: {engine}://user:pass@host:port/db")
    password = unquote(parts.password) if parts.password is not None else env.get(PASSWORD_VARIABLE)
    return SourceUrl(
        engine,
        host=parts.hostname,
        port=port,
        user=unquote(parts.username or ""),
        password=password,
        database=database,
    )


class Source(AbstractContextManager["Source"]):
    """A read-only connection: its tables' columns, and rows of a SELECT. `quote` names a column for this engine."""

    def __init__(self, url: SourceUrl, connection: Any, quote_char: str, errors: type[Exception]) -> None:
        self.url = url
        self._connection = connection
        self._quote = quote_char
        self._errors = errors  # the driver's base error: a read that fails midway becomes a SourceError
        self._columns: dict[str, set[str]] = {}

    def quote(self, name: str) -> str:
        return f"{self._quote}{name}{self._quote}"

    def columns(self, table: str) -> set[str]:
        """The table's column names (empty when there is no such table)."""
        if table not in self._columns:
            if self.url.engine == "sqlite":
                found = {str(row[1]) for row in self.rows(f"PRAGMA table_info({self.quote(table)})")}
            else:
                schema = "DATABASE()" if self.url.engine == "mysql" else "current_schema()"
                sql = (
                    "SELECT column_name FROM information_schema.columns "  # noqa: S608  # constant names
                    f"WHERE table_schema = {schema} AND table_name = %s"
                )
                found = {str(row[0]) for row in self.rows(sql, (table,))}
            self._columns[table] = found
        return self._columns[table]

    def rows(self, sql: str, parameters: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        try:
            cursor = self._connection.cursor()
            try:
                cursor.execute(sql, tuple(parameters))
                while True:
                    batch = cursor.fetchmany(2000)
                    if not batch:
                        return
                    yield from (tuple(row) for row in batch)
            finally:
                cursor.close()
        except self._errors as error:  # a lock timeout, a dropped connection, a table gone: nothing half-read is used
            raise SourceError(f"{self.url.shown}: reading failed: {_first_line(error, self.url)}") from None

    def close(self) -> None:
        try:
            self._connection.rollback()  # the read-only transaction: nothing to keep
        except self._errors:
            pass  # the connection already dropped: the read failed and said so
        finally:
            self._connection.close()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def check_driver(url: SourceUrl) -> None:
    """Refuse early when the source's driver is not installed (no retry would help)."""
    if url.engine == "mysql":
        _driver("pymysql", "MySQL/MariaDB")
    elif url.engine == "postgresql":
        _driver("psycopg", "PostgreSQL")


def open_source(url: SourceUrl) -> Source:
    if url.engine == "sqlite":
        return _open_sqlite(url)
    if url.engine == "mysql":
        return _open_mysql(url)
    return _open_postgresql(url)


def _open_sqlite(url: SourceUrl) -> Source:
    path = Path(url.path)
    if not path.is_file():
        raise SourceError(f"{url.shown}: no such SQLite file")
    try:  # mode=ro: SQLite itself refuses every write
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=CONNECT_TIMEOUT_SECONDS)
        connection.execute("BEGIN")  # one snapshot for every table read (a WAL database keeps taking writes)
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as error:
        raise SourceError(f"{url.shown}: cannot read it as SQLite: {error}") from None
    return Source(url, connection, '"', sqlite3.Error)


def _driver(module: str, engine: str) -> Any:
    import importlib  # noqa: PLC0415

    try:
        return importlib.import_module(module)
    except ImportError:
        raise SourceError(
            f"reading {engine} needs the {module} driver, which is not installed: {INSTALL_HINT}"
        ) from None


def _open_mysql(url: SourceUrl) -> Source:
    pymysql = _driver("pymysql", "MySQL/MariaDB")
    try:
        connection = pymysql.connect(
            host=url.host,
            port=url.port or 3306,
            user=url.user,
            password=url.password or "",
            database=url.database,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            charset="utf8mb4",
            autocommit=False,
        )
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION TRANSACTION READ ONLY")
            cursor.execute("START TRANSACTION READ ONLY")
    except pymysql.MySQLError as error:
        raise SourceError(f"{url.shown}: cannot connect: {_first_line(error, url)}") from None
    return Source(url, connection, "`", pymysql.MySQLError)


def _open_postgresql(url: SourceUrl) -> Source:
    psycopg = _driver("psycopg", "PostgreSQL")
    try:
        connection = psycopg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.user or None,
            password=url.password,
            dbname=url.database,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            options="-c default_transaction_read_only=on",
            application_name="modelgate-migrate",
        )
        connection.read_only = True
        # One snapshot for the users, abilities and tokens read (MySQL's default isolation already gives one).
        connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    except psycopg.Error as error:
        raise SourceError(f"{url.shown}: cannot connect: {_first_line(error, url)}") from None
    return Source(url, connection, '"', psycopg.Error)


def _first_line(error: Exception, url: SourceUrl) -> str:
    """The driver's message, one line, with the password taken out should the driver echo it."""
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return text.replace(url.password, "****") if url.password else text
