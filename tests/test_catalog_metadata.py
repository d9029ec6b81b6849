"""Catalog metadata (display_name, description, token limits, capabilities, lifecycle and its dates): set by seed
YAML, `apply`/`export` and `modelgate models set`, shown by `models show`, carried by group views to the core,
and never shown by the OpenAI list, whose bytes stay exactly the documented ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from mangum import Mangum

from handler.core.catalog import METADATA_FIELDS
from handler.store.dynamodb import DynamoDirectory
from handler.web.app import create_app
from handler.wiring import build_service
from infra.apply import apply_seed
from infra.registry import Registry
from infra.seed import parse_seed
from infra.table import create_table
from tests.conftest import TABLE, settings_for
from tests.support import world
from tests.support.cli import WRITES, Cli, count_requests, snapshot
from tests.support.events import api_event, invoke

# Anthropic's whole capabilities object, as its list gives it: the strict SDK wants every capability.
CAPABILITIES: dict[str, Any] = world.OPUS_CAPABILITIES
GEMINI_CAPABILITIES = {**CAPABILITIES, "batch": {"supported": False}}
PARTIAL = {"image_input": {"supported": True}}
ALL_MISSING = (
    "missing batch, citations, code_execution, context_management, effort, pdf_input, server_tools, "
    "structured_outputs, thinking (Anthropic's SDK requires every capability"
)
# Every metadata field, as a catalog stores it.
METADATA: dict[str, Any] = {
    "display_name": "Claude Sonnet 4",
    "description": "High-performance model with extended thinking",
    "max_input_tokens": 200000,
    "max_tokens": 64000,
    "capabilities": CAPABILITIES,
    "lifecycle": "deprecated",
    "deprecated_at": "2026-01-15T00:00:00Z",
    "retires_at": "2026-07-15T09:30:00+02:00",
}
SONNET_ID = "claude-sonnet-4-20250514"
SONNET: dict[str, Any] = {"id": SONNET_ID, "owned_by": "anthropic", "created": 1747872000}
GEMINI = {"id": "gemini-2.5-pro", "owned_by": "google"}


def metadata_seed(with_metadata: bool = True) -> dict[str, Any]:
    extra = METADATA if with_metadata else {}
    return {
        "models": [
            {**SONNET, **extra},
            {**GEMINI, **({"display_name": "Gemini 2.5 Pro", "max_input_tokens": 1048576} if with_metadata else {})},
        ],
        "groups": {"default": ["claude-sonnet-4-20250514", "gemini-2.5-pro", "my-custom"], "other": ["gemini-2.5-pro"]},
        "users": [{"id": "alice", "group": "default"}],
    }


def write(tmp_path: Path, document: Any, name: str = "seed.yaml") -> str:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False))
    return str(path)


@pytest.fixture
def cli(registry: Registry, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys, ["--table", TABLE])


@pytest.fixture
def applied(registry: Registry) -> Registry:
    """GIVEN a catalog whose Claude model carries every metadata field, in two groups (one naming it)."""
    apply_seed(parse_seed(metadata_seed()), registry)
    return registry


def view_entry(registry: Registry, group: str, model_id: str) -> Any:
    view = DynamoDirectory(registry.client, registry.table).group(group)
    assert view is not None
    return next(m.catalog for m in view.members if m.model_id == model_id)


# -- seed, apply, export ------------------------------------------------------------------------------------------


def test_a_seed_sets_every_field_and_the_group_view_carries_them_to_the_core(applied: Registry) -> None:
    # THEN the catalog holds them as given, after the documented fields
    entry = applied.catalog_entries([SONNET_ID])[SONNET_ID]
    assert entry == {**SONNET, **METADATA, "status": "enabled"}
    assert list(entry) == ["id", "created", "owned_by", *METADATA_FIELDS, "status"]
    # AND the view the function reads hands them to the core unchanged, key order included
    shown = view_entry(applied, "default", SONNET_ID)
    assert shown == {"created": 1747872000, "owned_by": "anthropic", **METADATA, "status": "enabled"}
    assert list(shown) == ["created", "owned_by", *METADATA_FIELDS, "status"]
    assert view_entry(applied, "default", "gemini-2.5-pro") == {
        "owned_by": "google",
        "display_name": "Gemini 2.5 Pro",
        "max_input_tokens": 1048576,
        "status": "enabled",
    }


def test_export_apply_export_is_byte_identical_with_metadata(
    cli: Cli, applied: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the catalog with metadata, exported
    first = cli.ok("export")
    assert yaml.safe_load(first)["models"][0] == {**SONNET, **METADATA}

    # WHEN the export is applied to an empty table, and that table exported
    create_table(applied.client, "other")
    exported = write(tmp_path, first, "export.yaml")
    other = Cli(cli.capsys, ["--table", "other"])
    other.ok("apply", exported)

    # THEN the same bytes, and applied back where it came from it writes nothing
    assert other.ok("export") == first
    requests = count_requests(monkeypatch)
    assert cli.ok("apply", exported).endswith(": no changes\n")
    assert not any(requests[op] for op in WRITES)


def test_unquoted_yaml_timestamps_and_dates_are_stored_as_rfc_3339(
    cli: Cli, registry: Registry, tmp_path: Path
) -> None:
    # GIVEN a hand-written seed whose dates YAML reads as datetimes and dates, not strings
    seed = write(
        tmp_path,
        "models:\n"
        "  - {id: m, lifecycle: deprecated, deprecated_at: 2026-01-15T00:00:00Z, retires_at: 2026-07-15}\n"
        "  - {id: n, deprecated_at: 2026-01-15t08:00:00.5+05:30, display_name: null}\n",
    )
    # WHEN applied THEN RFC 3339 strings (upper case), a date being its midnight UTC; a null field is not given
    cli.ok("apply", seed)
    assert registry.catalog() == {
        "m": {
            "id": "m",
            "lifecycle": "deprecated",
            "deprecated_at": "2026-01-15T00:00:00Z",
            "retires_at": "2026-07-15T00:00:00Z",
            "status": "enabled",
        },
        "n": {"id": "n", "deprecated_at": "2026-01-15T08:00:00.500000+05:30", "status": "enabled"},
    }


def test_a_metadata_change_in_a_seed_rebuilds_the_views_naming_the_model(
    cli: Cli, applied: Registry, tmp_path: Path
) -> None:
    # GIVEN the seed with Claude's display name and lifecycle changed
    document = metadata_seed()
    document["models"][0] |= {"display_name": "Claude Sonnet 4 (legacy)", "lifecycle": "retired"}
    seed = write(tmp_path, document)

    # WHEN dry-run, then applied
    out = cli.ok("apply", seed, "--dry-run").splitlines()

    # THEN the diff names the fields, and only the group naming the model gets its view rebuilt
    assert out[:-1] == [
        "~ model claude-sonnet-4-20250514: display_name Claude Sonnet 4 -> Claude Sonnet 4 (legacy); "
        "lifecycle deprecated -> retired",
        "~ group default: view rebuilt (catalog changed)",
    ]
    cli.ok("apply", seed)
    shown = view_entry(applied, "default", SONNET_ID)
    assert (shown["display_name"], shown["lifecycle"]) == ("Claude Sonnet 4 (legacy)", "retired")


BAD_VALUES: list[tuple[str, Any, str | None]] = [
    ("display_name", "", "display_name: must be a non-empty string"),
    ("display_name", 4, "display_name: must be a non-empty string"),
    ("description", ["x"], "description: must be a string"),
    ("max_input_tokens", -1, "max_input_tokens: must be a non-negative integer"),
    ("max_input_tokens", "200k", "max_input_tokens: must be a non-negative integer"),
    ("max_input_tokens", True, "max_input_tokens: must be a non-negative integer"),
    ("max_tokens", 8192.5, "max_tokens: must be a non-negative integer"),
    ("capabilities", ["vision"], "capabilities: must be an object (a mapping)"),
    ("capabilities", PARTIAL, f"capabilities: {ALL_MISSING}"),
    ("capabilities", {**CAPABILITIES, "thinking": {"supported": True}}, "capabilities: missing thinking.types ("),
    (
        "capabilities",
        {**CAPABILITIES, "image_input": {"supported": "yes"}, "effort": {**CAPABILITIES["effort"], "xhigh": True}},
        "capabilities: effort.xhigh must be an object; image_input.supported must be true or false (",
    ),
    ("capabilities", {**CAPABILITIES, "vision": {"since": "2026-01-01"}}, None),  # keys beyond Anthropic's are fine
    ("lifecycle", "beta", "lifecycle: must be one of active, deprecated, retired"),
    ("deprecated_at", "soon", "deprecated_at: must be an RFC 3339 timestamp"),
    ("deprecated_at", "2026-13-01T00:00:00Z", "deprecated_at: must be an RFC 3339 timestamp"),
    ("deprecated_at", "2026-01-01T00:00:00", "deprecated_at: must be an RFC 3339 timestamp"),  # no offset
    ("retires_at", 1767225600, "retires_at: must be an RFC 3339 timestamp"),
]


@pytest.mark.parametrize("case", BAD_VALUES, ids=[f"{n}={v!r}" for n, v, _ in BAD_VALUES])
def test_a_bad_value_refuses_the_whole_file(
    cli: Cli, applied: Registry, tmp_path: Path, case: tuple[str, Any, str | None]
) -> None:
    name, value, message = case
    # GIVEN a seed with a new model first, then one bad metadata value
    document = {"models": [{"id": "brand-new"}, {"id": "x", name: value}]}
    seed = write(tmp_path, json.dumps(document), "seed.json")
    before = snapshot(applied.client, TABLE)

    # WHEN applied, and imported as a catalog
    for argv in (("apply", seed), ("models", "import", seed)):
        run = cli(*argv)
        if message is None:
            assert run.code == 0, run.err
            continue
        # THEN refused: exit 2, which model, the field and the reason; nothing written, not even the first model
        assert (run.code, run.out) == (2, ""), run
        assert run.err.startswith("error: ")
        assert f"[1] (x).{message}" in run.err
        assert snapshot(applied.client, TABLE) == before


def test_yaml_non_json_values_in_capabilities_are_refused(cli: Cli, registry: Registry, tmp_path: Path) -> None:
    seed = write(tmp_path, "models:\n  - {id: m, capabilities: {since: 2026-01-01}}\n")
    run = cli("apply", seed)
    assert run.code == 2
    assert "models[0] (m).capabilities.since: must be a JSON value" in run.err
    seed = write(tmp_path, "models:\n  - {id: m, capabilities: {1: yes}}\n")
    assert "models[0] (m).capabilities: keys must be strings, not 1" in cli("apply", seed).err


# -- the OpenAI list does not change --------------------------------------------------------------------------------

# The documented /v1/models bytes for the default group, pinned: metadata never reaches an OpenAI object.
OPENAI_LIST = (
    b'{"object":"list","data":['
    b'{"id":"claude-sonnet-4-20250514","object":"model","created":1747872000,"owned_by":"anthropic","permission":'
    b'[{"id":"modelperm-rimU0tBEDhfpSnrV9qcmSf0B","object":"model_permission","created":1626777600,'
    b'"allow_create_engine":true,"allow_sampling":true,"allow_logprobs":true,"allow_search_indices":false,'
    b'"allow_view":true,"allow_fine_tuning":false,"organization":"*","group":null,"is_blocking":false}],'
    b'"root":"claude-sonnet-4-20250514","parent":null},'
    b'{"id":"gemini-2.5-pro","object":"model","created":1626777600,"owned_by":"google","permission":'
    b'[{"id":"modelperm-WGKbnbKXFtSwX83IX8yAQ6nu","object":"model_permission","created":1626777600,'
    b'"allow_create_engine":true,"allow_sampling":true,"allow_logprobs":true,"allow_search_indices":false,'
    b'"allow_view":true,"allow_fine_tuning":false,"organization":"*","group":null,"is_blocking":false}],'
    b'"root":"gemini-2.5-pro","parent":null},'
    b'{"id":"my-custom","object":"model","created":1626777600,"owned_by":"custom","permission":'
    b'[{"id":"modelperm-Kg6i9CgWdjAjZUd6qZd76W8b","object":"model_permission","created":1626777600,'
    b'"allow_create_engine":true,"allow_sampling":true,"allow_logprobs":true,"allow_search_indices":false,'
    b'"allow_view":true,"allow_fine_tuning":false,"organization":"*","group":null,"is_blocking":false}],'
    b'"root":"my-custom","parent":null}]}'
)


def _openai_bytes(registry: Registry, table: str, path: str) -> bytes:
    service = build_service(settings_for(table_name=table), DynamoDirectory(registry.client, table))
    response = invoke(Mangum(create_app(service), lifespan="off"), api_event("http-api-v2", path))
    assert response.status == 200
    return response.body


def test_the_openai_list_is_byte_for_byte_the_same_with_every_metadata_field(applied: Registry) -> None:
    # GIVEN the same catalog without any metadata, in a second table
    create_table(applied.client, "plain")
    apply_seed(parse_seed(metadata_seed(with_metadata=False)), Registry(applied.client, "plain"))

    # WHEN both are listed and retrieved through the Lambda handler (HTTP API v2 event)
    for path in ("/v1/models", f"/v1/models/{SONNET_ID}"):
        with_metadata, without = _openai_bytes(applied, TABLE, path), _openai_bytes(applied, "plain", path)
        # THEN the same bytes
        assert with_metadata == without
    # AND they are exactly the documented objects
    assert _openai_bytes(applied, TABLE, "/v1/models") == OPENAI_LIST
    assert (
        _openai_bytes(applied, TABLE, f"/v1/models/{SONNET_ID}")
        == json.dumps(json.loads(OPENAI_LIST)["data"][0], separators=(",", ":")).encode()
    )


# -- modelgate models set / show ------------------------------------------------------------------------------------


def test_models_set_writes_the_model_and_the_views_naming_it_in_one_transaction(
    cli: Cli, applied: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    # WHEN gemini-2.5-pro (named by both groups) gets every field by flag
    requests = count_requests(monkeypatch)
    data = cli.json(
        "models", "set", "gemini-2.5-pro",
        "--display-name", "Gemini 2.5 Pro (stable)",
        "--description", "",
        "--max-input-tokens", "1048576",
        "--max-tokens", "65536",
        "--capabilities", json.dumps(GEMINI_CAPABILITIES),
        "--lifecycle", "active",
        "--deprecated-at", "2026-06-17",
        "--retires-at", "2026-12-17T00:00:00z",
    )  # fmt: skip

    # THEN the changed fields, the entry, and both views rebuilt, all in one TransactWriteItems
    assert data["changed"] == [f for f in METADATA_FIELDS if f != "max_input_tokens"]
    assert data["groups_rebuilt"] == ["default", "other"]
    assert (requests["TransactWriteItems"], sum(requests[op] for op in WRITES)) == (1, 1)
    expected = {
        **GEMINI,
        "display_name": "Gemini 2.5 Pro (stable)",
        "description": "",
        "max_input_tokens": 1048576,
        "max_tokens": 65536,
        "capabilities": GEMINI_CAPABILITIES,
        "lifecycle": "active",
        "deprecated_at": "2026-06-17T00:00:00Z",
        "retires_at": "2026-12-17T00:00:00Z",
        "status": "enabled",
    }
    assert data["model"] == expected
    assert applied.catalog_entries(["gemini-2.5-pro"])["gemini-2.5-pro"] == expected
    assert view_entry(applied, "other", "gemini-2.5-pro") == {k: v for k, v in expected.items() if k != "id"}

    # WHEN set again to the same values THEN nothing is written
    requests.clear()
    again = cli.ok("models", "set", "gemini-2.5-pro", "--max-tokens", "65536", "--lifecycle", "active")
    assert again == "model gemini-2.5-pro already has these values; nothing written\n"
    assert not any(requests[op] for op in WRITES)


def test_models_set_unset_removes_fields_and_keeps_the_others(cli: Cli, applied: Registry) -> None:
    # WHEN two fields are unset (either spelling) and one is set
    out = cli.ok(
        "models", "set", SONNET_ID, "--unset", "deprecated_at", "--unset", "retires-at", "--lifecycle", "active"
    )
    # THEN only those change, and the one group naming the model is rebuilt
    assert out == f"model {SONNET_ID}: set lifecycle, deprecated_at, retires_at; views rebuilt: default\n"
    entry = applied.catalog_entries([SONNET_ID])[SONNET_ID]
    assert entry == {
        **SONNET,
        **{k: v for k, v in METADATA.items() if k not in {"deprecated_at", "retires_at"}},
        "lifecycle": "active",
        "status": "enabled",
    }
    assert "deprecated_at" not in view_entry(applied, "default", SONNET_ID)


def test_models_show_gives_every_field(cli: Cli, applied: Registry) -> None:
    # WHEN shown as JSON THEN the stored entry with its groups
    assert cli.json("models", "show", SONNET_ID) == {
        **SONNET,
        **METADATA,
        "status": "enabled",
        "groups": ["default"],
    }

    # AND as text, one aligned line per field, capabilities as JSON
    lines = cli.ok("models", "show", SONNET_ID).splitlines()
    assert lines == [
        "id:               claude-sonnet-4-20250514",
        "created:          1747872000 (2025-05-22T00:00:00Z)",
        "owned_by:         anthropic",
        "display_name:     Claude Sonnet 4",
        "description:      High-performance model with extended thinking",
        "max_input_tokens: 200000",
        "max_tokens:       64000",
        f"capabilities:     {json.dumps(CAPABILITIES)}",
        "lifecycle:        deprecated",
        "deprecated_at:    2026-01-15T00:00:00Z",
        "retires_at:       2026-07-15T09:30:00+02:00",
        "status:           enabled",
        "groups:           default",
    ]


def test_models_show_without_metadata_is_unchanged(cli: Cli, applied: Registry) -> None:
    # GIVEN a model without metadata WHEN shown THEN the fields line up as they always did
    apply_seed(parse_seed({"models": [{"id": "plain", "owned_by": "acme", "root": "plain"}]}), applied)
    assert cli.ok("models", "show", "plain").splitlines() == [
        "id:         plain",
        "owned_by:   acme",
        'root:       "plain"',
        "status:     enabled",
        "groups:     (none)",
    ]


SET_REFUSALS: list[tuple[tuple[str, ...], str]] = [
    (("nope", "--display-name", "X"), "unknown model 'nope'"),
    ((SONNET_ID,), "nothing to set: give --display-name, --description, --max-input-tokens, --max-tokens, "),
    (
        (SONNET_ID, "--max-tokens", "lots"),
        f"model {SONNET_ID}: --max-tokens: must be a non-negative integer, not 'lots'",
    ),
    ((SONNET_ID, "--max-input-tokens", "-5"), f"model {SONNET_ID}: --max-input-tokens: must be a non-negative integer"),
    ((SONNET_ID, "--capabilities", "{vision}"), f"model {SONNET_ID}: --capabilities: not JSON: '{{vision}}'"),
    ((SONNET_ID, "--capabilities", "[1]"), f"model {SONNET_ID}: --capabilities: must be an object"),
    ((SONNET_ID, "--capabilities", json.dumps(PARTIAL)), f"model {SONNET_ID}: --capabilities: {ALL_MISSING}"),
    ((SONNET_ID, "--display-name", ""), f"model {SONNET_ID}: --display-name: must be a non-empty string"),
    ((SONNET_ID, "--retires-at", "next year"), f"model {SONNET_ID}: --retires-at: must be an RFC 3339 timestamp"),
    ((SONNET_ID, "--lifecycle", "gone"), "argument --lifecycle: invalid choice: 'gone'"),
    ((SONNET_ID, "--unset", "owned_by"), "argument --unset: invalid choice: 'owned_by'"),
    ((SONNET_ID, "--lifecycle", "retired", "--unset", "lifecycle"), "--lifecycle and --unset lifecycle contradict"),
]


@pytest.mark.parametrize("case", SET_REFUSALS, ids=[" ".join(argv) for argv, _ in SET_REFUSALS])
def test_models_set_refusals_exit_2_and_write_nothing(
    applied: Registry, capsys: pytest.CaptureFixture[str], case: tuple[tuple[str, ...], str]
) -> None:
    argv, message = case
    before = snapshot(applied.client, TABLE)
    if message.startswith("argument "):  # argparse's own usage errors
        with pytest.raises(SystemExit) as exited:
            Cli(capsys, ["--table", TABLE])("models", "set", *argv)
        assert exited.value.code == 2
        assert message in capsys.readouterr().err
    else:
        run = Cli(capsys, ["--table", TABLE])("models", "set", *argv)
        assert (run.code, run.out) == (2, "")
        assert run.err.startswith(f"error: {message}"), run.err
    assert snapshot(applied.client, TABLE) == before
