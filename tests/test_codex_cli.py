"""The real Codex CLI (npm @openai/codex 0.171.0, installed by infra/test-tools.sh) against modelgate: `codex debug
models` prints the catalog Codex loaded, offline. It lists exactly each key's models, shows none for a bad key,
lists back Codex's own catalog once imported, and refuses exactly the values modelgate's checks refuse.

Codex's own catalog (its instructions) is only ever written to a temporary directory, never to the repository.
"""

from __future__ import annotations

import http.server
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from handler.core import codex
from handler.web.dialects import codex as dialect
from tests.conftest import settings_for
from tests.hardening.wire import send
from tests.support import codex as fixtures
from tests.support.codex_world import (
    BAD_ENTRIES,
    BAD_KEY,
    EXPECTED,
    GOOD_ENTRIES,
    GPT,
    KEY,
    LIMITED,
    LISTED,
    MINI,
    PLAIN,
    codex_request,
    codex_table,
    debug_models,
    instructions_sent,
    patched,
)
from tests.support.server import LocalServer, fresh_table, serve
from tests.test_cli_support import Cli


@pytest.fixture(scope="module")
def server(moto_endpoint: str) -> Iterator[LocalServer]:
    table = codex_table(moto_endpoint)
    with serve(settings_for(table_name=table, dynamodb_endpoint_url=moto_endpoint)) as running:
        yield running


# -- the real Codex CLI (npm @openai/codex 0.171.0) ------------------------------------------------------------------


@pytest.mark.parametrize("key", [KEY, LIMITED, PLAIN], ids=["full", "limited", "plain"])
def test_codex_lists_exactly_the_keys_models(server: LocalServer, tmp_path: Path, key: str) -> None:
    """GIVEN Codex's provider pointed at the server (`model_catalog_url = "<base>/v1/models"`) WHEN `codex debug
    models` runs THEN exactly the key's models, in its order, with the names, instructions and context windows
    served: Codex read every entry (one it could not read would have emptied its catalog)."""
    models = debug_models(tmp_path / "codex", server.base_url, key)

    assert [m["slug"] for m in models] == LISTED[key]
    fields = ("display_name", "description", "priority", "truncation_policy", "context_window")
    assert [{f: m.get(f) for f in fields} for m in models] == [{f: e.get(f) for f in fields} for e in EXPECTED[key]]
    # Codex prints the instructions it will send: model_messages' template where there is one
    assert [m["base_instructions"] for m in models] == [instructions_sent(e) for e in EXPECTED[key]]


def test_codex_with_a_bad_key_is_refused_and_shows_no_catalog(
    server: LocalServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """GIVEN a key that is not valid WHEN `codex debug models` runs THEN Codex shows no model, and every catalog
    request the server saw was answered 401."""
    with caplog.at_level(logging.INFO, logger="modelgate.request"):
        models = debug_models(tmp_path / "codex", server.base_url, BAD_KEY)

    assert models == []
    statuses = [record.status for record in caplog.records if record.name == "modelgate.request"]  # type: ignore[attr-defined]
    assert statuses
    assert set(statuses) == {401}


def test_codexs_own_catalog_imported_is_what_codex_then_lists(
    moto_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN Codex's own bundled catalog as `codex debug models` prints it (written to a temporary file, never to
    the repository), imported with `modelgate models import`, and a group of its models after one it lacks
    WHEN Codex lists through the server THEN every model, each of Codex's with its own instructions, the other with
    the first one's; the answer keeps within the budget."""
    bundled = debug_models(tmp_path / "bundled", None, "")
    dump = tmp_path / "codex-models.json"
    dump.write_text(json.dumps({"models": bundled}))
    seed = {
        "models": [{"id": "qwen-coder", "display_name": "Qwen Coder", "max_input_tokens": 131072}],
        "groups": {"coders": ["qwen-coder"]},
        "users": [{"id": "cody", "group": "coders"}],
        "tokens": [{"key": KEY, "user": "cody"}],
    }
    table_name, _ = fresh_table(moto_endpoint, seed)
    cli = Cli(capsys, ["--table", table_name, "--endpoint-url", moto_endpoint])
    slugs = [m["slug"] for m in bundled]
    assert cli.json("models", "import", str(dump))["models"]["added"] == len(slugs)
    cli.ok("group", "set", "coders", "qwen-coder", *slugs)

    with serve(settings_for(table_name=table_name, dynamodb_endpoint_url=moto_endpoint)) as running:
        served = send("http", codex_request(KEY), entry=None, base_url=running.base_url)
        models = debug_models(tmp_path / "codex", running.base_url, KEY)

    assert len(served.body) <= dialect.CATALOG_BUDGET
    assert [m["slug"] for m in models] == ["qwen-coder", *slugs]
    instructions = {m["slug"]: m["base_instructions"] for m in bundled}
    assert models[0]["base_instructions"] == bundled[0]["base_instructions"]
    assert models[0]["context_window"] == 131072
    assert {m["slug"]: m["base_instructions"] for m in models[1:]} == instructions


@pytest.fixture(scope="module")
def verbatim() -> Iterator[tuple[str, list[bytes]]]:
    """An HTTP server answering every GET with the last bytes put in its box: to show Codex entries modelgate
    itself would never serve."""
    box: list[bytes] = [b'{"models":[]}']

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's name
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(box[-1])))
            self.end_headers()
            self.wfile.write(box[-1])

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", box
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.mark.parametrize("case", BAD_ENTRIES, ids=[name for name, _, _ in BAD_ENTRIES])
def test_each_value_the_checks_refuse_is_one_codex_refuses(
    verbatim: tuple[str, list[bytes]], tmp_path: Path, case: tuple[str, dict[str, Any], str]
) -> None:
    """GIVEN a catalog of two entries, the second with a value our checks refuse, shown to the real Codex as is
    WHEN `codex debug models` runs THEN Codex loaded no model at all; and the same catalog with the second entry
    as it was is loaded whole: the checks refuse what Codex refuses."""
    base_url, box = verbatim
    _, patch, _ = case
    bad = patched(MINI, patch)
    with pytest.raises(codex.InvalidEntry):
        codex.check_entry(bad)

    box.append(json.dumps(fixtures.catalog(GPT, MINI)).encode())
    assert [m["slug"] for m in debug_models(tmp_path / "good", base_url, KEY)] == ["gpt-5.5", "gpt-5.5-mini"]
    box.append(json.dumps(fixtures.catalog(GPT, bad)).encode())
    assert debug_models(tmp_path / "bad", base_url, KEY) == []


@pytest.mark.parametrize("case", GOOD_ENTRIES, ids=[name for name, _ in GOOD_ENTRIES])
def test_each_value_the_checks_let_through_is_one_codex_reads(
    verbatim: tuple[str, list[bytes]], tmp_path: Path, case: tuple[str, dict[str, Any]]
) -> None:
    """GIVEN an entry with a value that looks odd but Codex 0.171 reads WHEN checked and shown to the real Codex
    THEN the checks pass it, and Codex loads the whole catalog."""
    base_url, box = verbatim
    good = patched(MINI, case[1])
    codex.check_entry(good)

    box.append(json.dumps(fixtures.catalog(GPT, good)).encode())
    assert [m["slug"] for m in debug_models(tmp_path / "codex", base_url, KEY)] == ["gpt-5.5", "gpt-5.5-mini"]
