"""uvicorn's `--log-level trace` without the `key` query parameter.

At trace level uvicorn logs every request's ASGI scope, query string included, from a middleware outside the app:
before the app takes `?key=` out of it (handler.web.credentials). The filter below takes it out of the logged copy.
Headers (Authorization, cookies) never appear there: uvicorn logs them as `<...>`.
"""

from __future__ import annotations

import logging
from typing import Any

from handler.web.credentials import QUERY_KEYS, scrub_query_keys

ASGI_LOGGER = "uvicorn.asgi"


def _scrubbed(value: Any) -> Any:
    if isinstance(value, dict) and isinstance(value.get("query_string"), bytes) and "type" in value:
        scope = dict(value)  # the logged copy, never the request's own scope
        scrub_query_keys(scope)
        scope.pop(QUERY_KEYS, None)
        return scope
    return value


def _scrub(record: logging.LogRecord) -> bool:
    if isinstance(record.args, tuple):
        record.args = tuple(_scrubbed(arg) for arg in record.args)
    return True


def scrub_asgi_trace_log() -> None:
    """Install the filter (once): uvicorn's logging setup keeps a logger's filters."""
    logger = logging.getLogger(ASGI_LOGGER)
    if _scrub not in logger.filters:
        logger.addFilter(_scrub)
