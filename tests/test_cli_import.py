"""`modelgate models import FILE`: OpenAI model lists and catalog YAML, every field kept, idempotent, batched."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from infra.registry import Registry, RegistryError
from infra.table import create_table
from tests.conftest import TABLE
from tests.support.cli import DUMP_004, WRITES, Cli, count_requests, dump_004, snapshot
from tests.support.server import http_dynamodb

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


@pytest.fixture
def cli(registry: Registry, capsys: pytest.CaptureFixture[str]) -> Cli:
    """The CLI on an empty table (what `sam deploy` leaves)."""
    return Cli(capsys, ["--table", TABLE])


def stored(entry: dict[str, Any]) -> dict[str, Any]:
    """A dump entry as the catalog keeps it: every documented field as given (`object` is always "model")."""
    return {k: v for k, v in entry.items() if k != "object"}


def test_import_keeps_every_documented_field_of_the_dump(cli: Cli, registry: Registry) -> None:
    # WHEN the seed-004 dump is imported
    run = cli("models", "import", str(DUMP_004))

    # THEN all 62 models are in the catalog with created, owned_by, permission, root and parent as given
    assert run.code == 0
    assert run.out == f"imported 62 models from {DUMP_004}: 62 added, 0 changed, 0 unchanged\n"
    assert "\r" not in run.err  # no progress bar when stderr is not a terminal
    catalog = registry.catalog()
    dump = dump_004()
    assert len(catalog) == len(dump) == 62
    for model in dump:
        assert catalog[model["id"]] == {**stored(model), "status": "enabled"}
    # AND `models show` returns them as stored, permission objects included
    shown = cli.json("models", "show", "text-davinci-003")
    assert {k: v for k, v in shown.items() if k not in {"status", "groups"}} == stored(
        next(m for m in dump if m["id"] == "text-davinci-003")
    )


def test_reimport_is_idempotent_writes_nothing_and_keeps_statuses(
    cli: Cli, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the dump imported, a group naming two of its models, and one model disabled by the operator
    cli.ok("models", "import", str(DUMP_004))
    cli.ok("group", "set", "pro", "davinci", "ada")
    cli.ok("models", "disable", "ada")
    before = snapshot(registry.client, TABLE)

    # WHEN the same dump is imported again
    requests = count_requests(monkeypatch)
    data = cli.json("models", "import", str(DUMP_004))

    # THEN nothing changed, not one write was sent, and ada stays disabled
    assert data["models"] == {"added": 0, "changed": 0, "unchanged": 62}
    assert data["groups_rebuilt"] == []
    assert not any(requests[op] for op in WRITES), requests
    assert snapshot(registry.client, TABLE) == before
    assert registry.catalog_entries(["ada"])["ada"]["status"] == "disabled"


def test_reimport_of_a_changed_model_rewrites_it_and_the_views_naming_it(
    cli: Cli, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the dump imported, and groups naming davinci or not
    cli.ok("models", "import", str(DUMP_004))
    cli.ok("group", "set", "pro", "davinci", "ada")
    cli.ok("group", "set", "basic", "ada")
    changed = json.loads(DUMP_004.read_text())
    davinci = next(m for m in changed["data"] if m["id"] == "davinci")
    davinci["owned_by"] = "acme"
    davinci["permission"][0]["allow_fine_tuning"] = True
    path = tmp_path / "changed.json"
    path.write_text(json.dumps(changed))

    # WHEN the changed dump is imported
    requests = count_requests(monkeypatch)
    data = cli.json("models", "import", str(path))

    # THEN one model is written in one batch, and only pro's view is rebuilt, in one transaction
    assert data["models"] == {"added": 0, "changed": 1, "unchanged": 61}
    assert data["groups_rebuilt"] == ["pro"]
    assert (requests["BatchWriteItem"], requests["TransactWriteItems"]) == (1, 1)
    assert registry.catalog_entries(["davinci"])["davinci"] == {**stored(davinci), "status": "enabled"}


def test_import_dry_run_writes_nothing(cli: Cli, registry: Registry) -> None:
    before = snapshot(registry.client, TABLE)
    out = cli.ok("models", "import", str(DUMP_004), "--dry-run")
    assert "+ model davinci" in out.splitlines()
    assert out.splitlines()[-1].endswith("; dry run, nothing written")
    assert snapshot(registry.client, TABLE) == before


@pytest.mark.parametrize("shape", ["seed-models-section", "bare-list"])
def test_import_a_catalog_yaml(cli: Cli, registry: Registry, tmp_path: Path, shape: str) -> None:
    # GIVEN a catalog YAML: a seed's models section, or a bare list; a status given for one model
    models: list[dict[str, Any]] = [
        {"id": "gpt-4o", "owned_by": "openai", "created": 1715367049},
        {"id": "meta-llama/Llama-3.1-8B-Instruct", "owned_by": "meta", "root": "llama", "parent": None},
        {"id": "old", "status": "disabled"},
    ]
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump({"models": models} if shape == "seed-models-section" else models))

    # WHEN imported THEN exactly those fields, and the status given
    cli.ok("models", "import", str(path))
    assert registry.catalog() == {
        "gpt-4o": {**models[0], "status": "enabled"},
        "meta-llama/Llama-3.1-8B-Instruct": {**models[1], "status": "enabled"},
        "old": models[2],
    }


def test_ten_thousand_models_import_in_batches_of_25(
    cli: Cli, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an OpenAI-format list of 10,000 models
    models = [
        {"id": f"vendor/model-{i:05d}", "object": "model", "created": 1_700_000_000 + i, "owned_by": "vendor"}
        for i in range(10_000)
    ]
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"object": "list", "data": models}))

    # WHEN imported into an empty catalog
    requests = count_requests(monkeypatch)
    data = cli.json("models", "import", str(path))

    # THEN 400 BatchWriteItem requests of 25 wrote them, and no other write
    assert data["models"] == {"added": 10_000, "changed": 0, "unchanged": 0}
    assert requests["BatchWriteItem"] == 400
    assert sum(requests[op] for op in WRITES) == 400
    assert count_models(registry.client) == 10_000
    assert registry.catalog_entries(["vendor/model-09999"])["vendor/model-09999"]["created"] == 1_700_009_999


def count_models(client: DynamoDBClient, table: str = TABLE) -> int:
    total = 0
    request: dict[str, Any] = {
        "TableName": table,
        "IndexName": "gsi1",
        "KeyConditionExpression": "gsi1pk = :models",
        "ExpressionAttributeValues": {":models": {"S": "MODELS"}},
        "Select": "COUNT",
    }
    while True:
        page = client.query(**request)
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class Throttling:
    """A real moto client, except that batch writes are throttled the way DynamoDB reports it: the first
    `throttled` attempts of each batch write only its first `passed` items and hand the rest back as
    UnprocessedItems. moto itself never throttles."""

    def __init__(self, client: DynamoDBClient, *, throttled: int, passed: int = 10) -> None:
        self._client = client
        self.throttled = throttled
        self.passed = passed
        self.attempts: list[int] = []
        self._streak = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:  # boto3's name
        [(table, requests)] = RequestItems.items()
        self.attempts.append(len(requests))
        if self._streak < self.throttled and len(requests) > self.passed:
            self._streak += 1
            self._client.batch_write_item(RequestItems={table: requests[: self.passed]})
            return {"UnprocessedItems": {table: requests[self.passed :]}}
        self._streak = 0
        self._client.batch_write_item(RequestItems={table: requests})
        return {"UnprocessedItems": {}}


def test_unprocessed_items_are_retried_with_backoff(dynamodb: DynamoDBClient) -> None:
    # GIVEN DynamoDB throttling every batch once, handing back all but 10 items
    throttled = Throttling(dynamodb, throttled=1)
    pauses: list[float] = []
    registry = Registry(throttled, TABLE, sleep=pauses.append)  # type: ignore[arg-type]
    progress: list[int] = []

    # WHEN 60 models are written
    registry.put_models([{"id": f"m{i:02d}", "created": i} for i in range(60)], progress.append)

    # THEN each batch's unprocessed rest is sent again after a pause, and every model is there
    assert throttled.attempts == [25, 15, 25, 15, 10]
    assert pauses == [0.05, 0.05]
    assert progress == [25, 50, 60]
    assert count_models(dynamodb) == 60


def test_a_batch_still_throttled_after_its_retries_is_an_error(dynamodb: DynamoDBClient) -> None:
    # GIVEN DynamoDB throttling without end WHEN models are written THEN a clear error after 8 attempts
    throttled = Throttling(dynamodb, throttled=1_000, passed=1)
    pauses: list[float] = []
    registry = Registry(throttled, TABLE, sleep=pauses.append)  # type: ignore[arg-type]
    with pytest.raises(RegistryError, match="kept throttling the batch write; re-run it"):
        registry.put_models([{"id": f"m{i:02d}"} for i in range(25)])
    assert len(throttled.attempts) == 8
    assert pauses == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]


@pytest.fixture
def server_table(moto_endpoint: str) -> str:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    create_table(http_dynamodb(moto_endpoint), name)
    return name


def test_progress_bar_only_on_a_terminal(moto_endpoint: str, server_table: str, tmp_path: Path) -> None:
    # GIVEN 300 models, and the CLI run as a process whose stderr is a terminal
    path = tmp_path / "models.json"
    path.write_text(json.dumps({"object": "list", "data": [{"id": f"m{i:03d}"} for i in range(300)]}))
    controller, terminal = pty.openpty()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    argv = [sys.executable, "-m", "infra.cli.main", "models", "import", str(path)]
    argv += ["--endpoint-url", moto_endpoint, "--table", server_table]

    # WHEN it imports
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=terminal, env=env) as process:
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed: the process is done
                break
            if not chunk:
                break
            shown += chunk
        out = process.stdout.read() if process.stdout else b""
    os.close(controller)

    # THEN the terminal shows a bar redrawn in place up to 300/300, and stdout has only the result
    assert process.returncode == 0
    text = shown.decode()
    assert "\rimporting models [" in text
    assert "] 25/300" in text
    assert "[##############################] 300/300" in text
    assert out.decode() == f"imported 300 models from {path}: 300 added, 0 changed, 0 unchanged\n"
