"""What lets clients skip work: strong ETags and 304s, private Cache-Control, Vary, and gzip for large bodies.

Checked through the real Mangum handler with HTTP API v2 events, and over HTTP on uvicorn. A strong ETag names
one representation, so the gzip form carries its own. The last tests check a 5,000-model list against Lambda's
6 MB response limit: the limit applies to the JSON document the runtime returns, so the body is counted after
JSON string escaping (identity) or base64 (gzip).
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from mangum import Mangum

from handler.web.app import create_app
from handler.wiring import build_service
from infra.bench.world import model_id, synthetic_catalog
from tests.conftest import settings_for
from tests.support import expected
from tests.support.events import api_event, parse_response
from tests.support.server import fresh_table, serve

STRONG_ETAG = re.compile(r'^"[0-9a-f]{32}"$')
GZIP_ETAG = re.compile(r'^"[0-9a-f]{32}-gzip"$')
LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024
ONE_MODEL = "/v1/models/davinci"

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@pytest.fixture(scope="module")
def world_table(moto_endpoint: str) -> str:
    """GIVEN (for the module) the test world in a table on moto's server; no test here writes to it."""
    table, _ = fresh_table(moto_endpoint)
    return table


@pytest.fixture(scope="module")
def function(moto_endpoint: str, world_table: str) -> Callable[..., Handler]:
    """A fresh function (cold caches) over the world table, as handler.main builds it; Settings overrides by keyword."""

    def make(**overrides: Any) -> Handler:
        settings = settings_for(table_name=world_table, dynamodb_endpoint_url=moto_endpoint, **overrides)
        mangum: Handler = Mangum(create_app(build_service(settings)), lifespan="off")
        return mangum

    return make


@pytest.fixture(scope="module")
def handler(function: Callable[..., Handler]) -> Handler:
    """One warm function for the module's read-only checks."""
    return function()


def call(handler: Handler, path: str = "/v1/models", caller: str = "full", **headers: str) -> dict[str, Any]:
    """The raw Lambda response to a v2 event from `caller` (extra headers by keyword, `_` for `-`)."""
    sent: dict[str, str | list[str]] = {k: str(v) for k, v in expected.auth_headers(caller).items()}
    sent.update({name.replace("_", "-"): value for name, value in headers.items()})
    response: dict[str, Any] = handler(api_event("http-api-v2", path, headers=sent), None)
    return response


def header(response: dict[str, Any], name: str) -> str | None:
    value: str | None = {k.lower(): v for k, v in response["headers"].items()}.get(name)
    return value


# -- ETag and If-None-Match -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/models", ONE_MODEL])
def test_list_and_retrieve_carry_a_strong_etag_that_is_stable(handler: Handler, path: str) -> None:
    """GIVEN a warm function WHEN the same caller asks twice THEN the same strong (not W/) ETag both times."""
    first, second = call(handler, path), call(handler, path)

    assert first["statusCode"] == second["statusCode"] == 200
    assert STRONG_ETAG.match(header(first, "etag") or "")
    assert header(first, "etag") == header(second, "etag")


def test_the_etag_names_the_content(handler: Handler) -> None:
    """GIVEN callers that see different lists WHEN they list THEN different ETags; the same list, the same ETag."""
    full, limited, future = (call(handler, caller=name) for name in ("full", "limited", "future"))

    assert header(full, "etag") != header(limited, "etag")
    assert header(full, "etag") == header(future, "etag")  # two keys of one owner, no list of their own
    assert header(full, "etag") != header(call(handler, ONE_MODEL), "etag")


@pytest.mark.parametrize("path", ["/v1/models", ONE_MODEL])
@pytest.mark.parametrize("form", ["{etag}", "W/{etag}", '"other", {etag}', "*"])
def test_if_none_match_answers_304_without_a_body(handler: Handler, path: str, form: str) -> None:
    """GIVEN the ETag a caller got WHEN it sends it back in If-None-Match (weak comparison, in a list, or `*`)
    THEN 304 with no body, and the same ETag and caching headers."""
    fresh = call(handler, path)
    etag = header(fresh, "etag") or ""

    revalidated = call(handler, path, if_none_match=form.format(etag=etag))

    assert revalidated["statusCode"] == 304
    assert revalidated["body"] == ""
    assert not revalidated["isBase64Encoded"]
    for name in ("etag", "cache-control", "vary"):
        assert header(revalidated, name) == header(fresh, name)


def test_a_stale_etag_gets_the_full_answer(handler: Handler) -> None:
    """GIVEN an ETag of another list WHEN sent in If-None-Match THEN 200 with the caller's list."""
    other = header(call(handler, caller="limited"), "etag") or ""

    response = parse_response(call(handler, caller="full", if_none_match=other))

    assert response.status == 200
    assert response.json() == expected.listing("full")


# -- Cache-Control and Vary ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "max_age"), [({}, 30), ({"client_max_age_seconds": 42}, 42)])
def test_cache_control_is_private_with_the_configured_max_age(
    function: Callable[..., Handler], overrides: dict[str, Any], max_age: int
) -> None:
    """GIVEN the max-age setting (default 30) WHEN listing or retrieving THEN `private, max-age=<setting>`."""
    configured = function(**overrides)

    for path in ("/v1/models", ONE_MODEL):
        assert header(call(configured, path), "cache-control") == f"private, max-age={max_age}"


@pytest.mark.parametrize("caller", ["anonymous", "full", "session:bob"])
def test_vary_names_authorization_cookie_and_accept_encoding(handler: Handler, caller: str) -> None:
    """GIVEN any caller WHEN listing THEN Vary names what picks the answer: Authorization, Cookie, Accept-Encoding
    (so no shared cache hands one caller's list to another)."""
    sent: dict[str, str | list[str]] = {k: str(v) for k, v in expected.auth_headers(caller).items()}
    raw = handler(api_event("http-api-v2", headers=sent, cookies=expected.cookies(caller) or None), None)

    vary = {part.strip().lower() for part in (header(raw, "vary") or "").split(",")}

    assert {"authorization", "cookie", "accept-encoding"} <= vary


# -- gzip ------------------------------------------------------------------------------------------------------


def test_gzip_through_mangum_is_base64_of_the_same_bytes(handler: Handler) -> None:
    """GIVEN a client accepting gzip and a list over GZIP_MIN_BYTES WHEN listing through Mangum THEN a base64 body
    with Content-Encoding gzip that inflates to exactly the identity body, under its own strong ETag."""
    identity = call(handler)
    zipped = call(handler, accept_encoding="gzip, deflate, br")

    assert len(identity["body"].encode()) >= settings_for().gzip_min_bytes
    assert header(identity, "content-encoding") is None
    assert (zipped["isBase64Encoded"], header(zipped, "content-encoding")) == (True, "gzip")
    assert gzip.decompress(base64.b64decode(zipped["body"])) == identity["body"].encode()
    assert STRONG_ETAG.match(header(identity, "etag") or "")
    assert GZIP_ETAG.match(header(zipped, "etag") or "")
    assert header(zipped, "etag") != header(identity, "etag")


@pytest.mark.parametrize(
    ("accept_encoding", "gzipped"),
    [("gzip", True), ("*", True), ("deflate, gzip;q=0.5", True), ("gzip;q=0", False), ("br", False), ("", False)],
)
def test_gzip_only_when_the_client_accepts_it(handler: Handler, accept_encoding: str, gzipped: bool) -> None:
    """GIVEN an Accept-Encoding WHEN listing THEN gzip exactly when it allows gzip (q=0 refuses it)."""
    raw = call(handler, accept_encoding=accept_encoding)

    assert (header(raw, "content-encoding") == "gzip") is gzipped
    assert parse_response(raw).json() == expected.listing("full")


def test_a_small_body_is_not_compressed(handler: Handler, function: Callable[..., Handler]) -> None:
    """GIVEN a body under GZIP_MIN_BYTES (one model; or a list under a raised threshold) WHEN gzip is accepted
    THEN identity: compressing a few hundred bytes costs more than it saves."""
    one = call(handler, ONE_MODEL, accept_encoding="gzip")
    raised = function(gzip_min_bytes=1_000_000)
    listed = call(raised, accept_encoding="gzip")

    assert len(one["body"].encode()) < settings_for().gzip_min_bytes
    assert (header(one, "content-encoding"), one["isBase64Encoded"]) == (None, False)
    assert (header(listed, "content-encoding"), listed["isBase64Encoded"]) == (None, False)
    assert json.loads(one["body"]) == expected.model("davinci")


def test_an_etag_revalidates_only_its_own_representation(handler: Handler) -> None:
    """GIVEN the identity and the gzip ETags WHEN each is sent back with and without gzip THEN 304 only when the
    ETag names the representation that would be sent."""
    identity_etag = header(call(handler), "etag") or ""
    gzip_etag = header(call(handler, accept_encoding="gzip"), "etag") or ""

    assert call(handler, accept_encoding="gzip", if_none_match=gzip_etag)["statusCode"] == 304
    assert call(handler, if_none_match=identity_etag)["statusCode"] == 304
    assert call(handler, accept_encoding="gzip", if_none_match=identity_etag)["statusCode"] == 200
    assert call(handler, if_none_match=gzip_etag)["statusCode"] == 200


# -- over HTTP ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(moto_endpoint: str, world_table: str) -> Iterator[httpx.Client]:
    """The test world on uvicorn, reading the same table."""
    settings = settings_for(table_name=world_table, dynamodb_endpoint_url=moto_endpoint)
    with serve(settings) as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
        yield http


def test_over_http_gzip_etag_and_304(client: httpx.Client) -> None:
    """GIVEN the server over HTTP WHEN a key lists with gzip, then revalidates THEN gzip on the wire (smaller than
    the JSON it inflates to), the caching headers, and a bodiless 304 for the ETag."""
    auth = {k: str(v) for k, v in expected.auth_headers("full").items()}
    with client.stream("GET", "/v1/models", headers={**auth, "Accept-Encoding": "gzip"}) as response:
        wire = b"".join(response.iter_raw())
    plain = client.get("/v1/models", headers={**auth, "Accept-Encoding": "identity"})

    assert (response.status_code, response.headers["content-encoding"]) == (200, "gzip")
    assert gzip.decompress(wire) == plain.content
    assert len(wire) < len(plain.content)
    assert plain.json() == expected.listing("full")
    assert response.headers["cache-control"] == "private, max-age=30"
    assert {"authorization", "cookie"} <= {v.strip().lower() for v in response.headers["vary"].split(",")}
    assert GZIP_ETAG.match(response.headers["etag"])
    assert STRONG_ETAG.match(plain.headers["etag"])

    revalidated = client.get(
        "/v1/models", headers={**auth, "Accept-Encoding": "gzip", "If-None-Match": response.headers["etag"]}
    )

    assert (revalidated.status_code, revalidated.content) == (304, b"")
    assert revalidated.headers["etag"] == response.headers["etag"]


# -- 5,000 models against Lambda's 6 MB response limit --------------------------------------------------------


@pytest.fixture
def big_handler(moto_endpoint: str) -> Handler:
    """GIVEN a `default` group of 5,000 catalog models (written as the CLI writes a group and its view)."""
    table, registry = fresh_table(moto_endpoint, {})
    catalog = synthetic_catalog(5_000)
    registry.put_group("default", [entry["id"] for entry in catalog], {entry["id"]: entry for entry in catalog})
    settings = settings_for(table_name=table, dynamodb_endpoint_url=moto_endpoint)
    mangum: Handler = Mangum(create_app(build_service(settings)), lifespan="off")
    return mangum


def test_a_5000_model_list_fits_lambdas_response_limit(big_handler: Handler) -> None:
    """GIVEN 5,000 models WHEN listed with and without gzip through Mangum THEN both Lambda responses, as the JSON
    the runtime sends, fit in 6 MB; gzip (base64 included) is a fraction of identity."""
    identity = call(big_handler, caller="anonymous")
    zipped = call(big_handler, caller="anonymous", accept_encoding="gzip")
    identity_payload = len(json.dumps(identity).encode())
    gzip_payload = len(json.dumps(zipped).encode())

    data = parse_response(zipped).json()["data"]
    assert [m["id"] for m in data] == [model_id(i) for i in range(5_000)]
    assert gzip_payload < LAMBDA_RESPONSE_LIMIT
    assert identity_payload < LAMBDA_RESPONSE_LIMIT
    assert gzip_payload * 5 < identity_payload
