"""The test world: one catalog, three groups, four users and keys of every kind, with known plaintext keys."""

from __future__ import annotations

from typing import Any

KEYS = {
    "full": "sk-test-alice-full-0000000000000000000000000000000000000",
    "limited": "sk-test-alice-limited-00000000000000000000000000000000000",
    "widening": "sk-test-alice-widening-0000000000000000000000000000000000",
    "empty": "sk-test-alice-empty-000000000000000000000000000000000000",
    "disabled": "sk-test-alice-disabled-0000000000000000000000000000000000",
    "expired": "sk-test-alice-expired-00000000000000000000000000000000000",
    "future": "sk-test-alice-future-000000000000000000000000000000000000",
    "bob": "sk-test-bob-00000000000000000000000000000000000000000000000",
    "carol-disabled-owner": "sk-test-carol-000000000000000000000000000000000000000000000",
    "orphan": "sk-test-orphan-00000000000000000000000000000000000000000000",
}
UNKNOWN_KEY = "sk-test-unknown-0000000000000000000000000000000000000000000"

# From the seed-004 dump: stored values must come back exactly as stored.
DAVINCI_PERMISSION = {
    "allow_create_engine": False,
    "allow_fine_tuning": False,
    "allow_logprobs": True,
    "allow_sampling": True,
    "allow_search_indices": False,
    "allow_view": True,
    "created": 1669066355,
    "group": None,
    "id": "modelperm-U6ZwlyAd0LyMk4rcMdz33Yc3",
    "is_blocking": False,
    "object": "model_permission",
    "organization": "*",
}

CATALOG: list[dict[str, Any]] = [
    {"id": "gpt-4o", "owned_by": "openai", "created": 1715367049},
    {"id": "gpt-4o-mini", "owned_by": "openai", "created": 1721172741},
    {
        "id": "davinci",
        "owned_by": "openai",
        "created": 1649359874,
        "permission": [DAVINCI_PERMISSION],
        "root": "davinci",
        "parent": None,
    },
    {"id": "meta-llama/Llama-3.1-8B-Instruct", "owned_by": "meta", "created": 1721692800},
    {
        "id": "ft:gpt-3.5-turbo:acme:x:abc",
        "owned_by": "acme",
        "created": 1700000000,
        "parent": "gpt-3.5-turbo",
        "root": "gpt-3.5-turbo",
    },
    {"id": "cushman:2020-05-03", "owned_by": "system", "created": 1590625110},
    {"id": "old-model", "owned_by": "openai", "status": "disabled"},
    {"id": "bare"},
]

GROUPS: dict[str, list[str]] = {
    "default": ["gpt-4o-mini"],
    "vip": [
        "gpt-4o",
        "gpt-4o-mini",
        "davinci",
        "meta-llama/Llama-3.1-8B-Instruct",
        "ft:gpt-3.5-turbo:acme:x:abc",
        "cushman:2020-05-03",
        "old-model",
        "my-custom",
        "bare",
    ],
    "basic": ["gpt-4o-mini", "davinci"],
}

USERS = [
    {"id": "alice", "group": "vip"},
    {"id": "bob", "group": "basic"},
    {"id": "carol", "group": "vip", "status": "disabled"},
]

TOKENS: list[dict[str, Any]] = [
    {"key": KEYS["full"], "user": "alice", "name": "full"},
    {"key": KEYS["limited"], "user": "alice", "name": "limited", "models": ["davinci", "gpt-4o"]},
    {
        "key": KEYS["widening"],
        "user": "alice",
        "name": "widening",
        "models": ["o1-pro", "cushman:2020-05-03", "old-model", "gpt-4o-mini"],
    },
    {"key": KEYS["empty"], "user": "alice", "name": "empty", "models": []},
    {"key": KEYS["disabled"], "user": "alice", "name": "disabled", "status": "disabled"},
    {"key": KEYS["expired"], "user": "alice", "name": "expired", "expires_at": "2024-01-01T00:00:00Z"},
    {"key": KEYS["future"], "user": "alice", "name": "future", "expires_at": "2099-01-01T00:00:00Z"},
    {"key": KEYS["bob"], "user": "bob", "name": "bob"},
    {"key": KEYS["carol-disabled-owner"], "user": "carol", "name": "carol"},
]

# What each caller must see, in order.
VIP_VISIBLE = [
    "gpt-4o",
    "gpt-4o-mini",
    "davinci",
    "meta-llama/Llama-3.1-8B-Instruct",
    "ft:gpt-3.5-turbo:acme:x:abc",
    "cushman:2020-05-03",
    "my-custom",
    "bare",
]
EXPECTED = {
    "anonymous": ["gpt-4o-mini"],
    "full": VIP_VISIBLE,
    "future": VIP_VISIBLE,
    "limited": ["davinci", "gpt-4o"],
    "widening": ["cushman:2020-05-03", "gpt-4o-mini"],
    "empty": [],
    "bob": ["gpt-4o-mini", "davinci"],
    "session:alice": VIP_VISIBLE,
    "session:bob": ["gpt-4o-mini", "davinci"],
}
REFUSED = ("disabled", "expired", "carol-disabled-owner")

SESSION_SECRET = "test-session-secret-0123456789abcdef0123456789"


def world_document() -> dict[str, Any]:
    return {"models": CATALOG, "groups": GROUPS, "users": USERS, "tokens": TOKENS}


# -- the dialects' world (issue 9): a group whose catalog entries carry the optional metadata fields ---------------
# Written with the registry (put_group with these entries), as the catalog YAML may not hold them everywhere yet.
YES, NO = {"supported": True}, {"supported": False}
# As Anthropic's /v1/models dump holds it (the SDK's ModelCapabilities, every key present).
OPUS_CAPABILITIES: dict[str, Any] = {
    "batch": YES,
    "citations": YES,
    "code_execution": YES,
    "context_management": {"supported": True, "clear_thinking_20251015": YES, "clear_tool_uses_20250919": YES},
    "effort": {"supported": True, "low": YES, "medium": YES, "high": YES, "max": NO},
    "image_input": YES,
    "pdf_input": YES,
    "server_tools": {"supported": True, "code_execution": YES, "web_search": YES},
    "structured_outputs": YES,
    "thinking": {
        "supported": True,
        "types": {"adaptive": NO, "between_tools": YES, "disabled": YES, "enabled": YES},
    },
}
CLAUDE_GROUP = "claude"
CLAUDE_USER = "erin"
CLAUDE_KEY = "sk-test-erin-claude-0000000000000000000000000000000000000"
CLAUDE_LIMITED_KEY = "sk-test-erin-limited-000000000000000000000000000000000000"
CLAUDE_LIMITED_MODELS = ["gemini-2.5-pro", "claude-opus-4-1", "o1-pro"]
DIALECT_CATALOG: dict[str, dict[str, Any] | None] = {
    "claude-opus-4-1": {
        "owned_by": "anthropic",
        "created": 1754352000,
        "display_name": "Claude Opus 4.1",
        "description": "Anthropic's most capable model",
        "max_input_tokens": 200000,
        "max_tokens": 32000,
        "capabilities": OPUS_CAPABILITIES,
        "lifecycle": "active",
    },
    "claude-3-haiku-20240307": {
        "owned_by": "anthropic",
        "created": 1709769600,
        "display_name": "Claude Haiku 3",
        "max_input_tokens": 200000,
        "max_tokens": 4096,
        "lifecycle": "deprecated",
        "deprecated_at": "2025-10-01T00:00:00Z",
        "retires_at": "2026-04-01T00:00:00Z",
    },
    "claude-2.1": {"owned_by": "anthropic", "created": 1700611200, "lifecycle": "retired"},
    "anthropic/claude-sonnet-4": {"owned_by": "openrouter", "display_name": "Claude Sonnet 4 (OpenRouter)"},
    "gemini-2.5-pro": {
        "owned_by": "google",
        "created": 1750118400,
        "display_name": "Gemini 2.5 Pro",
        "description": "Google's thinking model",
        "max_input_tokens": 1048576,
        "max_tokens": 65536,
    },
    "gpt-4o": {"owned_by": "openai", "created": 1715367049},
    "my-custom": None,  # not in the catalog: every default
}
CLAUDE_IDS = list(DIALECT_CATALOG)

# -- a group larger than any page (issue 18.2): past the dialects' cap (1,000) and their old defaults (20, 50) ------
BIG_GROUP = "big"
BIG_USER = "frank"
BIG_KEY = "sk-test-frank-big-000000000000000000000000000000000000000"
BIG_IDS = [f"model-{i:04d}" for i in range(1234)]
