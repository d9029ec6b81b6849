"""Every credential a request presents, on any route, gathered into the core's one Credentials value.

A key may come as `Authorization: Bearer`, `x-api-key`, `x-goog-api-key` or `?key=`. The query key is taken out
of the scope's query string as the request arrives (QueryKeyScrub), so no access log, error or later reader of
the URL ever sees it.
"""

from __future__ import annotations

from urllib.parse import unquote_plus

from starlette.types import ASGIApp, Receive, Scope, Send

from handler.core.callers import Credentials

KEY_PARAMETER = "key"
KEY_HEADERS = frozenset({b"x-api-key", b"x-goog-api-key"})
QUERY_KEYS = "modelgate.query_keys"  # the scope entry holding the `key` values taken out of the query string
REDACTED = b"key=REDACTED"


class QueryKeyScrub:
    """Moves every `key` query parameter out of the query string, before anything else reads or logs it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query: bytes = scope.get("query_string", b"")
        if query and scope["type"] == "http":
            kept, taken = [], []
            for pair in query.split(b"&"):
                name, _, value = pair.partition(b"=")
                if unquote_plus(name.decode("latin-1")) == KEY_PARAMETER:
                    taken.append(unquote_plus(value.decode("latin-1"), encoding="utf-8", errors="replace"))
                    kept.append(REDACTED)
                else:
                    kept.append(pair)
            if taken:
                scope["query_string"] = b"&".join(kept)  # the same dict uvicorn's access log reads
                scope[QUERY_KEYS] = tuple(taken)
        await self.app(scope, receive, send)


def has_query_key(scope: Scope) -> bool:
    return QUERY_KEYS in scope


def credentials(scope: Scope) -> Credentials:
    """One pass over the raw headers: the Authorization values, the other keys, the cookies, and the peer."""
    authorization: list[str] = []
    keys: list[str] = list(scope.get(QUERY_KEYS, ()))
    cookies: list[str] = []
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization.append(value.decode("latin-1"))
        elif name in KEY_HEADERS:
            keys.append(value.decode("latin-1"))
        elif name == b"cookie":
            cookies.append(value.decode("latin-1"))
    client = scope.get("client")
    return Credentials(
        tuple(authorization),
        tuple(keys),
        "; ".join(cookies) or None,
        client[0] if client else None,
    )
