"""Faults at the DynamoDB client: AWS error responses from a botocore hook, and sockets that refuse or never answer."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders

# The HTTP status DynamoDB answers each error code with.
ERROR_STATUS = {
    "ProvisionedThroughputExceededException": 400,
    "ThrottlingException": 400,
    "InternalServerError": 500,
}


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def lookup_of(request: AWSPreparedRequest) -> str:
    """Which of the function's lookups a DynamoDB request is: token, user, group, or the change marker alone (a
    token's or a user's TransactGetItems carries the marker too, and counts as the token's or the user's)."""
    target = dict(request.headers).get("X-Amz-Target", b"")
    operation = (target.decode() if isinstance(target, bytes) else str(target)).rpartition(".")[2]
    body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
    if operation == "Query":
        return "group"
    if b'"TOKEN#' in body:
        return "token"
    if b'"USER#' in body:
        return "user"
    return "marker" if b'"CHANGES"' in body else operation


class InjectedErrors:
    """A `before-send` hook on a client: the chosen lookups get DynamoDB's error response instead of the table's
    answer, so botocore parses and retries them exactly as it would a real throttle or server error."""

    def __init__(self, client: Any) -> None:
        self.code: str | None = None
        self.lookups: frozenset[str] = frozenset()
        self.times: int | None = None  # None: every matching attempt
        self.injected = 0  # every attempt answered with an error, retries included
        self.client = client
        client.meta.events.register_first("before-send.dynamodb", self._answer)

    def fail(self, code: str | None, *lookups: str, times: int | None = None) -> None:
        self.code, self.lookups, self.times = code, frozenset(lookups), times

    def _answer(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        code = self.code
        if code is None or lookup_of(request) not in self.lookups:
            return None
        self.injected += 1
        if self.times is not None:
            self.times -= 1
            if self.times == 0:
                self.code = None
        body = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected fault"}
        headers = HTTPHeaders.from_dict({"x-amzn-RequestId": "injected", "Content-Type": "application/x-amz-json-1.0"})
        return AWSResponse(request.url, ERROR_STATUS[code], headers, _Body(json.dumps(body).encode()))


@contextmanager
def closed_port() -> Iterator[str]:
    """An endpoint on loopback where nothing listens: every connect is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    yield f"http://127.0.0.1:{port}"


@contextmanager
def silent_listener() -> Iterator[str]:
    """An endpoint on loopback that accepts connections (the kernel's backlog does) and never answers a byte."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
