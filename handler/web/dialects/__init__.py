"""The dialects: each API family's shapes in one small module, and the one function that picks which answers.

Which dialect answers (issues 9, 18): a `client_version` query parameter on a list route means Codex's catalog;
then `/v1beta/openai/...` is OpenAI; any other `/v1beta/...` is Gemini; elsewhere an
`anthropic-version` header means Anthropic, then an `x-goog-api-key` header or a `key` query parameter means
Gemini; anything else is OpenAI, byte for byte as before. A new dialect is a module beside these and one rule.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import Scope

from handler.web.credentials import has_query_key
from handler.web.dialects import anthropic, codex, gemini, openai
from handler.web.dialects.base import BadRequest, Dialect, Problem


def _has_header(scope: Scope, name: bytes) -> bool:
    return any(key == name for key, _ in scope["headers"])


# The first rule that holds picks the dialect.
RULES: tuple[tuple[Callable[[Scope], bool], Dialect], ...] = (
    (codex.asks_for_catalog, codex.DIALECT),
    (lambda scope: scope["path"].startswith("/v1beta/openai/"), openai.DIALECT),
    (lambda scope: scope["path"].startswith("/v1beta/"), gemini.DIALECT),
    (lambda scope: _has_header(scope, b"anthropic-version"), anthropic.DIALECT),
    (lambda scope: _has_header(scope, b"x-goog-api-key") or has_query_key(scope), gemini.DIALECT),
)


def dialect_for(scope: Scope) -> Dialect:
    for applies, dialect in RULES:
        if applies(scope):
            return dialect
    return openai.DIALECT


__all__ = ["BadRequest", "Dialect", "Problem", "dialect_for"]
