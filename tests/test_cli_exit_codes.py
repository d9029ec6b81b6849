"""The README's exit-code table holds for every command: one line on stderr, the documented code, no traceback.

GIVEN each fault a new operator meets (a bad setting in the environment, an endpoint without its scheme, a table
that does not exist, nothing listening at the endpoint, a wrong option, a port already taken), WHEN every command
the parser knows (`serve` included) runs into it, THEN it exits with the code the README's table gives that fault,
with exactly one `error: ...` line on stderr and nothing on stdout.
"""

from __future__ import annotations

import argparse
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.cli.main import build_parser, main
from infra.local.embedded import free_port

README = Path(__file__).resolve().parent.parent / "README.md"


def _documented_codes() -> dict[int, str]:
    """The README's exit-code table: code -> the row's text."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Exit codes", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", section, flags=re.MULTILINE)
    return {int(code): row for code, row in rows}


CODES = _documented_codes()
UNREACHABLE, REFUSED, CONTENDED = 1, 2, 3


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every runnable command: (`key`, `create`) with its parser."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _leaves(sub, (*path, name))
            return
    yield path, parser


def _argv(path: tuple[str, ...], parser: argparse.ArgumentParser) -> list[str]:
    """The command with each required argument given (`x`: no file, user or id of that name exists)."""
    argv = list(path)
    for action in parser._actions:
        if not action.option_strings:
            argv.append("x")
        elif action.required:
            argv += [action.option_strings[-1], "x"]
    return argv


COMMANDS = {" ".join(path): _argv(path, parser) for path, parser in _leaves(build_parser())}
# The commands whose first step is a read of the table, so that an unreachable DynamoDB is what stops them.
# The commands refused before they read the table: `x` is no file, and `models set x` sets nothing.
REFUSED_BEFORE_THE_TABLE = {"apply", "migrate", "models import", "models set"}
READ_FIRST = ["key list", "key show", "key disable", "user list", "user delete", "group list", "models list", "export"]


@pytest.fixture(autouse=True)
def no_files_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`x`, as a file, does not exist; a SESSION_SECRET is set, so that `session create` goes on to the table."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SESSION_SECRET", "s" * 40)


def _one_error_line(capsys: pytest.CaptureFixture[str], argv: list[str], code: int) -> str:
    """Run `modelgate ARGV`; assert the exit code, nothing on stdout and one `error:` line. The line."""
    exited = main(argv)
    out, err = capsys.readouterr()
    assert (exited, out) == (code, ""), (argv, err)
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: "), err
    return err


def test_the_readme_documents_each_code_the_cli_uses() -> None:
    assert sorted(CODES) == [0, 1, 2, 3, 130, 141]
    assert "cannot be reached" in CODES[UNREACHABLE]
    assert "refused" in CODES[REFUSED]
    assert "other writers kept changing the table" in CODES[CONTENDED]


def test_the_commands_are_every_command() -> None:
    assert {"serve", "apply", "export", "migrate", "key create", "user delete", "session revoke"} <= set(COMMANDS)
    assert len(COMMANDS) > 30


SETTINGS = {
    "REVALIDATE_SECONDS=abc": "REVALIDATE_SECONDS must be a number",
    "ANONYMOUS_ACCESS=maybe": "ANONYMOUS_ACCESS must be true or false",
    "CACHE_TTL_SECONDS=30": "CACHE_TTL_SECONDS is gone",
}


@pytest.mark.parametrize("setting", sorted(SETTINGS))
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_bad_setting_in_the_environment_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str, setting: str
) -> None:
    assert "bad setting in the environment" in CODES[REFUSED]
    monkeypatch.setenv(*setting.split("=", 1))
    line = _one_error_line(capsys, COMMANDS[command], REFUSED)
    assert SETTINGS[setting] in line
    assert "fix it or unset it" in line


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_endpoint_without_its_scheme_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    assert "endpoint URL without its scheme" in CODES[REFUSED]
    line = _one_error_line(capsys, [*COMMANDS[command], "--endpoint-url", "127.0.0.1:8000"], REFUSED)
    assert line == (
        "error: endpoint '127.0.0.1:8000' (from --endpoint-url) is not a URL: give its scheme and host, "
        "e.g. http://127.0.0.1:8000\n"
    )


@pytest.mark.integration
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_table_missing_at_the_endpoint_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], moto_endpoint: str, command: str
) -> None:
    assert "a table that does not exist in that region and endpoint" in CODES[REFUSED]
    connection = ["--endpoint-url", moto_endpoint, "--table", "nowhere", "--region", "eu-west-1"]
    argv = [*COMMANDS[command], *connection] + (["--port", str(free_port())] if command == "serve" else [])
    line = _one_error_line(capsys, argv, REFUSED)
    if command not in REFUSED_BEFORE_THE_TABLE:
        assert line.startswith(
            f"error: table 'nowhere' (from --table) in region eu-west-1 (from --region) at {moto_endpoint} "
            "(from --endpoint-url) does not exist: check that the region and endpoint are the service's"
        )


@pytest.mark.parametrize("command", [*READ_FIRST, "serve"])
def test_nothing_listening_at_the_endpoint_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    stale = f"http://127.0.0.1:{free_port()}"
    argv = [*COMMANDS[command], "--endpoint-url", stale] + (["--port", str(free_port())] if command == "serve" else [])
    line = _one_error_line(capsys, argv, UNREACHABLE)
    assert line.startswith("error: cannot reach DynamoDB for table 'modelgate' ")
    assert f"in region us-east-1 (from AWS_REGION) at {stale} (from --endpoint-url)" in line


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_wrong_option_shows_that_commands_usage_and_exits_2(capsys: pytest.CaptureFixture[str], command: str) -> None:
    assert "a wrong option or argument" in CODES[REFUSED]
    with pytest.raises(SystemExit) as exited:
        main([*COMMANDS[command], "--bogus"])
    out, err = capsys.readouterr()
    assert (exited.value.code, out) == (REFUSED, "")
    assert "Traceback" not in err
    assert err.startswith(f"usage: modelgate {command} "), err
    assert err.splitlines()[-1] == f"modelgate {command}: error: unrecognized arguments: --bogus"


def test_serve_on_a_port_already_taken_prints_no_banner_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert "`serve` on a port already taken" in CODES[REFUSED]
    # GIVEN something listening on a loopback port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # WHEN serve is asked to listen there THEN one line naming the address, before any banner or demo key
        line = _one_error_line(capsys, ["serve", "--port", str(port)], REFUSED)
    assert line == (
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use; another server (another modelgate "
        "serve?) listens there: pick another --port or --host\n"
    )


def test_key_create_refuses_an_empty_model_list_with_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN `--models ""`, which one-api would read as no limit THEN refused before the table is read, with the way
    argv = ["key", "create", "--user", "alice", "--models", "", "--endpoint-url", f"http://127.0.0.1:{free_port()}"]
    line = _one_error_line(capsys, argv, REFUSED)
    assert line == (
        "error: --models '' names no model, which one-api reads as no limit: omit --models for every model of the "
        "group, or pass --no-models for a key that lists none\n"
    )
