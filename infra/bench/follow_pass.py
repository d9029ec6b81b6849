"""One follower's passes over a large source, measured from inside its own process (so its memory is the
follower's alone): `python -m infra.bench.follow_pass SOURCE ENDPOINT TABLE --passes N [--server-pid PID]`.

Prints one JSON object: the first (full) pass's time, then per pass at rest its wall time, the follower's CPU, the
bytes the database sent (through a counting relay; none for SQLite, which is read in process), the database
server's CPU (its process tree, from /proc, exited backends included), the rows read, and the process's RSS.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from infra.bench.proxies import tcp_proxy
from infra.bench.world import local_dynamodb
from infra.migrate.follower import Memory, run_pass
from infra.migrate.source import open_source, parse_source
from infra.registry import Registry

TABLES = ("users", "abilities", "tokens")


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and its descendants, reaped children included (utime, stime, cutime, cstime)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rpartition(")")[2].split()
            total += sum(int(f) for f in fields[11:15])
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / ticks


def memory_mb() -> dict[str, float]:
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in {"VmRSS", "VmHWM"}:
            found[name] = int(value.split()[0]) / 1024
    return found


def rows_per_pass(url: Any) -> int:
    with open_source(url) as source:
        return sum(int(next(source.rows(f"SELECT COUNT(*) FROM {table}"))[0]) for table in TABLES)  # noqa: S608


def measure(url: Any, registry: Registry, passes: int, server_pid: int, relay: Any) -> dict[str, Any]:
    memory = Memory()
    started = time.perf_counter()
    first = run_pass(url, registry, memory, source="bench")
    if first.error:
        raise SystemExit(f"the first pass failed: {first.error}")
    result: dict[str, Any] = {"full_seconds": time.perf_counter() - started, "found": first.found}
    samples: dict[str, list[float]] = {"seconds": [], "cpu": [], "bytes": [], "server_cpu": []}
    for _ in range(passes):
        sent = relay.to_client if relay else 0
        server = tree_cpu_seconds(server_pid) if server_pid else 0.0
        cpu, began = time.thread_time(), time.perf_counter()
        report = run_pass(url, registry, memory, source="bench")
        samples["seconds"].append(time.perf_counter() - began)
        samples["cpu"].append(time.thread_time() - cpu)
        samples["bytes"].append((relay.to_client - sent) if relay else 0)
        samples["server_cpu"].append((tree_cpu_seconds(server_pid) - server) if server_pid else 0.0)
        if report.error or report.changes:
            raise SystemExit(f"a pass at rest changed something or failed: {report.error or report.summary}")
    result |= {name: {"median": statistics.median(v), "max": max(v)} for name, v in samples.items()}
    result["rows"] = rows_per_pass(url)
    result["memory_mb"] = memory_mb()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.bench.follow_pass", description=__doc__)
    parser.add_argument("source")
    parser.add_argument("endpoint")
    parser.add_argument("table")
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--server-pid", type=int, default=0)
    args = parser.parse_args(argv)
    client = local_dynamodb(args.endpoint)
    registry = Registry(client, args.table)
    url = parse_source(args.source)
    if url.engine == "sqlite":
        result = measure(url, registry, args.passes, args.server_pid, None)
    else:
        with tcp_proxy(url.host, url.port or 0) as (port, relay):
            relayed = dataclasses.replace(url, host="127.0.0.1", port=port)
            result = measure(relayed, registry, args.passes, args.server_pid, relay)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
