"""Open WebUI's model list against modelgate, by Open WebUI's own backend code (issue 18.4).

Open WebUI labels each model with its `name`, or with its id when there is none. With OPENAI_LIST_METADATA on,
modelgate's OpenAI list carries the catalog's display name as `name`, so the picker shows "Claude Opus 4.1" where
it showed `claude-opus-4-1`. Open WebUI (pip `open-webui`) pins a hundred packages, a machine-learning stack among
them; its venv under .cache/ holds the package and only what its OpenAI router imports (built once, stamped). The
script tests/support/open_webui_models.py runs there and calls `open_webui.routers.openai.get_all_models`, which
sends `GET {base}/models` with the connection's Bearer key and merges the answer into Open WebUI's models.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import settings_for
from tests.support import expected, world
from tests.support.server import LocalServer, serve

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".cache" / "open-webui-venv"
SCRIPT = Path(__file__).resolve().parent / "support" / "open_webui_models.py"
OPEN_WEBUI = "open-webui==0.12.4"
# What `open_webui.routers.openai` imports, at the versions open-webui 0.12.4 pins (typer it does not pin).
IMPORTED = (
    "aiocache==0.12.3",
    "aiodns==3.6.1",
    "aiofiles==25.1.0",
    "aiohttp==3.14.5",
    "aiosqlite==0.22.1",
    "alembic==1.18.4",
    "anthropic==0.86.0",
    "argon2-cffi==25.1.0",
    "asgiref==3.11.1",
    "authlib==1.7.2",
    "bcrypt==5.0.0",
    "beautifulsoup4==4.14.3",
    "chromadb==1.5.9",
    "cryptography==48.0.1",
    "fastapi==0.136.3",
    "itsdangerous==2.2.0",
    "joserfc==1.7.4",
    "langchain-core==1.4.8",
    "loguru==0.7.3",
    "markdown==3.10.2",
    "mcp==2.3.0",
    "openai==2.29.0",
    "orjson==3.11.9",
    "pillow==13.0.0",
    "psutil==7.2.2",
    "pycrdt==0.14.8",
    "pydantic==2.13.4",
    "pyjwt[crypto]==2.13.0",
    "pyotp==2.9.0",
    "python-mimeparse==2.0.0",
    "python-multipart==0.0.32",
    "python-socketio==5.16.2",
    "pytz==2026.2",
    "qrcode==8.2",
    "redis==8.0.1",
    "requests==2.34.2",
    "sqlalchemy[asyncio]==2.0.50",
    "starlette-compress==1.7.1",
    "starsessions[redis]==2.2.1",
    "typer",
    "uvicorn==0.54.0",
    "validators==0.35.0",
)
STAMP = VENV / ".installed-open-webui-0.12.4"
CLAUDE = world.CLAUDE_IDS
METADATA = frozenset({"name", "display_name", "description", "context_length", "max_output_tokens"})


def open_webui_python() -> Path:
    """The python of the Open WebUI venv, built once (a lock keeps parallel runs from racing). Skipped when pip
    cannot install it (no network to PyPI), except in CI."""
    python = VENV / "bin" / "python"
    VENV.parent.mkdir(exist_ok=True)
    with (VENV.parent / "open-webui-venv.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if STAMP.is_file():
            return python
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--retries", "2"]
        errors = []
        for argv in ([*pip, "--no-deps", OPEN_WEBUI], [*pip, *IMPORTED]):
            done = subprocess.run(argv, capture_output=True, text=True, timeout=1200, check=False)
            if done.returncode != 0:
                errors.append(done.stderr.strip() or done.stdout.strip())
                break
        if errors:
            reason = f"pip could not install {OPEN_WEBUI} (no network to PyPI?): {errors[-1][-300:]}"
            if os.environ.get("CI") == "true":
                pytest.fail(f"{reason}; CI must run the Open WebUI test")
            pytest.skip(reason)
        STAMP.touch()
    return python


def open_webui_models(server: LocalServer, key: str, tmp_path: Path) -> list[dict[str, Any]]:
    """Open WebUI's models, from its own code, with one OpenAI connection: modelgate's /v1 and `key`."""
    data = tmp_path / "open-webui"
    data.mkdir()
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "DATA_DIR": str(data),
        "WEBUI_SECRET_KEY": "open-webui-test-secret-0123456789abcdef",
        "OFFLINE_MODE": "true",
        "HF_HUB_OFFLINE": "1",
        "ENABLE_VERSION_UPDATE_CHECK": "false",
    }
    done = subprocess.run(
        [str(open_webui_python()), str(SCRIPT)],
        input=json.dumps({"base_url": f"{server.base_url}/v1", "key": key}),
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    models: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return models


@pytest.fixture(scope="module")
def described(moto_endpoint: str, dialect_table: str) -> Iterator[LocalServer]:
    """The dialects' world with OPENAI_LIST_METADATA on."""
    settings = settings_for(table_name=dialect_table, dynamodb_endpoint_url=moto_endpoint, openai_list_metadata=True)
    with serve(settings) as server:
        yield server


def test_open_webui_labels_each_model_with_its_display_name(described: LocalServer, tmp_path: Path) -> None:
    """GIVEN the claude key and OPENAI_LIST_METADATA on WHEN Open WebUI fetches its models (its own backend code)
    THEN every model of the key, in order, each named by its catalog display name, or by its id without one."""
    models = open_webui_models(described, world.CLAUDE_KEY, tmp_path)
    assert [model["id"] for model in models] == CLAUDE
    assert [model["name"] for model in models] == [expected.anthropic_model(i)["display_name"] for i in CLAUDE]
    assert models[0]["name"] == "Claude Opus 4.1"
    assert models[0]["openai"]["context_length"] == 200000


def test_without_the_setting_open_webui_shows_the_ids(dialect_server: LocalServer, tmp_path: Path) -> None:
    """GIVEN OPENAI_LIST_METADATA off (the default) WHEN Open WebUI fetches its models THEN each is named by its
    id: the list it reads is the documented one."""
    models = open_webui_models(dialect_server, world.CLAUDE_KEY, tmp_path)
    assert [(model["id"], model["name"]) for model in models] == [(i, i) for i in CLAUDE]
    assert all(METADATA.isdisjoint(model["openai"]) for model in models)
