"""Loopback proxies that count what crosses them, for figures about another process: the DynamoDB requests a
follower sends (by operation, its status record apart), and the bytes a database sends a reader."""

from __future__ import annotations

import http.client
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from infra.local.embedded import free_port

STATUS_MARK = b'"FOLLOWERS"'  # the status record's partition key, in a BatchWriteItem body


class DynamoDBCounter:
    """Requests by operation (X-Amz-Target), and the status record's writes counted apart."""

    def __init__(self) -> None:
        self.operations: Counter[str] = Counter()
        self.status_writes = 0
        self._lock = threading.Lock()

    def count(self, operation: str, body: bytes) -> None:
        with self._lock:
            self.operations[operation] += 1
            if operation == "BatchWriteItem" and STATUS_MARK in body:
                self.status_writes += 1

    def snapshot(self) -> tuple[Counter[str], int]:
        with self._lock:
            return Counter(self.operations), self.status_writes


@contextmanager
def dynamodb_proxy(endpoint: str) -> Iterator[tuple[str, DynamoDBCounter]]:
    """An HTTP proxy on loopback in front of `endpoint`: its URL, and what it counted."""
    counter = DynamoDBCounter()
    target = urlsplit(endpoint)

    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            counter.count(self.headers.get("X-Amz-Target", "").rpartition(".")[2], body)
            upstream = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in {"connection", "host"}}
                upstream.request("POST", self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in {"connection", "transfer-encoding", "content-length"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            finally:
                upstream.close()

        def log_message(self, *_: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Forward)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", counter
    finally:
        server.shutdown()
        server.server_close()


class ByteCounter:
    def __init__(self) -> None:
        self.to_client = 0
        self.to_server = 0
        self._lock = threading.Lock()

    def add(self, *, to_client: int = 0, to_server: int = 0) -> None:
        with self._lock:
            self.to_client += to_client
            self.to_server += to_server


@contextmanager
def tcp_proxy(host: str, port: int) -> Iterator[tuple[int, ByteCounter]]:
    """A TCP relay on loopback to host:port: its port, and the bytes each way."""
    counter = ByteCounter()
    listener = socket.create_server(("127.0.0.1", 0))
    stopping = threading.Event()

    def pump(source: socket.socket, sink: socket.socket, *, to_client: bool) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
                if to_client:
                    counter.add(to_client=len(data))
                else:
                    counter.add(to_server=len(data))
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def accept() -> None:
        while not stopping.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection((host, port))
            threading.Thread(target=pump, args=(client, server), kwargs={"to_client": False}, daemon=True).start()
            threading.Thread(target=pump, args=(server, client), kwargs={"to_client": True}, daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], counter
    finally:
        stopping.set()
        listener.close()
