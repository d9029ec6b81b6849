"""Run as a script inside a venv holding the legacy `openai==0.28.1` (which cannot live next to the modern SDK).

Reads `{"api_base", "organization", "calls": [{"name", "op", "key", "model"?}]}` as JSON on stdin, makes each call
with the module-level client as old code does (`openai.api_key = ...; openai.Model.list()`), and prints JSON:
the client version and, per call, what it returned or raised plus the requests that went over the wire.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from typing import Any

# Typed Any: mypy sees the project venv, where `openai` is the modern SDK and `requests` has no stubs.
openai: Any = importlib.import_module("openai")
requests: Any = importlib.import_module("requests")

RECORDED_HEADERS = ("Authorization", "OpenAI-Organization", "User-Agent")


def invoke(op: str, model: str | None) -> Any:
    match op:
        case "list":
            return openai.Model.list()
        case "retrieve":
            return openai.Model.retrieve(model)
        case "alist":  # the aiohttp transport
            return asyncio.run(openai.Model.alist())
        case "aretrieve":
            return asyncio.run(openai.Model.aretrieve(model))
    raise ValueError(f"unknown op {op!r}")


def raised(error: Any) -> dict[str, Any]:
    return {
        "class": type(error).__name__,
        "http_status": error.http_status,
        "code": error.code,
        "param": getattr(error, "param", None),
        "user_message": error.user_message,
        "text": str(error),
        "json_body": error.json_body,
    }


def main() -> None:
    request = json.load(sys.stdin)
    wire: list[dict[str, Any]] = []

    def record(response: Any, *args: Any, **kwargs: Any) -> None:
        sent = response.request
        headers = {name: sent.headers[name] for name in RECORDED_HEADERS if name in sent.headers}
        wire.append({"method": sent.method, "path": sent.path_url, "status": response.status_code, "headers": headers})

    session = requests.Session()
    session.hooks["response"].append(record)
    openai.requestssession = session
    openai.api_base = request["api_base"]
    openai.organization = request["organization"]
    outcomes: dict[str, Any] = {}
    for call in request["calls"]:
        openai.api_key = call["key"]
        wire.clear()
        try:
            outcome = {"returned": invoke(call["op"], call.get("model")).to_dict_recursive()}
        except openai.error.OpenAIError as error:
            outcome = {"raised": raised(error)}
        outcomes[call["name"]] = {**outcome, "wire": list(wire)}
    json.dump({"version": openai.version.VERSION, "outcomes": outcomes}, sys.stdout)


if __name__ == "__main__":
    main()
