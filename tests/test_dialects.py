"""Issue 9's dialects, from outside: which dialect answers, each one's shapes, paging, errors and caching.

Every request goes three ways: an API Gateway HTTP API (v2) and a REST API (v1) event through the real Mangum
handler, and HTTP to the app on uvicorn; all three read one table on moto's server mode. The table holds the test
world plus the `claude` group, whose catalog entries carry the optional metadata (display_name, limits,
capabilities, lifecycle and its dates). Expected bodies are built in tests/support/expected.py from the issue.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import pytest
from mangum import Mangum

from handler.web.app import create_app
from handler.wiring import build_service
from tests.conftest import settings_for
from tests.hardening.wire import TRANSPORTS, Reply, Request, send
from tests.support import expected, world
from tests.support.events import LambdaContext, api_event
from tests.support.server import fresh_table, serve

CLAUDE = world.CLAUDE_IDS
KEY = world.CLAUDE_KEY
ANTHROPIC = ("anthropic-version", "2023-06-01")
BEARER = ("Authorization", f"Bearer {KEY}")
X_API_KEY = ("x-api-key", KEY)
GOOG = ("x-goog-api-key", KEY)
LIMITED = ["gemini-2.5-pro", "claude-opus-4-1"]  # the limited key's list, less o1-pro (not in the group)
BAD_TOKEN = "pageToken: the page token is not valid for this list; list again from the first page."
Ask = Callable[..., Reply]


@pytest.fixture(scope="module")
def table(dialect_table: str) -> str:
    """GIVEN (for the module) the world, an orphan token, a revoked user and the `claude` group with its keys."""
    return dialect_table


def _ask(entry: Any, base_url: str) -> Ask:
    def ask(transport: str, path: str, *headers: tuple[str, str], query: str = "") -> Reply:
        return send(transport, Request(path=path, headers=headers, query=query), entry=entry, base_url=base_url)

    return ask


@contextmanager
def services(moto_endpoint: str, table: str, **overrides: Any) -> Iterator[Ask]:
    """The Lambda handler and uvicorn over `table`, behind one `ask(transport, path, *headers, query=)`."""
    settings = settings_for(table_name=table, dynamodb_endpoint_url=moto_endpoint, **overrides)
    entry = Mangum(create_app(build_service(settings)), lifespan="off")
    with serve(settings) as server:
        yield _ask(entry, server.base_url)


@pytest.fixture(scope="module")
def ask(moto_endpoint: str, table: str) -> Iterator[Ask]:
    with services(moto_endpoint, table) as running:
        yield running


@pytest.fixture(scope="module")
def ask_closed(moto_endpoint: str, table: str) -> Iterator[Ask]:
    """The same table with anonymous access off."""
    with services(moto_endpoint, table, anonymous_access=False) as running:
        yield running


def answer(reply: Reply) -> tuple[int, Any]:
    assert reply.headers["content-type"] == "application/json"
    return reply.status, reply.json()


def anthropic_answer(reply: Reply) -> tuple[int, Any]:
    """An Anthropic error, its request_id checked (a non-empty string) and set aside."""
    status, body = answer(reply)
    request_id = body.pop("request_id")
    assert isinstance(request_id, str)
    assert request_id
    return status, body


def gemini_list(ids: list[str]) -> dict[str, Any]:
    return {"models": [expected.gemini_model(i) for i in ids]}


# -- which dialect answers --------------------------------------------------------------------------------------

ANTHROPIC_LIST = expected.anthropic_page(CLAUDE, has_more=False)
GEMINI_LIST = gemini_list(CLAUDE)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("sent", "dialect"),
    [
        (Request(path="/v1/models", headers=(BEARER,)), "openai"),
        (Request(path="/v1/models", headers=(X_API_KEY,)), "openai"),
        (Request(path="/v1/models", headers=(BEARER, ANTHROPIC)), "anthropic"),
        (Request(path="/v1/models", headers=(X_API_KEY, ("anthropic-version", ""))), "anthropic"),
        (Request(path="/v1/models", headers=(GOOG,)), "gemini"),
        (Request(path="/v1/models", headers=(), query=f"key={KEY}"), "gemini"),
        (Request(path="/v1/models", headers=(GOOG, ANTHROPIC)), "anthropic"),
        (Request(path="/v1beta/models", headers=(GOOG,)), "gemini"),
        (Request(path="/v1beta/models", headers=(BEARER, ANTHROPIC)), "gemini"),
        (Request(path="/v1beta/models", headers=(), query=f"key={KEY}"), "gemini"),
        (Request(path="/v1beta/openai/models", headers=(BEARER,)), "openai"),
        (Request(path="/v1beta/openai/models", headers=(GOOG, ANTHROPIC)), "openai"),
        (Request(path="/v1beta/openai/models", headers=(), query=f"key={KEY}"), "openai"),
    ],
)
def test_the_path_then_the_headers_pick_the_dialect(ask: Ask, transport: str, sent: Request, dialect: str) -> None:
    """GIVEN the claude key sent in any of its places WHEN listing under each path, with and without
    anthropic-version / x-goog-api-key / ?key= THEN the dialect the issue names answers, with the key's models."""
    status, body = answer(ask(transport, sent.path, *sent.headers, query=sent.query))
    assert status == 200
    if dialect == "anthropic":
        assert body == ANTHROPIC_LIST
    elif dialect == "gemini":
        assert body == GEMINI_LIST
    else:
        assert [model["id"] for model in body["data"]] == CLAUDE
        assert {tuple(model) for model in body["data"]} == {tuple(expected.model("gpt-4o"))}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("caller", ["anonymous", "full", "limited", "bob"])
def test_the_openai_answers_are_byte_for_byte_todays_on_both_base_urls(ask: Ask, transport: str, caller: str) -> None:
    """GIVEN a world caller WHEN it lists under /v1 and /v1beta/openai THEN the same bytes, and they are the
    documented OpenAI list; a retrieve likewise."""
    headers = tuple((k, str(v)) for k, v in expected.auth_headers(caller).items())
    v1 = ask(transport, "/v1/models", *headers)
    compatible = ask(transport, "/v1beta/openai/models", *headers)
    assert v1.body == compatible.body
    assert answer(v1) == (200, expected.listing(caller))
    for model_id in world.EXPECTED[caller]:
        one = ask(transport, f"/v1beta/openai/models/{quote(model_id, safe='')}", *headers)
        assert answer(one) == (200, expected.model(model_id))
        assert one.body == ask(transport, f"/v1/models/{model_id}", *headers).body


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_cherry_studios_openai_request_gets_the_openai_list(ask: Ask, transport: str) -> None:
    """GIVEN Cherry Studio's OpenAI model fetch (the same key as `Authorization: Bearer K` and `X-Api-Key: K`, no
    anthropic-version) WHEN replayed THEN the key's OpenAI list: the same key twice is one key. Two different
    keys the same way are still 401, in OpenAI's shape, and get no list."""
    headers = (("Authorization", f"Bearer {KEY}"), ("X-Api-Key", KEY), ("Accept", "application/json"))
    status, body = answer(ask(transport, "/v1/models", *headers))
    assert (status, body) == (
        200,
        {"object": "list", "data": [expected.openai_model(i, described=False) for i in CLAUDE]},
    )
    other = (("Authorization", f"Bearer {KEY}"), ("X-Api-Key", world.KEYS["full"]))
    assert answer(ask(transport, "/v1/models", *other)) == (401, expected.MALFORMED_KEYS)


# -- Anthropic --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("credential", [BEARER, X_API_KEY], ids=["bearer", "x-api-key"])
def test_anthropic_lists_the_keys_models_with_their_metadata(ask: Ask, transport: str, credential: Any) -> None:
    """GIVEN the claude key (Bearer or x-api-key) and anthropic-version WHEN listing THEN every model as Anthropic's
    ModelInfo: display_name (the id by default), created_at in RFC 3339, lifecycle, and the catalog's optional
    fields; has_more false and the first and last ids."""
    status, body = answer(ask(transport, "/v1/models", credential, ANTHROPIC))
    assert (status, body) == (200, ANTHROPIC_LIST)
    assert body["data"][0]["created_at"] == "2025-08-05T00:00:00Z"
    assert body["data"][-1] == {
        "type": "model",
        "id": "my-custom",
        "display_name": "my-custom",
        "created_at": "2021-07-20T10:40:00Z",
        "lifecycle": "active",
    }


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_anthropic_pages_forward_with_after_id_and_back_with_before_id(ask: Ask, transport: str) -> None:
    """GIVEN 7 models WHEN paged with limit=2 and after_id=last_id THEN 4 pages in the list's order, has_more until
    the last; before_id pages back from an id."""
    pages, after = [], ""
    while True:
        query = "limit=2" + (f"&after_id={quote(after, safe='')}" if after else "")
        status, page = answer(ask(transport, "/v1/models", X_API_KEY, ANTHROPIC, query=query))
        assert status == 200
        pages.append(page)
        if not page["has_more"]:
            break
        after = page["last_id"]
    assert pages == [
        expected.anthropic_page(CLAUDE[i : i + 2], has_more=i + 2 < len(CLAUDE)) for i in range(0, len(CLAUDE), 2)
    ]
    back = answer(ask(transport, "/v1/models", X_API_KEY, ANTHROPIC, query=f"limit=2&before_id={CLAUDE[5]}"))
    assert back == (200, expected.anthropic_page(CLAUDE[3:5], has_more=True))
    first = answer(ask(transport, "/v1/models", X_API_KEY, ANTHROPIC, query=f"limit=3&before_id={CLAUDE[2]}"))
    assert first == (200, expected.anthropic_page(CLAUDE[:2], has_more=False))
    beyond = answer(ask(transport, "/v1/models", X_API_KEY, ANTHROPIC, query=f"after_id={CLAUDE[-1]}"))
    assert beyond == (200, expected.anthropic_page([], has_more=False))


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("query", "ids"),
    [
        ("lifecycle=deprecated", ["claude-3-haiku-20240307"]),
        ("lifecycle=retired", ["claude-2.1"]),
        ("lifecycle=active", [i for i in CLAUDE if i not in {"claude-3-haiku-20240307", "claude-2.1"}]),
        ("lifecycle=active&limit=1&after_id=claude-opus-4-1", ["anthropic/claude-sonnet-4"]),
    ],
)
def test_anthropic_lifecycle_filters_the_list(ask: Ask, transport: str, query: str, ids: list[str]) -> None:
    """GIVEN active, deprecated and retired models WHEN listed with lifecycle= THEN only those, in order."""
    status, body = answer(ask(transport, "/v1/models", BEARER, ANTHROPIC, query=query))
    assert status == 200
    assert [model["id"] for model in body["data"]] == ids


# -- the big group: 1,234 models, more than any page (issue 18.2) -----------------------------------------------

BIG = world.BIG_IDS
BIG_KEY = world.BIG_KEY


@pytest.fixture(scope="module")
def ask_big(moto_endpoint: str, big_table: str) -> Iterator[Ask]:
    with services(moto_endpoint, big_table) as running:
        yield running


def anthropic_ids(page: dict[str, Any]) -> list[str]:
    """A page's ids, after checking its first_id and last_id name its ends."""
    ids = [model["id"] for model in page["data"]]
    assert (page["first_id"], page["last_id"]) == (ids[0], ids[-1])
    return ids


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_librechats_anthropic_request_gets_the_whole_list(ask_big: Ask, transport: str) -> None:
    """GIVEN a key whose group holds 1,234 models WHEN LibreChat's Anthropic request is replayed (x-api-key and
    anthropic-version, no limit: it reads one page and stops) THEN all 1,234 in one page, has_more false."""
    headers = (("x-api-key", BIG_KEY), ANTHROPIC, ("accept", "application/json"))
    status, page = answer(ask_big(transport, "/v1/models", *headers))
    assert status == 200
    assert (anthropic_ids(page), page["has_more"]) == (BIG, False)
    assert page["data"][0] == expected.anthropic_model(BIG[0])


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_cherry_studios_gemini_request_gets_the_whole_list(ask_big: Ask, transport: str) -> None:
    """GIVEN a key whose group holds 1,234 models WHEN Cherry Studio's Gemini request is replayed
    (GET /v1beta/models?key=K, one page, no pageSize) THEN all 1,234 and no nextPageToken."""
    status, body = answer(ask_big(transport, "/v1beta/models", query=f"key={BIG_KEY}"))
    assert status == 200
    assert list(body) == ["models"]
    assert [model["baseModelId"] for model in body["models"]] == BIG
    assert body["models"][-1] == expected.gemini_model(BIG[-1])


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("query", "ids", "has_more"),
    [
        ("", BIG, False),
        ("limit=", BIG, False),
        ("limit=20", BIG[:20], True),
        ("limit=1000", BIG[:1000], True),
        (f"limit=1000&after_id={BIG[999]}", BIG[1000:], False),
        (f"after_id={BIG[99]}", BIG[100:], False),
        (f"before_id={BIG[1200]}", BIG[:1200], False),
        (f"limit=50&before_id={BIG[1200]}", BIG[1150:1200], True),
    ],
    ids=["no-limit", "empty-limit", "20", "1000", "1000-after", "after-no-limit", "before-no-limit", "50-before"],
)
def test_anthropic_without_limit_answers_the_whole_list_and_with_one_pages_by_it(
    ask_big: Ask, transport: str, query: str, ids: list[str], has_more: bool
) -> None:
    """GIVEN 1,234 models (more than the old default of 20 and the cap of 1,000) WHEN listed without limit, with
    20 or 1000, with a cursor THEN no limit means the whole rest of the list in one page; a limit pages by it."""
    status, page = answer(ask_big(transport, "/v1/models", ("x-api-key", BIG_KEY), ANTHROPIC, query=query))
    assert status == 200
    assert (anthropic_ids(page), page["has_more"]) == (ids, has_more)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=0", "limit: must be an integer from 1 to 1000."),
        ("limit=1001", "limit: must be an integer from 1 to 1000."),
        ("limit=ten", "limit: must be an integer from 1 to 1000."),
        ("after_id=gpt-4o-mini", "after_id: no model with this id is in your list."),
        ("before_id=no-such-model", "before_id: no model with this id is in your list."),
        ("after_id=gpt-4o&before_id=claude-2.1", "after_id and before_id cannot be used together."),
        ("lifecycle=beta", "lifecycle: must be one of active, deprecated, retired."),
    ],
)
def test_anthropic_bad_paging_is_400(ask: Ask, transport: str, query: str, message: str) -> None:
    """GIVEN a bad limit, a cursor outside the caller's list, or both cursors WHEN listed THEN 400 in Anthropic's
    error shape (type error, invalid_request_error, a request_id)."""
    reply = ask(transport, "/v1/models", X_API_KEY, ANTHROPIC, query=query)
    assert anthropic_answer(reply) == (400, expected.anthropic_error("invalid_request_error", message))


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("model_id", ["claude-opus-4-1", "anthropic/claude-sonnet-4", "my-custom"])
def test_anthropic_retrieve_gives_the_one_model(ask: Ask, transport: str, model_id: str) -> None:
    """GIVEN a model of the key WHEN retrieved (raw and percent-encoded) THEN its Anthropic object."""
    for path in (f"/v1/models/{model_id}", f"/v1/models/{quote(model_id, safe='')}"):
        assert answer(ask(transport, path, X_API_KEY, ANTHROPIC)) == (200, expected.anthropic_model(model_id))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_anthropic_errors_in_anthropics_shape(ask: Ask, transport: str, ask_closed: Ask) -> None:
    """GIVEN a hidden model, a refused key, two different keys and no key (anonymous off) WHEN asked with
    anthropic-version THEN 404 not_found_error, 401 authentication_error (key masked), 401, 401."""
    hidden = ask(transport, "/v1/models/gpt-4o-mini", X_API_KEY, ANTHROPIC)
    message = "The model 'gpt-4o-mini' does not exist or you do not have access to it."
    assert anthropic_answer(hidden) == (404, expected.anthropic_error("not_found_error", message))
    limited = ask(transport, "/v1/models/gpt-4o", ("x-api-key", world.CLAUDE_LIMITED_KEY), ANTHROPIC)
    assert anthropic_answer(limited)[0] == 404
    refused = ask(transport, "/v1/models", ("x-api-key", world.UNKNOWN_KEY), ANTHROPIC)
    incorrect = "Incorrect API key provided: sk-te****0000."
    assert anthropic_answer(refused) == (401, expected.anthropic_error("authentication_error", incorrect))
    assert world.UNKNOWN_KEY not in refused.body.decode()
    both = ask(transport, "/v1/models", X_API_KEY, ("Authorization", f"Bearer {world.KEYS['full']}"), ANTHROPIC)
    assert anthropic_answer(both)[0] == 401
    missing = anthropic_answer(ask_closed(transport, "/v1/models", ANTHROPIC))
    assert missing[0] == 401
    assert missing[1]["error"]["type"] == "authentication_error"
    assert "x-api-key" in missing[1]["error"]["message"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_limited_key_pages_its_own_list(ask: Ask, transport: str) -> None:
    """GIVEN a key whose list narrows and reorders the group WHEN listed in each dialect THEN exactly that list."""
    key = world.CLAUDE_LIMITED_KEY
    anthropic = answer(ask(transport, "/v1/models", ("x-api-key", key), ANTHROPIC))
    assert anthropic == (200, expected.anthropic_page(LIMITED, has_more=False))
    assert answer(ask(transport, "/v1beta/models", ("x-goog-api-key", key))) == (200, gemini_list(LIMITED))


# -- Gemini -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_gemini_pages_with_page_size_and_opaque_tokens(ask: Ask, transport: str) -> None:
    """GIVEN 7 models WHEN paged with pageSize=3 and each nextPageToken THEN 3 pages in order; the last has no
    nextPageToken; the tokens are opaque (no id, no offset in clear)."""
    pages, token = [], ""
    while True:
        query = "pageSize=3" + (f"&pageToken={token}" if token else "")
        status, page = answer(ask(transport, "/v1beta/models", GOOG, query=query))
        assert status == 200
        pages.append(page)
        token = page.get("nextPageToken", "")
        if not token:
            break
        assert all(model_id not in token for model_id in CLAUDE)
    assert [[m["baseModelId"] for m in page["models"]] for page in pages] == [CLAUDE[:3], CLAUDE[3:6], CLAUDE[6:]]
    assert [list(page) for page in pages] == [["models", "nextPageToken"]] * 2 + [["models"]]
    assert [m for page in pages for m in page["models"]] == GEMINI_LIST["models"]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("query", "first", "size"),
    [
        ("", 0, None),
        ("pageSize=0", 0, None),
        ("pageSize=", 0, None),
        ("pageSize=50", 0, 50),
        ("pageSize=1000", 0, 1000),
        ("pageSize=5000", 0, 1000),
        ("page_size=1001", 0, 1000),
    ],
)
def test_gemini_without_page_size_answers_the_whole_list_and_caps_a_page_at_1000(
    ask_big: Ask, transport: str, query: str, first: int, size: int | None
) -> None:
    """GIVEN 1,234 models (more than the old default of 50 and the cap of 1,000) WHEN listed without pageSize, with
    0 (proto3's unset), 50, 1000 or more THEN no pageSize means every model and no nextPageToken; a pageSize pages
    by it, at most 1,000 a page, with a token for the rest."""
    status, body = answer(ask_big(transport, "/v1beta/models", ("x-goog-api-key", BIG_KEY), query=query))
    assert status == 200
    ids = [model["baseModelId"] for model in body["models"]]
    if size is None:
        assert (ids, list(body)) == (BIG, ["models"])
        return
    assert ids == BIG[:size]
    assert list(body) == ["models", "nextPageToken"]
    rest = answer(
        ask_big(transport, "/v1beta/models", ("x-goog-api-key", BIG_KEY), query=f"pageToken={body['nextPageToken']}")
    )[1]
    assert ([model["baseModelId"] for model in rest["models"]], list(rest)) == (BIG[size:], ["models"])


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_gemini_refuses_a_tampered_or_foreign_page_token(ask: Ask, transport: str) -> None:
    """GIVEN a real nextPageToken WHEN one character is changed, or it is used by a key with another list,
    or it is junk THEN 400 INVALID_ARGUMENT, never a page."""
    token = answer(ask(transport, "/v1beta/models", GOOG, query="pageSize=2"))[1]["nextPageToken"]
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    limited = ("x-goog-api-key", world.CLAUDE_LIMITED_KEY)
    refused = expected.google_error(400, "INVALID_ARGUMENT", BAD_TOKEN)
    for headers, sent in (((GOOG,), tampered), ((limited,), token), ((GOOG,), "not-a-token"), ((GOOG,), "%00")):
        assert answer(ask(transport, "/v1beta/models", *headers, query=f"pageSize=2&pageToken={sent}")) == (
            400,
            refused,
        )


def test_a_page_token_from_a_list_that_has_changed_is_refused(moto_endpoint: str) -> None:
    """GIVEN a token from page 1 WHEN the group changes (one model more) before page 2 is asked for
    THEN 400 INVALID_ARGUMENT, never a page of the new list; a fresh walk works."""
    table, registry = fresh_table(moto_endpoint)
    expected.extend_dialect_world(registry)
    with services(moto_endpoint, table, revalidate_seconds=0) as ask:
        for transport in TRANSPORTS:
            check_a_stale_token(ask, transport, registry)


def check_a_stale_token(ask: Ask, transport: str, registry: Any) -> None:
    token = answer(ask(transport, "/v1beta/models", GOOG, query="pageSize=3"))[1]["nextPageToken"]
    entries = {i: e for i, e in world.DIALECT_CATALOG.items() if e is not None}
    registry.put_group(world.CLAUDE_GROUP, [*CLAUDE, f"added-for-{transport}"], entries)
    status, body = answer(ask(transport, "/v1beta/models", GOOG, query=f"pageSize=3&pageToken={token}"))
    assert (status, body) == (400, expected.google_error(400, "INVALID_ARGUMENT", BAD_TOKEN))
    fresh = answer(ask(transport, "/v1beta/models", GOOG, query="pageSize=3"))[1]["nextPageToken"]
    assert answer(ask(transport, "/v1beta/models", GOOG, query=f"pageSize=3&pageToken={fresh}"))[0] == 200


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("path", "model_id"),
    [
        ("/v1beta/models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("/v1beta/models/models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("/v1beta/models/anthropic/claude-sonnet-4", "anthropic/claude-sonnet-4"),
        ("/v1beta/models/anthropic%2Fclaude-sonnet-4", "anthropic/claude-sonnet-4"),
        ("/v1beta/models/models%2Fanthropic%2Fclaude-sonnet-4", "anthropic/claude-sonnet-4"),
        ("/v1/models/models/claude-2.1", "claude-2.1"),
        ("/v1/models/my-custom", "my-custom"),
    ],
)
def test_gemini_retrieve_takes_ids_with_slashes_and_the_models_form(
    ask: Ask, transport: str, path: str, model_id: str
) -> None:
    """GIVEN a model of the key WHEN retrieved as <id>, models/<id>, raw or percent-encoded THEN its Gemini object."""
    assert answer(ask(transport, path, GOOG)) == (200, expected.gemini_model(model_id))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_gemini_errors_in_googles_shape(ask: Ask, transport: str, ask_closed: Ask) -> None:
    """GIVEN a hidden model, a bad key (in each place), two different keys and no key (anonymous off)
    WHEN asked in Gemini's dialect THEN 404 NOT_FOUND, 400 INVALID_ARGUMENT with API_KEY_INVALID, 401
    UNAUTHENTICATED, 403 PERMISSION_DENIED."""
    hidden = answer(ask(transport, "/v1beta/models/gpt-4o-mini", GOOG))
    message = "The model 'gpt-4o-mini' does not exist or you do not have access to it."
    assert hidden == (404, expected.google_error(404, "NOT_FOUND", message))
    for headers, query in (
        ((("x-goog-api-key", world.UNKNOWN_KEY),), ""),
        ((), f"key={world.KEYS['disabled']}"),
        ((("Authorization", f"Bearer {world.KEYS['expired']}"),), ""),
    ):
        for path in ("/v1beta/models", "/v1beta/models/gpt-4o-mini"):
            reply = ask(transport, path, *headers, query=query)
            assert answer(reply) == (400, expected.GOOGLE_BAD_KEY)
    both = answer(ask(transport, "/v1beta/models", GOOG, query=f"key={world.KEYS['full']}"))
    assert (both[0], both[1]["error"]["status"]) == (401, "UNAUTHENTICATED")
    missing = answer(ask_closed(transport, "/v1beta/models"))
    assert (missing[0], missing[1]["error"]["status"], missing[1]["error"]["code"]) == (403, "PERMISSION_DENIED", 403)


# -- OPENAI_LIST_METADATA: the catalog's metadata in the OpenAI objects (issue 18.4) -----------------------------


@pytest.fixture(scope="module")
def ask_described(moto_endpoint: str, table: str) -> Iterator[Ask]:
    """The same table with OPENAI_LIST_METADATA on."""
    with services(moto_endpoint, table, openai_list_metadata=True) as running:
        yield running


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("path", ["/v1/models", "/v1beta/openai/models"])
@pytest.mark.parametrize("credential", [BEARER, X_API_KEY], ids=["bearer", "x-api-key"])
def test_with_list_metadata_each_described_model_carries_its_metadata(
    ask_described: Ask, transport: str, path: str, credential: tuple[str, str]
) -> None:
    """GIVEN OPENAI_LIST_METADATA on WHEN the claude key lists in the OpenAI dialect THEN each model the catalog
    describes also carries name, display_name, description, context_length and max_output_tokens (those it has),
    after the documented fields; the order, permissions and defaults as without it; a retrieve likewise."""
    status, body = answer(ask_described(transport, path, credential))
    assert (status, body) == (
        200,
        {"object": "list", "data": [expected.openai_model(i, described=True) for i in CLAUDE]},
    )
    assert list(body["data"][0]) == [
        *("id", "object", "created", "owned_by", "permission", "root", "parent"),
        *("name", "display_name", "description", "context_length", "max_output_tokens"),
    ]
    assert body["data"][0]["name"] == "Claude Opus 4.1"
    for model_id in ("claude-opus-4-1", "anthropic/claude-sonnet-4", "my-custom"):
        one = answer(ask_described(transport, f"{path}/{quote(model_id, safe='')}", credential))
        assert one == (200, expected.openai_model(model_id, described=True))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_with_list_metadata_models_without_any_keep_their_bytes(ask: Ask, ask_described: Ask, transport: str) -> None:
    """GIVEN OPENAI_LIST_METADATA on and off WHEN the claude key lists THEN a model without display name,
    description or token limits is the same bytes either way; without the setting no model carries metadata."""
    off = answer(ask(transport, "/v1/models", BEARER))[1]["data"]
    on = answer(ask_described(transport, "/v1/models", BEARER))[1]["data"]
    assert off == [expected.openai_model(i, described=False) for i in CLAUDE]
    plain = ["claude-2.1", "gpt-4o", "my-custom"]
    assert [m for m in on if m["id"] in plain] == [m for m in off if m["id"] in plain]
    assert [m for m in on if m["id"] not in plain] != [m for m in off if m["id"] not in plain]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_with_list_metadata_the_other_dialects_do_not_change(ask: Ask, ask_described: Ask, transport: str) -> None:
    """GIVEN OPENAI_LIST_METADATA on WHEN listed in the Anthropic and Gemini dialects THEN the same bytes as off."""
    for path, headers in (("/v1/models", (X_API_KEY, ANTHROPIC)), ("/v1beta/models", (GOOG,))):
        assert ask_described(transport, path, *headers).body == ask(transport, path, *headers).body


# -- caching on every dialect -------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/v1/models", (X_API_KEY, ANTHROPIC)),
        ("/v1beta/models", (GOOG,)),
        ("/v1/models/claude-opus-4-1", (X_API_KEY, ANTHROPIC)),
        ("/v1beta/models/gemini-2.5-pro", (GOOG,)),
        ("/v1beta/openai/models", (BEARER,)),
    ],
)
def test_every_dialect_has_etags_304s_and_gzip(
    ask: Ask, transport: str, path: str, headers: tuple[tuple[str, str], ...]
) -> None:
    """GIVEN any dialect's list or model WHEN asked twice THEN the same strong ETag, private caching and a Vary that
    names every credential header and anthropic-version; If-None-Match gets a bodiless 304; a list accepts gzip."""
    identity = ("Accept-Encoding", "identity")
    first, second = ask(transport, path, *headers, identity), ask(transport, path, *headers, identity)
    etag = first.headers["etag"]
    assert (first.status, etag) == (200, second.headers["etag"])
    assert first.headers["cache-control"] == "private, max-age=30"
    vary = {v.strip().lower() for v in first.headers["vary"].split(",")}
    assert {"authorization", "x-api-key", "x-goog-api-key", "anthropic-version", "cookie"} <= vary
    revalidated = ask(transport, path, *headers, identity, ("If-None-Match", etag))
    assert (revalidated.status, revalidated.body) == (304, b"")
    if "/models/" not in path:  # a list: over GZIP_MIN_BYTES (one model is not)
        zipped = ask(transport, path, *headers, ("Accept-Encoding", "gzip"))
        assert (zipped.headers["content-encoding"], zipped.headers["etag"]) == ("gzip", etag[:-1] + '-gzip"')
        assert zipped.body == first.body  # inflated by the transport


def test_a_gzip_page_through_mangum_is_base64_of_the_identity_bytes(moto_endpoint: str, table: str) -> None:
    """GIVEN an Anthropic and a Gemini page over GZIP_MIN_BYTES WHEN asked with gzip through Mangum (v2 event)
    THEN a base64 body that inflates to exactly the identity body."""
    settings = settings_for(table_name=table, dynamodb_endpoint_url=moto_endpoint)
    handler: Any = Mangum(create_app(build_service(settings)), lifespan="off")
    for path, headers in (("/v1/models", {"x-api-key": KEY, "anthropic-version": "1"}), ("/v1beta/models", {})):
        sent: dict[str, str | list[str]] = {"x-goog-api-key": KEY, **headers}
        identity = handler(api_event("http-api-v2", path, headers=sent), LambdaContext())
        zipped = handler(api_event("http-api-v2", path, headers={**sent, "accept-encoding": "gzip"}), LambdaContext())
        assert len(identity["body"]) >= settings.gzip_min_bytes
        assert zipped["isBase64Encoded"] is True
        assert gzip.decompress(base64.b64decode(zipped["body"])) == identity["body"].encode()
