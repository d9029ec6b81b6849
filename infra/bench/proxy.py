"""A TCP proxy on loopback in front of a DynamoDB engine, which hangs or drops connections on demand.

The brownout benchmark and tests put it between the function's client and a real engine (moto's server): `hang`
behaves as an engine whose process is stopped (connections accepted, requests swallowed, nothing answered), `drop`
as one that closes every connection as soon as it is sent to. It counts the HTTP requests that reach it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class FaultProxy:
    """A TCP proxy on loopback in front of a real engine, switched between `pass`, `hang` (the
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

    def cut(self) -> None:
        """Close every connection open now (a held request gets its connection dropped); new ones are accepted."""
        with self._lock:
            ends, self._sockets = self._sockets, []
        for end in ends:
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def close(self) -> None:
        self._listener.close()
        self.cut()


@contextmanager
def fault_proxy(upstream_url: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream_url)
    try:
        yield proxy
    finally:
        proxy.close()
