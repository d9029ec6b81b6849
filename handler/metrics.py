"""CloudWatch metrics in Embedded Metric Format (EMF): counted in the container, written a few records a minute.

A log record per call costs about a third of a warm call, so nothing is written per request: each call bumps a
few counters, and the counts go out as EMF records at most once every `interval` seconds, on the first request
after it (between requests Lambda freezes the container, so no timer could fire), and at shutdown when Lambda
says so (it sends SIGTERM only to functions that have an extension; handler/main.py). CloudWatch Logs turns the
records into metrics; no API call, no extra IAM grant.

Dimensions are bounded labels only: the dialect, the caller kind (key, session, anonymous, or none when the
request was refused before a caller was known) and the status code. Never a key, cookie, token or user id, and
never a model id (a catalog of 10,000 models would make 10,000 metrics).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar, Token

REQUEST_DIMENSIONS = ("Dialect", "Caller", "Status")
# What one record of the store's counters holds: metric name -> attribute.
STORE_METRICS = {
    "CacheHits": "cache_hits",
    "CacheMisses": "cache_misses",
    "DynamoDBRequests": "dynamodb_requests",
    "DynamoDBErrors": "dynamodb_errors",
    "StoreFaults": "store_faults",
}
# Lambda's log-level filter keeps a JSON line by its "level" (INFO when missing): records carry the function's
# own level so that LogLevel=WARN or ERROR cannot drop them.
_LAMBDA_LEVELS = {"WARNING": "WARN", "CRITICAL": "FATAL"}
# The lookups of a request's attempt on the event loop, held apart until it answers (handler/web/app.py): one that
# must read the store runs again on a worker thread and counts them there. A worker thread never sees them (asyncio's
# run_in_executor does not carry the context over), so its own lookups always count at once.
_HELD: ContextVar[list[int] | None] = ContextVar("modelgate_held_lookups", default=None)


def _stdout(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Metrics:
    """The container's counters. `enabled=False` counts nothing and writes nothing (local serve, tests).

    Under `serve` a worker thread counts store reads and lookups while the event loop counts requests: what both
    may touch, they touch under a lock."""

    def __init__(
        self,
        namespace: str,
        *,
        enabled: bool = True,
        interval: float = 60.0,
        level: str = "INFO",
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        write: Callable[[str], None] = _stdout,
    ) -> None:
        self.namespace = namespace
        self.enabled = enabled
        self.interval = interval
        self.level = _LAMBDA_LEVELS.get(level.upper(), level.upper())
        self._clock = clock
        self._wall_clock = wall_clock
        self.write = write
        self._last_flush = clock()
        self._window_started: float | None = None  # wall time of the window's first request
        self.requests: dict[tuple[str, str, int], int] = {}
        self.cache_hits = 0
        self.cache_misses = 0
        self.dynamodb_requests = 0
        self.dynamodb_errors = 0
        self.store_faults = 0
        self._counting = threading.RLock()  # reentrant: SIGTERM's flush may interrupt a count on the same thread

    @classmethod
    def off(cls) -> Metrics:
        return cls("", enabled=False)

    def request(self, dialect: str, caller: str, status: int) -> None:
        """One answered request. When the interval has passed, first flush what the ended window counted. A 503
        is a store fault: the function gives that status only when DynamoDB fails."""
        if not self.enabled:
            return
        with self._counting:  # under `serve`, a worker thread answers too
            if self._clock() - self._last_flush >= self.interval:
                self._flush()  # the counts so far belong to the window that just ended
            if self._window_started is None:
                self._window_started = self._wall_clock()
            key = (dialect, caller, status)
            self.requests[key] = self.requests.get(key, 0) + 1
            if status == 503:
                self.store_faults += 1

    def cache_lookup(self, hit: bool) -> None:
        if not self.enabled:
            return
        held = _HELD.get()
        if held is not None:
            held[hit] += 1
            return
        with self._counting:
            if hit:
                self.cache_hits += 1
            else:
                self.cache_misses += 1

    def hold_lookups(self) -> Token[list[int] | None]:
        """Hold the lookups this context makes from now on apart, until `count_held` or `drop_held`."""
        return _HELD.set([0, 0])

    def count_held(self, holding: Token[list[int] | None]) -> None:
        """Count the lookups held since `hold_lookups`: the attempt answered."""
        misses, hits = _HELD.get() or (0, 0)
        _HELD.reset(holding)
        if misses or hits:
            with self._counting:
                self.cache_hits += hits
                self.cache_misses += misses

    def drop_held(self, holding: Token[list[int] | None]) -> None:
        """Forget the lookups held since `hold_lookups`: the attempt is run again, and counts them then."""
        _HELD.reset(holding)

    def dynamodb_request(self, failed: bool = False) -> None:
        if not self.enabled:
            return
        with self._counting:
            self.dynamodb_requests += 1
            if failed:
                self.dynamodb_errors += 1

    def flush(self) -> list[dict[str, object]]:
        """Write what was counted since the last flush as EMF records (one per dimension combination, plus one for
        the store's counters) and start counting again. Returns the records."""
        with self._counting:
            return self._flush()

    def _flush(self) -> list[dict[str, object]]:
        self._last_flush = self._clock()
        if not self.enabled:
            return []
        # Stamped with the window's first request: an idle container's last counts are not dated hours later.
        started = self._window_started if self._window_started is not None else self._wall_clock()
        timestamp = int(started * 1000)
        self._window_started = None
        records = [self._request_record(timestamp, key, count) for key, count in self.requests.items()]
        held = _HELD.get()
        if held is not None:  # the answering request's own lookups, all made before its answer: in this window
            self.cache_misses, self.cache_hits = self.cache_misses + held[0], self.cache_hits + held[1]
            held[:] = [0, 0]
        store = {name: getattr(self, attribute) for name, attribute in STORE_METRICS.items()}
        for attribute in STORE_METRICS.values():
            setattr(self, attribute, 0)
        if any(store.values()):
            records.append(self._record(timestamp, [], store))
        self.requests = {}
        for record in records:
            self.write(json.dumps(record, separators=(",", ":")))
        return records

    def _request_record(self, timestamp: int, key: tuple[str, str, int], count: int) -> dict[str, object]:
        dialect, caller, status = key
        record = self._record(timestamp, list(REQUEST_DIMENSIONS), {"Requests": count})
        record.update(Dialect=dialect, Caller=caller, Status=str(status))
        return record

    def _record(self, timestamp: int, dimensions: list[str], values: dict[str, int]) -> dict[str, object]:
        directive = {
            "Namespace": self.namespace,
            "Dimensions": [dimensions],
            "Metrics": [{"Name": name, "Unit": "Count"} for name in values],
        }
        return {"_aws": {"Timestamp": timestamp, "CloudWatchMetrics": [directive]}, "level": self.level, **values}
