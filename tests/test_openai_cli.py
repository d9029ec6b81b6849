"""The `openai` command-line tool (openai 1.x: 2.x and later ship none), as the README tells users to run it
(issue 18.5).

openai 1.109 joins `-b` and the path without a separator: `-b http://host/v1` requests `GET /v1models`, which is
a 404. With a trailing slash (`-b http://host/v1/`), or the base URL in OPENAI_BASE_URL (the SDK adds the slash),
it requests `GET /v1/models`. The CLI lives in its own venv under .cache/ (built once, stamped).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import settings_for
from tests.support import expected, world
from tests.support.server import LocalServer, fresh_table, serve
from tests.support.venvs import pip_venv

OPENAI_CLI = "openai==1.109.1"
CALLER = "limited"


def openai_cli() -> Path:
    """The `openai` command of a venv holding openai 1.x (tests/support/venvs.py)."""
    return pip_venv("openai-cli-venv", OPENAI_CLI) / "bin" / "openai"


def run(*argv: str, environment: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(openai_cli()), *argv],
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **(environment or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def printed_models(output: str) -> list[dict[str, Any]]:
    """The CLI prints each model as a JSON object, one after another."""
    decoder, models, at = json.JSONDecoder(), [], 0
    while output[at:].strip():
        at += len(output[at:]) - len(output[at:].lstrip())
        model, at = decoder.raw_decode(output, at)
        models.append(model)
    return models


@pytest.fixture
def http_server(moto_endpoint: str) -> Iterator[LocalServer]:
    """The service over HTTP on a fresh seeded table on moto's server."""
    table, _ = fresh_table(moto_endpoint)
    with serve(settings_for(table_name=table, dynamodb_endpoint_url=moto_endpoint)) as server:
        yield server


def test_the_readme_command_lists_the_keys_models(http_server: LocalServer) -> None:
    """GIVEN a server and the limited key WHEN `openai -b <base>/v1/ -k KEY api models.list` (the README's line)
    THEN exit 0 and the key's models, each the documented object."""
    done = run("-b", f"{http_server.base_url}/v1/", "-k", expected.key_of(CALLER), "api", "models.list")
    assert done.returncode == 0, done.stderr
    assert printed_models(done.stdout) == [expected.model(i) for i in world.EXPECTED[CALLER]]


def test_the_base_url_from_the_environment_works_too(http_server: LocalServer) -> None:
    """GIVEN OPENAI_BASE_URL=<base>/v1 (no slash) and OPENAI_API_KEY WHEN `openai api models.list` THEN the list."""
    environment = {"OPENAI_BASE_URL": f"{http_server.base_url}/v1", "OPENAI_API_KEY": expected.key_of(CALLER)}
    done = run("api", "models.list", environment=environment)
    assert done.returncode == 0, done.stderr
    assert printed_models(done.stdout) == [expected.model(i) for i in world.EXPECTED[CALLER]]


def test_without_the_trailing_slash_the_cli_asks_for_v1models(http_server: LocalServer) -> None:
    """GIVEN `-b <base>/v1` without the slash WHEN listing THEN the CLI asks for /v1models and gets our 404
    (unknown_url): why the README's line ends in a slash."""
    done = run("-b", f"{http_server.base_url}/v1", "-k", expected.key_of(CALLER), "api", "models.list")
    assert done.returncode != 0
    assert "404" in done.stderr
    assert "unknown_url" in done.stderr
