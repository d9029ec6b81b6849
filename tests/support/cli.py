"""Helpers for the test_cli_* files: run the real `modelgate` entry function, and snapshot a table."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from botocore.client import BaseClient

from infra.cli.main import main

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

DATA = Path(__file__).resolve().parent.parent / "data"
DUMP_004 = DATA / "openai-models-004.json"


@dataclass
class Run:
    code: int
    out: str
    err: str


@dataclass
class Cli:
    """`modelgate ARGS... <connection options>` through infra.cli.main.main, with its exit code and output."""

    capsys: pytest.CaptureFixture[str]
    connection: list[str]

    def __call__(self, *argv: str) -> Run:
        self.capsys.readouterr()
        code = main([*argv, *self.connection])
        out, err = self.capsys.readouterr()
        return Run(code, out, err)

    def ok(self, *argv: str) -> str:
        run = self(*argv)
        assert run.code == 0, run.err
        return run.out

    def json(self, *argv: str) -> Any:
        return json.loads(self.ok(*argv, "--json"))


def snapshot(client: DynamoDBClient, table: str) -> list[str]:
    """Every item of the table, canonical and sorted: equal snapshots mean nothing was written."""
    items: list[str] = []
    request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**request)
        items.extend(json.dumps(item, sort_keys=True, default=str) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return sorted(items)
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def dump_004() -> list[dict[str, Any]]:
    models: list[dict[str, Any]] = json.loads(DUMP_004.read_text())["data"]
    return models


WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


def count_requests(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """DynamoDB requests by operation name, counted as every botocore client sends them (they still go through)."""
    calls: Counter[str] = Counter()
    send = BaseClient.__dict__["_make_api_call"]

    def counted(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls[operation] += 1
        return send(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    return calls
