"""An in-memory DynamoDB on loopback: moto's server in a thread. No Docker, no AWS account."""

from __future__ import annotations

import logging
import socket
from types import TracebackType


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class EmbeddedDynamoDB:
    """`with EmbeddedDynamoDB() as db: db.endpoint_url` - other processes (the CLI) can reach it too."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        from moto.server import ThreadedMotoServer  # noqa: PLC0415  # moto is heavy; only serve needs it

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per DynamoDB call otherwise

        self.host = host
        self.port = port or free_port(host)
        self._server = ThreadedMotoServer(ip_address=host, port=self.port, verbose=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> EmbeddedDynamoDB:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> EmbeddedDynamoDB:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
