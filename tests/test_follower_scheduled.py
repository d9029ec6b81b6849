"""The scheduled follower (infra/migrate/scheduled.py, template.yaml FollowerFunction), invoked as Lambda invokes it:
its handler, against a real one-api / new-api database (SQLite file, private MariaDB or PostgreSQL) and moto's
server holding the table and the Secrets Manager secret with the database URL. The passes within an invocation run
on a clock the test drives; the built artifact is invoked on the Lambda runtime's Python too."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from handler.core import keys
from handler.store import layout
from infra.migrate import scheduled
from infra.migrate.scheduled import PASSES_METRIC, Scheduled
from infra.migrate.status import read_statuses
from infra.registry import Registry
from tests.conftest import DB_PASSWORD, Gateway, settings_for
from tests.support import gateways
from tests.support.cli import WRITES, count_requests
from tests.support.gateways import CATALOG, ENGINES, NEW_API, ONE_API, GatewayRows, gateway_rows
from tests.support.server import fresh_table, serve
from tests.test_migrate import check_every_key

ROOT = Path(__file__).resolve().parent.parent
MakeGateway = Callable[[str, str, GatewayRows], Gateway]


@dataclass
class DrivenClock:
    """Time that moves only when the invocation sleeps between passes."""

    now: float = 5_000.0
    slept: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_900_000_000 + self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class Context:
    """Lambda's context: the time left of the function's timeout (template.yaml: 300 s)."""

    remaining_ms: int = 300_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class Deployment:
    """What the template gives the function: a table, a secret holding the source URL, the environment."""

    endpoint: str
    registry: Registry
    secret_arn: str
    environ: dict[str, str]
    records: list[str] = field(default_factory=list)  # what the function printed (its EMF records)

    def client(self, service: str) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # moto takes any
        )

    def function(self, clock: DrivenClock | None = None) -> Scheduled:
        """A new container."""
        return Scheduled(self.environ, clients=self.client, write=self.records.append, clock=clock or DrivenClock())

    def metrics(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.records]

    def put_source(self, url: str) -> None:
        self.client("secretsmanager").put_secret_value(SecretId=self.secret_arn, SecretString=url)


@pytest.fixture
def deploy(moto_endpoint: str) -> Callable[..., Deployment]:
    def make(source: str, **environ: str) -> Deployment:
        table, registry = fresh_table(moto_endpoint, {"models": CATALOG})
        deployment = Deployment(moto_endpoint, registry, "", {})
        name = f"modelgate-follower-{table}"
        secret = deployment.client("secretsmanager").create_secret(Name=name, SecretString=source)
        deployment.secret_arn = secret["ARN"]
        deployment.environ = {
            "TABLE_NAME": table,
            "SOURCE_SECRET_ARN": secret["ARN"],
            "METRICS_NAMESPACE": "modelgate/test-stack",
            **environ,
        }
        return deployment

    return make


def _token(registry: Registry, n: int) -> dict[str, Any] | None:
    return registry.get(layout.token_key(keys.key_hash("sk-" + gateways.key_of(n))))


@pytest.mark.parametrize(
    ("engine", "flavour"), [*((e, ONE_API) for e in ENGINES), ("sqlite", NEW_API), ("postgresql", NEW_API)]
)
def test_an_invocation_follows_the_gateway_into_the_table(  # noqa: PLR0917
    engine: str,
    flavour: str,
    make_gateway: MakeGateway,
    deploy: Callable[..., Deployment],
    moto_endpoint: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """GIVEN a gateway database and the function deployed with its URL in the secret, one pass per invocation
    WHEN it is invoked
    THEN every key lists or is refused as the gateway would, through the OpenAI SDK against the table it wrote;
    the invocation reports one completed pass in its EMF record; the status record names the source without its
    password; and no log line holds the password or a whole key."""
    rows = gateway_rows(flavour, int(time.time()))
    gateway = make_gateway(engine, flavour, rows)
    deployment = deploy(gateway.source, FOLLOW_INTERVAL_SECONDS="60")
    caplog.set_level(logging.INFO, logger="modelgate.follower")

    result = deployment.function()({}, Context())

    assert result == {"passes": 1, "completed": 1}
    [record] = deployment.metrics()
    assert (record[PASSES_METRIC], record["FollowerFailures"]) == (1, 0)
    directive = record["_aws"]["CloudWatchMetrics"][0]
    assert directive == {
        "Namespace": "modelgate/test-stack",
        "Dimensions": [[]],
        "Metrics": [{"Name": "FollowerPasses", "Unit": "Count"}, {"Name": "FollowerFailures", "Unit": "Count"}],
    }
    with serve(settings_for(table_name=deployment.registry.table, dynamodb_endpoint_url=moto_endpoint)) as server:
        check_every_key(server.base_url, rows)
    [status] = read_statuses(deployment.registry)
    assert status["passes"] == 1
    assert status.get("last_error") is None
    logged = caplog.text + json.dumps(status, default=str)
    assert DB_PASSWORD not in logged
    assert not any(gateways.key_of(n) in logged for n in range(1, 22))


def test_a_warm_container_passes_every_interval_until_the_next_invocation_and_churn_writes_nothing(
    make_gateway: MakeGateway, deploy: Callable[..., Deployment], monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN the function deployed with the default interval (2 s), invoked once (its first, full pass)
    WHEN the relay updates quotas and access times on every token, and the container is invoked again
    THEN that invocation runs 30 passes, 2 s apart on its clock, inside the minute before the next one is due,
    and they send no DynamoDB request but the status record's one write (at most once a minute): churn costs
    nothing; the secret is read once."""
    gateway = make_gateway("sqlite", ONE_API, gateway_rows(ONE_API, int(time.time())))
    deployment = deploy(gateway.source)
    clock = DrivenClock()
    function = deployment.function(clock)
    first = function({}, Context())
    assert first == {"passes": 30, "completed": 30}
    gateway.execute(  # what the relay writes per call; no quota crosses zero (that would be a real change)
        "UPDATE tokens SET accessed_time = accessed_time + 1, used_quota = used_quota + 7, "
        "remain_quota = CASE WHEN remain_quota > 100 THEN remain_quota - 7 ELSE remain_quota END"
    )
    gateway.execute("UPDATE users SET used_quota = used_quota + 7, request_count = request_count + 1")
    requests = count_requests(monkeypatch)
    started = clock.now

    second = function({}, Context())

    assert second == {"passes": 30, "completed": 30}
    assert clock.slept[-29:] == [2.0] * 29
    assert clock.now - started == 58.0  # the last pass starts 2 s before the next invocation is due
    assert dict(requests) == {"GetSecretValue": 1, "BatchWriteItem": 1}  # the secret, and the status record
    assert [m[PASSES_METRIC] for m in deployment.metrics()] == [30, 30]


def test_a_change_is_written_by_the_next_pass_and_the_first_pass_of_a_new_container_reads_the_table(
    make_gateway: MakeGateway, deploy: Callable[..., Deployment], monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN the function after one invocation (one pass each)
    WHEN a key is disabled and another deleted in the gateway and the warm container is invoked
    THEN that pass writes just those two keys; AND a new container (cold) compares with the whole table, finds it
    already in step, and writes nothing."""
    gateway = make_gateway("sqlite", ONE_API, gateway_rows(ONE_API, int(time.time())))
    deployment = deploy(gateway.source, FOLLOW_INTERVAL_SECONDS="60")
    warm = deployment.function()
    warm({}, Context())
    assert (_token(deployment.registry, 1) or {})["status"] == "enabled"
    gateway.execute("UPDATE tokens SET status = 2 WHERE id = 1")
    gateway.execute("DELETE FROM tokens WHERE id = 13")

    assert warm({}, Context()) == {"passes": 1, "completed": 1}

    assert (_token(deployment.registry, 1) or {})["status"] == "disabled"
    assert _token(deployment.registry, 13) is None
    requests = count_requests(monkeypatch)
    assert deployment.function()({}, Context()) == {"passes": 1, "completed": 1}
    assert requests["Query"] > 0  # the full pass read the table
    assert sum(requests[op] for op in WRITES) == 1  # the status record only (a new container's first pass)


def test_an_unreachable_source_completes_no_pass_and_says_why_without_the_password(
    deploy: Callable[..., Deployment], caplog: pytest.LogCaptureFixture, mariadb: Any
) -> None:
    """GIVEN the secret naming a MariaDB database that refuses the password
    WHEN the function is invoked (one pass)
    THEN it returns normally with no completed pass (a failed pass is retried after its backoff, 30 s at most, so
    twice in the minute), its EMF record counts the failures (the alarm's metric stays at 0), each log line says
    why with the password masked, and nothing but the status record reaches the table."""
    url = mariadb.url("nobody", "wrong-Pa55word", "no_such_db")
    deployment = deploy(url, FOLLOW_INTERVAL_SECONDS="60")
    caplog.set_level(logging.INFO, logger="modelgate.follower")

    result = deployment.function()({}, Context())

    assert result == {"passes": 2, "completed": 0}
    [record] = deployment.metrics()
    assert (record[PASSES_METRIC], record["FollowerFailures"]) == (0, 2)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(lines) == 2
    assert all("pass failed, nothing written" in line and "cannot connect" in line for line in lines)
    assert "mysql://nobody:****@127.0.0.1:" in lines[0]
    assert "wrong-Pa55word" not in caplog.text
    [status] = read_statuses(deployment.registry)
    assert "cannot connect" in status["last_error"]
    assert "wrong-Pa55word" not in json.dumps(status, default=str)
    assert list(deployment.registry.list_kind(layout.TOKEN)) == []


def test_a_rotated_secret_is_read_on_the_next_invocation(
    make_gateway: MakeGateway, deploy: Callable[..., Deployment]
) -> None:
    """GIVEN a warm container following one SQLite file
    WHEN the secret is changed to name a copy with a key disabled
    THEN the next invocation reads the new URL (each invocation reads the secret once)."""
    gateway = make_gateway("sqlite", ONE_API, gateway_rows(ONE_API, int(time.time())))
    deployment = deploy(gateway.source, FOLLOW_INTERVAL_SECONDS="60", SOURCE_NAME="gateway")
    function = deployment.function()
    function({}, Context())
    moved = Path(gateway.source).with_name("moved.db")
    shutil.copy(gateway.source, moved)
    Gateway("sqlite", str(moved), lambda: __import__("sqlite3").connect(moved)).execute(
        "UPDATE tokens SET status = 2 WHERE id = 3"
    )
    deployment.put_source(f"sqlite:///{moved}")

    assert function({}, Context()) == {"passes": 1, "completed": 1}

    assert (_token(deployment.registry, 3) or {})["status"] == "disabled"
    assert (_token(deployment.registry, 3) or {})["origin"] == "migrate:gateway"  # the name, not the path


def test_a_bad_interval_or_a_malformed_url_is_refused_in_one_line(deploy: Callable[..., Deployment]) -> None:
    """GIVEN an interval out of range THEN the container does not start; GIVEN a secret that is no database URL
    THEN the invocation says so, counts a failure and writes nothing."""
    with pytest.raises(ValueError, match=r"FOLLOW_INTERVAL_SECONDS=90: between 0.5 and 60"):
        deploy("x.db", FOLLOW_INTERVAL_SECONDS="90").function()
    deployment = deploy("oracle://scott:tiger@db/orcl", FOLLOW_INTERVAL_SECONDS="60")
    result = deployment.function()({}, Context())
    assert result["completed"] == 0
    assert "unknown source scheme 'oracle'" in result["error"]
    assert result["error"].startswith("the secret does not hold a usable database URL")
    assert "tiger" not in result["error"]
    assert deployment.metrics()[0]["FollowerFailures"] == 1


def test_a_missing_secret_is_one_line_and_a_failure_not_a_crash(deploy: Callable[..., Deployment]) -> None:
    """GIVEN SOURCE_SECRET_ARN naming no secret (deleted, or a typo) WHEN the function is invoked
    THEN it returns with no pass, one line naming Secrets Manager's refusal, and a failure in its EMF record."""
    deployment = deploy("x.db", FOLLOW_INTERVAL_SECONDS="60")
    deployment.environ["SOURCE_SECRET_ARN"] = deployment.secret_arn.replace("modelgate-follower", "no-such")

    result = deployment.function()({}, Context())

    assert result["passes"] == 0
    assert result["error"].startswith("the secret SOURCE_SECRET_ARN cannot be read: ResourceNotFoundException")
    assert deployment.metrics()[0]["FollowerFailures"] == 1


@pytest.fixture(scope="module")
def follower_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The x86_64 build of `make build-FollowerFunction` (the same lock and Makefile as the arm64 artifact)."""
    target = tmp_path_factory.mktemp("follower-artifact")
    subprocess.run(
        [
            "make",
            "--makefile",
            str(ROOT / "infra" / "build" / "Makefile"),
            "build-FollowerFunction",
            f"ARTIFACTS_DIR={target}",
            f"PYTHON={sys.executable}",
            "PLATFORM=manylinux2014_x86_64",
        ],
        cwd=ROOT / "infra" / "migrate",  # SAM runs make in a copy of CodeUri
        check=True,
        capture_output=True,
        timeout=300,
    )
    return target


@pytest.mark.build
def test_the_built_artifact_follows_on_the_lambda_runtimes_python(
    follower_artifact: Path, make_gateway: MakeGateway, deploy: Callable[..., Deployment]
) -> None:
    """GIVEN the function's artifact (its lock's drivers, the modules it imports, nothing of the web app or CLI)
    WHEN its handler is invoked on CPython 3.13 with only the runtime's boto3 besides it, pointed at moto by
    AWS_ENDPOINT_URL as a local invoke is
    THEN the pass completes and the table holds the gateway's keys."""
    runtime = os.environ.get("MODELGATE_LAMBDA_RIC")
    if not runtime or not Path(runtime).is_file():
        if os.environ.get("CI") == "true":
            pytest.fail("the Lambda runtime's Python must be installed in CI: ./infra/dev test installs it")
        pytest.skip("the Lambda runtime's Python is not installed (MODELGATE_LAMBDA_RIC)")
    assert not (follower_artifact / "infra" / "cli").exists()
    assert not (follower_artifact / "handler" / "web").exists()
    assert {"pymysql", "psycopg", "psycopg_binary", "yaml"} <= {p.name for p in follower_artifact.iterdir()}
    gateway = make_gateway("sqlite", NEW_API, gateway_rows(NEW_API, int(time.time())))
    deployment = deploy(gateway.source, FOLLOW_INTERVAL_SECONDS="60")
    environ = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(follower_artifact),
        "AWS_ENDPOINT_URL": deployment.endpoint,
        "AWS_REGION": "us-east-1",  # Lambda sets both
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "FOLLOW_TIMEOUT_SECONDS": "120",
        **deployment.environ,
    }

    run = subprocess.run(
        [runtime, "-m", "infra.migrate.scheduled"],
        cwd=follower_artifact,
        env=environ,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.splitlines()[-1]) == {"passes": 1, "completed": 1}
    emf = json.loads(run.stdout.splitlines()[-2])
    assert emf[PASSES_METRIC] == 1
    assert (_token(deployment.registry, 1) or {})["status"] == "enabled"


def test_the_handler_keeps_its_follower_across_invocations(
    make_gateway: MakeGateway,
    deploy: Callable[..., Deployment],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """GIVEN the module's `handler` with the environment as template.yaml sets it
    WHEN it is invoked twice THEN the second invocation reuses the container's follower (an incremental pass)."""
    gateway = make_gateway("sqlite", ONE_API, gateway_rows(ONE_API, int(time.time())))
    deployment = deploy(gateway.source, FOLLOW_INTERVAL_SECONDS="60")
    for name, value in {**deployment.environ, "AWS_ENDPOINT_URL": deployment.endpoint}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(scheduled, "_scheduled", None)

    scheduled.handler({}, Context())
    container = scheduled._scheduled
    scheduled.handler({}, Context())

    assert scheduled._scheduled is container
    assert container is not None
    assert container.follower is not None
    assert container.follower.progress is not None
    assert container.follower.progress.passes == 2
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert [m[PASSES_METRIC] for m in emitted] == [1, 1]
