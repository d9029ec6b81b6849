"""CORS for browser clients, as a plain ASGI middleware.

Any origin in `allow_origins` (or `*`) may read responses; the key travels in a header (Authorization, x-api-key,
x-goog-api-key) or the URL, so no ambient credential is exposed. Cookies (`Access-Control-Allow-Credentials`)
are allowed only for origins listed one by one in `credential_origins`, never for `*`. Preflights are answered
here, without a key.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handler.core.listing import to_json

ALLOWED_METHODS = b"GET, HEAD, OPTIONS"
# What the OpenAI, Anthropic and Google clients send; a preflight that names its headers gets those echoed.
DEFAULT_ALLOWED_HEADERS = (
    b"Authorization, Content-Type, OpenAI-Organization, OpenAI-Project, x-api-key, anthropic-version, "
    b"anthropic-beta, anthropic-dangerous-direct-browser-access, x-goog-api-key, x-goog-api-client"
)
EXPOSED_HEADERS = b"ETag, Retry-After"
PREFLIGHT_MAX_AGE = b"600"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


class CorsMiddleware:
    def __init__(self, app: ASGIApp, *, allow_origins: tuple[str, ...], credential_origins: tuple[str, ...]) -> None:
        self.app = app
        self._any = "*" in allow_origins
        self._origins = frozenset(o.encode() for o in allow_origins if o != "*")
        self._credentialed = frozenset(o.encode() for o in credential_origins)

    def _grant(self, origin: bytes) -> list[tuple[bytes, bytes]] | None:
        """The headers that let `origin` read the response, or None when it may not."""
        if origin in self._credentialed:
            return [(b"access-control-allow-origin", origin), (b"access-control-allow-credentials", b"true")]
        if origin in self._origins:
            return [(b"access-control-allow-origin", origin)]
        if self._any:
            return [(b"access-control-allow-origin", b"*")]
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = _header(scope, b"origin") if scope["type"] == "http" else None
        if origin is None:
            await self.app(scope, receive, send)
            return
        grant = self._grant(origin)
        requested_method = _header(scope, b"access-control-request-method")
        if scope["method"] == "OPTIONS" and requested_method is not None:
            await self._preflight(scope, send, grant)
            return
        if grant is None:
            await self.app(scope, receive, send)
            return

        async def send_with_grant(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"vary"]
                vary = [v for k, v in message.get("headers", []) if k.lower() == b"vary"]
                headers.append((b"vary", b", ".join([*vary, b"Origin"])))
                headers.extend(grant)
                headers.append((b"access-control-expose-headers", EXPOSED_HEADERS))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_grant)

    async def _preflight(self, scope: Scope, send: Send, grant: list[tuple[bytes, bytes]] | None) -> None:
        if grant is None:
            body = to_json(
                {
                    "error": {
                        "message": "This origin is not allowed to call this service.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "origin_not_allowed",
                    }
                }
            )
            headers = [(b"content-type", b"application/json"), (b"vary", b"Origin")]
            await send({"type": "http.response.start", "status": 403, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        requested_headers = _header(scope, b"access-control-request-headers")
        headers = [
            *grant,
            (b"access-control-allow-methods", ALLOWED_METHODS),
            (b"access-control-allow-headers", requested_headers or DEFAULT_ALLOWED_HEADERS),
            (b"access-control-max-age", PREFLIGHT_MAX_AGE),
            (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
