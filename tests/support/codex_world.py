"""The Codex world for the tests: a catalog with stored Codex entries, a model with metadata, one stored broken,
keys of three shapes, and what Codex must be served for each; and the real Codex CLI, run offline.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from handler.core import codex
from tests.hardening.wire import Request
from tests.support import codex as fixtures
from tests.support.server import fresh_table

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


def codex_table(endpoint_url: str) -> str:
    """The Codex world applied on a fresh table, then `legacy` given a Codex entry Codex would refuse, written as an
    older modelgate could (the registry writes what it is given), and the views rebuilt."""
    name, registry = fresh_table(endpoint_url, document())
    legacy = registry.catalog_entries(["legacy"])["legacy"]
    registry.put_models([{**legacy, "codex": BROKEN}])
    registry.rebuild_views(["legacy"])
    return name


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
