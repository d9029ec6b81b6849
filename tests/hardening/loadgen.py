"""A bounded load generator for loopback only: `python -m tests.hardening.loadgen URL --concurrency N --seconds S`.

Workers cycle through a fixed mix of callers (keys, a session, anonymous, bad keys) and check every answer
against the test world: the status, and for a 200 the exact list (or model) that caller must see. Prints one
JSON summary on stdout. Stops by itself when the time is up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from handler.core.sessions import SessionSigner
from tests.support import world


@dataclass(frozen=True)
class Call:
    caller: str
    path: str
    headers: dict[str, str]
    status: int
    ids: tuple[str, ...] = ()  # a 200 list: exactly these ids; a 200 retrieve: this one id

    def verdict(self, status: int, body: bytes) -> str:
        """`ok`, `error` (unexpected status) or `wrong` (a 200 with another caller's answer)."""
        if status != self.status:
            return "error"
        if status != 200:
            return "ok" if json.loads(body)["error"]["message"] else "error"
        document = json.loads(body)
        got = tuple(m["id"] for m in document["data"]) if document["object"] == "list" else (document["id"],)
        return "ok" if got == self.ids else "wrong"


def plan() -> list[Call]:
    def key(name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {world.KEYS[name]}"}

    session = SessionSigner(world.SESSION_SECRET).issue("alice", now=int(time.time()), ttl_seconds=3600)
    near_miss = world.KEYS["full"][:-1] + "9"
    calls = [
        Call(name, "/v1/models", key(name), 200, tuple(world.EXPECTED[name]))
        for name in ("full", "limited", "bob", "empty", "widening")
    ]
    calls += [
        Call("anonymous", "/v1/models", {}, 200, tuple(world.EXPECTED["anonymous"])),
        Call(
            "session:alice",
            "/v1/models",
            {"Cookie": f"modelgate_session={session}"},
            200,
            tuple(world.EXPECTED["session:alice"]),
        ),
        Call("limited", "/v1/models/davinci", key("limited"), 200, ("davinci",)),
        Call("anonymous", "/v1/models/gpt-4o", {}, 404),
        Call("unknown", "/v1/models", {"Authorization": f"Bearer {world.UNKNOWN_KEY}"}, 401),
        Call("near-miss", "/v1/models", {"Authorization": f"Bearer {near_miss}"}, 401),
        Call("disabled", "/v1/models", key("disabled"), 401),
        Call("expired", "/v1/models", key("expired"), 401),
        Call("malformed", "/v1/models", {"Authorization": "Basic c2stdGVzdA=="}, 401),
    ]
    return calls


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    verdicts: Counter[str] = field(default_factory=Counter)
    by_caller: Counter[str] = field(default_factory=Counter)
    exceptions: Counter[str] = field(default_factory=Counter)


class Connection:
    """One keep-alive HTTP/1.1 connection on asyncio streams: far lighter than a pooled client at 50 workers."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        lines = [f"GET {path} HTTP/1.1", f"Host: {self.host}:{self.port}", *(f"{k}: {v}" for k, v in headers.items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        fields = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in head[1:])}
        body = await reader.readexactly(int(fields.get("content-length", "0")))
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return int(head[0].split(" ")[1]), body

    async def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


async def worker(base_url: str, calls: list[Call], offset: int, deadline: float, stats: Stats) -> None:
    address = urlsplit(base_url)
    connection = Connection(address.hostname or "127.0.0.1", address.port or 80)
    index = offset
    while time.monotonic() < deadline:
        call = calls[index % len(calls)]
        index += 1
        started = time.perf_counter()
        try:
            status, body = await asyncio.wait_for(connection.get(call.path, call.headers), timeout=30)
        except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError) as error:
            stats.exceptions[type(error).__name__] += 1
            stats.verdicts["error"] += 1
            await connection.close()
            continue
        stats.latencies.append(time.perf_counter() - started)
        stats.verdicts[call.verdict(status, body)] += 1
        stats.by_caller[call.caller] += 1
    await connection.close()


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))] if sorted_values else 0.0


async def run(base_url: str, concurrency: int, seconds: float) -> dict[str, object]:
    calls = plan()
    stats = Stats()
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(*(worker(base_url, calls, n, deadline, stats) for n in range(concurrency)))
    elapsed = time.monotonic() - started
    latencies = sorted(stats.latencies)
    return {
        "requests": sum(stats.verdicts.values()),
        "seconds": round(elapsed, 2),
        "rps": round(sum(stats.verdicts.values()) / elapsed, 1),
        "ok": stats.verdicts["ok"],
        "errors": stats.verdicts["error"],
        "wrong_lists": stats.verdicts["wrong"],
        "exceptions": dict(stats.exceptions),
        "by_caller": dict(sorted(stats.by_caller.items())),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "max_ms": round((latencies[-1] if latencies else 0.0) * 1000, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("base_url")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    options = parser.parse_args(argv)
    if urlsplit(options.base_url).hostname not in {"127.0.0.1", "localhost", "::1"}:
        parser.error("load is only ever sent to loopback")
    if not 0 < options.seconds <= 120 or not 0 < options.concurrency <= 200:
        parser.error("bounded: at most 120 s and 200 workers")
    summary = asyncio.run(run(options.base_url, options.concurrency, options.seconds))
    json.dump(summary, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
