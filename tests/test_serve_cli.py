"""`modelgate serve`, `apply` and `session create` end to end: real subprocesses, the real OpenAI SDK as client.

Without --endpoint-url, serve runs an embedded moto DynamoDB with the demo seed. With --endpoint-url (here the
session's moto server) it serves that table as it is.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from handler.core import keys
from infra.local.embedded import free_port
from infra.seed import load_seed
from infra.table import create_table
from tests.support.server import http_dynamodb

ROOT = Path(__file__).resolve().parent.parent
DEMO_SEED = ROOT / "infra" / "seeds" / "demo.yaml"
DEMO_KEYS = {
    "all": "sk-demo-alice-all-models-0000000000000000000000000-all",
    "limited": "sk-demo-alice-limited-000000000000000000000000000-lim",
    "disabled": "sk-demo-alice-disabled-00000000000000000000000000-off",
    "expired": "sk-demo-alice-expired-000000000000000000000000000-exp",
    "bob": "sk-demo-bob-00000000000000000000000000000000000000-bob",
}
# What the demo seed gives each caller: vip minus the disabled gpt-3.5-turbo-0301; my-finetune is custom.
DEMO_VIP = [
    "gpt-4o",
    "gpt-4o-mini",
    "o3-mini",
    "meta-llama/Llama-3.1-8B-Instruct",
    "cushman:2020-05-03",
    "my-finetune",
    "claude-sonnet-4-5",
]
DEMO_LISTS = {"all": DEMO_VIP, "limited": ["o3-mini", "gpt-4o"], "bob": ["gpt-4o-mini"]}
SECRET = "serve-cli-test-secret-0123456789abcdef01"
TEAM_KEY = "sk-team-alice-0000000000000000000000000000000000000000"
TEAM_SEED = {
    "models": [
        {"id": "team-large", "owned_by": "acme", "created": 1700000000},
        {"id": "team-small", "owned_by": "acme", "created": 1700000001},
    ],
    "groups": {"default": ["team-small"], "team": ["team-large", "team-small"]},
    "users": [{"id": "alice", "group": "team"}],
    "tokens": [{"key": TEAM_KEY, "user": "alice", "name": "laptop", "models": ["team-large"]}],
}
NO_KEY: dict[str, Any] = {"extra_headers": {"Authorization": openai.Omit()}}


def modelgate(*args: str) -> list[str]:
    """The installed console script, or the module when the venv's bin is not next to this Python."""
    script = Path(sys.executable).with_name("modelgate")
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "infra.cli.main", *args]


def cli_env(**extra: str) -> dict[str, str]:
    """This environment without any table, endpoint or secret setting, with fake AWS credentials."""
    unset = {"AWS_PROFILE", "TABLE_NAME", "DYNAMODB_ENDPOINT_URL", "SESSION_SECRET", "SESSION_SECRET_ARN"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1")
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(modelgate(*args), capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False)


@dataclass
class Served:
    base_url: str
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, needle: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not any(needle in line for line in self.lines):
            assert time.monotonic() < deadline, f"no line with {needle!r} in:\n{self.output}"
            time.sleep(0.05)

    def interrupt(self) -> int:
        """Ctrl-C, as a user stops it; the exit status. uvicorn shuts down gracefully, then re-raises the
        signal: depending on the Python version that ends in KeyboardInterrupt (130) or a normal return (0)."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=30)


@contextmanager
def modelgate_serve(*args: str, env: dict[str, str]) -> Iterator[Served]:
    """`modelgate serve --port <free> ARGS` in a subprocess, ready to answer; killed if the test did not stop it."""
    port = free_port()
    process = subprocess.Popen(
        modelgate("serve", "--port", str(port), *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )
    served = Served(f"http://127.0.0.1:{port}", process)
    assert process.stdout is not None
    stdout = process.stdout
    reader = threading.Thread(target=lambda: served.lines.extend(line.rstrip("\n") for line in stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, f"modelgate serve exited early:\n{served.output}"
            assert time.monotonic() < deadline, f"modelgate serve never answered:\n{served.output}"
            try:
                httpx.get(f"{served.base_url}/v1/models", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield served
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        reader.join(timeout=5)


def sdk(base_url: str, key: str | None = None, cookie: str | None = None) -> tuple[openai.OpenAI, dict[str, Any]]:
    headers = {"Cookie": cookie} if cookie else None
    client = openai.OpenAI(api_key=key or "unused", base_url=f"{base_url}/v1", default_headers=headers, max_retries=0)
    return client, ({} if key else NO_KEY)


def listed(base_url: str, key: str | None = None, cookie: str | None = None) -> list[str]:
    client, options = sdk(base_url, key, cookie)
    return [model.id for model in client.models.list(**options)]


def assert_refused(base_url: str, key: str) -> None:
    client, _ = sdk(base_url, key)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def assert_clean_exit(served: Served) -> None:
    assert served.interrupt() in {0, 130}
    assert "Traceback" not in served.output


# -- the embedded default -------------------------------------------------------------------------------------------


def test_serve_embedded_prints_the_demo_keys_and_a_curl_line_and_serves_the_demo() -> None:
    """GIVEN nothing but the package (no AWS, no DynamoDB, no SESSION_SECRET)
    WHEN `modelgate serve --port P` starts
    THEN the banner prints every demo key and a ready-to-paste curl line that works; the OpenAI SDK lists the
    demo's models per key and refuses the disabled and expired ones; Ctrl-C stops it cleanly."""
    assert {t["key"] for t in load_seed(DEMO_SEED).tokens} == set(DEMO_KEYS.values())
    with modelgate_serve(env=cli_env()) as served:
        served.wait_for_line("curl")
        for key in DEMO_KEYS.values():
            assert key in served.output
        curl_lines = [line for line in served.lines if line.strip().startswith("curl ") and "Bearer" in line]
        assert curl_lines, served.output
        argv = shlex.split(curl_lines[0])
        assert argv[:2] == ["curl", "-s"]
        url, header = argv[2], argv[argv.index("-H") + 1]
        assert url == f"{served.base_url}/v1/models"
        name, _, value = header.partition(": ")
        response = httpx.get(url, headers={name: value}, timeout=10)
        assert response.status_code == 200
        assert [m["id"] for m in response.json()["data"]] == DEMO_VIP

        for name, ids in DEMO_LISTS.items():
            assert listed(served.base_url, DEMO_KEYS[name]) == ids
        assert listed(served.base_url) == ["gpt-4o-mini"]
        model = sdk(served.base_url, DEMO_KEYS["all"])[0].models.retrieve("meta-llama/Llama-3.1-8B-Instruct")
        assert (model.id, model.created, model.owned_by) == ("meta-llama/Llama-3.1-8B-Instruct", 1721692800, "meta")
        assert_refused(served.base_url, DEMO_KEYS["disabled"])
        assert_refused(served.base_url, DEMO_KEYS["expired"])
        assert_clean_exit(served)


def test_each_demo_key_masks_differently() -> None:
    """GIVEN the demo seed's keys WHEN masked as lists and errors show them THEN no two look alike."""
    masks = [keys.mask(token["key"]) for token in load_seed(DEMO_SEED).tokens]
    assert len(set(masks)) == len(masks) == len(DEMO_KEYS), masks


# -- an existing DynamoDB: apply, session create, serve --------------------------------------------------------------


def _scan(endpoint: str, table: str) -> list[dict[str, Any]]:
    items = http_dynamodb(endpoint).scan(TableName=table, ConsistentRead=True)["Items"]
    return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))


def test_apply_then_session_create_then_serve_an_existing_table(moto_endpoint: str, tmp_path: Path) -> None:
    """GIVEN a seed file and a DynamoDB endpoint without the table
    WHEN `modelgate apply FILE --endpoint-url` runs, then `modelgate session create --user alice`
    (SESSION_SECRET set), then `modelgate serve --endpoint-url` with the same secret
    THEN apply creates the table; the session's last stdout line is NAME=VALUE and that cookie is alice's
    login on the server; serve applied nothing (the table is unchanged, the demo keys are unknown)."""
    table = f"modelgate-cli-{uuid.uuid4().hex[:8]}"
    seed_file = tmp_path / "team.yaml"
    seed_file.write_text(yaml.safe_dump(TEAM_SEED))
    env = cli_env(SESSION_SECRET=SECRET)
    connection = ("--endpoint-url", moto_endpoint, "--table", table)

    applied = run("apply", str(seed_file), *connection, env=env)
    assert applied.returncode == 0, applied.stderr
    assert not create_table(http_dynamodb(moto_endpoint), table)  # it exists now

    made = run("session", "create", "--user", "alice", *connection, env=env)
    assert made.returncode == 0, made.stderr
    cookie = made.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"modelgate_session=v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", cookie)
    assert SECRET not in made.stdout + made.stderr

    before = _scan(moto_endpoint, table)
    with modelgate_serve(*connection, env=env) as served:
        assert listed(served.base_url, cookie=cookie) == ["team-large", "team-small"]
        assert listed(served.base_url) == ["team-small"]
        assert listed(served.base_url, TEAM_KEY) == ["team-large"]
        assert_refused(served.base_url, DEMO_KEYS["all"])
        assert _scan(moto_endpoint, table) == before
        assert_clean_exit(served)


def test_serve_with_a_seed_applies_it_and_a_foreign_session_is_no_login(moto_endpoint: str, tmp_path: Path) -> None:
    """GIVEN `modelgate serve --endpoint-url E --seed FILE` on a missing table, with one SESSION_SECRET
    WHEN a session is created with another secret
    THEN the table was created and the file applied (never the demo seed), and the foreign cookie is no login."""
    table = f"modelgate-cli-{uuid.uuid4().hex[:8]}"
    seed_file = tmp_path / "team.yaml"
    seed_file.write_text(yaml.safe_dump(TEAM_SEED))
    connection = ("--endpoint-url", moto_endpoint, "--table", table)
    env = cli_env(SESSION_SECRET="another-secret-for-the-server-0123456789")
    with modelgate_serve(*connection, "--seed", str(seed_file), env=env) as served:
        made = run("session", "create", "--user", "alice", *connection, env=cli_env(SESSION_SECRET=SECRET))
        assert made.returncode == 0, made.stderr
        assert listed(served.base_url, cookie=made.stdout.strip().splitlines()[-1]) == ["team-small"]
        assert listed(served.base_url, TEAM_KEY) == ["team-large"]  # --seed was applied, table created
        assert_refused(served.base_url, DEMO_KEYS["all"])  # and never the demo seed
        assert_clean_exit(served)
