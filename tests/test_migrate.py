"""`modelgate migrate SOURCE`: one-api and new-api databases on SQLite, MariaDB and PostgreSQL, through the CLI,
then every key through the OpenAI SDK against the service (uvicorn over moto's server)."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest

from handler.core import keys
from handler.store import layout
from infra.registry import Registry
from tests.conftest import DB_PASSWORD, Gateway, settings_for
from tests.support import gateways
from tests.support.gateways import CATALOG, ENGINES, NEW_API, ONE_API, GatewayRows, gateway_rows
from tests.support.server import fresh_table, serve
from tests.test_cli_support import WRITES, Cli, count_requests, snapshot

REFUSALS = {
    "unknown": (401, "invalid_api_key", "Incorrect API key provided"),
    "disabled": (401, "invalid_api_key", "This API key has been disabled"),
    "expired": (401, "invalid_api_key", "This API key has expired"),
    "exhausted": (401, "invalid_api_key", "This API key is out of quota"),
    "owner_disabled": (401, "invalid_api_key", "The account that owns this API key is disabled"),
    "ip_not_allowed": (403, "ip_not_allowed", "This API key may not be used from this address (127.0.0.1)"),
}


def forms(key: str) -> list[str]:
    """The three ways one-api's clients send a key: sk-<key>, <key>, sk-<key>-<suffix>."""
    return [f"sk-{key}", key, f"sk-{key}-2"]


def check_every_key(base_url: str, rows: GatewayRows) -> None:
    """Each key, in each form, lists exactly what it should, or is refused as it should be."""
    for key, expected in rows.expected.items():
        for sent in forms(key):
            client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=sent, max_retries=0)
            if isinstance(expected, list):
                listed = [m.id for m in client.models.list()]
                assert listed == expected, (keys.mask(sent), listed)
                for model in client.models.list():
                    owned_by = next((m["owned_by"] for m in CATALOG if m["id"] == model.id), "custom")
                    assert model.owned_by == owned_by
                continue
            status, code, message = REFUSALS[expected]
            error_type = openai.AuthenticationError if status == 401 else openai.PermissionDeniedError
            with pytest.raises(error_type) as caught:
                client.models.list()
            body: Any = caught.value.body
            assert (caught.value.status_code, body["code"]) == (status, code), keys.mask(sent)
            assert body["message"].startswith(message), body["message"]
            assert body["type"] == ("permission_error" if status == 403 else "invalid_request_error")
            assert key not in body["message"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("flavour", [ONE_API, NEW_API])
def test_every_migrated_key_lists_what_the_gateway_would_and_every_refused_key_is_refused(  # noqa: PLR0917
    flavour: str,
    engine: str,
    make_gateway: Callable[[str, str, GatewayRows], Gateway],
    target: tuple[Registry, Cli],
    moto_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GIVEN a one-api / new-api database with every kind of user, ability and token
    WHEN `modelgate migrate SOURCE` runs
    THEN the summary names the flavour and never the password; through the OpenAI SDK every key, sent in each of
    one-api's three forms, lists its token's list or its group's sorted enabled models (never widening the group,
    catalog-less models as owned_by custom), and every disabled, expired, exhausted, foreign-address, orphaned or
    soft-deleted key is refused; and a second run writes nothing."""
    import time  # noqa: PLC0415

    rows = gateway_rows(flavour, int(time.time()))
    gateway = make_gateway(engine, flavour, rows)
    registry, cli = target

    run = cli("migrate", gateway.source)

    assert run.code == 0, run.err
    assert f"migrated from {flavour} " in run.out
    assert DB_PASSWORD not in run.out + run.err
    with serve(settings_for(table_name=registry.table, dynamodb_endpoint_url=moto_endpoint)) as server:
        check_every_key(server.base_url, rows)

    # AND a re-run finds nothing to do and writes nothing
    requests = count_requests(monkeypatch)
    again = cli.json("migrate", gateway.source)
    assert again["summary"] == {}
    assert again["flavour"] == flavour
    assert sum(requests[op] for op in WRITES) == 0


def _migrated(registry: Registry) -> dict[str, Any]:
    return {
        "users": sorted(u["user_id"] for u in registry.list_kind("USER")),
        "tokens": sorted(t.key_hint for t in registry.tokens()),
        "groups": sorted(registry.groups()),
    }


def test_the_plan_names_the_flavour_and_masks_keys_and_a_dry_run_writes_nothing(
    make_gateway: Callable[[str, str, GatewayRows], Gateway], target: tuple[Registry, Cli]
) -> None:
    """GIVEN a new-api SQLite database WHEN migrate --dry-run runs THEN it prints each change with keys masked,
    the counts and the flavour, and the table is untouched."""
    rows = gateway_rows(NEW_API, 1_900_000_000)
    gateway = make_gateway("sqlite", NEW_API, rows)
    registry, cli = target
    before = snapshot(registry.client, registry.table)

    out = cli.ok("migrate", gateway.source, "--dry-run")

    assert snapshot(registry.client, registry.table) == before
    lines = out.splitlines()
    assert "+ user alice: group vip" in lines
    assert "+ group vip: gpt-4o, gpt-4o-mini, my-finetune, o3-mini" in lines
    assert f"+ token {keys.mask('sk-' + gateways.key_of(1))}: user alice, name t1" in lines
    assert "note: skipped 1 soft-deleted users" in lines
    assert lines[-1] == (
        f"dry run of migrate from new-api {gateway.source} (4 users, 4 groups, 18 keys): "
        "groups +4 ~0 -0, users +4 ~0 -0, tokens +18 ~0 -0; nothing written"
    )
    for key in rows.expected:
        assert key not in out


def test_prune_removes_what_the_source_dropped_and_never_what_migrate_did_not_write(
    make_gateway: Callable[[str, str, GatewayRows], Gateway], target: tuple[Registry, Cli]
) -> None:
    """GIVEN a migrated one-api database, and a user, group and key the operator made in modelgate itself
    WHEN a token, a user (with his key) and a group's abilities are deleted in the source and migrate --prune runs
    THEN exactly that token and user go; the operator's own records stay; without --prune nothing is removed."""
    rows = gateway_rows(ONE_API, 1_900_000_000)
    gateway = make_gateway("sqlite", ONE_API, rows)
    registry, cli = target
    cli.ok("migrate", gateway.source)
    cli.ok("group", "set", "local", "gpt-4o")
    cli.ok("user", "create", "zoe", "--group", "local")
    own_key = cli.json("key", "create", "--user", "zoe")["key"]
    gateway.execute("DELETE FROM tokens WHERE id = 13")  # bob's only key
    gateway.execute("DELETE FROM users WHERE id = 4")  # dave; his key goes with him
    gateway.execute("DELETE FROM abilities WHERE `group` = 'ghost'")

    kept = cli.json("migrate", gateway.source)
    assert kept["summary"] == {}
    pruned = cli.json("migrate", gateway.source, "--prune")

    removed = sorted((c["kind"], c["detail"] or c["id"]) for c in pruned["changes"] if c["action"] == "remove")
    bob, dave = keys.mask("sk-" + gateways.key_of(13)), keys.mask("sk-" + gateways.key_of(15))
    assert removed == [("group", "ghost"), ("token", f"{bob} of bob"), ("token", f"{dave} of dave"), ("user", "dave")]
    after = _migrated(registry)
    assert "zoe" in after["users"]
    assert "local" in after["groups"]
    assert keys.mask(own_key) in after["tokens"]
    assert bob not in after["tokens"]
    assert "dave" not in after["users"]


def test_the_source_file_is_opened_read_only_and_never_changed(
    make_gateway: Callable[[str, str, GatewayRows], Gateway], target: tuple[Registry, Cli]
) -> None:
    """GIVEN a SQLite source WHEN migrated (as a path and as sqlite:///path) THEN its bytes are unchanged."""
    gateway = make_gateway("sqlite", ONE_API, gateway_rows(ONE_API, 1_900_000_000))
    before = hashlib.sha256(Path(gateway.source).read_bytes()).hexdigest()
    _, cli = target
    cli.ok("migrate", gateway.source)
    cli.ok("migrate", f"sqlite:///{gateway.source}", "--dry-run")
    assert hashlib.sha256(Path(gateway.source).read_bytes()).hexdigest() == before


# -- refusals: exit 2, a clear message, nothing written -----------------------------------------------------------


def _refused(cli: Cli, registry: Registry, *argv: str) -> str:
    before = snapshot(registry.client, registry.table)
    run = cli("migrate", *argv)
    assert run.code == 2, run.out + run.err
    assert snapshot(registry.client, registry.table) == before
    assert run.err.startswith("error: ")
    return run.err


def test_an_unreachable_source_is_refused_without_its_password(target: tuple[Registry, Cli]) -> None:
    """GIVEN nothing listening WHEN migrating from mysql:// and postgresql:// with a password
    THEN exit 2 naming the source with the password masked; nothing written."""
    from infra.local.embedded import free_port  # noqa: PLC0415

    registry, cli = target
    port = free_port()
    for scheme in ("mysql", "postgresql"):
        err = _refused(cli, registry, f"{scheme}://gateway:{DB_PASSWORD}@127.0.0.1:{port}/oneapi")
        assert f"{scheme}://gateway:****@127.0.0.1:{port}/oneapi: cannot connect" in err
        assert DB_PASSWORD not in err


def test_a_missing_file_and_a_database_of_neither_flavour_are_refused(
    target: tuple[Registry, Cli], tmp_path: Path
) -> None:
    """GIVEN no file, then a SQLite file with other tables WHEN migrated THEN exit 2 saying which; nothing written."""
    registry, cli = target
    assert "no such SQLite file" in _refused(cli, registry, str(tmp_path / "absent.db"))
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE users (id integer, name text)")
    err = _refused(cli, registry, str(other))
    assert "not a one-api or new-api database (no tokens, abilities table)" in err or "not a one-api" in err
    assert not (tmp_path / "absent.db").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("UPDATE tokens SET subnet = '10.0.0.0/33' WHERE id = 2", "tokens row id=2 (key {key}): '10.0.0.0/33' is not"),
        ("UPDATE tokens SET status = 7 WHERE id = 2", "tokens row id=2 (key {key}): status 7 is not 1 (enabled)"),
        ("UPDATE users SET username = 'two words' WHERE id = 1", "users row id=1: username 'two words' is not"),
    ],
)
def test_a_row_that_cannot_be_mapped_is_named_with_its_key_masked(
    make_gateway: Callable[[str, str, GatewayRows], Gateway], target: tuple[Registry, Cli], change: str, message: str
) -> None:
    """GIVEN a one-api database with one bad row WHEN migrated THEN exit 2 naming the row, the key masked,
    nothing written."""
    gateway = make_gateway("sqlite", ONE_API, gateway_rows(ONE_API, 1_900_000_000))
    gateway.execute(change)
    registry, cli = target
    err = _refused(cli, registry, gateway.source)
    assert message.format(key=keys.mask("sk-" + gateways.key_of(2))) in err
    assert gateways.key_of(2) not in err


def test_a_missing_driver_says_how_to_install_it(target: tuple[Registry, Cli], monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN PyMySQL not importable WHEN migrating from mysql:// THEN exit 2 telling how to install the extra."""
    import builtins  # noqa: PLC0415
    import importlib  # noqa: PLC0415

    real = importlib.import_module

    def without_pymysql(name: str, package: str | None = None) -> Any:
        if name == "pymysql":
            raise ImportError(name)
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", without_pymysql)
    assert builtins  # the driver is imported lazily, through importlib
    registry, cli = target
    err = _refused(cli, registry, "mysql://u@127.0.0.1:1/db")
    assert "pip install 'modelgate[migrate]'" in err


def test_the_password_may_come_from_the_environment(
    make_gateway: Callable[[str, str, GatewayRows], Gateway],
    target: tuple[Registry, Cli],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GIVEN a MariaDB source URL without its password WHEN MODELGATE_MIGRATE_PASSWORD holds it THEN it connects."""
    gateway = make_gateway("mysql", ONE_API, gateway_rows(ONE_API, 1_900_000_000))
    monkeypatch.setenv("MODELGATE_MIGRATE_PASSWORD", DB_PASSWORD)
    _, cli = target
    data = cli.json("migrate", gateway.source.replace(f":{DB_PASSWORD}@", "@"), "--dry-run")
    assert data["flavour"] == ONE_API
    assert data["source"].startswith("mysql://gateway:****@127.0.0.1:")


def test_the_function_and_the_other_commands_never_import_the_drivers() -> None:
    """GIVEN the Lambda entry point and the CLI loaded, with a command other than migrate parsed
    THEN neither PyMySQL nor psycopg is imported: only `migrate` loads them, when it opens such a source."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    probe = (
        "import sys, handler.main, infra.cli.main as m; m.build_parser().parse_args(['key', 'list']);"
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('pymysql', 'psycopg', 'infra')"
        " and (n.startswith('infra.migrate') or not n.startswith('infra'))))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.dynamodb_local
def test_a_20000_token_source_is_written_in_batches_and_a_re_run_writes_nothing(
    dynamodb_local_endpoint: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a one-api SQLite database with 20,000 keys of 2,000 users WHEN migrated into an empty table on
    DynamoDB Local THEN new users and keys go 25 a BatchWriteItem (80 + 800), each group in one transaction, no item
    one by one; and a re-run reads the table and writes nothing. (Timings per engine: tests/support/migrate_bench.py;
    moto's Query scans its whole table per page, so this runs on the real engine.)"""
    table, registry = fresh_table(dynamodb_local_endpoint, {"models": CATALOG})
    path = tmp_path / "one-api.db"
    with sqlite3.connect(path) as connection:
        for statement in gateways.ddl(ONE_API, "sqlite"):
            connection.execute(statement)
        gateways.insert_rows(connection, "sqlite", gateways.bulk_rows(ONE_API, 20_000, 1_900_000_000))
    cli = Cli(capsys, ["--endpoint-url", dynamodb_local_endpoint, "--table", table])

    requests = count_requests(monkeypatch)
    first = cli.json("migrate", str(path))
    written = {op: requests[op] for op in WRITES if requests[op]}
    requests.clear()
    again = cli.json("migrate", str(path))

    assert first["found"] == {"users": 2_000, "groups": 3, "tokens": 20_000}
    assert first["summary"]["tokens"] == {"add": 20_000, "change": 0, "remove": 0}
    # the 3 groups' transactions, and one change-marker bump after each batched run (users, then tokens)
    assert written == {"BatchWriteItem": 880, "TransactWriteItems": 3, "UpdateItem": 2}
    assert again["summary"] == {}
    assert sum(requests[op] for op in WRITES) == 0
    limited = registry.get(layout.token_key(keys.key_hash("sk-" + gateways.key_of(40, "b"))))
    assert limited is not None
    marked = "migrate:sqlite://" + str(path.resolve())  # the source's identity: no credentials
    assert (limited["models"], limited["status"], limited["origin"]) == (["gpt-4o", "o3-mini"], "enabled", marked)
