"""YAML aliases are bounded wherever YAML is read (infra/safe_yaml.py): seed files for `apply` and `serve --seed`,
catalog files for `models import`. A "billion laughs" of a few hundred bytes is refused in one line, exit 2,
before anything walks it; the ordinary use of an anchor (one model list shared by two groups) still applies."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from infra.registry import Registry
from infra.safe_yaml import MAX_ALIAS_VALUES, UnsafeYaml, load_yaml
from tests.conftest import TABLE
from tests.support.cli import Cli, snapshot

LEVELS = "abcdefghi"


def laughs(section: str) -> str:
    """Nine levels of nine aliases each: 9**9 (387 million) values from 400 bytes, hung on one field."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"{name}: &{name} [{','.join([f'*{prev}'] * 9)}]" for prev, name in itertools.pairwise(LEVELS)]
    lines.append(f"{section}: [{{id: gpt-4o, owned_by: openai, description: *i}}]")
    return "\n".join(lines) + "\n"


def merges(copies: int) -> str:
    """A mapping of 1,000 keys merged (`<<: *big`) into `copies` others: PyYAML copies its pairs each time."""
    big = ", ".join(f"k{n}: {n}" for n in range(1_000))
    return "\n".join([f"big: &big {{{big}}}", *(f"m{n}: {{<<: *big, own: {n}}}" for n in range(copies)), ""])


SELF = "models: &m [{id: gpt-4o, owned_by: openai, description: *m}]\n"


@pytest.fixture
def cli(seeded: Registry, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys, ["--table", TABLE])


def _refused(cli: Cli, registry: Registry, *argv: str) -> str:
    before = snapshot(registry.client, registry.table)
    run = cli(*argv)
    assert run.code == 2, run.out + run.err
    assert run.out == ""
    assert run.err.count("\n") == 1  # one line
    assert snapshot(registry.client, registry.table) == before
    return run.err


@pytest.mark.parametrize("command", [("apply", "--dry-run"), ("apply",), ("models", "import")])
def test_a_billion_laughs_is_refused_in_one_line(
    cli: Cli, seeded: Registry, tmp_path: Path, command: tuple[str, ...]
) -> None:
    """GIVEN a seed (or catalog) file of nested aliases WHEN applied, dry-run or imported
    THEN exit 2 with one line naming the file and the bound; nothing written."""
    path = tmp_path / "laughs.yaml"
    path.write_text(laughs("models"))
    err = _refused(cli, seeded, *command, str(path))
    assert err == (
        f"error: {path}: its YAML aliases expand to more than {MAX_ALIAS_VALUES:,} extra values; "
        "write the values out instead\n"
    )


def test_merge_keys_count_what_they_copy(cli: Cli, seeded: Registry, tmp_path: Path) -> None:
    """GIVEN a 1,000-key mapping merged into 11 others (11,000 copied pairs) WHEN applied THEN the same one-line
    refusal: a merge is the one expansion PyYAML does itself, while loading. Merged into 10, it loads."""
    path = tmp_path / "merges.yaml"
    path.write_text(merges(11))
    assert "its YAML aliases expand to more than" in _refused(cli, seeded, "apply", "--dry-run", str(path))
    assert len(load_yaml(merges(10))["m9"]) == 1_001


def test_an_alias_inside_itself_is_refused(cli: Cli, seeded: Registry, tmp_path: Path) -> None:
    """GIVEN a list that contains itself through an alias WHEN applied THEN refused in one line, never a
    RecursionError."""
    path = tmp_path / "self.yaml"
    path.write_text(SELF)
    err = _refused(cli, seeded, "apply", "--dry-run", str(path))
    assert err == f"error: {path}: a YAML alias refers to a list or mapping that contains it\n"


def test_a_shared_model_list_still_applies(cli: Cli, seeded: Registry, tmp_path: Path) -> None:
    """GIVEN a seed whose two groups share one model list through an anchor WHEN applied THEN both groups hold it."""
    path = tmp_path / "anchors.yaml"
    path.write_text(
        "models: [{id: m1, owned_by: o}, {id: m2, owned_by: o}]\n"
        "groups: {default: &both [m1, m2], vip: *both}\n"
        "users: [{id: u1, group: vip}]\n"
    )
    data = cli.json("apply", "--dry-run", str(path))
    assert data["dry_run"] is True
    assert load_yaml(path.read_text())["groups"] == {"default": ["m1", "m2"], "vip": ["m1", "m2"]}


def test_the_bound_counts_expansion_not_size() -> None:
    """GIVEN a document just under the bound in extra values, and one just over WHEN loaded
    THEN the first loads, the second is refused: what is counted is what aliases add."""
    items = ",".join(["1"] * (MAX_ALIAS_VALUES // 10 - 1))  # with its list: a tenth of the bound
    under = f"x: &x [{items}]\ny: [{','.join(['*x'] * 10)}]\n"  # ten copies: exactly the bound
    over = f"x: &x [{items}]\ny: [{','.join(['*x'] * 11)}]\n"
    assert len(load_yaml(under)["y"]) == 10
    with pytest.raises(UnsafeYaml):
        load_yaml(over)
