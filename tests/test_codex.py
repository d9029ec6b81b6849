"""Codex CLI's model catalog (issue 18.1): `GET /v1/models?client_version=...` answers `{"models":[ModelInfo...]}`.

Codex's request is replayed exactly (Bearer, `originator: codex_cli_rs`, `accept-encoding: zstd,gzip`) through the
Lambda handler on real API Gateway events and over HTTP, against a table written by the operator's Registry. The
real Codex CLI reads the same world in tests/test_codex_cli.py; the catalog's side is tests/test_codex_catalog.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from mangum import Mangum
from starlette.datastructures import QueryParams

from handler.core import codex
from handler.core.listing import Listing
from handler.core.records import Member
from handler.web.app import MODEL_ROUTES, create_app
from handler.web.dialects import codex as dialect
from handler.wiring import build_service
from tests.conftest import settings_for
from tests.hardening.wire import TRANSPORTS, Request, send
from tests.support import codex as fixtures
from tests.support.codex_world import BAD_KEY, EXPECTED, KEY, LIMITED, LISTED, PLAIN, codex_request, codex_table
from tests.support.server import LocalServer, serve
from tests.support.stack import Stack

CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def table(moto_endpoint: str) -> str:
    return codex_table(moto_endpoint)


@pytest.fixture(scope="module")
def entry(moto_endpoint: str, table: str) -> Any:
    return Mangum(create_app(build_service(settings_for(table_name=table, dynamodb_endpoint_url=moto_endpoint))))


@pytest.fixture(scope="module")
def server(moto_endpoint: str, table: str) -> Iterator[LocalServer]:
    with serve(settings_for(table_name=table, dynamodb_endpoint_url=moto_endpoint)) as running:
        yield running


# -- Codex's request, replayed -------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("key", [KEY, LIMITED, PLAIN], ids=["full", "limited", "plain"])
def test_codexs_request_gets_exactly_the_keys_models_as_codex_entries(
    entry: Any, server: LocalServer, transport: str, key: str
) -> None:
    """GIVEN a key WHEN Codex's catalog request is replayed THEN 200, `{"models":[...]}` holding exactly the key's
    models in its order: a stored entry as stored (under the model's id), any other built from the catalog's
    metadata with the first stored entry's instructions, or the neutral line when the key has none."""
    reply = send(transport, codex_request(key), entry=entry, base_url=server.base_url)

    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert list(body) == ["models"]
    assert [m["slug"] for m in body["models"]] == LISTED[key]
    assert body["models"] == EXPECTED[key]
    for served in body["models"]:
        codex.check_entry(served)  # every entry as Codex would read it


def test_the_answer_is_gzipped_for_codexs_accept_encoding(entry: Any, server: LocalServer) -> None:
    """GIVEN Codex's `accept-encoding: zstd,gzip` WHEN it lists over HTTP THEN the body is gzip, which it reads."""
    reply = send("http", codex_request(KEY), entry=entry, base_url=server.base_url)
    assert reply.headers["content-encoding"] == "gzip"
    assert reply.headers["vary"].startswith("Authorization")


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("name", "request_"),
    [
        ("unknown key", codex_request(BAD_KEY)),
        ("no scheme", Request(query="client_version=0.171.0", headers=(("authorization", KEY),))),
        ("bad key on the Gemini route", codex_request(BAD_KEY, path="/v1beta/models")),
        ("bad key with anthropic-version", codex_request(BAD_KEY, headers=(("anthropic-version", "2023-06-01"),))),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_bad_key_gets_openais_401_and_never_a_catalog(
    entry: Any, server: LocalServer, transport: str, name: str, request_: Request
) -> None:
    """GIVEN a key that is not valid WHEN Codex's catalog is asked for, on any list route, whatever else the request
    says THEN 401 in OpenAI's error shape (the Codex dialect's errors are OpenAI's), with no `models` at all."""
    reply = send(transport, request_, entry=entry, base_url=server.base_url)

    assert reply.status == 401
    body = reply.json()
    assert list(body) == ["error"]
    assert list(body["error"]) == ["message", "type", "param", "code"]
    assert (body["error"]["type"], body["error"]["code"]) == ("invalid_request_error", "invalid_api_key")
    assert b"models" not in reply.body
    assert KEY not in reply.body.decode()


# -- which dialect answers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "query", "headers"),
    [
        ("/v1/models", "client_version=0.171.0", ()),
        ("/v1/models/", "client_version=0.171.0", ()),
        ("/v1/models", "client_version=", ()),
        ("/v1/models", "client_version", ()),
        ("/v1/models", "limit=2&client_version=0.1.0", (("anthropic-version", "2023-06-01"),)),
        ("/v1/models", "client_version=0.171.0", (("x-goog-api-key", KEY),)),
        ("/v1beta/models", "pageSize=1&client_version=0.171.0", ()),
        ("/v1beta/openai/models", "client_version=0.171.0", ()),
    ],
    ids=[
        "plain",
        "trailing-slash",
        "empty-value",
        "no-value",
        "before-anthropic",
        "before-gemini-key",
        "gemini-route",
        "openai-route",
    ],
)
def test_client_version_on_any_list_route_picks_codex_before_every_other_rule(
    entry: Any, path: str, query: str, headers: tuple[tuple[str, str], ...]
) -> None:
    """GIVEN `client_version` in the query WHEN any list route is asked, whatever the path, headers and paging
    parameters say THEN Codex's catalog, the whole list."""
    request = Request(path=path, query=query, headers=(("authorization", f"Bearer {KEY}"), *headers))
    reply = send("http-api-v2", request, entry=entry, base_url="")
    assert reply.status == 200
    assert reply.json() == {"models": EXPECTED[KEY]}


@pytest.mark.parametrize(
    ("path", "headers", "shape"),
    [
        ("/v1/models/gpt-5.5", (), "openai"),
        ("/v1/models/gpt-5.5", (("anthropic-version", "2023-06-01"),), "anthropic"),
        ("/v1beta/models/gpt-5.5", (), "gemini"),
    ],
)
def test_a_retrieve_with_client_version_is_the_dialect_it_would_be_without(
    entry: Any, path: str, headers: tuple[tuple[str, str], ...], shape: str
) -> None:
    """GIVEN `client_version` on a retrieve (Codex never retrieves) THEN the same answer as without it."""
    base = Request(path=path, headers=(("authorization", f"Bearer {KEY}"), *headers))
    plain = send("http-api-v2", base, entry=entry, base_url="")
    asked = send(
        "http-api-v2",
        Request(path=path, headers=base.headers, query="client_version=0.171.0"),
        entry=entry,
        base_url="",
    )
    assert (asked.status, asked.body) == (plain.status, plain.body)
    body = asked.json()
    key = {"openai": "object", "anthropic": "type", "gemini": "baseModelId"}[shape]
    assert key in body


def test_the_list_paths_are_the_apps_list_routes() -> None:
    assert set(MODEL_ROUTES) == dialect.LIST_PATHS


def test_codex_is_not_chosen_without_client_version(entry: Any) -> None:
    """GIVEN a `client_version`-like parameter that is not it WHEN listed THEN OpenAI's list, as before."""
    for query in ("client_versions=1", "xclient_version=1", "client%5Fversion=1"):
        reply = send(
            "http-api-v2", Request(query=query, headers=(("authorization", f"Bearer {KEY}"),)), entry=entry, base_url=""
        )
        assert reply.json()["object"] == "list", query


# -- the byte budget -------------------------------------------------------------------------------------------------


def listing(count: int, size: int, stored: bool = True) -> Listing:
    members = [
        Member(f"m{i:04d}", {"codex": fixtures.entry(f"m{i:04d}", priority=i, size=size)} if stored else None)
        for i in range(count)
    ]
    return Listing(members, "v")


def test_a_catalog_within_the_budget_is_served_whole() -> None:
    """GIVEN 10 stored entries of 40 KB (twice over: instructions and template) WHEN listed THEN every entry whole."""
    body = dialect.DIALECT.page(listing(10, 40_000), QueryParams()).body
    models = json.loads(body)["models"]
    assert len(body) < dialect.CATALOG_BUDGET
    assert [m["base_instructions"] for m in models] == [fixtures.instructions(f"m{i:04d}", 40_000) for i in range(10)]


def test_beyond_the_budget_every_model_is_listed_and_the_rest_get_the_short_line() -> None:
    """GIVEN 300 stored entries of 90 KB each (about 54 MB whole) WHEN listed THEN at most 1 MiB, all 300 models in
    order; the first ones whole while the others still fit, every later one with the neutral line and no template,
    and never a whole one after a short one."""
    body = dialect.DIALECT.page(listing(300, 45_000), QueryParams()).body
    models = json.loads(body)["models"]

    assert len(body) <= dialect.CATALOG_BUDGET
    assert [m["slug"] for m in models] == [f"m{i:04d}" for i in range(300)]
    whole = [m for m in models if m["base_instructions"] != codex.NEUTRAL_INSTRUCTIONS]
    assert 1 <= len(whole) < 300
    assert models[: len(whole)] == whole  # a prefix of the caller's order
    for i, served in enumerate(models[len(whole) :], start=len(whole)):
        assert "model_messages" not in served
        assert served == {**codex.short_entry(fixtures.entry(f"m{i:04d}", priority=i, size=45_000))}
        codex.check_entry(served)
    # AND one more whole entry would not have fitted
    next_whole = json.dumps(fixtures.entry(f"m{len(whole):04d}", priority=len(whole), size=45_000))
    assert len(body) + len(next_whole) - len(json.dumps(models[len(whole)])) > dialect.CATALOG_BUDGET


def test_when_even_short_entries_pass_the_budget_every_model_is_still_listed() -> None:
    """GIVEN 3,000 models and no stored entry (about 1.2 MB with the neutral line alone) WHEN listed THEN all
    3,000, each with the neutral line: Codex gets every model rather than a cut list."""
    body = dialect.DIALECT.page(listing(3000, 0, stored=False), QueryParams()).body
    models = json.loads(body)["models"]
    assert len(body) > dialect.CATALOG_BUDGET
    assert len(models) == 3000
    assert {m["base_instructions"] for m in models} == {codex.NEUTRAL_INSTRUCTIONS}


def test_each_models_entry_is_rendered_once_per_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a listing WHEN Codex lists three times THEN one Document, and each entry was rendered once."""
    rendered: list[str] = []
    source = listing(3, 100)
    original = codex.served_entry

    def counting(model_id: str, stored: Any) -> dict[str, Any]:
        rendered.append(model_id)
        return original(model_id, stored)

    monkeypatch.setattr(codex, "served_entry", counting)
    pages = [dialect.DIALECT.page(source, QueryParams()) for _ in range(3)]
    assert pages[0] is pages[1] is pages[2]
    assert rendered == ["m0000", "m0001", "m0002"]


@pytest.mark.parametrize(
    ("domain", "url"),
    [
        ("", "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/v1/models"),
        ("models.example.com", "https://${DomainName}/v1/models"),
    ],
    ids=["execute-api", "domain"],
)
def test_the_stack_outputs_codexs_model_catalog_url(domain: str, url: str) -> None:
    """GIVEN the template, with or without a custom domain THEN CodexModelCatalogUrl is the list route there."""
    stack = Stack(DomainName=domain, CertificateArn=CERTIFICATE if domain else "")
    assert stack.outputs["CodexModelCatalogUrl"]["Value"]["Fn::Sub"] == url
