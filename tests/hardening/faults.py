"""Faults at the DynamoDB client: AWS error responses and transport failures from a botocore hook, sockets that
refuse or never answer, and a proxy in front of a real engine that can hang or drop its connections."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
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


class StoreProxy:
    """A TCP proxy on loopback in front of a real engine, which the test switches between `pass`, `hang` (the
    engine's process stopped: connections are accepted, requests swallowed, nothing answered) and `drop` (every
    connection closed as soon as it sends). `requests` counts the HTTP requests that reached it, in any mode."""

    def __init__(self, upstream_url: str) -> None:
        host, _, port = upstream_url.removeprefix("http://").partition(":")
        self._upstream = (host, int(port))
        self.mode = "pass"
        self.requests = 0
        self.held = threading.Semaphore(0)  # released once per request swallowed while hanging
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._upstream)
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, outbound: bool) -> None:
        with suppress(OSError):
            while chunk := source.recv(65536):
                if outbound:
                    with self._lock:
                        self.requests += chunk.count(b"POST / HTTP/1.1\r\n")
                    if self.mode == "drop":
                        break
                    if self.mode == "hang":
                        self.held.release()
                        continue
                sink.sendall(chunk)
        for end in (source, sink):
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            for end in self._sockets:
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()


@contextmanager
def store_proxy(upstream_url: str) -> Iterator[StoreProxy]:
    proxy = StoreProxy(upstream_url)
    try:
        yield proxy
    finally:
        proxy.close()
