"""Faults at the DynamoDB client: AWS error responses and transport failures from a botocore hook, and sockets that
refuse or never answer. (A proxy in front of a real engine that hangs or drops connections: infra/bench/proxy.py.)"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import ConnectionClosedError, ConnectTimeoutError, ReadTimeoutError

from handler.store.budget import CONNECT_TIMEOUT, READ_TIMEOUT

# The HTTP status DynamoDB answers each error code with.
ERROR_STATUS = {
    "ProvisionedThroughputExceededException": 400,
    "ThrottlingException": 400,
    "InternalServerError": 500,
}
# Transport failures, and how long each takes the client's attempt: a hung store (the process stopped, its socket
# still accepting) costs the read timeout; a closed or reset connection costs nothing.
TRANSPORT = {
    "ReadTimeoutError": (ReadTimeoutError, READ_TIMEOUT),
    "ConnectTimeoutError": (ConnectTimeoutError, CONNECT_TIMEOUT),
    "ConnectionClosedError": (ConnectionClosedError, 0.0),
}


class Clock:
    """A monotonic clock the test moves. Injected transport faults move it by what they would take."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


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
    """A `before-send` hook on a client: the chosen lookups get DynamoDB's error response (or a transport failure,
    TRANSPORT) instead of the table's answer, so botocore parses and retries them exactly as it would a real
    throttle, server error, timeout or dropped connection. `clock`, when given, moves by what a failure takes."""

    def __init__(self, client: Any, clock: Clock | None = None) -> None:
        self.code: str | None = None
        self.lookups: frozenset[str] = frozenset()
        self.times: int | None = None  # None: every matching attempt
        self.injected = 0  # every attempt answered with an error, retries included
        self.client = client
        self.sent = 0  # every attempt the client made, answered or not: the store requests
        self.clock = clock
        client.meta.events.register_first("before-send.dynamodb", self._answer)

    def fail(self, code: str | None, *lookups: str, times: int | None = None) -> None:
        self.code, self.lookups, self.times = code, frozenset(lookups), times

    def _answer(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        self.sent += 1
        code = self.code
        if code is None or lookup_of(request) not in self.lookups:
            return None
        self.injected += 1
        if self.times is not None:
            self.times -= 1
            if self.times == 0:
                self.code = None
        if code in TRANSPORT:
            failure, takes = TRANSPORT[code]
            if self.clock is not None:
                self.clock.now += takes
            raise failure(endpoint_url=request.url)
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
