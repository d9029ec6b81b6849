"""`modelgate models import FILE` reads Anthropic, Gemini and OpenRouter model lists too, recognising each by its
shape, and merges: it fills the metadata and never drops a field the catalog already holds.

The fixtures under tests/data/ are small dumps in each API's documented shape (Anthropic GET /v1/models, Gemini
GET /v1beta/models, OpenRouter GET /api/v1/models).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from anthropic.types import ModelInfo
from mangum import Mangum

from handler.core.catalog import model_object
from handler.store.dynamodb import DynamoDirectory
from handler.web.app import create_app
from handler.wiring import build_service
from infra.registry import Registry
from tests.conftest import TABLE, settings_for
from tests.support.cli import DATA, WRITES, Cli, count_requests, snapshot
from tests.support.events import api_event, invoke

ANTHROPIC = DATA / "anthropic-models.json"
GEMINI = DATA / "gemini-models.json"
OPENROUTER = DATA / "openrouter-models.json"


def dump(path: Path) -> Any:
    return json.loads(path.read_text())


@pytest.fixture
def cli(registry: Registry, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys, ["--table", TABLE])


def write(tmp_path: Path, document: Any, name: str = "models.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


# -- each format ----------------------------------------------------------------------------------------------------


def test_an_anthropic_list(cli: Cli, registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    # WHEN Anthropic's GET /v1/models answer is imported
    data = cli.json("models", "import", str(ANTHROPIC))

    # THEN every model, created from created_at, owned by anthropic, with its metadata as given
    assert data["format"] == "anthropic"
    assert data["models"] == {"added": 4, "changed": 0, "unchanged": 0}
    models = {m["id"]: m for m in dump(ANTHROPIC)["data"]}
    catalog = registry.catalog()
    assert catalog["claude-sonnet-4-20250514"] == {
        "id": "claude-sonnet-4-20250514",
        "created": 1747872000,  # 2025-05-22T00:00:00Z
        "owned_by": "anthropic",
        "display_name": "Claude Sonnet 4",
        "max_input_tokens": 200000,
        "max_tokens": 64000,
        "capabilities": models["claude-sonnet-4-20250514"]["capabilities"],
        "lifecycle": "active",
        "status": "enabled",
    }
    assert catalog["claude-opus-4-1-20250805"]["created"] == 1754352000
    haiku = catalog["claude-3-5-haiku-20241022"]
    assert haiku["capabilities"]["thinking"]["supported"] is False
    assert (haiku["lifecycle"], haiku["deprecated_at"], haiku["retires_at"]) == (
        "deprecated",
        "2025-12-19T00:00:00Z",
        "2026-02-19T00:00:00Z",
    )
    # AND a null the API gives (limits, capabilities or dates unknown) is simply not stored
    assert catalog["claude-3-haiku-20240307"] == {
        "id": "claude-3-haiku-20240307",
        "created": 1709769600,
        "owned_by": "anthropic",
        "display_name": "Claude Haiku 3",
        "lifecycle": "active",
        "status": "enabled",
    }
    assert "note:" not in capsys.readouterr().err


def test_a_gemini_list(cli: Cli, registry: Registry) -> None:
    # WHEN Gemini's GET /v1beta/models answer is imported
    data = cli.json("models", "import", str(GEMINI))

    # THEN ids without `models/`, owned by google, display name, description and token limits mapped
    assert data["format"] == "gemini"
    catalog = registry.catalog()
    assert sorted(catalog) == ["gemini-2.0-flash-lite", "gemini-2.5-flash", "gemini-2.5-pro", "text-embedding-004"]
    assert catalog["gemini-2.5-pro"] == {
        "id": "gemini-2.5-pro",
        "owned_by": "google",
        "display_name": "Gemini 2.5 Pro",
        "description": "Stable release (June 17th, 2025) of Gemini 2.5 Pro",
        "max_input_tokens": 1048576,
        "max_tokens": 65536,
        "status": "enabled",
    }
    assert (catalog["text-embedding-004"]["max_input_tokens"], catalog["text-embedding-004"]["max_tokens"]) == (2048, 1)


def test_an_openrouter_list(cli: Cli, registry: Registry) -> None:
    # WHEN OpenRouter's GET /api/v1/models answer is imported
    data = cli.json("models", "import", str(OPENROUTER))

    # THEN name, description, context_length and top_provider.max_completion_tokens mapped; the vendor owns it
    assert data["format"] == "openrouter"
    catalog = registry.catalog()
    sonnet = next(m for m in dump(OPENROUTER)["data"] if m["id"] == "anthropic/claude-sonnet-4")
    assert catalog["anthropic/claude-sonnet-4"] == {
        "id": "anthropic/claude-sonnet-4",
        "created": 1747930371,
        "owned_by": "anthropic",
        "display_name": "Anthropic: Claude Sonnet 4",
        "description": sonnet["description"],
        "max_input_tokens": 200000,
        "max_tokens": 64000,
        "status": "enabled",
    }
    # AND a null max_completion_tokens is not stored
    llama = catalog["meta-llama/llama-3.1-8b-instruct:free"]
    assert (llama["owned_by"], llama["max_input_tokens"], "max_tokens" in llama) == ("meta-llama", 131072, False)


def test_an_openai_list_reads_only_the_documented_fields_as_before(
    cli: Cli, registry: Registry, tmp_path: Path
) -> None:
    # GIVEN an OpenAI-compatible list whose objects carry fields of their own (this vendor's display_name)
    path = write(
        tmp_path,
        {"object": "list", "data": [{"id": "m", "object": "model", "owned_by": "acme", "display_name": "M", "x": 1}]},
    )
    # WHEN imported THEN an OpenAI list: the documented fields only
    assert cli.json("models", "import", path)["format"] == "openai"
    assert registry.catalog() == {"m": {"id": "m", "owned_by": "acme", "status": "enabled"}}


# -- served back in each dialect ------------------------------------------------------------------------------------


def _get(registry: Registry, path: str, headers: dict[str, str | list[str]]) -> Any:
    """GET through the Lambda handler (an HTTP API v2 event), as an anonymous caller of the `default` group."""
    service = build_service(settings_for(), DynamoDirectory(registry.client, TABLE))
    response = invoke(Mangum(create_app(service), lifespan="off"), api_event("http-api-v2", path, headers=headers))
    assert response.status == 200, response.body
    return response.json()


def test_an_imported_anthropic_list_is_served_back_as_anthropic_serves_it(cli: Cli, registry: Registry) -> None:
    # GIVEN Anthropic's list imported, and the default group naming its models in its order
    cli.ok("models", "import", str(ANTHROPIC))
    models = dump(ANTHROPIC)["data"]
    cli.ok("group", "set", "default", *(m["id"] for m in models))

    # WHEN an Anthropic client lists them
    body = _get(registry, "/v1/models", {"anthropic-version": "2023-06-01"})

    # THEN each model is the one Anthropic listed, less its nulls and its `line` (the catalog keeps no line)
    assert body["data"] == [{k: v for k, v in m.items() if v is not None and k != "line"} for m in models]
    assert (body["first_id"], body["last_id"], body["has_more"]) == (models[0]["id"], models[-1]["id"], False)
    # AND each passes the Anthropic SDK's own model validation (what strict response validation runs)
    for served in body["data"]:
        ModelInfo.model_validate(served)


def test_an_imported_gemini_list_is_served_back_with_its_names_and_limits(cli: Cli, registry: Registry) -> None:
    # GIVEN Gemini's list imported, and the default group naming its models
    cli.ok("models", "import", str(GEMINI))
    models = dump(GEMINI)["models"]
    cli.ok("group", "set", "default", *(m["name"].removeprefix("models/") for m in models))

    # WHEN a Gemini client lists them THEN the names, display names, descriptions and token limits it gave
    body = _get(registry, "/v1beta/models", {})
    fields = ("name", "displayName", "description", "inputTokenLimit", "outputTokenLimit")
    assert [{k: m[k] for k in fields} for m in body["models"]] == [{k: m[k] for k in fields} for m in models]


# -- merging ------------------------------------------------------------------------------------------------------


def gateway_dump() -> dict[str, Any]:
    """What an OpenAI-compatible gateway lists for Claude models: OpenAI objects, with the gateway's own owner,
    dates and permission."""
    permission = {"id": "modelperm-gw", "object": "model_permission", "created": 1700000000, "allow_view": True}
    return {
        "object": "list",
        "data": [
            {
                "id": model_id,
                "object": "model",
                "created": 1700000000,
                "owned_by": "gateway",
                "permission": [permission],
                "root": model_id,
                "parent": None,
            }
            for model_id in ("claude-sonnet-4-20250514", "claude-3-5-haiku-20241022")
        ],
    }


def test_reimporting_merges_metadata_over_openai_fields_and_back(
    cli: Cli, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the gateway's OpenAI list imported, a group naming one of its models, and the other disabled
    openai = write(tmp_path, gateway_dump())
    cli.ok("models", "import", openai)
    cli.ok("group", "set", "pro", "claude-sonnet-4-20250514")
    cli.ok("models", "disable", "claude-3-5-haiku-20241022")
    stored = registry.catalog()
    view = DynamoDirectory(registry.client, TABLE).group("pro")
    assert view is not None
    openai_object = model_object("claude-sonnet-4-20250514", view.members[0].catalog)

    # WHEN Anthropic's list is imported over it
    data = cli.json("models", "import", str(ANTHROPIC))

    # THEN the two models are changed (2 more added), the group naming one rebuilt
    assert data["models"] == {"added": 2, "changed": 2, "unchanged": 0}
    assert data["groups_rebuilt"] == ["pro"]
    # AND every OpenAI field stays as the gateway gave it (created and owned_by too), the status too,
    # and the metadata is filled in
    sonnet = registry.catalog()["claude-sonnet-4-20250514"]
    anthropic = next(m for m in dump(ANTHROPIC)["data"] if m["id"] == "claude-sonnet-4-20250514")
    assert sonnet == {
        **stored["claude-sonnet-4-20250514"],
        "display_name": "Claude Sonnet 4",
        "max_input_tokens": 200000,
        "max_tokens": 64000,
        "capabilities": anthropic["capabilities"],
        "lifecycle": "active",
    }
    assert list(sonnet) == [
        "id", "created", "owned_by", "permission", "root", "parent",
        "display_name", "max_input_tokens", "max_tokens", "capabilities", "lifecycle", "status",
    ]  # fmt: skip
    assert registry.catalog()["claude-3-5-haiku-20241022"]["status"] == "disabled"
    # AND the group's view carries the metadata, while its OpenAI object is what it was
    view = DynamoDirectory(registry.client, TABLE).group("pro")
    assert view is not None
    assert view.members[0].catalog is not None
    assert view.members[0].catalog["display_name"] == "Claude Sonnet 4"
    assert model_object("claude-sonnet-4-20250514", view.members[0].catalog) == openai_object

    # WHEN the OpenAI list is imported again over the metadata, and then the Anthropic list again
    before = snapshot(registry.client, TABLE)
    requests = count_requests(monkeypatch)
    again = [cli.json("models", "import", path)["models"] for path in (openai, str(ANTHROPIC))]

    # THEN nothing changes either time: the metadata stays, and not one write is sent
    assert again == [{"added": 0, "changed": 0, "unchanged": 2}, {"added": 0, "changed": 0, "unchanged": 4}]
    assert not any(requests[op] for op in WRITES), requests
    assert snapshot(registry.client, TABLE) == before


def test_an_openai_list_with_fewer_fields_drops_none_that_are_stored(
    cli: Cli, registry: Registry, tmp_path: Path
) -> None:
    # GIVEN the gateway's full OpenAI objects imported
    cli.ok("models", "import", write(tmp_path, gateway_dump(), "full.json"))
    full = registry.catalog()["claude-sonnet-4-20250514"]

    # WHEN a list giving only id, object and a new owner is imported over them
    sparse = {"object": "list", "data": [{"id": "claude-sonnet-4-20250514", "object": "model", "owned_by": "x"}]}
    data = cli.json("models", "import", write(tmp_path, sparse, "sparse.json"))

    # THEN the owner changes and created, permission, root and parent stay
    assert data["models"] == {"added": 0, "changed": 1, "unchanged": 0}
    assert registry.catalog()["claude-sonnet-4-20250514"] == {**full, "owned_by": "x"}


def test_a_provider_list_fills_created_and_owner_only_where_missing_and_updates_metadata(
    cli: Cli, registry: Registry, tmp_path: Path
) -> None:
    # GIVEN a model with an owner but no date, and a display name and description an operator set
    mine = {"id": "claude-sonnet-4-20250514", "owned_by": "acme", "display_name": "Sonnet", "description": "Ours"}
    cli.ok("models", "import", write(tmp_path, [mine], "mine.json"))

    # WHEN Anthropic's list is imported
    cli.ok("models", "import", str(ANTHROPIC))

    # THEN the owner stays, created is filled from created_at, the list's display name wins, and the description
    # the list does not give stays
    sonnet = registry.catalog()["claude-sonnet-4-20250514"]
    assert (sonnet["owned_by"], sonnet["created"]) == ("acme", 1747872000)
    assert (sonnet["display_name"], sonnet["description"]) == ("Claude Sonnet 4", "Ours")


def test_a_yaml_catalog_sets_the_fields_it_gives_and_keeps_the_others(
    cli: Cli, registry: Registry, tmp_path: Path
) -> None:
    # GIVEN Gemini's list imported
    cli.ok("models", "import", str(GEMINI))

    # WHEN a catalog YAML gives one model a lifecycle and a new description
    path = tmp_path / "catalog.yaml"
    path.write_text(
        "models:\n  - {id: gemini-2.0-flash-lite, lifecycle: deprecated, deprecated_at: 2026-02-25, description: Old}\n"
    )
    data = cli.json("models", "import", str(path))

    # THEN those are set and the rest of the entry stays
    assert (data["format"], data["models"]) == ("catalog", {"added": 0, "changed": 1, "unchanged": 0})
    assert registry.catalog()["gemini-2.0-flash-lite"] == {
        "id": "gemini-2.0-flash-lite",
        "owned_by": "google",
        "display_name": "Gemini 2.0 Flash-Lite",
        "description": "Old",
        "max_input_tokens": 1048576,
        "max_tokens": 8192,
        "lifecycle": "deprecated",
        "deprecated_at": "2026-02-25T00:00:00Z",
        "status": "enabled",
    }


def test_one_page_of_a_longer_list_is_imported_with_a_note(cli: Cli, registry: Registry, tmp_path: Path) -> None:
    # GIVEN the first page of an Anthropic list (has_more) and of a Gemini list (nextPageToken)
    anthropic = dump(ANTHROPIC) | {"has_more": True}
    gemini = dump(GEMINI) | {"nextPageToken": "Chxtb2RlbHMvZ2VtaW5pLTIuMC1mbGFzaC1saXRl"}
    for name, document in (("anthropic", anthropic), ("gemini", gemini)):
        path = write(tmp_path, document, f"{name}.json")
        # WHEN imported THEN the page is imported, and stderr says the list goes on
        run = cli("models", "import", path)
        assert run.code == 0
        assert run.err == f"note: {path} is one page of a longer list; import the other pages too\n"
    assert len(registry.catalog()) == 8


# -- refusals -------------------------------------------------------------------------------------------------------

EXPECTED = (
    'expected an OpenAI model list {"object": "list", "data": [...]}, an Anthropic one {"data": [{"type": "model", '
    '...}]}, a Gemini one {"models": [{"name": "models/...", ...}]}, an OpenRouter one {"data": [{"context_length", '
    '...}]}, Codex CLI\'s catalog {"models": [{"slug", ...}]}, '
    "a seed's models: [...] section, or a bare list of models"
)
BAD_FILES: list[tuple[str, Any, str]] = [
    ("one-model-object", {"object": "model", "id": "gpt-4o"}, f"not a model list; {EXPECTED}"),
    ("other-object", {"object": "file", "data": []}, "not a model list: its object is 'file'; expected an OpenAI"),
    ("a-string", "models", f"not a model list; {EXPECTED}"),
    ("unrelated", {"items": [{"id": "a"}]}, f"not a model list; {EXPECTED}"),
    (
        "anthropic-other-type",
        {"data": [{"type": "model", "id": "a", "display_name": "A"}, {"type": "file", "id": "b"}]},
        'model [1].type: must be "model" in an Anthropic model list',
    ),
    (
        "anthropic-bad-created-at",
        {"data": [{"type": "model", "id": "a", "display_name": "A", "created_at": "last week"}]},
        "model [0].created_at: must be an RFC 3339 timestamp",
    ),
    ("anthropic-no-id", {"data": [{"type": "model", "display_name": "A"}]}, "model [0].id: must be a non-empty string"),
    ("gemini-no-name", {"models": [{"displayName": "G"}], "nextPageToken": "x"}, "model [0].name: must be a non-empty"),
    (
        "gemini-bad-limit",
        {"models": [{"name": "models/g", "inputTokenLimit": "1M"}]},
        "model [0] (g).max_input_tokens: must be a non-negative integer",
    ),
    (
        "openrouter-bad-context",
        {"data": [{"id": "a/b", "name": "B", "context_length": -1, "pricing": {}}]},
        "model [0] (a/b).max_input_tokens: must be a non-negative integer",
    ),
    (
        "anthropic-partial-capabilities",
        {
            "data": [
                {"type": "model", "id": "a", "display_name": "A", "capabilities": {"image_input": {"supported": True}}}
            ]
        },
        "model [0] (a).capabilities: missing batch, citations, code_execution, context_management, effort, pdf_input, "
        "server_tools, structured_outputs, thinking (Anthropic's SDK requires every capability",
    ),
    ("gemini-duplicate", {"models": [{"name": "models/g"}, {"name": "g"}]}, "models[1]: duplicate id: 'g'"),
]


@pytest.mark.parametrize("case", BAD_FILES, ids=[name for name, _, _ in BAD_FILES])
def test_a_file_in_no_known_shape_or_with_a_bad_model_is_refused(
    cli: Cli, registry: Registry, tmp_path: Path, case: tuple[str, Any, str]
) -> None:
    _, document, message = case
    path = write(tmp_path, document)
    before = snapshot(registry.client, TABLE)
    run = cli("models", "import", path)
    assert (run.code, run.out) == (2, "")
    assert run.err.startswith(f"error: {path}: "), run.err
    assert message in run.err, run.err
    assert snapshot(registry.client, TABLE) == before
