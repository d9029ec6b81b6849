"""The operator's CLI against moto's server and DynamoDB Local, checked through the running service with the SDK.

Every test starts from an empty table (what `sam deploy` leaves), changes it only with `modelgate ...`, and looks
at the effect the way clients do: the OpenAI SDK against the service over HTTP, which re-reads the table's change
marker every 0.3 s here.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from handler.settings import Settings
from infra.table import create_table
from tests.support import world
from tests.support.cli import DUMP_004, Cli, dump_004
from tests.support.server import LocalServer, http_dynamodb, serve

TTL = 0.3  # the service's REVALIDATE_SECONDS
ENGINES = [
    pytest.param("moto_endpoint", id="moto"),
    pytest.param("dynamodb_local_endpoint", id="dynamodb-local", marks=pytest.mark.dynamodb_local),
]


def after_ttl() -> None:
    """Long enough for the service to read the change marker again, and so to drop what a write made stale."""
    time.sleep(TTL * 1.5)


@pytest.fixture(params=ENGINES)
def endpoint(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(request.param)
    return url


@pytest.fixture
def table(endpoint: str) -> str:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    create_table(http_dynamodb(endpoint), name)
    return name


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], endpoint: str, table: str) -> Cli:
    return Cli(capsys, ["--endpoint-url", endpoint, "--table", table])


@pytest.fixture
def service(endpoint: str, table: str) -> Iterator[LocalServer]:
    settings = Settings(
        table_name=table,
        dynamodb_endpoint_url=endpoint,
        revalidate_seconds=TTL,
        # A slow read must not be answered from the stale cache here: these tests are about revalidation alone.
        stale_if_error_seconds=0,
        session_secret=world.SESSION_SECRET,
    )
    with serve(settings) as server:
        yield server


def sdk(server: LocalServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=f"{server.base_url}/v1", max_retries=2)  # a 503 when moto lags


def listed(client: openai.OpenAI) -> list[str]:
    return [model.id for model in client.models.list()]


def test_issue_scenario_import_group_user_limited_key_then_disable(cli: Cli, service: LocalServer) -> None:
    # GIVEN the seed-004 dump imported, group `pro` with three of its models, a user in it, a key limited to two
    cli.ok("models", "import", str(DUMP_004))
    cli.ok("group", "set", "pro", "davinci", "whisper-1", "cushman:2020-05-03")
    cli.ok("user", "create", "ana", "--group", "pro")
    created = cli.json("key", "create", "--user", "ana", "--name", "ci", "--models", "cushman:2020-05-03,davinci")
    client = sdk(service, created["key"])

    # WHEN the SDK lists the key's models
    page = client.models.list()

    # THEN exactly those two, in the key's order, each exactly as the dump has it (created, permission, ...)
    dump = {model["id"]: model for model in dump_004()}
    assert [model.id for model in page.data] == ["cushman:2020-05-03", "davinci"]
    for model in page.data:
        assert model.model_dump(exclude_unset=True) == dump[model.id]
    assert page.data[1].created == 1649359874
    assert page.data[1].model_dump()["permission"][0]["id"] == "modelperm-U6ZwlyAd0LyMk4rcMdz33Yc3"

    # WHEN the operator disables the key, and the service revalidates
    cli.ok("key", "disable", created["id"])
    after_ttl()

    # THEN the SDK is refused with AuthenticationError, and the message masks the key
    with pytest.raises(openai.AuthenticationError) as refused:
        client.models.list()
    assert refused.value.status_code == 401
    assert refused.value.code == "invalid_api_key"
    assert created["key"] not in refused.value.message
    assert f"{created['key'][:5]}****{created['key'][-4:]}" in refused.value.message


def test_every_change_reaches_the_running_service_within_the_ttl(
    cli: Cli, service: LocalServer, tmp_path: Path
) -> None:
    # GIVEN a catalog, two groups, a user in `pro` and a key with no model limit, listing pro's models
    cli.ok("models", "import", str(DUMP_004))
    cli.ok("group", "set", "pro", "davinci", "babbage")
    cli.ok("group", "set", "basic", "ada")
    cli.ok("user", "create", "ana", "--group", "pro")
    created = cli.json("key", "create", "--user", "ana")
    client = sdk(service, created["key"])
    assert listed(client) == ["davinci", "babbage"]

    # WHEN each change is made with the CLI THEN, once the service has revalidated, the SDK sees it
    steps: list[tuple[tuple[str, ...], list[str]]] = [
        (("group", "add", "pro", "whisper-1"), ["davinci", "babbage", "whisper-1"]),
        (("models", "disable", "babbage"), ["davinci", "whisper-1"]),
        (("models", "enable", "babbage"), ["davinci", "babbage", "whisper-1"]),
        (("group", "remove", "pro", "davinci"), ["babbage", "whisper-1"]),
        (("models", "delete", "whisper-1"), ["babbage"]),
        (("group", "set", "pro", "curie", "babbage"), ["curie", "babbage"]),
        (("user", "set-group", "ana", "basic"), ["ada"]),
    ]
    for argv, expected in steps:
        cli.ok(*argv)
        after_ttl()
        assert listed(client) == expected, argv

    # WHEN a re-import changes a catalog model that a group names THEN the service shows the new fields
    changed = json.loads(DUMP_004.read_text())
    for model in changed["data"]:
        if model["id"] == "ada":
            model["owned_by"] = "acme"
    (tmp_path / "changed.json").write_text(json.dumps(changed))
    assert cli.json("models", "import", str(tmp_path / "changed.json"))["groups_rebuilt"] == ["basic"]
    after_ttl()
    assert client.models.retrieve("ada").owned_by == "acme"

    # WHEN the user is disabled THEN their key is refused; enabled again, it works again
    cli.ok("user", "disable", "ana")
    after_ttl()
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
    cli.ok("user", "enable", "ana")
    after_ttl()
    assert listed(client) == ["ada"]

    # WHEN the key is deleted THEN it is refused
    cli.ok("key", "delete", created["id"])
    after_ttl()
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_session_created_and_revoked_with_the_cli(
    cli: Cli, service: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a user in group pro, a default group for anonymous callers, and the service's session secret
    monkeypatch.setenv("SESSION_SECRET", world.SESSION_SECRET)
    cli.ok("models", "import", str(DUMP_004))
    cli.ok("group", "set", "pro", "davinci", "ada")
    cli.ok("group", "set", "default", "babbage")
    cli.ok("user", "create", "ana", "--group", "pro")

    # WHEN the operator creates a session THEN its cookie (NAME=VALUE, last stdout line) logs the caller in
    cookie = cli.ok("session", "create", "--user", "ana", "--ttl", "1h").splitlines()[-1]
    name, _, value = cookie.partition("=")
    response = httpx.get(f"{service.base_url}/v1/models", cookies={name: value})
    assert [m["id"] for m in response.json()["data"]] == ["davinci", "ada"]

    # WHEN the operator revokes the user's sessions THEN, once the service revalidated, the cookie is anonymous
    cli.ok("session", "revoke", "--user", "ana")
    after_ttl()
    response = httpx.get(f"{service.base_url}/v1/models", cookies={name: value})
    assert [m["id"] for m in response.json()["data"]] == ["babbage"]
