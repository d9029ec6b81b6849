"""Figure: the warm cache under churn. One unrelated change a second (a key disabled or enabled through the
registry, the layer every `modelgate` command writes through) while a warm container serves 200 keys of 20 users
in 5 groups: the DynamoDB requests each call for an unchanged key costs, and how soon a key disabled among the
changes is refused. Targeted invalidation (the marker's log names what changed) against the former design (the
marker moved: drop everything), in the same run, on the same table: the baseline reads the same marker with its
log hidden.

Two surfaces: a warm Lambda handler on a clock the figure moves (counts exact, independent of this machine's
speed), and a warm `serve`-like uvicorn asked without pause in real time, the way the issue measured it.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import httpx
import uvicorn
from mangum import Mangum

from handler.core.keys import key_hash
from handler.core.records import GroupView, Token, User
from handler.settings import Settings
from handler.store import layout
from handler.store.cache import RevisionedDirectory
from handler.store.dynamodb import DynamoDirectory
from handler.store.layout import Marker
from handler.web.app import create_app
from handler.wiring import build_service
from infra.bench.events import LambdaContext, http_api_event
from infra.bench.report import Report
from infra.bench.warm import LambdaHandler
from infra.bench.wire import RequestCounter
from infra.bench.world import local_dynamodb
from infra.local.embedded import free_port
from infra.registry import Registry
from infra.table import create_table

KEYS, USERS, GROUPS = 200, 20, 5
CHURN_POOL = 10  # unrelated keys, toggled in turn, one a second
PROBE_EVERY = 5  # every fifth change disables a served probe key instead
REVALIDATE = 2.0
PROBE_POLL = 0.05  # how often `serve`'s client asks the disabled keys, between the unchanged keys' calls
TARGET_PER_CALL = 0.05
TARGET_REFUSAL_SECONDS = 3.0  # issue 14's bound: REVALIDATE_SECONDS plus one read, with margin


class WithoutLog:
    """The former design, for the baseline: the same reads, with the marker's log hidden, so every move of the
    revision drops everything."""

    def __init__(self, inner: RevisionedDirectory) -> None:
        self._inner = inner

    def token(self, key_hash: str) -> Token | None:
        return self._inner.token(key_hash)

    def tokens(self, key_hashes: Sequence[str]) -> Mapping[str, Token]:
        return self._inner.tokens(key_hashes)

    def user(self, user_id: str) -> User | None:
        return self._inner.user(user_id)

    def group(self, name: str) -> GroupView | None:
        return self._inner.group(name)

    def revision(self) -> Marker:
        return Marker(self._inner.revision().revision)

    def tokens_at_revision(self, key_hashes: Sequence[str]) -> tuple[Mapping[str, Token], Marker]:
        found, marker = self._inner.tokens_at_revision(key_hashes)
        return found, Marker(marker.revision)

    def user_at_revision(self, user_id: str) -> tuple[User | None, Marker]:
        user, marker = self._inner.user_at_revision(user_id)
        return user, Marker(marker.revision)


def _key(kind: str, i: int) -> str:
    return f"sk-churn-{kind}-{i:04d}".ljust(51, "0")


@dataclass
class World:
    registry: Registry
    served: list[str]  # keys never changed
    churn: list[str]  # token ids of the unrelated keys the changes toggle
    probes: list[tuple[str, str]] = field(default_factory=list)  # (key, token id), disabled one by one
    changes: int = 0
    toggles: int = 0

    def change(self) -> str | None:
        """The next change, as `modelgate key disable|enable` writes it; the probe key it disabled, if any."""
        self.changes += 1
        if self.changes % PROBE_EVERY == 0 and self.probes:
            key, token_id = self.probes.pop(0)
            self.registry.set_token_status(token_id, "disabled")
            return key
        token_id = self.churn[self.toggles % CHURN_POOL]  # each in turn: disabled, then enabled on its next turn
        self.registry.set_token_status(token_id, "disabled" if (self.toggles // CHURN_POOL) % 2 == 0 else "enabled")
        self.toggles += 1
        return None

    def keep_next_probe_warm(self, ask: Callable[[str], int]) -> None:
        """Ask the probe the next probe change disables, so that it is cached when it is written, like any key in
        use (a probe never asked before its change would be read fresh, and refused at once)."""
        if self.probes and ask(self.probes[0][0]) != 200:
            raise RuntimeError("a probe key was refused before its change")


def prepare(endpoint: str, probes: int) -> World:
    """A fresh table: 5 groups of 10 models, 20 users, 200 served keys, the churn pool and the probe keys."""
    table = f"churn-{int(time.time() * 1000) % 10**9}"
    client = local_dynamodb(endpoint)
    create_table(client, table)
    registry = Registry(client, table)
    models = [{"id": f"model-{i:03d}"} for i in range(20)]
    registry.put_models(models)
    catalog = registry.catalog_entries([m["id"] for m in models])
    for g in range(GROUPS):
        registry.put_group(f"team{g}", [m["id"] for m in models[g : g + 10]], catalog)
    registry.put_new_users([{"id": f"member{u}", "group": f"team{u % GROUPS}"} for u in range(USERS)])
    served = [_key("served", k) for k in range(KEYS)]
    churn = [_key("churn", k) for k in range(CHURN_POOL)]
    probe = [_key("probe", k) for k in range(probes)]
    owners = {key: f"member{i % USERS}" for i, key in enumerate([*served, *churn, *probe])}
    registry.put_new_tokens([{"key": key, "user": user} for key, user in owners.items()])
    by_key = {key: _token_id(registry, key) for key in [*churn, *probe]}
    return World(registry, served, [by_key[k] for k in churn], [(k, by_key[k]) for k in probe])


def _token_id(registry: Registry, key: str) -> str:
    item = registry.get(layout.token_key(key_hash(key)))
    if item is None:
        raise RuntimeError("a churn key was not written")
    return str(item["token_id"])


def _settings(table: str, endpoint: str) -> Settings:
    return Settings(table_name=table, dynamodb_endpoint_url=endpoint, revalidate_seconds=REVALIDATE)


def _bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


@dataclass
class Outcome:
    calls: int = 0  # calls for unchanged keys
    requests: int = 0  # the DynamoDB requests those calls cost
    refusals: list[float] = field(default_factory=list)  # seconds from a probe's write to its first 401
    seconds: float = 0.0  # how long the traffic ran (driven or real)

    @property
    def per_call(self) -> float:
        return self.requests / self.calls if self.calls else math.nan

    @property
    def worst_refusal(self) -> float:
        return max(self.refusals, default=math.nan)


def probes_within(seconds: float) -> int:
    """How many probe changes a run of `seconds` makes, the last early enough to be refused before the end."""
    return int(seconds - REVALIDATE - 1) // PROBE_EVERY


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def driven(endpoint: str, *, targeted: bool, seconds: int, rate: int) -> Outcome:
    """A warm Lambda handler on a driven clock: `rate` calls a second round the 200 keys, one change a second,
    the disabled keys asked at every step until refused. Every request the container sends is charged to the
    unchanged keys' calls, the changed keys' own re-reads too: the figure errs high."""
    world = prepare(endpoint, probes=probes_within(seconds))
    client = local_dynamodb(endpoint)
    clock = _Clock()
    directory: RevisionedDirectory = DynamoDirectory(client, world.registry.table)
    if not targeted:
        directory = WithoutLog(directory)
    handler: LambdaHandler = Mangum(
        create_app(build_service(_settings(world.registry.table, endpoint), directory, clock=clock)), lifespan="off"
    )
    counter = RequestCounter(client)

    def ask(key: str) -> int:
        return int(handler(http_api_event(headers=_bearer(key)), LambdaContext())["statusCode"])

    for key in [*world.served, *(key for key, _ in world.probes)]:
        if ask(key) != 200:
            raise RuntimeError("a key was refused before any change")
    outcome = Outcome()
    pending: dict[str, float] = {}
    counter.reset()
    for step in range(seconds * rate):
        if step % rate == 0:
            probe = world.change()
            if probe is not None:
                pending[probe] = clock.now
        clock.now += 1 / rate
        if ask(world.served[step % KEYS]) != 200:
            raise RuntimeError("an unchanged key was refused")
        outcome.calls += 1
        for probe, written in list(pending.items()):
            if ask(probe) == 401:
                outcome.refusals.append(clock.now - written)
                del pending[probe]
        world.keep_next_probe_warm(ask)
    outcome.requests = counter.total
    outcome.seconds = seconds
    return outcome


@contextlib.contextmanager
def _serve(settings: Settings, directory: RevisionedDirectory) -> Iterator[httpx.Client]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(build_service(settings, directory)), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    try:
        yield http
    finally:
        http.close()
        server.should_exit = True
        thread.join(timeout=10)


def real_time(endpoint: str, *, targeted: bool, seconds: float) -> Outcome:
    """A warm uvicorn asked without pause by one client, while a writer makes one change a second; the disabled
    keys asked every PROBE_POLL seconds until refused. Every request the server sends is charged to the unchanged
    keys' calls, as in `driven`."""
    world = prepare(endpoint, probes=int(seconds) // PROBE_EVERY + 1)
    client = local_dynamodb(endpoint)
    directory: RevisionedDirectory = DynamoDirectory(client, world.registry.table)
    if not targeted:
        directory = WithoutLog(directory)
    counter = RequestCounter(client)
    outcome = Outcome()
    pending: dict[str, float] = {}
    lock = threading.Lock()
    finished = threading.Event()

    def write() -> None:
        while not finished.wait(1.0):
            with lock:
                probe = world.change()
                if probe is not None:
                    pending[probe] = time.perf_counter()

    with _serve(_settings(world.registry.table, endpoint), directory) as http:

        def ask(key: str) -> int:
            return http.get("/v1/models", headers=_bearer(key)).status_code

        for key in [*world.served, *(key for key, _ in world.probes)]:
            if ask(key) != 200:
                raise RuntimeError("a key was refused before any change")
        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        counter.reset()
        started = time.perf_counter()
        polled = started
        try:
            while (now := time.perf_counter()) < started + seconds:
                if ask(world.served[outcome.calls % KEYS]) != 200:
                    raise RuntimeError("an unchanged key was refused")
                outcome.calls += 1
                if now - polled < PROBE_POLL:
                    continue
                polled = now
                with lock:
                    waiting = list(pending.items())
                for probe, written in waiting:
                    if ask(probe) == 401:
                        outcome.refusals.append(time.perf_counter() - written)
                        with lock:
                            del pending[probe]
                with lock:  # not while the writer takes the probe off the list
                    world.keep_next_probe_warm(ask)
        finally:
            finished.set()
            writer.join(timeout=10)
    outcome.requests = counter.total
    outcome.seconds = seconds
    return outcome


def _rows(report: Report, surface: str, how: str, targeted: Outcome, baseline: Outcome) -> None:
    report.line(f"{surface}: {how}")
    met = targeted.per_call <= TARGET_PER_CALL
    note = report.target(f"churn, {surface}: requests/call", f"{targeted.per_call:.3f}", f"≤ {TARGET_PER_CALL}", met)
    report.row(
        f"{surface}: requests per unchanged-key call",
        f"{targeted.per_call:.3f}",
        f"{baseline.per_call:.3f}",
        note=f"{targeted.per_call / baseline.per_call:.3f}× · {note}",
    )
    report.row(
        f"{surface}: unchanged-key calls a second",
        f"{targeted.calls / targeted.seconds:.1f}",
        f"{baseline.calls / baseline.seconds:.1f}",
    )
    report.row(
        f"{surface}: DynamoDB requests a second",
        f"{targeted.requests / targeted.seconds:.2f}",
        f"{baseline.requests / baseline.seconds:.2f}",
    )
    worst = targeted.worst_refusal
    met = worst <= TARGET_REFUSAL_SECONDS
    target = f"≤ {TARGET_REFUSAL_SECONDS:.0f} s"
    note = report.target(f"churn, {surface}: disabled key refused", f"{worst:.2f} s", target, met)
    report.row(
        f"{surface}: worst of {len(targeted.refusals)} disabled keys refused",
        f"{worst:.2f} s",
        f"{baseline.worst_refusal:.2f} s",
        note=note,
    )


def run(report: Report, endpoint: str, *, quick: bool) -> None:
    seconds, rate = (60, 20) if quick else (120, 20)
    wall = 15.0 if quick else 30.0
    report.section(
        "Warm cache under churn: one unrelated change a second, 200 keys of 20 users in 5 groups",
        f"REVALIDATE_SECONDS={REVALIDATE:.0f}; every {PROBE_EVERY}th change disables a served key instead; targeted "
        "invalidation against drop-all on every change (the former design), in the same run",
    )
    report.row("", "targeted", "drop-all", note="targeted / drop-all")
    lambda_how = f"warm handler, driven clock, {seconds} s at {rate} calls a second round the keys"
    lambda_targeted = driven(endpoint, targeted=True, seconds=seconds, rate=rate)
    lambda_baseline = driven(endpoint, targeted=False, seconds=seconds, rate=rate)
    _rows(report, "lambda", lambda_how, lambda_targeted, lambda_baseline)
    serve_how = f"warm uvicorn, real time, {wall:.0f} s, one client asking without pause"
    serve_targeted = real_time(endpoint, targeted=True, seconds=wall)
    serve_baseline = real_time(endpoint, targeted=False, seconds=wall)
    _rows(report, "serve", serve_how, serve_targeted, serve_baseline)
