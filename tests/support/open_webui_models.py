"""Run as a script inside a venv holding Open WebUI: its backend's model list, by its own code.

Reads `{"base_url", "key"}` as JSON on stdin, configures one OpenAI connection in Open WebUI's config store (as its
admin settings page does), calls `open_webui.routers.openai.get_all_models` (what `/api/models` and the model
picker are built from: every connection's `GET {base}/models`, merged) and prints the models it made, as JSON.
Open WebUI reads its settings from the environment at import: the caller sets DATA_DIR (a fresh directory) and
WEBUI_SECRET_KEY; the pip-installed package's own frontend build is used as its static files' source.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any


async def models(base_url: str, key: str) -> Any:
    config: Any = importlib.import_module("open_webui.models.config").Config
    router: Any = importlib.import_module("open_webui.routers.openai")
    await config.upsert(
        {
            "openai.enable": True,
            "openai.api_base_urls": [base_url],
            "openai.api_keys": [key],
            "openai.api_configs": {},
        }
    )
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace()))
    # Not cached: get_all_models keeps its answer in aiocache for MODELS_CACHE_TTL; each run asks afresh.
    answer = await router.get_all_models.__wrapped__(request, user=None)
    return answer["data"]


def main() -> None:
    asked = json.load(sys.stdin)
    spec = importlib.util.find_spec("open_webui")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("Open WebUI is not installed in this venv")
    package = Path(next(iter(spec.submodule_search_locations)))
    os.environ.setdefault("FRONTEND_BUILD_DIR", str(package / "frontend"))
    os.environ.setdefault("STATIC_DIR", str(Path(os.environ["DATA_DIR"]) / "static"))
    print(json.dumps(asyncio.run(models(asked["base_url"], asked["key"]))))


if __name__ == "__main__":
    main()
