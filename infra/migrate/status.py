"""A follower's status record: one item per followed source (pk FOLLOWERS, sk the source), read by
`modelgate status`. It is written at most once a minute and through the write layer's path that leaves the change
marker alone: no warm container ever drops its cache for it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from handler.store import layout
from infra.registry import Registry, from_item, to_item

# What a status record says (None: not known yet, or nothing to say), in the order `status` shows it.
FIELDS = (
    "source", "shown", "interval", "started_at", "updated_at", "passes", "last_pass_at", "last_pass_seconds",
    "flavour", "found", "written", "conflicts", "held", "last_error", "last_error_at",
)  # fmt: skip


def write_status(registry: Registry, source: str, status: dict[str, Any]) -> None:
    record = {**layout.follower_key(source), **status, "source": source}
    registry.batch_write([{"PutRequest": {"Item": to_item(_numbers(record))}}], changes_answers=False)


def read_statuses(registry: Registry) -> list[dict[str, Any]]:
    """Every follower's last status, by source."""
    request: dict[str, Any] = {
        "TableName": registry.table,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": layout.PK},
        "ExpressionAttributeValues": {":pk": {"S": layout.FOLLOWERS}},
        "ConsistentRead": True,
    }
    found: list[dict[str, Any]] = []
    while True:
        page = registry.client.query(**request)
        found.extend(from_item(item) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return [{name: record.get(name) for name in FIELDS} for record in found]


def revision(registry: Registry) -> int:
    """The change marker's revision (0 before the first write)."""
    record = registry.get(layout.changes_key())
    return int((record or {}).get(layout.REVISION) or 0)


def _numbers(value: Any) -> Any:
    """Floats as DynamoDB takes them (Decimal, via their text), everything else as it is."""
    if isinstance(value, float):
        return Decimal(str(round(value, 3)))
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return value
