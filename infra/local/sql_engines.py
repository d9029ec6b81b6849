"""Private MariaDB and PostgreSQL servers for the migrate tests: Debian's binaries, a fresh data directory in a
temporary folder, a free port on 127.0.0.1, stopped and deleted on exit. Nothing touches the system's own
instances, services or config files (`--no-defaults`).

    with MariaDB() as db:      db.url("modelgate", "secret", "oneapi")   # mysql://modelgate:secret@127.0.0.1:PORT/oneapi
    with PostgreSQL() as db:   db.url("modelgate", "secret", "oneapi")

Each server has one superuser for setup (root over MariaDB's socket; postgres over PostgreSQL's socket) and
`create_database(user, password, name)` makes a database with an owner who logs in over TCP with a password.
PostgreSQL refuses to run as root, so as root it runs as the `postgres` system user (runuser).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from infra.local.embedded import free_port

MARIADB_BINARIES = ("mariadbd", "mariadb-install-db")
POSTGRES_BIN_GLOB = "/usr/lib/postgresql/*/bin"


def _which(name: str, extra: tuple[str, ...] = ()) -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", *extra])
    return shutil.which(name, path=path)


def mariadb_missing() -> str | None:
    """Why MariaDB cannot run here (None when it can)."""
    missing = [name for name in MARIADB_BINARIES if _which(name) is None]
    return (
        f"MariaDB not installed ({', '.join(missing)} not found; apt-get install mariadb-server)" if missing else None
    )


def _postgres_bin() -> Path | None:
    found = _which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    dirs = sorted(Path("/").glob(POSTGRES_BIN_GLOB.lstrip("/")), reverse=True)
    return next((d for d in dirs if (d / "initdb").is_file()), None)


def postgres_missing() -> str | None:
    """Why PostgreSQL cannot run here (None when it can)."""
    if _postgres_bin() is None:
        return "PostgreSQL not installed (initdb not found; apt-get install postgresql)"
    if os.geteuid() == 0 and _which("runuser") is None:
        return "PostgreSQL refuses to run as root and runuser is missing"
    return None


class _Server:
    name = "server"

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix=f"modelgate-{self.name}-"))
        self._process: subprocess.Popen[bytes] | None = None
        self._log = self.root / "server.log"

    def output(self) -> str:
        try:
            return self._log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def _run(self, command: list[str], *, as_user: str | None = None) -> None:
        result = subprocess.run(
            command if as_user is None else ["runuser", "-u", as_user, "--", *command],
            capture_output=True,
            check=False,
            cwd=self.root,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{command[0]} failed: {(result.stdout + result.stderr).decode(errors='replace')[-1500:]}"
            )

    def _spawn(self, command: list[str], *, as_user: str | None = None) -> None:
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                command if as_user is None else ["runuser", "-u", as_user, "--", *command],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                start_new_session=True,
            )

    def _wait(self, ready: Any, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self._process.returncode}: {self.output()}")
            try:
                ready()
                return
            except Exception:  # not accepting connections yet
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} did not start within {timeout:g} s: {self.output()}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


class MariaDB(_Server):
    name = "mariadb"

    @property
    def socket(self) -> str:
        return str(self.root / "mysqld.sock")

    def start(self) -> MariaDB:
        data = self.root / "data"
        self._run(
            [
                str(_which("mariadb-install-db")),
                "--no-defaults",
                f"--datadir={data}",
                "--user=root" if os.geteuid() == 0 else f"--user={os.environ.get('USER', 'nobody')}",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ]
        )
        self._spawn(
            [
                str(_which("mariadbd")),
                "--no-defaults",
                f"--datadir={data}",
                f"--socket={self.socket}",
                f"--pid-file={self.root / 'mysqld.pid'}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=32M",
                "--innodb-log-file-size=16M",
                "--character-set-server=utf8mb4",
                *(["--user=root"] if os.geteuid() == 0 else []),
            ]
        )
        self._wait(lambda: self.admin().close())
        return self

    def admin(self) -> Any:
        import pymysql  # noqa: PLC0415

        return pymysql.connect(unix_socket=self.socket, user="root", autocommit=True)

    def create_database(self, user: str, password: str, name: str) -> None:
        with self.admin() as connection, connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
            cursor.execute(f"CREATE USER IF NOT EXISTS '{user}'@'127.0.0.1' IDENTIFIED BY %s", (password,))
            cursor.execute(f"GRANT ALL ON `{name}`.* TO '{user}'@'127.0.0.1'")

    def url(self, user: str, password: str, name: str) -> str:
        return f"mysql://{user}:{password}@127.0.0.1:{self.port}/{name}"

    def __enter__(self) -> MariaDB:
        return self.start()


class PostgreSQL(_Server):
    name = "postgresql"

    def __init__(self) -> None:
        super().__init__()
        self._user = "postgres" if os.geteuid() == 0 else None

    def start(self) -> PostgreSQL:
        binaries = _postgres_bin()
        assert binaries is not None
        data = self.root / "data"
        if self._user is not None:
            shutil.chown(self.root, self._user)
        self._run(
            [
                str(binaries / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
            as_user=self._user,
        )
        self._spawn(
            [
                str(binaries / "postgres"),
                "-D",
                str(data),
                "-k",
                str(self.root),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "shared_buffers=32MB",
            ],
            as_user=self._user,
        )
        self._wait(lambda: self.admin().close())
        return self

    def admin(self, database: str = "postgres") -> Any:
        import psycopg  # noqa: PLC0415

        return psycopg.connect(host=str(self.root), port=self.port, user="postgres", dbname=database, autocommit=True)

    def create_database(self, user: str, password: str, name: str) -> None:
        from psycopg import sql  # noqa: PLC0415

        with self.admin() as connection:
            if connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone() is None:
                connection.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(user), password))
            connection.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(user))
            )

    def url(self, user: str, password: str, name: str) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{name}"

    def __enter__(self) -> PostgreSQL:
        return self.start()
