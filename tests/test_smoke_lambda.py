"""GIVEN the seeded world WHEN the real Mangum handler gets real API Gateway events THEN callers get their lists."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from mangum import Mangum

from tests.support import world
from tests.support.events import KINDS, api_event, invoke


@pytest.mark.parametrize("kind", KINDS)
def test_every_event_kind_lists_a_keys_models(app: FastAPI, kind: str) -> None:
    handler = Mangum(app, lifespan="off")
    event = api_event(kind, headers={"Authorization": f"Bearer {world.KEYS['limited']}"})
    response = invoke(handler, event)
    assert response.status == 200
    assert [m["id"] for m in response.json()["data"]] == world.EXPECTED["limited"]
