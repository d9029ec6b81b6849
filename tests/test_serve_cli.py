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
        served.wait_for_line("Manage it from another shell")
        place = f"table '{table}' (from --table) in region us-east-1 (from AWS_REGION) at {moto_endpoint}"
        assert f"{place} (from --endpoint-url)" in served.output
        assert f"modelgate --endpoint-url {moto_endpoint} --region us-east-1 --table {table} ..." in served.output
        assert "an external table, served as it is: no demo data was loaded" in served.output
        assert "Keys from the seed" not in served.output
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


# -- what the banner tells, and what serve checks before it starts ---------------------------------------------------


def _rows_by_id(lines: list[str]) -> dict[str, list[str]]:
    """Table rows that start with a key id, split into words, by id."""
    return {words[0]: words for words in (line.split() for line in lines) if words and words[0].startswith("tok_")}


def test_the_banner_key_table_is_key_list_with_the_keys_shown() -> None:
    """GIVEN the embedded demo WHEN the banner is printed and `modelgate key list` runs against the banner's endpoint
    THEN each banner row is that key's `key list` row with the key itself in place of its masked form: the expired
    demo key shows as expired."""
    with modelgate_serve(env=cli_env()) as served:
        served.wait_for_line("Manage it from another shell")
        endpoint = re.search(r"--endpoint-url (\S+)", served.output)
        assert endpoint is not None, served.output
        listed = run("key", "list", "--endpoint-url", endpoint.group(1), "--table", "modelgate", env=cli_env())
        assert listed.returncode == 0, listed.stderr
        assert_clean_exit(served)
    expected = _rows_by_id(listed.stdout.splitlines())
    banner = _rows_by_id(served.lines)
    assert set(banner) == set(expected)
    assert len(banner) == len(DEMO_KEYS)
    for token_id, words in banner.items():
        assert [keys.mask(w) if w in DEMO_KEYS.values() else w for w in words] == expected[token_id]
    expired = next(words for words in banner.values() if DEMO_KEYS["expired"] in words)
    assert "expired" in expired


def test_with_anonymous_access_off_the_banner_offers_no_anonymous_call() -> None:
    """GIVEN ANONYMOUS_ACCESS=false WHEN serve starts THEN no anonymous curl line, a note that such calls get 401,
    and indeed they do."""
    with modelgate_serve(env=cli_env(ANONYMOUS_ACCESS="false")) as served:
        served.wait_for_line("Manage it from another shell")
        anonymous = [line for line in served.lines if "curl" in line and "-H" not in line]
        assert anonymous == [], served.output
        assert "anonymous access is off (ANONYMOUS_ACCESS=false)" in served.output
        assert httpx.get(f"{served.base_url}/v1/models", timeout=10).status_code == 401
        assert_clean_exit(served)


def test_serve_refuses_to_start_on_an_unreachable_endpoint_naming_it_and_its_variable() -> None:
    """GIVEN a stale DYNAMODB_ENDPOINT_URL (nothing listens there) WHEN serve starts THEN it exits 1 at once with
    one line naming the endpoint, the table and the variable the endpoint came from."""
    stale = f"http://127.0.0.1:{free_port()}"
    result = run("serve", "--port", str(free_port()), env=cli_env(DYNAMODB_ENDPOINT_URL=stale))
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: cannot reach DynamoDB for table 'modelgate' ")
    assert f"at {stale} (from DYNAMODB_ENDPOINT_URL)" in line


def test_serve_refuses_to_start_on_a_missing_table_naming_it_and_its_variable(moto_endpoint: str) -> None:
    """GIVEN TABLE_NAME naming a table the endpoint lacks WHEN serve starts THEN exit 2 with one line naming the
    table, the variable it came from and the endpoint."""
    result = run("serve", "--port", str(free_port()), "--endpoint-url", moto_endpoint, env=cli_env(TABLE_NAME="nope"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: table 'nope' (from TABLE_NAME) in region us-east-1 (from AWS_REGION) at {moto_endpoint} "
        "(from --endpoint-url) does not exist: check that the region and endpoint are the service's (a table in "
        "another region is another table); to make this one, deploy the stack, or `apply` with --endpoint-url"
    ]


def test_serve_help_lists_only_options_that_work_there() -> None:
    """GIVEN `modelgate serve --help` THEN the connection options and --access-log, but no --json."""
    shown = run("serve", "--help", env=cli_env())
    assert shown.returncode == 0
    assert "--endpoint-url" in shown.stdout
    assert "--access-log" in shown.stdout
    assert "--json" not in shown.stdout


ACCESS_LINE = re.compile(r"(GET|HEAD|OPTIONS) (\S+) (\d{3}) (\d+\.\d) ms")


def test_access_log_prints_method_route_status_and_latency_and_never_a_credential() -> None:
    """GIVEN `serve --access-log` WHEN a key lists, retrieves a model with a query string, an unknown key and
    an unknown path are tried THEN one line each: method, route template, status, latency; never the raw path,
    the query string, the key or the model id asked for."""
    with modelgate_serve("--access-log", env=cli_env()) as served:
        served.wait_for_line("Manage it from another shell")
        bearer = {"Authorization": f"Bearer {DEMO_KEYS['all']}"}
        calls = [
            ("GET", "/v1/models", bearer, 200),
            ("GET", "/v1/models/meta-llama%2FLlama-3.1-8B-Instruct?x=secret-in-the-query", bearer, 200),
            ("HEAD", "/v1/models", {"Authorization": "Bearer sk-unknown-000000000000000000000000"}, 401),
            ("GET", "/no/such/secret-path", {}, 404),
        ]
        for method, path, headers, status in calls:
            assert httpx.request(method, served.base_url + path, headers=headers, timeout=10).status_code == status
        deadline = time.monotonic() + 10
        while len([line for line in served.lines if ACCESS_LINE.fullmatch(line)]) <= len(calls):
            assert time.monotonic() < deadline, served.output
            time.sleep(0.05)
        assert_clean_exit(served)
    # The last lines: the readiness probe before the calls logs one of its own.
    logged = [m.groups() for line in served.lines if (m := ACCESS_LINE.fullmatch(line))][-len(calls) :]
    assert [(method, route, int(status)) for method, route, status, _ in logged] == [
        ("GET", "/v1/models", 200),
        ("GET", "/v1/models/{model:path}", 200),
        ("HEAD", "/v1/models", 401),
        ("GET", "-", 404),
    ]
    after_banner = served.lines[next(i for i, line in enumerate(served.lines) if "Manage it" in line) + 1 :]
    printed = "\n".join(after_banner)
    for secret in (DEMO_KEYS["all"], "secret-in-the-query", "sk-unknown", "Llama", "secret-path"):
        assert secret not in printed
