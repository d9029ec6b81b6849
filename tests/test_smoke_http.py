"""GIVEN the service over HTTP on moto's server WHEN the OpenAI SDK lists models THEN it gets the key's list."""

from __future__ import annotations

import openai

from tests.support import world
from tests.support.server import LocalServer


def test_sdk_lists_a_limited_keys_models(http_server: LocalServer) -> None:
    client = openai.OpenAI(api_key=world.KEYS["limited"], base_url=f"{http_server.base_url}/v1", max_retries=0)
    assert [m.id for m in client.models.list()] == world.EXPECTED["limited"]
