"""The scheduled follower (template.yaml `FollowerFunction`): `migrate SOURCE --follow` as a Lambda function, for
a gateway database that AWS reaches (RDS in a VPC).

An EventBridge rule invokes `handler` every minute, and at most one invocation runs at a time (reserved concurrency
1). Each invocation runs passes of the same `Follower` every FOLLOW_INTERVAL_SECONDS until the next invocation is
due, then returns: a schedule alone could not pass more often than once a minute, and the propagation bound is
seconds. With FOLLOW_INTERVAL_SECONDS=60 it is one pass per invocation. The follower lives at module scope, so a
warm container goes on from the fingerprint of what it last wrote (a pass at rest sends no DynamoDB request); a new
container starts with a full pass, as a restarted `--follow` does.

The database URL comes from Secrets Manager (SOURCE_SECRET_ARN), read once per invocation, so a rotated password is
used from the next minute on; it is never logged. Each invocation ends with one EMF record: FollowerPasses (passes
completed: read, compared and written, not held), the alarm's metric, and FollowerFailures.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import boto3
from botocore.config import Config as ClientConfig
from botocore.exceptions import BotoCoreError, ClientError

from infra.migrate.follower import Clock, Follower, SystemClock
from infra.migrate.source import SourceError, parse_source
from infra.registry import Registry

SCHEDULE_SECONDS = 60.0  # the rule's rate: the next invocation is due this long after this one started
MARGIN_SECONDS = 10.0  # left of the function's timeout when the last pass may start
DEFAULT_INTERVAL = 2.0
PASSES_METRIC, FAILURES_METRIC = "FollowerPasses", "FollowerFailures"

log = logging.getLogger("modelgate.follower")


class Context(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


@dataclass(frozen=True)
class Config:
    table: str
    secret_arn: str
    source_name: str | None
    interval: float
    namespace: str

    @classmethod
    def of(cls, environ: Mapping[str, str]) -> Config:
        interval = float(environ.get("FOLLOW_INTERVAL_SECONDS") or DEFAULT_INTERVAL)
        if not 0.5 <= interval <= SCHEDULE_SECONDS:
            raise ValueError(f"FOLLOW_INTERVAL_SECONDS={interval:g}: between 0.5 and {SCHEDULE_SECONDS:g}")
        return cls(
            table=environ["TABLE_NAME"],
            secret_arn=environ["SOURCE_SECRET_ARN"],
            source_name=environ.get("SOURCE_NAME") or None,
            interval=interval,
            namespace=environ.get("METRICS_NAMESPACE", "modelgate"),
        )


def say(data: dict[str, Any], line: str) -> None:
    """The follower's lines, as JSON log records (the function logs JSON): its counts and masked keys only."""
    if line:
        level = logging.WARNING if data.get("event") in {"error", "held"} else logging.INFO
        log.log(level, line, extra={"follower": data})


# Fail fast when the VPC has no route to a service (no endpoint, no NAT): a line in the log within seconds, not a
# connect that waits out the function's timeout.
CLIENT_CONFIG = ClientConfig(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"})


def _client(service: str) -> Any:
    """A client as the function's environment configures it (AWS_ENDPOINT_URL points a local run at moto)."""
    return boto3.client(service, config=CLIENT_CONFIG)  # type: ignore[call-overload]


def _stdout(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def emf(namespace: str, passes: int, failures: int, now: float) -> str:
    """One EMF record without dimensions (one follower per stack): CloudWatch Logs makes it two metrics."""
    directive = {
        "Namespace": namespace,
        "Dimensions": [[]],
        "Metrics": [{"Name": PASSES_METRIC, "Unit": "Count"}, {"Name": FAILURES_METRIC, "Unit": "Count"}],
    }
    record = {"_aws": {"Timestamp": int(now * 1000), "CloudWatchMetrics": [directive]}}
    return json.dumps({**record, PASSES_METRIC: passes, FAILURES_METRIC: failures}, separators=(",", ":"))


class Scheduled:
    """The container's follower, built on the first invocation; each invocation refreshes its source URL."""

    def __init__(
        self,
        environ: Mapping[str, str],
        *,
        clients: Callable[[str], Any] | None = None,
        write: Callable[[str], None] = _stdout,
        clock: Clock | None = None,
    ) -> None:
        self.config = Config.of(environ)
        self._clients = clients or _client
        self.write = write
        self.clock = clock or SystemClock()
        self.follower: Follower | None = None

    def _source(self) -> str:
        secret = self._clients("secretsmanager").get_secret_value(SecretId=self.config.secret_arn)
        return str(secret["SecretString"]).strip()

    def _ready(self) -> Follower:
        url = parse_source(self._source(), environ={})  # the password is in the secret's URL, nowhere else
        if self.follower is None:
            registry = Registry(self._clients("dynamodb"), self.config.table)
            source = self.config.source_name or url.identity
            self.follower = Follower(url, registry, source, say, interval=self.config.interval, clock=self.clock)
        self.follower.url = url
        return self.follower

    def __call__(self, event: Mapping[str, Any], context: Context) -> dict[str, Any]:
        clock = self.clock
        started = clock.monotonic()
        remaining = context.get_remaining_time_in_millis() / 1000 - MARGIN_SECONDS
        deadline = started + min(SCHEDULE_SECONDS, remaining)
        passes = completed = 0
        try:
            follower = self._ready()
        except (SourceError, ClientError, BotoCoreError) as error:  # no usable URL: say so; the alarm follows
            reason = _unusable(error)
            log.error("cannot read the source: %s", reason)
            self.write(emf(self.config.namespace, 0, 1, clock.wall()))
            return {"passes": 0, "completed": 0, "error": reason}
        while True:
            before = follower.last_completed
            began = clock.monotonic()
            wait = follower.step()
            passes += 1
            completed += follower.last_completed is not before
            if began + wait >= deadline:
                break
            clock.sleep(max(0.0, began + wait - clock.monotonic()))
        self.write(emf(self.config.namespace, completed, passes - completed, clock.wall()))
        return {"passes": passes, "completed": completed}


def _unusable(error: Exception) -> str:
    """One line for a source the invocation cannot even name: the secret unreadable, or not a database URL."""
    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        return f"the secret SOURCE_SECRET_ARN cannot be read: {detail.get('Code', '')} {detail.get('Message', '')}"
    if isinstance(error, BotoCoreError):
        return f"Secrets Manager cannot be reached (does the VPC have an endpoint or a NAT?): {error}"
    return f"the secret does not hold a usable database URL: {error}"


_scheduled: Scheduled | None = None


def handler(event: Mapping[str, Any], context: Context) -> dict[str, Any]:
    """The Lambda entry point: the container's follower, one invocation's passes."""
    global _scheduled  # noqa: PLW0603  # the follower outlives invocations: that is what keeps passes incremental
    if _scheduled is None:
        _scheduled = Scheduled(os.environ)
    return _scheduled(event, context)


class _LocalContext:
    """A context as Lambda gives one, for a local invocation: the function's timeout ahead."""

    def __init__(self, seconds: float) -> None:
        self._until = SystemClock().monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self._until - SystemClock().monotonic()) * 1000)


if __name__ == "__main__":  # one local invocation: the environment as template.yaml sets it (README "On AWS")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    print(json.dumps(handler({}, _LocalContext(float(os.environ.get("FOLLOW_TIMEOUT_SECONDS", "300"))))))
