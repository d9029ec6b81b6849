"""Codex CLI catalog entries for the tests, in the shape `codex debug models` prints (0.171), with placeholder text.

Codex's own instructions never enter this repository: these entries carry a placeholder of a chosen size instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest


def instructions(slug: str, size: int = 200) -> str:
    """Placeholder instructions naming their model, `size` characters long."""
    head = f"PLACEHOLDER instructions of {slug}. "
    return (head * (size // len(head) + 1))[:size]


def entry(slug: str, *, priority: Any = 1, size: int = 200, **fields: Any) -> dict[str, Any]:
    """One catalog entry as Codex 0.171 ships them: every field it requires, and some it reads when present."""
    return {
        "slug": slug,
        "display_name": slug.upper(),
        "description": f"{slug} for coding",
        "default_reasoning_level": "medium",
        "supported_reasoning_levels": [
            {"effort": "low", "description": "Fast"},
            {"effort": "medium", "description": "Balanced"},
            {"effort": "high", "description": "Deep"},
        ],
        "shell_type": "unified_exec",
        "visibility": "list",
        "supported_in_api": True,
        "priority": priority,
        "upgrade": None,
        "base_instructions": instructions(slug, size),
        "model_messages": {"instructions_template": instructions(slug + " template", size)},
        "default_reasoning_summary": "none",
        "support_verbosity": True,
        "default_verbosity": "low",
        "apply_patch_tool_type": "freeform",
        "web_search_tool_type": "text_and_image",
        "truncation_policy": {"mode": "tokens", "limit": 10000},
        "context_window": 272000,
        "effective_context_window_percent": 95,
        "experimental_supported_tools": [],
        "input_modalities": ["text", "image"],
        **fields,
    }


def catalog(*entries: dict[str, Any]) -> dict[str, Any]:
    """`codex debug models` output."""
    return {"models": list(entries)}


def codex_cli() -> str:
    """The Codex CLI (npm @openai/codex): skipped when absent, except in CI."""
    found = os.environ.get("MODELGATE_CODEX_CLI") or shutil.which("codex")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("the Codex CLI is required in CI: infra/test-tools.sh (ensure_codex_cli) installs it from npm")
    pytest.skip("the Codex CLI is not installed (npm @openai/codex; ./infra/dev test installs it)")


def codex_home(home: Path, base_url: str, key_variable: str = "MODELGATE_KEY") -> Path:
    """A CODEX_HOME whose provider is modelgate at `base_url`, its catalog at `<base>/v1/models`."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        'model_provider = "modelgate"\n'
        "\n"
        "[model_providers.modelgate]\n"
        'name = "modelgate"\n'
        f'base_url = "{base_url}/v1"\n'
        f'env_key = "{key_variable}"\n'
        'wire_api = "responses"\n'
        f'model_catalog_url = "{base_url}/v1/models"\n'
    )
    return home
