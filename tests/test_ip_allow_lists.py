"""IP allow-lists from outside: the client address as each entry point gives it (API Gateway's source IP in HTTP API
v2 and REST v1 events, the peer address under uvicorn; never X-Forwarded-For), and the 403 in each dialect."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mangum import Mangum

from handler.core import keys
from handler.web.app import create_app
from handler.wiring import build_service
from tests.conftest import settings_for
from tests.hardening.wire import TRANSPORTS, Reply, Request, send
from tests.support import world
from tests.support.server import fresh_table, serve

# The events' source IPs (tests/events: 192.168.0.1/32 as `sam local generate-event` writes it, 127.0.0.1) and
# uvicorn's loopback peer.
HERE = "sk-test-alice-allowed-here-000000000000000000000000000000"
ELSEWHERE = "sk-test-alice-allowed-elsewhere-0000000000000000000000000"


@pytest.fixture(scope="module")
def ask(moto_endpoint: str) -> Iterator[Any]:
    """GIVEN the test world, one key of alice allowed from the events' and loopback addresses, one from 10/8 only."""
    table, registry = fresh_table(moto_endpoint)
    registry.put_token(HERE, user_id="alice", allow_ips=["192.168.0.1/32", "127.0.0.0/8"])
    registry.put_token(ELSEWHERE, user_id="alice", allow_ips=["10.0.0.0/8", "2001:db8::/32"])
    settings = settings_for(table_name=table, dynamodb_endpoint_url=moto_endpoint)
    entry = Mangum(create_app(build_service(settings)), lifespan="off")
    with serve(settings) as server:

        def run(transport: str, *headers: tuple[str, str], path: str = "/v1/models") -> Reply:
            return send(transport, Request(path=path, headers=headers), entry=entry, base_url=server.base_url)

        yield run


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_key_is_admitted_from_inside_its_list(ask: Any, transport: str) -> None:
    """GIVEN a key allowed from the caller's address WHEN it lists THEN 200 with what alice's unlimited key lists."""
    reply = ask(transport, ("Authorization", f"Bearer {HERE}"))
    full = ask(transport, ("Authorization", f"Bearer {world.KEYS['full']}"))
    assert (reply.status, full.status) == (200, 200)
    assert reply.json()["data"]
    assert reply.json() == full.json()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_outside_its_list_a_key_gets_403_in_each_dialect(ask: Any, transport: str) -> None:
    """GIVEN a key allowed only from 10.0.0.0/8 and 2001:db8::/32, and a forged X-Forwarded-For inside them
    WHEN it lists in the OpenAI, Anthropic and Gemini dialects THEN 403: permission_error / ip_not_allowed,
    Anthropic's permission_error, Google's PERMISSION_DENIED; the key masked, the allowed networks never shown."""
    forged = ("X-Forwarded-For", "10.1.2.3")
    openai = ask(transport, ("Authorization", f"Bearer {ELSEWHERE}"), forged)
    anthropic = ask(transport, ("x-api-key", ELSEWHERE), ("anthropic-version", "2023-06-01"), forged)
    gemini = ask(transport, ("x-goog-api-key", ELSEWHERE), forged, path="/v1beta/models")

    assert openai.status == anthropic.status == gemini.status == 403
    error = openai.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("permission_error", "ip_not_allowed", None)
    assert error["message"].startswith("This API key may not be used from this address (")
    assert keys.mask(ELSEWHERE) in error["message"]
    body = anthropic.json()
    assert (body["type"], body["error"]["type"]) == ("error", "permission_error")
    assert gemini.json()["error"]["code"] == 403
    assert gemini.json()["error"]["status"] == "PERMISSION_DENIED"
    for reply in (openai, anthropic, gemini):
        assert ELSEWHERE.encode() not in reply.body
        assert b"10.0.0.0" not in reply.body
