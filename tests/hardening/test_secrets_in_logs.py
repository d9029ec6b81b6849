"""GIVEN every log record of a full scenario captured at DEBUG on the root logger, plus stdout and stderr
WHEN keys, sessions, bad credentials, store faults and a bug (a 500) go through the function
THEN no plaintext key, cookie value or session secret appears anywhere, and each request leaves one structured
record with its request id, caller kind and token id.

Constant time: a session signature is checked with hmac.compare_digest (asserted below). A key is never compared
with anything: its SHA-256 is the DynamoDB (and cache) lookup key. Equality on that digest can only leak, through
timing, how a digest of the attacker's own input relates to stored digests; finding an input whose digest shares
a prefix with a stored one does not bring the attacker any closer to the key (SHA-256 is preimage resistant),
so there is nothing to compare in constant time.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from handler.core.sessions import SessionSigner
from handler.store.dynamodb import DynamoDirectory
from infra.registry import Registry
from tests.hardening.conftest import LambdaHandler, imported_entry
from tests.hardening.faults import InjectedErrors
from tests.hardening.wire import Request, via_lambda
from tests.support import world
from tests.support.events import LambdaContext, api_event, invoke

# The deployed stack's own session secret, held in Secrets Manager (distinct from world.SESSION_SECRET).
STORED_SECRET = "stored-session-secret-" + "s" * 40
NOW = int(time.time())
# Issued "after" the world's users, which the fixtures create once this module is imported: a session without an
# incarnation that predates its user is refused (it was issued to a former user of the id).
ALICE_SESSION = SessionSigner(STORED_SECRET).issue("alice", now=NOW + 600, ttl_seconds=3600)
ENV_SESSION = SessionSigner(world.SESSION_SECRET).issue("bob", now=NOW + 600, ttl_seconds=3600)
NEAR_MISS = world.KEYS["full"][:-1] + "9"
SECRETS = (*world.KEYS.values(), world.UNKNOWN_KEY, NEAR_MISS, world.SESSION_SECRET, STORED_SECRET)
COOKIE_VALUES = (ALICE_SESSION, ENV_SESSION, ALICE_SESSION[:-2] + "xx")


def bearer(key: str) -> tuple[tuple[str, str], ...]:
    return (("Authorization", f"Bearer {key}"),)


def session(value: str) -> tuple[str, ...]:
    return (f"modelgate_session={value}",)


# (request, expected status, caller kind in the request log, token name whose id the log carries)
SCENARIO: list[tuple[Request, int, str | None, str | None]] = [
    (Request(headers=bearer(world.KEYS["full"])), 200, "key", "full"),
    (Request(headers=bearer(world.KEYS["limited"])), 200, "key", "limited"),
    (Request(path="/v1/models/davinci", headers=bearer(world.KEYS["limited"])), 200, "key", "limited"),
    (Request(path="/v1/models/gpt-4o-mini", headers=bearer(world.KEYS["limited"])), 404, "key", "limited"),
    (Request(headers=bearer(world.KEYS["bob"])), 200, "key", "bob"),
    (Request(), 200, "anonymous", None),
    (Request(cookies=session(ALICE_SESSION)), 200, "session", None),
    (Request(cookies=session(COOKIE_VALUES[2])), 200, "anonymous", None),
    (Request(cookies=session(ENV_SESSION)), 200, "anonymous", None),  # signed with another secret
    (Request(headers=bearer(world.UNKNOWN_KEY)), 401, None, None),
    (Request(headers=bearer(NEAR_MISS)), 401, None, None),
    (Request(headers=bearer(world.KEYS["disabled"])), 401, None, None),
    (Request(headers=bearer(world.KEYS["expired"])), 401, None, None),
    (Request(headers=bearer(world.KEYS["carol-disabled-owner"])), 401, None, None),
    (Request(headers=(*bearer(world.KEYS["full"]), *bearer(world.KEYS["bob"]))), 401, None, None),
    (Request(headers=bearer(world.KEYS["full"] + "\x01")), 401, None, None),
    (Request(path=f"/v1/models/{world.KEYS['full']}"), 404, "anonymous", None),
    (Request(query=f"key={world.KEYS['full']}"), 200, "key", "full"),  # Gemini's ?key=
    (Request(query=f"key={NEAR_MISS}"), 400, None, None),  # Gemini: API_KEY_INVALID
    (Request(path="/v1/engines", query=f"key={NEAR_MISS}"), 404, None, None),  # never read, still scrubbed
    (Request(headers=(("x-api-key", NEAR_MISS), ("anthropic-version", "2023-06-01"))), 401, None, None),
    (Request(headers=(("x-goog-api-key", world.KEYS["bob"]),)), 200, "key", "bob"),
    (Request(method="POST", headers=bearer(world.KEYS["full"])), 405, None, None),
]
# With DynamoDB throttling every lookup (after the bug below), callers never read before get 503.
FAULTED: list[tuple[Request, int, str | None, str | None]] = [
    (Request(headers=bearer(world.KEYS["future"])), 503, None, None),
    (Request(headers=bearer(world.KEYS["widening"])), 503, None, None),
]
# A bug below the store whose text quotes the caller's key and cookie: a 500, and the log masks them.
BUGGED: list[tuple[Request, int, str | None, str | None]] = [
    (Request(headers=bearer(world.KEYS["empty"]), cookies=session(ALICE_SESSION)), 500, None, None),
]


def _bug(**_: Any) -> None:
    raise RuntimeError(f"bug while reading {world.KEYS['empty']} for modelgate_session={ALICE_SESSION}")


@pytest.fixture
def deployed_like(world_table: Registry) -> Iterator[tuple[LambdaHandler, InjectedErrors]]:
    """The Lambda entry as deployed: the session secret read from Secrets Manager (on moto), DynamoDB on moto."""
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    arn = secrets.create_secret(Name=f"modelgate-session-{time.monotonic_ns()}", SecretString=STORED_SECRET)["ARN"]
    with imported_entry(SESSION_SECRET_ARN=arn) as main:
        assert isinstance(main.service.store, DynamoDirectory)
        yield main.handler, InjectedErrors(main.service.store.client)


def _texts(record: logging.LogRecord) -> list[str]:
    """Everything a formatter could print from a record: message, arguments, extra fields, traceback."""
    texts = [record.getMessage(), repr(record.args)]
    texts += [repr(value) for value in vars(record).values()]
    if record.exc_info:
        texts.append(logging.Formatter().formatException(record.exc_info))
    return texts


def test_no_secret_reaches_a_log_and_every_request_is_logged(
    deployed_like: tuple[LambdaHandler, InjectedErrors],
    world_table: Registry,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    handler, faults = deployed_like
    token_ids = {token.name: token.token_id for token in world_table.tokens()}
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="modelgate")  # answers are recorded at DEBUG
    # The bug before the faults: once DynamoDB fails, the circuit keeps every read (the bug's too) from the store.
    everything = SCENARIO + BUGGED + FAULTED
    # GIVEN / WHEN the scenario runs, each request with its own Lambda request id
    for number, (request, status, _, _) in enumerate(everything):
        if number == len(SCENARIO):
            faults.client.meta.events.register_first("before-send.dynamodb", _bug)
        if number == len(SCENARIO + BUGGED):
            faults.client.meta.events.unregister("before-send.dynamodb", _bug)
            faults.fail("ThrottlingException", "token", "user", "group", "marker")
        event = api_event(
            "http-api-v2",
            request.path,
            method=request.method,
            headers=request.header_lists(),
            cookies=list(request.cookies) or None,
            query=request.query,
        )
        reply = invoke(handler, event, LambdaContext(aws_request_id=f"req-{number:04d}"))
        assert reply.status == status, (number, reply.body[:200])
    faults.client.meta.events.unregister("before-send.dynamodb", _bug)
    out, err = capfd.readouterr()

    # THEN no secret appears in any record or on stdout/stderr
    records = caplog.records
    assert any(r.name == "modelgate.store" and r.levelno == logging.WARNING for r in records)  # capture works
    (bug,) = [r for r in records if r.levelno == logging.ERROR]
    assert (bug.name, bug.getMessage().partition("\n")[0]) == (
        "modelgate.web",
        "unexpected error: Traceback (most recent call last):",
    )
    assert f"RuntimeError: bug while reading {world.KEYS['empty'][:3]}****" in bug.getMessage()
    haystack = "\n".join([out, err] + [text for record in records for text in _texts(record)])
    for secret in (*SECRETS, *COOKIE_VALUES):
        assert secret not in haystack
    # (the hash of a key is a lookup key, not a secret, but it is not logged either)
    assert "TOKEN#" not in "\n".join(r.getMessage() for r in records if r.name.startswith("modelgate"))

    # AND one request record per request, carrying request id, caller kind and token id
    logged = [r for r in records if r.name == "modelgate.request"]
    assert [vars(r)["request_id"] for r in logged] == [f"req-{n:04d}" for n in range(len(everything))]
    for record, (_, status, kind, token_name) in zip(logged, everything, strict=True):
        fields = vars(record)
        assert fields["status"] == status
        assert fields["caller"] == kind
        assert fields["token_id"] == (token_ids[token_name] if token_name else None)


def test_a_session_signature_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a spy on hmac.compare_digest WHEN a session is verified THEN the signature went through it."""
    compared: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    signer = SessionSigner(world.SESSION_SECRET)
    value = signer.issue("alice", now=NOW, ttl_seconds=60)
    tampered = value[:-1] + ("B" if value.endswith("A") else "A")  # never the signature it replaces
    assert signer.verify(value, now=NOW) is not None
    assert signer.verify(tampered, now=NOW) is None
    assert [a for a, _ in compared] == [value.rsplit(".", 1)[1].encode(), tampered.rsplit(".", 1)[1].encode()]


def test_a_request_log_record_for_a_key_never_holds_the_key(
    lambda_entry: Any, world_table: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    """GIVEN the Lambda entry WHEN a key lists models THEN its request record names the token id, not the key."""
    caplog.set_level(logging.DEBUG, logger="modelgate")
    via_lambda(lambda_entry, "http-api-v2", Request(headers=bearer(world.KEYS["bob"])))
    (record,) = [r for r in caplog.records if r.name == "modelgate.request"]
    bob_token = next(t.token_id for t in world_table.tokens() if t.name == "bob")
    fields = vars(record)
    assert (fields["caller"], fields["token_id"], fields["user_id"], fields["status"]) == ("key", bob_token, "bob", 200)
    assert fields["request_id"] == LambdaContext().aws_request_id
    assert world.KEYS["bob"] not in " ".join(_texts(record))


def test_answers_are_recorded_at_debug_and_refusals_at_info(
    lambda_entry: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """GIVEN the function at its default INFO level WHEN a key lists models and an unknown key is refused
    THEN only the refusal is recorded (at INFO); at DEBUG the answer is recorded too."""
    caplog.set_level(logging.INFO, logger="modelgate")
    via_lambda(lambda_entry, "http-api-v2", Request(headers=bearer(world.KEYS["bob"])))
    via_lambda(lambda_entry, "http-api-v2", Request(headers=bearer(world.UNKNOWN_KEY)))
    records = [(r.levelno, vars(r)["status"]) for r in caplog.records if r.name == "modelgate.request"]
    assert records == [(logging.INFO, 401)]

    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="modelgate")
    via_lambda(lambda_entry, "http-api-v2", Request(headers=bearer(world.KEYS["bob"])))
    records = [(r.levelno, vars(r)["status"]) for r in caplog.records if r.name == "modelgate.request"]
    assert records == [(logging.DEBUG, 200)]


def test_the_key_query_parameter_never_reaches_uvicorns_access_log(
    world_table: Registry, moto_endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    """GIVEN uvicorn with its access log on (as `serve --access-log` runs it) WHEN keys arrive as ?key= (good,
    bad, percent-encoded name, on an unknown route) THEN the access log shows `key=REDACTED`, never the key."""
    import threading  # noqa: PLC0415

    import httpx  # noqa: PLC0415
    import uvicorn  # noqa: PLC0415

    from handler.web.app import create_app  # noqa: PLC0415
    from handler.wiring import build_service  # noqa: PLC0415
    from infra.local.embedded import free_port  # noqa: PLC0415
    from tests.conftest import settings_for  # noqa: PLC0415
    from tests.support.server import fresh_table  # noqa: PLC0415

    table, _ = fresh_table(moto_endpoint)
    app = create_app(build_service(settings_for(table_name=table, dynamodb_endpoint_url=moto_endpoint)))
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, access_log=True, log_config=None, proxy_headers=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        for query in (f"key={world.KEYS['full']}", f"key={NEAR_MISS}&pageSize=2", f"%6Bey={world.KEYS['bob']}"):
            for path in ("/v1/models", "/v1beta/models/gpt-4o-mini", "/v1/engines"):
                httpx.get(f"http://127.0.0.1:{port}{path}?{query}", timeout=10)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    logged = [" ".join(_texts(record)) for record in caplog.records if record.name == "uvicorn.access"]
    assert len(logged) == 9
    assert all("REDACTED" in line for line in logged)
    for secret in (world.KEYS["full"], world.KEYS["bob"], NEAR_MISS):
        assert not any(secret in line for line in logged)
