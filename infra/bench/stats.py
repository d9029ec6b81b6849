"""Timing: many iterations after a warm-up, summarised by median and p99 (nearest rank), in nanoseconds."""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    median_ns: float
    p99_ns: float
    samples: int


def summarize(samples_ns: Sequence[int | float]) -> Timing:
    ordered = sorted(samples_ns)
    rank = max(0, math.ceil(0.99 * len(ordered)) - 1)
    return Timing(statistics.median(ordered), ordered[rank], len(ordered))


def interleaved(
    calls: Mapping[str, Callable[[], object]], *, iterations: dict[str, int], rounds: int, warmup: int
) -> dict[str, Timing]:
    """Measure several calls in alternating rounds, so drift on a shared machine hits them all alike."""
    samples: dict[str, list[int]] = {name: [] for name in calls}
    clock = time.perf_counter_ns
    for call in calls.values():
        for _ in range(warmup):
            call()
    for _ in range(rounds):
        for name, call in calls.items():
            gc.collect()
            bucket = samples[name]
            for _ in range(max(1, iterations[name] // rounds)):
                start = clock()
                call()
                bucket.append(clock() - start)
    return {name: summarize(values) for name, values in samples.items()}


def affordable(call: Callable[[], object], *, budget_s: float, low: int, high: int) -> int:
    """How many calls fit in `budget_s`, judged from three, clamped to [low, high]."""
    start = time.perf_counter_ns()
    for _ in range(3):
        call()
    per_call = max((time.perf_counter_ns() - start) / 3, 1.0)
    return max(low, min(high, int(budget_s * 1e9 / per_call)))


def human_time(ns: float) -> str:
    if ns < 10_000:
        return f"{ns / 1000:.1f} µs"
    if ns < 1_000_000:
        return f"{ns / 1000:.0f} µs"
    if ns < 10_000_000_000:
        return f"{ns / 1e6:.2f} ms" if ns < 100_000_000 else f"{ns / 1e6:.0f} ms"
    return f"{ns / 1e9:.1f} s"


def human_bytes(size: float) -> str:
    if size < 1024:
        return f"{size:.0f} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.2f} MB"
