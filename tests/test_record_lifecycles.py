"""Records stay dead when deleted: a user id deleted and created again is another user.

Keys and sessions made for a user carry the user's incarnation (the life of the id), so none made for a former
user of the same id works for the new one, whichever path re-creates it (`user create`, `apply`, `migrate`).
A user's deletion and a key's creation for them cannot interleave: the races run as real parallel `modelgate`
processes, on moto's server and on AWS DynamoDB Local.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
import yaml
from fastapi.testclient import TestClient

from handler.core import keys
from handler.core.callers import CallerResolver, Credentials
from handler.core.sessions import SessionSigner
from handler.store import layout
from handler.store.dynamodb import DynamoDirectory
from handler.web.app import Service, create_app
from handler.wiring import build_service
from infra.registry import Conflict, Registry, retry_conflicts
from tests.conftest import TABLE, settings_for
from tests.support import world
from tests.support.cli import Cli
from tests.support.server import fresh_table, http_dynamodb

COOKIE = "modelgate_session"
DEFAULT_GROUP = world.GROUPS["default"]
BASIC_GROUP = ["gpt-4o-mini", "davinci"]  # basic, as the listing shows it (catalog order of the group)


@pytest.fixture
def cli(seeded: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("SESSION_SECRET", world.SESSION_SECRET)
    return Cli(capsys, ["--table", TABLE])


def _listing(service: Service, headers: dict[str, str]) -> tuple[int, list[str]]:
    """What a caller gets from GET /v1/models on a container started now (nothing cached)."""
    response = TestClient(create_app(service)).get("/v1/models", headers=headers)
    body = response.json()
    return response.status_code, [m["id"] for m in body["data"]] if response.status_code == 200 else []


def _scan_tokens(registry: Registry, user_id: str) -> list[dict[str, Any]]:
    """Every token item of `user_id`, read from the base table (not the index)."""
    page = registry.client.scan(
        TableName=registry.table,
        ConsistentRead=True,
        FilterExpression="begins_with(pk, :t) AND user_id = :u",
        ExpressionAttributeValues={":t": {"S": "TOKEN#"}, ":u": {"S": user_id}},
    )
    return list(page.get("Items", []))


# -- sessions ------------------------------------------------------------------------------------------------------


def test_a_revoked_session_stays_dead_when_its_user_is_deleted_and_created_again(
    cli: Cli, make_service: Callable[..., Service]
) -> None:
    # GIVEN dave in basic, with a session cookie from `modelgate session create` that gets basic's list
    cli.ok("user", "create", "dave", "--group", "basic")
    cookie = cli.ok("session", "create", "--user", "dave").splitlines()[-1]
    assert _listing(make_service(), {"Cookie": cookie}) == (200, BASIC_GROUP)

    # WHEN the operator revokes his sessions, deletes him, and creates dave again in the same group
    cli.ok("session", "revoke", "--user", "dave")
    cli.ok("user", "delete", "dave")
    cli.ok("user", "create", "dave", "--group", "basic")

    # THEN the old cookie is no session: the caller is anonymous and gets the default group's list
    assert _listing(make_service(), {"Cookie": cookie}) == (200, DEFAULT_GROUP)
    assert _listing(make_service(anonymous_access=False), {"Cookie": cookie})[0] == 401
    # AND a session issued to the new dave works
    fresh = cli.ok("session", "create", "--user", "dave").splitlines()[-1]
    assert _listing(make_service(), {"Cookie": fresh}) == (200, BASIC_GROUP)


def test_a_session_without_an_incarnation_issued_before_the_user_was_re_created_is_refused(
    seeded: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cookies signed by another issuer (or by a version before incarnations) carry no incarnation: for them, the
    user's creation time is the cut-off. The clock is driven: the registry writes at chosen instants."""
    start = int(time.time())
    resolver = CallerResolver(
        DynamoDirectory(seeded.client, TABLE),
        sessions=SessionSigner(world.SESSION_SECRET),
        session_cookie=COOKIE,
        anonymous_access=True,
        clock=lambda: start + 40,
    )
    # GIVEN dave created at t0, and a cookie without incarnation issued at t0+10
    monkeypatch.setattr("infra.registry.users.time", SimpleNamespace(time=lambda: start))
    seeded.create_user("dave", "basic")
    value = SessionSigner(world.SESSION_SECRET).issue("dave", now=start + 10, ttl_seconds=3600)
    credentials = Credentials(cookie=f"{COOKIE}={value}")
    assert resolver.resolve(credentials).user_id == "dave"

    # WHEN dave is deleted and created again at t0+30
    seeded.delete_user("dave")
    monkeypatch.setattr("infra.registry.users.time", SimpleNamespace(time=lambda: start + 30))
    seeded.create_user("dave", "basic")

    # THEN that cookie is no session (anonymous), while one issued at t0+31 is dave's
    assert resolver.resolve(credentials).kind == "anonymous"
    later = SessionSigner(world.SESSION_SECRET).issue("dave", now=start + 31, ttl_seconds=3600)
    assert resolver.resolve(Credentials(cookie=f"{COOKIE}={later}")).user_id == "dave"


# -- keys left by a former user ------------------------------------------------------------------------------------


def _leave_a_key_behind(cli: Cli, seeded: Registry, user_id: str) -> str:
    """A user with a key, then the user item deleted alone: what a deletion racing a key creation left before."""
    cli.ok("user", "create", user_id, "--group", "basic")
    key: str = cli.json("key", "create", "--user", user_id)["key"]
    seeded.client.delete_item(TableName=TABLE, Key={k: {"S": v} for k, v in layout.user_key(user_id).items()})
    return key


def test_apply_re_creating_a_user_never_brings_back_a_former_users_key(
    cli: Cli, seeded: Registry, make_service: Callable[..., Service], tmp_path: Path
) -> None:
    # GIVEN a key of erin left in the table after erin was deleted
    key = _leave_a_key_behind(cli, seeded, "erin")
    assert _listing(make_service(), {"Authorization": f"Bearer {key}"})[0] == 401

    # WHEN `apply` creates erin again from a file that names her (and not that key)
    seed = tmp_path / "erin.yaml"
    seed.write_text(yaml.safe_dump({"users": [{"id": "erin", "group": "basic"}]}))
    cli.ok("apply", str(seed))

    # THEN the key still gets 401
    assert _listing(make_service(), {"Authorization": f"Bearer {key}"})[0] == 401
    # AND a key made for the new erin works
    fresh = cli.json("key", "create", "--user", "erin")["key"]
    assert _listing(make_service(), {"Authorization": f"Bearer {fresh}"}) == (200, BASIC_GROUP)


def test_user_create_deletes_the_keys_a_former_user_left(
    cli: Cli, seeded: Registry, make_service: Callable[..., Service]
) -> None:
    # GIVEN a key of ghost left in the table after ghost was deleted
    key = _leave_a_key_behind(cli, seeded, "ghost")

    # WHEN the operator creates ghost again
    run = cli("user", "create", "ghost", "--group", "vip")

    # THEN it is created, saying it deleted the key the former ghost left, and that key is gone and gets 401
    assert run.code == 0, run.err
    assert run.out == "created user ghost in group vip; deleted 1 key a former user ghost left\n"
    assert _scan_tokens(seeded, "ghost") == []
    assert _listing(make_service(), {"Authorization": f"Bearer {key}"})[0] == 401


def test_a_file_that_names_a_former_users_key_gives_it_to_the_current_user(
    cli: Cli, seeded: Registry, make_service: Callable[..., Service], tmp_path: Path
) -> None:
    # GIVEN a key of erin left in the table after erin was deleted
    key = _leave_a_key_behind(cli, seeded, "erin")

    # WHEN `apply` creates erin again from a file that names that very key
    seed = tmp_path / "erin.yaml"
    seed.write_text(
        yaml.safe_dump({"users": [{"id": "erin", "group": "basic"}], "tokens": [{"key": key, "user": "erin"}]})
    )
    out = cli.ok("apply", str(seed), "--dry-run")
    assert "left by a former user erin: now the current one's" in out
    cli.ok("apply", str(seed))

    # THEN the file is the truth: the key is the new erin's and gets her list
    assert _listing(make_service(), {"Authorization": f"Bearer {key}"}) == (200, BASIC_GROUP)


def test_apply_prune_without_a_tokens_section_deletes_a_pruned_users_keys(
    cli: Cli, seeded: Registry, make_service: Callable[..., Service], tmp_path: Path
) -> None:
    # GIVEN bob with his key, and a file whose users: section no longer names bob (and has no tokens: section)
    bob = world.KEYS["bob"]
    assert _listing(make_service(), {"Authorization": f"Bearer {bob}"}) == (200, BASIC_GROUP)
    seed = tmp_path / "users.yaml"
    users = [u for u in world.USERS if u["id"] != "bob"]
    seed.write_text(yaml.safe_dump({"users": users}))

    # WHEN `apply --prune` runs, first dry
    dry = cli.ok("apply", str(seed), "--prune", "--dry-run")
    assert f"- token {seeded.token(bob).token_id}: {keys.mask(bob)} of bob, with its user" in dry
    assert "stop working" not in dry
    cli.ok("apply", str(seed), "--prune")

    # THEN bob and his key are gone from the table, and the key gets 401, also once bob is created again
    assert seeded.get(layout.user_key("bob")) is None
    assert _scan_tokens(seeded, "bob") == []
    seed.write_text(yaml.safe_dump({"users": world.USERS}))
    cli.ok("apply", str(seed))
    assert _listing(make_service(), {"Authorization": f"Bearer {bob}"})[0] == 401


# -- keys written the way apply, migrate and the follower write them ------------------------------------------------

LATE_KEY = "sk-" + "f" * 48


def test_a_key_put_while_its_user_is_being_deleted_is_taken_by_the_deletion(seeded: Registry) -> None:
    # GIVEN a deletion of bob that has read bob and his keys, and a rival (a follower, say) that puts a new key of
    # bob's just before the deletion's transaction reaches the table
    rival = Registry(boto3.client("dynamodb", region_name="us-east-1"), TABLE)
    before = [t.token_id for t in seeded.tokens("bob")]
    sent: list[int] = []

    def race(**_: Any) -> None:
        sent.append(1)
        if len(sent) == 1:
            rival.put_token(LATE_KEY, user_id="bob", name="late")

    seeded.client.meta.events.register("before-call.dynamodb.TransactWriteItems", race)

    # WHEN the deletion runs as a command does
    dropped = retry_conflicts(lambda: seeded.delete_user("bob"), sleep=lambda _: None)

    # THEN its first try met the key counted on bob (a conflict), its second took that key too: none is left
    assert len(sent) == 2
    assert len(dropped) == len(before) + 1
    assert set(before) < set(dropped)
    assert _scan_tokens(seeded, "bob") == []


def test_a_key_put_for_a_user_deleted_since_it_was_read_is_a_conflict_and_writes_nothing(seeded: Registry) -> None:
    # GIVEN bob as a plan read him (his incarnation), then deleted with his keys
    incarnation = seeded.user("bob")["incarnation"]
    seeded.delete_user("bob")
    revision = seeded.marker().revision

    # WHEN a key of his is put for that life of his THEN a conflict (the command re-plans), and nothing is written
    with pytest.raises(Conflict):
        seeded.put_token(LATE_KEY, user_id="bob", user_incarnation=incarnation)
    assert _scan_tokens(seeded, "bob") == []
    assert seeded.get(layout.user_key("bob")) is None
    assert seeded.marker().revision == revision


# -- the race, with real processes ---------------------------------------------------------------------------------

ENGINES = [pytest.param("moto"), pytest.param("dynamodb-local", marks=pytest.mark.dynamodb_local)]
ROUNDS = 3
CREATORS = 8


def _start(argv: list[str], endpoint: str, table: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "infra.cli.main", *argv, "--endpoint-url", endpoint, "--table", table],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=180)
    return process.returncode, out, err


@pytest.mark.integration
@pytest.mark.parametrize("engine", ENGINES)
def test_a_user_deletion_beside_parallel_key_creations_leaves_no_key_that_works(
    request: pytest.FixtureRequest, engine: str, tmp_path: Path
) -> None:
    endpoint: str = request.getfixturevalue("moto_endpoint" if engine == "moto" else "dynamodb_local_endpoint")
    table, registry = fresh_table(endpoint)
    seed = tmp_path / "erin.yaml"
    seed.write_text(yaml.safe_dump({"users": [{"id": "erin", "group": "basic"}]}))
    settings = settings_for(table_name=table, dynamodb_endpoint_url=endpoint)
    # GIVEN erin, created by `apply` (and re-created by it after each round, as an operator restoring a file would)
    assert _finish(_start(["apply", str(seed)], endpoint, table))[0] == 0
    for _ in range(ROUNDS):
        # WHEN `user delete erin` runs beside eight `key create --user erin` processes, all started at once
        creators = [_start(["key", "create", "--user", "erin", "--json"], endpoint, table) for _ in range(CREATORS)]
        deleter = _start(["user", "delete", "erin"], endpoint, table)
        created = [_finish(p) for p in creators]
        deleted = _finish(deleter)

        # THEN the deletion succeeds, and each creation either succeeded before it or was refused after it
        assert (deleted[0], deleted[2]) == (0, ""), deleted
        made = [yaml.safe_load(out)["key"] for code, out, _ in created if code == 0]
        assert all(code == 0 or "unknown user 'erin'" in err for code, _, err in created), created
        # AND no key of erin is left in the table
        assert _scan_tokens(registry, "erin") == []
        # AND once `apply` has created erin again, not one of those keys gets a list
        assert _finish(_start(["apply", str(seed)], endpoint, table))[0] == 0
        service = build_service(settings, DynamoDirectory(http_dynamodb(endpoint), table))
        assert [_listing(service, {"Authorization": f"Bearer {key}"})[0] for key in made] == [401] * len(made)
