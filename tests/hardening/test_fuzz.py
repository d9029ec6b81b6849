"""GIVEN the seeded world WHEN hypothesis generates methods, paths, credentials, cookies and headers, and
schemathesis generates requests from the app's own /openapi.json THEN no answer is a server error, every answer
has the documented shape, and a 200 always carries the list of the caller the request proves it is.

Bounded (a few hundred examples in all) so the whole file runs in seconds.
"""

from __future__ import annotations

import json
import string
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance

from handler.core.sessions import SessionSigner
from tests.hardening.conftest import LambdaHandler
from tests.hardening.wire import MANGUM_KINDS, Reply, Request, via_lambda
from tests.support import world
from tests.support.server import LocalServer

# Issued after the test table creates alice (a session older than its user is refused), within the TTL.
ALICE_SESSION = SessionSigner(world.SESSION_SECRET).issue("alice", now=int(time.time()) + 600, ttl_seconds=86_400)
VALID_KEYS = ("full", "limited", "bob", "empty", "widening")
SECRETS = (*world.KEYS.values(), world.UNKNOWN_KEY, world.SESSION_SECRET, ALICE_SESSION)
BOUNDED = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Credential:
    header: str | None  # the Authorization value, if any
    cookie: str | None  # the Cookie pairs, if any
    caller: str | None  # whose EXPECTED list a 200 must be; None: a bad key, so never a list


def _mutated(key: str, index: int, char: str) -> str:
    position = index % len(key)
    return key[:position] + char + key[position + 1 :]


def _key_credential(name: str, scheme: str, padding: str) -> Credential:
    return Credential(f"{scheme} {padding}{world.KEYS[name]}{padding}", None, name)


any_char = st.characters(codec="utf-8", exclude_categories=["Cs"])
valid_keys = st.builds(
    _key_credential, st.sampled_from(VALID_KEYS), st.sampled_from(["Bearer", "bearer", "BEARER"]), st.just("")
)
near_misses = st.builds(
    lambda name, index, char: Credential(f"Bearer {_mutated(world.KEYS[name], index, char)}", None, None),
    st.sampled_from(VALID_KEYS),
    st.integers(min_value=0, max_value=80),
    st.one_of(st.sampled_from(string.ascii_letters + string.digits + "-_"), any_char),
).filter(lambda credential: credential.header not in {f"Bearer {k}" for k in world.KEYS.values()})
junk_keys = st.builds(
    lambda prefix, text: Credential(prefix + text, None, None),
    st.sampled_from(["", "Bearer ", "bearer  ", "Basic ", "Bearer sk-", "sk-"]),
    st.one_of(
        st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=60), st.text(any_char, max_size=60)
    ),
)
cookie_text = st.text(any_char, max_size=60)
no_key = st.one_of(
    st.just(Credential(None, None, "anonymous")),
    st.just(Credential(None, f"modelgate_session={ALICE_SESSION}", "session:alice")),
    st.builds(lambda text: Credential(None, f"modelgate_session={text}", "anonymous"), cookie_text),
    st.builds(lambda text: Credential(None, text, "anonymous"), cookie_text),
)
credentials = st.one_of(valid_keys, near_misses, junk_keys, no_key)

path_text = st.text(any_char, max_size=50)
known_ids = st.sampled_from(sorted({m["id"] for m in world.CATALOG} | {"my-custom", "o1-pro"}))
LIST_ROUTES = ("/v1/models", "/v1beta/models", "/v1beta/openai/models")
list_routes = st.sampled_from(LIST_ROUTES)
paths = st.one_of(
    list_routes,
    st.builds(lambda route: f"{route}/", list_routes),
    st.builds(lambda route, model: f"{route}/{model}", list_routes, known_ids),
    st.builds(lambda model: f"/v1beta/models/models/{model}", known_ids),
    st.builds(lambda text: f"/v1/models/{text}", path_text),
    st.builds(lambda text: f"/{text}", path_text),
    st.builds(lambda a, b: f"/v1/{a}/{b}", path_text, path_text),
)
header_names = st.from_regex(r"[a-z][a-z0-9-]{0,24}", fullmatch=True).filter(
    lambda name: (
        name
        not in {
            "authorization",
            "cookie",
            "host",
            "x-forwarded-port",
            "x-forwarded-proto",
            "x-api-key",
            "x-goog-api-key",
        }
    )
)
dialect_headers = st.sampled_from(["anthropic-version", "anthropic-beta", "x-goog-api-client"])
extra_headers = st.lists(st.tuples(st.one_of(header_names, dialect_headers), st.text(max_size=40)), max_size=4)
# Where the credential travels: every place means the same key.
PLACES = ("authorization", "x-api-key", "x-goog-api-key", "query")
paging = st.sampled_from(
    ["", "limit=1", "limit=3&after_id=gpt-4o", "pageSize=2", "pageToken=xyz", "limit=0", "client_version=0.171.0"]
)
methods = st.one_of(st.just("GET"), st.sampled_from(["HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]))


def expected_dialect(request: Request) -> str:
    """Which dialect must answer, as issues 9 and 18 say: `client_version` on a list route, then the path, then
    anthropic-version, then a Google key."""
    path = unquote(request.path)
    names = {name.lower() for name, _ in request.headers}
    if path.rstrip("/") in LIST_ROUTES and any(
        p.partition("=")[0] == "client_version" for p in request.query.split("&")
    ):
        return "codex"
    if path.startswith("/v1beta/openai/"):
        return "openai"
    if path.startswith("/v1beta/"):
        return "gemini"
    if "anthropic-version" in names:
        return "anthropic"
    if "x-goog-api-key" in names or any(unquote(p.partition("=")[0]) == "key" for p in request.query.split("&")):
        return "gemini"
    return "openai"


def check_error(dialect: str, status: int, document: Any) -> None:
    if dialect == "anthropic":
        assert list(document) == ["type", "error", "request_id"]
        assert list(document["error"]) == ["type", "message"]
    elif dialect == "gemini":
        assert list(document) == ["error"]
        assert list(document["error"])[:3] == ["code", "message", "status"]
        assert document["error"]["code"] == status
    else:
        assert list(document) == ["error"]
        assert list(document["error"]) == ["message", "type", "param", "code"]


def answered_ids(dialect: str, document: Any) -> tuple[bool, list[str]]:
    """Whether the answer is a list, and the model ids it holds, in the dialect's own shape."""
    if dialect == "codex":
        assert list(document) == ["models"]
        return True, [m["slug"] for m in document["models"]]
    if dialect == "gemini":
        if "models" in document:
            return True, [m["baseModelId"] for m in document["models"]]
        return False, [document["baseModelId"]]
    if dialect == "anthropic":
        if "data" in document:
            return True, [m["id"] for m in document["data"]]
        assert document["type"] == "model"
        return False, [document["id"]]
    if document["object"] == "list":
        return True, [m["id"] for m in document["data"]]
    assert document["object"] == "model"
    return False, [document["id"]]


def check(request: Request, credential: Credential, reply: Reply) -> None:
    assert reply.status < 500, reply
    text = reply.body.decode("utf-8", "replace") + json.dumps(reply.headers)
    for secret in SECRETS:
        assert secret not in text
    dialect = expected_dialect(request)
    if credential.caller is None and request.method in {"GET", "HEAD"}:
        # A bad key never gets a list; on a list route it is refused (an id with a newline misses the retrieve
        # route's pattern, so it may be an unknown URL: a 404 before any credential is looked at).
        assert reply.status != 200, "a bad key got an answer"
        if unquote(request.path) in LIST_ROUTES:
            assert reply.status in ({400, 401} if dialect == "gemini" else {401}), "a bad key must be refused"
    if request.method == "HEAD" or reply.status in {204, 304}:
        assert reply.body == b""
        return
    assert reply.headers["content-type"].startswith("application/json")
    document: Any = reply.json()
    if reply.status >= 400:
        check_error(dialect, reply.status, document)
        return
    assert reply.status == 200
    assert credential.caller is not None
    expected = world.EXPECTED[credential.caller]
    listed, ids = answered_ids(dialect, document)
    if not listed:
        assert ids[0] in expected
    elif dialect in {"openai", "codex"}:  # the whole list
        assert ids == expected
    else:  # a page: a run of the caller's list, in its order
        start = expected.index(ids[0]) if ids else 0
        assert ids == expected[start : start + len(ids)]


@pytest.mark.parametrize("kind", MANGUM_KINDS)
def test_generated_requests_through_the_lambda_entry(lambda_entry: LambdaHandler, kind: str) -> None:
    @BOUNDED
    @given(
        method=methods,
        path=paths,
        credential=credentials,
        headers=extra_headers,
        place=st.sampled_from(PLACES),
        query=paging,
    )
    def run(
        *, method: str, path: str, credential: Credential, headers: list[tuple[str, str]], place: str, query: str
    ) -> None:
        sent = list(headers)
        if credential.header is not None:
            if place == "authorization":
                sent.append(("authorization", credential.header))
            else:  # the key alone, without its scheme
                scheme, _, key = credential.header.partition(" ")
                value = key.strip() if scheme.lower() == "bearer" else credential.header
                if place == "query":
                    query = "&".join(filter(None, (query, "key=" + quote(value, safe=""))))
                else:
                    sent.append((place, value))
        cookies = (credential.cookie,) if credential.cookie else ()
        request = Request(method, path, tuple(sent), cookies, query)
        check(request, credential, via_lambda(lambda_entry, kind, request))

    run()


# --- schemathesis, over HTTP, from the app's own schema ---


@pytest.fixture(scope="module")
def api_schema(http_service: LocalServer) -> Any:
    return schemathesis.openapi.from_url(f"{http_service.base_url}/openapi.json")


SCHEMA_PATHS = [f"{route}{suffix}" for route in LIST_ROUTES for suffix in ("", "/{model}")]


def test_the_schema_documents_every_route(api_schema: Any) -> None:
    operations = sorted(result.ok().label for result in api_schema.get_all_operations())
    assert operations == sorted(f"GET {path}" for path in SCHEMA_PATHS)


@pytest.mark.parametrize("path", SCHEMA_PATHS)
def test_schemathesis_finds_no_server_error_and_no_schema_violation(api_schema: Any, path: str) -> None:
    operation = api_schema[path]["GET"]

    @BOUNDED
    @given(case=operation.as_strategy(), credential=credentials)
    def run(case: Any, credential: Credential) -> None:
        headers = {}
        if credential.header is not None and credential.header.isascii() and credential.header.isprintable():
            headers["Authorization"] = credential.header
        else:
            credential = Credential(None, None, "anonymous")
        # Every default check: not_a_server_error, status code, content type, headers and body against the schema.
        response = case.call(headers=headers)
        # Less one: a schema cannot say that after_id, before_id and pageToken must come from the caller's own list,
        # so a schema-valid cursor may rightly get a 400.
        case.validate_response(response, excluded_checks=[positive_data_acceptance])
        # And the oracle: a bad key is refused, a 200 is the list of the caller the request proves it is.
        reply = Reply(
            response.status_code,
            {name.lower(): ", ".join(values) for name, values in response.headers.items()},
            response.content,
        )
        url = urlsplit(response.request.url)
        sent = tuple((str(name), str(value)) for name, value in response.request.headers.items())
        check(Request(path=url.path, headers=sent, query=url.query), credential, reply)

    run()
