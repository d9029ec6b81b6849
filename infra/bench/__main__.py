"""The performance benchmark (`infra/dev bench`): every figure printed beside a baseline measured in the same run,
with the ratio and the issue's target. Everything runs on this machine: moto's server on loopback stands in for
DynamoDB, so request counts are exact and DynamoDB latencies are not."""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from infra.bench import artifact, brownout, churn, cold, dialects, follow, revocation, roundtrips, throughput, warm
from infra.bench.report import Report
from infra.bench.world import SESSION_SECRET, BenchWorld, local_dynamodb, populate
from infra.local.embedded import EmbeddedDynamoDB

FIGURES = ("warm", "requests", "revocation", "churn", "cold", "artifact", "http", "dialects", "brownout", "follow")
# What a plain run measures: `follow` (about 10 min, three database engines) only when asked for with --only.
DEFAULT_FIGURES = tuple(name for name in FIGURES if name != "follow")
WITHOUT_TABLES = {"artifact", "brownout", "follow"}  # figures that bring their own engines
REGION = "us-east-1"
SIZES = (100, 5_000)
CATALOG_SIZE = 10_000


def lambda_environment(endpoint_url: str, table: str) -> dict[str, str]:
    """What the deployed function's environment would hold, pointed at the local DynamoDB."""
    return {
        "TABLE_NAME": table,
        "DYNAMODB_ENDPOINT_URL": endpoint_url,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "SESSION_SECRET": SESSION_SECRET,
        # Long enough that no container revalidates while a figure is being measured (the revalidation figure sets
        # its own).
        "REVALIDATE_SECONDS": "3600",
        # EMF metrics on, as deployed (template.yaml); warm.py measures them on against off.
        "METRICS_NAMESPACE": "modelgate/bench",
    }


class LambdaJsonFormatter(logging.Formatter):
    """What the runtime writes for each record with LogFormat JSON (template.yaml): the record's fields and extras."""

    RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "timestamp": self.formatTime(record, "%Y-%m-%dT%H:%M:%SZ"),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "requestId": "bench-0000",
            **{key: value for key, value in vars(record).items() if key not in self.RESERVED},
        }
        return json.dumps(document, default=str, ensure_ascii=False)


def lambda_logging() -> None:
    """Lambda's runtime gives the root logger a JSON handler; give it one too, so the request log costs the same."""
    if any(isinstance(handler.formatter, LambdaJsonFormatter) for handler in logging.getLogger().handlers):
        return
    stream = open(os.devnull, "w")  # noqa: SIM115  # lives as long as the process
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LambdaJsonFormatter())
    logging.getLogger().addHandler(handler)


@contextmanager
def bench_tables(catalog_size: int) -> Iterator[tuple[str, BenchWorld, BenchWorld, Any]]:
    """moto's server with two tables: the big world, and one holding only the smallest group. moto's Query reads its
    whole table (DynamoDB's reads one partition), so figures that time DynamoDB calls use the small one."""
    with EmbeddedDynamoDB() as engine:
        client = local_dynamodb(engine.endpoint_url, REGION)
        started = time.perf_counter()
        world = populate(client, "modelgate-bench", catalog_size=catalog_size, sizes=SIZES)
        small = populate(client, "modelgate-bench-small", catalog_size=min(SIZES), sizes=(min(SIZES),))
        # moto's copy of the table lives in this process: keep the collector from walking it during measurements
        # (a Lambda's heap holds only the function).
        gc.collect()
        gc.freeze()
        print(
            f"moto server at {engine.endpoint_url}: {len(world.catalog):,} catalog models, groups of "
            f"{', '.join(f'{s:,}' for s in SIZES)} written in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        yield engine.endpoint_url, world, small, client


def run_with_tables(report: Report, only: set[str], *, quick: bool) -> None:
    # --quick writes only the catalog models the groups name; the function reads group views, never the catalog.
    with bench_tables(max(SIZES) if quick else CATALOG_SIZE) as (endpoint_url, world, small, client):
        env = lambda_environment(endpoint_url, world.table)
        small_env = {**os.environ, **env, "TABLE_NAME": small.table}
        os.environ.update(env)
        if "warm" in only:
            lambda_logging()
            entry = importlib.import_module("handler.main")
            full_keys = {size: world.keys[size]["a"] for size in SIZES}
            entry.service.metrics.write = open(os.devnull, "w").write  # noqa: SIM115  # as the logs: not the report
            warm.run(report, entry.handler, entry.service.store.client, full_keys, entry.service.metrics, quick=quick)
        if "requests" in only:
            roundtrips.run(report, env, world, client)
        if "revocation" in only:
            revocation.run(report, endpoint_url, quick=quick)
        if "churn" in only:
            churn.run(report, endpoint_url, quick=quick)
        if "cold" in only:
            cold.run(report, endpoint_url, small.table, small.keys[min(SIZES)]["a"], quick=quick)
        if "artifact" in only:
            artifact.run(report, quick=quick)
        if "http" in only:
            throughput.run(report, small_env, small, quick=quick)
        if "dialects" in only:
            dialects.run(report, env, world, client, quick=quick)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="infra/dev bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations, no artifact build (about 40 s)")
    parser.add_argument(
        "--only",
        default=",".join(DEFAULT_FIGURES),
        help=f"comma-separated subset of {','.join(FIGURES)} (default: all but follow)",
    )
    parser.add_argument("--trials", type=int, help="follow: trials of each change (default 20, --quick 5)")
    args = parser.parse_args(argv)
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = only - set(FIGURES)
    if unknown:
        parser.error(f"unknown figure(s): {', '.join(sorted(unknown))}")
    report = Report()
    print(f"modelgate benchmark: Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    started = time.perf_counter()
    if only == {"churn"}:  # its own tables only: the big world is not needed
        with EmbeddedDynamoDB() as engine:
            churn.run(report, engine.endpoint_url, quick=args.quick)
    elif only - WITHOUT_TABLES:
        run_with_tables(report, only, quick=args.quick)
    elif "artifact" in only:
        artifact.run(report, quick=args.quick)
    if "brownout" in only:  # its own engine, in a process it can stop
        lambda_logging()
        brownout.run(report, quick=args.quick)
    if "follow" in only:
        follow.run(report, quick=args.quick, trials=args.trials)
    report.summary()
    print(f"\nbenchmark took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
