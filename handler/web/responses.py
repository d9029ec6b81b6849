"""A rendered Document as an HTTP response: strong ETag, 304s, private caching and gzip when it pays."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from handler.core.listing import Document
from handler.web.requestlog import log_request

# Everything that picks the answer: the credential wherever it travels, the dialect, and the encoding.
VARY = "Authorization, X-Api-Key, X-Goog-Api-Key, Anthropic-Version, Cookie, Accept-Encoding"


def _accepts_gzip(accept_encoding: str) -> bool:
    for part in accept_encoding.lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in {"gzip", "*"}:
            q = params.strip()
            return not q.startswith("q=") or q[2:].strip() not in {"0", "0.0", "0.00", "0.000"}
    return False


def _matches(if_none_match: str, etag: str) -> bool:
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in tags or "*" in tags


def document_response(request: Request, document: Document, *, max_age: int, gzip_min_bytes: int) -> Response:
    gzipped = len(document.body) >= gzip_min_bytes and _accepts_gzip(request.headers.get("accept-encoding", ""))
    # A strong ETag names one representation, so the gzip form gets its own.
    etag = document.etag[:-1] + '-gzip"' if gzipped else document.etag
    headers = {
        "ETag": etag,
        "Cache-Control": f"private, max-age={max_age}",
        "Vary": VARY,
    }
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and _matches(if_none_match, etag):
        log_request(request, 304)
        return Response(status_code=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    body = document.gzipped() if gzipped else document.body
    if request.method == "HEAD":  # GET's headers, no body: uvicorn drops it, but Mangum would return it
        headers["Content-Length"] = str(len(body))
        body = b""
    log_request(request, 200)
    return Response(body, media_type="application/json", headers=headers)
