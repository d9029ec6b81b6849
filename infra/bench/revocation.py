"""Figure: how soon a change reaches warm containers, and what a warm container reads when nothing changes.

Revocation: what `modelgate key disable`, `user disable`, `group remove` and `session revoke` write (the same
registry call each command makes, without starting a process and a boto3 client each time), while a warm
`serve`-like uvicorn and a warm Lambda handler are asked without pause; the time from the write returning to the
first refused answer, per trial, worst of N. Trials overlap in time, each on its own key, user, model or session,
so twenty of each take seconds, not minutes.

Reads at rest: one warm container serving steady traffic with no writes, on a clock the figure moves, its requests
counted at the wire: the change marker design (REVALIDATE_SECONDS=2) against the former TTL design (everything
re-read every 30 s, no marker), in the same run, for one key and for a hundred keys of twenty users in five groups.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from mangum import Mangum

from handler.core.sessions import SessionSigner
from handler.settings import Settings
from handler.store import layout
from handler.store.dynamodb import DynamoDirectory
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

KINDS = ("key disable", "user disable", "group remove", "session revoke")
TARGET_SECONDS = 3.0
GIVE_UP_SECONDS = 10.0
SECRET = "revocation-bench-secret-" + "0" * 24
KEEP, GONE = "m-keep", "m-gone"  # every trial's group lists both; `default` (anonymous) only KEEP

Answer = tuple[int, list[str]]  # status, listed model ids


@dataclass
class Trial:
    kind: str
    write: Callable[[Registry], object]  # what the command does to the table: the registry call it makes
    headers: dict[str, str]
    cookies: list[str]
    gone: str = GONE  # for `group remove`: the model that must leave the list
    written_at: float = 0.0
    latency: dict[str, float] = field(default_factory=dict)  # surface -> seconds from the write to the refusal

    def refused(self, answer: Answer) -> bool:
        status, ids = answer
        if self.kind in ("key disable", "user disable"):
            return status == 401
        if self.kind == "group remove":
            return status == 200 and self.gone not in ids
        return status == 200 and ids == [KEEP]  # a revoked session is anonymous


def _key(kind: str, i: int) -> str:
    return f"sk-revocation-{kind}-{i:04d}".ljust(51, "0")


def prepare(endpoint: str, trials: int) -> tuple[Registry, list[Trial]]:
    """A fresh table, and `trials` trials of each command, each on its own key, user, model or session."""
    table = f"revocation-{int(time.time() * 1000) % 10**9}"
    client = local_dynamodb(endpoint)
    create_table(client, table)
    registry = Registry(client, table)
    gone = [f"{GONE}-{i}" for i in range(trials)]
    registry.put_models([{"id": i} for i in (KEEP, GONE, *gone)])
    catalog = registry.catalog_entries([KEEP, GONE, *gone])
    registry.put_group("default", [KEEP], catalog)
    registry.put_group("shared", [KEEP, GONE], catalog)
    registry.put_group("shrinking", [KEEP, *gone], catalog)
    registry.put_user("keys", "shared")
    registry.put_user("member", "shrinking")
    registry.put_token(_key("group", 0), user_id="member")
    signer = SessionSigner(SECRET)
    made: list[Trial] = []
    for i in range(trials):
        token = registry.create_token(_key("key", i), user_id="keys")
        made.append(Trial("key disable", _set_token(token.token_id), _bearer(_key("key", i)), []))

        registry.put_user(f"user{i}", "shared")
        registry.put_token(_key("user", i), user_id=f"user{i}")
        made.append(Trial("user disable", _disable_user(f"user{i}"), _bearer(_key("user", i)), []))

        made.append(Trial("group remove", _remove(gone[i]), _bearer(_key("group", 0)), [], gone=gone[i]))

        registry.put_user(f"session{i}", "shared")
        life = registry.user(f"session{i}").get("incarnation")
        value = signer.issue(f"session{i}", now=int(time.time()) - 2, ttl_seconds=3600, incarnation=life)
        cookie = f"modelgate_session={value}"
        made.append(Trial("session revoke", _revoke(f"session{i}"), {}, [cookie]))
    return registry, made  # the kinds interleaved, so each runs throughout, none only at the start or the end


# What each command does to the table once it has checked its arguments (infra/cli/*): the same registry call.
def _set_token(token_id: str) -> Callable[[Registry], object]:
    return lambda registry: registry.set_token_status(token_id, "disabled")


def _disable_user(user_id: str) -> Callable[[Registry], object]:
    return lambda registry: registry.update_user(user_id, status="disabled")


def _remove(model_id: str) -> Callable[[Registry], object]:
    def write(registry: Registry) -> object:
        models = [m for m in registry.group_models("shrinking") or [] if m != model_id]
        return registry.put_group("shrinking", models, None, registry.get(layout.group_key("shrinking")))

    return write


def _revoke(user_id: str) -> Callable[[Registry], object]:
    return lambda registry: registry.revoke_sessions(user_id, now=time.time())


def _bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def settings_for(endpoint: str, table: str, **overrides: Any) -> Settings:
    """REVALIDATE_SECONDS and the rest at their defaults, as deployed."""
    return Settings(table_name=table, dynamodb_endpoint_url=endpoint, session_secret=SECRET, **overrides)


def _ids(body: bytes) -> list[str]:
    data = json.loads(body).get("data") or []
    return [str(model["id"]) for model in data]


@contextlib.contextmanager
def warm_surfaces(settings: Settings) -> Iterator[dict[str, Callable[[Trial], Answer]]]:
    """A uvicorn server (as `modelgate serve` runs the app) and a Lambda handler (Mangum, as handler.main), each
    with its own cache, asked the way clients ask them."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(build_service(settings)), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    handler: LambdaHandler = Mangum(create_app(build_service(settings)), lifespan="off")
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)

    def ask_serve(trial: Trial) -> Answer:
        headers = {**trial.headers, **({"cookie": "; ".join(trial.cookies)} if trial.cookies else {})}
        response = http.get("/v1/models", headers=headers)
        return response.status_code, _ids(response.content) if response.status_code == 200 else []

    def ask_lambda(trial: Trial) -> Answer:
        event = http_api_event(headers=trial.headers, cookies=trial.cookies or None)
        response = handler(event, LambdaContext())
        status = int(response["statusCode"])
        return status, _ids(response["body"].encode()) if status == 200 else []

    try:
        yield {"serve": ask_serve, "lambda": ask_lambda}
    finally:
        http.close()
        server.should_exit = True
        thread.join(timeout=10)


def run_trials(endpoint: str, trials: int, *, spacing: float = 0.05, poll: float = 0.01) -> list[Trial]:
    """Every trial's write, `spacing` apart, while one thread per surface keeps asking: an anonymous call (steady
    traffic, so the container revalidates as it would under load) and every pending trial's credential."""
    registry, schedule = prepare(endpoint, trials)
    witness = Trial("traffic", lambda _: None, {}, [])
    pending: list[Trial] = []
    finished = threading.Event()
    with warm_surfaces(settings_for(endpoint, registry.table)) as surfaces:
        for trial in schedule:  # warm: each credential served once on each surface, and not refused yet
            for ask in surfaces.values():
                if trial.refused(ask(trial)):
                    raise RuntimeError(f"{trial.kind}: refused before its write")

        def keep_asking(surface: str, ask: Callable[[Trial], Answer]) -> None:
            asyncio.set_event_loop(asyncio.new_event_loop())  # Mangum runs the app on this thread's loop
            while not finished.is_set():
                ask(witness)
                for trial in list(pending):
                    if surface in trial.latency:
                        continue
                    answer = ask(trial)
                    elapsed = time.perf_counter() - trial.written_at
                    if trial.refused(answer):
                        trial.latency[surface] = elapsed
                    elif elapsed > GIVE_UP_SECONDS:
                        trial.latency[surface] = math.inf
                time.sleep(poll)

        askers = [threading.Thread(target=keep_asking, args=item, daemon=True) for item in surfaces.items()]
        for asker in askers:
            asker.start()
        try:
            for trial in schedule:
                trial.write(registry)
                trial.written_at = time.perf_counter()
                pending.append(trial)
                time.sleep(spacing)
            while any(len(t.latency) < len(surfaces) for t in schedule):
                time.sleep(0.05)
        finally:
            finished.set()
            for asker in askers:
                asker.join(timeout=30)
    return schedule


def worst(trials: list[Trial], kind: str, surface: str) -> float:
    return max(t.latency[surface] for t in trials if t.kind == kind)


# -- reads at rest ------------------------------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _quiet_world(endpoint: str, keys: int, users: int, groups: int) -> tuple[str, list[str]]:
    table = f"at-rest-{keys}-{int(time.time() * 1000) % 10**9}"
    client = local_dynamodb(endpoint)
    create_table(client, table)
    registry = Registry(client, table)
    models = [{"id": f"model-{i:03d}"} for i in range(20)]
    registry.put_models(models)
    catalog = registry.catalog_entries([m["id"] for m in models])
    for g in range(groups):
        registry.put_group(f"team{g}", [m["id"] for m in models[g : g + 10]], catalog)
    for u in range(users):
        registry.put_user(f"member{u}", f"team{u % groups}")
    made = []
    for k in range(keys):
        key = f"sk-at-rest-{k:04d}".ljust(51, "0")
        registry.put_token(key, user_id=f"member{k % users}")
        made.append(key)
    return table, made


def reads_at_rest(
    endpoint: str, table: str, keys: list[str], settings: Settings, *, seconds: float, rate: float
) -> float:
    """Requests per second one warm container sends, serving `rate` calls a second round the keys, over
    `seconds` of a clock the figure moves, after every key was served once."""
    client = local_dynamodb(endpoint)
    clock = _Clock()
    service = build_service(settings, DynamoDirectory(client, table), clock=clock)
    handler: LambdaHandler = Mangum(create_app(service), lifespan="off")
    counter = RequestCounter(client)
    events = [http_api_event(headers=_bearer(key)) for key in keys]
    for event in events:
        handler(event, LambdaContext())
    counter.reset()
    calls = int(seconds * rate)
    for n in range(calls):
        clock.now += 1 / rate
        response = handler(events[n % len(events)], LambdaContext())
        if response["statusCode"] != 200:
            raise RuntimeError(f"expected 200, got {response['statusCode']}")
    return counter.total / seconds


def run(report: Report, endpoint: str, *, quick: bool) -> None:
    trials = 5 if quick else 20
    report.section(
        "Revocation: from the command returning to the first refused answer",
        f"worst of {trials} trials per command; warm uvicorn (serve) and warm Lambda handler; REVALIDATE_SECONDS=2",
    )
    report.row("command", "serve", "lambda")
    done = run_trials(endpoint, trials)
    for kind in KINDS:
        serve_s, lambda_s = worst(done, kind, "serve"), worst(done, kind, "lambda")
        met = max(serve_s, lambda_s) <= TARGET_SECONDS
        note = report.target(f"revocation: {kind}", f"{max(serve_s, lambda_s):.2f} s", "≤ 3 s", met)
        report.row(f"modelgate {kind}", f"{serve_s:.2f} s", f"{lambda_s:.2f} s", note=note)

    seconds = 120.0 if quick else 600.0
    report.section(
        "Reads at rest: one warm container, steady traffic, no writes",
        f"{seconds:.0f} s of traffic at 5 calls/s on a driven clock; requests counted at the wire",
    )
    report.row("traffic", "marker", "TTL 30 s", note="marker / TTL")
    for keys, users, groups in ((1, 1, 1), (100, 20, 5)):
        table, made = _quiet_world(endpoint, keys, users, groups)
        marker = reads_at_rest(endpoint, table, made, settings_for(endpoint, table), seconds=seconds, rate=5)
        ttl = reads_at_rest(
            endpoint,
            table,
            made,
            settings_for(endpoint, table, revalidate_seconds=math.inf, cache_max_age_seconds=30),
            seconds=seconds,
            rate=5,
        )
        met = marker <= 1 / 2 + 1e-9
        note = report.target(f"reads at rest, {keys} key(s)", f"{marker:.2f}/s", "≤ 1 per 2 s", met)
        report.row(
            f"{keys} key(s), {users} user(s), {groups} group(s)",
            f"{marker:.3f}/s",
            f"{ttl:.3f}/s",
            note=f"{marker / ttl:.2f}× · {note}" if ttl else note,
        )
