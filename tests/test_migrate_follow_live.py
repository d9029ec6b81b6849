"""`modelgate migrate SOURCE --follow` as an operator runs it: a process beside the gateway's database, writing to
a table over HTTP (moto's server), read by a warm `serve`, called with the OpenAI SDK; and stopped by a signal."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import openai
import pytest

from handler.core import keys
from infra.migrate.status import read_statuses
from infra.registry import Registry
from tests.conftest import DB_PASSWORD, Gateway, settings_for
from tests.support import gateways
from tests.support.gateways import ENGINES, ONE_API, GatewayRows, gateway_rows
from tests.support.server import serve
from tests.test_cli_support import Cli

NOW = int(time.time())
# A change reaches a warm container within one interval, one pass and REVALIDATE_SECONDS (2 s); the margin is for a
# loaded test machine. The worst case is measured by `./infra/dev bench --only follow`, not asserted here.
INTERVAL = 0.5
PATIENCE_SECONDS = 20.0


class Follower:
    """The follower process, its JSON lines read as they come."""

    def __init__(self, argv: list[str]) -> None:
        self.process = subprocess.Popen(  # our own CLI
            [sys.executable, "-m", "infra.cli.main", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.events.put(json.loads(line))

    def next_event(self, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The next event that satisfies `wanted` (the process must keep running meanwhile)."""
        while True:
            try:
                event = self.events.get(timeout=PATIENCE_SECONDS)
            except queue.Empty:
                raise AssertionError(f"no such event; stderr: {self.stderr()}") from None
            if wanted(event):
                return event

    def stderr(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        assert self.process.stderr is not None
        return self.process.stderr.read()


@contextmanager
def following(gateway: Gateway, moto_endpoint: str, table: str, *extra: str) -> Iterator[Follower]:
    argv = ["migrate", gateway.source, "--follow", "--interval", str(INTERVAL), "--json", *extra]
    follower = Follower([*argv, "--endpoint-url", moto_endpoint, "--table", table])
    try:
        yield follower
    finally:
        if follower.process.poll() is None:
            follower.process.kill()
            follower.process.wait()


def until(check: Callable[[], bool]) -> float:
    """Seconds until `check()` holds, polling; fails after PATIENCE_SECONDS."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > PATIENCE_SECONDS:
            raise AssertionError(f"still not so after {PATIENCE_SECONDS} s")
        time.sleep(0.1)
    return time.monotonic() - started


def lists(base_url: str, key: str) -> int:
    """The status of GET /v1/models for this key, through the OpenAI SDK."""
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0)
    try:
        client.models.list()
    except openai.APIStatusError as error:
        return error.status_code
    return 200


@pytest.mark.integration
@pytest.mark.parametrize("engine", ENGINES)
def test_a_key_created_or_deleted_in_the_gateway_is_served_or_refused_by_a_warm_server(
    engine: str,
    make_gateway: Callable[[str, str, GatewayRows], Gateway],
    target: tuple[Registry, Cli],
    moto_endpoint: str,
) -> None:
    """GIVEN a one-api database (SQLite, MariaDB, PostgreSQL) followed by
    `modelgate migrate --follow --interval 0.5 --json` into a table on moto's server, and a warm `serve` of that
    table (its keys already listed once)
    WHEN a key is created in the gateway THEN the OpenAI SDK lists models with it; WHEN it is deleted THEN 401;
    WHEN the relay spends quota on every key THEN the follower writes nothing (no pass line)
    AND WHEN SIGTERM comes THEN the follower says it stopped and exits 0."""
    registry, _ = target
    gateway = make_gateway(engine, ONE_API, gateway_rows(ONE_API, NOW))
    settings = settings_for(table_name=registry.table, dynamodb_endpoint_url=moto_endpoint)
    new_key = "sk-" + gateways.key_of(60)
    with following(gateway, moto_endpoint, registry.table) as follower, serve(settings) as server:
        first = follower.next_event(lambda e: e["event"] == "pass")
        assert first["full"] is True
        assert first["summary"]["tokens"]["add"] == 16
        assert DB_PASSWORD not in json.dumps(first)
        assert lists(server.base_url, "sk-" + gateways.key_of(1)) == 200  # warm
        assert lists(server.base_url, new_key) == 401  # and the unknown key remembered

        row = {"id": 60, "user_id": 1, "key": gateways.key_of(60), "status": 1, "name": "new", "expired_time": -1}
        gateway.insert("tokens", [row | {"remain_quota": 100, "unlimited_quota": True}])
        created = until(lambda: lists(server.base_url, new_key) == 200)
        added = follower.next_event(lambda e: e["event"] == "pass")
        gateway.execute("DELETE FROM tokens WHERE id = 60")
        deleted = until(lambda: lists(server.base_url, new_key) == 401)
        removed = follower.next_event(lambda e: e["event"] == "pass")
        gateway.execute("UPDATE tokens SET used_quota = used_quota + 1, accessed_time = accessed_time + 1")
        time.sleep(4 * INTERVAL)
        follower.process.send_signal(signal.SIGTERM)
        stopped = follower.next_event(lambda e: e["event"] in {"pass", "stopped"})
        code = follower.process.wait(timeout=PATIENCE_SECONDS)

    assert added["summary"] == {"tokens": {"add": 1, "change": 0, "remove": 0}}
    assert removed["summary"] == {"tokens": {"add": 0, "change": 0, "remove": 1}}
    assert added["keys"] == removed["keys"] == [keys.mask(new_key)]
    assert stopped["event"] == "stopped"  # the churn wrote no pass line
    assert code == 0
    print(f"propagation: created {created:.2f} s, deleted {deleted:.2f} s")  # for -s runs


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_follower_with_exit_0(
    signum: int,
    make_gateway: Callable[[str, str, GatewayRows], Gateway],
    target: tuple[Registry, Cli],
    moto_endpoint: str,
) -> None:
    """GIVEN a follower past its first pass WHEN it gets SIGTERM or SIGINT THEN it says it stopped, exits 0, and
    prints no traceback."""
    registry, _ = target
    gateway = make_gateway("sqlite", ONE_API, gateway_rows(ONE_API, NOW))
    with following(gateway, moto_endpoint, registry.table) as follower:
        follower.next_event(lambda e: e["event"] == "pass")
        follower.process.send_signal(signum)
        stopped = follower.next_event(lambda e: e["event"] == "stopped")
        code = follower.process.wait(timeout=PATIENCE_SECONDS)
        err = follower.stderr()

    assert code == 0
    assert stopped["source"] == gateway.source
    assert "Traceback" not in err
    assert err.startswith(f"following {gateway.source} into table")


def test_a_signal_during_a_hung_read_stops_the_follower_at_once(
    target: tuple[Registry, Cli], moto_endpoint: str
) -> None:
    """GIVEN a follower whose MariaDB source accepts the connection and then says nothing (the driver would wait
    10 s for its greeting) WHEN SIGTERM comes during that read THEN the follower stops without finishing the pass:
    its first event is `stopped` (no `error` for the read it dropped), it exits 0, and nothing was written."""
    import socket  # noqa: PLC0415

    registry, _ = target
    silent = socket.create_server(("127.0.0.1", 0))
    silent.settimeout(PATIENCE_SECONDS)
    port = silent.getsockname()[1]
    source = f"mysql://gateway:pw@127.0.0.1:{port}/oneapi"
    argv = ["migrate", source, "--follow", "--json", "--endpoint-url", moto_endpoint, "--table", registry.table]
    follower = Follower(argv)
    try:
        connection, _ = silent.accept()  # the follower is reading now
        follower.process.send_signal(signal.SIGTERM)
        first = follower.next_event(lambda e: True)
        code = follower.process.wait(timeout=PATIENCE_SECONDS)
        connection.close()
    finally:
        silent.close()
        if follower.process.poll() is None:
            follower.process.kill()
            follower.process.wait()

    assert first["event"] == "stopped"
    assert code == 0
    assert read_statuses(registry) == []


def test_dry_run_and_a_short_interval_are_refused_with_follow(
    make_gateway: Callable[[str, str, GatewayRows], Gateway], target: tuple[Registry, Cli]
) -> None:
    """GIVEN a gateway WHEN --follow comes with --dry-run, or --interval 0.1 THEN exit 2 with one line."""
    _, cli = target
    gateway = make_gateway("sqlite", ONE_API, gateway_rows(ONE_API, NOW))

    dry = cli("migrate", gateway.source, "--follow", "--dry-run")

    assert dry.code == 2
    assert (
        dry.err
        == "error: --dry-run cannot be used with --follow: run `migrate SOURCE --dry-run` once to see the plan\n"
    )
    with pytest.raises(SystemExit) as refused:
        cli("migrate", gateway.source, "--follow", "--interval", "0.1")
    assert refused.value.code == 2
