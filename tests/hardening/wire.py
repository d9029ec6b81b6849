"""One request, sent three ways (API Gateway v2 and v1 events through the Lambda entry, and HTTP), one reply shape.

Over HTTP, httpx sends what it can; a raw socket sends what httpx would refuse or rewrite (`..` segments,
non-ASCII or control bytes in headers, two Authorization headers in a fixed order, a body on a GET).
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.support.events import api_event, invoke

MANGUM_KINDS = ("http-api-v2", "rest-api-v1")
TRANSPORTS = (*MANGUM_KINDS, "http")


@dataclass(frozen=True)
class Request:
    method: str = "GET"
    path: str = "/v1/models"
    headers: tuple[tuple[str, str], ...] = ()  # in order; a name may repeat
    cookies: tuple[str, ...] = ()  # `name=value` pairs, or malformed fragments, as a browser would join them
    query: str = ""
    body: str = ""

    def header_lists(self) -> dict[str, str | list[str]]:
        grouped: dict[str, list[str]] = {}
        for name, value in self.headers:
            grouped.setdefault(name.lower(), []).append(value)
        return {name: values[0] if len(values) == 1 else values for name, values in grouped.items()}


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes = field(repr=False)

    def json(self) -> Any:
        return json.loads(self.body)


def via_lambda(entry: Any, kind: str, request: Request) -> Reply:
    event = api_event(
        kind,
        request.path,
        method=request.method,
        headers=request.header_lists(),
        cookies=list(request.cookies) or None,
        query=request.query,
        body=request.body or None,
    )
    response = invoke(entry, event)
    return Reply(response.status, response.headers, response.body)


def _needs_raw(request: Request) -> bool:
    names = [name.lower() for name, _ in request.headers]
    text = request.path + "".join(value for _, value in request.headers) + "".join(request.cookies)
    return (
        "/." in request.path
        or len(names) != len(set(names))
        or any(value != value.strip() for _, value in request.headers)
        or any(not 0x20 <= ord(char) < 0x7F for char in text)
        or (bool(request.body) and request.method in {"GET", "HEAD"})
    )


def via_http(base_url: str, request: Request) -> Reply:
    if _needs_raw(request):
        return raw_http(base_url, request)
    headers = list(request.headers)
    if request.cookies:
        headers.append(("cookie", "; ".join(request.cookies)))
    url = base_url + request.path + (f"?{request.query}" if request.query else "")
    response = httpx.request(request.method, url, headers=headers, content=request.body or None, timeout=10)
    return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)


def raw_http(base_url: str, request: Request) -> Reply:
    """HTTP/1.1 on a socket, byte for byte as given (UTF-8), `Connection: close`, reply read to EOF."""
    address = urlsplit(base_url)
    assert address.hostname is not None
    assert address.port is not None
    target = request.path + (f"?{request.query}" if request.query else "")
    lines = [f"{request.method} {target} HTTP/1.1", f"Host: {address.hostname}:{address.port}"]
    lines += [f"{name}: {value}" for name, value in request.headers]
    if request.cookies:
        lines.append("Cookie: " + "; ".join(request.cookies))
    body = request.body.encode()
    if body:
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    payload = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(payload)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    head, _, content = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Reply(int(status_line.split(" ")[1]), headers, content)


def send(transport: str, request: Request, *, entry: Any, base_url: str) -> Reply:
    if transport == "http":
        return via_http(base_url, request)
    return via_lambda(entry, transport, request)
