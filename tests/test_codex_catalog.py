"""Codex entries in the catalog (issue 18.1): `modelgate models import` reads `codex debug models` output, `models
set --codex` sets one, `apply` takes a seed's `codex:`; each entry is checked as Codex 0.171 reads it, and refused in
one line naming the model, the field and what is wrong. The entries here carry placeholder instructions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mangum import Mangum

from handler.store.dynamodb import DynamoDirectory
from handler.web.app import create_app
from handler.wiring import build_service
from infra.registry import Registry
from tests.conftest import TABLE, settings_for
from tests.hardening.wire import Request, send
from tests.support import codex as fixtures
from tests.support.codex_world import BAD_ENTRIES, GPT, MINI, built, patched
from tests.test_cli_support import Cli, snapshot

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
    app = Mangum(create_app(build_service(settings_for(), DynamoDirectory(registry.client, TABLE))), lifespan="off")

    reply = send("http-api-v2", Request(query="client_version=0.171.0"), entry=app, base_url="")

    assert reply.json() == {
        "models": [{**MINI, "upgrade": None}, built("qwen-coder", 2, MINI), GPT],
    }


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
