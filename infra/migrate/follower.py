"""`modelgate migrate SOURCE --follow`: keep the table in step with a live one-api / new-api database.

`run_pass` is one pass, and all a scheduled function needs: read the whole source (nothing is written when the
read fails or a row cannot be mapped), then write only what changed. The first pass of a process compares with the
table itself (so a restart resumes whatever the table holds); later ones compare with the fingerprint of what the
last successful pass wrote (`Memory`), so unchanged records cost no DynamoDB request. The fingerprint moves only
after a write succeeds: a change not written (a throttled or failed write, a held mass removal) is planned again,
against the table, on the next pass.

`Follower` runs passes every interval on an injected clock: it prints a line per pass that changed something and
one a minute at rest, backs off after failures, writes its status record at most once a minute, and stops between
two writes when asked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from handler.core import keys
from infra.apply import ADD, REMOVE, Change
from infra.migrate.holds import Hold
from infra.migrate.mapping import read_source
from infra.migrate.ownership import Conflict, origin_of
from infra.migrate.source import SourceError, SourceUrl, open_source
from infra.migrate.status import write_status
from infra.migrate.sync import Fingerprint, delta, full_state, owned_keys, partial_state, reconcile
from infra.registry import Registry, RegistryError
from infra.seed import SeedError

BACKOFF_CAP_SECONDS = 30.0
REST_LINE_SECONDS = 60.0  # one line a minute while nothing changes
STATUS_SECONDS = 60.0  # the status record, at most once a minute
# A full pass every hour compares with the table again, so an edit made there by hand (a migrated key deleted with
# the CLI, say) is undone even when the source's record never changes.
RESYNC_SECONDS = 3600.0
SHOWN_KEYS = 5


class Stopped(Exception):
    """The operator asked the follower to stop; raised between two writes, never inside one."""


class Clock(Protocol):
    def monotonic(self) -> float: ...
    def wall(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass
class Memory:
    """What a follower keeps between passes: the fingerprint of what it last wrote (None: compare with the table),
    how many keys the source owns in the table, and whether the next pass may remove many keys."""

    fingerprint: Fingerprint | None = None
    owned: int = 0
    foreign: int = 0  # the source's keys another writer owns (conflicts): not this source's to count
    allow_mass_removal: bool = False


@dataclass
class PassReport:
    """What one pass found, planned and wrote, or why it wrote nothing."""

    source: str  # the identity its records carry
    shown: str  # the source as printed (password masked)
    started_at: float
    seconds: float = 0.0
    full: bool = False  # compared with the whole table
    flavour: str | None = None
    found: dict[str, int] = field(default_factory=dict)
    summary: dict[str, dict[str, int]] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    hold: Hold | None = None
    error: str | None = None
    written: bool = False

    @property
    def changed(self) -> bool:
        return self.written and bool(self.changes)

    def keys(self) -> list[str]:
        """The keys this pass added, changed or removed, masked."""
        return [c.detail.partition(" ")[0] if c.action == REMOVE else c.name for c in self.changes if c.kind == "token"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.shown,
            "full": self.full,
            "flavour": self.flavour,
            "found": self.found,
            "summary": self.summary,
            "keys": self.keys(),
            "conflicts": [c.as_dict() for c in self.conflicts],
            "held": None if self.hold is None else self.hold.as_dict(),
            "error": self.error,
            "written": self.written,
            "seconds": round(self.seconds, 3),
        }


def _fault(error: Exception, url: SourceUrl) -> str:
    """One line for a failed pass, the password masked (a driver or endpoint may echo it)."""
    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        text = f"DynamoDB refused the request: {detail.get('Code', '')} {detail.get('Message', '')}".strip()
    elif isinstance(error, BotoCoreError):
        text = f"cannot reach DynamoDB: {error}"
    elif isinstance(error, RegistryError):
        text = f"DynamoDB: {error}"
    else:
        text = str(error)
    text = (text.strip().splitlines() or [type(error).__name__])[0]
    if url.password:
        text = text.replace(url.password, "****")
    return keys.redact(text)


def run_pass(
    url: SourceUrl,
    registry: Registry,
    memory: Memory,
    *,
    source: str,
    adopt: bool = False,
    clock: Clock | None = None,
    stop: Callable[[], bool] = lambda: False,
    before_write: Callable[[], None] = lambda: None,
) -> PassReport:
    """One pass: read `url`, write what changed into `registry` as the records of `source`. Never raises for a
    source, mapping or DynamoDB fault: the report says why nothing (or not all) was written, and `memory` keeps
    what the next pass must still write. Raises Stopped, between two writes, once `stop()` says so;
    `before_write` is called when the writing starts (until then, the pass may be abandoned at any point)."""
    clock = clock or SystemClock()
    report = PassReport(source=source, shown=url.shown, started_at=clock.wall())
    began = clock.monotonic()
    origin = origin_of(source)
    try:
        with open_source(url) as reader:
            migration = read_source(reader, origin)
        seed = migration.seed
        report.flavour = migration.flavour
        report.found = {"users": len(seed.users), "groups": len(seed.groups), "tokens": len(seed.tokens)}
        fingerprint, by_hash = Fingerprint.of(seed)
        if stop():
            raise Stopped
        options: dict[str, Any] = {
            "prune": True,
            "adopt": adopt,
            "allow_mass_removal": memory.allow_mass_removal,
            "before_write": before_write,
        }

        def between_batches(_: int) -> None:
            if stop():
                raise Stopped

        if memory.fingerprint is None:
            report.full = True
            state = full_state(registry)
            owned = owned_keys(state, origin)
            outcome = reconcile(seed, state, registry, owned=owned, key_progress=between_batches, **options)
            owned_after = len(seed.tokens)  # claim() left only this source's: all of them in the table now
            foreign = len(fingerprint.tokens) - owned_after
        else:
            change = delta(memory.fingerprint, fingerprint)
            if not change:
                report.written = True
                return report
            part, state = partial_state(seed, by_hash, change, registry)
            outcome = reconcile(
                part, state, registry, owned=memory.owned, key_progress=between_batches, whole=seed, **options
            )
            foreign = memory.foreign + sum(1 for c in outcome.conflicts if c.kind == "token")
            owned_after = len(fingerprint.tokens) - foreign
        report.changes = outcome.plan.changes
        report.summary = outcome.plan.summary()
        report.conflicts = outcome.conflicts
        report.hold = outcome.hold
        report.written = outcome.written
        if outcome.written:
            memory.fingerprint, memory.owned, memory.foreign = fingerprint, owned_after, foreign
            memory.allow_mass_removal = False
    except (SourceError, SeedError, RegistryError, ClientError, BotoCoreError) as error:
        report.error = _fault(error, url)
    finally:
        report.seconds = clock.monotonic() - began
    return report


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@dataclass
class Progress:
    """What the status record says, gathered pass by pass: a follower keeps one, and so can a scheduled function
    (one per warm container) around `run_pass`."""

    shown: str  # the source, password masked
    interval: float
    started_at: float
    passes: int = 0
    totals: dict[str, dict[str, int]] = field(default_factory=dict)  # written since started_at, per kind
    last_completed: PassReport | None = None
    last_error: tuple[float, str] | None = None
    conflicts: int = 0
    held: Hold | None = None

    def record(self, report: PassReport) -> None:
        self.passes += 1
        if report.error is not None:
            self.last_error = (report.started_at, report.error)
            return
        self.held = report.hold
        if report.hold is not None:
            return
        for name, counts in report.summary.items():
            total = self.totals.setdefault(name, {ADD: 0, "change": 0, REMOVE: 0})
            for action, n in counts.items():
                total[action] += n
        self.last_completed = report
        self.conflicts = len(report.conflicts) if report.full else self.conflicts + len(report.conflicts)

    def status(self, now: float) -> dict[str, Any]:
        done = self.last_completed
        return {
            "shown": self.shown,
            "interval": self.interval,
            "started_at": self.started_at,
            "updated_at": now,
            "passes": self.passes,
            "last_pass_at": None if done is None else done.started_at + done.seconds,
            "last_pass_seconds": None if done is None else round(done.seconds, 3),
            "flavour": None if done is None else done.flavour,
            "found": None if done is None else done.found,
            "written": self.totals,
            "conflicts": self.conflicts,
            "held": None if self.held is None else self.held.as_dict(),
            "last_error": None if self.last_error is None else self.last_error[1],
            "last_error_at": None if self.last_error is None else self.last_error[0],
        }


@dataclass
class Follower:
    """Passes every `interval` seconds until `stop()`; `say(data, line)` prints each event (JSON or the line)."""

    url: SourceUrl
    registry: Registry
    source: str
    say: Callable[[dict[str, Any], str], None]
    interval: float
    adopt: bool = False
    clock: Clock = field(default_factory=SystemClock)
    stop: Callable[[], bool] = lambda: False
    memory: Memory = field(default_factory=Memory)
    progress: Progress | None = None
    failures: int = 0
    _rest_since: float | None = None
    _rest_passes: int = 0
    _status_at: float | None = None
    _full_at: float | None = None
    writing: bool = False  # a pass is writing: a stop request waits for it (see interrupt)

    @property
    def last_completed(self) -> PassReport | None:
        """The last pass that read, compared and wrote (not held, not failed)."""
        return None if self.progress is None else self.progress.last_completed

    def interrupt(self) -> None:
        """For a signal handler: stop now, unless a write is in progress (then the pass stops after it)."""
        if not self.writing:
            raise Stopped

    def run(self) -> int:
        """Follow until stopped; 0 always (faults are retried, never fatal)."""
        try:
            while not self.stop():
                began = self.clock.monotonic()
                wait = self.step()
                self._wait(max(0.0, wait - (self.clock.monotonic() - began)))
        except Stopped:
            pass
        self.say({"event": "stopped", "time": iso(self.clock.wall()), "source": self.url.shown}, "")
        return 0

    def _wait(self, seconds: float) -> None:
        """Sleep in short steps, so a stop request is seen within a fraction of a second."""
        end = self.clock.monotonic() + seconds
        while not self.stop() and (left := end - self.clock.monotonic()) > 0:
            self.clock.sleep(min(0.2, left))

    def step(self) -> float:
        """One pass, reported; the seconds to wait before the next."""
        if self.progress is None:
            self.progress = Progress(self.url.shown, self.interval, self.clock.wall())
        if self._full_at is not None and self.clock.monotonic() - self._full_at >= RESYNC_SECONDS:
            self.memory.fingerprint = None  # compare with the table this time
        options: dict[str, Any] = {"source": self.source, "adopt": self.adopt, "clock": self.clock, "stop": self.stop}
        try:
            report = run_pass(self.url, self.registry, self.memory, before_write=self._writing, **options)
        finally:
            self.writing = False
        self.progress.record(report)
        now = self.clock.monotonic()
        if report.full and report.error is None and report.hold is None:
            self._full_at = now
        wait = self.interval
        if report.error is not None:
            self.failures += 1
            wait = min(BACKOFF_CAP_SECONDS, self.interval * 2.0**self.failures)
            self._say(report, "error", f"pass failed, nothing written: {report.error}; next try in {wait:g} s")
        elif report.hold is not None:
            self.failures = 0
            self._say(report, "held", report.hold.line())
        elif report.changed or report.conflicts or report.full:
            self.failures = 0
            self._say(report, "pass", self._pass_line(report))
            self._rest_since, self._rest_passes = now, 0
        else:
            self.failures = 0
            self._at_rest(report, now)
        self._status()
        return wait

    def _writing(self) -> None:
        self.writing = True

    def _at_rest(self, report: PassReport, now: float) -> None:
        """One line a minute while passes change nothing."""
        self._rest_passes += 1
        if self._rest_since is None:
            self._rest_since = now
        elif now - self._rest_since >= REST_LINE_SECONDS:
            found = report.found
            line = (
                f"at rest: {self._rest_passes} passes in {now - self._rest_since:.0f} s changed nothing "
                f"({found.get('users', 0)} users, {found.get('groups', 0)} groups, {found.get('tokens', 0)} keys)"
            )
            self._say(report, "rest", line, passes=self._rest_passes)
            self._rest_since, self._rest_passes = now, 0

    def _pass_line(self, report: PassReport) -> str:
        counts = ", ".join(f"{k} +{c[ADD]} ~{c['change']} -{c[REMOVE]}" for k, c in report.summary.items())
        shown = report.keys()
        tail = f"; keys {', '.join(shown[:SHOWN_KEYS])}" if shown else ""
        tail += f" and {len(shown) - SHOWN_KEYS} more" if len(shown) > SHOWN_KEYS else ""
        if report.conflicts:
            tail += f"; {len(report.conflicts)} conflicts left alone (--adopt takes them over)"
        kind = "full pass" if report.full else "pass"
        return f"{kind} ({report.seconds:.2f} s): {counts or 'no changes'}{tail}"

    def _say(self, report: PassReport, event: str, line: str, **extra: Any) -> None:
        data = {"event": event, "time": iso(report.started_at), **report.as_dict(), **extra}
        lines = [c.line() for c in report.conflicts] if report.full else []
        self.say(data, "\n".join([*lines, f"{iso(report.started_at)} {self.url.shown}: {line}"]))

    def _status(self) -> None:
        """The status record: after the first pass, then at most once a minute."""
        now = self.clock.monotonic()
        if self.progress is None or (self._status_at is not None and now - self._status_at < STATUS_SECONDS):
            return
        try:
            self.writing = True
            write_status(self.registry, self.source, self.progress.status(self.clock.wall()))
        except (RegistryError, ClientError, BotoCoreError):
            return  # DynamoDB is failing: the passes say so; the record follows when it is back
        finally:
            self.writing = False
        self._status_at = now
