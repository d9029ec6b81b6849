"""`modelgate migrate SOURCE --follow`, driven pass by pass on a clock the test moves: what each change in the
gateway writes (and that the relay's churn writes nothing), the safety rules (a failed read, a held mass removal,
DynamoDB faults, a restart), the status record and `modelgate status`."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

from handler.core import keys
from handler.store import layout
from infra.local.embedded import free_port
from infra.migrate.follower import Follower, Memory, run_pass
from infra.migrate.source import parse_source
from infra.migrate.status import read_statuses, revision
from infra.registry import Registry
from tests.conftest import DB_PASSWORD, Gateway
from tests.support import gateways
from tests.support.gateways import ENGINES, NEW_API, ONE_API, GatewayRows, gateway_rows
from tests.test_cli_support import WRITES, Cli, count_requests, snapshot

NOW = 1_900_000_000
MakeGateway = Callable[[str, str, GatewayRows], Gateway]


@dataclass
class DrivenClock:
    """Time that moves only when the follower sleeps (or the test says so)."""

    now: float = 1000.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return NOW + self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Said:
    events: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def __call__(self, data: dict[str, Any], line: str) -> None:
        self.events.append(data)
        self.lines.append(line)

    def kinds(self) -> list[str]:
        return [e["event"] for e in self.events]


def follower(gateway: Gateway, registry: Registry, **options: Any) -> tuple[Follower, Said, DrivenClock]:
    url = parse_source(gateway.source)
    said, clock = Said(), DrivenClock()
    options.setdefault("interval", 2.0)
    return Follower(url, registry, url.identity, said, clock=clock, **options), said, clock


def masked(n: int, tag: str = "k") -> str:
    return keys.mask("sk-" + gateways.key_of(n, tag))


def token(registry: Registry, n: int, tag: str = "k") -> dict[str, Any] | None:
    return registry.get(layout.token_key(keys.key_hash("sk-" + gateways.key_of(n, tag))))


def writes(requests: Counter[str]) -> int:
    return sum(requests[op] for op in WRITES)


CHURN = {
    # what a relay call does: quota spent (never crossing zero here: that is a change), usage and access times
    "tokens": "UPDATE tokens SET remain_quota = CASE WHEN remain_quota > 1 THEN remain_quota - 1 ELSE remain_quota "
    "END, used_quota = used_quota + 1, accessed_time = accessed_time + 1",
    "users": "UPDATE users SET quota = quota + 5, used_quota = used_quota + 5, request_count = request_count + 1",
}


# -- what a pass writes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("flavour", [ONE_API, NEW_API])
def test_the_relays_churn_costs_no_dynamodb_request_and_the_status_record_is_the_only_write_a_minute(
    flavour: str, engine: str, make_gateway: MakeGateway, target: tuple[Registry, Cli], monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a follower past its first pass
    WHEN the relay updates remain_quota, used_quota, accessed_time on every token and quota, used_quota,
    request_count on every user, between each of 29 passes (58 s)
    THEN those passes send no DynamoDB request at all; the pass after a minute writes only the status record
    (one BatchWriteItem), which leaves the change marker where it was; and one line says the follower is at rest."""
    registry, _ = target
    gateway = make_gateway(engine, flavour, gateway_rows(flavour, NOW))
    run, said, clock = follower(gateway, registry)
    run.step()
    marker = revision(registry)
    requests = count_requests(monkeypatch)

    for _ in range(29):
        clock.sleep(2.0)
        gateway.execute(CHURN["tokens"])
        gateway.execute(CHURN["users"])
        run.step()
    assert sum(requests.values()) == 0
    clock.sleep(3.0)
    gateway.execute(CHURN["tokens"])
    run.step()

    assert dict(requests) == {"BatchWriteItem": 1}  # the status record
    assert revision(registry) == marker
    assert said.kinds() == ["pass", "rest"]
    assert said.events[1]["passes"] == 30
    assert "at rest: 30 passes in 61 s changed nothing" in said.lines[1]


@pytest.mark.parametrize("engine", ENGINES)
def test_each_change_in_the_gateway_writes_that_record_and_nothing_else(
    engine: str, make_gateway: MakeGateway, target: tuple[Registry, Cli], monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a new-api gateway followed past its first pass
    WHEN, one pass each: a token is created, disabled, soft-deleted, hard-deleted; a limited token's quota runs out;
    a user moves group; an ability is disabled
    THEN each pass plans exactly that change, the table holds it, the line names the key masked, and no other
    record is written (the requests are those of that one change)."""
    registry, _ = target
    rows = gateway_rows(NEW_API, NOW)
    gateway = make_gateway(engine, NEW_API, rows)
    run, said, clock = follower(gateway, registry)
    run.step()
    false = "false" if engine == "postgresql" else "0"
    steps: list[tuple[str | Callable[[], None], dict[str, Any], list[str] | None]] = [
        (
            lambda: add_token(gateway, 50),
            {"tokens": {"add": 1, "change": 0, "remove": 0}},
            [masked(50)],
        ),
        ("UPDATE tokens SET status = 2 WHERE id = 50", {"tokens": {"add": 0, "change": 1, "remove": 0}}, None),
        ("UPDATE tokens SET remain_quota = 0 WHERE id = 8", {"tokens": {"add": 0, "change": 1, "remove": 0}}, None),
        (
            "UPDATE tokens SET deleted_at = '2026-05-05 00:00:00' WHERE id = 10",
            {"tokens": {"add": 0, "change": 0, "remove": 1}},
            [masked(10)],
        ),
        ("DELETE FROM tokens WHERE id = 50", {"tokens": {"add": 0, "change": 0, "remove": 1}}, None),
        (
            f"UPDATE users SET {gateways.quote('group', engine)} = 'svip' WHERE id = 2",  # noqa: S608  # constants
            {"users": {"add": 0, "change": 1, "remove": 0}},
            [],
        ),
        (
            f"UPDATE abilities SET enabled = {false} WHERE model = 'o3-mini'",  # noqa: S608  # constants
            {"groups": {"add": 0, "change": 1, "remove": 0}},
            [],
        ),
    ]
    for sql, summary, shown in steps:
        clock.sleep(2.0)
        sql() if callable(sql) else gateway.execute(sql)
        run.step()
        event = said.events[-1]
        assert (event["event"], event["summary"]) == ("pass", summary), sql
        if shown is not None:
            assert event["keys"] == shown, sql

    added = token(registry, 50)
    assert added is None  # created, disabled, then deleted
    exhausted, soft_deleted = token(registry, 8), token(registry, 10)
    assert exhausted is not None
    assert exhausted["status"] == "exhausted"
    assert soft_deleted is None
    bob, vip = registry.get(layout.user_key("bob")), registry.group_models("vip")
    assert bob is not None
    assert bob["group"] == "svip"
    assert vip == ["gpt-4o", "gpt-4o-mini", "my-finetune"]

    # AND the cost of one changed key: its records read in one BatchGetItem, the group's catalog entries in
    # another, one transaction writing it (with the marker)
    requests = count_requests(monkeypatch)
    gateway.execute("UPDATE tokens SET status = 2 WHERE id = 1")
    clock.sleep(2.0)
    run.step()
    assert dict(requests) == {"BatchGetItem": 2, "TransactWriteItems": 1}


# -- safety --------------------------------------------------------------------------------------------------------


def add_token(gateway: Gateway, n: int, user_id: int = 1) -> None:
    """A token as the gateway's console creates it (limited quota, some left)."""
    row = {"id": n, "user_id": user_id, "key": gateways.key_of(n), "status": 1, "name": f"t{n}"}
    gateway.insert("tokens", [row | {"expired_time": -1, "remain_quota": 1000, "unlimited_quota": False}])


def test_a_failed_read_writes_nothing_says_why_backs_off_and_recovers_by_itself(
    make_gateway: MakeGateway, target: tuple[Registry, Cli], monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a followed one-api SQLite database, and a new key created in it
    WHEN a column is renamed (a schema change), then a row cannot be mapped, then a writer holds the database
    locked: THEN each of those passes writes nothing, says why in one line (the key masked), and waits longer
    each time (4, 8, 16 s, at most 30); AND WHEN the source is whole again THEN the next pass writes the new key."""
    registry, _ = target
    gateway = make_gateway("sqlite", ONE_API, gateway_rows(ONE_API, NOW))
    run, said, _ = follower(gateway, registry)
    run.step()
    add_token(gateway, 50)
    before = snapshot(registry.client, registry.table)
    monkeypatch.setattr("infra.migrate.source.CONNECT_TIMEOUT_SECONDS", 0.05)

    gateway.execute("ALTER TABLE tokens RENAME COLUMN remain_quota TO remaining")
    waits = [run.step()]
    gateway.execute("ALTER TABLE tokens RENAME COLUMN remaining TO remain_quota")
    gateway.execute("UPDATE tokens SET status = 7 WHERE id = 2")
    waits.append(run.step())
    gateway.execute("UPDATE tokens SET status = 1 WHERE id = 2")
    locker = sqlite3.connect(gateway.source)
    locker.execute("BEGIN EXCLUSIVE")
    waits += [run.step(), run.step(), run.step()]
    locker.rollback()
    locker.close()

    assert snapshot(registry.client, registry.table) == before
    assert waits == [4.0, 8.0, 16.0, 30.0, 30.0]
    errors = [e["error"] for e in said.events if e["event"] == "error"]
    assert errors[0] == f"{gateway.source}: not a one-api or new-api database (missing tokens.remain_quota)"
    assert errors[1].startswith(f"tokens row id=2 (key {masked(2)}): status 7 is not 1 (enabled)")
    assert errors[2] == f"{gateway.source}: cannot read it as SQLite: database is locked"
    assert all(line.count("\n") == 0 and "nothing written" in line for line in said.lines[1:])
    assert gateways.key_of(2) not in "".join(said.lines)

    assert run.step() == 2.0
    assert said.events[-1]["summary"] == {"tokens": {"add": 1, "change": 0, "remove": 0}}
    assert said.events[-1]["keys"] == [masked(50)]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("flavour", [ONE_API, NEW_API])
def test_a_schema_change_writes_nothing_on_every_engine_and_the_pass_after_it_catches_up(
    flavour: str, engine: str, make_gateway: MakeGateway, target: tuple[Registry, Cli]
) -> None:
    """GIVEN a followed database, a key created in it and a column renamed (an upgrade half applied)
    WHEN passes run THEN each writes nothing and names the missing column; WHEN the column is back THEN the next
    pass writes the new key."""
    registry, _ = target
    gateway = make_gateway(engine, flavour, gateway_rows(flavour, NOW))
    run, said, clock = follower(gateway, registry)
    run.step()
    add_token(gateway, 50)
    gateway.execute("ALTER TABLE tokens RENAME COLUMN unlimited_quota TO unlimited")
    before = snapshot(registry.client, registry.table)

    waits = [run.step(), run.step()]

    assert snapshot(registry.client, registry.table) == before
    assert waits == [4.0, 8.0]
    assert said.events[-1]["error"].endswith("not a one-api or new-api database (missing tokens.unlimited_quota)")
    assert DB_PASSWORD not in said.lines[-1]
    gateway.execute("ALTER TABLE tokens RENAME COLUMN unlimited TO unlimited_quota")
    clock.sleep(8.0)
    assert run.step() == 2.0
    assert said.events[-1]["summary"] == {"tokens": {"add": 1, "change": 0, "remove": 0}}


def test_an_unreachable_source_is_reported_with_its_password_masked(target: tuple[Registry, Cli]) -> None:
    """GIVEN a MariaDB URL with a password and nothing listening WHEN a pass runs THEN it reports one line naming
    the source with the password masked, and writes nothing."""
    registry, _ = target
    port = free_port()
    url = parse_source(f"mysql://gateway:{DB_PASSWORD}@127.0.0.1:{port}/oneapi")
    before = snapshot(registry.client, registry.table)

    report = run_pass(url, registry, Memory(), source=url.identity)

    assert report.error is not None
    assert report.error.startswith(f"mysql://gateway:****@127.0.0.1:{port}/oneapi: cannot connect")
    assert DB_PASSWORD not in report.error
    assert url.identity == f"mysql://127.0.0.1:{port}/oneapi"
    assert snapshot(registry.client, registry.table) == before


@pytest.mark.parametrize("flavour", [ONE_API, NEW_API])
def test_a_mass_removal_is_held_on_every_pass_until_the_operator_allows_it_once(
    flavour: str, make_gateway: MakeGateway, target: tuple[Registry, Cli]
) -> None:
    """GIVEN a followed database of 60 keys (6 users)
    WHEN 12 keys are deleted at once THEN every pass says it is held and writes nothing
    AND WHEN the operator runs `migrate --prune --allow-mass-removal` once THEN the keys go, and the follower's
    next pass finds nothing left to do and stops holding
    AND WHEN then every user is disabled THEN that is held too (their keys would stop working)
    AND WHEN the follower restarts with --allow-mass-removal THEN its first pass writes it; a later one would be
    held again."""
    registry, cli = target
    gateway = make_gateway("sqlite", flavour, gateways.bulk_rows(flavour, 60, NOW))
    run, said, clock = follower(gateway, registry)
    run.step()
    gateway.execute("DELETE FROM tokens WHERE id <= 12")
    before = snapshot(registry.client, registry.table)

    for _ in range(3):
        clock.sleep(2.0)
        run.step()

    assert said.kinds()[1:] == ["held", "held", "held"]
    assert said.events[-1]["held"] == {"lost": 12, "owned": 60}
    assert "held: this would remove or disable 12 of the 60 keys this source wrote (20%)" in said.lines[-1]
    assert snapshot(registry.client, registry.table) == before

    cli.ok("migrate", gateway.source, "--prune", "--allow-mass-removal")
    clock.sleep(2.0)
    run.step()
    assert said.kinds()[-1] == "held"  # the last line is still the hold: this pass said nothing new
    assert len(said.events) == 4
    assert run.memory.owned == 48

    gateway.execute("UPDATE users SET status = 2")
    clock.sleep(2.0)
    run.step()
    assert said.events[-1]["event"] == "held"
    assert said.events[-1]["held"] == {"lost": 47, "owned": 48}  # key 50 was disabled already

    again, again_said, _ = follower(gateway, registry, memory=Memory(allow_mass_removal=True))
    again.step()
    assert again_said.events[-1]["summary"]["users"] == {"add": 0, "change": 6, "remove": 0}
    gateway.execute("DELETE FROM tokens WHERE id <= 30")
    again.step()
    assert again_said.events[-1]["event"] == "held"


class _Raw:
    """The body of an HTTP response, as botocore reads it."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def one_try_registry(registry: Registry, endpoint_url: str) -> Registry:
    """The same table through a client that does not retry by itself: the follower's own retries are what count."""
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415

    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=5),
    )
    return Registry(client, registry.table, sleep=lambda _: None)


def test_dynamodb_faults_are_retried_on_later_passes_and_no_change_is_skipped(
    make_gateway: MakeGateway, target: tuple[Registry, Cli], moto_endpoint: str
) -> None:
    """GIVEN a followed database WHEN three keys are created and one disabled in the gateway, and DynamoDB throttles
    every transaction (the new keys' batch goes through, the disabled key's transaction does not)
    THEN that pass reports the fault and the follower keeps going; WHEN DynamoDB is unreachable next THEN that pass
    reports it too; AND WHEN DynamoDB is back THEN the next pass writes exactly the change not yet written."""
    registry, _ = target
    gateway = make_gateway("sqlite", ONE_API, gateway_rows(ONE_API, NOW))
    flaky = one_try_registry(registry, moto_endpoint)
    run, said, clock = follower(gateway, flaky)
    run.step()
    for n in (50, 51, 52):
        add_token(gateway, n)
    gateway.execute("UPDATE tokens SET status = 2 WHERE id = 1")
    body = b'{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds"}'

    def throttle(request: Any, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, 400, HTTPHeaders.from_dict({"x-amzn-requestid": "t"}), _Raw(body))

    hook = cast(Any, throttle)
    flaky.client.meta.events.register("before-send.dynamodb.TransactWriteItems", hook)
    throttled = run.step()
    flaky.client.meta.events.unregister("before-send.dynamodb.TransactWriteItems", hook)
    run.registry = one_try_registry(registry, f"http://127.0.0.1:{free_port()}")
    unreachable = run.step()
    run.registry = flaky
    clock.sleep(2.0)
    recovered = run.step()

    errors = [e["error"] for e in said.events if e["event"] == "error"]
    assert errors[0] == "DynamoDB refused the request: ThrottlingException Rate of requests exceeds"
    assert errors[1].startswith("cannot reach DynamoDB: Could not connect to the endpoint URL")
    assert (throttled, unreachable, recovered) == (4.0, 8.0, 2.0)
    assert said.events[-1]["summary"] == {"tokens": {"add": 0, "change": 1, "remove": 0}}
    disabled = token(registry, 1)
    assert disabled is not None
    assert disabled["status"] == "disabled"
    assert all(token(registry, n) is not None for n in (50, 51, 52))


def test_a_restart_resumes_from_whatever_the_table_holds(
    make_gateway: MakeGateway, target: tuple[Registry, Cli]
) -> None:
    """GIVEN a follower that wrote a database, then stopped
    WHEN, while it was down, a key is created and another deleted in the gateway, and an operator deletes a
    migrated key and disables a migrated user in modelgate
    THEN the restarted follower's first pass compares with the table and writes exactly those four differences."""
    registry, cli = target
    gateway = make_gateway("sqlite", ONE_API, gateway_rows(ONE_API, NOW))
    first, _, _ = follower(gateway, registry)
    first.step()
    add_token(gateway, 50)
    gateway.execute("DELETE FROM tokens WHERE id = 3")
    cli.ok("key", "delete", "sk-" + gateways.key_of(8))
    cli.ok("user", "disable", "erin")

    restarted, said, _ = follower(gateway, registry)
    restarted.step()

    event = said.events[-1]
    assert event["full"] is True
    assert event["summary"] == {
        "users": {"add": 0, "change": 1, "remove": 0},
        "tokens": {"add": 2, "change": 0, "remove": 1},
    }
    assert sorted(event["keys"]) == sorted([masked(50), masked(8), masked(3)])
    erin = registry.get(layout.user_key("erin"))
    assert erin is not None
    assert erin["status"] == "enabled"


# -- the status record and `modelgate status` ----------------------------------------------------------------------


def test_the_status_record_says_what_the_follower_did_without_moving_the_change_marker(
    make_gateway: MakeGateway, target: tuple[Registry, Cli]
) -> None:
    """GIVEN a follower's first pass, a change, a failed pass (its source locked) and a minute gone
    WHEN `modelgate status` runs THEN it names the table, region and revision, and for the source: the last
    completed pass, what it found, what it wrote, no hold, the last error; writing the record moved no marker."""
    registry, cli = target
    gateway = make_gateway("sqlite", ONE_API, gateway_rows(ONE_API, NOW))
    run, _, clock = follower(gateway, registry)
    run.step()
    add_token(gateway, 50)
    clock.sleep(2.0)
    run.step()
    gateway.execute("ALTER TABLE tokens RENAME TO tokens_gone")
    clock.sleep(60.0)
    marker = revision(registry)
    run.step()

    assert revision(registry) == marker
    assert run.last_completed is not None  # the pass before the failed one
    assert run.last_completed.summary == {"tokens": {"add": 1, "change": 0, "remove": 0}}
    (record,) = read_statuses(registry)
    data = cli.json("status")
    human = cli.ok("status")

    assert (data["table"], data["region"], data["revision"]) == (registry.table, "us-east-1", marker)
    (shown,) = data["followers"]
    identity = parse_source(gateway.source).identity
    assert shown["source"] == record["source"] == identity
    assert shown["found"] == {"users": 5, "groups": 4, "tokens": 17}  # 16 of the 17 rows (one orphan), a new one
    assert shown["written"]["tokens"] == {"add": 17, "change": 0, "remove": 0}
    assert shown["passes"] == 3
    assert shown["held"] is None
    assert shown["last_pass_at"] == NOW + 1002.0 + record["last_pass_seconds"]
    assert shown["last_error"] == f"{gateway.source}: not a one-api or new-api database (no tokens table)"
    assert f"change revision: {marker}" in human
    assert identity in human
    assert "no tokens table" in human


def test_the_fingerprint_sees_every_field_of_a_mapped_record(
    make_gateway: MakeGateway,
) -> None:
    """GIVEN a new-api source mapped WHEN any one field of a token, user or group changes THEN its fingerprint
    differs (so a field added to the mapping can never be missed by the follower)."""
    from infra.migrate.mapping import read_source  # noqa: PLC0415
    from infra.migrate.source import open_source  # noqa: PLC0415
    from infra.migrate.sync import Fingerprint  # noqa: PLC0415

    gateway = make_gateway("sqlite", NEW_API, gateway_rows(NEW_API, NOW))
    with open_source(parse_source(gateway.source)) as reader:
        seed = read_source(reader, "migrate:test").seed
    before, _ = Fingerprint.of(seed)
    sample = seed.tokens[0]
    for name in sorted(set(sample) - {"key"}):
        seed.tokens[0] = {**sample, name: ["changed"] if isinstance(sample[name], list) else "changed"}
        after, _ = Fingerprint.of(seed)
        assert after.tokens != before.tokens, name
    seed.tokens[0] = sample
    user = seed.users[0]
    for name in sorted(set(user) - {"id"}):
        seed.users[0] = {**user, name: "changed"}
        assert Fingerprint.of(seed)[0].users != before.users, name
    seed.users[0] = user
    seed.groups["vip"] = [*seed.groups["vip"], "new-model"]
    assert Fingerprint.of(seed)[0].groups != before.groups


def test_an_hourly_full_pass_undoes_edits_made_by_hand_in_the_table(
    make_gateway: MakeGateway, target: tuple[Registry, Cli]
) -> None:
    """GIVEN a follower at rest WHEN an operator deletes a migrated key and disables a migrated user with the CLI
    THEN passes at rest leave that (they compare with what they wrote); AND WHEN an hour has gone by THEN a full
    pass compares with the table and writes both back."""
    registry, cli = target
    gateway = make_gateway("sqlite", ONE_API, gateway_rows(ONE_API, NOW))
    run, said, clock = follower(gateway, registry)
    run.step()
    cli.ok("key", "delete", "sk-" + gateways.key_of(8))
    cli.ok("user", "disable", "erin")

    clock.sleep(1800.0)
    run.step()
    assert token(registry, 8) is None
    clock.sleep(1800.0)
    run.step()

    event = said.events[-1]
    assert (event["event"], event["full"]) == ("pass", True)
    assert event["summary"] == {
        "users": {"add": 0, "change": 1, "remove": 0},
        "tokens": {"add": 1, "change": 0, "remove": 0},
    }
    assert token(registry, 8) is not None


@pytest.mark.dynamodb_local
def test_on_dynamodb_local_a_5000_key_gateway_costs_nothing_at_rest_and_a_few_requests_per_change(
    dynamodb_local_endpoint: str, make_gateway: MakeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a 5,000-key one-api gateway followed into a table on DynamoDB Local (the real engine)
    WHEN the relay's churn runs on every row THEN a pass sends no request; WHEN one key is disabled and another
    created THEN that pass reads their records (one BatchGetItem), their groups' catalog entries (one more), and
    writes the disabled key (one transaction) and the new key (one batch and the marker bump)."""
    from tests.support.server import fresh_table  # noqa: PLC0415

    _, registry = fresh_table(dynamodb_local_endpoint, {"models": gateways.CATALOG})
    gateway = make_gateway("sqlite", ONE_API, gateways.bulk_rows(ONE_API, 5_000, NOW))
    run, said, clock = follower(gateway, registry)
    run.step()
    assert said.events[-1]["summary"]["tokens"]["add"] == 5_000
    requests = count_requests(monkeypatch)

    gateway.execute(CHURN["tokens"])
    clock.sleep(2.0)
    run.step()
    at_rest = dict(requests)
    requests.clear()
    gateway.execute("UPDATE tokens SET status = 2 WHERE id = 7")
    add_token(gateway, 5_001)
    clock.sleep(2.0)
    run.step()

    assert at_rest == {}
    assert dict(requests) == {"BatchGetItem": 2, "TransactWriteItems": 1, "BatchWriteItem": 1, "UpdateItem": 1}
    assert said.events[-1]["summary"] == {"tokens": {"add": 1, "change": 1, "remove": 0}}
