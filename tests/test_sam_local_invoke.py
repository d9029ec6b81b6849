"""What `sam local invoke` does, without Docker: the shipped events and env file, through `handler.main.handler`.

`sam local invoke ModelsFunction -e infra/local/events/http-api/list.json --env-vars infra/local/env.json` runs the
function in a container with the template's environment (parameters at their defaults) overridden by env.json.
Here the same environment is built the same way, `handler.main` is imported in a fresh Python process as Lambda
imports it, and the same events are invoked against a table seeded with the demo seed the events' keys come from
(`modelgate apply infra/seeds/demo.yaml`). The one substitution: env.json's DynamoDB endpoint is the address a
container uses to reach this machine, so it is replaced by a loopback moto server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.cli.main import main as modelgate
from infra.local.embedded import EmbeddedDynamoDB
from infra.table import load_template
from tests.support.events import LambdaResponse, parse_response

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / "infra" / "local"
EVENTS = LOCAL / "events"
KINDS = ("http-api", "rest-api")
NAMES = ("list", "retrieve", "limited-key", "anonymous")
DEMO_SEED = ROOT / "infra" / "seeds" / "demo.yaml"

# The demo seed's answers: alice's vip group (a disabled model left out, a custom one defaulted), her key limited
# to o3-mini, gpt-4o and text-embedding-3-small (outside her group, so left out), and the `default` group.
ALICE = [
    "gpt-4o",
    "gpt-4o-mini",
    "o3-mini",
    "meta-llama/Llama-3.1-8B-Instruct",
    "cushman:2020-05-03",
    "my-finetune",
    "claude-sonnet-4-5",
]
EXPECTED_LISTS = {"list": ALICE, "limited-key": ["o3-mini", "gpt-4o"], "anonymous": ["gpt-4o-mini"]}

# Runs in a fresh interpreter: argv[1] is a JSON plan of steps, each ["invoke", event file], ["cli", argv] or
# ["restore"] (run the SnapStart after-restore hooks, which a stand-in snapshot_restore_py module collected).
DRIVER = """
import json, sys, types
hooks = []
restore = types.ModuleType("snapshot_restore_py")
restore.register_after_restore = lambda hook, *a, **k: hooks.append(lambda: hook(*a, **k))
restore.register_before_snapshot = lambda hook, *a, **k: None
sys.modules["snapshot_restore_py"] = restore
import handler.main
from infra.cli.main import main as modelgate
results = []
for step in json.loads(open(sys.argv[1]).read()):
    if step[0] == "invoke":
        event = json.loads(open(step[1]).read())
        context = types.SimpleNamespace(aws_request_id="sam-local", function_name="ModelsFunction")
        results.append(handler.main.handler(event, context))
    elif step[0] == "cli":
        assert modelgate(step[1]) == 0
    else:
        assert hooks, "handler.main registered no after-restore hook"
        for hook in hooks:
            hook()
print(json.dumps(results))
"""


def env_file() -> dict[str, str]:
    variables: dict[str, str] = json.loads((LOCAL / "env.json").read_text())["ModelsFunction"]
    return variables


def function_environment(endpoint: str) -> dict[str, str]:
    """The template's variables with parameters at their defaults, then env.json on top, as `sam local` does."""
    template = load_template()
    declared = template["Resources"]["ModelsFunction"]["Properties"]["Environment"]["Variables"]
    environment: dict[str, str] = {}
    for name, value in declared.items():
        if isinstance(value, str):
            environment[name] = value
        elif value.get("Ref") in template["Parameters"]:
            environment[name] = str(template["Parameters"][value["Ref"]]["Default"])
    environment.update(env_file())
    assert environment["DYNAMODB_ENDPOINT_URL"].startswith("http://host.docker.internal:")
    environment["DYNAMODB_ENDPOINT_URL"] = endpoint
    return environment


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """Its own moto server (env.json names the table `modelgate`), seeded as the README says."""
    with EmbeddedDynamoDB() as engine:
        table = env_file()["TABLE_NAME"]
        assert modelgate(["apply", str(DEMO_SEED), "--endpoint-url", engine.endpoint_url, "--table", table]) == 0
        yield engine.endpoint_url


def run(endpoint: str, steps: list[Any], tmp_path: Path, **variables: str) -> list[LambdaResponse]:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(steps))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "AWS_REGION": "us-east-1",  # set by Lambda (and sam local) in every function
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        **function_environment(endpoint),
        **variables,
    }
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, str(plan)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [parse_response(raw) for raw in json.loads(result.stdout.splitlines()[-1])]


@pytest.fixture(scope="module")
def responses(endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], LambdaResponse]:
    """GIVEN the demo seed WHEN each shipped event is invoked in one fresh function process THEN its response."""
    events = [(kind, name) for kind in KINDS for name in NAMES]
    results = run(
        endpoint, [["invoke", str(EVENTS / k / f"{n}.json")] for k, n in events], tmp_path_factory.mktemp("p")
    )
    return dict(zip(events, results, strict=True))


def test_env_file_only_sets_variables_the_template_declares() -> None:
    """GIVEN sam local invoke --env-vars (it only overrides declared variables) THEN every name is declared, and
    the ones the template fills from resources (table, secret) are overridden, with no secret value in the file."""
    template = load_template()
    declared = template["Resources"]["ModelsFunction"]["Properties"]["Environment"]["Variables"]
    variables = env_file()
    assert set(variables) <= set(declared)
    from_resources = {
        name
        for name, value in declared.items()
        if isinstance(value, dict) and "Ref" in value and value["Ref"] not in template["Parameters"]
    }  # (METRICS_NAMESPACE is a !Sub of the stack name: no resource, nothing to override locally)
    assert from_resources == {"TABLE_NAME", "SESSION_SECRET_ARN"}
    assert from_resources <= set(variables)
    assert variables["SESSION_SECRET_ARN"] == ""  # no Secrets Manager locally; sessions are off
    assert "SESSION_SECRET" not in variables


@pytest.mark.parametrize("kind", KINDS)
def test_the_events_are_real_api_gateway_requests(kind: str) -> None:
    """GIVEN the shipped events THEN GET requests on the template's two routes, in that API's payload format."""
    for name in NAMES:
        event = json.loads((EVENTS / kind / f"{name}.json").read_text())
        route = "/v1/models/{model+}" if name == "retrieve" else "/v1/models"
        if kind == "http-api":
            assert (event["version"], event["routeKey"]) == ("2.0", f"GET {route}")
            assert event["requestContext"]["http"]["method"] == "GET"
            assert event["requestContext"]["stage"] == "$default"
            headers = event["headers"]
        else:
            assert (event["httpMethod"], event["resource"]) == ("GET", route)
            headers = event["headers"]
            assert event["multiValueHeaders"] == {k: [v] for k, v in headers.items()}
        assert ("authorization" in headers) == (name != "anonymous")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", sorted(EXPECTED_LISTS))
def test_list_events_answer_the_callers_models(
    responses: dict[tuple[str, str], LambdaResponse], kind: str, name: str
) -> None:
    """THEN list, limited-key and anonymous answer 200 with exactly the caller's models, cacheable privately."""
    response = responses[kind, name]
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "private, max-age=30"
    assert response.headers["etag"].startswith('"')
    body = response.json()
    assert body["object"] == "list"
    assert [model["id"] for model in body["data"]] == EXPECTED_LISTS[name]


@pytest.mark.parametrize("kind", KINDS)
def test_list_event_payload_field_by_field(responses: dict[tuple[str, str], LambdaResponse], kind: str) -> None:
    """THEN stored catalog values come back as stored, and the group's model outside the catalog is `custom`."""
    models = {model["id"]: model for model in responses[kind, "list"].json()["data"]}
    gpt4o = models["gpt-4o"]
    assert (gpt4o["object"], gpt4o["created"], gpt4o["owned_by"], gpt4o["root"], gpt4o["parent"]) == (
        "model",
        1715367049,
        "openai",
        "gpt-4o",
        None,
    )
    custom = models["my-finetune"]
    assert (custom["owned_by"], custom["created"], custom["root"]) == ("custom", 1626777600, "my-finetune")
    for model in models.values():
        [permission] = model["permission"]
        assert permission["object"] == "model_permission"
        assert permission["id"].startswith("modelperm-")
    assert "gpt-3.5-turbo-0301" not in models  # disabled in the catalog


@pytest.mark.parametrize("kind", KINDS)
def test_retrieve_event_answers_one_model(responses: dict[tuple[str, str], LambdaResponse], kind: str) -> None:
    """THEN retrieve (an id with a slash) answers that model object alone."""
    response = responses[kind, "retrieve"]
    assert response.status == 200
    model = response.json()
    assert {k: v for k, v in model.items() if k != "permission"} == {
        "id": "meta-llama/Llama-3.1-8B-Instruct",
        "object": "model",
        "created": 1721692800,
        "owned_by": "meta",
        "root": "meta-llama/Llama-3.1-8B-Instruct",
        "parent": None,
    }


def test_both_payload_formats_answer_the_same(responses: dict[tuple[str, str], LambdaResponse]) -> None:
    """THEN the HTTP API and the REST API events of each request get the same status, ETag and body."""
    for name in NAMES:
        http, rest = responses["http-api", name], responses["rest-api", name]
        assert (http.status, http.headers["etag"], http.body) == (rest.status, rest.headers["etag"], rest.body)


def test_after_a_snapstart_restore_nothing_cached_before_is_trusted(
    endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN a container that cached alice's key and revalidates only hourly WHEN the key is disabled THEN it still
    lists (cached), but after a SnapStart restore (handler.main's after-restore hook: fresh clients and caches, the
    marker unread) it is refused at once."""
    limited = str(EVENTS / "http-api" / "limited-key.json")  # alice's key named `ci` in the demo seed
    connection = ["--endpoint-url", endpoint, "--table", env_file()["TABLE_NAME"], "--json"]
    capsys.readouterr()
    assert modelgate(["key", "list", "--user", "alice", *connection]) == 0
    token_id = next(k["id"] for k in json.loads(capsys.readouterr().out) if k["name"] == "ci")
    before, cached, restored = run(
        endpoint,
        [
            ["invoke", limited],
            ["cli", ["key", "disable", token_id, *connection]],
            ["invoke", limited],
            ["restore"],
            ["invoke", limited],
            ["cli", ["key", "enable", token_id, *connection]],  # as it was, for the other tests
        ],
        tmp_path,
        REVALIDATE_SECONDS="3600",
    )
    assert (before.status, cached.status) == (200, 200)
    assert restored.status == 401
    assert restored.json()["error"]["code"] == "invalid_api_key"
