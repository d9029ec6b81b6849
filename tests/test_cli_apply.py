"""`modelgate apply FILE [--dry-run] [--prune]` and `modelgate export`, against moto with the test world applied."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from handler.core import keys
from handler.store import layout
from infra.registry import Registry
from infra.table import create_table
from tests.conftest import TABLE
from tests.support import world
from tests.test_cli_support import WRITES, Cli, count_requests, snapshot

NEW_KEY = "sk-test-dave-0000000000000000000000000000000000000000000000"


@pytest.fixture
def cli(seeded: Registry, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys, ["--table", TABLE])


def write(tmp_path: Path, document: Any, name: str = "seed.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return str(path)


def changed_world() -> dict[str, Any]:
    """The world with one of each change: a model changed and one added, a group changed and one added, a user
    moved and one added, a key added."""
    catalog = [dict(m, owned_by="acme") if m["id"] == "davinci" else m for m in world.CATALOG]
    return {
        "models": [*catalog, {"id": "o3", "owned_by": "openai", "created": 1744000000}],
        "groups": {**world.GROUPS, "basic": ["gpt-4o-mini", "o3"], "pro": ["o3", "davinci"]},
        "users": [
            *[dict(u, group="pro") if u["id"] == "bob" else u for u in world.USERS],
            {"id": "dave", "group": "pro"},
        ],
        "tokens": [{"key": NEW_KEY, "user": "dave", "name": "ci"}],
    }


EXPECTED_DIFF = [
    "~ model davinci: owned_by openai -> acme",
    "+ model o3",
    "~ group vip: view rebuilt (catalog changed)",
    "~ group basic: + o3; - davinci",
    "+ group pro: o3, davinci",
    "~ user bob: group basic -> pro",
    "+ user dave: group pro",
    f"+ token {keys.mask(NEW_KEY)}: user dave, name ci",
]


def test_dry_run_prints_the_diff_and_writes_nothing(cli: Cli, seeded: Registry, tmp_path: Path) -> None:
    # GIVEN a seed with one change of each kind
    seed = write(tmp_path, changed_world())
    before = snapshot(seeded.client, TABLE)

    # WHEN applied with --dry-run
    out = cli.ok("apply", seed, "--dry-run")

    # THEN it prints each change (keys masked) and a summary, and the table is untouched
    lines = out.splitlines()
    assert lines[:-1] == EXPECTED_DIFF
    assert lines[-1] == (
        f"dry run of {seed}: models +1 ~1 -0, groups +1 ~2 -0, users +1 ~1 -0, tokens +1 ~0 -0; nothing written"
    )
    assert snapshot(seeded.client, TABLE) == before

    # AND the JSON form carries the same changes
    data = cli.json("apply", seed, "--dry-run")
    assert data["dry_run"] is True
    assert data["summary"]["models"] == {"add": 1, "change": 1, "remove": 0}
    assert {"action": "add", "kind": "user", "id": "dave", "detail": "group pro"} in data["changes"]
    assert snapshot(seeded.client, TABLE) == before


def test_apply_writes_what_the_dry_run_showed_then_nothing_more(
    cli: Cli, seeded: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the same seed WHEN applied for real THEN the same changes are reported and made
    seed = write(tmp_path, changed_world())
    data = cli.json("apply", seed)
    sign = {"add": "+", "change": "~", "remove": "-"}
    made = [f"{sign[c['action']]} {c['kind']} {c['id']}" for c in data["changes"]]
    assert made == [line.split(":")[0] for line in EXPECTED_DIFF]
    assert seeded.user("bob")["group"] == "pro"
    assert seeded.group_models("pro") == ["o3", "davinci"]
    assert seeded.catalog_entries(["davinci"])["davinci"]["owned_by"] == "acme"
    assert seeded.get(layout.token_key(keys.key_hash(NEW_KEY))) is not None

    # WHEN applied again THEN there is nothing to do, and it writes nothing at all
    requests = count_requests(monkeypatch)
    assert cli.ok("apply", seed) == f"applied {seed}: no changes\n"
    assert not any(requests[op] for op in WRITES), requests


def test_prune_removes_what_the_file_no_longer_names_and_a_pruned_users_keys_with_them(
    cli: Cli, seeded: Registry, tmp_path: Path
) -> None:
    # GIVEN a file naming part of the world, without a tokens section
    document = {
        "models": [m for m in world.CATALOG if m["id"] in {"gpt-4o-mini", "davinci"}],
        "groups": {"default": ["gpt-4o-mini"], "basic": ["gpt-4o-mini", "davinci"]},
        "users": [{"id": "bob", "group": "basic"}],
    }
    seed = write(tmp_path, document)
    pruned_keys = {t.token_id for t in seeded.tokens() if t.user_id in {"alice", "carol"}}
    bobs_keys = {t.token_id for t in seeded.tokens("bob")}

    # WHEN applied with --prune
    data = cli.json("apply", seed, "--prune")

    # THEN every model, group and user the file does not name is gone, and the pruned users' keys with them
    removed = {(c["kind"], c["id"]) for c in data["changes"] if c["action"] == "remove"}
    assert removed == {
        *(("model", m["id"]) for m in world.CATALOG if m["id"] not in {"gpt-4o-mini", "davinci"}),
        ("group", "vip"),
        ("user", "alice"),
        ("user", "carol"),
        *(("token", token_id) for token_id in pruned_keys),
    }
    assert sorted(seeded.catalog()) == ["davinci", "gpt-4o-mini"]
    assert seeded.groups() == document["groups"]
    assert [u["user_id"] for u in seeded.list_kind(layout.USER)] == ["bob"]
    # AND the other keys all stay: a file without a tokens section prunes no key of a user it keeps
    assert {t.token_id for t in seeded.tokens()} == bobs_keys
    assert data["notes"] == []


def test_prune_removes_keys_only_when_the_file_has_a_tokens_section(cli: Cli, seeded: Registry, tmp_path: Path) -> None:
    # GIVEN a file whose only section names one of the world's keys
    seed = write(tmp_path, {"tokens": [{"key": world.KEYS["bob"], "user": "bob", "name": "bob"}]})

    # WHEN applied with --prune THEN every other key is removed, and nothing else
    data = cli.json("apply", seed, "--prune")
    assert {c["kind"] for c in data["changes"]} == {"token"}
    assert [t.name for t in seeded.tokens()] == ["bob"]
    assert len(seeded.catalog()) == len(world.CATALOG)
    assert len(seeded.groups()) == len(world.GROUPS)


def test_export_apply_export_is_byte_identical(
    cli: Cli, seeded: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the world, exported
    first = cli.ok("export")
    assert "sk-" not in first
    assert "tokens" not in yaml.safe_load(first)

    # WHEN the export is applied to an empty table, and that table is exported
    create_table(seeded.client, "other")
    exported = tmp_path / "export.yaml"
    exported.write_text(first)
    other = Cli(cli.capsys, ["--table", "other"])
    other.ok("apply", str(exported))

    # THEN the two exports are the same bytes
    assert other.ok("export") == first

    # AND applied back to where it came from, it changes nothing
    requests = count_requests(monkeypatch)
    assert cli.ok("apply", str(exported)).endswith(": no changes\n")
    assert not any(requests[op] for op in WRITES)


def test_export_keeps_the_documented_fields_and_statuses(cli: Cli, tmp_path: Path) -> None:
    # WHEN exported as JSON, and to a file
    document = cli.json("export")
    cli.ok("export", "--output", str(tmp_path / "out.yaml"))

    # THEN models in id order with their stored fields, disabled statuses only, groups and users
    assert [m["id"] for m in document["models"]] == sorted(m["id"] for m in world.CATALOG)
    davinci = next(m for m in document["models"] if m["id"] == "davinci")
    assert davinci == next(m for m in world.CATALOG if m["id"] == "davinci")
    assert next(m for m in document["models"] if m["id"] == "old-model")["status"] == "disabled"
    assert document["groups"] == {name: world.GROUPS[name] for name in sorted(world.GROUPS)}
    assert document["users"] == [
        {"id": "alice", "group": "vip"},
        {"id": "bob", "group": "basic"},
        {"id": "carol", "group": "vip", "status": "disabled"},
    ]
    assert yaml.safe_load((tmp_path / "out.yaml").read_text()) == document
    assert json.loads(json.dumps(document)) == document
