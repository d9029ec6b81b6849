"""IP allow-lists from outside: the client address as each entry point gives it (API Gateway's source IP in HTTP API
v2 and REST v1 events, the peer address under uvicorn, the address an ALB appended to X-Forwarded-For; never what
the client wrote there), and the 403 in each dialect."""

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
from tests.support.events import invoke, load_event
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


# -- behind an Application Load Balancer -------------------------------------------------------------------------

ALB_PEER = "72.12.164.125"  # the address in `sam local generate-event alb request`'s X-Forwarded-For


def _alb_event(forwarded: list[str], *, multi_value: bool, key: str) -> dict[str, Any]:
    """An ALB event (tests/events/alb.json) whose X-Forwarded-For header(s) are `forwarded`: what the client sent,
    with the load balancer's own addition last, as ALB's default `append` mode writes it."""
    event = load_event("alb")
    event.update(httpMethod="GET", path="/v1/models", body="", isBase64Encoded=False, queryStringParameters={})
    headers = {k: v for k, v in event["headers"].items() if k != "x-forwarded-for"}
    headers["authorization"] = f"Bearer {key}"
    if multi_value:
        del event["headers"]
        event["multiValueHeaders"] = {k: [v] for k, v in headers.items()} | {"x-forwarded-for": forwarded}
        event["multiValueQueryStringParameters"] = {}
    else:
        event["headers"] = headers | {"x-forwarded-for": ", ".join(forwarded)}
    return event


@pytest.fixture(scope="module")
def alb_entry(moto_endpoint: str) -> Any:
    """GIVEN one key of alice allowed from the ALB peer only, one from 10/8 only."""
    table, registry = fresh_table(moto_endpoint)
    registry.put_token(HERE, user_id="alice", allow_ips=[f"{ALB_PEER}/32"])
    registry.put_token(ELSEWHERE, user_id="alice", allow_ips=["10.0.0.0/8"])
    return Mangum(create_app(build_service(settings_for(table_name=table, dynamodb_endpoint_url=moto_endpoint))))


@pytest.mark.parametrize("multi_value", [False, True], ids=["headers", "multi-value-headers"])
@pytest.mark.parametrize(
    "forwarded",
    [[ALB_PEER], [f"10.1.2.3, {ALB_PEER}"], ["10.1.2.3", ALB_PEER], [f"10.9.9.9,10.1.2.3 , {ALB_PEER}"]],
    ids=["no-client-header", "forged-then-appended", "forged-header-then-appended", "two-forged"],
)
def test_behind_an_alb_the_appended_address_decides_never_the_clients(
    alb_entry: Any, forwarded: list[str], multi_value: bool
) -> None:
    """GIVEN an ALB event whose X-Forwarded-For starts with whatever the client wrote (10.x, inside the second
    key's list) and ends with the address the load balancer appended WHEN both keys list
    THEN the key allowed from the appended address gets 200 and the 10/8 key 403 naming that address."""
    admitted = invoke(alb_entry, _alb_event(forwarded, multi_value=multi_value, key=HERE))
    refused = invoke(alb_entry, _alb_event(forwarded, multi_value=multi_value, key=ELSEWHERE))
    assert admitted.status == 200
    assert admitted.json()["data"]
    assert refused.status == 403
    assert refused.json()["error"]["message"].startswith(f"This API key may not be used from this address ({ALB_PEER})")


def test_behind_an_alb_without_the_header_an_allow_listed_key_is_refused(alb_entry: Any) -> None:
    """GIVEN an ALB event without X-Forwarded-For (the load balancer set to remove it) WHEN an allow-listed key
    lists THEN 403 from an unknown address: no address, no admission."""
    event = _alb_event([], multi_value=False, key=HERE)
    del event["headers"]["x-forwarded-for"]
    reply = invoke(alb_entry, event)
    assert reply.status == 403
    assert "(unknown)" in reply.json()["error"]["message"]
