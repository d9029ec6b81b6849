"""Refusals: exit code 2, a clear `error: ...` on stderr, nothing on stdout, and not one item written.

GIVEN the test world (tests/support/world.py) in moto's in-process DynamoDB, WHEN an operator asks for something
the rules forbid, THEN the CLI refuses and the table is byte for byte what it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from infra.apply import apply_seed
from infra.registry import Registry
from infra.seed import parse_seed
from infra.table import create_table
from tests.conftest import TABLE
from tests.support import world
from tests.test_cli_support import Cli, snapshot


@pytest.fixture(scope="module")
def world_table() -> Iterator[Registry]:
    """One seeded table for every refusal: a refusal writes nothing, which each case checks with snapshots."""
    with mock_aws():
        client = boto3.client(
            "dynamodb", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        create_table(client, TABLE)
        registry = Registry(client, TABLE, sleep=lambda _: None)
        apply_seed(parse_seed(world.world_document()), registry)
        yield registry


@pytest.fixture
def cli(seeded: Registry, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys, ["--table", TABLE])


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp_path = tmp_path_factory.mktemp("refusals")
    documents = {
        "duplicate-catalog": {"object": "list", "data": [{"id": "a"}, {"id": "b"}, {"id": "a"}]},
        # Models first, then a user in a group nobody defines: the whole file is refused, models included.
        "unknown-group-seed": {"models": [{"id": "brand-new"}], "users": [{"id": "dave", "group": "nope"}]},
        "unknown-user-seed": {"tokens": [{"key": "sk-" + "x" * 48, "user": "nobody"}]},
        # Prunes group vip, but users alice and carol still belong to it.
        "prune-in-use": {"groups": {"default": ["gpt-4o-mini"], "basic": ["gpt-4o-mini", "davinci"]}},
        "catalog-with-users": {"models": [{"id": "a"}], "users": [{"id": "dave", "group": "vip"}]},
        "bad-created": {"object": "list", "data": [{"id": "a", "created": "yesterday"}]},
    }
    paths = {}
    for name, document in documents.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(document))
        paths[name] = str(path)
    return paths


REFUSALS: list[tuple[tuple[str, ...], str]] = [
    # unknown user or group
    (("user", "create", "dave", "--group", "nope"), "unknown group 'nope'"),
    (("user", "set-group", "nobody", "vip"), "unknown user 'nobody'"),
    (("user", "set-group", "alice", "nope"), "unknown group 'nope'"),
    (("user", "disable", "nobody"), "unknown user 'nobody'"),
    (("user", "enable", "nobody"), "unknown user 'nobody'"),
    (("user", "delete", "nobody"), "unknown user 'nobody'"),
    (("user", "show", "nobody"), "unknown user 'nobody'"),
    (("user", "list", "--group", "nope"), "unknown group 'nope'"),
    (("group", "show", "nope"), "unknown group 'nope'"),
    (("group", "add", "nope", "gpt-4o"), "unknown group 'nope'"),
    (("group", "remove", "nope", "gpt-4o"), "unknown group 'nope'"),
    (("group", "delete", "nope"), "unknown group 'nope'"),
    (("key", "create", "--user", "nobody"), "unknown user 'nobody'"),
    (("key", "list", "--user", "nobody"), "unknown user 'nobody'"),
    (("session", "create", "--user", "nobody"), "unknown user 'nobody'"),
    (("session", "revoke", "--user", "nobody"), "unknown user 'nobody'"),
    (("apply", "{unknown-group-seed}"), "user 'dave': unknown group 'nope'"),
    (("apply", "{unknown-user-seed}"), "unknown user 'nobody'"),
    # unknown model or key
    (("models", "show", "nope"), "unknown model 'nope'"),
    (("models", "disable", "nope"), "unknown model 'nope'"),
    (("models", "enable", "nope"), "unknown model 'nope'"),
    (("models", "delete", "nope"), "unknown model 'nope'"),
    (("key", "show", "tok_0000000000000000"), "unknown key id 'tok_0000000000000000'"),
    (("key", "disable", "tok_0000000000000000"), "unknown key id 'tok_0000000000000000'"),
    (("key", "enable", "tok_0000000000000000"), "unknown key id 'tok_0000000000000000'"),
    (("key", "delete", "tok_0000000000000000"), "unknown key id 'tok_0000000000000000'"),
    # a model outside the catalog, without --allow-custom
    (("group", "set", "pro", "gpt-4o", "o1-pro"), "not in the catalog: o1-pro"),
    (("group", "add", "basic", "o1-pro", "o3"), "not in the catalog: o1-pro, o3"),
    (("key", "create", "--user", "alice", "--models", "gpt-4o,o1-pro"), "not in the catalog: o1-pro"),
    # a bad date
    (("key", "create", "--user", "alice", "--expires", "2027-13-45"), "not a date or duration: '2027-13-45'"),
    (("key", "create", "--user", "alice", "--expires", "soon"), "not a date or duration: 'soon'"),
    (("key", "create", "--user", "alice", "--expires", "2020-01-01"), "--expires 2020-01-01 is in the past"),
    (("session", "create", "--user", "alice", "--ttl", "forever"), "not a duration: 'forever'"),
    (("models", "import", "{bad-created}"), "created: must be an integer"),
    # a key for a disabled user
    (("key", "create", "--user", "carol"), "user 'carol' is disabled"),
    (("session", "create", "--user", "carol"), "user 'carol' is disabled"),
    # a duplicate id
    (("user", "create", "alice", "--group", "vip"), "user 'alice' already exists"),
    (("group", "set", "pro", "gpt-4o", "davinci", "gpt-4o"), "duplicate model id 'gpt-4o'"),
    (("group", "add", "basic", "davinci"), "the group already has davinci"),
    (("group", "remove", "basic", "gpt-4o"), "the group does not have gpt-4o"),
    (("key", "create", "--user", "alice", "--models", "gpt-4o,gpt-4o"), "duplicate model id 'gpt-4o'"),
    (("key", "create", "--user", "alice", "--models", "gpt-4o,,davinci"), "an empty model id"),
    (("key", "create", "--user", "alice", "--models", "gpt-4o, gpt 4o"), "'gpt 4o' is not an id"),
    (("models", "import", "{duplicate-catalog}"), "duplicate id: 'a'"),
    # multi-item changes that would leave something dangling
    (("group", "delete", "vip"), "users still belong to group 'vip': alice, carol"),
    (("apply", "{prune-in-use}", "--prune"), "group 'vip' would be pruned but users still belong to it: alice, carol"),
    (("models", "import", "{catalog-with-users}"), "has users too; use `modelgate apply`"),
]


@pytest.mark.parametrize("case", REFUSALS, ids=[" ".join(argv) for argv, _ in REFUSALS])
def test_refused_with_exit_2_a_clear_message_and_nothing_written(
    world_table: Registry,
    capsys: pytest.CaptureFixture[str],
    files: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    case: tuple[tuple[str, ...], str],
) -> None:
    argv, message = case
    # GIVEN the world, and the session secret the service uses
    monkeypatch.setenv("SESSION_SECRET", world.SESSION_SECRET)
    before = snapshot(world_table.client, TABLE)

    # WHEN the operator runs the command
    run = Cli(capsys, ["--table", TABLE])(*(arg.format(**files) for arg in argv))

    # THEN it is refused: exit 2, the reason on stderr, nothing on stdout, nothing written
    assert run.code == 2
    assert run.err.startswith("error: ")
    assert message in run.err
    assert run.out == ""
    assert snapshot(world_table.client, TABLE) == before


def test_group_set_refuses_custom_models_it_already_names_unless_allowed(cli: Cli, seeded: Registry) -> None:
    # GIVEN group vip, whose seed names `my-custom`, a model outside the catalog
    before = snapshot(seeded.client, TABLE)

    # WHEN the operator re-sets vip with it, without --allow-custom THEN it is refused and nothing is written
    run = cli("group", "set", "vip", "gpt-4o", "my-custom")
    assert (run.code, run.out) == (2, "")
    assert "not in the catalog: my-custom" in run.err
    assert snapshot(seeded.client, TABLE) == before

    # WHEN they allow it THEN the group is written, and says which ids are custom
    assert "(my-custom as custom)" in cli.ok("group", "set", "vip", "gpt-4o", "my-custom", "--allow-custom")
    assert seeded.group_models("vip") == ["gpt-4o", "my-custom"]


def test_group_add_checks_only_the_models_it_adds(cli: Cli, seeded: Registry) -> None:
    # GIVEN vip, which already names the custom `my-custom` WHEN a catalog model is added THEN it is accepted
    cli.ok("group", "remove", "vip", "gpt-4o")
    cli.ok("group", "add", "vip", "gpt-4o")
    assert seeded.group_models("vip") == [*world.GROUPS["vip"][1:], "gpt-4o"]


def test_a_refusal_with_json_still_writes_nothing_to_stdout(cli: Cli) -> None:
    run = cli("user", "create", "alice", "--group", "vip", "--json")
    assert (run.code, run.out) == (2, "")
    assert run.err == "error: user 'alice' already exists\n"


@pytest.mark.parametrize(
    "argv",
    [
        ("key", "create"),
        ("user", "create", "", "--group", "vip"),
        ("user", "create", "dave", "--group", " "),
        ("user", "set-group", "alice", ""),
        ("group", "set", "", "gpt-4o"),
        ("group", "add", "vip", "gpt 4o"),
    ],
    ids=["missing option", "blank user", "blank group", "blank new group", "blank group name", "id with a space"],
)
def test_usage_errors_exit_2_and_write_nothing(
    cli: Cli, seeded: Registry, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    # GIVEN a command missing an option, or given a blank id (an unset shell variable, say)
    before = snapshot(seeded.client, TABLE)

    # WHEN run THEN argparse's usage error, exit 2, and nothing written
    with pytest.raises(SystemExit) as exited:
        cli(*argv)
    assert exited.value.code == 2
    assert "usage: modelgate" in capsys.readouterr().err
    assert snapshot(seeded.client, TABLE) == before
