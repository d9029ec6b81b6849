"""Every credential a request presents, on any route, gathered into the core's one Credentials value.

A key may come as `Authorization: Bearer`, `x-api-key`, `x-goog-api-key` or `?key=`. The query key is taken out
of the scope's query string as the request arrives (scrub_query_keys), so no access log, span, error or later
reader of the URL ever sees it.
"""

from __future__ import annotations

from urllib.parse import unquote_plus

from starlette.types import Scope

from handler.core.callers import Credentials

KEY_PARAMETER = "key"
KEY_HEADERS = frozenset({b"x-api-key", b"x-goog-api-key"})
QUERY_KEYS = "modelgate.query_keys"  # the scope entry holding the `key` values taken out of the query string
REDACTED = b"key=REDACTED"


def scrub_query_keys(scope: Scope) -> None:
    """Moves every `key` query parameter out of the query string, into the scope's QUERY_KEYS entry.

    The app calls this first thing (handler.web.app.ModelGate), outside every middleware, so that nothing which
    wraps FastAPI's own stack (OpenTelemetry's FastAPI instrumentation, an access log) reads the key."""
    query: bytes = scope.get("query_string", b"")
    if query and scope["type"] == "http" and QUERY_KEYS not in scope:
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


def scrub_url_text(text: str) -> str:
    """A URL, a target or a query string as telemetry records it, with every `key` parameter's value REDACTED."""
    head, mark, query = text.partition("?")  # the first `?`: a key may hold another
    if not mark:
        head, query = "", text
    pairs = query.split("&")
    for i, pair in enumerate(pairs):
        name, equals, _ = pair.partition("=")
        if equals and unquote_plus(name) == KEY_PARAMETER:
            pairs[i] = REDACTED.decode()
    return head + mark + "&".join(pairs)


def has_query_key(scope: Scope) -> bool:
    return QUERY_KEYS in scope


def credentials(scope: Scope) -> Credentials:
    """One pass over the raw headers: the Authorization values, the other keys, the cookies, and the peer."""
    authorization: list[str] = []
    keys: list[str] = list(scope.get(QUERY_KEYS, ()))
    cookies: list[str] = []
    forwarded: list[str] = []
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization.append(value.decode("latin-1"))
        elif name in KEY_HEADERS:
            keys.append(value.decode("latin-1"))
        elif name == b"cookie":
            cookies.append(value.decode("latin-1"))
        elif name == b"x-forwarded-for":
            forwarded.append(value.decode("latin-1"))
    return Credentials(tuple(authorization), tuple(keys), "; ".join(cookies) or None, _peer(scope, forwarded))


def _peer(scope: Scope, forwarded: list[str]) -> str | None:
    """The address the request came from. API Gateway and Function URLs give it (Mangum's `client`), uvicorn
    takes it from the socket. Behind an ALB, Mangum takes X-Forwarded-For whole, whose first values the client
    writes: the load balancer appends the address it took the connection from, so the peer is the last value."""
    event = scope.get("aws.event")
    if isinstance(event, dict) and "elb" in (event.get("requestContext") or {}):
        values = [v.strip() for v in ",".join(forwarded).split(",") if v.strip()]
        return values[-1] if values else None
    client = scope.get("client")
    return client[0] if client else None
