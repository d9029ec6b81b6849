"""Whose records `modelgate migrate` may touch: its own source's only (conflicts, --adopt, --prune per source,
the legacy `migrate` mark), and the mass-removal hold of a one-shot run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from handler.core import keys
from handler.store import layout
from infra.apply import apply_seed
from infra.migrate.source import parse_source
from infra.registry import Registry
from infra.seed import Seed
from tests.conftest import Gateway
from tests.support import gateways
from tests.support.gateways import ENGINES, NEW_API, ONE_API, GatewayRows, gateway_rows
from tests.test_cli_support import Cli, snapshot

NOW = 1_900_000_000


def masked(n: int, tag: str = "k") -> str:
    return keys.mask("sk-" + gateways.key_of(n, tag))


def _item(registry: Registry, key: dict[str, str]) -> dict[str, Any] | None:
    return registry.get(key)


def _renamed(gateway: Gateway) -> None:
    """A second SQLite gateway: the same rows under other usernames and keys (its own people)."""
    gateway.execute("UPDATE users SET username = username || '_w'")
    gateway.execute("UPDATE tokens SET `key` = 'w' || SUBSTR(`key`, 2)")


@pytest.mark.parametrize("engine", ENGINES)
def test_a_user_and_group_another_writer_made_are_left_alone_reported_and_adopted_only_when_asked(
    engine: str, make_gateway: Callable[[str, str, GatewayRows], Gateway], target: tuple[Registry, Cli]
) -> None:
    """GIVEN a CLI-made `default` group (gpt-4o) and a CLI-made user `alice` with her own key
    WHEN a one-api database with a `default` group and a user `alice` (with 11 keys) is migrated
    THEN both are conflicts, in the dry run's plan, the summary line and --json; neither record changes, none of
    the source's alice keys is written, everything else is; a re-run and --prune leave them too;
    AND WHEN --adopt runs THEN both become the source's (default gets the source's models, alice its group)."""
    registry, cli = target
    cli.ok("group", "set", "default", "gpt-4o")
    cli.ok("user", "create", "alice", "--group", "default")
    own_key = cli.json("key", "create", "--user", "alice")["key"]
    before = {
        name: _item(registry, key)
        for name, key in [("group", layout.group_key("default")), ("user", layout.user_key("alice"))]
    }
    gateway = make_gateway(engine, ONE_API, gateway_rows(ONE_API, NOW))

    dry = cli("migrate", gateway.source, "--dry-run")
    data = cli.json("migrate", gateway.source)

    assert "! group default: written by the CLI or apply; left alone (--adopt takes it over)" in dry.out
    assert "! user alice: written by the CLI or apply; left alone (--adopt takes it over)" in dry.out
    assert f"! token {masked(1)}: its user alice is another writer's; left alone" in dry.out
    assert dry.out.splitlines()[-1].endswith("14 conflicts left alone (--adopt takes them over); nothing written")
    conflicts = {(c["kind"], c["id"]) for c in data["conflicts"]}
    assert {("group", "default"), ("user", "alice")} <= conflicts
    assert {i for k, i in conflicts if k == "token"} == {masked(n) for n in range(1, 13)}
    assert data["summary"]["users"] == {"add": 4, "change": 0, "remove": 0}  # bob, carol, dave, erin; not alice
    for name, key in [("group", layout.group_key("default")), ("user", layout.user_key("alice"))]:
        assert _item(registry, key) == before[name]
    assert registry.get(layout.token_key(keys.key_hash("sk-" + gateways.key_of(1)))) is None
    bob = registry.get(layout.user_key("bob"))
    assert bob is not None
    assert bob["origin"] == "migrate:" + parse_source(gateway.source).identity  # the URL without credentials
    assert "s3cret" not in bob["origin"]
    assert "gateway@" not in bob["origin"]

    # a re-run and a prune keep leaving them alone, and keep saying so
    assert cli.json("migrate", gateway.source, "--prune")["summary"] == {}
    assert _item(registry, layout.user_key("alice")) == before["user"]
    assert keys.mask(own_key) in {t.key_hint for t in registry.tokens("alice")}

    adopted = cli.json("migrate", gateway.source, "--adopt")

    assert adopted["conflicts"] == []
    group = registry.get(layout.group_key("default"))
    alice = registry.get(layout.user_key("alice"))
    assert group is not None
    assert alice is not None
    assert (group["models"], group["origin"]) == (["gpt-4o-mini"], bob["origin"])
    assert (alice["group"], alice["origin"]) == ("vip", bob["origin"])
    assert adopted["summary"]["tokens"]["add"] == 12


def test_two_gateways_in_one_table_never_change_or_prune_each_other(
    make_gateway: Callable[[str, str, GatewayRows], Gateway], target: tuple[Registry, Cli]
) -> None:
    """GIVEN two new-api databases with their own users and keys, migrated into one table as `east` and `west`
    WHEN east loses a token and a user and both run with --prune
    THEN only east's token and user go; west's records are all still there, unchanged; the groups both name are
    east's (first), and west reports them as conflicts without changing them."""
    registry, cli = target
    east = make_gateway("sqlite", NEW_API, gateway_rows(NEW_API, NOW))
    west = make_gateway("sqlite", NEW_API, gateway_rows(NEW_API, NOW))
    _renamed(west)
    cli.ok("migrate", east.source, "--source-name", "east")
    first_west = cli.json("migrate", west.source, "--source-name", "west")
    assert {c["id"] for c in first_west["conflicts"] if c["kind"] == "group"} == {"default", "vip", "svip", "ghost"}
    west_items = [i for i in snapshot(registry.client, registry.table) if "migrate:west" in i]
    assert len(west_items) > 20

    east.execute("DELETE FROM tokens WHERE id = 13")
    east.execute("DELETE FROM users WHERE id = 2")  # bob
    pruned = cli.json("migrate", east.source, "--source-name", "east", "--prune")
    west_again = cli.json("migrate", west.source, "--source-name", "west", "--prune")

    removed = sorted((c["kind"], c["id"]) for c in pruned["changes"] if c["action"] == "remove")
    assert [k for k, _ in removed] == ["token", "user"]
    assert ("user", "bob") in removed
    assert west_again["summary"] == {}
    assert [i for i in snapshot(registry.client, registry.table) if "migrate:west" in i] == west_items
    bob_w = registry.get(layout.user_key("bob_w"))
    assert bob_w is not None
    assert bob_w["origin"] == "migrate:west"


def test_records_of_an_earlier_migrate_become_the_first_named_sources(
    make_gateway: Callable[[str, str, GatewayRows], Gateway], target: tuple[Registry, Cli]
) -> None:
    """GIVEN a table written by a migrate from before sources had names (records marked `migrate`), and a user
    `gone` so marked that the source no longer has
    WHEN migrate --source-name east --prune runs THEN the records the source names are re-marked east's, `gone` is
    removed as east's; AND a second source `west` naming the same users then finds them east's (conflicts)."""
    registry, cli = target
    rows = gateway_rows(ONE_API, NOW)
    gateway = make_gateway("sqlite", ONE_API, rows)
    legacy = Seed(
        groups={"default": ["gpt-4o-mini"]},
        users=[{"id": "bob", "group": "default", "status": "enabled"}, {"id": "gone", "group": "default"}],
        sections=frozenset({"groups", "users"}),
        origin="migrate",
    )
    apply_seed(legacy, registry)

    claimed = cli.json("migrate", gateway.source, "--source-name", "east", "--prune")
    other = cli.json("migrate", gateway.source, "--source-name", "west", "--dry-run")

    assert ("user", "gone") in {(c["kind"], c["id"]) for c in claimed["changes"] if c["action"] == "remove"}
    assert claimed["conflicts"] == []
    for key in (layout.user_key("bob"), layout.group_key("default")):
        record = registry.get(key)
        assert record is not None
        assert record["origin"] == "migrate:east"
    assert ("user", "bob") in {(c["kind"], c["id"]) for c in other["conflicts"]}
    assert {c["reason"] for c in other["conflicts"] if c["kind"] == "user"} == {"written by migrate from east"}


@pytest.mark.parametrize("flavour", [ONE_API, NEW_API])
def test_a_prune_that_would_remove_most_keys_is_held_until_allowed(
    flavour: str, make_gateway: Callable[[str, str, GatewayRows], Gateway], target: tuple[Registry, Cli]
) -> None:
    """GIVEN a migrated database of 60 keys WHEN 10 keys are deleted in the source (more than 10%, at least 10)
    THEN migrate --prune exits 2 saying it is held, writing nothing; 5 deleted keys (under 10) go through; and
    --allow-mass-removal lets the 10 through."""
    rows = gateways.bulk_rows(flavour, 60, NOW)
    gateway = make_gateway("sqlite", flavour, rows)
    registry, cli = target
    cli.ok("migrate", gateway.source)
    gateway.execute("DELETE FROM tokens WHERE id <= 10")
    before = snapshot(registry.client, registry.table)

    held = cli("migrate", gateway.source, "--prune")

    assert held.code == 2
    assert held.err.startswith("error: held: this would remove or disable 10 of the 60 keys this source wrote (17%)")
    assert snapshot(registry.client, registry.table) == before
    allowed = cli.json("migrate", gateway.source, "--prune", "--allow-mass-removal")
    assert allowed["summary"]["tokens"] == {"add": 0, "change": 0, "remove": 10}
    gateway.execute("DELETE FROM tokens WHERE id <= 15")
    assert cli.json("migrate", gateway.source, "--prune")["summary"]["tokens"]["remove"] == 5
