"""The load generator of figure 5, run as its own process: keep-alive HTTP/1.1 GETs on loopback from N concurrent
connections for a fixed time, after a warm-up. Prints one JSON line: requests, errors, seconds, rps, p50, p99, and
`unanswered`: requests still waiting `--grace` seconds after the time is up, which are abandoned (a server that
stalls cannot hold the benchmark).

    python -m infra.bench.load --port 8000 --path /v1/models --header "Authorization: Bearer sk-..." --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from infra.bench.stats import summarize


async def _connection(port: int, request: bytes, *, until: float, warm_until: float, out: list[int]) -> int:
    """Send `request` over one connection until `until`; latencies after `warm_until` go to `out`. The errors."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    errors = 0
    clock = time.perf_counter_ns
    try:
        while True:
            start = clock()
            if start >= until:
                return errors
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = head[9:12]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            if status != b"200":
                errors += 1
            if start >= warm_until:
                out.append(clock() - start)
    finally:
        writer.close()


async def _run(args: argparse.Namespace) -> dict[str, float]:
    lines = [f"GET {args.path} HTTP/1.1", f"Host: 127.0.0.1:{args.port}", *args.header, "", ""]
    request = "\r\n".join(lines).encode()
    start = time.perf_counter_ns()
    warm_until = start + int(args.warmup * 1e9)
    until = warm_until + int(args.seconds * 1e9)
    latencies: list[int] = []
    connections = [
        asyncio.ensure_future(_connection(args.port, request, until=until, warm_until=warm_until, out=latencies))
        for _ in range(args.connections)
    ]
    done, pending = await asyncio.wait(connections, timeout=args.warmup + args.seconds + args.grace)
    for connection in pending:
        connection.cancel()
    timing = summarize(latencies or [0])
    return {
        "requests": len(latencies),
        "errors": sum(connection.result() for connection in done),
        "unanswered": len(pending),
        "seconds": args.seconds,
        "rps": len(latencies) / args.seconds,
        "p50_ns": timing.median_ns,
        "p99_ns": timing.p99_ns,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.bench.load")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/v1/models")
    parser.add_argument("--header", action="append", default=[], help="a request header, `Name: value`")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--grace", type=float, default=5.0, help="how long to wait for answers after the time is up")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(_run(args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
