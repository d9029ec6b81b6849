"""Codex CLI's model catalog (issue 18.1): `GET /v1/models?client_version=...` answers `{"models":[ModelInfo...]}`.

Codex's request is replayed exactly (Bearer, `originator: codex_cli_rs`, `accept-encoding: zstd,gzip`) through the
Lambda handler on real API Gateway events and over HTTP, against a table written by the operator's Registry. The
real Codex CLI reads the same server in tests/test_codex_cli.py.
"""

from __future__ import annotations

import http.server
import json
import logging
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mangum import Mangum
from starlette.datastructures import QueryParams

from handler.core import codex
from handler.core.listing import Listing
from handler.core.records import Member
from handler.web.app import MODEL_ROUTES, create_app
from handler.web.dialects import codex as dialect
from handler.wiring import build_service
from infra.registry import Registry
from tests.conftest import TABLE, settings_for
from tests.hardening.wire import TRANSPORTS, Request, send
from tests.support import codex as fixtures
from tests.support.server import LocalServer, fresh_table, serve
from tests.support.stack import Stack
from tests.test_cli_support import Cli, snapshot

CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
KEY = "sk-test-codex-full-00000000000000000000000000000000000000000"
LIMITED = "sk-test-codex-limited-000000000000000000000000000000000000"
PLAIN = "sk-test-codex-plain-0000000000000000000000000000000000000000"
BAD_KEY = "sk-test-codex-full-00000000000000000000000000000000000000001"
GPT = fixtures.entry("gpt-5.5", priority=3, size=500)
MINI = fixtures.entry("gpt-5.5-mini", priority=7, upgrade={"model": "gpt-6", "migration_markdown": "Try GPT-6"})
DEEPSEEK = {"display_name": "DeepSeek Chat", "description": "DeepSeek's chat model", "max_input_tokens": 128000}
# The ids Codex must list for each key, in the key's order: never `off` (disabled), never `other-only`.
GROUP = ["deepseek-chat", "gpt-5.5", "gpt-5.5-mini", "legacy", "my-custom", "off"]
LISTED = {
    KEY: ["deepseek-chat", "gpt-5.5", "gpt-5.5-mini", "legacy", "my-custom"],
    LIMITED: ["my-custom", "gpt-5.5"],
    PLAIN: ["deepseek-chat", "my-custom"],
}


def document() -> dict[str, Any]:
    return {
        "models": [
            {"id": "gpt-5.5", "owned_by": "openai", "display_name": "GPT-5.5", "codex": GPT},
            {"id": "gpt-5.5-mini", "owned_by": "openai", "codex": MINI},
            {"id": "deepseek-chat", "owned_by": "deepseek", **DEEPSEEK},
            {"id": "legacy", "owned_by": "openai", "display_name": "Legacy", "max_input_tokens": 8192},
            {"id": "off", "status": "disabled", "codex": fixtures.entry("off")},
            {"id": "other-only", "codex": fixtures.entry("other-only")},
        ],
        "groups": {"codex": GROUP, "plain": ["deepseek-chat", "my-custom"], "other": ["other-only"]},
        "users": [{"id": "cody", "group": "codex"}, {"id": "pat", "group": "plain"}],
        "tokens": [
            {"key": KEY, "user": "cody", "name": "codex"},
            {"key": LIMITED, "user": "cody", "name": "codex-limited", "models": ["my-custom", "gpt-5.5", "off"]},
            {"key": PLAIN, "user": "pat", "name": "plain"},
        ],
    }


BROKEN = fixtures.entry("legacy", priority="high")  # stored before entries were checked: Codex would drop the catalog


@pytest.fixture(scope="module")
def table(moto_endpoint: str) -> str:
    """GIVEN the Codex world applied, then `legacy` given a Codex entry Codex would refuse, written as an older
    modelgate could (the registry writes what it is given), and the views rebuilt."""
    name, registry = fresh_table(moto_endpoint, document())
    legacy = registry.catalog_entries(["legacy"])["legacy"]
    registry.put_models([{**legacy, "codex": BROKEN}])
    registry.rebuild_views(["legacy"])
    return name


@pytest.fixture(scope="module")
def entry(moto_endpoint: str, table: str) -> Any:
    return Mangum(create_app(build_service(settings_for(table_name=table, dynamodb_endpoint_url=moto_endpoint))))


@pytest.fixture(scope="module")
def server(moto_endpoint: str, table: str) -> Iterator[LocalServer]:
    with serve(settings_for(table_name=table, dynamodb_endpoint_url=moto_endpoint)) as running:
        yield running


def codex_request(key: str, path: str = "/v1/models", **extra: Any) -> Request:
    """What Codex 0.171 sends for `model_catalog_url = "<base>/v1/models"`, header for header."""
    headers = (
        ("authorization", f"Bearer {key}"),
        ("originator", "codex_cli_rs"),
        ("user-agent", "codex_cli_rs/0.171.0 (Debian 12.0.0; x86_64) xterm"),
        ("accept", "*/*"),
        ("accept-encoding", "zstd,gzip"),
        *extra.pop("headers", ()),
    )
    return Request(path=path, query=extra.pop("query", "client_version=0.171.0"), headers=headers, **extra)


def built(model_id: str, priority: int, donor: dict[str, Any] | None, **metadata: Any) -> dict[str, Any]:
    """What a model without a usable stored entry is served: its metadata, the donor's instructions and tools."""
    served = {
        "slug": model_id,
        "display_name": metadata.get("display_name", model_id),
        "description": metadata.get("description"),
        "supported_reasoning_levels": [],
        "shell_type": donor["shell_type"] if donor else "default",
        "visibility": "list",
        "supported_in_api": True,
        "priority": priority,
        "upgrade": None,
        "base_instructions": donor["base_instructions"] if donor else codex.NEUTRAL_INSTRUCTIONS,
        "support_verbosity": False,
        "default_verbosity": None,
        "apply_patch_tool_type": donor["apply_patch_tool_type"] if donor else None,
        "truncation_policy": donor["truncation_policy"] if donor else {"mode": "bytes", "limit": 10000},
        "experimental_supported_tools": [],
    }
    if donor is not None:
        served["model_messages"] = donor["model_messages"]
    if "max_input_tokens" in metadata:
        served["context_window"] = metadata["max_input_tokens"]
    return served


EXPECTED = {
    KEY: [
        built("deepseek-chat", 1, GPT, **DEEPSEEK),
        GPT,
        {**MINI, "upgrade": None},  # gpt-6 is not this caller's: Codex is never pointed at it
        built("legacy", 4, GPT, display_name="Legacy", max_input_tokens=8192),  # its broken entry is never served
        built("my-custom", 5, GPT),
    ],
    LIMITED: [built("my-custom", 1, GPT), GPT],
    PLAIN: [built("deepseek-chat", 1, None, **DEEPSEEK), built("my-custom", 2, None)],
}


# -- Codex's request, replayed -------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("key", [KEY, LIMITED, PLAIN], ids=["full", "limited", "plain"])
def test_codexs_request_gets_exactly_the_keys_models_as_codex_entries(
    entry: Any, server: LocalServer, transport: str, key: str
) -> None:
    """GIVEN a key WHEN Codex's catalog request is replayed THEN 200, `{"models":[...]}` holding exactly the key's
    models in its order: a stored entry as stored (under the model's id), any other built from the catalog's
    metadata with the first stored entry's instructions, or the neutral line when the key has none."""
    reply = send(transport, codex_request(key), entry=entry, base_url=server.base_url)

    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert list(body) == ["models"]
    assert [m["slug"] for m in body["models"]] == LISTED[key]
    assert body["models"] == EXPECTED[key]
    for served in body["models"]:
        codex.check_entry(served)  # every entry as Codex would read it


def test_the_answer_is_gzipped_for_codexs_accept_encoding(entry: Any, server: LocalServer) -> None:
    """GIVEN Codex's `accept-encoding: zstd,gzip` WHEN it lists over HTTP THEN the body is gzip, which it reads."""
    reply = send("http", codex_request(KEY), entry=entry, base_url=server.base_url)
    assert reply.headers["content-encoding"] == "gzip"
    assert reply.headers["vary"].startswith("Authorization")


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("name", "request_"),
    [
        ("unknown key", codex_request(BAD_KEY)),
        ("no scheme", Request(query="client_version=0.171.0", headers=(("authorization", KEY),))),
        ("bad key on the Gemini route", codex_request(BAD_KEY, path="/v1beta/models")),
        ("bad key with anthropic-version", codex_request(BAD_KEY, headers=(("anthropic-version", "2023-06-01"),))),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_bad_key_gets_openais_401_and_never_a_catalog(
    entry: Any, server: LocalServer, transport: str, name: str, request_: Request
) -> None:
    """GIVEN a key that is not valid WHEN Codex's catalog is asked for, on any list route, whatever else the request
    says THEN 401 in OpenAI's error shape (the Codex dialect's errors are OpenAI's), with no `models` at all."""
    reply = send(transport, request_, entry=entry, base_url=server.base_url)

    assert reply.status == 401
    body = reply.json()
    assert list(body) == ["error"]
    assert list(body["error"]) == ["message", "type", "param", "code"]
    assert (body["error"]["type"], body["error"]["code"]) == ("invalid_request_error", "invalid_api_key")
    assert b"models" not in reply.body
    assert KEY not in reply.body.decode()


# -- which dialect answers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "query", "headers"),
    [
        ("/v1/models", "client_version=0.171.0", ()),
        ("/v1/models/", "client_version=0.171.0", ()),
        ("/v1/models", "client_version=", ()),
        ("/v1/models", "client_version", ()),
        ("/v1/models", "limit=2&client_version=0.1.0", (("anthropic-version", "2023-06-01"),)),
        ("/v1/models", "client_version=0.171.0", (("x-goog-api-key", KEY),)),
        ("/v1beta/models", "pageSize=1&client_version=0.171.0", ()),
        ("/v1beta/openai/models", "client_version=0.171.0", ()),
    ],
    ids=[
        "plain",
        "trailing-slash",
        "empty-value",
        "no-value",
        "before-anthropic",
        "before-gemini-key",
        "gemini-route",
        "openai-route",
    ],
)
def test_client_version_on_any_list_route_picks_codex_before_every_other_rule(
    entry: Any, path: str, query: str, headers: tuple[tuple[str, str], ...]
) -> None:
    """GIVEN `client_version` in the query WHEN any list route is asked, whatever the path, headers and paging
    parameters say THEN Codex's catalog, the whole list."""
    request = Request(path=path, query=query, headers=(("authorization", f"Bearer {KEY}"), *headers))
    reply = send("http-api-v2", request, entry=entry, base_url="")
    assert reply.status == 200
    assert reply.json() == {"models": EXPECTED[KEY]}


@pytest.mark.parametrize(
    ("path", "headers", "shape"),
    [
        ("/v1/models/gpt-5.5", (), "openai"),
        ("/v1/models/gpt-5.5", (("anthropic-version", "2023-06-01"),), "anthropic"),
        ("/v1beta/models/gpt-5.5", (), "gemini"),
    ],
)
def test_a_retrieve_with_client_version_is_the_dialect_it_would_be_without(
    entry: Any, path: str, headers: tuple[tuple[str, str], ...], shape: str
) -> None:
    """GIVEN `client_version` on a retrieve (Codex never retrieves) THEN the same answer as without it."""
    base = Request(path=path, headers=(("authorization", f"Bearer {KEY}"), *headers))
    plain = send("http-api-v2", base, entry=entry, base_url="")
    asked = send(
        "http-api-v2",
        Request(path=path, headers=base.headers, query="client_version=0.171.0"),
        entry=entry,
        base_url="",
    )
    assert (asked.status, asked.body) == (plain.status, plain.body)
    body = asked.json()
    key = {"openai": "object", "anthropic": "type", "gemini": "baseModelId"}[shape]
    assert key in body


def test_the_list_paths_are_the_apps_list_routes() -> None:
    assert set(MODEL_ROUTES) == dialect.LIST_PATHS


def test_codex_is_not_chosen_without_client_version(entry: Any) -> None:
    """GIVEN a `client_version`-like parameter that is not it WHEN listed THEN OpenAI's list, as before."""
    for query in ("client_versions=1", "xclient_version=1", "client%5Fversion=1"):
        reply = send(
            "http-api-v2", Request(query=query, headers=(("authorization", f"Bearer {KEY}"),)), entry=entry, base_url=""
        )
        assert reply.json()["object"] == "list", query


# -- the byte budget -------------------------------------------------------------------------------------------------


def listing(count: int, size: int, stored: bool = True) -> Listing:
    members = [
        Member(f"m{i:04d}", {"codex": fixtures.entry(f"m{i:04d}", priority=i, size=size)} if stored else None)
        for i in range(count)
    ]
    return Listing(members, "v")


def test_a_catalog_within_the_budget_is_served_whole() -> None:
    """GIVEN 10 stored entries of 40 KB (twice over: instructions and template) WHEN listed THEN every entry whole."""
    body = dialect.DIALECT.page(listing(10, 40_000), QueryParams()).body
    models = json.loads(body)["models"]
    assert len(body) < dialect.CATALOG_BUDGET
    assert [m["base_instructions"] for m in models] == [fixtures.instructions(f"m{i:04d}", 40_000) for i in range(10)]


def test_beyond_the_budget_every_model_is_listed_and_the_rest_get_the_short_line() -> None:
    """GIVEN 300 stored entries of 90 KB each (about 54 MB whole) WHEN listed THEN at most 1 MiB, all 300 models in
    order; the first ones whole while the others still fit, every later one with the neutral line and no template,
    and never a whole one after a short one."""
    body = dialect.DIALECT.page(listing(300, 45_000), QueryParams()).body
    models = json.loads(body)["models"]

    assert len(body) <= dialect.CATALOG_BUDGET
    assert [m["slug"] for m in models] == [f"m{i:04d}" for i in range(300)]
    whole = [m for m in models if m["base_instructions"] != codex.NEUTRAL_INSTRUCTIONS]
    assert 1 <= len(whole) < 300
    assert models[: len(whole)] == whole  # a prefix of the caller's order
    for i, served in enumerate(models[len(whole) :], start=len(whole)):
        assert "model_messages" not in served
        assert served == {**codex.short_entry(fixtures.entry(f"m{i:04d}", priority=i, size=45_000))}
        codex.check_entry(served)
    # AND one more whole entry would not have fitted
    next_whole = json.dumps(fixtures.entry(f"m{len(whole):04d}", priority=len(whole), size=45_000))
    assert len(body) + len(next_whole) - len(json.dumps(models[len(whole)])) > dialect.CATALOG_BUDGET


def test_when_even_short_entries_pass_the_budget_every_model_is_still_listed() -> None:
    """GIVEN 3,000 models and no stored entry (about 1.2 MB with the neutral line alone) WHEN listed THEN all
    3,000, each with the neutral line: Codex gets every model rather than a cut list."""
    body = dialect.DIALECT.page(listing(3000, 0, stored=False), QueryParams()).body
    models = json.loads(body)["models"]
    assert len(body) > dialect.CATALOG_BUDGET
    assert len(models) == 3000
    assert {m["base_instructions"] for m in models} == {codex.NEUTRAL_INSTRUCTIONS}


def test_each_models_entry_is_rendered_once_per_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a listing WHEN Codex lists three times THEN one Document, and each entry was rendered once."""
    rendered: list[str] = []
    source = listing(3, 100)
    original = codex.served_entry

    def counting(model_id: str, stored: Any) -> dict[str, Any]:
        rendered.append(model_id)
        return original(model_id, stored)

    monkeypatch.setattr(codex, "served_entry", counting)
    pages = [dialect.DIALECT.page(source, QueryParams()) for _ in range(3)]
    assert pages[0] is pages[1] is pages[2]
    assert rendered == ["m0000", "m0001", "m0002"]


# -- the catalog: import, set, apply, checked -------------------------------------------------------------------------


@pytest.fixture
def cli(registry: Registry, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys, ["--table", TABLE])


def write(tmp_path: Path, document_: Any, name: str = "codex-models.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document_))
    return str(path)


def test_codex_debug_models_output_is_imported_whole_per_model(cli: Cli, registry: Registry, tmp_path: Path) -> None:
    """GIVEN `codex debug models` output (placeholder instructions) and a catalog already naming gpt-5.5 with its
    own display name WHEN imported THEN each entry is stored whole as the model's `codex` field; the display name,
    description and context window fill only what the catalog lacks."""
    registry.put_models([{"id": "gpt-5.5", "display_name": "GPT-5.5 (ours)", "status": "enabled"}])
    hidden = fixtures.entry("codex-auto-review", visibility="hide", description=None, context_window=None)
    path = write(tmp_path, fixtures.catalog(GPT, MINI, hidden))

    data = cli.json("models", "import", path)

    assert data["format"] == "codex"
    assert data["models"] == {"added": 2, "changed": 1, "unchanged": 0}
    catalog = registry.catalog()
    assert catalog["gpt-5.5"] == {
        "id": "gpt-5.5",
        "display_name": "GPT-5.5 (ours)",
        "description": GPT["description"],
        "max_input_tokens": 272000,
        "codex": GPT,
        "status": "enabled",
    }
    assert catalog["gpt-5.5-mini"]["codex"] == MINI
    assert catalog["codex-auto-review"] == {
        "id": "codex-auto-review",
        "display_name": "CODEX-AUTO-REVIEW",
        "codex": hidden,
        "status": "enabled",
    }
    # AND importing it again changes nothing
    assert cli.json("models", "import", path)["models"] == {"added": 0, "changed": 0, "unchanged": 3}


def test_imported_entries_are_served_back_to_codex(cli: Cli, registry: Registry, tmp_path: Path) -> None:
    """GIVEN Codex's catalog imported and the default group naming its models and one other WHEN Codex lists
    (anonymous, the default group) THEN the imported entries as imported, and the other borrows the first's."""
    cli.ok("models", "import", write(tmp_path, fixtures.catalog(GPT, MINI)))
    cli.ok("group", "set", "default", "gpt-5.5-mini", "qwen-coder", "gpt-5.5", "--allow-custom")
    app = Mangum(create_app(build_service(settings_for(), _directory(registry))), lifespan="off")

    reply = send("http-api-v2", Request(query="client_version=0.171.0"), entry=app, base_url="")

    assert reply.json() == {
        "models": [{**MINI, "upgrade": None}, built("qwen-coder", 2, MINI), GPT],
    }


def _directory(registry: Registry) -> Any:
    from handler.store.dynamodb import DynamoDirectory  # noqa: PLC0415

    return DynamoDirectory(registry.client, TABLE)


BAD_ENTRIES: list[tuple[str, dict[str, Any], str]] = [
    (
        "no-instructions",
        {"base_instructions": None, "model_messages": None},
        "codex.base_instructions: is missing (Codex has no default for it without model_messages' template)",
    ),
    ("instructions-number", {"base_instructions": 5}, "codex.base_instructions: must be a string"),
    ("priority-word", {"priority": "high"}, "codex.priority: must be an integer from -2147483648 to 2147483647"),
    ("priority-too-big", {"priority": 2**31}, "codex.priority: must be an integer from -2147483648 to 2147483647"),
    ("shell", {"shell_type": "bash"}, "codex.shell_type: must be one of default, local, unified_exec, disabled"),
    ("visibility", {"visibility": "public"}, "codex.visibility: must be one of list, hide, none"),
    ("verbosity", {"default_verbosity": "loud"}, "codex.default_verbosity: must be one of low, medium, high"),
    ("truncation", {"truncation_policy": {"mode": "lines", "limit": 5}}, "codex.truncation_policy.mode: must be"),
    ("level", {"supported_reasoning_levels": [{"effort": "low"}]}, "supported_reasoning_levels[0].description: is"),
    ("tools", {"experimental_supported_tools": [1]}, "codex.experimental_supported_tools[0]: must be a string"),
    ("modality", {"input_modalities": ["video"]}, "codex.input_modalities[0]: must be one of text, image"),
    ("context", {"context_window": "big"}, "codex.context_window: must be an integer"),
    ("upgrade", {"upgrade": {"model": "x"}}, "codex.upgrade.migration_markdown: is missing"),
]


def patched(entry_: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """`entry_` with `patch`'s values; a None in `patch` removes the field."""
    return {k: v for k, v in {**entry_, **patch}.items() if not (k in patch and patch[k] is None)}


# Values Codex 0.171 reads, though they may look wrong: the checks let them through.
GOOD_ENTRIES: list[tuple[str, dict[str, Any]]] = [
    ("template-without-base-instructions", {"base_instructions": None}),
    ("an-effort-codex-does-not-name", {"supported_reasoning_levels": [{"effort": "ultra", "description": "More"}]}),
    ("a-field-codex-adds-later", {"future_field": {"anything": [1, "two"]}}),
    ("an-empty-display-name", {"display_name": ""}),
]


@pytest.mark.parametrize("case", BAD_ENTRIES, ids=[name for name, _, _ in BAD_ENTRIES])
def test_an_entry_codex_would_refuse_is_refused_by_import_with_one_line(
    cli: Cli, registry: Registry, tmp_path: Path, case: tuple[str, dict[str, Any], str]
) -> None:
    """GIVEN a Codex catalog whose second entry has a value Codex would refuse WHEN imported THEN exit 2, one line
    naming where, the field and what is wrong, and the model; nothing written."""
    _, patch, message = case
    bad = patched(MINI, patch)
    path = write(tmp_path, fixtures.catalog(GPT, bad))
    before = snapshot(registry.client, TABLE)

    run = cli("models", "import", path)

    assert (run.code, run.out) == (2, "")
    assert run.err.count("\n") == 1
    assert run.err.startswith(f"error: {path}: model [1].codex."), run.err
    assert message in run.err, run.err
    assert run.err.rstrip().endswith("(model gpt-5.5-mini)")
    assert snapshot(registry.client, TABLE) == before


def test_an_entry_too_big_to_store_is_refused(cli: Cli, registry: Registry, tmp_path: Path) -> None:
    """GIVEN a Codex entry of 300 KB (a catalog model is one DynamoDB item, 400 KB at most) WHEN imported THEN
    exit 2, one line with its size and the limit; nothing written."""
    path = write(tmp_path, fixtures.catalog(fixtures.entry("huge", size=150_000)))
    before = snapshot(registry.client, TABLE)

    run = cli("models", "import", path)

    assert run.code == 2
    assert run.err.startswith(f"error: {path}: model [0].codex: 30")
    assert run.err.endswith(" bytes, at most 262,144 (model huge)\n")
    assert snapshot(registry.client, TABLE) == before


def test_models_set_codex_sets_checks_and_unsets(cli: Cli, registry: Registry, tmp_path: Path) -> None:
    """GIVEN a catalog model WHEN `models set --codex @FILE` (Codex's whole catalog: the entry with its slug is
    taken), then a bad entry, then `--unset codex` THEN stored, refused in one line naming the model, removed."""
    registry.put_models([{"id": "gpt-5.5", "status": "enabled"}])
    path = write(tmp_path, fixtures.catalog(MINI, GPT))

    assert cli.json("models", "set", "gpt-5.5", "--codex", f"@{path}")["changed"] == ["codex"]
    assert registry.catalog()["gpt-5.5"]["codex"] == GPT

    run = cli("models", "set", "gpt-5.5", "--codex", json.dumps({**GPT, "shell_type": "bash"}))
    assert (run.code, run.out) == (2, "")
    assert run.err == (
        "error: --codex.shell_type: must be one of default, local, unified_exec, disabled, shell_command "
        "(model gpt-5.5)\n"
    )
    missing = cli("models", "set", "gpt-5.5", "--codex", f"@{write(tmp_path, fixtures.catalog(MINI), 'b.json')}")
    assert missing.code == 2
    assert "has no entry with slug 'gpt-5.5'" in missing.err

    shown = cli.ok("models", "show", "gpt-5.5")
    line = next(line for line in shown.splitlines() if line.startswith("codex:"))
    assert (
        line.split(None, 1)[1]
        == f"Codex entry, {len(GPT)} fields, base_instructions 500 characters (--json shows it whole)"
    )
    assert "PLACEHOLDER" not in shown  # the terminal gets a summary, never the instructions

    assert cli.json("models", "set", "gpt-5.5", "--unset", "codex")["changed"] == ["codex"]
    assert "codex" not in registry.catalog()["gpt-5.5"]


def test_apply_refuses_a_bad_codex_entry(cli: Cli, registry: Registry, tmp_path: Path) -> None:
    """GIVEN a seed whose model carries a Codex entry with no instructions at all WHEN applied THEN exit 2, one
    line naming the model and the field; nothing written."""
    entry_ = patched(GPT, {"base_instructions": None, "model_messages": None})
    path = write(tmp_path, {"models": [{"id": "gpt-5.5", "codex": entry_}]}, "seed.json")
    before = snapshot(registry.client, TABLE)

    run = cli("apply", path)

    assert run.code == 2
    assert run.err == (
        "error: models[0].codex.base_instructions: is missing (Codex has no default for it without "
        "model_messages' template) (model gpt-5.5)\n"
    )
    assert snapshot(registry.client, TABLE) == before


# -- the real Codex CLI (npm @openai/codex 0.171.0) ------------------------------------------------------------------


def debug_models(home: Path, base_url: str | None, key: str) -> list[dict[str, Any]]:
    """`codex debug models` (offline: it prints the catalog it loaded) with CODEX_HOME set up for `base_url`, or
    Codex's bundled catalog when None."""
    home.mkdir(parents=True, exist_ok=True)
    if base_url is not None:
        fixtures.codex_home(home, base_url)
    environment = {"PATH": os.environ.get("PATH", ""), "HOME": str(home.parent), "CODEX_HOME": str(home)}
    run = subprocess.run(
        [fixtures.codex_cli(), "debug", "models"],
        env={**environment, "MODELGATE_KEY": key},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=90,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-500:]
    models: list[dict[str, Any]] = json.loads(run.stdout)["models"]
    return models


def instructions_sent(served: dict[str, Any]) -> str:
    template = (served.get("model_messages") or {}).get("instructions_template")
    return str(template or served["base_instructions"])


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


@pytest.mark.parametrize(
    ("domain", "url"),
    [
        ("", "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/v1/models"),
        ("models.example.com", "https://${DomainName}/v1/models"),
    ],
    ids=["execute-api", "domain"],
)
def test_the_stack_outputs_codexs_model_catalog_url(domain: str, url: str) -> None:
    """GIVEN the template, with or without a custom domain THEN CodexModelCatalogUrl is the list route there."""
    stack = Stack(DomainName=domain, CertificateArn=CERTIFICATE if domain else "")
    assert stack.outputs["CodexModelCatalogUrl"]["Value"]["Fn::Sub"] == url


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
