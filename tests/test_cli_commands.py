"""The operator commands' effects and output, against moto's in-process DynamoDB with the test world applied."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from handler.core import keys
from handler.store import layout
from infra.cli.context import REACHES_SERVICE, Context
from infra.cli.main import build_parser, main
from infra.local.embedded import free_port
from infra.registry import Registry
from tests.conftest import TABLE
from tests.support import world
from tests.test_cli_support import Cli, snapshot


@pytest.fixture
def cli(seeded: Registry, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys, ["--table", TABLE])


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path of the parser tree: (), ("models",), ("models", "import"), ..."""
    found = [path]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands(sub, (*path, name))
    return found


COMMANDS = _commands(build_parser())
LEAVES = [path for path in COMMANDS if path and path not in {(p[0],) for p in COMMANDS if len(p) > 1}]


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) or "modelgate" for p in COMMANDS])
def test_help_everywhere(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN any command WHEN asked for --help THEN usage and the connection and --json options, exit 0
    with pytest.raises(SystemExit) as exited:
        main([*path, "--help"])
    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert out.startswith("usage: modelgate")
    assert ("--json" in out) is (path != ("serve",))  # serve prints no result to format
    assert "--endpoint-url" in out


def test_every_operator_command_is_there() -> None:
    expected = {
        "models import", "models list", "models show", "models disable", "models enable", "models delete",
        "group list", "group show", "group set", "group add", "group remove", "group delete",
        "user create", "user set-group", "user disable", "user enable", "user list", "user show",
        "key create", "key list", "key disable", "key enable", "key delete",
        "session create", "session revoke", "apply", "export", "serve",
    }  # fmt: skip
    assert expected <= {" ".join(path) for path in LEAVES}


# -- keys ----------------------------------------------------------------------------------------------------


def test_key_create_prints_the_key_once_and_stores_only_its_hash(cli: Cli, seeded: Registry) -> None:
    # WHEN a key is created for alice, limited to two models, expiring on a date
    out = cli.ok("key", "create", "--user", "alice", "--name", "laptop", "--models", "gpt-4o,davinci", "--expires",
                 "2099-01-01")  # fmt: skip

    # THEN the key is the last line, sk- and 48 characters; the table holds its hash and settings, not the key
    key = out.splitlines()[-1]
    assert re.fullmatch(r"sk-[A-Za-z0-9]{48}", key)
    record = seeded.get(layout.token_key(keys.key_hash(key)))
    assert record is not None
    assert key not in json.dumps(record)
    assert record["user_id"] == "alice"
    assert record["name"] == "laptop"
    assert record["models"] == ["gpt-4o", "davinci"]
    assert record["status"] == "enabled"
    assert record["expires_at"] == 4070908800
    assert record["key_hint"] == keys.mask(key)
    assert out.startswith(f"created key {record['token_id']} for alice (laptop); models: gpt-4o, davinci; ")


def test_key_create_json_has_id_and_key(cli: Cli, seeded: Registry) -> None:
    # WHEN created with --json, a 30-day expiry and no model at all
    before = time.time()
    data = cli.json("key", "create", "--user", "bob", "--expires", "30d", "--no-models")

    # THEN the object has the public id and the plaintext key, and the stored token matches
    assert re.fullmatch(r"tok_[0-9a-f]{16}", data["id"])
    assert data["key"].startswith("sk-")
    assert data["masked_key"] == keys.mask(data["key"])
    assert data["user"] == "bob"
    assert data["models"] == []
    assert data["status"] == "enabled"
    assert seeded.token(data["id"]).user_id == "bob"
    expires = seeded.token(data["id"]).expires_at
    assert expires is not None
    assert before + 30 * 86_400 - 1 <= expires <= time.time() + 30 * 86_400


def test_key_create_notes_models_the_group_lacks(cli: Cli) -> None:
    # GIVEN bob in group basic (gpt-4o-mini, davinci) WHEN a key names gpt-4o THEN it is created, with a note
    run = cli("key", "create", "--user", "bob", "--models", "davinci,gpt-4o")
    assert run.code == 0
    assert "note: group basic lacks gpt-4o; a key lists only what its user's group has" in run.err


def test_key_create_accepts_a_custom_model_its_group_lists(cli: Cli, seeded: Registry) -> None:
    # GIVEN alice in group vip, which lists `my-custom`, a model outside the catalog
    assert "my-custom" in world.GROUPS["vip"]
    assert seeded.catalog_entries(["my-custom"]) == {}

    # WHEN a key names it beside a catalog model, without --allow-custom
    run = cli("key", "create", "--user", "alice", "--models", "gpt-4o,my-custom", "--json")

    # THEN it is created with both, and no note: the group has both
    assert run.code == 0, run.err
    assert seeded.token(json.loads(run.out)["id"]).models == ["gpt-4o", "my-custom"]
    assert run.err == ""


def test_key_create_needs_allow_custom_only_for_a_model_its_group_does_not_list(cli: Cli, seeded: Registry) -> None:
    # GIVEN bob in group basic, which lists no `my-custom` WHEN a key names it without --allow-custom THEN refused
    before = snapshot(seeded.client, TABLE)
    run = cli("key", "create", "--user", "bob", "--models", "davinci,my-custom")
    assert (run.code, run.out) == (2, "")
    assert "not in the catalog: my-custom" in run.err
    assert snapshot(seeded.client, TABLE) == before

    # WHEN allowed THEN created, with the note that the group lacks it
    run = cli("key", "create", "--user", "bob", "--models", "davinci,my-custom", "--allow-custom")
    assert run.code == 0, run.err
    assert "note: group basic lacks my-custom" in run.err


def test_key_list_masks_every_key_and_shows_its_settings(cli: Cli, seeded: Registry) -> None:
    # WHEN alice's keys are listed as JSON
    listed = cli.json("key", "list", "--user", "alice")

    # THEN one row per key of alice's, with id, name, user, status, expiry, models, creation time, masked key
    by_name = {row["name"]: row for row in listed}
    assert set(by_name) == {t["name"] for t in world.TOKENS if t["user"] == "alice"}
    limited = by_name["limited"]
    assert limited["masked_key"] == keys.mask(world.KEYS["limited"])
    assert limited["models"] == ["davinci", "gpt-4o"]
    assert limited["user"] == "alice"
    assert limited["status"] == "enabled"
    assert limited["expires_at"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", limited["created_at"])
    assert by_name["disabled"]["status"] == "disabled"
    assert by_name["expired"]["expired"] is True
    assert by_name["expired"]["expires_at"] == "2024-01-01T00:00:00Z"
    assert by_name["full"]["models"] is None
    assert by_name["empty"]["models"] == []

    # AND all keys list by owner
    owners = [row["user"] for row in cli.json("key", "list")]
    assert owners == sorted(owners)
    assert set(owners) == {"alice", "bob", "carol"}

    # AND the human table says the same in columns
    table = cli.ok("key", "list", "--user", "alice").splitlines()
    assert table[0].split() == [
        "ID",
        "NAME",
        "USER",
        "KEY",
        "STATUS",
        "EXPIRES",
        "MODELS",
        "GROUP",
        "ALLOW_IPS",
        "CREATED",
    ]
    expired = next(line for line in table if " expired " in line)
    assert keys.mask(world.KEYS["expired"]) in expired
    assert "2024-01-01T00:00:00Z" in expired


def test_no_output_ever_shows_a_plaintext_key_or_its_hash(cli: Cli, tmp_path: Path) -> None:
    # GIVEN the world's keys, and one more made by the CLI
    made = cli.json("key", "create", "--user", "alice")["key"]
    secrets_ = [*world.KEYS.values(), made]
    hashes = [keys.key_hash(k) for k in secrets_]
    token_id = cli.json("key", "list", "--user", "bob")[0]["id"]
    seed = {"tokens": [{"key": world.KEYS["bob"], "user": "bob", "name": "renamed"}]}
    seed_file = str(tmp_path / "keys.json")
    Path(seed_file).write_text(json.dumps(seed))

    # WHEN every command that shows keys, users or the table's contents runs, human and JSON
    outputs = []
    for argv in (
        ("key", "list"),
        ("key", "show", token_id),
        ("key", "disable", token_id),
        ("key", "enable", token_id),
        ("user", "show", "alice"),
        ("user", "list"),
        ("export",),
        ("apply", seed_file, "--dry-run"),
        ("apply", seed_file, "--dry-run", "--prune"),
    ):
        for mode in ((), ("--json",)):
            run = cli(*argv, *mode)
            assert run.code == 0, run.err
            outputs.append(run.out + run.err)
    outputs.append(cli.ok("key", "delete", token_id))

    # THEN none shows a key whole (the one made was shown once, by key create) or a key's hash
    everything = "\n".join(outputs)
    for secret in [*secrets_, *hashes]:
        assert secret not in everything
    assert "TOKEN#" not in everything
    assert keys.mask(world.KEYS["bob"]) in everything


def test_key_show_prints_values_as_a_person_reads_them(cli: Cli) -> None:
    # GIVEN a key limited to two models, from two networks, expiring, and one without any limit
    limited = cli.json(
        "key",
        "create",
        "--user",
        "bob",
        "--models",
        "gpt-4o-mini,davinci",
        "--allow-ips",
        "10.0.0.0/8,192.0.2.1",
        "--expires",
        "2099-01-01",
    )
    plain = cli.json("key", "create", "--user", "bob")

    # WHEN shown THEN lists are comma-separated and an unset value says what it means: no Python None or [...]
    shown = cli.ok("key", "show", limited["id"])
    assert "models:     gpt-4o-mini, davinci\n" in shown
    assert "allow_ips:  10.0.0.0/8, 192.0.2.1/32\n" in shown
    assert "expires_at: 2099-01-01T00:00:00Z\n" in shown
    assert "expired:    no\n" in shown
    bare = cli.ok("key", "show", plain["id"])
    for line in ("models:     (all of the group's)", "group:      (owner's)", "allow_ips:  (any)", "expires_at: never"):
        assert f"{line}\n" in bare
    for python in ("None", "[", "]", "'gpt", "False", "True"):
        assert python not in shown + bare


def test_key_disable_enable_delete_by_public_id(cli: Cli, seeded: Registry) -> None:
    # GIVEN bob's key, found by its public id
    token_id = cli.json("key", "list", "--user", "bob")[0]["id"]
    digest = keys.key_hash(world.KEYS["bob"])

    # WHEN disabled THEN the token item (found through gsi1, updated by its table key) says so
    assert cli.json("key", "disable", token_id)["status"] == "disabled"
    assert seeded.get(layout.token_key(digest))["status"] == "disabled"  # type: ignore[index]

    # WHEN enabled THEN enabled again; WHEN deleted THEN gone
    cli.ok("key", "enable", token_id)
    assert seeded.get(layout.token_key(digest))["status"] == "enabled"  # type: ignore[index]
    assert cli.json("key", "delete", token_id)["deleted"] is True
    assert seeded.get(layout.token_key(digest)) is None


def test_revoking_and_disabling_say_when_running_containers_follow(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN alice and one of her keys
    token_id = cli.json("key", "list", "--user", "alice")[0]["id"]

    # WHEN her sessions are revoked, her key and she are disabled
    revoked = cli.ok("session", "revoke", "--user", "alice")
    disabled = cli.ok("key", "disable", token_id)
    user = cli.ok("user", "disable", "alice")

    # THEN each says, in the same words, when running containers stop accepting them, and which: those serving
    # this very table (a table of the same name in another region is another table)
    follow = f"{REACHES_SERVICE}, those serving table 'modelgate-test' in AWS DynamoDB, us-east-1"
    assert revoked == f"revoked every session of alice issued until now: running containers refuse them {follow}\n"
    assert disabled.rstrip().endswith(f"running containers refuse it {follow}")
    assert user.rstrip().endswith(f"running containers refuse their keys and sessions {follow}")


# -- users ---------------------------------------------------------------------------------------------------


def test_user_lifecycle(cli: Cli, seeded: Registry) -> None:
    # WHEN a user is created THEN enabled in its group
    created = cli.json("user", "create", "dave", "--group", "basic")
    assert (created["id"], created["group"], created["status"]) == ("dave", "basic", "enabled")

    # WHEN moved, disabled and enabled THEN the record follows
    assert cli.json("user", "set-group", "dave", "vip")["group"] == "vip"
    assert cli.json("user", "disable", "dave")["status"] == "disabled"
    assert seeded.user("dave")["status"] == "disabled"
    assert cli.json("user", "enable", "dave")["status"] == "enabled"

    # AND list and show report it, show with its keys masked
    key = cli.json("key", "create", "--user", "dave")["key"]
    listed = {u["id"]: u for u in cli.json("user", "list")}
    assert listed["dave"]["keys"] == 1
    assert listed["carol"]["status"] == "disabled"
    assert [u["id"] for u in cli.json("user", "list", "--group", "vip")] == ["alice", "carol", "dave"]
    shown = cli.json("user", "show", "dave")
    assert shown["group"] == "vip"
    assert [k["masked_key"] for k in shown["keys"]] == [keys.mask(key)]

    # WHEN deleted THEN the user and their keys are gone, in one transaction
    deleted = cli.json("user", "delete", "dave")
    assert deleted["keys_deleted"] == [shown["keys"][0]["id"]]
    assert seeded.get(layout.user_key("dave")) is None
    assert seeded.get(layout.token_key(keys.key_hash(key))) is None


# -- groups --------------------------------------------------------------------------------------------------


def test_group_commands(cli: Cli, seeded: Registry) -> None:
    # WHEN a group is set, added to and removed from THEN its models follow, in order
    assert cli.json("group", "set", "pro", "davinci", "gpt-4o")["result"] == "created"
    assert cli.json("group", "set", "pro", "davinci", "gpt-4o")["result"] == "unchanged"
    cli.ok("group", "add", "pro", "bare", "cushman:2020-05-03")
    cli.ok("group", "remove", "pro", "gpt-4o")
    assert seeded.group_models("pro") == ["davinci", "bare", "cushman:2020-05-03"]

    # AND show says how each model is listed, and who belongs
    shown = cli.json("group", "show", "vip")
    assert shown["custom"] == ["my-custom"]
    assert shown["disabled"] == ["old-model"]
    assert shown["users"] == ["alice", "carol"]
    human = cli.ok("group", "show", "vip")
    assert "my-custom" in human
    assert "not in the catalog: listed as custom" in human
    assert "disabled: listed nowhere" in human

    # AND list counts models and users
    listed = {g["name"]: g for g in cli.json("group", "list")}
    assert (len(listed["vip"]["models"]), listed["vip"]["users"]) == (9, ["alice", "carol"])
    assert listed["pro"]["users"] == []

    # WHEN a group nobody belongs to is deleted THEN it and its view are gone
    cli.ok("group", "delete", "pro")
    assert (
        seeded.client.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "GROUP#pro"}},
        )["Items"]
        == []
    )


def test_group_set_writes_the_view_the_service_reads(cli: Cli, seeded: Registry) -> None:
    # WHEN a group is set THEN its view chunk holds the models joined with their catalog entries
    cli.ok("group", "set", "pro", "davinci", "o1", "--allow-custom")
    chunks = seeded.client.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :view)",
        ExpressionAttributeValues={":pk": {"S": "GROUP#pro"}, ":view": {"S": "VIEW#"}},
    )["Items"]
    members = layout.decode_view([c["data"]["B"] for c in chunks])
    davinci = next(m for m in world.CATALOG if m["id"] == "davinci")
    assert members == [
        ("davinci", {**{k: v for k, v in davinci.items() if k != "id"}, "status": "enabled"}),
        ("o1", None),
    ]


# -- catalog -------------------------------------------------------------------------------------------------


def test_models_list_show_disable_enable_delete(cli: Cli, seeded: Registry) -> None:
    # WHEN the catalog is listed THEN every model, in id order, with its stored fields
    listed = cli.json("models", "list")
    assert [m["id"] for m in listed] == sorted(m["id"] for m in world.CATALOG)
    assert [m["id"] for m in cli.json("models", "list", "--status", "disabled")] == ["old-model"]

    # AND show gives the stored fields as stored, and the groups naming it
    shown = cli.json("models", "show", "davinci")
    assert shown["permission"] == [world.DAVINCI_PERMISSION]
    assert (shown["created"], shown["root"], shown["parent"]) == (1649359874, "davinci", None)
    assert shown["groups"] == ["basic", "vip"]

    # WHEN disabled THEN the views of both groups are rebuilt with it, in the same transaction
    assert cli.json("models", "disable", "davinci")["groups_rebuilt"] == ["basic", "vip"]
    assert "is already disabled" in cli.ok("models", "disable", "davinci")
    assert cli.json("models", "enable", "davinci")["groups_rebuilt"] == ["basic", "vip"]

    # WHEN deleted THEN it leaves the catalog and every group that named it
    assert cli.json("models", "delete", "davinci")["removed_from_groups"] == ["basic", "vip"]
    assert seeded.group_models("basic") == ["gpt-4o-mini"]
    assert "davinci" not in (seeded.group_models("vip") or [])
    assert seeded.get(layout.model_key("davinci")) is None


def test_human_output_is_a_table(cli: Cli) -> None:
    lines = cli.ok("models", "list").splitlines()
    assert lines[0].split() == ["ID", "OWNED_BY", "CREATED", "STATUS"]
    davinci = next(line.split() for line in lines if line.startswith("davinci "))
    assert davinci == ["davinci", "openai", "2022-04-07T19:31:14Z", "enabled"]
    bare = next(line.split() for line in lines if line.startswith("bare "))
    assert bare == ["bare", "-", "-", "enabled"]


def test_read_commands_write_nothing(cli: Cli, seeded: Registry) -> None:
    before = snapshot(seeded.client, TABLE)
    for argv in (("models", "list"), ("group", "list"), ("user", "list"), ("key", "list"), ("export",)):
        cli.ok(*argv)
    assert snapshot(seeded.client, TABLE) == before


# -- connection ----------------------------------------------------------------------------------------------


@pytest.fixture
def aws_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An AWS config file with a profile `ops` in eu-west-3, and no region in the environment."""
    config = tmp_path / "config"
    config.write_text("[profile ops]\nregion = eu-west-3\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = x\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")


@pytest.mark.usefixtures("aws_config")
@pytest.mark.parametrize(
    ("options", "environment", "region"),
    [
        (["--profile", "ops"], {}, "eu-west-3"),
        (["--profile", "ops", "--region", "ap-south-1"], {}, "ap-south-1"),
        (["--profile", "ops"], {"AWS_REGION": "us-west-2"}, "us-west-2"),
        ([], {"AWS_PROFILE": "ops"}, "eu-west-3"),
        ([], {}, "us-east-1"),
    ],
)
def test_region_is_resolved_the_way_boto3_does(
    options: list[str], environment: dict[str, str], region: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a profile with its own region WHEN the CLI connects THEN flag, environment, profile, us-east-1 in turn
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    context = Context(build_parser().parse_args(["user", "list", *options]))
    assert context.client.meta.region_name == region
    assert context.region == region


@pytest.mark.usefixtures("seeded")
def test_a_wrong_table_exits_2_naming_it_and_where_it_came_from(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the world's table WHEN a command names another one THEN exit 2 (the operator's to fix), naming it
    assert main(["user", "list", "--table", "nope"]) == 2
    assert capsys.readouterr().err == (
        "error: table 'nope' (from --table) in AWS DynamoDB, region us-east-1 (from AWS_REGION) does not exist: "
        "check that the region and endpoint are the service's (a table in another region is another table); "
        "to make this one, deploy the stack, or `apply` with --endpoint-url\n"
    )
    monkeypatch.setenv("TABLE_NAME", "stale")
    assert main(["key", "list"]) == 2
    assert "table 'stale' (from TABLE_NAME)" in capsys.readouterr().err


def test_an_unreachable_endpoint_exits_1_naming_it_and_where_it_came_from(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN DYNAMODB_ENDPOINT_URL where nothing listens WHEN a command runs THEN exit 1: cannot reach DynamoDB
    stale = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("DYNAMODB_ENDPOINT_URL", stale)
    assert main(["user", "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        "error: cannot reach DynamoDB for table 'modelgate' (the default; TABLE_NAME is unset) in region us-east-1 "
        f"(from AWS_REGION) at {stale} (from DYNAMODB_ENDPOINT_URL): "
    )
    assert err.count("\n") == 1


@pytest.mark.usefixtures("aws_config")
def test_an_unknown_profile_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["user", "list", "--profile", "nope"]) == 2
    assert capsys.readouterr().err == "error: AWS profile 'nope' not found in the AWS config files\n"


def test_output_piped_into_a_reader_that_stops_early_ends_quietly() -> None:
    # GIVEN `modelgate models list` over more than a pipe's buffer of models, read like `| head -1` reads it
    script = (
        "import sys; from moto import mock_aws; import boto3\n"
        "from infra.table import create_table; from infra.registry import Registry; from infra.cli.main import main\n"
        "with mock_aws():\n"
        "    client = boto3.client('dynamodb', region_name='us-east-1'); create_table(client, 't')\n"
        "    Registry(client, 't').put_models([{'id': f'vendor/a-long-model-name-{i:05d}'} for i in range(1500)])\n"
        "    sys.exit(main(['models', 'list', '--table', 't']))\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        first = process.stdout.readline()
        process.stdout.close()  # the reader leaves
        errors = process.stderr.read()

    # THEN the reader got the header, and the CLI exited 141 (SIGPIPE's code) without a traceback
    assert first.split() == ["ID", "OWNED_BY", "CREATED", "STATUS"]
    assert process.returncode == 141
    assert errors == ""
