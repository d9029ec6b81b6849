"""Durations and dates as operators type them: `30m`, `12h`, `7d`, `2027-01-01`."""

from __future__ import annotations

import re
import time

from infra.cli.context import CliError
from infra.seed import SeedError, parse_time

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")


def parse_duration(text: str) -> int:
    match = _DURATION.match(text)
    if not match or int(match.group(1)) == 0:
        raise CliError(f"not a duration: {text!r} (use e.g. 30m, 12h, 7d)")
    return int(match.group(1)) * _UNITS[match.group(2)]


def parse_expiry(text: str, *, now: float | None = None) -> float:
    """A duration from now (`30d`) or an absolute date or datetime (`2027-01-01`), as epoch seconds."""
    now = time.time() if now is None else now
    if _DURATION.match(text):
        return now + parse_duration(text)
    try:
        moment = parse_time(text, "--expires")
    except SeedError:
        raise CliError(f"not a date or duration: {text!r} (use e.g. 30d or 2027-01-01)") from None
    if moment <= now:
        raise CliError(f"--expires {text} is in the past")
    return moment
