"""A key where an id goes: `modelgate key disable sk-...` is a natural mistake, and no command may print the key.

GIVEN the test world in moto's in-process DynamoDB and a real key (made by `keys.generate`, stored as its hash),
WHEN every command that takes an id is given the key in that position, THEN the key commands act on that key's
token, naming it by its public id, and every other command refuses, naming the key masked, never whole.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from typing import Any

import pytest

from handler.core import keys
from infra.cli.main import build_parser
from infra.registry import Registry
from tests.conftest import TABLE
from tests.support import world
from tests.support.cli import Cli, Run

# Where an id goes: positional ids and names, and the options that name a user, a group or models.
ID_DESTS = {"id", "name", "group", "user", "models"}
# What the other arguments get, so that the command reaches the position under test.
FILLERS = {"id": "alice", "name": "vip", "group": "vip", "user": "alice", "models": "gpt-4o"}
# `user create` needs a new user, so that the group is checked next; `models set` something to set.
OVERRIDES: dict[tuple[str, ...], dict[str, str]] = {("user", "create"): {"id": "dave"}}
EXTRA: dict[tuple[str, ...], list[str]] = {("models", "set"): ["--description", "pasted"]}
KEY_COMMANDS = {("key", "show"), ("key", "disable"), ("key", "enable"), ("key", "delete")}


@pytest.fixture
def cli(seeded: Registry, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys, ["--table", TABLE])


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _leaves(sub, (*path, name))
            return
    yield path, parser


def _argv(parser: argparse.ArgumentParser, path: tuple[str, ...], slot: str, key: str) -> list[str]:
    fillers = FILLERS | OVERRIDES.get(path, {})
    argv = list(path)
    for action in parser._actions:
        value = key if action.dest == slot else fillers.get(action.dest)
        if not action.option_strings:
            argv.append(value or "")
        elif action.dest == slot or action.required:
            argv += [action.option_strings[-1], value or ""]
    return argv + EXTRA.get(path, [])


def _cases() -> list[tuple[tuple[str, ...], str, list[str]]]:
    cases = []
    for path, parser in _leaves(build_parser()):
        for action in parser._actions:
            if action.dest in ID_DESTS and action.help != argparse.SUPPRESS:
                cases.append((path, action.dest, _argv(parser, path, action.dest, "{key}")))
    return cases


CASES = _cases()
FORMS = {"the key": lambda key: key, "one-api's bare form": lambda key: key.removeprefix(keys.PREFIX)}


def test_the_cases_cover_the_key_commands_and_the_other_ids() -> None:
    covered = {(path, slot) for path, slot, _ in CASES}
    assert {(path, "id") for path in KEY_COMMANDS} <= covered
    assert {(("user", "show"), "id"), (("group", "add"), "models"), (("key", "create"), "user")} <= covered
    assert (("key", "create"), "models") in covered
    assert (("session", "revoke"), "user") in covered


def _run(cli: Cli, argv: list[str]) -> Run:
    try:
        return cli(*argv)
    except SystemExit as exited:  # an argparse usage error: its message is on stderr
        out, err = cli.capsys.readouterr()
        return Run(int(exited.code or 0), out, err)


@pytest.mark.parametrize("form", FORMS, ids=list(FORMS))
@pytest.mark.parametrize("case", CASES, ids=[f"{' '.join(p)} {s}" for p, s, _ in CASES])
def test_a_key_given_where_an_id_goes_is_never_printed(
    seeded: Registry,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    case: tuple[tuple[str, ...], str, list[str]],
    form: str,
) -> None:
    path, _, argv = case
    # GIVEN a real key of bob's, stored as its hash, and the session secret (so `session create` gets to the user)
    monkeypatch.setenv("SESSION_SECRET", world.SESSION_SECRET)
    key = keys.generate()
    token_id = seeded.create_token(key, user_id="bob", name="pasted").token_id
    given = FORMS[form](key)
    cli = Cli(capsys, ["--table", TABLE])

    for mode in ((), ("--json",)):
        # WHEN the command runs with the key (as the service accepts it) in that position
        run = _run(cli, [a.replace("{key}", given) for a in argv] + list(mode))

        # THEN neither the key nor what was typed appears anywhere in its output
        for secret in {key, given, key.removeprefix(keys.PREFIX)}:
            assert secret not in run.out + run.err
        if path in KEY_COMMANDS:
            # AND a key command acts on that key's token, named by its public id
            assert run.code == 0, run.err
            assert token_id in run.out
            if mode:
                assert json.loads(run.out)["id"] == token_id
            if path == ("key", "delete"):
                assert token_id not in {t.token_id for t in seeded.tokens("bob")}
                break
        else:
            # AND any other command refuses, naming the key masked (so it got as far as that position)
            assert run.code == 2, run.err
            assert run.out == ""
            assert keys.mask(given) in run.err


def test_an_unknown_key_is_refused_masked_with_a_hint(cli: Cli) -> None:
    # GIVEN a key that is in no table WHEN `key disable` is given it THEN refused, masked, pointing at `key list`
    key = keys.generate()
    run = cli("key", "disable", key)
    assert (run.code, run.out) == (2, "")
    assert key not in run.err
    assert run.err == (
        f"error: unknown key {keys.mask(key)}: give its id (tok_...) from `modelgate key list`, or the key itself\n"
    )
