"""Claude Code's model discovery against modelgate: its request replayed exactly, through the Lambda handler (HTTP
API v2 and REST v1 events) and uvicorn; then Claude Code itself (npm @anthropic-ai/claude-code), for real.

With CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY=1, Claude Code sends `GET /v1/models?limit=1000` with
`anthropic-version: 2023-06-01` and its key as Bearer (ANTHROPIC_AUTH_TOKEN) or x-api-key (ANTHROPIC_API_KEY),
keeps the ids that start with `claude` or `anthropic`, labels them `display_name || id`, and caches them in
~/.claude/cache/gateway-models.json. It treats a redirect as a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from mangum import Mangum
from starlette.types import ASGIApp, Receive, Scope, Send

from handler.settings import Settings
from handler.web.app import create_app
from handler.wiring import build_service
from tests.conftest import settings_for
from tests.hardening.wire import TRANSPORTS, Request, send
from tests.support import expected, world
from tests.support.server import LocalServer, serve

DISCOVERED = re.compile(r"^(claude|anthropic)")
# What Claude Code keeps from the claude key's list: the matching ids, in the list's order, with their labels.
CACHED = [
    {"id": model_id, "display_name": expected.anthropic_model(model_id)["display_name"]}
    for model_id in world.CLAUDE_IDS
    if DISCOVERED.match(model_id)
]
CREDENTIALS = {
    "bearer": ("Authorization", f"Bearer {world.CLAUDE_KEY}"),
    "x-api-key": ("x-api-key", world.CLAUDE_KEY),
}


@pytest.fixture(scope="module")
def server(dialect_server: LocalServer) -> LocalServer:
    return dialect_server


@pytest.fixture(scope="module")
def entry(moto_endpoint: str, dialect_table: str) -> Any:
    return Mangum(
        create_app(build_service(settings_for(table_name=dialect_table, dynamodb_endpoint_url=moto_endpoint)))
    )


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("credential", sorted(CREDENTIALS))
def test_the_discovery_request_replayed_gets_the_keys_models_with_display_names(
    entry: Any, server: LocalServer, transport: str, credential: str
) -> None:
    """GIVEN the claude key WHEN Claude Code's discovery request is replayed exactly
    THEN a 200 (no redirect) whose data[].id and data[].display_name give what Claude Code caches."""
    request = Request(
        path="/v1/models",
        query="limit=1000",
        headers=(("anthropic-version", "2023-06-01"), CREDENTIALS[credential], ("accept", "application/json")),
    )
    reply = send(transport, request, entry=entry, base_url=server.base_url)
    assert reply.status == 200
    body = reply.json()
    assert body == expected.anthropic_page(world.CLAUDE_IDS, has_more=False)
    kept = [
        {"id": model["id"], "display_name": model["display_name"] or model["id"]}
        for model in body["data"]
        if DISCOVERED.match(model["id"])
    ]
    assert kept == CACHED


def claude_code() -> str:
    found = os.environ.get("MODELGATE_CLAUDE_CODE") or shutil.which("claude")
    if found:
        return found
    pytest.skip("Claude Code not installed (npm @anthropic-ai/claude-code; ./infra/dev test installs it)")


def discovered(server: LocalServer, home: Path, variable: str, key: str) -> dict[str, Any]:
    """Run real Claude Code against `server` with a fresh HOME and discovery on (`claude -p`: it discovers, then
    fails fast, there is no model to talk to and no network); what it wrote to ~/.claude/cache/gateway-models.json."""
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": server.base_url,
        variable: key,
        "CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY": "1",
    }
    work = home / "work"
    work.mkdir()
    subprocess.run(
        [claude_code(), "-p", "hi", "--max-turns", "1"],
        env=environment,
        cwd=work,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=90,
        check=False,
    )
    cache = home / ".claude" / "cache" / "gateway-models.json"
    assert cache.is_file(), "Claude Code wrote no gateway-models.json"
    written: dict[str, Any] = json.loads(cache.read_text())
    return written


@pytest.mark.parametrize(
    ("variable", "key"),
    [("ANTHROPIC_API_KEY", world.CLAUDE_KEY), ("ANTHROPIC_AUTH_TOKEN", world.CLAUDE_KEY)],
    ids=["x-api-key", "bearer"],
)
def test_claude_code_discovers_the_keys_claude_models(
    server: LocalServer, tmp_path: Path, variable: str, key: str
) -> None:
    """GIVEN Claude Code pointed at the server (ANTHROPIC_BASE_URL), a fresh HOME, discovery on
    WHEN `claude -p` runs (it discovers, then fails fast: there is no model to talk to and no network)
    THEN ~/.claude/cache/gateway-models.json holds exactly the key's claude*/anthropic* models and labels."""
    cached = discovered(server, tmp_path, variable, key)
    assert cached["baseUrl"] == server.base_url
    assert cached["models"] == CACHED


# -- with OPENAI_LIST_METADATA on (issue 18.4) --------------------------------------------------------------------


def discover(server: LocalServer, tmp_path: Path) -> list[dict[str, Any]]:
    """What real Claude Code caches from `server` (x-api-key), as the test above runs it."""
    models: list[dict[str, Any]] = discovered(server, tmp_path, "ANTHROPIC_API_KEY", world.CLAUDE_KEY)["models"]
    return models


def without_anthropic_version(app: ASGIApp) -> ASGIApp:
    """A front that drops `anthropic-version`, so the OpenAI dialect answers Claude Code's request."""

    async def front(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k != b"anthropic-version"]}
        await app(scope, receive, send)

    return front


@pytest.fixture(scope="module")
def described_settings(moto_endpoint: str, dialect_table: str) -> Settings:
    return settings_for(table_name=dialect_table, dynamodb_endpoint_url=moto_endpoint, openai_list_metadata=True)


def test_with_list_metadata_claude_code_labels_as_before(described_settings: Settings, tmp_path: Path) -> None:
    """GIVEN OPENAI_LIST_METADATA on WHEN Claude Code discovers (it always sends anthropic-version, so the Anthropic
    dialect answers) THEN the same ids and display-name labels as with it off."""
    with serve(described_settings) as server:
        assert discover(server, tmp_path) == CACHED


def test_claude_code_reads_display_name_from_the_openai_list(described_settings: Settings, tmp_path: Path) -> None:
    """GIVEN OPENAI_LIST_METADATA on and a front that makes the OpenAI dialect answer Claude Code WHEN it discovers
    THEN it takes each label from the OpenAI objects' display_name, as from the Anthropic list: the installed
    Claude Code (2.1.197) reads `{"data":[{"id","display_name"?}]}` and ignores the other fields."""
    with serve(described_settings, wrap=without_anthropic_version) as server:
        asked = Request(path="/v1/models", headers=(CREDENTIALS["x-api-key"], ("anthropic-version", "2023-06-01")))
        reply = send("http", asked, entry=None, base_url=server.base_url)
        assert reply.json()["data"][0] == expected.openai_model(world.CLAUDE_IDS[0], described=True)
        cached = discover(server, tmp_path)
    # The picker's label is `display_name || id`: the same labels. A model without a display name carries none.
    assert [(model["id"], model.get("display_name") or model["id"]) for model in cached] == [
        (model["id"], model["display_name"]) for model in CACHED
    ]
    assert [model for model in cached if "display_name" not in model] == [{"id": "claude-2.1"}]
